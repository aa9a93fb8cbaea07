// Checkpoint shard files: the raw f32 bytes of one saving rank's tensors, back to back
// in shard-R.bin, each indexed in the manifest by file, offset, byte count, shape, dtype
// and CRC-32C. WriteShard writes and fsyncs a shard and fills its index entries;
// TensorReader reads indexed tensors back and checks them against their entries.
//
// Internal to the checkpoint code (checkpoint*.cc); the public API is checkpoint.h.
// Thread-safety: WriteShard is a pure function of its arguments; a TensorReader belongs
// to one thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "checkpoint.pb.h"
#include "runtime/core/file_io.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"

namespace mpimoe::train {

// One tensor a rank writes: an f32 tensor it does not own, and for a parameter's value
// the AdamW steps applied to it (0 for moments).
struct ShardTensor {
  std::string name;
  const Tensor* tensor = nullptr;
  int64_t optimizer_steps = 0;
};

// Writes `tensors` in order to `path` (created or truncated), fsyncs and closes it, and
// appends one entry per tensor to `index`, naming the shard `file_name` (relative to
// the checkpoint directory). IoError naming `path`.
Status WriteShard(const std::string& path, const std::string& file_name,
                  const std::vector<ShardTensor>& tensors,
                  config::CheckpointManifest* index);

// Reads tensors by name from the shards of the checkpoint in `dir`, indexed by
// `manifest` (which must outlive the reader). Shard files are opened on first use and
// closed with the reader.
class TensorReader {
 public:
  TensorReader(const std::filesystem::path& dir,
               const config::CheckpointManifest& manifest);

  bool Has(const std::string& name) const { return index_.count(name) > 0; }
  // The index entry of `name`, or null.
  const config::CheckpointTensor* Entry(const std::string& name) const;

  // Fills `out` (resized to the stored shape, which must equal `shape`). Errors name
  // the shard file and the tensor: NotFound for a missing tensor or shard,
  // InvalidArgument for a dtype, shape, size or checksum that does not match, or a
  // shard that ends early; IoError when reading fails.
  Status Read(const std::string& name, const std::vector<int64_t>& shape, Tensor* out);

 private:
  // The open shard `name` (at `path`), opened now if it is not yet.
  StatusOr<const ScopedFd*> Open(const std::string& name, const std::string& path);

  std::filesystem::path dir_;
  std::map<std::string, const config::CheckpointTensor*> index_;
  std::map<std::string, ScopedFd> files_;
};

}  // namespace mpimoe::train
