// bench_common_flags.cc: see bench_common_flags.h.
#include "examples/bench/bench_common_flags.h"

#include <limits>

namespace mpimoe::bench {

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
