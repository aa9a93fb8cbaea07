// OpsContext::Impl: the oneDNN objects behind OpsContext. Internal to ops/: include it
// only from ops/*.cc (it pulls in the oneDNN C++ API, which must not leak upwards).
//
// Owns: the CPU engine, its stream, and the matmul primitive cache (MatmulKey ->
// primitive). Thread-safety: none, like OpsContext.
#pragma once

#include <cstdint>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>

#include "ops/matmul.h"
#include "ops/ops_context.h"

namespace mpimoe::ops {

// What identifies one matmul primitive: every MatmulDesc field except the dimensions
// that are runtime (those are zeroed before the key is built).
struct MatmulKey {
  MatmulDesc desc;
  bool operator==(const MatmulKey& other) const;
};

struct MatmulKeyHash {
  size_t operator()(const MatmulKey& key) const;
};

struct OpsContext::Impl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::unordered_map<MatmulKey, dnnl::matmul, MatmulKeyHash> matmul_cache;
  int64_t matmul_cache_hits = 0;
};

}  // namespace mpimoe::ops
