// checkpoint_shard.cc: writing a shard and reading tensors back (see
// checkpoint_shard.h).
#include "runtime/train/checkpoint_shard.h"

#include <cstdio>
#include <utility>

#include "runtime/core/crc32c.h"
#include "runtime/train/checkpoint_manifest.h"

namespace mpimoe::train {
namespace {

// Writeback of a shard starts every this many bytes, so that the disk works while the
// next tensors are copied and the final fsync waits for less.
constexpr int64_t kWritebackChunkBytes = int64_t{4} << 20;

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void AddIndexEntry(const ShardTensor& t, const std::string& file_name, int64_t offset,
                   config::CheckpointManifest* index) {
  const size_t bytes = static_cast<size_t>(t.tensor->size_bytes());
  config::CheckpointTensor* entry = index->add_tensors();
  entry->set_name(t.name);
  entry->set_file(file_name);
  entry->set_offset(offset);
  entry->set_num_bytes(static_cast<int64_t>(bytes));
  entry->set_dtype("f32");
  for (int64_t d : t.tensor->shape()) entry->add_shape(d);
  entry->set_crc32c(Crc32c(t.tensor->data<float>(), bytes));
  if (t.optimizer_steps != 0) entry->set_optimizer_steps(t.optimizer_steps);
}

// The entry's stored dtype, shape and extent agree with `shape`; errors start `what`.
Status CheckEntry(const config::CheckpointTensor& t, const std::vector<int64_t>& shape,
                  const std::string& what) {
  const std::vector<int64_t> stored(t.shape().begin(), t.shape().end());
  if (t.dtype() != "f32") return InvalidArgumentError(what + ": dtype " + t.dtype());
  if (stored != shape) {
    return InvalidArgumentError(what + ": shape " + ShapeText(stored) +
                                " in the checkpoint, the model has " + ShapeText(shape));
  }
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  if (t.num_bytes() != numel * 4 || t.offset() < 0) {
    return InvalidArgumentError(what + ": " + std::to_string(t.num_bytes()) +
                                " bytes at offset " + std::to_string(t.offset()) +
                                " do not fit shape " + ShapeText(shape));
  }
  return Status::Ok();
}

}  // namespace

Status WriteShard(const std::string& path, const std::string& file_name,
                  const std::vector<ShardTensor>& tensors,
                  config::CheckpointManifest* index) {
  MPIMOE_ASSIGN_OR_RETURN(ScopedFd fd, CreateForWriting(path));
  int64_t offset = 0, flushed = 0;
  for (const ShardTensor& t : tensors) {
    const int64_t bytes = t.tensor->size_bytes();
    MPIMOE_RETURN_IF_ERROR(
        WriteAll(fd, t.tensor->data<float>(), static_cast<size_t>(bytes)));
    if (offset + bytes - flushed >= kWritebackChunkBytes) {
      StartWriteback(fd, flushed, offset + bytes - flushed);
      flushed = offset + bytes;
    }
    AddIndexEntry(t, file_name, offset, index);
    offset += bytes;
  }
  MPIMOE_RETURN_IF_ERROR(Fsync(fd));
  return fd.Close();
}

TensorReader::TensorReader(const std::filesystem::path& dir,
                           const config::CheckpointManifest& manifest)
    : dir_(dir) {
  for (const config::CheckpointTensor& t : manifest.tensors()) index_[t.name()] = &t;
}

const config::CheckpointTensor* TensorReader::Entry(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

Status TensorReader::Read(const std::string& name, const std::vector<int64_t>& shape,
                          Tensor* out) {
  const config::CheckpointTensor* t = Entry(name);
  if (t == nullptr) {
    return NotFoundError((dir_ / kCheckpointManifestName).string() + ": no tensor " +
                         name);
  }
  const std::string file = (dir_ / t->file()).string();
  const std::string what = file + ": tensor " + name;
  MPIMOE_RETURN_IF_ERROR(CheckEntry(*t, shape, what));
  MPIMOE_ASSIGN_OR_RETURN(const ScopedFd* fd, Open(t->file(), file));
  out->Resize(DType::kF32, shape);
  float* dst = out->data<float>();
  const size_t bytes = static_cast<size_t>(t->num_bytes());
  MPIMOE_RETURN_IF_ERROR(PreadAll(*fd, t->offset(), dst, bytes, what));
  const uint32_t crc = Crc32c(dst, bytes);
  if (crc != t->crc32c()) {
    char text[96];
    std::snprintf(text, sizeof(text), ": checksum mismatch (stored %08x, read %08x)",
                  t->crc32c(), crc);
    return InvalidArgumentError(what + text + "; the file is corrupt");
  }
  return Status::Ok();
}

StatusOr<const ScopedFd*> TensorReader::Open(const std::string& name,
                                             const std::string& path) {
  const auto it = files_.find(name);
  if (it != files_.end()) return &it->second;
  if (name.find('/') != std::string::npos || name.empty() || name[0] == '.') {
    return InvalidArgumentError((dir_ / kCheckpointManifestName).string() +
                                ": bad shard name " + name);
  }
  StatusOr<ScopedFd> fd = OpenForReading(path);
  // A shard that cannot be opened, for whatever reason, leaves the checkpoint unusable:
  // NotFound, the code of a missing checkpoint.
  if (!fd.ok()) return NotFoundError(fd.status().message());
  return &files_.emplace(name, std::move(fd).value()).first->second;
}

}  // namespace mpimoe::train
