// TextDataset: reading the file, splitting it into training and held-out parts, and
// cutting windows (offsets and split specified in data.h).
#include "runtime/train/text_data.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <utility>

#include "runtime/core/check.h"
#include "runtime/core/random.h"

namespace mpimoe::train {
namespace {

constexpr uint64_t kTrainStream = 0x7478742d747261ull;  // "txt-tra"

// Held-out bytes at the end of a file of `file_bytes` bytes: round(N * eval_fraction).
int64_t EvalBytes(int64_t file_bytes, float eval_fraction) {
  return static_cast<int64_t>(
      std::llround(static_cast<double>(file_bytes) * static_cast<double>(eval_fraction)));
}

bool BigEnough(int64_t file_bytes, float eval_fraction, int64_t window_bytes,
               bool need_eval) {
  const int64_t eval = EvalBytes(file_bytes, eval_fraction);
  return file_bytes - eval >= window_bytes && (!need_eval || eval >= window_bytes);
}

// The smallest file size with a window in each needed part, or 0 if there is none of
// a sane size (for error messages).
int64_t MinFileBytes(float eval_fraction, int64_t window_bytes, bool need_eval) {
  const double f = eval_fraction;
  double estimate = static_cast<double>(window_bytes) / (1.0 - f);
  if (need_eval) estimate = f > 0.0 ? std::max(estimate, window_bytes / f) : 1e300;
  if (estimate > 1e15) return 0;
  int64_t n = std::max<int64_t>(window_bytes, static_cast<int64_t>(estimate) - 2);
  for (int tries = 0; tries < 1000; ++tries, ++n) {
    if (BigEnough(n, eval_fraction, window_bytes, need_eval)) return n;
  }
  return 0;
}

std::string FormatFraction(float fraction) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", static_cast<double>(fraction));
  return text;
}

StatusOr<std::string> ReadWholeFile(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (status.type() == fs::file_type::not_found) {
    return NotFoundError("text file " + path + ": no such file");
  }
  if (ec) return IoError("text file " + path + ": cannot access: " + ec.message());
  if (fs::is_directory(status)) {
    return IoError("text file " + path + ": is a directory, not a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    return IoError("text file " + path + ": cannot open: " + std::strerror(errno));
  }
  std::string bytes;
  char chunk[1 << 16];
  while (in.read(chunk, sizeof(chunk)) || in.gcount() > 0) {
    bytes.append(chunk, static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return IoError("text file " + path + ": read failed");
  return bytes;
}

}  // namespace

StatusOr<std::unique_ptr<TextDataset>> TextDataset::Open(const DataSection& data,
                                                         int32_t seq_len, uint64_t seed) {
  MPIMOE_CHECK(seq_len >= 1);
  MPIMOE_CHECK(data.global_batch_size >= 1);
  MPIMOE_CHECK(data.eval_fraction >= 0.0f && data.eval_fraction < 1.0f);
  const std::string& path = data.text_path;
  MPIMOE_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(path));
  const int64_t file_bytes = static_cast<int64_t>(bytes.size());
  if (file_bytes == 0) return InvalidArgumentError("text file " + path + ": is empty");

  const int64_t window_bytes = int64_t{seq_len} + 1;
  const bool need_eval = data.eval_batches > 0;
  const int64_t eval_bytes = EvalBytes(file_bytes, data.eval_fraction);
  const int64_t train_bytes = file_bytes - eval_bytes;
  if (!BigEnough(file_bytes, data.eval_fraction, window_bytes, need_eval)) {
    const int64_t min_bytes = MinFileBytes(data.eval_fraction, window_bytes, need_eval);
    return InvalidArgumentError(
        "text file " + path + ": too short: " + std::to_string(file_bytes) +
        " bytes split by data.eval_fraction=" + FormatFraction(data.eval_fraction) +
        " into " + std::to_string(train_bytes) + " training and " +
        std::to_string(eval_bytes) + " evaluation bytes, but the training part" +
        (need_eval ? " and the evaluation part each need" : " needs") +
        " at least model.seq_len + 1 = " + std::to_string(window_bytes) + " bytes" +
        (min_bytes > 0 ? " (a file of at least " + std::to_string(min_bytes) + " bytes)"
                       : std::string()));
  }
  return std::unique_ptr<TextDataset>(
      new TextDataset(data, seq_len, seed, std::move(bytes), train_bytes));
}

TextDataset::TextDataset(const DataSection& data, int32_t seq_len, uint64_t seed,
                         std::string bytes, int64_t train_bytes)
    : path_(data.text_path),
      bytes_(std::move(bytes)),
      seq_len_(seq_len),
      global_batch_(data.global_batch_size),
      eval_batches_(data.eval_batches),
      seed_(seed),
      train_bytes_(train_bytes),
      num_eval_windows_(0) {
  const int64_t held_out = eval_bytes();
  if (held_out >= int64_t{seq_len_} + 1) {
    num_eval_windows_ = (held_out - seq_len_ - 1) / seq_len_ + 1;
  }
}

SequenceRange TextDataset::PrepareBatch(int rank, int world_size, Batch* batch) const {
  return ShapeBatchSlice(global_batch_, seq_len_, rank, world_size, batch);
}

void TextDataset::FillWindow(int64_t offset, int32_t* tokens, int32_t* targets) const {
  const auto* window = reinterpret_cast<const unsigned char*>(bytes_.data()) + offset;
  for (int32_t t = 0; t < seq_len_; ++t) {
    tokens[t] = window[t];
    targets[t] = window[t + 1];
  }
}

void TextDataset::TrainBatch(int64_t step, int rank, int world_size, Batch* batch) const {
  const SequenceRange range = PrepareBatch(rank, world_size, batch);
  // Offsets in [0, train_bytes - seq_len - 1], so a window never reaches held-out bytes.
  const uint64_t num_offsets = static_cast<uint64_t>(train_bytes_ - seq_len_);
  for (int64_t i = range.begin; i < range.end; ++i) {
    Rng rng(MixSeed(
        seed_, {kTrainStream, static_cast<uint64_t>(step), static_cast<uint64_t>(i)}));
    const int64_t offset = static_cast<int64_t>(rng.Below(num_offsets));
    const int64_t q = i - range.begin;
    FillWindow(offset, batch->tokens.data() + q * seq_len_,
               batch->targets.data() + q * seq_len_);
  }
}

void TextDataset::EvalBatch(int64_t index, int rank, int world_size, Batch* batch) const {
  MPIMOE_CHECK(index >= 0 && index < eval_batches_);
  MPIMOE_CHECK(num_eval_windows_ > 0);
  const SequenceRange range = PrepareBatch(rank, world_size, batch);
  for (int64_t i = range.begin; i < range.end; ++i) {
    const int64_t window = (index * global_batch_ + i) % num_eval_windows_;
    const int64_t q = i - range.begin;
    FillWindow(train_bytes_ + window * seq_len_, batch->tokens.data() + q * seq_len_,
               batch->targets.data() + q * seq_len_);
  }
}

std::string TextDataset::Describe() const {
  return "text " + path_ + " bytes=" + std::to_string(bytes_.size()) +
         " train_bytes=" + std::to_string(train_bytes_) +
         " eval_bytes=" + std::to_string(eval_bytes()) +
         " eval_windows=" + std::to_string(num_eval_windows_);
}

}  // namespace mpimoe::train
