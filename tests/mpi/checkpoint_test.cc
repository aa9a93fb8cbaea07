// MPI tests of checkpoints (runtime/train/checkpoint.h) under mpirun:
// - 40 steps straight vs 20 steps, save, a fresh trainer, load, 20 more steps at the
//   same world size: bitwise identical losses, weights, AdamW moments and step counts,
//   with the cost_aware balancer re-planning (its state is part of the checkpoint);
// - at world size 4: saved on 4 ranks and resumed on 2, and saved on 2 and resumed on 3
//   (sub-communicators), per-step losses within 1e-4 relative of the uninterrupted
//   4-rank run;
// - a bit flip, a truncated shard, a corrupt or missing manifest and an incompatible
//   model are rejected on every rank with a message naming the file and tensor or field;
// - non-finite steps: skipped without touching the state, or stopping the job with a
//   checkpoint of the last good step;
// - the job path: a stop request on one rank, a resume from an earlier checkpoint that
//   sets the later one aside, and bitwise equal losses to the straight job.
#include "runtime/train/checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "parallel/collectives.h"
#include "runtime/train/config_loader.h"
#include "runtime/train/trainer.h"
#include "runtime/train/training_job.h"
#include "tests/mpi/mpi_test_env.h"
#include "tests/mpi/test_compare.h"

namespace mpimoe::train {
namespace {

namespace fs = std::filesystem;
using mpimoe::testing::World;

// Two MoE blocks and a dense one; skewed routing and an eager cost_aware balancer (a
// low but non-zero noise floor, so its deviation state matters) so that plans change
// (replicas, home moves) before and after the checkpoint. Dropless
// (see train_equivalence_test.cc for why).
const char kConfig[] = R"pb(
  model {
    seq_len: 10
    d_model: 16
    num_layers: 3
    num_heads: 2
    dense_layers: 1
    moe {
      num_experts: 6
      top_k: 2
      d_ffn: 24
      activation: SWIGLU
      skew: 1.5
      skew_drift_steps: 12
    }
  }
  data {
    global_batch_size: 12
    synthetic { num_symbols: 6 }
  }
  optimizer { lr: 0.01 warmup_steps: 5 grad_clip: 0.5 }
  run { steps: 40 seed: 11 }
  balancer {
    policy: COST_AWARE
    replan_interval: 3
    imbalance_high: 1.02
    imbalance_low: 1.01
    min_relative_gain: 0
    noise_sigmas: 0.5
  }
)pb";

TrainConfig Config(const std::vector<std::string>& overrides = {}) {
  auto config = ParseTrainConfig(kConfig, "checkpoint_test.textproto", overrides);
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  return config.ok() ? *config : TrainConfig();
}

// A directory every rank agrees on (rank 0 creates it), removed by the destructor.
class SharedTempDir {
 public:
  explicit SharedTempDir(parallel::Communicator& comm) : comm_(comm) {
    std::string path(64, '\0');
    if (comm.rank() == 0) {
      char pattern[] = "/tmp/mpimoe-ckpt-test-XXXXXX";
      EXPECT_NE(mkdtemp(pattern), nullptr);
      path.assign(pattern);
      path.resize(64, '\0');
    }
    EXPECT_TRUE(parallel::Bcast(comm, std::span<char>(path.data(), path.size())).ok());
    path_ = path.c_str();
  }
  ~SharedTempDir() {
    EXPECT_TRUE(parallel::Barrier(comm_).ok());
    if (comm_.rank() == 0) fs::remove_all(path_);
  }
  const std::string& path() const { return path_; }

