#include "runtime/core/process_stats.h"

#include <sys/resource.h>

namespace mpimoe {

double PeakRssMb() {
  struct rusage usage {};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0.0;
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: ru_maxrss is in KiB
}

}  // namespace mpimoe
