// Steady-clock timing: a Stopwatch, a median helper for benchmark samples, and the
// short duration text progress lines print.
//
// Thread-safety: values; no shared state.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace mpimoe {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  void Restart() { start_ = std::chrono::steady_clock::now(); }
  double ElapsedSeconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
        .count();
  }
  double ElapsedMs() const { return ElapsedSeconds() * 1e3; }

 private:
  std::chrono::steady_clock::time_point start_;
};

// Median of the samples (mean of the two middle ones for an even count); 0 if empty.
inline double Median(std::vector<double> samples) {
  if (samples.empty()) return 0.0;
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  return n % 2 == 1 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
}

// `seconds` rounded to whole seconds as a progress line shows it: "42s", "3m07s",
// "2h05m".
inline std::string FormatDuration(double seconds) {
  const long s = seconds > 0 ? static_cast<long>(seconds + 0.5) : 0;
  char buffer[32];
  if (s < 60) {
    std::snprintf(buffer, sizeof(buffer), "%lds", s);
  } else if (s < 3600) {
    std::snprintf(buffer, sizeof(buffer), "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  }
  return buffer;
}

}  // namespace mpimoe