 private:
  parallel::Communicator& comm_;
  std::string path_;
};

// This rank's trained parameters (replicated + home experts) with their state.
struct Snapshot {
  std::map<std::string, std::vector<float>> values, moment1, moment2;
  std::map<std::string, int64_t> steps;
};

double RelDiff(double a, double b) {
  return std::abs(a - b) / std::max({std::abs(a), std::abs(b), 1e-12});
}

std::vector<float> Floats(const Tensor& t) {
  if (t.capacity_bytes() == 0) return {};
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

Snapshot Take(Trainer& trainer) {
  Snapshot s;
  std::vector<Parameter*> params = trainer.model().ReplicatedParameters();
  for (Parameter* p : trainer.model().ExpertParameters()) params.push_back(p);
  for (Parameter* p : params) {
    s.values[p->name] = Floats(p->value);
    s.moment1[p->name] = Floats(p->moment1);
    s.moment2[p->name] = Floats(p->moment2);
    s.steps[p->name] = p->optimizer_steps;
  }
  return s;
}

bool BitwiseEqual(const std::map<std::string, std::vector<float>>& a,
                  const std::map<std::string, std::vector<float>>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [name, values] : a) {
    const auto it = b.find(name);
    if (it == b.end() || it->second.size() != values.size()) return false;
    if (std::memcmp(values.data(), it->second.data(), values.size() * sizeof(float)) !=
        0) {
      ADD_FAILURE() << name << " differs";
      return false;
    }
  }
  return true;
}

std::unique_ptr<Trainer> NewTrainer(const TrainConfig& config, ops::OpsContext* ctx,
                                    parallel::Communicator& comm) {
  auto trainer = Trainer::Create(config, ctx, &comm);
  EXPECT_TRUE(trainer.ok()) << trainer.status().ToString();
  return trainer.ok() ? std::move(trainer).value() : nullptr;
}

// Runs steps until next_step() == last + 1; appends the losses; counts plan changes.
void RunSteps(Trainer& trainer, int64_t last, std::vector<double>* losses,
              int* plan_changes = nullptr) {
  while (trainer.next_step() <= last) {
    StepRecord record;
    const Status s = trainer.Step(&record);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return;
    losses->push_back(record.losses.total());
    if (plan_changes != nullptr) *plan_changes += record.placement.plan_changes;
  }
}

TEST(CheckpointMpiTest, ResumeIsBitwiseExact) {
  parallel::MpiCommunicator& comm = World();
  const TrainConfig config = Config();
  SharedTempDir dir(comm);
  ops::OpsContext ctx;

  std::vector<double> straight;
  int changes_before = 0, changes_after = 0;
  auto a = NewTrainer(config, &ctx, comm);
  ASSERT_NE(a, nullptr);
  RunSteps(*a, 20, &straight, &changes_before);
  RunSteps(*a, 40, &straight, &changes_after);
  const Snapshot expected = Take(*a);

  std::vector<double> resumed;
  {
    auto b = NewTrainer(config, &ctx, comm);
    RunSteps(*b, 20, &resumed);
    auto saved = SaveCheckpoint(*b, dir.path(), 0, comm);
    EXPECT_TRUE(saved.ok()) << saved.status().ToString();
  }
  auto latest = FindLatestCheckpoint(dir.path());
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(fs::path(*latest).filename(), "step-20");
  auto c = NewTrainer(config, &ctx, comm);
  auto loaded = LoadCheckpoint(*latest, *c, comm);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(c->next_step(), 21);
  RunSteps(*c, 40, &resumed);
  const Snapshot got = Take(*c);

  // The balancer did change the placement, before and after the checkpoint (at world
  // size 1 there is nothing to place).
  if (comm.size() > 1) {
    EXPECT_GT(changes_before, 0);
    EXPECT_GT(changes_after, 0);
  }
  ASSERT_EQ(resumed.size(), straight.size());
  for (size_t i = 0; i < straight.size(); ++i) {
    EXPECT_EQ(std::memcmp(&resumed[i], &straight[i], sizeof(double)), 0)
        << "step " << i + 1 << ": " << resumed[i] << " vs " << straight[i];
  }
  EXPECT_TRUE(BitwiseEqual(got.values, expected.values));
  EXPECT_TRUE(BitwiseEqual(got.moment1, expected.moment1));
  EXPECT_TRUE(BitwiseEqual(got.moment2, expected.moment2));
  EXPECT_EQ(got.steps, expected.steps);
}

// Trains `group` (a sub-communicator) from the checkpoint in `from` to step 40 and
// checks its losses against `reference` (steps 1..40 of the uninterrupted run).
void ResumeAndCompare(const TrainConfig& config, parallel::Communicator& group,
                      const std::string& from, const std::vector<double>& reference,
                      const std::string& what) {
  ops::OpsContext ctx;
  auto trainer = NewTrainer(config, &ctx, group);
  ASSERT_NE(trainer, nullptr);
  auto loaded = LoadCheckpoint(from, *trainer, group);
  ASSERT_TRUE(loaded.ok()) << what << ": " << loaded.status().ToString();
  std::vector<double> losses;
  const int64_t first = trainer->next_step();
  RunSteps(*trainer, 40, &losses);
  ASSERT_EQ(losses.size(), static_cast<size_t>(41 - first));
  for (size_t i = 0; i < losses.size(); ++i) {
    const size_t step = static_cast<size_t>(first) + i;
    EXPECT_LE(RelDiff(losses[i], reference[step - 1]), 1e-4)
        << what << " step " << step << ": " << losses[i] << " vs " << reference[step - 1];
  }
}

TEST(CheckpointMpiTest, ReshardsFourToTwoAndTwoToThree) {
  parallel::MpiCommunicator& comm = World();
  if (comm.size() != 4) GTEST_SKIP() << "needs exactly 4 ranks";
  const TrainConfig config = Config();
  SharedTempDir dir(comm);
  const std::string four_dir = dir.path() + "/four", two_dir = dir.path() + "/two";

  // The uninterrupted 4-rank run, saving at step 20 on the way.
  std::vector<double> reference;
  {
    ops::OpsContext ctx;
    auto trainer = NewTrainer(config, &ctx, comm);
    ASSERT_NE(trainer, nullptr);
    RunSteps(*trainer, 20, &reference);
    EXPECT_TRUE(SaveCheckpoint(*trainer, four_dir, 0, comm).ok());
    RunSteps(*trainer, 40, &reference);
  }
  ASSERT_EQ(reference.size(), 40u);

  // 4 -> 2: ranks 0 and 1 resume; 2 and 3 form their own idle group.
  {
    auto pair = comm.Split(comm.rank() < 2 ? 0 : 1, comm.rank());
    ASSERT_TRUE(pair.ok());
    if (comm.rank() < 2) {
      ResumeAndCompare(config, *pair, four_dir + "/checkpoints/step-20", reference,
                       "4 -> 2");
    }
  }
  EXPECT_TRUE(parallel::Barrier(comm).ok());

  // 2 -> 3: ranks 0, 1 train 20 steps and save; ranks 0, 1, 2 resume.
  {
    auto pair = comm.Split(comm.rank() < 2 ? 0 : 1, comm.rank());
    ASSERT_TRUE(pair.ok());
    if (comm.rank() < 2) {
      ops::OpsContext ctx;
      auto trainer = NewTrainer(config, &ctx, *pair);
      ASSERT_NE(trainer, nullptr);
      std::vector<double> first_half;
      RunSteps(*trainer, 20, &first_half);
      for (size_t i = 0; i < first_half.size(); ++i) {
        EXPECT_LE(RelDiff(first_half[i], reference[i]), 1e-4) << "2 ranks";
      }
      EXPECT_TRUE(SaveCheckpoint(*trainer, two_dir, 0, *pair).ok());
    }
  }
  EXPECT_TRUE(parallel::Barrier(comm).ok());
  {
    auto triple = comm.Split(comm.rank() < 3 ? 0 : 1, comm.rank());
    ASSERT_TRUE(triple.ok());
    if (comm.rank() < 3) {
      ResumeAndCompare(config, *triple, two_dir + "/checkpoints/step-20", reference,
                       "2 -> 3");
    }
  }
}

// Flips one bit (rank 0 does it) at `offset` of `path`.
void FlipBit(parallel::Communicator& comm, const std::string& path,
             std::streamoff offset) {
  if (comm.rank() == 0) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(offset);
    char byte = 0;
    f.read(&byte, 1);
    byte = static_cast<char>(byte ^ 0x10);
    f.seekp(offset);
    f.write(&byte, 1);
  }
  EXPECT_TRUE(parallel::Barrier(comm).ok());
}

