// checkpoint.cc: SaveCheckpoint and LoadCheckpoint (see checkpoint.h), the collective
// order of a save and a load. The pieces live apart: the manifest and its proto in
// checkpoint_manifest.*, shard files in checkpoint_shard.*, directory naming,
// publishing and pruning in checkpoint_dir.*.
#include "runtime/train/checkpoint.h"

#include <chrono>
#include <cstdlib>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "checkpoint.pb.h"
#include "parallel/balancer.h"
#include "parallel/collectives.h"
#include "runtime/core/timer.h"
#include "runtime/train/checkpoint_dir.h"
#include "runtime/train/checkpoint_manifest.h"
#include "runtime/train/checkpoint_shard.h"
#include "runtime/train/config_loader.h"
#include "runtime/train/expert_placement.h"

namespace mpimoe::train {
namespace {

constexpr char kMomentSuffix1[] = "#adam_m";
constexpr char kMomentSuffix2[] = "#adam_v";

bool HasMoments(const Parameter& p) {
  return p.moment1.shape() == p.value.shape() && p.moment2.shape() == p.value.shape();
}

// ---------------------------------------------------------------------------------
// Saving.

// This rank's share: rank 0 the replicated parameters, every rank its home experts,
// each followed by its AdamW moments.
std::vector<ShardTensor> TensorsToSave(Trainer& trainer, int rank) {
  std::vector<ShardTensor> out;
  auto add = [&out](Parameter& p) {
    out.push_back({p.name, &p.value, p.optimizer_steps});
    if (HasMoments(p)) {
      out.push_back({p.name + kMomentSuffix1, &p.moment1, 0});
      out.push_back({p.name + kMomentSuffix2, &p.moment2, 0});
    }
  };
  if (rank == 0) {
    for (Parameter* p : trainer.model().ReplicatedParameters()) add(*p);
  }
  for (moe::MoeLayer* layer : trainer.model().MoeLayers()) {
    moe::Experts& experts = layer->experts();
    for (int64_t s = 0; s < experts.num_slots(); ++s) {
      if (!experts.is_home(s)) continue;
      for (Parameter* p : experts.SlotParameters(s)) add(*p);
    }
  }
  return out;
}

// Every rank's index entries, concatenated in rank order (on every rank).
Status GatherIndex(parallel::Communicator& comm, const config::CheckpointManifest& mine,
                   config::CheckpointManifest* all) {
  std::string bytes;
  mine.SerializeToString(&bytes);
  int64_t size = static_cast<int64_t>(bytes.size());
  std::vector<int64_t> sizes(static_cast<size_t>(comm.size()));
  MPIMOE_RETURN_IF_ERROR(parallel::Allgather(comm, std::span<const int64_t>(&size, 1),
                                             std::span<int64_t>(sizes)));
  std::vector<int64_t> displs(sizes.size(), 0);
  for (size_t r = 1; r < sizes.size(); ++r) displs[r] = displs[r - 1] + sizes[r - 1];
  std::string gathered(static_cast<size_t>(displs.back() + sizes.back()), '\0');
  MPIMOE_RETURN_IF_ERROR(parallel::Allgatherv(
      comm, std::span<const char>(bytes.data(), bytes.size()),
      std::span<char>(gathered.data(), gathered.size()), {sizes, displs}));
  for (size_t r = 0; r < sizes.size(); ++r) {
    config::CheckpointManifest part;
    if (!part.ParseFromArray(gathered.data() + displs[r], static_cast<int>(sizes[r]))) {
      return InternalError("checkpoint index of rank " + std::to_string(r) +
                           " did not arrive intact");
    }
    all->MergeFrom(part);
  }
  return Status::Ok();
}

// Rank 0, once every shard is on disk: writes the manifest, publishes the directory
// and prunes old checkpoints (timed into `prune_seconds`).
Status FinishSave(Trainer& trainer, const CheckpointDirs& dirs, int keep, int world_size,
                  config::CheckpointManifest* manifest, BackgroundDeleter* deleter,
                  double* prune_seconds) {
  FillManifest(trainer, world_size, manifest);
  MPIMOE_RETURN_IF_ERROR(WriteManifest(*manifest, dirs.partial));
  MPIMOE_RETURN_IF_ERROR(PublishCheckpoint(dirs));
  Stopwatch prune;
  PruneCheckpoints(dirs, keep, deleter);
  *prune_seconds = prune.ElapsedSeconds();
  return Status::Ok();
}

// ---------------------------------------------------------------------------------
// Loading.

// What a load checked before touching the trainer.
struct CheckedManifest {
  config::CheckpointManifest manifest;
  ResumeCheck check;
  // Whether the saved plans are restored: only where they were made for, the same
  // world size and the same balancer settings (other slot limits or another policy
  // start from the static plan and keep the load forecast).
  bool keep_plans = false;
  std::vector<parallel::BalancerState> states;  // one per MoE layer, to restore
};

// Everything that can be checked without touching the trainer: the manifest, the
// config's compatibility and each balancer state (restored into a scratch balancer
// with the layer's options). Not collective.
StatusOr<CheckedManifest> CheckManifest(const std::filesystem::path& dir,
                                        Trainer& trainer, int world_size) {
  const std::string manifest_path = (dir / kCheckpointManifestName).string();
  const std::vector<moe::MoeLayer*> layers = trainer.model().MoeLayers();
  ExpertPlacement& placement = trainer.placement();
  CheckedManifest out;
  MPIMOE_ASSIGN_OR_RETURN(out.manifest, ReadManifest(dir));
  const config::CheckpointManifest& manifest = out.manifest;
  MPIMOE_ASSIGN_OR_RETURN(
      out.check,
      CheckResumeCompatible(manifest.config_text(), manifest_path + " (config_text)",
                            trainer.config()));
  if (manifest.balancers_size() != static_cast<int>(layers.size()) ||
      placement.num_layers() != static_cast<int>(layers.size())) {
    return InvalidArgumentError(
        manifest_path + ": " + std::to_string(manifest.balancers_size()) +
        " MoE layer balancers, the model has " + std::to_string(layers.size()));
  }
  out.keep_plans = manifest.world_size() == world_size && out.check.same_balancer;
  for (int l = 0; l < manifest.balancers_size(); ++l) {
    const std::string where =
        manifest_path + ": MoE layer " + std::to_string(l) + " balancer";
    auto state = BalancerFromProto(manifest.balancers(l));
    if (!state.ok()) return state.status().WithContext(where);
    if (!out.keep_plans) {
      state->plan = layers[static_cast<size_t>(l)]->dispatcher().plan();
      state->recent.clear();
    }
    parallel::Balancer scratch(placement.balancer(l).options(), state->plan.num_experts,
                               state->plan.world_size);
    MPIMOE_RETURN_IF_ERROR(scratch.Restore(*state).WithContext(where));
    out.states.push_back(std::move(state).value());
  }
  return out;
}

// Re-places the experts as saved (collective, the same on every rank), then restores
// the balancers' state.
Status RestorePlacement(const CheckedManifest& checked, const std::string& manifest_path,
                        Trainer& trainer, parallel::Communicator& comm) {
  const std::vector<moe::MoeLayer*> layers = trainer.model().MoeLayers();
  Status status;
  for (size_t l = 0; l < layers.size(); ++l) {
    const parallel::BalancerState& state = checked.states[l];
    if (checked.keep_plans && !(state.plan == layers[l]->dispatcher().plan())) {
      status = layers[l]->ApplyPlan(state.plan, &trainer.expert_sync());
      MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(
          comm, status.WithContext(manifest_path + ": restoring the plan of MoE layer " +
                                   std::to_string(l))));
    }
    status = trainer.placement().RestoreBalancer(static_cast<int>(l), state);
    if (!status.ok()) break;
  }
  MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(
      comm, status.WithContext(manifest_path + ": restoring the balancer")));
  trainer.RefreshParameterLists();
  return Status::Ok();
}

