#include "runtime/core/trace.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "runtime/core/json_line.h"

namespace mpimoe {
namespace {

// Microseconds with nanosecond resolution, e.g. 1234.567.
void AppendMicros(int64_t ns, std::string* out) {
  char buffer[32];
  const int64_t whole = ns / 1000;
  const int64_t frac = ns % 1000;
  if (ns < 0) {
    std::snprintf(buffer, sizeof(buffer), "-%" PRId64 ".%03" PRId64, -whole, -frac);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%" PRId64 ".%03" PRId64, whole, frac);
  }
  *out += buffer;
}

void AppendMetadata(const char* kind, int32_t pid, std::string_view arg_key,
                    const std::string& arg_json, std::string* out) {
  *out += "{\"name\":\"";
  *out += kind;
  *out += "\",\"ph\":\"M\",\"pid\":" + std::to_string(pid) + ",\"tid\":0,\"args\":{\"";
  *out += arg_key;
  *out += "\":" + arg_json + "}}";
}

}  // namespace

TraceRecorder::TraceRecorder(const TraceOptions& options)
    : options_(options), origin_(Clock::now()) {
  events_.reserve(options.reserve_events);
}

void TraceRecorder::ResetOrigin() {
  origin_ = Clock::now();
  events_.clear();
  steps_.clear();
  step_begins_.clear();
}

void TraceRecorder::BeginStep(int64_t step) {
  steps_.push_back(step);
  step_begins_.push_back(events_.size());
  if (options_.max_steps <= 0 ||
      static_cast<int64_t>(steps_.size()) <= options_.max_steps) {
    return;
  }
  // Drop the oldest steps (and whatever was recorded before the first kept step).
  const size_t drop_steps = steps_.size() - static_cast<size_t>(options_.max_steps);
  const size_t drop_events = step_begins_[drop_steps];
  events_.erase(events_.begin(), events_.begin() + static_cast<ptrdiff_t>(drop_events));
  steps_.erase(steps_.begin(), steps_.begin() + static_cast<ptrdiff_t>(drop_steps));
  step_begins_.erase(step_begins_.begin(),
                     step_begins_.begin() + static_cast<ptrdiff_t>(drop_steps));
  for (size_t& begin : step_begins_) begin -= drop_events;
}

void TraceRecorder::AppendEventsJson(std::string* out) const {
  std::vector<const TraceEvent*> order;
  order.reserve(events_.size());
  for (const TraceEvent& e : events_) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(),
                   [](const TraceEvent* a, const TraceEvent* b) {
                     if (a->tid != b->tid) return a->tid < b->tid;
                     if (a->begin_ns != b->begin_ns) return a->begin_ns < b->begin_ns;
                     return a->end_ns > b->end_ns;
                   });
  const std::string pid = std::to_string(options_.pid);
  bool first = true;
  for (const TraceEvent* e : order) {
    if (!first) *out += ",\n";
    first = false;
    *out += "{\"name\":";
    AppendJsonString(e->name, out);
    *out += ",\"ph\":\"X\",\"pid\":" + pid + ",\"tid\":" + std::to_string(e->tid) +
            ",\"ts\":";
    AppendMicros(e->begin_ns, out);
    *out += ",\"dur\":";
    AppendMicros(std::max<int64_t>(0, e->end_ns - e->begin_ns), out);
    if (e->arg_name != nullptr && e->arg >= 0) {
      *out += ",\"args\":{";
      AppendJsonString(e->arg_name, out);
      out->push_back(':');
      *out += std::to_string(e->arg);
      out->push_back('}');
    }
    out->push_back('}');
  }
}

std::string TraceDocument(const std::vector<std::string_view>& pieces) {
  std::string out = "{\"traceEvents\":[\n";
  bool first = true;
  auto separate = [&]() {
    if (!first) out += ",\n";
    first = false;
  };
  for (size_t p = 0; p < pieces.size(); ++p) {
    const int32_t pid = static_cast<int32_t>(p);
    std::string name;
    AppendJsonString("rank " + std::to_string(p), &name);
    separate();
    AppendMetadata("process_name", pid, "name", name, &out);
    separate();
    AppendMetadata("process_sort_index", pid, "sort_index", std::to_string(p), &out);
    separate();
    AppendMetadata("thread_name", pid, "name", "\"host\"", &out);
    if (!pieces[p].empty()) {
      separate();
      out += pieces[p];
    }
  }
  out += "\n],\"displayTimeUnit\":\"ms\"}\n";
  return out;
}

void TraceTimer::Record(TraceRecorder::Clock::time_point now) {
  if (name_ == nullptr) return;
  trace_->Add(name_, trace_->SinceOrigin(begin_), trace_->SinceOrigin(now));
}

}  // namespace mpimoe