Status TryLoad(const TrainConfig& config, const std::string& from,
               parallel::Communicator& comm) {
  ops::OpsContext ctx;
  auto trainer = NewTrainer(config, &ctx, comm);
  return LoadCheckpoint(from, *trainer, comm).status();
}

TEST(CheckpointMpiTest, CorruptOrIncompatibleCheckpointsAreRejected) {
  parallel::MpiCommunicator& comm = World();
  const TrainConfig config = Config({"run.steps=3"});
  SharedTempDir dir(comm);
  {
    ops::OpsContext ctx;
    auto trainer = NewTrainer(config, &ctx, comm);
    std::vector<double> losses;
    RunSteps(*trainer, 3, &losses);
    EXPECT_TRUE(SaveCheckpoint(*trainer, dir.path(), 0, comm).ok());
  }
  const std::string ckpt = dir.path() + "/checkpoints/step-3";
  EXPECT_TRUE(TryLoad(config, ckpt, comm).ok());

  // A flipped bit in the last rank's shard (its home experts): every rank fails, and
  // the message names the file and the tensor.
  const std::string shard = "shard-" + std::to_string(comm.size() - 1) + ".bin";
  const std::string shard_path = ckpt + "/" + shard;
  const auto shard_bytes = static_cast<std::streamoff>(fs::file_size(shard_path));
  FlipBit(comm, shard_path, shard_bytes / 2);
  Status s = TryLoad(config, ckpt, comm);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find(shard + ": tensor "), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("checksum mismatch"), std::string::npos) << s.message();
  FlipBit(comm, shard_path, shard_bytes / 2);  // back
  EXPECT_TRUE(TryLoad(config, ckpt, comm).ok());
  // More steps, another learning rate or balancer: fine to resume with.
  EXPECT_TRUE(
      TryLoad(Config({"run.steps=10", "optimizer.lr=0.02", "balancer.policy=STATIC"}),
              ckpt, comm)
          .ok());

  // Truncated.
  if (comm.rank() == 0)
    fs::resize_file(shard_path, static_cast<uintmax_t>(shard_bytes - 100));
  EXPECT_TRUE(parallel::Barrier(comm).ok());
  s = TryLoad(config, ckpt, comm);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(shard + ": tensor "), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();

  // A corrupt manifest (its last line is its checksum).
  const std::string manifest_path = ckpt + "/manifest.textproto";
  FlipBit(comm, manifest_path, 200);
  s = TryLoad(config, ckpt, comm);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("manifest.textproto: checksum mismatch"), std::string::npos)
      << s.message();
  FlipBit(comm, manifest_path, 200);

  // A directory without a manifest is not a checkpoint (and not the latest one).
  if (comm.rank() == 0) fs::create_directories(dir.path() + "/checkpoints/step-7");
  EXPECT_TRUE(parallel::Barrier(comm).ok());
  s = TryLoad(config, dir.path() + "/checkpoints/step-7", comm);
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  EXPECT_NE(s.message().find("not a complete checkpoint"), std::string::npos)
      << s.message();
  auto latest = FindLatestCheckpoint(dir.path());
  EXPECT_TRUE(latest.ok() && fs::path(*latest).filename() == "step-3");

  // Another model; no such directory.
  s = TryLoad(Config({"model.moe.d_ffn=32"}), ckpt, comm);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("d_ffn"), std::string::npos) << s.message();
  s = TryLoad(config, dir.path() + "/checkpoints/step-99", comm);
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  EXPECT_NE(s.message().find("does not exist"), std::string::npos) << s.message();
}

