#include "runtime/moe/router.h"

#include <cmath>

#include "ops/matmul.h"
#include "ops/softmax.h"
#include "ops/topk.h"
#include "parallel/collectives.h"

namespace mpimoe::moe {

Router::Router(const RouterOptions& options, ops::OpsContext* ctx,
               parallel::Communicator* comm)
    : options_(options),
      ctx_(ctx),
      comm_(comm),
      weight_(options.name + ".weight", {options.d_model, options.routing.num_experts}),
      routes_per_expert_(static_cast<size_t>(options.routing.num_experts), 0),
      global_routes_(static_cast<size_t>(options.routing.num_experts), 0),
      stats_(static_cast<size_t>(2 * options.routing.num_experts + 2), 0.0),
      aux_grad_(static_cast<size_t>(options.routing.num_experts), 0.0f) {
  MPIMOE_CHECK(options.d_model > 0 && options.routing.num_experts > 0);
  MPIMOE_CHECK(options.routing.top_k >= 1 &&
               options.routing.top_k <= options.routing.num_experts);
  weight_.InitNormal(MixSeed(options.seed, {0x726f75746572ull}),
                     1.0f / std::sqrt(static_cast<float>(options.d_model)));
}

Status Router::Forward(const TensorView& x) {
  const int64_t d = options_.d_model;
  const int64_t num_experts = options_.routing.num_experts;
  const int64_t k = options_.routing.top_k;
  if (x.rank() != 2 || x.dim(1) != d || x.dtype() != DType::kF32) {
    return InvalidArgumentError("router input must be [T, " + std::to_string(d) +
                                "] f32, got " + x.ShapeString());
  }
  const int64_t num_tokens = x.dim(0);
  x_ = x;
  num_tokens_ = num_tokens;
  logits_.Resize(DType::kF32, {num_tokens, num_experts});
  probs_.Resize(DType::kF32, {num_tokens, num_experts});
  lse_.Resize(DType::kF32, {num_tokens});
  topk_idx_.Resize(DType::kI32, {num_tokens, k});
  topk_prob_.Resize(DType::kF32, {num_tokens, k});
  gates_.Resize(DType::kF32, {num_tokens, k});

  MPIMOE_RETURN_IF_ERROR(ops::MatmulF32(*ctx_, num_tokens, d, num_experts, false, false,
                                        x.data<float>(), weight_.value.data<float>(),
                                        logits_.data<float>()));
  if (!logit_bias_.empty()) {
    MPIMOE_CHECK(static_cast<int64_t>(logit_bias_.size()) == num_experts);
    float* logits = logits_.data<float>();
    for (int64_t t = 0; t < num_tokens; ++t) {
      for (int64_t e = 0; e < num_experts; ++e)
        logits[t * num_experts + e] += logit_bias_[static_cast<size_t>(e)];
    }
  }
  ops::LogSumExpRows(logits_.data<float>(), lse_.data<float>(), num_tokens, num_experts);
  ops::SoftmaxForward(logits_.data<float>(), probs_.data<float>(), num_tokens,
                      num_experts);
  ops::TopK(probs_.data<float>(), num_tokens, num_experts, k, topk_idx_.data<int32_t>(),
            topk_prob_.data<float>());

  const float* topk_prob = topk_prob_.data<float>();
  float* gates = gates_.data<float>();
  const bool normalize = options_.routing.normalize_gates && k > 1;
  for (int64_t t = 0; t < num_tokens; ++t) {
    float sum = 0.0f;
    for (int64_t j = 0; j < k; ++j) sum += topk_prob[t * k + j];
    const float scale = normalize ? 1.0f / sum : 1.0f;
    for (int64_t j = 0; j < k; ++j) gates[t * k + j] = topk_prob[t * k + j] * scale;
  }

  // Auxiliary losses over the group: local sums in a fixed order, then one Allreduce
  // of [routes per expert (E), probability sums per expert (E), sum lse^2, tokens].
  std::fill(routes_per_expert_.begin(), routes_per_expert_.end(), 0);
  const int32_t* idx = topk_idx_.data<int32_t>();
  for (int64_t r = 0; r < num_tokens * k; ++r)
    ++routes_per_expert_[static_cast<size_t>(idx[r])];
  const float* probs = probs_.data<float>();
  const float* lse = lse_.data<float>();
  for (int64_t e = 0; e < num_experts; ++e) {
    double prob_sum = 0.0;
    for (int64_t t = 0; t < num_tokens; ++t) prob_sum += probs[t * num_experts + e];
    stats_[static_cast<size_t>(e)] =
        static_cast<double>(routes_per_expert_[static_cast<size_t>(e)]);
    stats_[static_cast<size_t>(num_experts + e)] = prob_sum;
  }
  double z = 0.0;
  for (int64_t t = 0; t < num_tokens; ++t) z += static_cast<double>(lse[t]) * lse[t];
  stats_[static_cast<size_t>(2 * num_experts)] = z;
  stats_[static_cast<size_t>(2 * num_experts + 1)] = static_cast<double>(num_tokens);
  TraceSpan allreduce(trace_, "allreduce");
  MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(*comm_, std::span<double>(stats_))
                             .WithContext("router statistics"));
  allreduce.End();
  global_tokens_ = static_cast<int64_t>(stats_[static_cast<size_t>(2 * num_experts + 1)]);
  double aux = 0.0;
  for (int64_t e = 0; e < num_experts; ++e) {
    global_routes_[static_cast<size_t>(e)] =
        static_cast<int64_t>(stats_[static_cast<size_t>(e)]);
    if (global_tokens_ > 0) {
      const double f =
          stats_[static_cast<size_t>(e)] / static_cast<double>(global_tokens_ * k);
      aux += f * stats_[static_cast<size_t>(num_experts + e)] /
             static_cast<double>(global_tokens_);
    }
  }
  losses_.aux = static_cast<float>(aux * static_cast<double>(num_experts));
  losses_.z_loss = global_tokens_ > 0
                       ? static_cast<float>(stats_[static_cast<size_t>(2 * num_experts)] /
                                            static_cast<double>(global_tokens_))
                       : 0.0f;
  return Status::Ok();
}

