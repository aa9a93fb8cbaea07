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

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "examples/bench/bench_common_flags.h"
#include "examples/bench/bench_subcommands.h"
#include "examples/bench/bench_timing.h"
#include "parallel/collectives.h"
#include "runtime/core/background_deleter.h"
#include "runtime/core/json.h"
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

StatusOr<double> TimeShell(const std::string& command) {
  Stopwatch watch;
  const int code = std::system(command.c_str());
  if (code != 0)
    return InternalError("'" + command + "' failed with " + std::to_string(code));
  return watch.ElapsedSeconds();
}

// The directory to write to, decided by rank 0 (`requested`, or a fresh temporary one
// when it is empty) and the same on every rank.
StatusOr<std::string> SharedDirectory(const std::string& requested,
                                      BenchContext& context) {
  std::string dir = requested;
  std::vector<char> name(256, '\0');
  if (context.is_root()) {
    if (dir.empty()) {
      char pattern[] = "/tmp/mpimoe-bench-ckpt-XXXXXX";
      if (mkdtemp(pattern) == nullptr)
        return IoError("cannot create a temporary directory");
      dir = pattern;
    }
    if (dir.size() >= name.size()) return InvalidArgumentError("--dir: path too long");
    std::copy(dir.begin(), dir.end(), name.begin());
  }
  MPIMOE_RETURN_IF_ERROR(parallel::Bcast(*context.world, std::span<char>(name)));
  return std::string(name.data());
}

// Per repeat, in seconds: saves (slowest rank), saves without rank 0's pruning, loads
// (slowest rank), and rank 0's copies with cp -r, without and with sync.
struct CheckpointTimes {
  std::vector<double> save_s, write_s, load_s, cp_s, cp_sync_s;
  train::CheckpointInfo info;  // of the last save
};

// Saves as mpimoe-train does: old checkpoints go to `deleter` (in the background).
Status TimeSaves(train::Trainer& trainer, const std::string& dir, int64_t repeats,
                 parallel::Communicator& world, BackgroundDeleter* deleter,
                 CheckpointTimes* times) {
  for (int64_t r = 0; r < repeats; ++r) {
    MPIMOE_RETURN_IF_ERROR(parallel::Barrier(world));
    MPIMOE_ASSIGN_OR_RETURN(times->info,
                            train::SaveCheckpoint(trainer, dir, 1, world, deleter));
    MPIMOE_ASSIGN_OR_RETURN(const double s, SlowestRank(world, times->info.seconds));
    times->save_s.push_back(s);
    // Without rank 0's deletion of the replaced checkpoint (every rank waits for it):
    // the writing alone.
    double prune = times->info.prune_seconds;
    MPIMOE_RETURN_IF_ERROR(parallel::Bcast(world, std::span<double>(&prune, 1)));
    times->write_s.push_back(s - prune);
  }
  return Status::Ok();
}

// Loads the last save `repeats` times, each into a fresh trainer.
Status TimeLoads(const train::TrainConfig& config, int64_t repeats, ops::OpsContext& ctx,
                 parallel::Communicator& world, CheckpointTimes* times) {
  for (int64_t r = 0; r < repeats; ++r) {
    MPIMOE_ASSIGN_OR_RETURN(std::unique_ptr<train::Trainer> fresh,
                            train::Trainer::Create(config, &ctx, &world));
    MPIMOE_RETURN_IF_ERROR(parallel::Barrier(world));
    MPIMOE_ASSIGN_OR_RETURN(const train::CheckpointInfo loaded,
                            train::LoadCheckpoint(times->info.dir, *fresh, world));
    MPIMOE_ASSIGN_OR_RETURN(const double s, SlowestRank(world, loaded.seconds));
    times->load_s.push_back(s);
  }
  return Status::Ok();
}

// Rank 0 only: copies the saved checkpoint into dir/cp-copy, without and with sync.
Status TimeCopies(const std::string& dir, int64_t repeats, CheckpointTimes* times) {
  const std::string copy = dir + "/cp-copy";
  const std::string cp = "cp -r '" + times->info.dir + "' '" + copy + "'";
  for (int64_t r = 0; r < repeats; ++r) {
    fs::remove_all(copy);
    MPIMOE_ASSIGN_OR_RETURN(const double a, TimeShell(cp));
    times->cp_s.push_back(a);
    fs::remove_all(copy);
    MPIMOE_ASSIGN_OR_RETURN(const double b, TimeShell(cp + " && sync '" + copy + "'/*"));
    times->cp_sync_s.push_back(b);
  }
  fs::remove_all(copy);
  return Status::Ok();
}

