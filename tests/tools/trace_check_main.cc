// mpimoe-trace-check: checks a merged trace.json (see trace_check.h) for the CLI test.
//
//   mpimoe-trace-check TRACE_JSON RANKS [NAME,NAME,...] [PHASE,PHASE,...]
//
// NAMEs must occur on every rank; PHASEs too, and no phase may nest inside another.
// Prints "OK: ..." and exits 0 when the trace passes; prints every problem and exits 1
// otherwise; exits 2 on bad arguments or an unreadable file.
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/core/file_io.h"
#include "runtime/core/json.h"
#include "tests/tools/trace_check.h"

int main(int argc, char** argv) {
  if (argc < 3 || argc > 5) {
    std::fprintf(stderr, "usage: %s TRACE_JSON RANKS [NAME,NAME,...] [PHASE,PHASE,...]\n",
                 argv[0]);
    return 2;
  }
  const mpimoe::StatusOr<std::string> text = mpimoe::ReadFileToString(argv[1]);
  if (!text.ok()) {
    std::fprintf(stderr, "%s\n", text.status().message().c_str());
    return 2;
  }

  mpimoe::testing::TraceCheckOptions options;
  options.num_ranks = std::atoi(argv[2]);
  if (options.num_ranks < 1) {
    std::fprintf(stderr, "RANKS must be a positive integer, got %s\n", argv[2]);
    return 2;
  }
  // Required names, then the phase names (also required, and never nested in each
  // other).
  for (int a = 3; a < argc && a < 5; ++a) {
    std::stringstream names(argv[a]);
    std::string name;
    while (std::getline(names, name, ',')) {
      if (name.empty()) continue;
      options.required_names.push_back(name);
      if (a == 4) options.phase_names.push_back(name);
    }
  }

  const mpimoe::StatusOr<mpimoe::Json> document = mpimoe::ParseJson(*text, argv[1]);
  if (!document.ok()) {
    std::printf("FAIL: not valid JSON: %s\n", document.status().message().c_str());
    return 1;
  }
  const mpimoe::testing::TraceCheckResult result =
      mpimoe::testing::CheckTrace(*document, options);
  for (const std::string& e : result.errors) std::printf("FAIL: %s\n", e.c_str());
  if (!result.errors.empty()) return 1;
  std::printf("OK: %s: %lld complete events from %d rank(s), nesting depth %lld\n",
              argv[1], static_cast<long long>(result.num_complete_events),
              options.num_ranks, static_cast<long long>(result.max_depth));
  return 0;
}
