// TraceRecorder: a timeline of what one rank's host thread did, as Chrome trace event
// JSON ("complete" events, "ph":"X"), viewable in Perfetto or chrome://tracing.
//
// Code that wants to appear on the timeline takes a `TraceRecorder*` (passed in
// explicitly, never global) and opens a TraceSpan or a TraceTimer on it; with a null
// recorder a span costs one pointer check and records nothing, so tracing off is free.
// Events carry a static name (a string literal: the recorder stores the pointer), the
// begin and end time in nanoseconds since the recorder's origin, the thread id and an
// optional integer argument (e.g. bytes moved). Spans on one thread nest properly by
// construction (RAII), which is what the viewers need.
//
// Memory is bounded: BeginStep(n) opens step n's window and drops the events of steps
// older than the last `max_steps` (0 = keep all). The event buffer is one vector
// reserved up front and reused; recording allocates only when a step has more events
// than any step before it.
//
// Output: AppendEventsJson writes this recorder's events as comma-separated JSON
// objects (ts/dur in microseconds); TraceDocument(pieces) wraps the pieces of every
// rank into {"traceEvents":[...],"displayTimeUnit":"ms"} with process_name "rank R"
// and thread_name metadata.
//
// Ownership: the recorder owns its buffer. Thread-safety: not thread-safe; one recorder
// per recording thread (mpimoe records from each rank's host thread only).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mpimoe {

struct TraceEvent {
  const char* name = "";  // static storage
  int64_t begin_ns = 0;   // since the recorder's origin
  int64_t end_ns = 0;
  int32_t tid = 0;
  int64_t arg = -1;                // shown as args {arg_name: arg} when >= 0
  const char* arg_name = nullptr;  // static storage
};

struct TraceOptions {
  int32_t pid = 0;         // the process id in the trace (mpimoe: the rank)
  int64_t max_steps = 20;  // steps kept (the most recent); 0 = all
  size_t reserve_events = 4096;
};

class TraceRecorder {
 public:
  using Clock = std::chrono::steady_clock;

  explicit TraceRecorder(const TraceOptions& options = {});

  // Sets the time origin to now (ranks call it right after a barrier so their
  // timelines line up) and drops every event.
  void ResetOrigin();
  // Nanoseconds since the origin: now, or of a clock reading.
  int64_t NowNs() const { return SinceOrigin(Clock::now()); }
  int64_t SinceOrigin(Clock::time_point t) const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t - origin_).count();
  }
  // Opens step `step`'s window; events from now on belong to it. Drops the oldest
  // steps beyond max_steps. Call with no span open.
  void BeginStep(int64_t step);
  // Records a finished event [begin_ns, end_ns) on thread `tid`.
  void Add(const char* name, int64_t begin_ns, int64_t end_ns, int32_t tid = 0,
           const char* arg_name = nullptr, int64_t arg = -1) {
    events_.push_back(TraceEvent{name, begin_ns, end_ns, tid, arg, arg_name});
  }

  int32_t pid() const { return options_.pid; }
  // Events kept, in the order they finished.
  const std::vector<TraceEvent>& events() const { return events_; }
  // Steps whose events are kept (oldest first).
  const std::vector<int64_t>& kept_steps() const { return steps_; }

  // Appends this recorder's events to `out` as JSON objects separated by commas (no
  // brackets; nothing for no events), sorted by thread, begin time and then longest
  // first, so that a parent precedes the events nested in it.
  void AppendEventsJson(std::string* out) const;

 private:
  TraceOptions options_;
  Clock::time_point origin_;
  std::vector<TraceEvent> events_;
  std::vector<int64_t> steps_;       // kept steps
  std::vector<size_t> step_begins_;  // index in events_ where each kept step starts
};

// One trace document from the event pieces of processes 0..N-1 (piece p from rank p's
// AppendEventsJson): adds process_name "rank p", process_sort_index and a thread_name
// for thread 0 ("host") of every process.
std::string TraceDocument(const std::vector<std::string_view>& pieces);

// Records [construction, End() or destruction) as one event; nothing with a null
// recorder.
class TraceSpan {
 public:
  TraceSpan(TraceRecorder* trace, const char* name, const char* arg_name = nullptr,
            int64_t arg = -1)
      : trace_(trace), name_(name), arg_name_(arg_name), arg_(arg) {
    if (trace_ != nullptr) begin_ns_ = trace_->NowNs();
  }
  TraceSpan(const TraceSpan&) = delete;
  TraceSpan& operator=(const TraceSpan&) = delete;
  ~TraceSpan() { End(); }

  void set_arg(int64_t arg) { arg_ = arg; }
  void End() {
    if (trace_ == nullptr) return;
    trace_->Add(name_, begin_ns_, trace_->NowNs(), 0, arg_name_, arg_);
    trace_ = nullptr;
  }

 private:
  TraceRecorder* trace_;
  const char* name_;
  const char* arg_name_;
  int64_t arg_;
  int64_t begin_ns_ = 0;
};

// A stopwatch over consecutive phases that also records each phase as an event when
// given a recorder, from the same clock readings, so phase totals and the timeline
// agree. Always measures (the phase times are needed with tracing off too).
class TraceTimer {
 public:
  TraceTimer(TraceRecorder* trace, const char* name)
      : trace_(trace), name_(name), begin_(TraceRecorder::Clock::now()) {}
  TraceTimer(const TraceTimer&) = delete;
  TraceTimer& operator=(const TraceTimer&) = delete;

  // Ends the current phase (recording it), returns its milliseconds, and starts the
  // next phase `next` at the same instant.
  double Next(const char* next) {
    const TraceRecorder::Clock::time_point now = TraceRecorder::Clock::now();
    const double ms = std::chrono::duration<double, std::milli>(now - begin_).count();
    if (trace_ != nullptr && !stopped_) Record(now);
    name_ = next;
    begin_ = now;
    return ms;
  }
  // Ends the current phase; returns its milliseconds. The timer is then idle until
  // Restart.
  double Stop() {
    const double ms = Next(nullptr);
    stopped_ = true;
    return ms;
  }
  void Restart(const char* name) {
    name_ = name;
    stopped_ = false;
    begin_ = TraceRecorder::Clock::now();
  }

 private:
  void Record(TraceRecorder::Clock::time_point now);

  TraceRecorder* trace_;
  const char* name_;
  TraceRecorder::Clock::time_point begin_;
  bool stopped_ = false;
};

}  // namespace mpimoe
