#include "runtime/moe/expert_sync.h"

#include <algorithm>
#include <cstring>

namespace mpimoe::moe {
namespace {

// Local slot of each expert on `rank` under `plan`, -1 if none, into `slot`
// ([num_experts]; its capacity is reused).
void SlotOfExpert(const parallel::Plan& plan, int rank, std::vector<int32_t>* slot) {
  slot->assign(static_cast<size_t>(plan.num_experts), -1);
  for (int32_t s = 0; s < plan.num_slots(rank); ++s) {
    (*slot)[static_cast<size_t>(
        plan.rank_slots[static_cast<size_t>(rank)][static_cast<size_t>(s)])] = s;
  }
}

std::vector<int32_t> SlotOfExpert(const parallel::Plan& plan, int rank) {
  std::vector<int32_t> slot;
  SlotOfExpert(plan, rank, &slot);
  return slot;
}

// Ranks holding a replica of each expert, ascending, into `ranks` ([num_experts][...];
// inner capacities are reused).
void ReplicaRanks(const parallel::Plan& plan, std::vector<std::vector<int32_t>>* ranks) {
  ranks->resize(static_cast<size_t>(plan.num_experts));
  for (std::vector<int32_t>& r : *ranks) r.clear();
  for (int32_t r = 0; r < plan.world_size; ++r) {
    for (int32_t s = 0; s < plan.num_slots(r); ++s) {
      if (!plan.IsHome(r, s)) {
        (*ranks)[static_cast<size_t>(
                     plan.rank_slots[static_cast<size_t>(r)][static_cast<size_t>(s)])]
            .push_back(r);
      }
    }
  }
}

// Calls f(Parameter&) for slot s's weights in SlotParameters order (w1, w3, w2),
// without building a vector.
template <typename F>
void ForEachSlotParameter(Experts& experts, int64_t slot, F&& f) {
  f(experts.w1(slot));
  if (Parameter* w3 = experts.w3(slot)) f(*w3);
  f(experts.w2(slot));
}

bool HasReplicas(const parallel::Plan& plan) {
  for (int32_t r = 0; r < plan.world_size; ++r) {
    for (int32_t s = 0; s < plan.num_slots(r); ++s) {
      if (!plan.IsHome(r, s)) return true;
    }
  }
  return false;
}

enum class Field { kValue, kGrad };

void Pack(Experts& experts, int64_t slot, Field field, float* out) {
  ForEachSlotParameter(experts, slot, [&](Parameter& p) {
    const Tensor& t = field == Field::kValue ? p.value : p.grad;
    std::memcpy(out, t.data<float>(), static_cast<size_t>(t.size_bytes()));
    out += t.numel();
  });
}

}  // namespace

Status ExpertSync::Exchange() {
  last_bytes_sent_ = 0;
  for (const parallel::BlockTransfer& b : sends_) {
    if (b.peer != comm_->rank())
      last_bytes_sent_ += b.count * static_cast<int64_t>(sizeof(float));
  }
  return comm_->ExchangeBlocks(
      send_buffer_.data<float>(), sends_.data(), static_cast<int64_t>(sends_.size()),
      recv_buffer_.data<float>(), recvs_.data(), static_cast<int64_t>(recvs_.size()),
      parallel::CollDType::kFloat32);
}

Status ExpertSync::ReduceReplicaGradients(const parallel::Plan& plan, Experts& experts) {
  last_bytes_sent_ = 0;
  if (!HasReplicas(plan)) return Status::Ok();  // the same answer on every rank
  const int me = comm_->rank();
  const int64_t numel = experts.expert_numel();
  SlotOfExpert(plan, me, &my_slot_);
  ReplicaRanks(plan, &replica_ranks_);
  const std::vector<int32_t>& my_slot = my_slot_;
  const std::vector<std::vector<int32_t>>& replica_ranks = replica_ranks_;
  sends_.clear();
  recvs_.clear();
  int64_t send_floats = 0, recv_floats = 0;
  for (int32_t e = 0; e < plan.num_experts; ++e) {
    const int32_t slot = my_slot[static_cast<size_t>(e)];
    const int32_t home = plan.homes[static_cast<size_t>(e)].rank;
    if (slot >= 0 && home != me) {  // my replica of e: its gradients go home
      sends_.push_back({home, send_floats, numel});
      send_floats += numel;
    }
    if (home == me) {
      for (int32_t r : replica_ranks[static_cast<size_t>(e)]) {
        recvs_.push_back({r, recv_floats, numel});
        recv_floats += numel;
      }
    }
  }
  send_buffer_.Resize(DType::kF32, {send_floats});
  recv_buffer_.Resize(DType::kF32, {recv_floats});
  int64_t at = 0;
  for (int32_t e = 0; e < plan.num_experts; ++e) {
    const int32_t slot = my_slot[static_cast<size_t>(e)];
    if (slot >= 0 && plan.homes[static_cast<size_t>(e)].rank != me) {
      Pack(experts, slot, Field::kGrad, send_buffer_.data<float>() + at);
      at += numel;
    }
  }
  MPIMOE_RETURN_IF_ERROR(Exchange().WithContext("replica gradients"));
  // Homes add their replicas' partial gradients, replicas in rank order.
  const float* in = recv_buffer_.data<float>();
  for (int32_t e = 0; e < plan.num_experts; ++e) {
    if (plan.homes[static_cast<size_t>(e)].rank != me) continue;
    for (size_t c = 0; c < replica_ranks[static_cast<size_t>(e)].size(); ++c) {
      ForEachSlotParameter(experts, my_slot[static_cast<size_t>(e)], [&](Parameter& p) {
        float* g = p.grad.data<float>();
        const int64_t n = p.grad.numel();
#pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < n; ++i) g[i] += in[i];
        in += n;
      });
    }
  }
  return Status::Ok();
}

Status ExpertSync::RefreshReplicas(const parallel::Plan& plan, Experts& experts) {
  last_bytes_sent_ = 0;
  if (!HasReplicas(plan)) return Status::Ok();  // the same answer on every rank
  const int me = comm_->rank();
  const int64_t numel = experts.expert_numel();
  SlotOfExpert(plan, me, &my_slot_);
  ReplicaRanks(plan, &replica_ranks_);
  const std::vector<int32_t>& my_slot = my_slot_;
  const std::vector<std::vector<int32_t>>& replica_ranks = replica_ranks_;
  sends_.clear();
  recvs_.clear();
  int64_t send_floats = 0, recv_floats = 0;
  for (int32_t e = 0; e < plan.num_experts; ++e) {
    const int32_t home = plan.homes[static_cast<size_t>(e)].rank;
    if (home == me) {
      for (int32_t r : replica_ranks[static_cast<size_t>(e)]) {
        sends_.push_back({r, send_floats, numel});
        send_floats += numel;
      }
    } else if (my_slot[static_cast<size_t>(e)] >= 0) {
      recvs_.push_back({home, recv_floats, numel});
      recv_floats += numel;
    }
  }
  send_buffer_.Resize(DType::kF32, {send_floats});
  recv_buffer_.Resize(DType::kF32, {recv_floats});
  int64_t at = 0;
  for (int32_t e = 0; e < plan.num_experts; ++e) {
    if (plan.homes[static_cast<size_t>(e)].rank != me) continue;
    for (size_t c = 0; c < replica_ranks[static_cast<size_t>(e)].size(); ++c) {
      Pack(experts, my_slot[static_cast<size_t>(e)], Field::kValue,
           send_buffer_.data<float>() + at);
      at += numel;
    }
  }
  MPIMOE_RETURN_IF_ERROR(Exchange().WithContext("replica refresh"));
  const float* in = recv_buffer_.data<float>();
  for (int32_t e = 0; e < plan.num_experts; ++e) {
    const int32_t slot = my_slot[static_cast<size_t>(e)];
    if (slot < 0 || plan.homes[static_cast<size_t>(e)].rank == me) continue;
    ForEachSlotParameter(experts, slot, [&](Parameter& p) {
      std::memcpy(p.value.data<float>(), in, static_cast<size_t>(p.value.size_bytes()));
      in += p.value.numel();
    });
  }
  return Status::Ok();
}

Status ExpertSync::Migrate(const parallel::Plan& from, Experts& current,
                           const parallel::Plan& to, Experts& next) {
  const int me = comm_->rank();
  MPIMOE_CHECK(current.expert_numel() == next.expert_numel());
  const int64_t numel = current.expert_numel();
  // Block kinds (floats): a new copy gets the values; a new home also moment1, moment2
  // and the step count (its 8 bytes in 2 floats); a replica that becomes the home keeps
  // its values (equal to the home's after the refresh) and gets only the AdamW state.
  const int64_t state_block = 2 * numel + 2;
  const int64_t home_block = numel + state_block;
  const std::vector<int32_t> old_slot = SlotOfExpert(from, me);
  const std::vector<int32_t> new_slot = SlotOfExpert(to, me);
  // What expert e's slot s on rank r of `to` receives from e's old home: 0 (nothing:
  // rank r keeps what it has), state_block, numel or home_block.
  auto block_size = [&](int32_t e, int32_t r, int32_t s) -> int64_t {
    const bool held = std::find(from.rank_slots[static_cast<size_t>(r)].begin(),
                                from.rank_slots[static_cast<size_t>(r)].end(),
                                e) != from.rank_slots[static_cast<size_t>(r)].end();
    const bool new_home = to.IsHome(r, s);
    const bool old_home = from.homes[static_cast<size_t>(e)].rank == r;
    if (held) return new_home && !old_home ? state_block : 0;
    return new_home ? home_block : numel;
  };
  sends_.clear();
  recvs_.clear();
  int64_t send_floats = 0, recv_floats = 0;
  for (int32_t e = 0; e < to.num_experts; ++e) {
    if (from.homes[static_cast<size_t>(e)].rank == me) {
      for (int32_t r = 0; r < to.world_size; ++r) {
        for (int32_t s = 0; s < to.num_slots(r); ++s) {
          if (to.rank_slots[static_cast<size_t>(r)][static_cast<size_t>(s)] != e)
            continue;
          const int64_t n = block_size(e, r, s);
          if (n == 0) continue;
          sends_.push_back({r, send_floats, n});
          send_floats += n;
        }
      }
    }
    const int32_t slot = new_slot[static_cast<size_t>(e)];
    if (slot >= 0) {
      const int64_t n = block_size(e, me, slot);
      if (n > 0) {
        recvs_.push_back({from.homes[static_cast<size_t>(e)].rank, recv_floats, n});
        recv_floats += n;
      }
    }
  }
  send_buffer_.Resize(DType::kF32, {send_floats});
  recv_buffer_.Resize(DType::kF32, {recv_floats});
  // Fill the send blocks in the order they were listed.
  float* out = send_buffer_.data<float>();
  size_t block = 0;
  for (int32_t e = 0; e < to.num_experts; ++e) {
    if (from.homes[static_cast<size_t>(e)].rank != me) continue;
    const std::vector<Parameter*> params =
        current.SlotParameters(old_slot[static_cast<size_t>(e)]);
    for (int32_t r = 0; r < to.world_size; ++r) {
      for (int32_t s = 0; s < to.num_slots(r); ++s) {
        if (to.rank_slots[static_cast<size_t>(r)][static_cast<size_t>(s)] != e) continue;
        const int64_t n = block_size(e, r, s);
        if (n == 0) continue;
        const parallel::BlockTransfer& b = sends_[block++];
        float* dst = out + b.offset;
        if (n != state_block) {
          for (Parameter* p : params) {
            std::memcpy(dst, p->value.data<float>(),
                        static_cast<size_t>(p->value.size_bytes()));
            dst += p->value.numel();
          }
        }
        if (n == numel) continue;
        // The new home: + AdamW state.
        for (Parameter* p : params) {
          const int64_t m = p->value.numel();
          if (p->moment1.shape() == p->value.shape()) {
            std::memcpy(dst, p->moment1.data<float>(),
                        static_cast<size_t>(m) * sizeof(float));
            std::memcpy(dst + numel, p->moment2.data<float>(),
                        static_cast<size_t>(m) * sizeof(float));
          } else {
            std::memset(dst, 0, static_cast<size_t>(m) * sizeof(float));
            std::memset(dst + numel, 0, static_cast<size_t>(m) * sizeof(float));
          }
          dst += m;
        }
        dst += numel;  // past moment2
        const int64_t steps = params.front()->optimizer_steps;
        std::memcpy(dst, &steps, sizeof(steps));
      }
    }
  }
  MPIMOE_RETURN_IF_ERROR(Exchange().WithContext("expert migration"));
  // Copies this rank keeps: state copied locally (values; AdamW state if it stays home).
  for (int32_t e = 0; e < to.num_experts; ++e) {
    const int32_t slot = new_slot[static_cast<size_t>(e)];
    const int32_t old = old_slot[static_cast<size_t>(e)];
    if (slot < 0 || old < 0) continue;
    const bool keeps_home =
        to.IsHome(me, slot) && from.homes[static_cast<size_t>(e)].rank == me;
    const std::vector<Parameter*> src = current.SlotParameters(old);
    const std::vector<Parameter*> dst = next.SlotParameters(slot);
    for (size_t i = 0; i < src.size(); ++i) {
      std::memcpy(dst[i]->value.data<float>(), src[i]->value.data<float>(),
                  static_cast<size_t>(src[i]->value.size_bytes()));
      if (!keeps_home) continue;
      dst[i]->optimizer_steps = src[i]->optimizer_steps;
      dst[i]->moment1 = std::move(src[i]->moment1);
      dst[i]->moment2 = std::move(src[i]->moment2);
    }
  }
  const float* in = recv_buffer_.data<float>();
  block = 0;
  for (int32_t e = 0; e < to.num_experts; ++e) {
    const int32_t slot = new_slot[static_cast<size_t>(e)];
    if (slot < 0) continue;
    const int64_t n = block_size(e, me, slot);
    if (n == 0) continue;
    const parallel::BlockTransfer& b = recvs_[block++];
    const float* src = in + b.offset;
    std::vector<Parameter*> params = next.SlotParameters(slot);
    if (n != state_block) {  // (a replica turned home has its values already)
      for (Parameter* p : params) {
        std::memcpy(p->value.data<float>(), src,
                    static_cast<size_t>(p->value.size_bytes()));
        src += p->value.numel();
      }
    }
    if (n == numel) continue;
    int64_t steps = 0;
    std::memcpy(&steps, src + 2 * numel, sizeof(steps));
    for (Parameter* p : params) {
      const int64_t m = p->value.numel();
      p->optimizer_steps = steps;
      if (steps > 0) {
        p->moment1 = Tensor(DType::kF32, p->value.shape());
        p->moment2 = Tensor(DType::kF32, p->value.shape());
        std::memcpy(p->moment1.data<float>(), src,
                    static_cast<size_t>(m) * sizeof(float));
        std::memcpy(p->moment2.data<float>(), src + numel,
                    static_cast<size_t>(m) * sizeof(float));
      }
      src += m;
    }
  }
  return Status::Ok();
}

}  // namespace mpimoe::moe
