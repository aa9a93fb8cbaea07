#include "runtime/core/logging.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "runtime/core/check.h"

namespace mpimoe {
namespace {

struct ProcessLogState {
  std::mutex mu;
  std::string label = "mpimoe";
  std::atomic<int> min_level{-1};  // -1: not yet read from the environment
};

ProcessLogState& State() {
  static ProcessLogState state;
  return state;
}

int LevelFromEnv() {
  const char* env = std::getenv("MPIMOE_LOG_LEVEL");
  if (env == nullptr) return static_cast<int>(LogLevel::kInfo);
  if (std::strcmp(env, "debug") == 0) return static_cast<int>(LogLevel::kDebug);
  if (std::strcmp(env, "warning") == 0) return static_cast<int>(LogLevel::kWarning);
  if (std::strcmp(env, "error") == 0) return static_cast<int>(LogLevel::kError);
  return static_cast<int>(LogLevel::kInfo);
}

void WriteLine(const std::string& line) {
  // One write per line keeps lines from different threads and ranks whole.
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace

void SetProcessLabel(std::string_view label) {
  std::lock_guard<std::mutex> lock(State().mu);
  State().label = std::string(label);
}

const std::string& ProcessLabel() { return State().label; }

void SetMinLogLevel(LogLevel level) { State().min_level = static_cast<int>(level); }

LogLevel MinLogLevel() {
  int level = State().min_level.load();
  if (level < 0) {
    level = LevelFromEnv();
    State().min_level = level;
  }
  return static_cast<LogLevel>(level);
}

void Log(LogLevel level, std::string_view message) {
  if (static_cast<int>(level) < static_cast<int>(MinLogLevel())) return;
  static constexpr char kLetters[] = {'D', 'I', 'W', 'E'};
  std::string line;
  {
    std::lock_guard<std::mutex> lock(State().mu);
    line = "[" + State().label + "] ";
  }
  line += kLetters[static_cast<int>(level)];
  line += ' ';
  line.append(message);
  line += '\n';
  WriteLine(line);
}

namespace internal {

void CheckFailed(const char* file, int line, const char* condition, const char* message) {
  std::string text = "[" + ProcessLabel() + "] CHECK failed at " + file + ":" +
                     std::to_string(line) + ": " + condition;
  if (message != nullptr) {
    text += " (";
    text += message;
    text += ")";
  }
  text += '\n';
  WriteLine(text);
  std::abort();
}

}  // namespace internal
}  // namespace mpimoe
