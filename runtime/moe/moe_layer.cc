#include "runtime/moe/moe_layer.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "ops/permute.h"
#include "parallel/collectives.h"

namespace mpimoe::moe {
namespace {

Status FieldError(const char* field, const std::string& why) {
  return InvalidArgumentError(std::string(field) + ": " + why);
}

}  // namespace

Status ValidateMoeLayerOptions(const MoeLayerOptions& o) {
  if (o.expert.d_model <= 0)
    return FieldError("d_model",
                      "must be positive, got " + std::to_string(o.expert.d_model));
  if (o.expert.d_ffn <= 0)
    return FieldError("d_ffn", "must be positive, got " + std::to_string(o.expert.d_ffn));
  if (o.routing.num_experts <= 0) {
    return FieldError("num_experts",
                      "must be positive, got " + std::to_string(o.routing.num_experts));
  }
  if (o.routing.top_k < 1 || o.routing.top_k > o.routing.num_experts) {
    return FieldError(
        "top_k", "must be in [1, num_experts=" + std::to_string(o.routing.num_experts) +
                     "], got " + std::to_string(o.routing.top_k));
  }
  if (!(o.capacity_factor >= 0.0) || !std::isfinite(o.capacity_factor)) {
    return FieldError("capacity_factor", "must be >= 0 (0 = dropless)");
  }
  if (!(o.routing.aux_loss_coef >= 0.0f) || !(o.routing.z_loss_coef >= 0.0f)) {
    return FieldError("aux_loss_coef/z_loss_coef", "must be >= 0");
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<MoeLayer>> MoeLayer::Create(const MoeLayerOptions& options,
                                                     ops::OpsContext* ctx,
                                                     parallel::Communicator* comm,
                                                     Dispatcher* dispatcher) {
  MPIMOE_RETURN_IF_ERROR(ValidateMoeLayerOptions(options));
  if (static_cast<int64_t>(dispatcher->expert_buckets().size()) !=
      options.routing.num_experts) {
    return InvalidArgumentError("num_experts: the dispatcher's plan places " +
                                std::to_string(dispatcher->expert_buckets().size()) +
                                " experts, the layer has " +
                                std::to_string(options.routing.num_experts));
  }
  return std::unique_ptr<MoeLayer>(new MoeLayer(options, ctx, comm, dispatcher));
}

namespace {
RouterOptions RouterOptionsOf(const MoeLayerOptions& o) {
  RouterOptions r;
  r.d_model = o.expert.d_model;
  r.routing = o.routing;
  r.seed = o.seed;
  r.name = o.name + ".router";
  return r;
}
std::vector<bool> SlotIsHome(const parallel::Plan& plan, int rank) {
  std::vector<bool> is_home(static_cast<size_t>(plan.num_slots(rank)));
  for (int32_t s = 0; s < plan.num_slots(rank); ++s)
    is_home[static_cast<size_t>(s)] = plan.IsHome(rank, s);
  return is_home;
}
}  // namespace

MoeLayer::MoeLayer(const MoeLayerOptions& options, ops::OpsContext* ctx,
                   parallel::Communicator* comm, Dispatcher* dispatcher)
    : options_(options),
      ctx_(ctx),
      comm_(comm),
      dispatcher_(dispatcher),
      router_(RouterOptionsOf(options), ctx, comm),
      experts_(options.expert, dispatcher->local_slot_experts(), options.seed, ctx,
               options.name + ".experts", SlotIsHome(dispatcher->plan(), comm->rank())),
      bucket_offsets_(static_cast<size_t>(dispatcher->num_buckets()) + 1, 0),
      choice_counts_(
          static_cast<size_t>(options.routing.top_k * options.routing.num_experts), 0),
      all_choice_counts_(static_cast<size_t>(comm->size() * options.routing.top_k *
                                             options.routing.num_experts),
                         0),
      expert_fill_(static_cast<size_t>(options.routing.num_experts), 0),
      local_counts_(static_cast<size_t>(options.routing.num_experts), 0),
      copy_cursor_(static_cast<size_t>(options.routing.num_experts), 0),
      copy_left_(static_cast<size_t>(options.routing.num_experts), 0) {
  stats_.global_counts.assign(
      static_cast<size_t>(comm->size() * options.routing.num_experts), 0);
  stats_.routes_per_expert.assign(static_cast<size_t>(options.routing.num_experts), 0);
  stats_.rows_per_expert.assign(static_cast<size_t>(options.routing.num_experts), 0);
}

std::vector<Parameter*> MoeLayer::Parameters() {
  std::vector<Parameter*> params{&router_.weight()};
  for (Parameter* p : experts_.Parameters()) params.push_back(p);
  return params;
}

float MoeLayer::AuxLossTerm() const {
  return options_.routing.aux_loss_coef * stats_.losses.aux +
         options_.routing.z_loss_coef * stats_.losses.z_loss;
}

Status MoeLayer::KeepRoutes() {
  const int64_t k = options_.routing.top_k;
  const int64_t num_experts = options_.routing.num_experts;
  const int64_t num_routes = num_tokens_ * k;
  const int32_t* expert_of_route = router_.topk_idx();
  int32_t* kept = bucket_of_route_.data<int32_t>();
  if (options_.capacity_factor <= 0.0) {
    std::copy_n(expert_of_route, num_routes, kept);
    return Status::Ok();
  }
  // Where this rank's routes stand in the global priority order (j, rank, t): per
  // (j, e), the routes of all ranks at earlier j plus those of lower ranks at this j.
  std::fill(choice_counts_.begin(), choice_counts_.end(), 0);
  for (int64_t t = 0; t < num_tokens_; ++t) {
    for (int64_t j = 0; j < k; ++j)
      ++choice_counts_[static_cast<size_t>(j * num_experts + expert_of_route[t * k + j])];
  }
  TraceSpan allgather(trace_, "allgather");
  MPIMOE_RETURN_IF_ERROR(parallel::Allgather(*comm_,
                                             std::span<const int64_t>(choice_counts_),
                                             std::span<int64_t>(all_choice_counts_))
                             .WithContext("capacity counts"));
  allgather.End();
  const int64_t global_routes = router_.global_num_tokens() * k;
  const int64_t capacity = static_cast<int64_t>(
      std::ceil(options_.capacity_factor * static_cast<double>(global_routes) /
                static_cast<double>(num_experts)));
  const int me = comm_->rank();
  const size_t per_rank = static_cast<size_t>(k * num_experts);
  std::fill(expert_fill_.begin(), expert_fill_.end(), 0);
  for (int64_t j = 0; j < k; ++j) {
    // Rows ahead of this rank's first choice-j route, per expert.
    for (int q = 0; q < me; ++q) {
      for (int64_t e = 0; e < num_experts; ++e) {
        expert_fill_[static_cast<size_t>(e)] +=
            all_choice_counts_[q * per_rank + static_cast<size_t>(j * num_experts + e)];
      }
    }
    for (int64_t t = 0; t < num_tokens_; ++t) {
      const int64_t r = t * k + j;
      const int32_t e = expert_of_route[r];
      int64_t& fill = expert_fill_[static_cast<size_t>(e)];
      kept[r] = fill < capacity ? e : -1;
      ++fill;
    }
    // Then the routes of higher ranks at this j, before any route of choice j + 1.
    for (int q = me + 1; q < comm_->size(); ++q) {
      for (int64_t e = 0; e < num_experts; ++e) {
        expert_fill_[static_cast<size_t>(e)] +=
            all_choice_counts_[q * per_rank + static_cast<size_t>(j * num_experts + e)];
      }
    }
  }
  return Status::Ok();
}

Status MoeLayer::AssignBuckets() {
  const int64_t num_experts = options_.routing.num_experts;
  const int64_t num_routes = num_tokens_ * options_.routing.top_k;
  MPIMOE_RETURN_IF_ERROR(KeepRoutes());
  // Kept routes per (source rank, expert), all-gathered: the quotas' input.
  int32_t* bucket = bucket_of_route_.data<int32_t>();
  std::fill(local_counts_.begin(), local_counts_.end(), 0);
  for (int64_t r = 0; r < num_routes; ++r) {
    if (bucket[r] >= 0) ++local_counts_[static_cast<size_t>(bucket[r])];
  }
  TraceSpan allgather(trace_, "allgather");
  MPIMOE_RETURN_IF_ERROR(parallel::Allgather(*comm_,
                                             std::span<const int64_t>(local_counts_),
                                             std::span<int64_t>(stats_.global_counts))
                             .WithContext("expert counts"));
  allgather.End();
  const std::vector<std::vector<int32_t>>& copies = dispatcher_->expert_copies();
  const bool replicated =
      std::any_of(copies.begin(), copies.end(),
                  [](const std::vector<int32_t>& c) { return c.size() > 1; });
  if (!replicated) {  // every route goes to its expert's only copy; no quotas needed
    for (int64_t r = 0; r < num_routes; ++r) {
      if (bucket[r] >= 0) bucket[r] = copies[static_cast<size_t>(bucket[r])][0];
    }
    return Status::Ok();
  }
  const parallel::Plan& plan = dispatcher_->plan();
  if (quota_function_) {
    quota_function_(plan, stats_.global_counts, &quotas_);
  } else {
    quotas_ = parallel::HomeOnlyQuotas(plan, stats_.global_counts);
  }
  // This rank's routes of expert e, in token order, fill copy 0's quota, then copy 1's.
  const int me = comm_->rank();
  for (int64_t e = 0; e < num_experts; ++e) {
    copy_cursor_[static_cast<size_t>(e)] = 0;
    copy_left_[static_cast<size_t>(e)] = quotas_.get(static_cast<int32_t>(e), 0, me);
  }
  for (int64_t r = 0; r < num_routes; ++r) {
    const int32_t e = bucket[r];
    if (e < 0) continue;
    const size_t eu = static_cast<size_t>(e);
    while (copy_left_[eu] == 0) {
      ++copy_cursor_[eu];
      MPIMOE_CHECK_MSG(copy_cursor_[eu] < static_cast<int32_t>(copies[eu].size()),
                       "quotas do not cover this rank's routes of an expert");
      copy_left_[eu] = quotas_.get(e, copy_cursor_[eu], me);
    }
    bucket[r] = copies[eu][static_cast<size_t>(copy_cursor_[eu])];
    --copy_left_[eu];
  }
  return Status::Ok();
}

Status MoeLayer::ApplyPlan(const parallel::Plan& plan, ExpertSync* sync) {
  MPIMOE_RETURN_IF_ERROR(plan.Validate());
  if (plan.world_size != comm_->size() ||
      plan.num_experts != options_.routing.num_experts) {
    return InvalidArgumentError(
        "ApplyPlan: the plan is for " + std::to_string(plan.num_experts) +
        " experts on " + std::to_string(plan.world_size) + " ranks, the layer has " +
        std::to_string(options_.routing.num_experts) + " on " +
        std::to_string(comm_->size()));
  }
  Experts next(options_.expert, plan.rank_slots[static_cast<size_t>(comm_->rank())],
               options_.seed, ctx_, options_.name + ".experts",
               SlotIsHome(plan, comm_->rank()));
  MPIMOE_RETURN_IF_ERROR(sync->Migrate(dispatcher_->plan(), experts_, plan, next));
  MPIMOE_RETURN_IF_ERROR(dispatcher_->SetPlan(plan));
  experts_ = std::move(next);
  return Status::Ok();
}

Status MoeLayer::Forward(const TensorView& x, const TensorView& y) {
  const int64_t d = options_.expert.d_model;
  const int64_t k = options_.routing.top_k;
  if (y.rank() != 2 || y.dim(1) != d || x.rank() != 2 || y.dim(0) != x.dim(0) ||
      y.dtype() != DType::kF32) {
    return InvalidArgumentError("MoeLayer::Forward: y must be [T, d] f32 like x, got x " +
                                x.ShapeString() + ", y " + y.ShapeString());
  }
  // 1. Route.
  TraceTimer phase(trace_, "router");
  MPIMOE_RETURN_IF_ERROR(router_.Forward(x));
  stats_.router_ms = phase.Next("dispatch");
  num_tokens_ = x.dim(0);
  const int64_t num_routes = num_tokens_ * k;

  // 2. Layout.
  bucket_of_route_.Resize(DType::kI32, {num_routes});
  row_route_.Resize(DType::kI32, {num_routes});
  route_row_.Resize(DType::kI32, {num_routes});
  MPIMOE_RETURN_IF_ERROR(AssignBuckets());
  // The plan (and so the number of buckets) may have changed since the last step.
  const int64_t num_buckets = dispatcher_->num_buckets();
  bucket_offsets_.resize(static_cast<size_t>(num_buckets) + 1);
  num_rows_ = ops::BuildBucketLayout(
      bucket_of_route_.data<int32_t>(), num_routes, num_buckets, bucket_offsets_.data(),
      row_route_.data<int32_t>(), route_row_.data<int32_t>());
  stats_.losses = router_.losses();
  stats_.routes_per_expert = router_.routes_per_expert();
  stats_.rows_per_expert = local_counts_;
  stats_.dropped_routes = num_routes - num_rows_;

  // 3. Dispatch.
  send_in_.Resize(DType::kF32, {num_rows_, d});
  ops::PermuteTokens(x.data<float>(), row_route_.data<int32_t>(), num_rows_, k, d,
                     send_in_.data<float>());
  {
    TraceSpan count_exchange(trace_, "alltoall");
    MPIMOE_RETURN_IF_ERROR(dispatcher_->Prepare(bucket_offsets_.data(), &handle_));
  }
  recv_in_.Resize(DType::kF32, {handle_.num_recv_rows, d});
  {
    TraceSpan exchange(trace_, "alltoallv", "rows", handle_.num_recv_rows);
    MPIMOE_RETURN_IF_ERROR(dispatcher_->ToExperts(handle_, send_in_.data<float>(),
                                                  recv_in_.data<float>(), d));
  }

  stats_.a2a_bytes_sent = 0;
  const int me = comm_->rank();
  for (const parallel::BlockTransfer& b : handle_.send_blocks) {
    if (b.peer != me) stats_.a2a_bytes_sent += b.count;
  }
  for (const parallel::BlockTransfer& b : handle_.recv_blocks) {
    if (b.peer != me) stats_.a2a_bytes_sent += b.count;
  }
  // Rows out and back, in the forward and again in the backward, in the wire format.
  const int64_t wire_bytes = dispatcher_->wire_dtype() == WireDType::kBF16 ? 2 : 4;
  stats_.a2a_bytes_sent *= 2 * d * wire_bytes;
  stats_.dispatch_ms = phase.Next("experts");

  // 4. Experts.
  recv_out_.Resize(DType::kF32, {handle_.num_recv_rows, d});
  MPIMOE_RETURN_IF_ERROR(experts_.Forward(
      recv_in_.data<float>(), handle_.recv_slot_offsets.data(), recv_out_.data<float>()));

  stats_.experts_ms = phase.Next("combine");
  stats_.rows_computed = handle_.num_recv_rows;

  // 5. Combine.
  send_out_.Resize(DType::kF32, {num_rows_, d});
  {
    TraceSpan exchange(trace_, "alltoallv", "rows", num_rows_);
    MPIMOE_RETURN_IF_ERROR(dispatcher_->FromExperts(handle_, recv_out_.data<float>(),
                                                    send_out_.data<float>(), d));
  }
  ops::CombineRoutes(send_out_.data<float>(), route_row_.data<int32_t>(), router_.gates(),
                     num_tokens_, k, d, y.data<float>());
  stats_.combine_ms = phase.Stop();
  return Status::Ok();
}

Status MoeLayer::Backward(const TensorView& dy, const TensorView& dx) {
  const int64_t d = options_.expert.d_model;
  const int64_t k = options_.routing.top_k;
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
  {
    TraceSpan exchange(trace_, "alltoallv", "rows", handle_.num_recv_rows);
    MPIMOE_RETURN_IF_ERROR(dispatcher_->ToExperts(handle_, dsend_out_.data<float>(),
                                                  drecv_out_.data<float>(), d));
  }
  drecv_in_.Resize(DType::kF32, {handle_.num_recv_rows, d});
  MPIMOE_RETURN_IF_ERROR(
      experts_.Backward(drecv_out_.data<float>(), drecv_in_.data<float>()));
  dsend_in_.Resize(DType::kF32, {num_rows_, d});
  {
    TraceSpan exchange(trace_, "alltoallv", "rows", num_rows_);
    MPIMOE_RETURN_IF_ERROR(dispatcher_->FromExperts(handle_, drecv_in_.data<float>(),
                                                    dsend_in_.data<float>(), d));
  }
  // 3'. Un-permute: each token sums the input gradients of its routes.
  ops::PermuteTokensBackward(dsend_in_.data<float>(), route_row_.data<int32_t>(),
                             num_tokens_, k, d, dx.data<float>(), /*accumulate=*/false);
  // 1'. Router: gate gradients plus auxiliary losses, accumulated into dx.
  return router_.Backward(dgates_.data<float>(), dx.data<float>());
}

}  // namespace mpimoe::moe
