// CheckTrace: what a merged mpimoe trace.json must satisfy, for the CLI test's
// mpimoe-trace-check program and its unit test.
//
// A trace passes when it is {"traceEvents":[...]} whose every event is an object with a
// string "name" and "ph"; every complete event ("ph":"X") has numeric pid, tid, ts and
// a non-negative dur; the set of pids of complete events is exactly 0..num_ranks-1 and
// each has a process_name metadata event naming it "rank <pid>"; every required name
// occurs as a complete event of every pid; and per (pid, tid) the complete events never
// overlap except by proper nesting (an event that starts inside another ends inside
// it; sharing an endpoint is fine), and no event named in `phase_names` nests inside
// another one so named (phases of a step are siblings, not parts of each other). Times
// are compared in whole nanoseconds.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/json.h"

namespace mpimoe::testing {

struct TraceCheckOptions {
  int num_ranks = 1;
  std::vector<std::string> required_names;
  std::vector<std::string> phase_names;  // mutually exclusive on a thread
};

struct TraceCheckResult {
  std::vector<std::string> errors;  // empty = the trace passes
  int64_t num_complete_events = 0;
  int64_t max_depth = 0;  // deepest nesting seen (1 = no nesting)
};

TraceCheckResult CheckTrace(const mpimoe::Json& document,
                            const TraceCheckOptions& options);

}  // namespace mpimoe::testing