// Poisons the first replicated weight (identically on every rank).
void Poison(Trainer& trainer, float value) {
  trainer.model().ReplicatedParameters().front()->value.data<float>()[0] = value;
}

TEST(CheckpointMpiTest, NonFiniteStepIsSkippedWithoutTouchingTheState) {
  parallel::MpiCommunicator& comm = World();
  const TrainConfig config =
      Config({"run.on_nonfinite=NONFINITE_SKIP_STEP", "run.max_skipped_steps=2"});
  ops::OpsContext ctx;
  auto trainer = NewTrainer(config, &ctx, comm);
  ASSERT_NE(trainer, nullptr);
  std::vector<double> losses;
  RunSteps(*trainer, 4, &losses);
  const Snapshot before = Take(*trainer);
  const float saved =
      trainer->model().ReplicatedParameters().front()->value.data<float>()[0];
  Poison(*trainer, std::numeric_limits<float>::quiet_NaN());
  StepRecord record;
  Status s = trainer->Step(&record);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(record.skipped);
  EXPECT_EQ(trainer->next_step(), 6);
  EXPECT_EQ(trainer->skipped_steps(), 1);
  Poison(*trainer, saved);
  const Snapshot after = Take(*trainer);
  EXPECT_TRUE(BitwiseEqual(after.values, before.values));
  EXPECT_TRUE(BitwiseEqual(after.moment1, before.moment1));
  EXPECT_EQ(after.steps, before.steps);
  // Training goes on; then three non-finite steps in a row exceed max_skipped_steps.
  RunSteps(*trainer, 6, &losses);
  Poison(*trainer, std::numeric_limits<float>::infinity());
  for (int i = 0; i < 2; ++i) {
    s = trainer->Step(&record);
    EXPECT_TRUE(s.ok() && record.skipped) << s.ToString();
  }
  s = trainer->Step(&record);
  EXPECT_EQ(s.code(), StatusCode::kAborted) << s.ToString();
  EXPECT_NE(s.message().find("max_skipped_steps"), std::string::npos) << s.message();
}

