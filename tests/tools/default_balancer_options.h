// DefaultBalancerOptions: the balancer options a default config runs (the schema's
// `balancer` defaults through train::BalancerOptionsOf, the only home of those
// defaults), for tests that exercise the balancer on its own. The cost model is
// BalancerOptions' zero-cost default; tests set their own.
//
// Thread-safety: a pure function.
#pragma once

#include "parallel/balancer.h"
#include "runtime/train/config_loader.h"
#include "runtime/train/expert_placement.h"

namespace mpimoe::testing {

inline parallel::BalancerOptions DefaultBalancerOptions() {
  return train::BalancerOptionsOf(train::DefaultTrainConfig().balancer).value();
}

}  // namespace mpimoe::testing
