#include "tests/tools/trace_check.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

namespace mpimoe::testing {
namespace {

using ::mpimoe::Json;

struct Span {
  int64_t begin_ns = 0;
  int64_t end_ns = 0;
  std::string name;
  size_t index = 0;  // in traceEvents
};

bool Number(const Json& event, const char* key, double* out) {
  const auto v = event.find(key);
  if (v == event.end() || !v->is_number()) return false;
  *out = v->get<double>();
  return true;
}

// The string member `key` of an object, or nullptr.
const std::string* String(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto v = object.find(key);
  if (v == object.end() || !v->is_string()) return nullptr;
  return v->get_ptr<const std::string*>();
}

int64_t Nanos(double micros) { return std::llround(micros * 1000.0); }

}  // namespace

TraceCheckResult CheckTrace(const Json& document, const TraceCheckOptions& options) {
  TraceCheckResult result;
  auto error = [&](std::string message) {
    if (result.errors.size() < 50) result.errors.push_back(std::move(message));
  };
  const auto events =
      document.is_object() ? document.find("traceEvents") : document.end();
  if (events == document.end() || !events->is_array()) {
    error("the document is not an object with a traceEvents array");
    return result;
  }
  std::map<std::pair<int64_t, int64_t>, std::vector<Span>> threads;  // (pid, tid)
  std::map<int64_t, std::set<std::string>> names_of_pid;
  std::map<int64_t, std::string> process_names;
  for (size_t i = 0; i < events->size(); ++i) {
    const Json& e = (*events)[i];
    const std::string where = "event " + std::to_string(i);
    const std::string* name = String(e, "name");
    const std::string* ph = String(e, "ph");
    if (name == nullptr || ph == nullptr) {
      error(where + ": not an object with string name and ph");
      continue;
    }
    double pid = 0, tid = 0, ts = 0, dur = 0;
    if (*ph == "M") {
      const auto args = e.find("args");
      const std::string* arg_name = args != e.end() ? String(*args, "name") : nullptr;
      if (*name == "process_name" && Number(e, "pid", &pid) && arg_name != nullptr) {
        process_names[static_cast<int64_t>(pid)] = *arg_name;
      }
      continue;
    }
    if (*ph != "X") continue;
    if (!Number(e, "pid", &pid) || !Number(e, "tid", &tid) || !Number(e, "ts", &ts) ||
        !Number(e, "dur", &dur)) {
      error(where + " (" + *name + "): missing numeric pid, tid, ts or dur");
      continue;
    }
    if (dur < 0) {
      error(where + " (" + *name + "): negative dur");
      continue;
    }
    ++result.num_complete_events;
    const int64_t p = static_cast<int64_t>(pid);
    names_of_pid[p].insert(*name);
    threads[{p, static_cast<int64_t>(tid)}].push_back(
        Span{Nanos(ts), Nanos(ts) + Nanos(dur), *name, i});
  }

  // One process per rank, named.
  std::set<int64_t> pids;
  for (const auto& [pid, names] : names_of_pid) pids.insert(pid);
  std::set<int64_t> expected;
  for (int r = 0; r < options.num_ranks; ++r) expected.insert(r);
  if (pids != expected) {
    std::string got;
    for (int64_t p : pids) {
      if (!got.empty()) got.push_back(',');
      got += std::to_string(p);
    }
    error("complete events come from pids {" + got + "}, expected 0.." +
          std::to_string(options.num_ranks - 1));
  }
  for (int64_t p : expected) {
    const auto it = process_names.find(p);
    if (it == process_names.end() || it->second != "rank " + std::to_string(p)) {
      error("pid " + std::to_string(p) + " has no process_name \"rank " +
            std::to_string(p) + "\"");
    }
    for (const std::string& required : options.required_names) {
      if (names_of_pid[p].count(required) == 0) {
        error("pid " + std::to_string(p) + " has no \"" + required + "\" event");
      }
    }
  }

  auto is_phase = [&options](const std::string& name) {
    return std::find(options.phase_names.begin(), options.phase_names.end(), name) !=
           options.phase_names.end();
  };
  // Proper nesting per thread: sorted by begin (longest first), a stack of open spans.
  for (auto& [thread, spans] : threads) {
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
      if (a.begin_ns != b.begin_ns) return a.begin_ns < b.begin_ns;
      return a.end_ns > b.end_ns;
    });
    std::vector<const Span*> open;
    for (const Span& s : spans) {
      while (!open.empty() && open.back()->end_ns <= s.begin_ns) open.pop_back();
      if (!open.empty() && s.end_ns > open.back()->end_ns) {
        error("pid " + std::to_string(thread.first) + " tid " +
              std::to_string(thread.second) + ": \"" + s.name + "\" (event " +
              std::to_string(s.index) + ") overlaps \"" + open.back()->name +
              "\" (event " + std::to_string(open.back()->index) +
              ") without nesting in it");
        continue;
      }
      if (is_phase(s.name)) {
        for (const Span* outer : open) {
          if (is_phase(outer->name)) {
            error("pid " + std::to_string(thread.first) + " tid " +
                  std::to_string(thread.second) + ": phase \"" + s.name + "\" (event " +
                  std::to_string(s.index) + ") is nested in phase \"" + outer->name +
                  "\" (event " + std::to_string(outer->index) + ")");
            break;
          }
        }
      }
      open.push_back(&s);
      result.max_depth =
          std::max<int64_t>(result.max_depth, static_cast<int64_t>(open.size()));
    }
  }
  return result;
}

}  // namespace mpimoe::testing
