#include "runtime/moe/dense_ffn.h"

#include <cmath>

namespace mpimoe::moe {

DenseFfn::DenseFfn(const FfnDims& dims, uint64_t seed, ops::OpsContext* ctx,
                   const std::string& name)
    : dims_(dims),
      ctx_(ctx),
      w1_(name + ".w1", {dims.d_model, dims.d_ffn}),
      w2_(name + ".w2", {dims.d_ffn, dims.d_model}) {
  const float std_in = 1.0f / std::sqrt(static_cast<float>(dims.d_model));
  const float std_out = 1.0f / std::sqrt(static_cast<float>(dims.d_ffn));
  w1_.InitNormal(MixSeed(seed, {1}), std_in);
  w2_.InitNormal(MixSeed(seed, {2}), std_out);
  if (dims.activation == Activation::kSwiglu) {
    w3_ = Parameter(name + ".w3", {dims.d_model, dims.d_ffn});
    w3_.InitNormal(MixSeed(seed, {3}), std_in);
  }
}

std::vector<Parameter*> DenseFfn::Parameters() {
  std::vector<Parameter*> params{&w1_};
  if (dims_.activation == Activation::kSwiglu) params.push_back(&w3_);
  params.push_back(&w2_);
  return params;
}

FfnWeights DenseFfn::Weights() const {
  FfnWeights w;
  w.w1 = w1_.value.data<float>();
  w.w2 = w2_.value.data<float>();
  if (dims_.activation == Activation::kSwiglu) w.w3 = w3_.value.data<float>();
  return w;
}

Status DenseFfn::Forward(const TensorView& x, const TensorView& y) {
  if (x.rank() != 2 || x.dim(1) != dims_.d_model || y.rank() != 2 ||
      y.dim(0) != x.dim(0) || y.dim(1) != dims_.d_model) {
    return InvalidArgumentError("DenseFfn::Forward: x and y must be [N, " +
                                std::to_string(dims_.d_model) + "], got " +
                                x.ShapeString() + " and " + y.ShapeString());
  }
  const int64_t n = x.dim(0);
  const int64_t f = dims_.d_ffn;
  x_ = x;
  h1_.Resize(DType::kF32, {n, f});
  a_.Resize(DType::kF32, {n, f});
  FfnSaved saved{h1_.data<float>(), nullptr, a_.data<float>()};
  if (dims_.activation == Activation::kSwiglu) {
    h3_.Resize(DType::kF32, {n, f});
    saved.h3 = h3_.data<float>();
  }
  return FfnForward(*ctx_, dims_, Weights(), x.data<float>(), n, saved, y.data<float>());
}

Status DenseFfn::Backward(const TensorView& dy, const TensorView& dx) {
  const int64_t n = x_.dim(0);
  const int64_t f = dims_.d_ffn;
  if (dy.rank() != 2 || dy.dim(0) != n || dx.rank() != 2 || dx.dim(0) != n) {
    return InvalidArgumentError(
        "DenseFfn::Backward: dy and dx must have the forward's rows");
  }
  da_.Resize(DType::kF32, {n, f});
  dh1_.Resize(DType::kF32, {n, f});
  FfnSaved saved{h1_.data<float>(), nullptr, a_.data<float>()};
  FfnScratch scratch{da_.data<float>(), dh1_.data<float>(), nullptr};
  FfnGrads grads{w1_.grad.data<float>(), nullptr, w2_.grad.data<float>()};
  if (dims_.activation == Activation::kSwiglu) {
    dh3_.Resize(DType::kF32, {n, f});
    saved.h3 = h3_.data<float>();
    scratch.dh3 = dh3_.data<float>();
    grads.w3 = w3_.grad.data<float>();
  }
  return FfnBackward(*ctx_, dims_, Weights(), x_.data<float>(), n, saved,
                     dy.data<float>(), scratch, grads, dx.data<float>());
}

}  // namespace mpimoe::moe
