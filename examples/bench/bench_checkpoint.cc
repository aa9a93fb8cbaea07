// `mpimoe-bench checkpoint CONFIG [--set path=value]... [--steps N] [--repeats R]
//                              [--dir DIR] [--json]`: checkpoint save and load time of a
// config's model against copying the same files with cp.
//
// Every rank builds the config's trainer and runs --steps steps (so the AdamW moments
// exist and are saved), then saves R checkpoints of the same step into DIR (keeping only
// the newest), and loads the checkpoint R times into a fresh trainer. A save's or load's
// time is the slowest rank's. Then rank 0 alone copies the checkpoint directory R times
// with `cp -r` (page cache only) and with `cp -r` followed by `sync` of the copies (on
// disk, which is what a save guarantees: it fsyncs every file and directory). Reported:
// the checkpoint's bytes, median save/load/cp times, MB/s and the ratios save / cp, also
// for the save without deleting the checkpoint it replaces (rank 0's pruning).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "examples/bench/bench_subcommands.h"
#include "parallel/collectives.h"
#include "runtime/core/json_line.h"
#include "runtime/core/timer.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/config_loader.h"
#include "runtime/train/trainer.h"

namespace mpimoe::bench {
namespace {

namespace fs = std::filesystem;

struct CheckpointBenchOptions {
  std::string config_path;
  std::vector<std::string> overrides;
  int64_t steps = 3;
  int64_t repeats = 5;
  std::string dir;  // empty: a fresh directory under /tmp, removed afterwards
  bool json = false;
};

class CheckpointSubcommand final : public Subcommand {
 public:
  void DeclareFlags(FlagSet* flags) override {
    flags->SetPositional("CONFIG", &options_.config_path,
                         "a training config (.textproto)");
    flags->AddStringList("set", &options_.overrides,
                         "override a config field, path=value");
    flags->AddInt("steps", &options_.steps, "training steps before saving",
                  Bound::kPositive);
    flags->AddInt("repeats", &options_.repeats, "saves, loads and copies timed",
                  Bound::kPositive);
    flags->AddString("dir", &options_.dir,
                     "where to write (default: a temporary directory under /tmp, "
                     "removed afterwards); must be shared by all ranks");
    flags->AddBool("json", &options_.json, "print one JSON line instead of a summary");
  }

  Status Run(BenchContext& context) override;

