// Dataset plumbing shared by the sources: rank slices, the synthetic vocabulary, and
// MakeDataset (validation, then SyntheticDataset or TextDataset).
#include "runtime/train/data.h"

#include <memory>
#include <string>
#include <utility>

#include "runtime/core/check.h"
#include "runtime/train/synthetic_data.h"
#include "runtime/train/text_data.h"

namespace mpimoe::train {
namespace {

constexpr int32_t kNumSyntheticTasks = 4;

bool HasModAdd(const DataSection& data) {
  if (data.tasks.empty()) return true;  // empty = all four
  for (SyntheticTask task : data.tasks) {
    if (task == SyntheticTask::kModAdd) return true;
  }
  return false;
}

}  // namespace

SequenceRange RankSlice(int64_t global_batch, int rank, int world_size) {
  MPIMOE_CHECK(world_size >= 1);
  MPIMOE_CHECK(rank >= 0 && rank < world_size);
  MPIMOE_CHECK_MSG(global_batch % world_size == 0,
                   "data.global_batch_size must be divisible by the world size");
  return {rank * global_batch / world_size, (rank + 1) * global_batch / world_size};
}

SequenceRange ShapeBatchSlice(int64_t global_batch, int64_t seq_len, int rank,
                              int world_size, Batch* batch) {
  const SequenceRange range = RankSlice(global_batch, rank, world_size);
  const int64_t count = range.end - range.begin;
  batch->num_sequences = count;
  batch->seq_len = seq_len;
  batch->tokens.resize(static_cast<size_t>(count * seq_len));
  batch->targets.resize(static_cast<size_t>(count * seq_len));
  return range;
}

int32_t SyntheticVocabSize(const DataSection& data) {
  const int32_t num_tasks =
      data.tasks.empty() ? kNumSyntheticTasks : static_cast<int32_t>(data.tasks.size());
  return data.num_symbols + 2 + num_tasks;
}

int32_t SyntheticMinSeqLen(const DataSection& data) { return HasModAdd(data) ? 6 : 4; }

StatusOr<std::unique_ptr<Dataset>> MakeDataset(const TrainConfig& config) {
  const DataSection& data = config.data;
  const int32_t seq_len = config.model.seq_len;
  if (data.global_batch_size < 1) {
    return InvalidArgumentError("data.global_batch_size: must be positive, got " +
                                std::to_string(data.global_batch_size));
  }
  if (data.eval_batches < 0) {
    return InvalidArgumentError("data.eval_batches: must not be negative, got " +
                                std::to_string(data.eval_batches));
  }
  if (seq_len < 1) {
    return InvalidArgumentError("model.seq_len: must be positive, got " +
                                std::to_string(seq_len));
  }
  switch (data.source) {
    case DataSource::kSynthetic: {
      if (data.num_symbols < 1) {
        return InvalidArgumentError("data.synthetic.num_symbols: must be positive, got " +
                                    std::to_string(data.num_symbols));
      }
      const int32_t min_seq_len = SyntheticMinSeqLen(data);
      if (seq_len < min_seq_len) {
        return InvalidArgumentError("model.seq_len: the synthetic tasks need at least " +
                                    std::to_string(min_seq_len) + ", got " +
                                    std::to_string(seq_len));
      }
      return std::unique_ptr<Dataset>(
          std::make_unique<SyntheticDataset>(data, seq_len, config.run.seed));
    }
    case DataSource::kText: {
      if (data.text_path.empty()) {
        return InvalidArgumentError("data.text_path: must be set for source TEXT");
      }
      if (!(data.eval_fraction >= 0.0f && data.eval_fraction < 1.0f)) {
        return InvalidArgumentError("data.eval_fraction: must be in [0, 1), got " +
                                    std::to_string(data.eval_fraction));
      }
      MPIMOE_ASSIGN_OR_RETURN(std::unique_ptr<TextDataset> text,
                              TextDataset::Open(data, seq_len, config.run.seed));
      return std::unique_ptr<Dataset>(std::move(text));
    }
  }
  return InvalidArgumentError("data.source: unknown source");
}

}  // namespace mpimoe::train
