#include "runtime/moe/expert_sync.h"

#include <cstring>

namespace mpimoe::moe {
namespace {

// Local slot of each expert on `rank` under `plan`, -1 if none: [num_experts].
std::vector<int32_t> SlotOfExpert(const parallel::Plan& plan, int rank) {
  std::vector<int32_t> slot(static_cast<size_t>(plan.num_experts), -1);
  for (int32_t s = 0; s < plan.num_slots(rank); ++s) {
    slot[static_cast<size_t>(
        plan.rank_slots[static_cast<size_t>(rank)][static_cast<size_t>(s)])] = s;
  }
  return slot;
}

// Ranks holding a replica of each expert, ascending: [num_experts][...].
std::vector<std::vector<int32_t>> ReplicaRanks(const parallel::Plan& plan) {
  std::vector<std::vector<int32_t>> ranks(static_cast<size_t>(plan.num_experts));
  for (int32_t r = 0; r < plan.world_size; ++r) {
    for (int32_t s = 0; s < plan.num_slots(r); ++s) {
      if (!plan.IsHome(r, s)) {
        ranks[static_cast<size_t>(
                  plan.rank_slots[static_cast<size_t>(r)][static_cast<size_t>(s)])]
            .push_back(r);
      }
    }
  }
  return ranks;
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
  for (Parameter* p : experts.SlotParameters(slot)) {
    const Tensor& t = field == Field::kValue ? p->value : p->grad;
    std::memcpy(out, t.data<float>(), static_cast<size_t>(t.size_bytes()));
    out += t.numel();
  }
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
  const std::vector<int32_t> my_slot = SlotOfExpert(plan, me);
  const std::vector<std::vector<int32_t>> replica_ranks = ReplicaRanks(plan);
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
      for (Parameter* p : experts.SlotParameters(my_slot[static_cast<size_t>(e)])) {
        float* g = p->grad.data<float>();
        const int64_t n = p->grad.numel();
#pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < n; ++i) g[i] += in[i];
        in += n;
      }
    }
  }
  return Status::Ok();
}

Status ExpertSync::RefreshReplicas(const parallel::Plan& plan, Experts& experts) {
  last_bytes_sent_ = 0;
  if (!HasReplicas(plan)) return Status::Ok();  // the same answer on every rank
  const int me = comm_->rank();
  const int64_t numel = experts.expert_numel();
  const std::vector<int32_t> my_slot = SlotOfExpert(plan, me);
  const std::vector<std::vector<int32_t>> replica_ranks = ReplicaRanks(plan);
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
    for (Parameter* p : experts.SlotParameters(slot)) {
      std::memcpy(p->value.data<float>(), in, static_cast<size_t>(p->value.size_bytes()));
      in += p->value.numel();
    }
  }
  return Status::Ok();
}

