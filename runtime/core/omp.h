// OpenMP helpers: the thread count in effect and a scoped override.
//
// mpimoe threads its own loops with `#pragma omp parallel for` and oneDNN uses the same
// OpenMP runtime, so one setting governs both. ScopedNumThreads sets the count for the
// calling thread's following parallel regions and restores it on destruction.
//
// Thread-safety: affects only the calling thread's OpenMP ICVs.
#pragma once

namespace mpimoe {

// omp_get_max_threads(), or 1 without OpenMP.
int MaxThreads();

// Sets omp_set_num_threads(n) (n >= 1).
void SetNumThreads(int n);

class ScopedNumThreads {
 public:
  explicit ScopedNumThreads(int n) : previous_(MaxThreads()) { SetNumThreads(n); }
  ~ScopedNumThreads() { SetNumThreads(previous_); }
  ScopedNumThreads(const ScopedNumThreads&) = delete;
  ScopedNumThreads& operator=(const ScopedNumThreads&) = delete;

 private:
  int previous_;
};

}  // namespace mpimoe