// Loads a parameter's value and, when `with_state`, its moments and step count.
Status LoadParameter(TensorReader& reader, Parameter& p, bool with_state) {
  MPIMOE_RETURN_IF_ERROR(reader.Read(p.name, p.value.shape(), &p.value));
  if (!with_state) return Status::Ok();
  p.optimizer_steps = reader.Entry(p.name)->optimizer_steps();
  const std::string m1 = p.name + kMomentSuffix1, m2 = p.name + kMomentSuffix2;
  if (reader.Has(m1) || reader.Has(m2)) {
    MPIMOE_RETURN_IF_ERROR(reader.Read(m1, p.value.shape(), &p.moment1));
    MPIMOE_RETURN_IF_ERROR(reader.Read(m2, p.value.shape(), &p.moment2));
  } else {
    p.moment1 = Tensor();
    p.moment2 = Tensor();
  }
  return Status::Ok();
}

// The replicated parameters, then every local expert slot (a replica takes its home's
// values, without optimizer state). Not collective.
Status LoadTensors(TensorReader& reader, Trainer& trainer) {
  for (Parameter* p : trainer.model().ReplicatedParameters()) {
    MPIMOE_RETURN_IF_ERROR(LoadParameter(reader, *p, /*with_state=*/true));
  }
  for (moe::MoeLayer* layer : trainer.model().MoeLayers()) {
    moe::Experts& experts = layer->experts();
    for (int64_t s = 0; s < experts.num_slots(); ++s) {
      for (Parameter* p : experts.SlotParameters(s)) {
        MPIMOE_RETURN_IF_ERROR(LoadParameter(reader, *p, experts.is_home(s)));
      }
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<CheckpointInfo> SaveCheckpoint(Trainer& trainer, const std::string& run_dir,
                                        int keep, parallel::Communicator& comm,
                                        BackgroundDeleter* deleter) {
  Stopwatch watch;
  const int64_t step = trainer.next_step() - 1;
  const CheckpointDirs dirs = DirsForStep(run_dir, step);

  // 1. Rank 0 makes a fresh partial directory; every rank must see it.
  Status status;
  if (comm.rank() == 0) status = CreatePartialDir(dirs);
  MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(comm, status));
  MPIMOE_RETURN_IF_ERROR(parallel::Barrier(comm));
  status = CheckPartialDirVisible(dirs, comm.rank());
  MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(comm, status));

  // 2. Every rank writes its shard.
  const std::string shard = "shard-" + std::to_string(comm.rank()) + ".bin";
  config::CheckpointManifest mine;
  status = WriteShard((dirs.partial / shard).string(), shard,
                      TensorsToSave(trainer, comm.rank()), &mine);
  if (const char* stall = std::getenv("MPIMOE_TEST_CHECKPOINT_STALL_MS")) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atol(stall)));
  }
  MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(comm, status));

  // 3. Rank 0 writes the manifest and publishes the directory.
  config::CheckpointManifest manifest;
  double prune_seconds = 0.0;
  MPIMOE_RETURN_IF_ERROR(GatherIndex(comm, mine, &manifest));
  if (comm.rank() == 0) {
    status =
        FinishSave(trainer, dirs, keep, comm.size(), &manifest, deleter, &prune_seconds);
  }
  MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(comm, status));
  CheckpointInfo info;
  info.dir = dirs.final_dir.string();
  info.step = step;
  for (const config::CheckpointTensor& t : manifest.tensors())
    info.total_bytes += t.num_bytes();
  info.seconds = watch.ElapsedSeconds();
  info.prune_seconds = prune_seconds;
  return info;
}