Status ExpertSync::Migrate(const parallel::Plan& from, Experts& current,
                           const parallel::Plan& to, Experts& next) {
  const int me = comm_->rank();
  MPIMOE_CHECK(current.expert_numel() == next.expert_numel());
  const int64_t numel = current.expert_numel();
  // A block carries the values; for a new home also moment1, moment2 and the step
  // count (its 8 bytes in 2 floats).
  const int64_t home_block = 3 * numel + 2;
  const std::vector<int32_t> old_slot = SlotOfExpert(from, me);
  const std::vector<int32_t> new_slot = SlotOfExpert(to, me);
  sends_.clear();
  recvs_.clear();
  int64_t send_floats = 0, recv_floats = 0;
  for (int32_t e = 0; e < to.num_experts; ++e) {
    const int32_t old_home = from.homes[static_cast<size_t>(e)].rank;
    const parallel::ExpertHome new_home = to.homes[static_cast<size_t>(e)];
    if (old_home == me) {
      for (int32_t r = 0; r < to.world_size; ++r) {
        for (int32_t s = 0; s < to.num_slots(r); ++s) {
          if (to.rank_slots[static_cast<size_t>(r)][static_cast<size_t>(s)] != e)
            continue;
          const int64_t n =
              (new_home.rank == r && new_home.slot == s) ? home_block : numel;
          sends_.push_back({r, send_floats, n});
          send_floats += n;
        }
      }
    }
    const int32_t slot = new_slot[static_cast<size_t>(e)];
    if (slot >= 0) {
      const int64_t n = to.IsHome(me, slot) ? home_block : numel;
      recvs_.push_back({old_home, recv_floats, n});
      recv_floats += n;
    }
  }
  send_buffer_.Resize(DType::kF32, {send_floats});
  recv_buffer_.Resize(DType::kF32, {recv_floats});
  // Fill the send blocks in the order they were listed.
  float* out = send_buffer_.data<float>();
  size_t block = 0;
  for (int32_t e = 0; e < to.num_experts; ++e) {
    if (from.homes[static_cast<size_t>(e)].rank != me) continue;
    const int32_t slot = old_slot[static_cast<size_t>(e)];
    std::vector<Parameter*> params = current.SlotParameters(slot);
    for (int32_t r = 0; r < to.world_size; ++r) {
      for (int32_t s = 0; s < to.num_slots(r); ++s) {
        if (to.rank_slots[static_cast<size_t>(r)][static_cast<size_t>(s)] != e) continue;
        const parallel::BlockTransfer& b = sends_[block++];
        float* dst = out + b.offset;
        for (Parameter* p : params) {
          std::memcpy(dst, p->value.data<float>(),
                      static_cast<size_t>(p->value.size_bytes()));
          dst += p->value.numel();
        }
        if (to.homes[static_cast<size_t>(e)].rank == r &&
            to.homes[static_cast<size_t>(e)].slot == s) {  // the new home: + AdamW state
          for (Parameter* p : params) {
            const int64_t n = p->value.numel();
            if (p->moment1.shape() == p->value.shape()) {
              std::memcpy(dst, p->moment1.data<float>(),
                          static_cast<size_t>(n) * sizeof(float));
              std::memcpy(dst + numel, p->moment2.data<float>(),
                          static_cast<size_t>(n) * sizeof(float));
            } else {
              std::memset(dst, 0, static_cast<size_t>(n) * sizeof(float));
              std::memset(dst + numel, 0, static_cast<size_t>(n) * sizeof(float));
            }
            dst += n;
          }
          dst += numel;  // past moment2
          const int64_t steps = params.front()->optimizer_steps;
          std::memcpy(dst, &steps, sizeof(steps));
        }
      }
    }
  }
  MPIMOE_RETURN_IF_ERROR(Exchange().WithContext("expert migration"));
  const float* in = recv_buffer_.data<float>();
  block = 0;
  for (int32_t e = 0; e < to.num_experts; ++e) {
    const int32_t slot = new_slot[static_cast<size_t>(e)];
    if (slot < 0) continue;
    const parallel::BlockTransfer& b = recvs_[block++];
    const float* src = in + b.offset;
    std::vector<Parameter*> params = next.SlotParameters(slot);
    for (Parameter* p : params) {
      std::memcpy(p->value.data<float>(), src,
                  static_cast<size_t>(p->value.size_bytes()));
      src += p->value.numel();
    }
    if (to.IsHome(me, slot)) {
      int64_t steps = 0;
      std::memcpy(&steps, src + 2 * numel, sizeof(steps));
      for (Parameter* p : params) {
        const int64_t n = p->value.numel();
        p->optimizer_steps = steps;
        if (steps > 0) {
          p->moment1 = Tensor(DType::kF32, p->value.shape());
          p->moment2 = Tensor(DType::kF32, p->value.shape());
          std::memcpy(p->moment1.data<float>(), src,
                      static_cast<size_t>(n) * sizeof(float));
          std::memcpy(p->moment2.data<float>(), src + numel,
                      static_cast<size_t>(n) * sizeof(float));
        }
        src += n;
      }
    }
  }
  return Status::Ok();
}

}  // namespace mpimoe::moe
