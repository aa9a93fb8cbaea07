#include "runtime/core/tensor.h"

#include <cstring>

namespace mpimoe {

TensorView::TensorView(void* data, DType dtype, std::initializer_list<int64_t> shape)
    : TensorView(data, dtype, std::vector<int64_t>(shape)) {}

TensorView::TensorView(void* data, DType dtype, const std::vector<int64_t>& shape)
    : data_(data), dtype_(dtype), rank_(static_cast<int>(shape.size())) {
  MPIMOE_CHECK_MSG(rank_ <= kMaxTensorRank, "tensor rank above kMaxTensorRank");
  int64_t stride = 1;
  for (int i = rank_ - 1; i >= 0; --i) {
    MPIMOE_CHECK(shape[static_cast<size_t>(i)] >= 0);
    shape_[i] = shape[static_cast<size_t>(i)];
    strides_[i] = stride;
    stride *= shape_[i];
  }
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= shape_[i];
  return n;
}

bool TensorView::is_contiguous() const {
  int64_t stride = 1;
  for (int i = rank_ - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[i] != stride) return false;
    stride *= shape_[i];
  }
  return true;
}

std::string TensorView::ShapeString() const {
  std::string s = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape_[i]);
  }
  s += "] ";
  s += DTypeName(dtype_);
  return s;
}

TensorView TensorView::Rows(int64_t begin, int64_t end) const {
  MPIMOE_CHECK(rank_ >= 1 && begin >= 0 && begin <= end && end <= shape_[0]);
  TensorView out = *this;
  out.data_ = static_cast<char*>(data_) + begin * strides_[0] * DTypeSizeBytes(dtype_);
  out.shape_[0] = end - begin;
  return out;
}

Tensor::Tensor(DType dtype, std::vector<int64_t> shape) {
  Resize(dtype, std::move(shape));
}

Tensor Tensor::Zeros(DType dtype, std::vector<int64_t> shape) {
  Tensor t(dtype, std::move(shape));
  t.SetZero();
  return t;
}

Tensor Tensor::Clone() const {
  Tensor t(dtype_, shape_);
  if (size_bytes() > 0) std::memcpy(t.raw(), raw(), static_cast<size_t>(size_bytes()));
  return t;
}

void Tensor::Resize(DType dtype, std::vector<int64_t> shape) {
  for (int64_t d : shape) MPIMOE_CHECK_MSG(d >= 0, "negative tensor dimension");
  dtype_ = dtype;
  shape_ = std::move(shape);
  buffer_.Reserve(static_cast<size_t>(size_bytes()));
}

void Tensor::SetZero() {
  if (size_bytes() > 0) std::memset(raw(), 0, static_cast<size_t>(size_bytes()));
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_) n *= d;
  return n;
}

TensorView Tensor::view() const {
  return TensorView(const_cast<void*>(buffer_.data()), dtype_, shape_);
}

}  // namespace mpimoe
