// Training data: deterministic global batches, sliced by rank.
//
// A Dataset produces, for step s, the global batch of data.global_batch_size sequences
// — the same for any world size — and rank r of P takes sequences
// [r * B / P, (r + 1) * B / P). Each sequence has model.seq_len input tokens and as many
// targets (the next token; -1 = not counted in the loss). Sequence i of step s depends
// only on (seed, s, i), so any rank can produce its slice without communication.
//
// Sources:
//   SyntheticDataset: the embedded multi-task data, generated from the seed. A sequence
//     is [task, payload (n symbols), SEP, answer (n symbols), PAD...]; the targets are
//     the answer tokens at the positions that predict them (every other target is -1),
//     so the loss measures whether the task was solved and can fall towards zero.
//     Tokens: symbols 0..S-1, then SEP, PAD, and one token per task (vocab = S + 2 +
//     number of tasks, see VocabSize). n = (seq_len - 2) / 2 (MOD_ADD: a and b of n/2
//     symbols each in the payload).
//   TextDataset: a byte-level text file; tokens are bytes (vocab 256). Training windows
//     start at offsets drawn from (seed, s, i) in the first (1 - eval_fraction) of the
//     file; evaluation windows tile the held-out end. Targets are the next bytes.
// Evaluation batches (EvalBatch) come from a stream training never sees.
//
// Thread-safety: Batch/EvalBatch are const and may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/train/config.h"

namespace mpimoe::train {

// One rank's slice of a batch.
struct Batch {
  int64_t num_sequences = 0;   // B / P
  int64_t seq_len = 0;         // S
  std::vector<int32_t> tokens;   // [num_sequences * S] inputs
  std::vector<int32_t> targets;  // [num_sequences * S] next tokens, -1 = ignored
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  // Tokens the model must be able to embed (every token is < VocabSize()).
  virtual int32_t VocabSize() const = 0;
  // Fills `batch` (its vectors are reused) with rank `rank` of `world_size`'s slice of
  // the global training batch of `step`.
  virtual void TrainBatch(int64_t step, int rank, int world_size, Batch* batch) const = 0;
  // The same for held-out evaluation batch `index` (0 <= index < eval_batches).
  virtual void EvalBatch(int64_t index, int rank, int world_size, Batch* batch) const = 0;
  virtual std::string Describe() const = 0;
};

// The vocabulary the synthetic data needs for `data` (num_symbols + 2 + tasks).
int32_t SyntheticVocabSize(const DataSection& data);

// Builds the dataset of `config` (data section, model.seq_len, run.seed). Returns
// InvalidArgument/NotFound/IoError naming the file for a missing, unreadable, empty or
// too-short text file (it must hold more than seq_len + 1 bytes in each of its training
// and evaluation parts).
StatusOr<std::unique_ptr<Dataset>> MakeDataset(const TrainConfig& config);

}  // namespace mpimoe::train
