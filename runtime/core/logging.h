// Logging: leveled, line-buffered messages to stderr, prefixed with the process label
// ("[rank 3]" once the MPI layer has set it, see SetProcessLabel).
//
// The process label and the minimum level are the only process-wide state in
// runtime/core: both describe the process itself (which rank it is, how chatty the
// user asked it to be), not any component, so they are set once at start-up by the
// program's main or the MPI environment. The level can also be set with the
// MPIMOE_LOG_LEVEL environment variable (debug, info, warning, error).
//
// Thread-safety: Log() may be called from any thread; each message is written with one
// write so lines from different threads do not interleave within a line.
#pragma once

#include <string>
#include <string_view>

namespace mpimoe {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Sets the prefix of every log line and of check failures, e.g. "rank 3".
void SetProcessLabel(std::string_view label);
const std::string& ProcessLabel();

void SetMinLogLevel(LogLevel level);
LogLevel MinLogLevel();

// Writes "[label] L message\n" to stderr when level >= MinLogLevel().
void Log(LogLevel level, std::string_view message);

inline void LogInfo(std::string_view message) { Log(LogLevel::kInfo, message); }
inline void LogWarning(std::string_view message) { Log(LogLevel::kWarning, message); }
inline void LogError(std::string_view message) { Log(LogLevel::kError, message); }
inline void LogDebug(std::string_view message) { Log(LogLevel::kDebug, message); }

}  // namespace mpimoe
