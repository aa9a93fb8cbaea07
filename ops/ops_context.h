// OpsContext: the single-process compute context every op runs in.
//
// It owns the oneDNN CPU engine, one in-order stream and the matmul primitive cache.
// It is created once per process (per training job) and passed explicitly to every op
// that needs oneDNN; elementwise ops that are plain C++ do not need it. oneDNN types
// stay behind the pimpl so callers above ops/ never see oneDNN headers.
//
// Thread-safety: not thread-safe. Ops are called from one host thread; parallelism is
// inside each op (OpenMP, oneDNN's OpenMP runtime).
#pragma once

#include <cstdint>
#include <memory>

namespace mpimoe::ops {

class OpsContext {
 public:
  OpsContext();
  ~OpsContext();
  OpsContext(const OpsContext&) = delete;
  OpsContext& operator=(const OpsContext&) = delete;

  // Number of distinct matmul primitives built so far (cache misses).
  int64_t num_matmul_primitives() const;
  // Number of matmul calls served from the cache.
  int64_t num_matmul_cache_hits() const;

  struct Impl;  // defined in ops/dnnl_context.h, visible only inside ops/
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mpimoe::ops
