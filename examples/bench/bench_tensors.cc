// bench_tensors.cc: see bench_tensors.h.
#include "examples/bench/bench_tensors.h"

#include <utility>

namespace mpimoe::bench {

Tensor FilledTensor(std::vector<int64_t> shape, float value) {
  Tensor t(DType::kF32, std::move(shape));
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = value;
  return t;
}

Tensor NormalTensor(std::vector<int64_t> shape, Rng& rng, float stddev) {
  Tensor t(DType::kF32, std::move(shape));
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = stddev * rng.Normal();
  return t;
}

}  // namespace mpimoe::bench
