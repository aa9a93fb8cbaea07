// checkpoint_manifest.cc: the manifest <-> proto conversions and its file (see
// checkpoint_manifest.h).
#include "runtime/train/checkpoint_manifest.h"

#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "runtime/core/atomic_file.h"
#include "runtime/core/crc32c.h"
#include "runtime/core/file_io.h"
#include "runtime/train/config_loader.h"
#include "runtime/train/expert_placement.h"
#include "runtime/train/text_proto.h"

namespace mpimoe::train {
namespace {

namespace fs = std::filesystem;

constexpr int kFormatVersion = 1;
constexpr char kCrcPrefix[] = "# crc32c ";

void LayoutToProto(const parallel::CopyLayout& layout, config::CopyLayoutState* out) {
  for (int32_t h : layout.home) out->add_home(h);
  for (const std::vector<int32_t>& replicas : layout.replicas) {
    config::PlanSlots* s = out->add_replicas();
    for (int32_t r : replicas) s->add_experts(r);
  }
}

// The manifest text after its CRC line was checked: parsed, with the fields every
// loader relies on in range.
StatusOr<config::CheckpointManifest> ParseManifest(const std::string& text,
                                                   const fs::path& path) {
  config::CheckpointManifest manifest;
  MPIMOE_RETURN_IF_ERROR(ParseTextProto(text, path.string(), &manifest));
  if (manifest.format_version() != kFormatVersion) {
    return InvalidArgumentError(path.string() + ": format_version " +
                                std::to_string(manifest.format_version()) +
                                ", this build reads " + std::to_string(kFormatVersion));
  }
  if (manifest.step() < 0) {
    return InvalidArgumentError(path.string() + ": step must be >= 0, got " +
                                std::to_string(manifest.step()));
  }
  if (manifest.world_size() <= 0) {
    return InvalidArgumentError(path.string() + ": world_size must be positive, got " +
                                std::to_string(manifest.world_size()));
  }
  return manifest;
}

}  // namespace

void PlanToProto(const parallel::Plan& plan, config::PlacementPlan* out) {
  out->set_version(plan.version);
  out->set_num_experts(plan.num_experts);
  out->set_world_size(plan.world_size);
  for (const std::vector<int32_t>& slots : plan.rank_slots) {
    config::PlanSlots* s = out->add_rank_slots();
    for (int32_t e : slots) s->add_experts(e);
  }
  for (const parallel::ExpertHome& home : plan.homes) out->add_home_rank(home.rank);
}

StatusOr<parallel::Plan> PlanFromProto(const config::PlacementPlan& in) {
  parallel::Plan plan;
  plan.version = in.version();
  plan.num_experts = in.num_experts();
  plan.world_size = in.world_size();
  if (plan.num_experts <= 0 || plan.world_size <= 0 ||
      in.rank_slots_size() != plan.world_size ||
      in.home_rank_size() != plan.num_experts) {
    return InvalidArgumentError("placement plan sizes do not match its expert count (" +
                                std::to_string(plan.num_experts) + ") and world size (" +
                                std::to_string(plan.world_size) + ")");
  }
  for (const config::PlanSlots& s : in.rank_slots()) {
    plan.rank_slots.emplace_back(s.experts().begin(), s.experts().end());
  }
  plan.homes.resize(static_cast<size_t>(plan.num_experts));
  for (int32_t e = 0; e < plan.num_experts; ++e) {
    const int32_t rank = in.home_rank(e);
    if (rank < 0 || rank >= plan.world_size) {
      return InvalidArgumentError("placement plan: expert " + std::to_string(e) +
                                  " has home rank " + std::to_string(rank));
    }
    const std::vector<int32_t>& slots = plan.rank_slots[static_cast<size_t>(rank)];
    const auto it = std::find(slots.begin(), slots.end(), e);
    if (it == slots.end()) {
      return InvalidArgumentError("placement plan: expert " + std::to_string(e) +
                                  " is not held by its home rank " +
                                  std::to_string(rank));
    }
    plan.homes[static_cast<size_t>(e)] = {rank, static_cast<int32_t>(it - slots.begin())};
  }
  MPIMOE_RETURN_IF_ERROR(plan.Validate());
  return plan;
}

void BalancerToProto(const parallel::BalancerState& state, config::BalancerState* out) {
  PlanToProto(state.plan, out->mutable_plan());
  for (int64_t f : state.forecast) out->add_forecast(f);
  for (int64_t d : state.deviation) out->add_deviation(d);
  out->set_forecast_steps(state.forecast_steps);
  out->set_active(state.active);
  out->set_checked(state.checked);
  out->set_observations(state.observations);
  out->set_last_check_step(state.last_check_step);
  for (const parallel::CopyLayout& layout : state.recent) {
    LayoutToProto(layout, out->add_recent());
  }
  out->set_cost_row(state.cost.row_cost);
  out->set_cost_copy(state.cost.copy_cost);
  out->set_cost_replica_refresh(state.cost.replica_refresh_cost);
  out->set_cost_replica_create(state.cost.replica_create_cost);
  out->set_cost_home_move(state.cost.home_move_cost);
}

StatusOr<parallel::BalancerState> BalancerFromProto(const config::BalancerState& in) {
  parallel::BalancerState state;
  MPIMOE_ASSIGN_OR_RETURN(state.plan, PlanFromProto(in.plan()));
  state.forecast.assign(in.forecast().begin(), in.forecast().end());
  state.deviation.assign(in.deviation().begin(), in.deviation().end());
  state.forecast_steps = in.forecast_steps();
  state.active = in.active();
  state.checked = in.checked();
  state.observations = in.observations();
  state.last_check_step = in.last_check_step();
  for (const config::CopyLayoutState& l : in.recent()) {
    parallel::CopyLayout layout;
    layout.home.assign(l.home().begin(), l.home().end());
    for (const config::PlanSlots& r : l.replicas()) {
      layout.replicas.emplace_back(r.experts().begin(), r.experts().end());
    }
    state.recent.push_back(std::move(layout));
  }
  state.cost.row_cost = in.cost_row();
  state.cost.copy_cost = in.cost_copy();
  state.cost.replica_refresh_cost = in.cost_replica_refresh();
  state.cost.replica_create_cost = in.cost_replica_create();
  state.cost.home_move_cost = in.cost_home_move();
  return state;
}

void FillManifest(Trainer& trainer, int world_size,
                  config::CheckpointManifest* manifest) {
  manifest->set_format_version(kFormatVersion);
  manifest->set_step(trainer.next_step() - 1);
  manifest->set_config_text(EffectiveConfigText(trainer.config()));
  manifest->set_world_size(world_size);
  manifest->set_next_batch(trainer.next_step());
  manifest->set_seed(trainer.config().run.seed);
  manifest->set_last_lr(trainer.last_lr());
  manifest->set_skipped_steps(trainer.skipped_steps());
  manifest->set_skipped_in_a_row(trainer.skipped_in_a_row());
  ExpertPlacement& placement = trainer.placement();
  for (int l = 0; l < placement.num_layers(); ++l) {
    BalancerToProto(placement.balancer(l).State(), manifest->add_balancers());
  }
  int64_t total = 0;
  for (const config::CheckpointTensor& t : manifest->tensors()) total += t.num_bytes();
  manifest->set_total_bytes(total);
  manifest->set_saved_at_unix(static_cast<int64_t>(std::time(nullptr)));
}

Status WriteManifest(const config::CheckpointManifest& manifest, const fs::path& dir) {
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(manifest, &text)) {
    return InternalError("cannot print the checkpoint manifest");
  }
  text = "# mpimoe checkpoint manifest (schema configs/checkpoint.proto)\n" + text;
  char trailer[32];
  std::snprintf(trailer, sizeof(trailer), "%s%08x\n", kCrcPrefix,
                Crc32c(text.data(), text.size()));
  text += trailer;
  return WriteFileAtomically((dir / kCheckpointManifestName).string(), text);
}