TEST(CheckpointMpiTest, NonFiniteStopSavesTheLastGoodStep) {
  parallel::MpiCommunicator& comm = World();
  const TrainConfig config = Config({"run.steps=8", "run.checkpoint_every=3"});
  SharedTempDir dir(comm);
  JobOptions options;
  options.out_dir = dir.path();
  options.print_progress = false;
  options.before_step = [](int64_t step, Trainer& trainer) {
    if (step == 5) Poison(trainer, std::numeric_limits<float>::quiet_NaN());
  };
  ops::OpsContext ctx;
  auto job = RunTrainingJob(config, options, &ctx, &comm);
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), StatusCode::kAborted) << job.status().ToString();
  EXPECT_NE(job.status().message().find("step 5"), std::string::npos);
  EXPECT_NE(job.status().message().find("checkpoints/step-4"), std::string::npos)
      << job.status().message();
  auto latest = FindLatestCheckpoint(dir.path());
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(fs::path(*latest).filename(), "step-4");

  // The saved state is exactly 4 good steps (plus the injected NaN).
  auto straight = NewTrainer(config, &ctx, comm);
  std::vector<double> losses;
  RunSteps(*straight, 4, &losses);
  // The injected NaN was in the weights when the stop saved them.
  Poison(*straight, std::numeric_limits<float>::quiet_NaN());
  auto resumed = NewTrainer(config, &ctx, comm);
  EXPECT_TRUE(LoadCheckpoint(*latest, *resumed, comm).ok());
  EXPECT_TRUE(BitwiseEqual(Take(*resumed).values, Take(*straight).values));
  EXPECT_TRUE(BitwiseEqual(Take(*resumed).moment2, Take(*straight).moment2));
}

