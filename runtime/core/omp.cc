#include "runtime/core/omp.h"

#include <omp.h>

#include "runtime/core/check.h"

namespace mpimoe {

int MaxThreads() { return omp_get_max_threads(); }

void SetNumThreads(int n) {
  MPIMOE_CHECK(n >= 1);
  omp_set_num_threads(n);
}

}  // namespace mpimoe