StatusOr<CheckpointInfo> LoadCheckpoint(const std::string& dir, Trainer& trainer,
                                        parallel::Communicator& comm) {
  Stopwatch watch;
  if (trainer.next_step() != 1) {
    return InvalidArgumentError("LoadCheckpoint: the trainer has already run steps");
  }
  const std::filesystem::path path(dir);
  const std::string manifest_path = (path / kCheckpointManifestName).string();

  // 1. Everything that can be checked without touching the trainer.
  StatusOr<CheckedManifest> checked = CheckManifest(path, trainer, comm.size());
  MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(comm, checked.status()));
  const config::CheckpointManifest& manifest = checked->manifest;

  // 2. Placement: the saved plans (when kept) and the balancers' state.
  MPIMOE_RETURN_IF_ERROR(RestorePlacement(*checked, manifest_path, trainer, comm));

  // 3. Tensors.
  TensorReader reader(path, manifest);
  MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(comm, LoadTensors(reader, trainer)));
  trainer.RestoreProgress(manifest.step() + 1, manifest.skipped_steps(),
                          manifest.skipped_in_a_row(),
                          static_cast<float>(manifest.last_lr()));

  CheckpointInfo info;
  info.dir = dir;
  info.step = manifest.step();
  info.total_bytes = manifest.total_bytes();
  info.seconds = watch.ElapsedSeconds();
  info.plans_restored = checked->keep_plans;
  info.config_changes = checked->check.changes;
  return info;
}

}  // namespace mpimoe::train