// A checkpoint that cannot be resumed is bad input agreed on every rank
// (kFailedPrecondition, "cannot resume: ..."), so mpimoe-train exits 2 without aborting
// the job; nothing of the run is written.
TEST(CheckpointMpiTest, UnresumableCheckpointIsFailedPreconditionOnEveryRank) {
  parallel::MpiCommunicator& comm = World();
  const TrainConfig config = Config({"run.steps=2"});
  SharedTempDir dir(comm);
  ops::OpsContext ctx;
  JobOptions options;
  options.print_progress = false;
  options.out_dir = dir.path() + "/first";
  ASSERT_TRUE(RunTrainingJob(config, options, &ctx, &comm).ok());
  const std::string saved = options.out_dir + "/checkpoints/step-2";

  options.out_dir = dir.path() + "/second";
  for (const auto& [what, resume_from, resume_config] :
       {std::tuple<std::string, std::string, TrainConfig>{
            "missing", dir.path() + "/first/checkpoints/step-9", config},
        {"another model", saved, Config({"run.steps=2", "model.moe.d_ffn=32"})}}) {
    options.resume_from = resume_from;
    auto job = RunTrainingJob(resume_config, options, &ctx, &comm);
    ASSERT_FALSE(job.ok()) << what;
    EXPECT_EQ(job.status().code(), StatusCode::kFailedPrecondition)
        << what << ": " << job.status().ToString();
    EXPECT_EQ(job.status().message().rfind("cannot resume: ", 0), 0u)
        << what << ": " << job.status().message();
    // Every rank got the same verdict.
    EXPECT_EQ(mpimoe::testing::SumOverRanks(
                  comm, job.status().code() == StatusCode::kFailedPrecondition),
              comm.size())
        << what;
  }
  EXPECT_TRUE(parallel::Barrier(comm).ok());
  EXPECT_FALSE(fs::exists(dir.path() + "/second")) << "a failed resume wrote files";
}

// The whole job path: a stop request on one rank after step 10 (checkpoints every 4
// steps), then a resume from step 8 — not the latest — that sets the later step-10
// aside, and finishes: the resumed losses equal the straight job's bitwise.
TEST(CheckpointMpiTest, JobStopAndResumeFromAnEarlierCheckpoint) {
  parallel::MpiCommunicator& comm = World();
  const TrainConfig config =
      Config({"run.steps=12", "run.checkpoint_every=4", "run.keep_checkpoints=0"});
  SharedTempDir straight_dir(comm), dir(comm);
  ops::OpsContext ctx;
  JobOptions options;
  options.print_progress = false;
  options.out_dir = straight_dir.path();
  auto straight = RunTrainingJob(config, options, &ctx, &comm);
  ASSERT_TRUE(straight.ok()) << straight.status().ToString();
  ASSERT_EQ(straight->losses.size(), 12u);

  static std::atomic<int> stop{0};
  stop = 0;
  options.out_dir = dir.path();
  options.stop_requested = &stop;
  const int last_rank = comm.size() - 1;
  options.before_step = [&comm, last_rank](int64_t step, Trainer&) {
    if (step == 10 && comm.rank() == last_rank) stop = 1;
  };
  auto stopped = RunTrainingJob(config, options, &ctx, &comm);
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString();
  EXPECT_TRUE(stopped->stopped);
  EXPECT_EQ(stopped->losses.size(), 10u);
  EXPECT_FALSE(fs::exists(dir.path() + "/summary.json"));
  for (const char* step : {"step-4", "step-8", "step-10"}) {
    EXPECT_TRUE(fs::exists(dir.path() + "/checkpoints/" + step + "/manifest.textproto"))
        << step;
  }

  options.stop_requested = nullptr;
  options.before_step = nullptr;
  options.resume_from = dir.path() + "/checkpoints/step-8";
  auto resumed = RunTrainingJob(config, options, &ctx, &comm);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(resumed->first_step, 9);
  ASSERT_EQ(resumed->losses.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(std::memcmp(&resumed->losses[i], &straight->losses[8 + i], sizeof(double)),
              0)
        << "step " << 9 + i;
  }
  EXPECT_TRUE(fs::exists(dir.path() + "/checkpoints/step-10.abandoned"));
  auto latest = FindLatestCheckpoint(dir.path());
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(fs::path(*latest).filename(), "step-12");
  EXPECT_TRUE(parallel::Barrier(comm).ok());  // rank 0 writes summary.json last
  EXPECT_TRUE(fs::exists(dir.path() + "/summary.json"));
}

}  // namespace
}  // namespace mpimoe::train
