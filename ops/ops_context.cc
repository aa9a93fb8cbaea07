#include "ops/ops_context.h"

#include "ops/dnnl_context.h"

namespace mpimoe::ops {

OpsContext::OpsContext() : impl_(std::make_unique<Impl>()) {}
OpsContext::~OpsContext() = default;

int64_t OpsContext::num_matmul_primitives() const {
  return static_cast<int64_t>(impl_->matmul_cache.size());
}
int64_t OpsContext::num_matmul_cache_hits() const { return impl_->matmul_cache_hits; }

}  // namespace mpimoe::ops