StatusOr<config::CheckpointManifest> ReadManifest(const fs::path& dir) {
  const fs::path path = dir / kCheckpointManifestName;
  StatusOr<std::string> read = ReadFileToString(path.string());
  if (!read.ok()) {
    std::error_code error;
    if (!fs::is_directory(dir, error)) {
      return NotFoundError("checkpoint directory " + dir.string() + " does not exist");
    }
    if (read.status().code() != StatusCode::kNotFound) return read.status();
    return NotFoundError(dir.string() + " is not a complete checkpoint: no " +
                         std::string(kCheckpointManifestName));
  }
  const std::string& text = *read;
  // The last line is "# crc32c XXXXXXXX" over everything before it.
  const size_t trailer = text.rfind(kCrcPrefix);
  unsigned stored = 0;
  if (trailer == std::string::npos || (trailer > 0 && text[trailer - 1] != '\n') ||
      std::sscanf(text.c_str() + trailer + std::strlen(kCrcPrefix), "%8x", &stored) !=
          1) {
    return InvalidArgumentError(path.string() +
                                ": no checksum line at the end (truncated manifest?)");
  }
  const uint32_t computed = Crc32c(text.data(), trailer);
  if (computed != stored) {
    char detail[80];
    std::snprintf(detail, sizeof(detail), ": checksum mismatch (stored %08x, read %08x)",
                  stored, computed);
    return InvalidArgumentError(path.string() + detail + "; the manifest is corrupt");
  }
  return ParseManifest(text, path);
}

}  // namespace mpimoe::train
