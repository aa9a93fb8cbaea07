// Tests of runtime/train/data.h: the synthetic multi-task data (layout, answers,
// targets, vocabulary, determinism), the byte-level text data (windows, split, errors)
// and rank slicing (the slices of P ranks concatenate to the global batch).
#include "runtime/train/data.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/random.h"
#include "runtime/core/status.h"
#include "runtime/train/config.h"
#include "runtime/train/config_loader.h"

namespace mpimoe::train {
namespace {

namespace fs = std::filesystem;

const std::vector<SyntheticTask> kAllTasks = {
    SyntheticTask::kCopy, SyntheticTask::kReverse, SyntheticTask::kSort,
    SyntheticTask::kModAdd};

TrainConfig SyntheticConfig(int32_t seq_len, int32_t num_symbols,
                            std::vector<SyntheticTask> tasks, int32_t batch,
                            uint64_t seed) {
  TrainConfig config = DefaultTrainConfig();
  config.data.source = DataSource::kSynthetic;
  config.data.tasks = std::move(tasks);
  config.data.num_symbols = num_symbols;
  config.data.global_batch_size = batch;
  config.data.eval_batches = 4;
  config.model.seq_len = seq_len;
  config.run.seed = seed;
  return config;
}

std::unique_ptr<Dataset> MustMake(const TrainConfig& config) {
  StatusOr<std::unique_ptr<Dataset>> dataset = MakeDataset(config);
  EXPECT_TRUE(dataset.ok()) << dataset.status().ToString();
  if (!dataset.ok()) return nullptr;
  return std::move(dataset).value();
}

// A file under the temp directory, removed when the object goes away.
class TempFile {
 public:
  explicit TempFile(const std::string& contents) {
    static std::atomic<int> counter{0};
    path_ = (fs::temp_directory_path() / ("mpimoe_data_test_" + std::to_string(getpid()) +
                                          "_" + std::to_string(counter++) + ".txt"))
                .string();
    std::ofstream out(path_, std::ios::binary);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    EXPECT_TRUE(out.good()) << path_;
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// `count` pseudo-random bytes covering all 256 values, so (seq_len + 1)-byte windows
// are unique in the file and can be located.
std::string RandomBytes(int64_t count, uint64_t seed) {
  Rng rng(seed);
  std::string bytes(static_cast<size_t>(count), '\0');
  for (char& c : bytes) c = static_cast<char>(rng.Below(256));
  return bytes;
}

TrainConfig TextConfig(const std::string& path, int32_t seq_len, int32_t batch,
                       float eval_fraction, uint64_t seed) {
  TrainConfig config = DefaultTrainConfig();
  config.data.source = DataSource::kText;
  config.data.text_path = path;
  config.data.global_batch_size = batch;
  config.data.eval_batches = 4;
  config.data.eval_fraction = eval_fraction;
  config.model.seq_len = seq_len;
  config.run.seed = seed;
  return config;
}

// Concatenates the rank slices of `world_size` ranks (train or eval batch `index`).
Batch Concatenated(const Dataset& dataset, bool eval, int64_t index, int world_size) {
  Batch all;
  for (int rank = 0; rank < world_size; ++rank) {
    Batch part;
    if (eval) {
      dataset.EvalBatch(index, rank, world_size, &part);
    } else {
      dataset.TrainBatch(index, rank, world_size, &part);
    }
    EXPECT_EQ(part.tokens.size(), static_cast<size_t>(part.num_sequences * part.seq_len));
    EXPECT_EQ(part.targets.size(), part.tokens.size());
    all.num_sequences += part.num_sequences;
    all.seq_len = part.seq_len;
    all.tokens.insert(all.tokens.end(), part.tokens.begin(), part.tokens.end());
    all.targets.insert(all.targets.end(), part.targets.begin(), part.targets.end());
  }
  return all;
}

void ExpectSlicesConcatenate(const Dataset& dataset, int64_t global_batch) {
  for (bool eval : {false, true}) {
    for (int64_t index : {0, 3}) {
      Batch global;
      if (eval) {
        dataset.EvalBatch(index, 0, 1, &global);
      } else {
        dataset.TrainBatch(index, 0, 1, &global);
      }
      ASSERT_EQ(global.num_sequences, global_batch);
      for (int world_size : {1, 2, 3, 6}) {
        SCOPED_TRACE("eval=" + std::to_string(eval) + " index=" + std::to_string(index) +
                     " P=" + std::to_string(world_size));
        Batch all = Concatenated(dataset, eval, index, world_size);
        EXPECT_EQ(all.num_sequences, global_batch);
        EXPECT_EQ(all.seq_len, global.seq_len);
        EXPECT_EQ(all.tokens, global.tokens);
        EXPECT_EQ(all.targets, global.targets);
      }
    }
  }
}

// ---- Rank slicing ----------------------------------------------------------------

TEST(DataRankSliceTest, Ranges) {
  EXPECT_EQ(RankSlice(12, 0, 1).begin, 0);
  EXPECT_EQ(RankSlice(12, 0, 1).end, 12);
  EXPECT_EQ(RankSlice(12, 1, 3).begin, 4);
  EXPECT_EQ(RankSlice(12, 1, 3).end, 8);
  EXPECT_EQ(RankSlice(12, 3, 4).begin, 9);
  EXPECT_EQ(RankSlice(12, 3, 4).end, 12);
}

TEST(DataRankSliceDeathTest, IndivisibleBatchAborts) {
  std::unique_ptr<Dataset> dataset = MustMake(SyntheticConfig(20, 7, kAllTasks, 12, 5));
  ASSERT_NE(dataset, nullptr);
  Batch batch;
  EXPECT_DEATH(dataset->TrainBatch(0, 0, 5, &batch), "CHECK failed");
  EXPECT_DEATH(dataset->TrainBatch(0, 3, 3, &batch), "CHECK failed");
}

// ---- Synthetic data ----------------------------------------------------------------

// The expected answer of one decoded sequence, computed from the payload alone.
struct Decoded {
  SyntheticTask task;
  std::vector<int32_t> payload;  // the payload symbols the task reads
  std::vector<int32_t> answer;   // what the answer must be
};

// Checks the layout of sequence `q` of `batch` against data.h and returns the decoded
// task, payload and expected answer (recomputed here, independently of the dataset).
Decoded CheckSyntheticSequence(const Batch& batch, int64_t q, int32_t num_symbols,
                               const std::vector<SyntheticTask>& tasks) {
  const int32_t seq_len = static_cast<int32_t>(batch.seq_len);
  const int32_t n = (seq_len - 2) / 2;
  const int32_t sep = num_symbols;
  const int32_t pad = num_symbols + 1;
  const int32_t* tokens = batch.tokens.data() + q * seq_len;
  const int32_t* targets = batch.targets.data() + q * seq_len;

  Decoded decoded;
  const int32_t task_index = tokens[0] - (num_symbols + 2);
  EXPECT_GE(task_index, 0);
  EXPECT_LT(task_index, static_cast<int32_t>(tasks.size()));
  if (task_index < 0 || task_index >= static_cast<int32_t>(tasks.size())) return decoded;
  decoded.task = tasks[task_index];
  EXPECT_EQ(tokens[n + 1], sep);

  if (decoded.task == SyntheticTask::kModAdd) {
    const int32_t m = n / 2;
    decoded.payload.assign(tokens + 1, tokens + 1 + 2 * m);
    if (n % 2 == 1) {
      EXPECT_EQ(tokens[n], pad);  // the unused payload slot
    }
    for (int32_t i = 0; i < m; ++i) {
      decoded.answer.push_back((decoded.payload[i] + decoded.payload[m + i]) %
                               num_symbols);
    }
  } else {
    decoded.payload.assign(tokens + 1, tokens + 1 + n);
    decoded.answer = decoded.payload;
    if (decoded.task == SyntheticTask::kReverse) {
      std::reverse(decoded.answer.begin(), decoded.answer.end());
    } else if (decoded.task == SyntheticTask::kSort) {
      std::sort(decoded.answer.begin(), decoded.answer.end());
    }
  }
  for (int32_t symbol : decoded.payload) {
    EXPECT_GE(symbol, 0);
    EXPECT_LT(symbol, num_symbols);
  }

  // The full expected sequence: answer after SEP, PAD to the end.
  const int32_t answer_begin = n + 2;
  const int32_t answer_end = answer_begin + static_cast<int32_t>(decoded.answer.size());
  for (int32_t p = answer_begin; p < seq_len; ++p) {
    const int32_t expected = p < answer_end ? decoded.answer[p - answer_begin] : pad;
    EXPECT_EQ(tokens[p], expected) << "position " << p;
  }
  // Targets: position t predicts tokens[t + 1]; only answer tokens are counted.
  for (int32_t t = 0; t < seq_len; ++t) {
    const bool predicts_answer = t + 1 >= answer_begin && t + 1 < answer_end;
    const int32_t expected = predicts_answer ? decoded.answer[t + 1 - answer_begin] : -1;
    EXPECT_EQ(targets[t], expected) << "target position " << t;
  }
  return decoded;
}

TEST(SyntheticDataTest, VocabSize) {
  DataSection data;
  data.num_symbols = 16;
  EXPECT_EQ(SyntheticVocabSize(data), 16 + 2 + 4);  // empty tasks = all four
  data.tasks = {SyntheticTask::kSort};
  EXPECT_EQ(SyntheticVocabSize(data), 16 + 2 + 1);
  EXPECT_EQ(SyntheticMinSeqLen(data), 4);
  data.tasks = {SyntheticTask::kCopy, SyntheticTask::kModAdd};
  EXPECT_EQ(SyntheticVocabSize(data), 16 + 2 + 2);
  EXPECT_EQ(SyntheticMinSeqLen(data), 6);

  std::unique_ptr<Dataset> dataset = MustMake(
      SyntheticConfig(20, 7, {SyntheticTask::kCopy, SyntheticTask::kSort}, 4, 1));
  ASSERT_NE(dataset, nullptr);
  EXPECT_EQ(dataset->VocabSize(), 7 + 2 + 2);
  EXPECT_FALSE(dataset->Describe().empty());
}

// Every task's answers are correct and every target is -1 except where the next token
// is an answer token, for an odd payload length (n = 9) and an even one (n = 10).
TEST(SyntheticDataTest, AnswersAndTargetsAreCorrect) {
  for (int32_t seq_len : {20, 21, 22}) {
    SCOPED_TRACE("seq_len=" + std::to_string(seq_len));
    const int32_t num_symbols = 7;
    TrainConfig config = SyntheticConfig(seq_len, num_symbols, kAllTasks, 12, 5);
    std::unique_ptr<Dataset> dataset = MustMake(config);
    ASSERT_NE(dataset, nullptr);
    std::map<SyntheticTask, int> seen;
    Batch batch;
    for (int64_t step = 0; step < 25; ++step) {
      dataset->TrainBatch(step, 0, 1, &batch);
      ASSERT_EQ(batch.num_sequences, 12);
      ASSERT_EQ(batch.seq_len, seq_len);
      ASSERT_EQ(batch.tokens.size(), static_cast<size_t>(12 * seq_len));
      for (int64_t q = 0; q < batch.num_sequences; ++q) {
        ++seen[CheckSyntheticSequence(batch, q, num_symbols, kAllTasks).task];
      }
      if (::testing::Test::HasFailure()) return;
    }
    for (int64_t index = 0; index < 4; ++index) {
      dataset->EvalBatch(index, 0, 1, &batch);
      for (int64_t q = 0; q < batch.num_sequences; ++q) {
        CheckSyntheticSequence(batch, q, num_symbols, kAllTasks);
      }
    }
    for (SyntheticTask task : kAllTasks) {
      EXPECT_GT(seen[task], 20) << "task " << static_cast<int>(task);
    }
  }
}

TEST(SyntheticDataTest, TaskSubsetUsesItsOwnTokens) {
  const std::vector<SyntheticTask> tasks = {SyntheticTask::kModAdd, SyntheticTask::kSort};
  std::unique_ptr<Dataset> dataset = MustMake(SyntheticConfig(12, 5, tasks, 8, 9));
  ASSERT_NE(dataset, nullptr);
  EXPECT_EQ(dataset->VocabSize(), 5 + 2 + 2);
  std::map<SyntheticTask, int> seen;
  Batch batch;
  for (int64_t step = 0; step < 20; ++step) {
    dataset->TrainBatch(step, 0, 1, &batch);
    for (int64_t q = 0; q < batch.num_sequences; ++q) {
      ++seen[CheckSyntheticSequence(batch, q, 5, tasks).task];
    }
  }
  EXPECT_GT(seen[SyntheticTask::kModAdd], 0);
  EXPECT_GT(seen[SyntheticTask::kSort], 0);
  EXPECT_EQ(seen.size(), 2u);
}

TEST(SyntheticDataTest, ShortestSequences) {
  // seq_len 4 without MOD_ADD (n = 1) and 6 with it (n = 2, m = 1).
  const std::vector<SyntheticTask> no_mod_add = {
      SyntheticTask::kCopy, SyntheticTask::kReverse, SyntheticTask::kSort};
  for (const auto& [seq_len, tasks] :
       std::vector<std::pair<int32_t, std::vector<SyntheticTask>>>{{4, no_mod_add},
                                                                   {6, kAllTasks}}) {
    std::unique_ptr<Dataset> dataset = MustMake(SyntheticConfig(seq_len, 3, tasks, 6, 2));
    ASSERT_NE(dataset, nullptr);
    Batch batch;
    for (int64_t step = 0; step < 10; ++step) {
      dataset->TrainBatch(step, 0, 1, &batch);
      for (int64_t q = 0; q < batch.num_sequences; ++q) {
        CheckSyntheticSequence(batch, q, 3, tasks);
      }
    }
  }
  TrainConfig too_short = SyntheticConfig(5, 3, kAllTasks, 6, 2);
  StatusOr<std::unique_ptr<Dataset>> bad = MakeDataset(too_short);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("model.seq_len"), std::string::npos);
}

TEST(SyntheticDataTest, AllTokensBelowVocabSize) {
  std::unique_ptr<Dataset> dataset = MustMake(SyntheticConfig(31, 16, {}, 16, 3));
  ASSERT_NE(dataset, nullptr);
  EXPECT_EQ(dataset->VocabSize(), 16 + 2 + 4);
  Batch batch;
  for (int64_t step = 0; step < 20; ++step) {
    for (bool eval : {false, true}) {
      if (eval) {
        dataset->EvalBatch(step % 4, 0, 1, &batch);
      } else {
        dataset->TrainBatch(step, 0, 1, &batch);
      }
      for (int32_t token : batch.tokens) {
        EXPECT_GE(token, 0);
        EXPECT_LT(token, dataset->VocabSize());
      }
      for (int32_t target : batch.targets) {
        EXPECT_GE(target, -1);
        EXPECT_LT(target, dataset->VocabSize());
      }
    }
  }
}

TEST(SyntheticDataTest, SlicesConcatenateToTheGlobalBatch) {
  std::unique_ptr<Dataset> dataset = MustMake(SyntheticConfig(20, 7, kAllTasks, 12, 5));
  ASSERT_NE(dataset, nullptr);
  ExpectSlicesConcatenate(*dataset, 12);
}

TEST(SyntheticDataTest, Deterministic) {
  TrainConfig config = SyntheticConfig(20, 7, kAllTasks, 12, 5);
  std::unique_ptr<Dataset> a = MustMake(config);
  std::unique_ptr<Dataset> b = MustMake(config);
  config.run.seed = 6;
  std::unique_ptr<Dataset> other_seed = MustMake(config);
  ASSERT_TRUE(a && b && other_seed);
  Batch batch_a, batch_b, batch_other, batch_next;
  for (int64_t step : {0, 1, 100}) {
    a->TrainBatch(step, 0, 1, &batch_a);
    b->TrainBatch(step, 0, 1, &batch_b);
    other_seed->TrainBatch(step, 0, 1, &batch_other);
    a->TrainBatch(step + 1, 0, 1, &batch_next);
    EXPECT_EQ(batch_a.tokens, batch_b.tokens);
    EXPECT_EQ(batch_a.targets, batch_b.targets);
    EXPECT_NE(batch_a.tokens, batch_other.tokens);
    EXPECT_NE(batch_a.tokens, batch_next.tokens);
  }
  a->EvalBatch(2, 0, 1, &batch_a);
  b->EvalBatch(2, 0, 1, &batch_b);
  other_seed->EvalBatch(2, 0, 1, &batch_other);
  EXPECT_EQ(batch_a.tokens, batch_b.tokens);
  EXPECT_NE(batch_a.tokens, batch_other.tokens);
}

TEST(SyntheticDataTest, EvalBatchesDifferFromTrainingBatches) {
  std::unique_ptr<Dataset> dataset = MustMake(SyntheticConfig(20, 7, kAllTasks, 12, 5));
  ASSERT_NE(dataset, nullptr);
  Batch eval, train;
  for (int64_t index = 0; index < 4; ++index) {
    dataset->EvalBatch(index, 0, 1, &eval);
    for (int64_t step = 0; step < 8; ++step) {
      dataset->TrainBatch(step, 0, 1, &train);
      EXPECT_NE(eval.tokens, train.tokens) << "eval " << index << " step " << step;
    }
    // No single evaluation sequence reappears at the same place of a training batch.
    dataset->TrainBatch(index, 0, 1, &train);
    const int64_t seq_len = eval.seq_len;
    for (int64_t q = 0; q < eval.num_sequences; ++q) {
      EXPECT_FALSE(std::equal(eval.tokens.begin() + q * seq_len,
                              eval.tokens.begin() + (q + 1) * seq_len,
                              train.tokens.begin() + q * seq_len));
    }
  }
}

TEST(SyntheticDataTest, BatchVectorsAreReused) {
  std::unique_ptr<Dataset> dataset = MustMake(SyntheticConfig(20, 7, kAllTasks, 12, 5));
  ASSERT_NE(dataset, nullptr);
  Batch batch;
  dataset->TrainBatch(0, 1, 3, &batch);
  const int32_t* tokens = batch.tokens.data();
  const int32_t* targets = batch.targets.data();
  for (int64_t step = 1; step < 5; ++step) {
    dataset->TrainBatch(step, 1, 3, &batch);
    dataset->EvalBatch(step % 4, 1, 3, &batch);
  }
  EXPECT_EQ(batch.tokens.data(), tokens);
  EXPECT_EQ(batch.targets.data(), targets);
}

TEST(SyntheticDataDeathTest, EvalIndexOutOfRangeAborts) {
  std::unique_ptr<Dataset> dataset = MustMake(SyntheticConfig(20, 7, kAllTasks, 12, 5));
  ASSERT_NE(dataset, nullptr);
  Batch batch;
  EXPECT_DEATH(dataset->EvalBatch(4, 0, 1, &batch), "CHECK failed");
  EXPECT_DEATH(dataset->EvalBatch(-1, 0, 1, &batch), "CHECK failed");
}

// ---- Text data ----------------------------------------------------------------------

// File of 1000 random bytes, eval_fraction 0.25: training part [0, 750), held-out part
// [750, 1000) of W = (250 - 17) / 16 + 1 = 15 windows of 17 bytes at stride 16.
constexpr int64_t kFileBytes = 1000;
constexpr int64_t kTrainBytes = 750;
constexpr int32_t kSeqLen = 16;
constexpr int64_t kEvalWindows = 15;

// The offset of the window (tokens of row q followed by its last target) in `file`,
// or -1 if it is not a substring of it.
int64_t FindWindow(const std::string& file, const Batch& batch, int64_t q) {
  std::string window;
  for (int64_t t = 0; t < batch.seq_len; ++t) {
    window.push_back(static_cast<char>(batch.tokens[q * batch.seq_len + t]));
  }
  window.push_back(static_cast<char>(batch.targets[(q + 1) * batch.seq_len - 1]));
  const size_t at = file.find(window);
  if (at == std::string::npos) return -1;
  EXPECT_EQ(file.find(window, at + 1), std::string::npos) << "window not unique";
  return static_cast<int64_t>(at);
}

void ExpectWindowAt(const std::string& file, const Batch& batch, int64_t q,
                    int64_t offset) {
  for (int64_t t = 0; t < batch.seq_len; ++t) {
    const auto byte = [&](int64_t i) { return static_cast<unsigned char>(file[i]); };
    EXPECT_EQ(batch.tokens[q * batch.seq_len + t], byte(offset + t));
    EXPECT_EQ(batch.targets[q * batch.seq_len + t], byte(offset + t + 1));
  }
}

TEST(TextDataTest, TrainingWindowsComeFromTheTrainingPart) {
  const std::string bytes = RandomBytes(kFileBytes, 42);
  TempFile file(bytes);
  std::unique_ptr<Dataset> dataset =
      MustMake(TextConfig(file.path(), kSeqLen, 6, 0.25f, 7));
  ASSERT_NE(dataset, nullptr);
  EXPECT_EQ(dataset->VocabSize(), 256);
  EXPECT_NE(dataset->Describe().find(file.path()), std::string::npos);
  Batch batch;
  std::vector<int64_t> offsets;
  for (int64_t step = 0; step < 40; ++step) {
    dataset->TrainBatch(step, 0, 1, &batch);
    ASSERT_EQ(batch.num_sequences, 6);
    ASSERT_EQ(batch.seq_len, kSeqLen);
    for (int64_t q = 0; q < batch.num_sequences; ++q) {
      const int64_t offset = FindWindow(bytes, batch, q);
      ASSERT_GE(offset, 0) << "step " << step << " sequence " << q;
      EXPECT_LE(offset + kSeqLen + 1, kTrainBytes);
      ExpectWindowAt(bytes, batch, q, offset);  // targets are the next bytes
      offsets.push_back(offset);
    }
    for (int32_t token : batch.tokens) {
      EXPECT_GE(token, 0);
      EXPECT_LT(token, 256);
    }
  }
  // The offsets spread over the training part.
  EXPECT_LT(*std::min_element(offsets.begin(), offsets.end()), kTrainBytes / 4);
  EXPECT_GT(*std::max_element(offsets.begin(), offsets.end()), 3 * kTrainBytes / 4 - 17);
}

TEST(TextDataTest, EvalWindowsTileTheHeldOutPart) {
  const std::string bytes = RandomBytes(kFileBytes, 43);
  TempFile file(bytes);
  std::unique_ptr<Dataset> dataset =
      MustMake(TextConfig(file.path(), kSeqLen, 6, 0.25f, 7));
  ASSERT_NE(dataset, nullptr);
  Batch batch;
  for (int64_t index = 0; index < 4; ++index) {  // 4 * 6 = 24 > 15 windows: wraps
    dataset->EvalBatch(index, 0, 1, &batch);
    ASSERT_EQ(batch.num_sequences, 6);
    for (int64_t q = 0; q < batch.num_sequences; ++q) {
      const int64_t window = (index * 6 + q) % kEvalWindows;
      const int64_t offset = kTrainBytes + window * kSeqLen;
      ASSERT_LE(offset + kSeqLen + 1, kFileBytes);
      ExpectWindowAt(bytes, batch, q, offset);
      EXPECT_EQ(FindWindow(bytes, batch, q), offset);
    }
  }
}

TEST(TextDataTest, SlicesConcatenateAndDeterministic) {
  const std::string bytes = RandomBytes(kFileBytes, 44);
  TempFile file(bytes);
  std::unique_ptr<Dataset> a = MustMake(TextConfig(file.path(), kSeqLen, 6, 0.25f, 7));
  std::unique_ptr<Dataset> b = MustMake(TextConfig(file.path(), kSeqLen, 6, 0.25f, 7));
  std::unique_ptr<Dataset> other =
      MustMake(TextConfig(file.path(), kSeqLen, 6, 0.25f, 8));
  ASSERT_TRUE(a && b && other);
  ExpectSlicesConcatenate(*a, 6);
  Batch batch_a, batch_b, batch_other;
  for (int64_t step : {0, 5}) {
    a->TrainBatch(step, 0, 1, &batch_a);
    b->TrainBatch(step, 0, 1, &batch_b);
    other->TrainBatch(step, 0, 1, &batch_other);
    EXPECT_EQ(batch_a.tokens, batch_b.tokens);
    EXPECT_EQ(batch_a.targets, batch_b.targets);
    EXPECT_NE(batch_a.tokens, batch_other.tokens);
  }
  // Reused vectors.
  a->TrainBatch(0, 1, 2, &batch_a);
  const int32_t* tokens = batch_a.tokens.data();
  a->TrainBatch(1, 1, 2, &batch_a);
  a->EvalBatch(1, 1, 2, &batch_a);
  EXPECT_EQ(batch_a.tokens.data(), tokens);
}

TEST(TextDataTest, MinimalFile) {
  // seq_len 16, eval_fraction 0.5: 34 bytes = 17 + 17 is just enough, 33 is not.
  const std::string bytes = RandomBytes(34, 1);
  TempFile enough(bytes);
  std::unique_ptr<Dataset> dataset =
      MustMake(TextConfig(enough.path(), kSeqLen, 2, 0.5f, 1));
  ASSERT_NE(dataset, nullptr);
  Batch batch;
  dataset->TrainBatch(0, 0, 1, &batch);
  ExpectWindowAt(bytes, batch, 0, 0);  // the only training window
  dataset->EvalBatch(3, 0, 1, &batch);
  ExpectWindowAt(bytes, batch, 1, 17);  // the only evaluation window

  TempFile short_by_one(bytes.substr(0, 33));
  StatusOr<std::unique_ptr<Dataset>> bad =
      MakeDataset(TextConfig(short_by_one.path(), kSeqLen, 2, 0.5f, 1));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(TextDataTest, NoEvalPartNeededWithoutEvalBatches) {
  TempFile file(RandomBytes(40, 2));
  TrainConfig config = TextConfig(file.path(), kSeqLen, 2, 0.0f, 1);
  config.data.eval_batches = 0;
  std::unique_ptr<Dataset> dataset = MustMake(config);
  ASSERT_NE(dataset, nullptr);
  config.data.eval_batches = 1;
  StatusOr<std::unique_ptr<Dataset>> bad = MakeDataset(config);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(TextDataTest, MissingFileIsNotFound) {
  const std::string path =
      (fs::temp_directory_path() / "mpimoe_data_test_no_such_file.txt").string();
  ASSERT_FALSE(fs::exists(path));
  StatusOr<std::unique_ptr<Dataset>> result =
      MakeDataset(TextConfig(path, kSeqLen, 2, 0.25f, 1));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
  EXPECT_NE(result.status().message().find(path), std::string::npos)
      << result.status().message();
}

TEST(TextDataTest, EmptyFileIsInvalid) {
  TempFile file("");
  StatusOr<std::unique_ptr<Dataset>> result =
      MakeDataset(TextConfig(file.path(), kSeqLen, 2, 0.25f, 1));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find(file.path()), std::string::npos);
  EXPECT_NE(result.status().message().find("empty"), std::string::npos);
}

TEST(TextDataTest, TooShortFileNamesPathAndSizes) {
  TempFile file(RandomBytes(40, 3));  // 30 training + 10 held-out bytes; 17 needed
  StatusOr<std::unique_ptr<Dataset>> result =
      MakeDataset(TextConfig(file.path(), kSeqLen, 2, 0.25f, 1));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  const std::string& message = result.status().message();
  EXPECT_NE(message.find(file.path()), std::string::npos) << message;
  EXPECT_NE(message.find("40 bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("17"), std::string::npos) << message;
  // 66 bytes: round(66 * 0.25) = round(16.5) = 17 held out, 49 for training.
  EXPECT_NE(message.find("66 bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("0.25"), std::string::npos) << message;
}

TEST(TextDataTest, DirectoryIsIoError) {
  const fs::path dir =
      fs::temp_directory_path() / ("mpimoe_data_test_dir_" + std::to_string(getpid()));
  fs::create_directory(dir);
  StatusOr<std::unique_ptr<Dataset>> result =
      MakeDataset(TextConfig(dir.string(), kSeqLen, 2, 0.25f, 1));
  fs::remove(dir);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kIoError);
  EXPECT_NE(result.status().message().find(dir.string()), std::string::npos);
}

TEST(TextDataTest, MissingPathIsInvalid) {
  StatusOr<std::unique_ptr<Dataset>> result =
      MakeDataset(TextConfig("", kSeqLen, 2, 0.25f, 1));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("data.text_path"), std::string::npos);
}

}  // namespace
}  // namespace mpimoe::train
