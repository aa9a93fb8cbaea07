// SyntheticDataset: sequence generation for the four synthetic tasks (layout in data.h).
#include "runtime/train/synthetic_data.h"

#include <algorithm>
#include <string>
#include <vector>

#include "runtime/core/check.h"
#include "runtime/core/random.h"

namespace mpimoe::train {
namespace {

// Stream tags of MixSeed: training and evaluation sequences never share a stream.
constexpr uint64_t kTrainStream = 0x73796e2d747261ull;  // "syn-tra"
constexpr uint64_t kEvalStream = 0x73796e2d6576ull;     // "syn-ev"

const std::vector<SyntheticTask>& AllTasks() {
  static const std::vector<SyntheticTask> kAll = {
      SyntheticTask::kCopy, SyntheticTask::kReverse, SyntheticTask::kSort,
      SyntheticTask::kModAdd};
  return kAll;
}

const char* TaskName(SyntheticTask task) {
  switch (task) {
    case SyntheticTask::kCopy:
      return "COPY";
    case SyntheticTask::kReverse:
      return "REVERSE";
    case SyntheticTask::kSort:
      return "SORT";
    case SyntheticTask::kModAdd:
      return "MOD_ADD";
  }
  return "?";
}

}  // namespace

SyntheticDataset::SyntheticDataset(const DataSection& data, int32_t seq_len,
                                   uint64_t seed)
    : tasks_(data.tasks.empty() ? AllTasks() : data.tasks),
      num_symbols_(data.num_symbols),
      seq_len_(seq_len),
      payload_len_((seq_len - 2) / 2),
      global_batch_(data.global_batch_size),
      eval_batches_(data.eval_batches),
      seed_(seed),
      vocab_size_(SyntheticVocabSize(data)) {
  MPIMOE_CHECK(seq_len >= SyntheticMinSeqLen(data));
  MPIMOE_CHECK(num_symbols_ >= 1);
  MPIMOE_CHECK(global_batch_ >= 1);
}

void SyntheticDataset::TrainBatch(int64_t step, int rank, int world_size,
                                  Batch* batch) const {
  FillBatch(kTrainStream, step, rank, world_size, batch);
}

void SyntheticDataset::EvalBatch(int64_t index, int rank, int world_size,
                                 Batch* batch) const {
  MPIMOE_CHECK(index >= 0 && index < eval_batches_);
  FillBatch(kEvalStream, index, rank, world_size, batch);
}

std::string SyntheticDataset::Describe() const {
  std::string tasks;
  for (SyntheticTask task : tasks_) {
    if (!tasks.empty()) tasks += ",";
    tasks += TaskName(task);
  }
  return "synthetic tasks=" + tasks + " symbols=" + std::to_string(num_symbols_) +
         " payload=" + std::to_string(payload_len_) +
         " vocab=" + std::to_string(vocab_size_);
}

void SyntheticDataset::FillBatch(uint64_t stream, int64_t batch_index, int rank,
                                 int world_size, Batch* batch) const {
  const SequenceRange range =
      ShapeBatchSlice(global_batch_, seq_len_, rank, world_size, batch);
  const int64_t count = range.end - range.begin;
  for (int64_t q = 0; q < count; ++q) {
    const uint64_t sequence_seed =
        MixSeed(seed_, {stream, static_cast<uint64_t>(batch_index),
                        static_cast<uint64_t>(range.begin + q)});
    FillSequence(sequence_seed, batch->tokens.data() + q * seq_len_,
                 batch->targets.data() + q * seq_len_);
  }
}

void SyntheticDataset::FillSequence(uint64_t sequence_seed, int32_t* tokens,
                                    int32_t* targets) const {
  Rng rng(sequence_seed);
  const int32_t task_index = static_cast<int32_t>(rng.Below(tasks_.size()));
  const int32_t n = payload_len_;
  const int32_t sep = num_symbols_;
  const int32_t pad = num_symbols_ + 1;
  int32_t* payload = tokens + 1;
  int32_t* answer = tokens + n + 2;
  auto draw = [&](int32_t count) {
    for (int32_t i = 0; i < count; ++i) {
      payload[i] = static_cast<int32_t>(rng.Below(static_cast<uint64_t>(num_symbols_)));
    }
  };

  std::fill(tokens, tokens + seq_len_, pad);
  tokens[0] = num_symbols_ + 2 + task_index;
  tokens[n + 1] = sep;
  int32_t answer_len = n;
  switch (tasks_[task_index]) {
    case SyntheticTask::kCopy:
      draw(n);
      std::copy(payload, payload + n, answer);
      break;
    case SyntheticTask::kReverse:
      draw(n);
      std::reverse_copy(payload, payload + n, answer);
      break;
    case SyntheticTask::kSort:
      draw(n);
      std::copy(payload, payload + n, answer);
      std::sort(answer, answer + n);
      break;
    case SyntheticTask::kModAdd: {
      const int32_t m = n / 2;
      draw(2 * m);  // a = payload[0, m), b = payload[m, 2m); payload[2m] stays PAD
      for (int32_t i = 0; i < m; ++i)
        answer[i] = (payload[i] + payload[m + i]) % num_symbols_;
      answer_len = m;
      break;
    }
  }

  // Position t predicts token t + 1; only answer tokens (positions n + 2 ..) count.
  std::fill(targets, targets + seq_len_, -1);
  for (int32_t i = 0; i < answer_len; ++i) targets[n + 1 + i] = answer[i];
}

}  // namespace mpimoe::train