void PrintReport(const CheckpointBenchOptions& o, const CheckpointTimes& t,
                 int world_size) {
  const double mb = static_cast<double>(t.info.total_bytes) / 1e6;
  const double save = Median(t.save_s), write = Median(t.write_s),
               load = Median(t.load_s), cp = Median(t.cp_s),
               cp_sync = Median(t.cp_sync_s);
  if (o.json) {
    const Json line = {{"bench", "checkpoint"},
                       {"config", o.config_path},
                       {"world_size", world_size},
                       {"repeats", o.repeats},
                       {"checkpoint_mb", mb},
                       {"save_s", save},
                       {"save_write_s", write},
                       {"load_s", load},
                       {"cp_s", cp},
                       {"cp_sync_s", cp_sync},
                       {"save_mb_per_s", mb / save},
                       {"save_over_cp", save / cp},
                       {"save_over_cp_sync", save / cp_sync},
                       {"write_over_cp", write / cp},
                       {"write_over_cp_sync", write / cp_sync}};
    std::printf("%s\n", DumpJson(line).c_str());
    return;
  }
  std::printf(
      "checkpoint: %s on %d rank(s), %.2f MB, medians of %lld\n"
      "  save %.3f s (%.0f MB/s, fsynced), of which writing %.3f s and pruning old "
      "checkpoints %.3f s; load %.3f s\n"
      "  cp -r %.3f s, cp -r + sync %.3f s\n"
      "  save / cp = %.2f, save / (cp + sync) = %.2f, writing / cp = %.2f, writing / "
      "(cp + sync) = %.2f\n",
      o.config_path.c_str(), world_size, mb, static_cast<long long>(o.repeats), save,
      mb / save, write, save - write, load, cp, cp_sync, save / cp, save / cp_sync,
      write / cp, write / cp_sync);
}

class CheckpointSubcommand final : public Subcommand {
 public:
  void DeclareFlags(CLI::App* command) override {
    AddConfigArguments(command, &options_.config_path, &options_.overrides);
    command->add_option("--steps", options_.steps, "training steps before saving")
        ->check(IntegerCheck(Sign::kPositive));
    command->add_option("--repeats", options_.repeats, "saves, loads and copies timed")
        ->check(IntegerCheck(Sign::kPositive));
    command->add_option("--dir", options_.dir,
                        "where to write (default: a temporary directory under /tmp, "
                        "removed afterwards); must be shared by all ranks");
    AddJsonFlag(command, &options_.json);
  }

  Status Run(BenchContext& context) override;

 private:
  CheckpointBenchOptions options_;
};

Status CheckpointSubcommand::Run(BenchContext& context) {
  parallel::Communicator& world = *context.world;
  MPIMOE_ASSIGN_OR_RETURN(
      train::TrainConfig config,
      train::LoadTrainConfig(options_.config_path, options_.overrides));
  MPIMOE_RETURN_IF_ERROR(train::ValidateForWorldSize(config, world.size()));
  config.run.steps = static_cast<int32_t>(options_.steps);
  MPIMOE_ASSIGN_OR_RETURN(const std::string dir, SharedDirectory(options_.dir, context));

  ops::OpsContext ctx;
  MPIMOE_ASSIGN_OR_RETURN(std::unique_ptr<train::Trainer> trainer,
                          train::Trainer::Create(config, &ctx, &world));
  for (int64_t s = 0; s < options_.steps; ++s) {
    train::StepRecord record;
    MPIMOE_RETURN_IF_ERROR(trainer->Step(&record));
  }
  CheckpointTimes times;
  BackgroundDeleter deleter;
  MPIMOE_RETURN_IF_ERROR(
      TimeSaves(*trainer, dir, options_.repeats, world, &deleter, &times));
  MPIMOE_RETURN_IF_ERROR(TimeLoads(config, options_.repeats, ctx, world, &times));
  deleter.Wait();
  Status copied;
  if (context.is_root()) copied = TimeCopies(dir, options_.repeats, &times);
  MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(world, copied));
  MPIMOE_RETURN_IF_ERROR(parallel::Barrier(world));
  if (!context.is_root()) return Status::Ok();
  if (options_.dir.empty()) fs::remove_all(dir);
  PrintReport(options_, times, world.size());
  return Status::Ok();
}

}  // namespace

std::unique_ptr<Subcommand> NewCheckpointSubcommand() {
  return std::make_unique<CheckpointSubcommand>();
}

}  // namespace mpimoe::bench
