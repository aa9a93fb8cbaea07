#include "ops/matmul.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <string>

#include "ops/dnnl_context.h"

namespace mpimoe::ops {
namespace {

using dnnl::memory;

memory::data_type ToDnnl(DType dtype) {
  return dtype == DType::kBF16 ? memory::data_type::bf16 : memory::data_type::f32;
}

dnnl::algorithm ToDnnl(MatmulActivation act) {
  switch (act) {
    case MatmulActivation::kRelu:
      return dnnl::algorithm::eltwise_relu;
    case MatmulActivation::kGeluTanh:
      return dnnl::algorithm::eltwise_gelu_tanh;
    case MatmulActivation::kGeluErf:
      return dnnl::algorithm::eltwise_gelu_erf;
    case MatmulActivation::kNone:
      break;
  }
  return dnnl::algorithm::undef;
}

// Memory descriptors of A, B, C for `desc`; a dimension flagged runtime (and the strides
// derived from it) is DNNL_RUNTIME_DIM_VAL when `for_primitive`, concrete otherwise.
// batch == 1 gives 2-D descriptors; batch > 1 gives 3-D ones with a fixed batch dim.
struct MatmulMds {
  memory::desc a, b, c, bias;
};

MatmulMds MakeMds(const MatmulDesc& desc, bool for_primitive) {
  const memory::dim rt = DNNL_RUNTIME_DIM_VAL;
  const memory::dim m = (for_primitive && desc.runtime_m) ? rt : desc.m;
  const memory::dim k = (for_primitive && desc.runtime_k) ? rt : desc.k;
  const memory::dim n = desc.n;
  // A product of dimensions, runtime if either factor is.
  auto mul = [rt](memory::dim x, memory::dim y) {
    return (x == rt || y == rt) ? rt : x * y;
  };
  const memory::data_type a_dt = ToDnnl(desc.a_dtype);
  const memory::data_type b_dt = ToDnnl(desc.b_dtype);
  MatmulMds mds;
  if (desc.batch == 1) {
    mds.a = memory::desc({m, k}, a_dt,
                         desc.transpose_a ? memory::dims{1, m} : memory::dims{k, 1});
    mds.b = memory::desc({k, n}, b_dt,
                         desc.transpose_b ? memory::dims{1, k} : memory::dims{n, 1});
    mds.c = memory::desc({m, n}, memory::data_type::f32, memory::dims{n, 1});
    if (desc.bias)
      mds.bias = memory::desc({1, n}, memory::data_type::f32, memory::dims{n, 1});
    return mds;
  }
  const memory::dim batch = desc.batch;
  mds.a = memory::desc(
      {batch, m, k}, a_dt,
      desc.transpose_a ? memory::dims{mul(m, k), 1, m} : memory::dims{mul(m, k), k, 1});
  mds.b = memory::desc(
      {batch, k, n}, b_dt,
      desc.transpose_b ? memory::dims{mul(k, n), 1, k} : memory::dims{mul(k, n), n, 1});
  mds.c =
      memory::desc({batch, m, n}, memory::data_type::f32, memory::dims{mul(m, n), n, 1});
  if (desc.bias)
    mds.bias = memory::desc({1, 1, n}, memory::data_type::f32, memory::dims{n, n, 1});
  return mds;
}

dnnl::matmul BuildPrimitive(OpsContext::Impl& impl, const MatmulDesc& desc) {
  MatmulMds mds = MakeMds(desc, /*for_primitive=*/true);
  dnnl::post_ops post_ops;
  if (desc.activation != MatmulActivation::kNone) {
    post_ops.append_eltwise(1.0f, ToDnnl(desc.activation), 0.0f, 0.0f);
  }
  if (desc.accumulate) post_ops.append_sum(1.0f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(post_ops);
  dnnl::matmul::desc op_desc = desc.bias
                                   ? dnnl::matmul::desc(mds.a, mds.b, mds.bias, mds.c)
                                   : dnnl::matmul::desc(mds.a, mds.b, mds.c);
  dnnl::matmul::primitive_desc pd(op_desc, attr, impl.engine);
  return dnnl::matmul(pd);
}

std::string DescString(const MatmulDesc& d) {
  return "matmul batch=" + std::to_string(d.batch) + " m=" + std::to_string(d.m) +
         " k=" + std::to_string(d.k) + " n=" + std::to_string(d.n) +
         " ta=" + std::to_string(d.transpose_a) + " tb=" + std::to_string(d.transpose_b) +
         " a=" + std::string(DTypeName(d.a_dtype)) +
         " b=" + std::string(DTypeName(d.b_dtype));
}

float ApplyActivation(MatmulActivation act, float x) {
  switch (act) {
    case MatmulActivation::kRelu:
      return x > 0.0f ? x : 0.0f;
    case MatmulActivation::kGeluTanh:
      return 0.5f * x *
             (1.0f + std::tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case MatmulActivation::kGeluErf:
      return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f));
    case MatmulActivation::kNone:
      break;
  }
  return x;
}

// k == 0: the product is empty, C (+)= act(bias or 0). oneDNN rejects zero-size
// reductions, and experts that received no rows produce exactly this case.
void EmptyReduction(const MatmulDesc& desc, const float* bias, float* c) {
  for (int64_t i = 0; i < desc.batch * desc.m; ++i) {
    for (int64_t j = 0; j < desc.n; ++j) {
      const float value = ApplyActivation(desc.activation, desc.bias ? bias[j] : 0.0f);
      float& out = c[i * desc.n + j];
      out = desc.accumulate ? out + value : value;
    }
  }
}

}  // namespace

bool MatmulKey::operator==(const MatmulKey& o) const {
  const MatmulDesc& a = desc;
  const MatmulDesc& b = o.desc;
  return a.m == b.m && a.k == b.k && a.n == b.n && a.batch == b.batch &&
         a.transpose_a == b.transpose_a && a.transpose_b == b.transpose_b &&
         a.runtime_m == b.runtime_m && a.runtime_k == b.runtime_k &&
         a.a_dtype == b.a_dtype && a.b_dtype == b.b_dtype && a.bias == b.bias &&
         a.activation == b.activation && a.accumulate == b.accumulate;
}

size_t MatmulKeyHash::operator()(const MatmulKey& key) const {
  const MatmulDesc& d = key.desc;
  size_t h = std::hash<int64_t>()(d.m);
  auto mix = [&h](uint64_t v) { h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2); };
  mix(static_cast<uint64_t>(d.k));
  mix(static_cast<uint64_t>(d.n));
  mix(static_cast<uint64_t>(d.batch));
  mix((uint64_t{d.transpose_a} << 0) | (uint64_t{d.transpose_b} << 1) |
      (uint64_t{d.runtime_m} << 2) | (uint64_t{d.runtime_k} << 3) |
      (uint64_t{d.bias} << 4) | (uint64_t{d.accumulate} << 5) |
      (static_cast<uint64_t>(d.a_dtype) << 8) | (static_cast<uint64_t>(d.b_dtype) << 12) |
      (static_cast<uint64_t>(d.activation) << 16));
  return h;
}