Status Router::Backward(const float* dgates, float* dx) {
  const int64_t num_tokens = num_tokens_;
  const int64_t num_experts = options_.routing.num_experts;
  const int64_t k = options_.routing.top_k;
  const int64_t d = options_.d_model;
  dprobs_.Resize(DType::kF32, {num_tokens, num_experts});
  dlogits_.Resize(DType::kF32, {num_tokens, num_experts});
  float* dprobs = dprobs_.data<float>();
  const float* gates = gates_.data<float>();
  const float* topk_prob = topk_prob_.data<float>();
  const int32_t* idx = topk_idx_.data<int32_t>();
  const bool normalize = options_.routing.normalize_gates && k > 1;

  // Gates -> selected probabilities. With renormalisation g_j = p_j / S, S = sum p:
  //   dp_j = (dg_j - sum_i dg_i g_i) / S.
  // Aux loss: d(coef * E * sum_e f_e * mean_t p[t, e]) / dp[t, e] = coef * E * f_e / T,
  // with f_e and T over the group.
  const int64_t global_tokens = global_tokens_;
  const float aux_scale = global_tokens > 0
                              ? options_.routing.aux_loss_coef *
                                    static_cast<float>(num_experts) /
                                    static_cast<float>(global_tokens * global_tokens * k)
                              : 0.0f;
  for (int64_t e = 0; e < num_experts; ++e) {
    aux_grad_[static_cast<size_t>(e)] =
        aux_scale * static_cast<float>(global_routes_[static_cast<size_t>(e)]);
  }
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < num_tokens; ++t) {
    float* dp = dprobs + t * num_experts;
    for (int64_t e = 0; e < num_experts; ++e) dp[e] = aux_grad_[static_cast<size_t>(e)];
    const float* dg = dgates + t * k;
    if (normalize) {
      float sum = 0.0f;
      float dot = 0.0f;
      for (int64_t j = 0; j < k; ++j) {
        sum += topk_prob[t * k + j];
        dot += dg[j] * gates[t * k + j];
      }
      for (int64_t j = 0; j < k; ++j) dp[idx[t * k + j]] += (dg[j] - dot) / sum;
    } else {
      for (int64_t j = 0; j < k; ++j) dp[idx[t * k + j]] += dg[j];
    }
  }
  ops::SoftmaxBackward(probs_.data<float>(), dprobs, dlogits_.data<float>(), num_tokens,
                       num_experts);
  // z-loss: d(coef * mean_t lse_t^2) / dlogits[t, :] = coef * 2 lse_t p_t / T_global.
  if (options_.routing.z_loss_coef != 0.0f && num_tokens > 0) {
    const float z_scale =
        options_.routing.z_loss_coef * 2.0f / static_cast<float>(global_tokens);
    const float* probs = probs_.data<float>();
    const float* lse = lse_.data<float>();
    float* dlogits = dlogits_.data<float>();
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < num_tokens; ++t) {
      for (int64_t e = 0; e < num_experts; ++e) {
        dlogits[t * num_experts + e] += z_scale * lse[t] * probs[t * num_experts + e];
      }
    }
  }
  // dWr += x^T dlogits: [d, T] x [T, E]; dx += dlogits Wr^T: [T, E] x [E, d].
  MPIMOE_RETURN_IF_ERROR(
      ops::AccumulateWeightGradF32(*ctx_, num_tokens, d, num_experts, x_.data<float>(),
                                   dlogits_.data<float>(), weight_.grad.data<float>()));
  return ops::MatmulF32(*ctx_, num_tokens, num_experts, d, false, true,
                        dlogits_.data<float>(), weight_.value.data<float>(), dx,
                        /*accumulate=*/true);
}

}  // namespace mpimoe::moe
