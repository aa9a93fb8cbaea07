#include "runtime/core/trace.h"

#include <algorithm>
#include <utility>

#include "runtime/core/json.h"

namespace mpimoe {
namespace {

// Nanoseconds as the microseconds trace viewers expect (ts, dur), e.g. 1234.567.
double Micros(int64_t ns) { return static_cast<double>(ns) / 1e3; }

void AppendDump(const Json& value, std::string* out) { *out += DumpJson(value); }

Json Metadata(const char* kind, int32_t pid, const char* arg_key, Json arg) {
  return Json{{"name", kind},
              {"ph", "M"},
              {"pid", pid},
              {"tid", 0},
              {"args", Json{{arg_key, std::move(arg)}}}};
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
  bool first = true;
  for (const TraceEvent* e : order) {
    if (!first) *out += ",\n";
    first = false;
    Json event = {{"name", e->name},
                  {"ph", "X"},
                  {"pid", options_.pid},
                  {"tid", e->tid},
                  {"ts", Micros(e->begin_ns)},
                  {"dur", Micros(std::max<int64_t>(0, e->end_ns - e->begin_ns))}};
    if (e->arg_name != nullptr && e->arg >= 0) event["args"] = {{e->arg_name, e->arg}};
    AppendDump(event, out);
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
    for (const Json& metadata :
         {Metadata("process_name", pid, "name", "rank " + std::to_string(p)),
          Metadata("process_sort_index", pid, "sort_index", pid),
          Metadata("thread_name", pid, "name", "host")}) {
      separate();
      AppendDump(metadata, &out);
    }
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
