// SyntheticDataset: the embedded multi-task data (COPY, REVERSE, SORT, MOD_ADD),
// generated from the seed. Internal to runtime/train: other code builds it through
// MakeDataset (data.h), where the sequence layout and token ids are specified.
//
// Each sequence is a pure function of (seed, stream, batch index, sequence index), so
// any rank generates its slice of a global batch without communication.
//
// Thread-safety: immutable after construction; Batch/EvalBatch may run concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/train/config.h"
#include "runtime/train/data.h"

namespace mpimoe::train {

class SyntheticDataset final : public Dataset {
 public:
  // `data.tasks` empty = all four. CHECKs seq_len >= SyntheticMinSeqLen(data),
  // data.num_symbols >= 1 and data.global_batch_size >= 1 (MakeDataset validates them
  // first and returns InvalidArgument instead).
  SyntheticDataset(const DataSection& data, int32_t seq_len, uint64_t seed);

  int32_t VocabSize() const override { return vocab_size_; }
  void TrainBatch(int64_t step, int rank, int world_size, Batch* batch) const override;
  void EvalBatch(int64_t index, int rank, int world_size, Batch* batch) const override;
  std::string Describe() const override;

 private:
  // Fills rank `rank`'s slice of batch `batch_index` of the stream tagged `stream`.
  void FillBatch(uint64_t stream, int64_t batch_index, int rank, int world_size,
                 Batch* batch) const;
  // Writes one sequence drawn from Rng(sequence_seed).
  // tokens: [seq_len] int32, targets: [seq_len] int32 (-1 = ignored).
  void FillSequence(uint64_t sequence_seed, int32_t* tokens, int32_t* targets) const;

  std::vector<SyntheticTask> tasks_;  // never empty
  int32_t num_symbols_;
  int32_t seq_len_;
  int32_t payload_len_;  // n = (seq_len - 2) / 2
  int64_t global_batch_;
  int64_t eval_batches_;
  uint64_t seed_;
  int32_t vocab_size_;
};

}  // namespace mpimoe::train