 private:
  CheckpointBenchOptions options_;
};

// Seconds of the slowest rank.
StatusOr<double> Slowest(parallel::Communicator& world, double seconds) {
  MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(world, std::span<double>(&seconds, 1),
                                                    {parallel::ReduceOp::kMax}));
  return seconds;
}

StatusOr<double> TimeShell(const std::string& command) {
  Stopwatch watch;
  const int code = std::system(command.c_str());
  if (code != 0)
    return InternalError("'" + command + "' failed with " + std::to_string(code));
  return watch.ElapsedSeconds();
}

Status CheckpointSubcommand::Run(BenchContext& context) {
  parallel::Communicator& world = *context.world;
  MPIMOE_ASSIGN_OR_RETURN(
      train::TrainConfig config,
      train::LoadTrainConfig(options_.config_path, options_.overrides));
  MPIMOE_RETURN_IF_ERROR(train::ValidateForWorldSize(config, world.size()));
  config.run.steps = static_cast<int32_t>(options_.steps);

  // The directory, decided by rank 0.
  std::string dir = options_.dir;
  const bool temporary = dir.empty();
  std::vector<char> name(256, '\0');
  if (context.is_root()) {
    if (temporary) {
      char pattern[] = "/tmp/mpimoe-bench-ckpt-XXXXXX";
      if (mkdtemp(pattern) == nullptr)
        return IoError("cannot create a temporary directory");
      dir = pattern;
    }
    if (dir.size() >= name.size()) return InvalidArgumentError("--dir: path too long");
    std::copy(dir.begin(), dir.end(), name.begin());
  }
  MPIMOE_RETURN_IF_ERROR(parallel::Bcast(world, std::span<char>(name)));
  dir = name.data();

  ops::OpsContext ctx;
  MPIMOE_ASSIGN_OR_RETURN(std::unique_ptr<train::Trainer> trainer,
                          train::Trainer::Create(config, &ctx, &world));
  for (int64_t s = 0; s < options_.steps; ++s) {
    train::StepRecord record;
    MPIMOE_RETURN_IF_ERROR(trainer->Step(&record));
  }
  std::vector<double> save_s, write_s, load_s, cp_s, cp_sync_s;
  train::CheckpointInfo info;
  BackgroundDeleter
      deleter;  // as mpimoe-train saves: old checkpoints go in the background
  for (int64_t r = 0; r < options_.repeats; ++r) {
    MPIMOE_RETURN_IF_ERROR(parallel::Barrier(world));
    MPIMOE_ASSIGN_OR_RETURN(info,
                            train::SaveCheckpoint(*trainer, dir, 1, world, &deleter));
    MPIMOE_ASSIGN_OR_RETURN(const double s, Slowest(world, info.seconds));
    save_s.push_back(s);
    // Without rank 0's deletion of the replaced checkpoint (every rank waits for it):
    // the writing alone.
    double prune = info.prune_seconds;
    MPIMOE_RETURN_IF_ERROR(parallel::Bcast(world, std::span<double>(&prune, 1)));
    write_s.push_back(s - prune);
  }
  for (int64_t r = 0; r < options_.repeats; ++r) {
    MPIMOE_ASSIGN_OR_RETURN(std::unique_ptr<train::Trainer> fresh,
                            train::Trainer::Create(config, &ctx, &world));
    MPIMOE_RETURN_IF_ERROR(parallel::Barrier(world));
    MPIMOE_ASSIGN_OR_RETURN(const train::CheckpointInfo loaded,
                            train::LoadCheckpoint(info.dir, *fresh, world));
    MPIMOE_ASSIGN_OR_RETURN(const double s, Slowest(world, loaded.seconds));
    load_s.push_back(s);
  }
  deleter.Wait();
  Status copied;
  if (context.is_root()) {
    const std::string copy = dir + "/cp-copy";
    copied = [&]() -> Status {
      for (int64_t r = 0; r < options_.repeats; ++r) {
        fs::remove_all(copy);
        MPIMOE_ASSIGN_OR_RETURN(const double a,
                                TimeShell("cp -r '" + info.dir + "' '" + copy + "'"));
        cp_s.push_back(a);
        fs::remove_all(copy);
        MPIMOE_ASSIGN_OR_RETURN(const double b,
                                TimeShell("cp -r '" + info.dir + "' '" + copy +
                                          "' && sync '" + copy + "'/*"));
        cp_sync_s.push_back(b);
      }
      fs::remove_all(copy);
      return Status::Ok();
    }();
  }
  MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(world, copied));
  MPIMOE_RETURN_IF_ERROR(parallel::Barrier(world));
  if (context.is_root() && temporary) fs::remove_all(dir);
  if (!context.is_root()) return Status::Ok();

  const double mb = static_cast<double>(info.total_bytes) / 1e6;
  const double save = Median(save_s), write = Median(write_s), load = Median(load_s),
               cp = Median(cp_s), cp_sync = Median(cp_sync_s);
  if (options_.json) {
    JsonLine line;
    line.AddString("bench", "checkpoint")
        .AddString("config", options_.config_path)
        .AddInt("world_size", world.size())
        .AddInt("repeats", options_.repeats)
        .AddDouble("checkpoint_mb", mb)
        .AddDouble("save_s", save)
        .AddDouble("save_write_s", write)
        .AddDouble("load_s", load)
        .AddDouble("cp_s", cp)
        .AddDouble("cp_sync_s", cp_sync)
        .AddDouble("save_mb_per_s", mb / save)
        .AddDouble("save_over_cp", save / cp)
        .AddDouble("save_over_cp_sync", save / cp_sync)
        .AddDouble("write_over_cp", write / cp)
        .AddDouble("write_over_cp_sync", write / cp_sync);
    std::printf("%s\n", line.str().c_str());
  } else {
    std::printf(
        "checkpoint: %s on %d rank(s), %.2f MB, medians of %lld\n"
        "  save %.3f s (%.0f MB/s, fsynced), of which writing %.3f s and pruning old "
        "checkpoints %.3f s; load %.3f s\n"
        "  cp -r %.3f s, cp -r + sync %.3f s\n"
        "  save / cp = %.2f, save / (cp + sync) = %.2f, writing / cp = %.2f, writing / "
        "(cp + sync) = %.2f\n",
        options_.config_path.c_str(), world.size(), mb,
        static_cast<long long>(options_.repeats), save, mb / save, write, save - write,
        load, cp, cp_sync, save / cp, save / cp_sync, write / cp, write / cp_sync);
  }
  return Status::Ok();
}

}  // namespace

std::unique_ptr<Subcommand> NewCheckpointSubcommand() {
  return std::make_unique<CheckpointSubcommand>();
}

}  // namespace mpimoe::bench