Status Matmul(OpsContext& ctx, const MatmulDesc& desc, const void* a, const void* b,
              const float* bias, float* c) {
  if (desc.m < 0 || desc.k < 0 || desc.n < 0 || desc.batch < 0) {
    return InvalidArgumentError("negative dimension in " + DescString(desc));
  }
  if ((desc.a_dtype != DType::kF32 && desc.a_dtype != DType::kBF16) ||
      (desc.b_dtype != DType::kF32 && desc.b_dtype != DType::kBF16)) {
    return InvalidArgumentError("matmul inputs must be f32 or bf16: " + DescString(desc));
  }
  if (desc.bias != (bias != nullptr)) {
    return InvalidArgumentError("bias pointer does not match desc.bias: " +
                                DescString(desc));
  }
  if (desc.batch == 0 || desc.m == 0 || desc.n == 0) return Status::Ok();
  if (desc.k == 0) {
    EmptyReduction(desc, bias, c);
    return Status::Ok();
  }

  OpsContext::Impl& impl = ctx.impl();
  MatmulKey key{desc};
  if (desc.runtime_m) key.desc.m = 0;
  if (desc.runtime_k) key.desc.k = 0;
  try {
    auto it = impl.matmul_cache.find(key);
    if (it == impl.matmul_cache.end()) {
      it = impl.matmul_cache.emplace(key, BuildPrimitive(impl, desc)).first;
    } else {
      ++impl.matmul_cache_hits;
    }
    MatmulMds mds = MakeMds(desc, /*for_primitive=*/false);
    memory a_mem(mds.a, impl.engine, const_cast<void*>(a));
    memory b_mem(mds.b, impl.engine, const_cast<void*>(b));
    memory c_mem(mds.c, impl.engine, c);
    if (desc.bias) {
      memory bias_mem(mds.bias, impl.engine, const_cast<float*>(bias));
      it->second.execute(impl.stream, {{DNNL_ARG_SRC, a_mem},
                                       {DNNL_ARG_WEIGHTS, b_mem},
                                       {DNNL_ARG_BIAS, bias_mem},
                                       {DNNL_ARG_DST, c_mem}});
    } else {
      it->second.execute(
          impl.stream,
          {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
    }
    impl.stream.wait();
  } catch (const dnnl::error& e) {
    if (e.status == dnnl_unimplemented) {
      return UnimplementedError("oneDNN has no implementation for " + DescString(desc));
    }
    return InternalError("oneDNN failed on " + DescString(desc) + ": " + e.what());
  }
  return Status::Ok();
}

}  // namespace mpimoe::ops
