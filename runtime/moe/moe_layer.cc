#include "runtime/moe/moe_layer.h"

#include <cmath>
#include <string>

#include "ops/permute.h"

namespace mpimoe::moe {
namespace {

Status FieldError(const char* field, const std::string& why) {
  return InvalidArgumentError(std::string(field) + ": " + why);
}

}  // namespace

Status ValidateMoeLayerOptions(const MoeLayerOptions& o) {
  if (o.d_model <= 0)
    return FieldError("d_model", "must be positive, got " + std::to_string(o.d_model));
  if (o.d_ffn <= 0)
    return FieldError("d_ffn", "must be positive, got " + std::to_string(o.d_ffn));
  if (o.num_experts <= 0) {
    return FieldError("num_experts",
                      "must be positive, got " + std::to_string(o.num_experts));
  }
  if (o.top_k < 1 || o.top_k > o.num_experts) {
    return FieldError("top_k",
                      "must be in [1, num_experts=" + std::to_string(o.num_experts) +
                          "], got " + std::to_string(o.top_k));
  }
  if (!(o.capacity_factor >= 0.0) || !std::isfinite(o.capacity_factor)) {
    return FieldError("capacity_factor", "must be >= 0 (0 = dropless)");
  }
  if (!(o.aux_loss_coef >= 0.0f) || !(o.z_loss_coef >= 0.0f)) {
    return FieldError("aux_loss_coef/z_loss_coef", "must be >= 0");
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<MoeLayer>> MoeLayer::Create(const MoeLayerOptions& options,
                                                     ops::OpsContext* ctx,
                                                     Dispatcher* dispatcher) {
  MPIMOE_RETURN_IF_ERROR(ValidateMoeLayerOptions(options));
  if (dispatcher->num_buckets() != options.num_experts) {
    return InvalidArgumentError(
        "dispatcher has " + std::to_string(dispatcher->num_buckets()) + " buckets for " +
        std::to_string(options.num_experts) + " experts");
  }
  return std::unique_ptr<MoeLayer>(new MoeLayer(options, ctx, dispatcher));
}

namespace {
RouterOptions RouterOptionsOf(const MoeLayerOptions& o) {
  RouterOptions r;
  r.d_model = o.d_model;
  r.num_experts = o.num_experts;
  r.top_k = o.top_k;
  r.normalize_gates = o.normalize_gates;
  r.aux_loss_coef = o.aux_loss_coef;
  r.z_loss_coef = o.z_loss_coef;
  r.seed = o.seed;
  return r;
}
FfnDims FfnDimsOf(const MoeLayerOptions& o) {
  return FfnDims{o.d_model, o.d_ffn, o.activation};
}
}  // namespace

MoeLayer::MoeLayer(const MoeLayerOptions& options, ops::OpsContext* ctx,
                   Dispatcher* dispatcher)
    : options_(options),
      ctx_(ctx),
      dispatcher_(dispatcher),
      router_(RouterOptionsOf(options), ctx),
      experts_(FfnDimsOf(options), dispatcher->local_slot_experts(), options.seed, ctx),
      bucket_offsets_(static_cast<size_t>(dispatcher->num_buckets()) + 1, 0),
      bucket_fill_(static_cast<size_t>(dispatcher->num_buckets()), 0) {
  stats_.routes_per_expert.assign(static_cast<size_t>(options.num_experts), 0);
  stats_.rows_per_expert.assign(static_cast<size_t>(options.num_experts), 0);
}

std::vector<Parameter*> MoeLayer::Parameters() {
  std::vector<Parameter*> params{&router_.weight()};
  for (Parameter* p : experts_.Parameters()) params.push_back(p);
  return params;
}

float MoeLayer::AuxLossTerm() const {
  return options_.aux_loss_coef * stats_.losses.aux +
         options_.z_loss_coef * stats_.losses.z_loss;
}

void MoeLayer::AssignBuckets() {
  const int64_t k = options_.top_k;
  const int64_t num_routes = num_tokens_ * k;
  const int32_t* expert_of_route = router_.topk_idx();
  int32_t* bucket = bucket_of_route_.data<int32_t>();
  if (options_.capacity_factor <= 0.0) {
    for (int64_t r = 0; r < num_routes; ++r) bucket[r] = expert_of_route[r];
    return;
  }
  const int64_t capacity = static_cast<int64_t>(
      std::ceil(options_.capacity_factor * static_cast<double>(num_routes) /
                static_cast<double>(options_.num_experts)));
  std::fill(bucket_fill_.begin(), bucket_fill_.end(), 0);
  for (int64_t j = 0; j < k; ++j) {  // priority: choice rank j first, then token order
    for (int64_t t = 0; t < num_tokens_; ++t) {
      const int64_t r = t * k + j;
      const int32_t e = expert_of_route[r];
      int64_t& fill = bucket_fill_[static_cast<size_t>(e)];
      bucket[r] = fill < capacity ? e : -1;
      if (fill < capacity) ++fill;
    }
  }
}

Status MoeLayer::Forward(const TensorView& x, const TensorView& y) {
  const int64_t d = options_.d_model;
  const int64_t k = options_.top_k;
  if (y.rank() != 2 || y.dim(1) != d || x.rank() != 2 || y.dim(0) != x.dim(0) ||
      y.dtype() != DType::kF32) {
    return InvalidArgumentError("MoeLayer::Forward: y must be [T, d] f32 like x, got x " +
                                x.ShapeString() + ", y " + y.ShapeString());
  }
  // 1. Route.
  MPIMOE_RETURN_IF_ERROR(router_.Forward(x));
  num_tokens_ = x.dim(0);
  const int64_t num_routes = num_tokens_ * k;

  // 2. Layout.
  bucket_of_route_.Resize(DType::kI32, {num_routes});
  row_route_.Resize(DType::kI32, {num_routes});
  route_row_.Resize(DType::kI32, {num_routes});
  AssignBuckets();
  const int64_t num_buckets = dispatcher_->num_buckets();
  num_rows_ = ops::BuildBucketLayout(
      bucket_of_route_.data<int32_t>(), num_routes, num_buckets, bucket_offsets_.data(),
      row_route_.data<int32_t>(), route_row_.data<int32_t>());
  stats_.losses = router_.losses();
  stats_.routes_per_expert = router_.routes_per_expert();
  for (int64_t b = 0; b < num_buckets; ++b) {
    stats_.rows_per_expert[static_cast<size_t>(b)] =
        bucket_offsets_[static_cast<size_t>(b) + 1] -
        bucket_offsets_[static_cast<size_t>(b)];
  }
  stats_.dropped_routes = num_routes - num_rows_;

  // 3. Dispatch.
  send_in_.Resize(DType::kF32, {num_rows_, d});
  ops::PermuteTokens(x.data<float>(), row_route_.data<int32_t>(), num_rows_, k, d,
                     send_in_.data<float>());
  MPIMOE_RETURN_IF_ERROR(dispatcher_->Prepare(bucket_offsets_.data(), &handle_));
  recv_in_.Resize(DType::kF32, {handle_.num_recv_rows, d});
  MPIMOE_RETURN_IF_ERROR(
      dispatcher_->ToExperts(handle_, send_in_.data<float>(), recv_in_.data<float>(), d));

  // 4. Experts.
  recv_out_.Resize(DType::kF32, {handle_.num_recv_rows, d});
  MPIMOE_RETURN_IF_ERROR(experts_.Forward(
      recv_in_.data<float>(), handle_.recv_slot_offsets.data(), recv_out_.data<float>()));

  // 5. Combine.
  send_out_.Resize(DType::kF32, {num_rows_, d});
  MPIMOE_RETURN_IF_ERROR(dispatcher_->FromExperts(handle_, recv_out_.data<float>(),
                                                  send_out_.data<float>(), d));
  ops::CombineRoutes(send_out_.data<float>(), route_row_.data<int32_t>(), router_.gates(),
                     num_tokens_, k, d, y.data<float>());
  return Status::Ok();
}

Status MoeLayer::Backward(const TensorView& dy, const TensorView& dx) {
  const int64_t d = options_.d_model;
  const int64_t k = options_.top_k;
  if (dy.rank() != 2 || dy.dim(0) != num_tokens_ || dy.dim(1) != d || dx.rank() != 2 ||
      dx.dim(0) != num_tokens_ || dx.dim(1) != d) {
    return InvalidArgumentError("MoeLayer::Backward: dy and dx must be [" +
                                std::to_string(num_tokens_) + ", " + std::to_string(d) +
                                "] f32, got " + dy.ShapeString() + " and " +
                                dx.ShapeString());
  }
  // 5'. Combine backward: gradients of the expert outputs and of the gates.
  dsend_out_.Resize(DType::kF32, {num_rows_, d});
  dgates_.Resize(DType::kF32, {num_tokens_, k});
  ops::CombineRoutesBackward(dy.data<float>(), send_out_.data<float>(),
                             route_row_.data<int32_t>(), router_.gates(), num_tokens_, k,
                             d, dsend_out_.data<float>(), dgates_.data<float>());
  // 4'. Output gradients travel to the experts, input gradients come back.
  drecv_out_.Resize(DType::kF32, {handle_.num_recv_rows, d});
  MPIMOE_RETURN_IF_ERROR(dispatcher_->ToExperts(handle_, dsend_out_.data<float>(),
                                                drecv_out_.data<float>(), d));
  drecv_in_.Resize(DType::kF32, {handle_.num_recv_rows, d});
  MPIMOE_RETURN_IF_ERROR(
      experts_.Backward(drecv_out_.data<float>(), drecv_in_.data<float>()));
  dsend_in_.Resize(DType::kF32, {num_rows_, d});
  MPIMOE_RETURN_IF_ERROR(dispatcher_->FromExperts(handle_, drecv_in_.data<float>(),
                                                  dsend_in_.data<float>(), d));
  // 3'. Un-permute: each token sums the input gradients of its routes.
  ops::PermuteTokensBackward(dsend_in_.data<float>(), route_row_.data<int32_t>(),
                             num_tokens_, k, d, dx.data<float>(), /*accumulate=*/false);
  // 1'. Router: gate gradients plus auxiliary losses, accumulated into dx.
  return router_.Backward(dgates_.data<float>(), dx.data<float>());
}

}  // namespace mpimoe::moe
