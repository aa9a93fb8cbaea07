// bench_common_flags.cc: see bench_common_flags.h.
#include "examples/bench/bench_common_flags.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace mpimoe::bench {
namespace {

std::string SignProblem(Sign sign, const std::string& text) {
  return std::string(sign == Sign::kPositive ? "must be positive"
                                             : "must be non-negative") +
         ", got '" + text + "'";
}

const char* SignName(Sign sign) {
  return sign == Sign::kPositive ? "POSITIVE" : "NON-NEGATIVE";
}

}  // namespace

CLI::Validator IntegerCheck(Sign sign, int64_t max) {
  auto check = [sign, max](const std::string& text) -> std::string {
    int64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end) {
      return "expected an integer, got '" + text + "'";
    }
    if (value < 0 || (value == 0 && sign == Sign::kPositive)) {
      return SignProblem(sign, text);
    }
    if (value > max) {
      return "must be at most " + std::to_string(max) + ", got '" + text + "'";
    }
    return std::string();
  };
  return CLI::Validator(check, SignName(sign));
}

CLI::Validator RealCheck(Sign sign) {
  auto check = [sign](const std::string& text) -> std::string {
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value)) {
      return "expected a number, got '" + text + "'";
    }
    if (value < 0.0 || (value == 0.0 && sign == Sign::kPositive)) {
      return SignProblem(sign, text);
    }
    return std::string();
  };
  return CLI::Validator(check, SignName(sign));
}

void AddJsonFlag(CLI::App* command, bool* json) {
  command->add_flag("--json", *json, "print one JSON line instead of a summary");
}

void AddThreadsFlag(CLI::App* command, int64_t* threads) {
  command->add_option("--threads", *threads, "OpenMP threads")
      ->check(IntegerCheck(Sign::kPositive, std::numeric_limits<int>::max()));
}

void AddConfigArguments(CLI::App* command, std::string* config_path,
                        std::vector<std::string>* overrides) {
  command->add_option("CONFIG", *config_path, "a training config (.textproto)")
      ->required();
  command
      ->add_option("--set", *overrides,
                   "override a config field, path=value (repeatable)")
      ->allow_extra_args(false)  // one value per --set, so CONFIG may follow
      ->default_str("");         // none (rather than "[]")
}

Status ValidateTopK(int64_t top_k, int64_t experts) {
  if (top_k > experts) {
    return InvalidArgumentError("--top-k (" + std::to_string(top_k) +
                                ") must not exceed --experts (" +
                                std::to_string(experts) + ")");
  }
  return Status::Ok();
}

}  // namespace mpimoe::bench
