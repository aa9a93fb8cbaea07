#include "runtime/moe/experts.h"

#include <cmath>
#include <string>

namespace mpimoe::moe {
namespace {
enum WeightTag : uint64_t { kW1 = 1, kW2 = 2, kW3 = 3 };
}  // namespace

Experts::Experts(const FfnDims& dims, const std::vector<int32_t>& slot_experts,
                 uint64_t seed, ops::OpsContext* ctx, const std::string& name,
                 const std::vector<bool>& slot_is_home)
    : dims_(dims),
      slot_experts_(slot_experts),
      slot_is_home_(slot_is_home.empty() ? std::vector<bool>(slot_experts.size(), true)
                                         : slot_is_home),
      ctx_(ctx),
      slot_offsets_(slot_experts.size() + 1, 0),
      rows_per_slot_(slot_experts.size(), 0) {
  const int64_t d = dims.d_model;
  const int64_t f = dims.d_ffn;
  const float std_in = 1.0f / std::sqrt(static_cast<float>(d));
  const float std_out = 1.0f / std::sqrt(static_cast<float>(f));
  MPIMOE_CHECK(slot_is_home_.size() == slot_experts_.size());
  for (int32_t expert : slot_experts) {
    const std::string prefix = name + "." + std::to_string(expert) + ".";
    const uint64_t id = static_cast<uint64_t>(expert);
    Slot slot;
    slot.w1 = std::make_unique<Parameter>(prefix + "w1", std::vector<int64_t>{d, f});
    slot.w1->InitNormal(MixSeed(seed, {id, kW1}), std_in);
    slot.w2 = std::make_unique<Parameter>(prefix + "w2", std::vector<int64_t>{f, d});
    slot.w2->InitNormal(MixSeed(seed, {id, kW2}), std_out);
    if (dims.activation == Activation::kSwiglu) {
      slot.w3 = std::make_unique<Parameter>(prefix + "w3", std::vector<int64_t>{d, f});
      slot.w3->InitNormal(MixSeed(seed, {id, kW3}), std_in);
    }
    slots_.push_back(std::move(slot));
  }
}

FfnWeights Experts::WeightsOf(const Slot& slot) const {
  FfnWeights w;
  w.w1 = slot.w1->value.data<float>();
  w.w2 = slot.w2->value.data<float>();
  w.w3 = slot.w3 ? slot.w3->value.data<float>() : nullptr;
  return w;
}

std::vector<Parameter*> Experts::SlotParameters(int64_t s) {
  Slot& slot = slots_[static_cast<size_t>(s)];
  std::vector<Parameter*> params{slot.w1.get()};
  if (slot.w3) params.push_back(slot.w3.get());
  params.push_back(slot.w2.get());
  return params;
}

int64_t Experts::expert_numel() const {
  const int64_t matrices = dims_.activation == Activation::kSwiglu ? 3 : 2;
  return matrices * dims_.d_model * dims_.d_ffn;
}

std::vector<Parameter*> Experts::Parameters() {
  std::vector<Parameter*> params;
  for (int64_t s = 0; s < num_slots(); ++s) {
    if (!is_home(s)) continue;
    for (Parameter* p : SlotParameters(s)) params.push_back(p);
  }
  return params;
}

std::vector<Parameter*> Experts::ReplicaParameters() {
  std::vector<Parameter*> params;
  for (int64_t s = 0; s < num_slots(); ++s) {
    if (is_home(s)) continue;
    for (Parameter* p : SlotParameters(s)) params.push_back(p);
  }
  return params;
}

Status Experts::Forward(const float* x, const int64_t* slot_offsets, float* y) {
  const int64_t num_slots = this->num_slots();
  const int64_t total_rows = slot_offsets[num_slots];
  const int64_t d = dims_.d_model;
  const int64_t f = dims_.d_ffn;
  x_ = x;
  slot_offsets_.assign(slot_offsets, slot_offsets + num_slots + 1);
  h1_.Resize(DType::kF32, {total_rows, f});
  a_.Resize(DType::kF32, {total_rows, f});
  if (dims_.activation == Activation::kSwiglu) h3_.Resize(DType::kF32, {total_rows, f});
  for (int64_t s = 0; s < num_slots; ++s) {
    const int64_t begin = slot_offsets[s];
    const int64_t rows = slot_offsets[s + 1] - begin;
    rows_per_slot_[static_cast<size_t>(s)] = rows;
    if (rows == 0) continue;
    FfnSaved saved;
    saved.h1 = h1_.data<float>() + begin * f;
    saved.a = a_.data<float>() + begin * f;
    if (dims_.activation == Activation::kSwiglu) saved.h3 = h3_.data<float>() + begin * f;
    MPIMOE_RETURN_IF_ERROR(FfnForward(*ctx_, dims_,
                                      WeightsOf(slots_[static_cast<size_t>(s)]),
                                      x + begin * d, rows, saved, y + begin * d));
  }
  return Status::Ok();
}

Status Experts::Backward(const float* dy, float* dx) {
  const int64_t num_slots = this->num_slots();
  const int64_t total_rows = slot_offsets_[static_cast<size_t>(num_slots)];
  const int64_t d = dims_.d_model;
  const int64_t f = dims_.d_ffn;
  const bool swiglu = dims_.activation == Activation::kSwiglu;
  da_.Resize(DType::kF32, {total_rows, f});
  dh1_.Resize(DType::kF32, {total_rows, f});
  if (swiglu) dh3_.Resize(DType::kF32, {total_rows, f});
  for (int64_t s = 0; s < num_slots; ++s) {
    const int64_t begin = slot_offsets_[static_cast<size_t>(s)];
    const int64_t rows = slot_offsets_[static_cast<size_t>(s) + 1] - begin;
    if (rows == 0) continue;  // no rows: no gradient contribution
    Slot& slot = slots_[static_cast<size_t>(s)];
    FfnSaved saved;
    saved.h1 = h1_.data<float>() + begin * f;
    saved.a = a_.data<float>() + begin * f;
    FfnScratch scratch;
    scratch.da = da_.data<float>() + begin * f;
    scratch.dh1 = dh1_.data<float>() + begin * f;
    FfnGrads grads;
    grads.w1 = slot.w1->grad.data<float>();
    grads.w2 = slot.w2->grad.data<float>();
    if (swiglu) {
      saved.h3 = h3_.data<float>() + begin * f;
      scratch.dh3 = dh3_.data<float>() + begin * f;
      grads.w3 = slot.w3->grad.data<float>();
    }
    MPIMOE_RETURN_IF_ERROR(FfnBackward(*ctx_, dims_, WeightsOf(slot), x_ + begin * d,
                                       rows, saved, dy + begin * d, scratch, grads,
                                       dx + begin * d));
  }
  return Status::Ok();
}

}  // namespace mpimoe::moe
