// checkpoint.cc: saving and loading training state (see checkpoint.h). The manifest
// proto (configs/checkpoint.proto) stays in this file.
#include "runtime/train/checkpoint.h"

#include <fcntl.h>
#include <google/protobuf/text_format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "checkpoint.pb.h"
#include "parallel/balancer.h"
#include "parallel/collectives.h"
#include "runtime/core/atomic_file.h"
#include "runtime/core/crc32c.h"
#include "runtime/core/timer.h"
#include "runtime/train/config_loader.h"
#include "runtime/train/expert_placement.h"
#include "runtime/train/text_proto.h"

namespace mpimoe::train {
namespace {

namespace fs = std::filesystem;
namespace pbc = ::mpimoe::config;

constexpr int kFormatVersion = 1;
constexpr char kManifestName[] = "manifest.textproto";
constexpr char kMomentSuffix1[] = "#adam_m";
constexpr char kMomentSuffix2[] = "#adam_v";
constexpr char kCrcPrefix[] = "# crc32c ";
constexpr int64_t kWritebackChunkBytes = int64_t{4} << 20;

std::string StepDirName(int64_t step) { return "step-" + std::to_string(step); }

// N for a directory named "step-N" (N decimal, no sign), else -1.
int64_t StepOfDirName(const std::string& name) {
  if (name.rfind("step-", 0) != 0 || name.size() == 5 || name.size() > 5 + 18) return -1;
  int64_t n = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    n = n * 10 + (name[i] - '0');
  }
  return n;
}

std::string Errno() { return std::strerror(errno); }

bool HasMoments(const Parameter& p) {
  return p.moment1.shape() == p.value.shape() && p.moment2.shape() == p.value.shape();
}

// ---------------------------------------------------------------------------------
// Plans and balancer states <-> proto.

void PlanToProto(const parallel::Plan& plan, pbc::PlacementPlan* out) {
  out->set_version(plan.version);
  out->set_num_experts(plan.num_experts);
  out->set_world_size(plan.world_size);
  for (const std::vector<int32_t>& slots : plan.rank_slots) {
    pbc::PlanSlots* s = out->add_rank_slots();
    for (int32_t e : slots) s->add_experts(e);
  }
  for (const parallel::ExpertHome& home : plan.homes) out->add_home_rank(home.rank);
}

StatusOr<parallel::Plan> PlanFromProto(const pbc::PlacementPlan& in) {
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
  for (const pbc::PlanSlots& s : in.rank_slots()) {
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

void LayoutToProto(const parallel::CopyLayout& layout, pbc::CopyLayoutState* out) {
  for (int32_t h : layout.home) out->add_home(h);
  for (const std::vector<int32_t>& replicas : layout.replicas) {
    pbc::PlanSlots* s = out->add_replicas();
    for (int32_t r : replicas) s->add_experts(r);
  }
}

void BalancerToProto(const parallel::BalancerState& state, pbc::BalancerState* out) {
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

StatusOr<parallel::BalancerState> BalancerFromProto(const pbc::BalancerState& in) {
  parallel::BalancerState state;
  MPIMOE_ASSIGN_OR_RETURN(state.plan, PlanFromProto(in.plan()));
  state.forecast.assign(in.forecast().begin(), in.forecast().end());
  state.deviation.assign(in.deviation().begin(), in.deviation().end());
  state.forecast_steps = in.forecast_steps();
  state.active = in.active();
  state.checked = in.checked();
  state.observations = in.observations();
  state.last_check_step = in.last_check_step();
  for (const pbc::CopyLayoutState& l : in.recent()) {
    parallel::CopyLayout layout;
    layout.home.assign(l.home().begin(), l.home().end());
    for (const pbc::PlanSlots& r : l.replicas()) {
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

// ---------------------------------------------------------------------------------
// Saving.

// One tensor this rank writes.
struct OutTensor {
  std::string name;
  const Tensor* tensor;
  int64_t optimizer_steps;  // for a parameter's value, else 0
};

// This rank's share: rank 0 the replicated parameters, every rank its home experts.
std::vector<OutTensor> TensorsToSave(Trainer& trainer, int rank) {
  std::vector<OutTensor> out;
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

Status WriteAll(int fd, const void* data, size_t size, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("cannot write " + path + ": " + Errno());
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Writes and fsyncs `path`; fills one index entry per tensor.
Status WriteShard(const std::string& path, const std::string& file_name,
                  const std::vector<OutTensor>& tensors, pbc::CheckpointManifest* index) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot create " + path + ": " + Errno());
  int64_t offset = 0, flushed = 0;
  Status status;
  for (const OutTensor& t : tensors) {
    const size_t bytes = static_cast<size_t>(t.tensor->size_bytes());
    const float* data = t.tensor->data<float>();
    status = WriteAll(fd, data, bytes, path);
    if (!status.ok()) break;
    // Start writing back what is written so far, so that the final fsync waits for
    // less (the disk works while the next tensors are copied).
    if (offset + static_cast<int64_t>(bytes) - flushed >= kWritebackChunkBytes) {
      ::sync_file_range(fd, flushed, offset + static_cast<int64_t>(bytes) - flushed,
                        SYNC_FILE_RANGE_WRITE);
      flushed = offset + static_cast<int64_t>(bytes);
    }
    pbc::CheckpointTensor* entry = index->add_tensors();
    entry->set_name(t.name);
    entry->set_file(file_name);
    entry->set_offset(offset);
    entry->set_num_bytes(static_cast<int64_t>(bytes));
    entry->set_dtype("f32");
    for (int64_t d : t.tensor->shape()) entry->add_shape(d);
    entry->set_crc32c(Crc32c(data, bytes));
    if (t.optimizer_steps != 0) entry->set_optimizer_steps(t.optimizer_steps);
    offset += static_cast<int64_t>(bytes);
  }
  if (status.ok() && ::fsync(fd) != 0)
    status = IoError("cannot flush " + path + ": " + Errno());
  if (::close(fd) != 0 && status.ok())
    status = IoError("cannot close " + path + ": " + Errno());
  return status;
}

// Every rank's index entries, concatenated in rank order (on every rank).
Status GatherIndex(parallel::Communicator& comm, const pbc::CheckpointManifest& mine,
                   pbc::CheckpointManifest* all) {
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
    pbc::CheckpointManifest part;
    if (!part.ParseFromArray(gathered.data() + displs[r], static_cast<int>(sizes[r]))) {
      return InternalError("checkpoint index of rank " + std::to_string(r) +
                           " did not arrive intact");
    }
    all->MergeFrom(part);
  }
  return Status::Ok();
}

// Rank 0: removes what earlier interrupted saves left behind.
// Rank 0: hidden leftovers of earlier saves (interrupted ones, deletions cut short).
std::vector<fs::path> Leftovers(const fs::path& checkpoints) {
  std::vector<fs::path> found;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(checkpoints, error)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 8 && name[0] == '.' &&
        (name.ends_with(".partial") || name.ends_with(".deleting"))) {
      found.push_back(entry.path());
    }
  }
  return found;
}

// Rank 0: all complete checkpoints, newest first.
std::vector<std::pair<int64_t, fs::path>> CompleteCheckpoints(
    const fs::path& checkpoints) {
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(checkpoints, error)) {
    const int64_t step = StepOfDirName(entry.path().filename().string());
    if (step < 0 || !fs::is_regular_file(entry.path() / kManifestName, error)) continue;
    found.emplace_back(step, entry.path());
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  return found;
}

Status FinishSave(Trainer& trainer, const fs::path& checkpoints, const fs::path& partial,
                  const fs::path& final_dir, int keep, int world_size,
                  pbc::CheckpointManifest* manifest, BackgroundDeleter* deleter,
                  double* prune_seconds) {
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
  for (const pbc::CheckpointTensor& t : manifest->tensors()) total += t.num_bytes();
  manifest->set_total_bytes(total);
  manifest->set_saved_at_unix(static_cast<int64_t>(std::time(nullptr)));
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(*manifest, &text)) {
    return InternalError("cannot print the checkpoint manifest");
  }
  text = "# mpimoe checkpoint manifest (schema configs/checkpoint.proto)\n" + text;
  char trailer[32];
  std::snprintf(trailer, sizeof(trailer), "%s%08x\n", kCrcPrefix,
                Crc32c(text.data(), text.size()));
  text += trailer;
  MPIMOE_RETURN_IF_ERROR(WriteFileAtomically((partial / kManifestName).string(), text));
  MPIMOE_RETURN_IF_ERROR(SyncDirectory(partial.string()));
  std::error_code error;
  if (fs::exists(final_dir, error)) {
    // A step saved again (e.g. by a run resumed from an earlier step): swap the two
    // directories in one atomic step, so that step-N is always a complete checkpoint;
    // the old one, now under the partial name, is removed below.
    if (::renameat2(AT_FDCWD, partial.c_str(), AT_FDCWD, final_dir.c_str(),
                    RENAME_EXCHANGE) != 0) {
      return IoError("cannot replace " + final_dir.string() + " with " +
                     partial.string() + ": " + Errno());
    }
  } else {
    fs::rename(partial, final_dir, error);
    if (error) {
      return IoError("cannot rename " + partial.string() + " to " + final_dir.string() +
                     ": " + error.message());
    }
  }
  MPIMOE_RETURN_IF_ERROR(SyncDirectory(checkpoints.string()));
  // Garbage: leftovers, the replaced step-N (now under the partial name) and checkpoints
  // beyond `keep`. Each is first renamed to a hidden ".<name>.deleting" (instant, and no
  // longer a checkpoint), then removed, on `deleter`'s thread when there is one.
  // The previous batch is finished first, so no name below is being deleted.
  Stopwatch prune;
  if (deleter != nullptr) deleter->Wait();
  std::vector<fs::path> garbage;
  auto discard = [&](const fs::path& path) {
    std::string name = path.filename().string();
    if (name.ends_with(".deleting")) {
      garbage.push_back(path);
      return;
    }
    if (name[0] == '.') name = name.substr(1, name.rfind('.') - 1);  // .step-N.partial
    const fs::path hidden = checkpoints / ("." + name + ".deleting");
    std::error_code rename_error;
    fs::remove_all(hidden, rename_error);  // only after a crash mid-deletion
    fs::rename(path, hidden, rename_error);
    if (!rename_error) garbage.push_back(hidden);
  };
  for (const fs::path& path : Leftovers(checkpoints)) discard(path);
  if (keep > 0) {
    int kept = 1;  // the new one
    for (const auto& [step, path] : CompleteCheckpoints(checkpoints)) {
      if (path == final_dir) continue;
      if (kept < keep) {
        ++kept;
      } else {
        discard(path);
      }
    }
  }
  if (deleter != nullptr) {
    deleter->Delete(std::move(garbage));
  } else {
    for (const fs::path& path : garbage) fs::remove_all(path, error);
  }
  *prune_seconds = prune.ElapsedSeconds();
  return Status::Ok();
}

// ---------------------------------------------------------------------------------
// Loading.

// Reads index entries into tensors, verifying shape, size and checksum.
class TensorReader {
 public:
  TensorReader(const fs::path& dir, const pbc::CheckpointManifest& manifest) : dir_(dir) {
    for (const pbc::CheckpointTensor& t : manifest.tensors()) index_[t.name()] = &t;
  }
  ~TensorReader() {
    for (auto& [name, fd] : files_) ::close(fd);
  }
  TensorReader(const TensorReader&) = delete;
  TensorReader& operator=(const TensorReader&) = delete;

  bool Has(const std::string& name) const { return index_.count(name) > 0; }
  const pbc::CheckpointTensor* Entry(const std::string& name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : it->second;
  }

  // Fills `out` (resized to the stored shape, which must equal `shape`).
  Status Read(const std::string& name, const std::vector<int64_t>& shape, Tensor* out) {
    const pbc::CheckpointTensor* t = Entry(name);
    const std::string where = (dir_ / kManifestName).string();
    if (t == nullptr) return NotFoundError(where + ": no tensor " + name);
    const std::string file = (dir_ / t->file()).string();
    const std::string what = file + ": tensor " + name;
    const std::vector<int64_t> stored(t->shape().begin(), t->shape().end());
    if (t->dtype() != "f32") return InvalidArgumentError(what + ": dtype " + t->dtype());
    if (stored != shape) {
      return InvalidArgumentError(what + ": shape " + ShapeText(stored) +
                                  " in the checkpoint, the model has " +
                                  ShapeText(shape));
    }
    int64_t numel = 1;
    for (int64_t d : shape) numel *= d;
    if (t->num_bytes() != numel * 4 || t->offset() < 0) {
      return InvalidArgumentError(what + ": " + std::to_string(t->num_bytes()) +
                                  " bytes at offset " + std::to_string(t->offset()) +
                                  " do not fit shape " + ShapeText(shape));
    }
    MPIMOE_ASSIGN_OR_RETURN(const int fd, Open(t->file(), file));
    out->Resize(DType::kF32, shape);
    char* dst = reinterpret_cast<char*>(out->data<float>());
    int64_t done = 0;
    while (done < t->num_bytes()) {
      const ssize_t n =
          ::pread(fd, dst + done, static_cast<size_t>(t->num_bytes() - done),
                  static_cast<off_t>(t->offset() + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return IoError(what + ": cannot read: " + Errno());
      if (n == 0) {
        return InvalidArgumentError(what + ": the file ends " +
                                    std::to_string(t->num_bytes() - done) +
                                    " bytes early (truncated?)");
      }
      done += n;
    }
    const uint32_t crc = Crc32c(dst, static_cast<size_t>(t->num_bytes()));
    if (crc != t->crc32c()) {
      char text[96];
      std::snprintf(text, sizeof(text), ": checksum mismatch (stored %08x, read %08x)",
                    t->crc32c(), crc);
      return InvalidArgumentError(what + text + "; the file is corrupt");
    }
    return Status::Ok();
  }

 private:
  static std::string ShapeText(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i)
      s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
  StatusOr<int> Open(const std::string& name, const std::string& path) {
    const auto it = files_.find(name);
    if (it != files_.end()) return it->second;
    if (name.find('/') != std::string::npos || name.empty() || name[0] == '.') {
      return InvalidArgumentError((dir_ / kManifestName).string() + ": bad shard name " +
                                  name);
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NotFoundError("cannot open " + path + ": " + Errno());
    files_[name] = fd;
    return fd;
  }

  fs::path dir_;
  std::map<std::string, const pbc::CheckpointTensor*> index_;
  std::map<std::string, int> files_;
};

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

StatusOr<pbc::CheckpointManifest> ReadManifest(const fs::path& dir) {
  const fs::path path = dir / kManifestName;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code error;
    if (!fs::is_directory(dir, error)) {
      return NotFoundError("checkpoint directory " + dir.string() + " does not exist");
    }
    return NotFoundError(dir.string() + " is not a complete checkpoint: no " +
                         std::string(kManifestName));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
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
  pbc::CheckpointManifest manifest;
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

StatusOr<CheckpointInfo> SaveCheckpoint(Trainer& trainer, const std::string& run_dir,
                                        int keep, parallel::Communicator& comm,
                                        BackgroundDeleter* deleter) {
  Stopwatch watch;
  const int64_t step = trainer.next_step() - 1;
  const fs::path checkpoints = fs::path(run_dir) / "checkpoints";
  const fs::path final_dir = checkpoints / StepDirName(step);
  const fs::path partial = checkpoints / ("." + StepDirName(step) + ".partial");

  // 1. Rank 0 makes a fresh partial directory; every rank must see it.
  Status status;
  if (comm.rank() == 0) {
    std::error_code error;
    fs::create_directories(checkpoints, error);
    if (!error) fs::remove_all(partial, error);
    if (!error) fs::create_directory(partial, error);
    if (error)
      status = IoError("cannot create " + partial.string() + ": " + error.message());
  }
  MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(comm, status));
  MPIMOE_RETURN_IF_ERROR(parallel::Barrier(comm));
  {
    std::error_code error;
    if (!fs::is_directory(partial, error)) {
      status = IoError("rank " + std::to_string(comm.rank()) + " does not see " +
                       partial.string() +
                       " created by rank 0: checkpoints need a filesystem shared by all "
                       "ranks");
    }
  }
  MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(comm, status));

  // 2. Every rank writes its shard.
  const std::string shard = "shard-" + std::to_string(comm.rank()) + ".bin";
  pbc::CheckpointManifest mine;
  status = WriteShard((partial / shard).string(), shard,
                      TensorsToSave(trainer, comm.rank()), &mine);
  if (const char* stall = std::getenv("MPIMOE_TEST_CHECKPOINT_STALL_MS")) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atol(stall)));
  }
  MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(comm, status));

  // 3. Rank 0 writes the manifest and publishes the directory.
  pbc::CheckpointManifest manifest;
  double prune_seconds = 0.0;
  MPIMOE_RETURN_IF_ERROR(GatherIndex(comm, mine, &manifest));
  if (comm.rank() == 0) {
    status = FinishSave(trainer, checkpoints, partial, final_dir, keep, comm.size(),
                        &manifest, deleter, &prune_seconds);
  }
  MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(comm, status));
  CheckpointInfo info;
  info.dir = final_dir.string();
  info.step = step;
  for (const pbc::CheckpointTensor& t : manifest.tensors())
    info.total_bytes += t.num_bytes();
  info.seconds = watch.ElapsedSeconds();
  info.prune_seconds = prune_seconds;
  return info;
}

StatusOr<std::string> FindLatestCheckpoint(const std::string& run_dir) {
  const fs::path checkpoints = fs::path(run_dir) / "checkpoints";
  std::error_code error;
  if (!fs::is_directory(checkpoints, error)) {
    return NotFoundError("no checkpoints in " + run_dir + " (" + checkpoints.string() +
                         " does not exist)");
  }
  const auto found = CompleteCheckpoints(checkpoints);
  if (found.empty()) {
    return NotFoundError("no complete checkpoint in " + checkpoints.string());
  }
  return found.front().second.string();
}

StatusOr<std::vector<std::string>> SetAsideCheckpointsAfter(const std::string& run_dir,
                                                            int64_t step) {
  const fs::path checkpoints = fs::path(run_dir) / "checkpoints";
  std::error_code error;
  if (!fs::is_directory(checkpoints, error)) return std::vector<std::string>();
  std::vector<fs::path> later;
  for (const fs::directory_entry& entry : fs::directory_iterator(checkpoints, error)) {
    if (StepOfDirName(entry.path().filename().string()) > step) {
      later.push_back(entry.path());
    }
  }
  std::vector<std::string> names;
  for (const fs::path& path : later) {
    fs::path target = path;
    target += ".abandoned";
    fs::remove_all(target, error);
    fs::rename(path, target, error);
    if (error) {
      return IoError("cannot set aside " + path.string() + ": " + error.message());
    }
    names.push_back(path.filename().string());
  }
  return names;
}

StatusOr<CheckpointInfo> LoadCheckpoint(const std::string& dir, Trainer& trainer,
                                        parallel::Communicator& comm) {
  Stopwatch watch;
  if (trainer.next_step() != 1) {
    return InvalidArgumentError("LoadCheckpoint: the trainer has already run steps");
  }
  const fs::path path(dir);
  const std::string manifest_path = (path / kManifestName).string();

  // 1. Everything that can be checked without touching the trainer, including each
  // balancer state (restored into a scratch balancer with the layer's options).
  pbc::CheckpointManifest manifest;
  ResumeCheck check;
  std::vector<parallel::BalancerState> states;
  std::vector<moe::MoeLayer*> layers = trainer.model().MoeLayers();
  ExpertPlacement& placement = trainer.placement();
  bool keep_plans = false;
  Status status = [&]() -> Status {
    MPIMOE_ASSIGN_OR_RETURN(manifest, ReadManifest(path));
    MPIMOE_ASSIGN_OR_RETURN(
        check, CheckResumeCompatible(manifest.config_text(),
                                     manifest_path + " (config_text)", trainer.config()));
    if (manifest.balancers_size() != static_cast<int>(layers.size()) ||
        placement.num_layers() != static_cast<int>(layers.size())) {
      return InvalidArgumentError(
          manifest_path + ": " + std::to_string(manifest.balancers_size()) +
          " MoE layer balancers, the model has " + std::to_string(layers.size()));
    }
    // The saved plans stay only where they were made for: the same world size and the
    // same balancer settings (other slot limits or another policy start from the static
    // plan and keep the load forecast).
    keep_plans = manifest.world_size() == comm.size() && check.same_balancer;
    for (int l = 0; l < manifest.balancers_size(); ++l) {
      const std::string where =
          manifest_path + ": MoE layer " + std::to_string(l) + " balancer";
      auto state = BalancerFromProto(manifest.balancers(l));
      if (!state.ok()) return state.status().WithContext(where);
      if (!keep_plans) {
        state->plan = layers[static_cast<size_t>(l)]->dispatcher().plan();
        state->recent.clear();
      }
      parallel::Balancer scratch(placement.balancer(l).options(), state->plan.num_experts,
                                 state->plan.world_size);
      MPIMOE_RETURN_IF_ERROR(scratch.Restore(*state).WithContext(where));
      states.push_back(std::move(state).value());
    }
    return Status::Ok();
  }();
  MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(comm, status));

