// TextDataset: a byte-level text file read whole into memory; tokens are bytes
// (vocab 256). Internal to runtime/train: other code builds it through MakeDataset
// (data.h), where the train/evaluation split and the window offsets are specified.
//
// The dataset owns the file's bytes (one copy per rank, read once at construction).
//
// Thread-safety: immutable after Open; Batch/EvalBatch may run concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "runtime/core/status.h"
#include "runtime/train/config.h"
#include "runtime/train/data.h"

namespace mpimoe::train {

class TextDataset final : public Dataset {
 public:
  // Reads data.text_path. Errors name the path: NotFound (no such file), IoError
  // (cannot be opened or read, or a directory), InvalidArgument (empty, or too short
  // for one window of seq_len + 1 bytes in the training part and, when
  // data.eval_batches > 0, in the evaluation part). CHECKs seq_len >= 1,
  // global_batch_size >= 1 and 0 <= eval_fraction < 1 (MakeDataset validates them).
  static StatusOr<std::unique_ptr<TextDataset>> Open(const DataSection& data,
                                                     int32_t seq_len, uint64_t seed);

  int32_t VocabSize() const override { return 256; }
  void TrainBatch(int64_t step, int rank, int world_size, Batch* batch) const override;
  void EvalBatch(int64_t index, int rank, int world_size, Batch* batch) const override;
  std::string Describe() const override;

  // Bytes of the training part (the file's first train_bytes()) and of the held-out
  // end, and the number of evaluation windows in it (0 without an evaluation part).
  int64_t train_bytes() const { return train_bytes_; }
  int64_t eval_bytes() const {
    return static_cast<int64_t>(bytes_.size()) - train_bytes_;
  }
  int64_t num_eval_windows() const { return num_eval_windows_; }

 private:
  TextDataset(const DataSection& data, int32_t seq_len, uint64_t seed, std::string bytes,
              int64_t train_bytes);

  // Writes the window at byte `offset`: tokens [seq_len] int32 = bytes
  // [offset, offset + seq_len), targets [seq_len] int32 = bytes [offset + 1, .. + 1).
  void FillWindow(int64_t offset, int32_t* tokens, int32_t* targets) const;
  // Sizes `batch` for rank `rank`'s slice and returns the slice.
  SequenceRange PrepareBatch(int rank, int world_size, Batch* batch) const;

  std::string path_;
  std::string bytes_;  // the whole file
  int32_t seq_len_;
  int64_t global_batch_;
  int64_t eval_batches_;
  uint64_t seed_;
  int64_t train_bytes_;
  int64_t num_eval_windows_;
};

}  // namespace mpimoe::train
