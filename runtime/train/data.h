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
//     Layout in detail (positions within the seq_len input tokens; 2n + 2 <= seq_len,
//     so a sequence always fits and its last target is -1):
//       0: task token S + 2 + j, j = the task's index in data.tasks (empty = all four
//          in the order COPY, REVERSE, SORT, MOD_ADD);
//       1 .. n: payload; n + 1: SEP; n + 2 .. n + 1 + len: answer; then PAD.
//       COPY/REVERSE/SORT: payload = n uniform symbols, answer (len = n) = the payload,
//         the payload reversed, the payload sorted ascending.
//       MOD_ADD: m = n / 2; payload = a (m symbols) then b (m symbols), then one PAD
//         when n is odd; answer (len = m) = (a_i + b_i) mod S; positions n + 2 + m ..
//         2n + 1 hold PAD (not targets).
//     The task and the payload of sequence i of training step s come from
//     Rng(MixSeed(seed, {train stream tag, s, i})) (task first, then the symbols in
//     payload order); evaluation batch j uses another stream tag, so training and
//     evaluation sequences are independent draws by construction.
//   TextDataset: a byte-level text file; tokens are bytes (vocab 256). Training windows
//     start at offsets drawn from (seed, s, i) in the first (1 - eval_fraction) of the
//     file; evaluation windows tile the held-out end. Targets are the next bytes.
//     In detail, for a file of N bytes: E = round(N * eval_fraction) bytes at the end
//     are held out, T = N - E are for training. A window is seq_len + 1 bytes (inputs
//     and, shifted by one, targets). Training window offsets are uniform in
//     [0, T - seq_len - 1]; the held-out part holds W = (E - seq_len - 1) / seq_len + 1
//     windows at offsets T + w * seq_len, and sequence i of evaluation batch j is window
//     (j * B + i) mod W.
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

// One rank's slice of a batch. Row-major [num_sequences, seq_len] int32 arrays; row q is
// global sequence RankSlice(B, rank, P).begin + q.
struct Batch {
  int64_t num_sequences = 0;     // B / P
  int64_t seq_len = 0;           // S
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

// The sequences [begin, end) of a global batch of `global_batch` sequences that rank
// `rank` of `world_size` takes: [rank * B / P, (rank + 1) * B / P). CHECKs that
// 0 <= rank < world_size and that world_size divides global_batch.
struct SequenceRange {
  int64_t begin = 0;
  int64_t end = 0;
};
SequenceRange RankSlice(int64_t global_batch, int rank, int world_size);

// Sizes `batch` for rank `rank`'s slice of a global batch of `global_batch` sequences of
// `seq_len` tokens (vectors reused) and returns the slice.
SequenceRange ShapeBatchSlice(int64_t global_batch, int64_t seq_len, int rank,
                              int world_size, Batch* batch);

// The vocabulary the synthetic data needs for `data` (num_symbols + 2 + tasks; empty
// tasks count as all four).
int32_t SyntheticVocabSize(const DataSection& data);

// The shortest model.seq_len the synthetic tasks of `data` fit in: 4 (n = 1), or 6
// (n = 2, so that MOD_ADD has one a and one b symbol) when MOD_ADD is among the tasks
// (empty tasks count as all four).
int32_t SyntheticMinSeqLen(const DataSection& data);

// Builds the dataset of `config` (data section, model.seq_len, run.seed). Returns
// InvalidArgument/NotFound/IoError naming the file for a missing, unreadable, empty or
// too-short text file (it must hold at least seq_len + 1 bytes in its training part and,
// when data.eval_batches > 0, in its evaluation part), and InvalidArgument for sizes
// the data cannot be built with (non-positive batch or seq_len, seq_len below
// SyntheticMinSeqLen, num_symbols < 1, eval_fraction outside [0, 1)).
StatusOr<std::unique_ptr<Dataset>> MakeDataset(const TrainConfig& config);

}  // namespace mpimoe::train