  // 2. Placement: re-place the experts as saved (collective, the same on every rank),
  // then the balancers' state.
  for (size_t l = 0; l < layers.size(); ++l) {
    if (keep_plans && !(states[l].plan == layers[l]->dispatcher().plan())) {
      status = layers[l]->ApplyPlan(states[l].plan, &trainer.expert_sync());
      MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(
          comm, status.WithContext(manifest_path + ": restoring the plan of MoE layer " +
                                   std::to_string(l))));
    }
    status = placement.RestoreBalancer(static_cast<int>(l), states[l]);
    if (!status.ok()) break;
  }
  MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(
      comm, status.WithContext(manifest_path + ": restoring the balancer")));
  trainer.RefreshParameterLists();

  // 3. Tensors: replicated parameters, then every local expert slot (a replica takes its
  // home's values).
  TensorReader reader(path, manifest);
  status = [&]() -> Status {
    for (Parameter* p : trainer.model().ReplicatedParameters()) {
      MPIMOE_RETURN_IF_ERROR(LoadParameter(reader, *p, /*with_state=*/true));
    }
    for (moe::MoeLayer* layer : layers) {
      moe::Experts& experts = layer->experts();
      for (int64_t s = 0; s < experts.num_slots(); ++s) {
        for (Parameter* p : experts.SlotParameters(s)) {
          MPIMOE_RETURN_IF_ERROR(LoadParameter(reader, *p, experts.is_home(s)));
        }
      }
    }
    return Status::Ok();
  }();
  MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(comm, status));
  trainer.RestoreProgress(manifest.step() + 1, manifest.skipped_steps(),
                          manifest.skipped_in_a_row(),
                          static_cast<float>(manifest.last_lr()));

  CheckpointInfo info;
  info.dir = dir;
  info.step = manifest.step();
  info.total_bytes = manifest.total_bytes();
  info.seconds = watch.ElapsedSeconds();
  info.plans_restored = keep_plans;
  info.config_changes = check.changes;
  return info;
}

}  // namespace mpimoe::train
