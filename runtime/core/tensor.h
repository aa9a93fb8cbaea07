// Tensor (owning) and TensorView (non-owning): dense n-d arrays of f32, bf16 or int32.
//
// Tensor owns a 64-byte aligned buffer and a row-major shape. Resize() reuses the
// buffer when the new shape fits in what was allocated before, which is how layer
// workspaces avoid allocating per step. TensorView is a pointer + dtype + shape +
// strides (in elements) that never owns memory; it is how tensors are passed around.
// A view must not outlive the storage it points to.
//
// Thread-safety: values; no internal synchronisation.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "runtime/core/aligned_buffer.h"
#include "runtime/core/check.h"
#include "runtime/core/dtype.h"

namespace mpimoe {

inline constexpr int kMaxTensorRank = 4;

class TensorView {
 public:
  TensorView() = default;
  // Row-major contiguous view.
  TensorView(void* data, DType dtype, std::initializer_list<int64_t> shape);
  TensorView(void* data, DType dtype, const std::vector<int64_t>& shape);

  int rank() const { return rank_; }
  int64_t dim(int i) const {
    MPIMOE_CHECK(i >= 0 && i < rank_);
    return shape_[i];
  }
  int64_t stride(int i) const {
    MPIMOE_CHECK(i >= 0 && i < rank_);
    return strides_[i];
  }
  int64_t numel() const;
  DType dtype() const { return dtype_; }
  bool is_contiguous() const;
  std::string ShapeString() const;  // e.g. "[4, 8] f32"

  void* raw() const { return data_; }
  template <typename T>
  T* data() const {
    MPIMOE_CHECK_MSG(DTypeOf<T>::value == dtype_, "TensorView::data<T>: dtype mismatch");
    return static_cast<T*>(data_);
  }

  // The view of rows [begin, end) of dimension 0.
  TensorView Rows(int64_t begin, int64_t end) const;

 private:
  void* data_ = nullptr;
  DType dtype_ = DType::kF32;
  int rank_ = 0;
  std::array<int64_t, kMaxTensorRank> shape_{};
  std::array<int64_t, kMaxTensorRank> strides_{};
};

class Tensor {
 public:
  Tensor() = default;
  Tensor(DType dtype, std::vector<int64_t> shape);  // uninitialised contents
  static Tensor Zeros(DType dtype, std::vector<int64_t> shape);

  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;
  Tensor Clone() const;

  // Changes the shape (and dtype); allocates only if the bytes exceed the capacity.
  // Contents are unspecified afterwards.
  void Resize(DType dtype, std::vector<int64_t> shape);
  void Resize(std::vector<int64_t> shape) { Resize(dtype_, std::move(shape)); }
  void SetZero();

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_.at(static_cast<size_t>(i)); }
  int64_t numel() const;
  int64_t size_bytes() const { return numel() * DTypeSizeBytes(dtype_); }
  size_t capacity_bytes() const { return buffer_.size_bytes(); }

  template <typename T>
  T* data() {
    MPIMOE_CHECK_MSG(DTypeOf<T>::value == dtype_, "Tensor::data<T>: dtype mismatch");
    return static_cast<T*>(buffer_.data());
  }
  template <typename T>
  const T* data() const {
    MPIMOE_CHECK_MSG(DTypeOf<T>::value == dtype_, "Tensor::data<T>: dtype mismatch");
    return static_cast<const T*>(buffer_.data());
  }
  void* raw() { return buffer_.data(); }
  const void* raw() const { return buffer_.data(); }

  TensorView view() const;  // a mutable view; constness of the owner is shallow

 private:
  DType dtype_ = DType::kF32;
  std::vector<int64_t> shape_;
  AlignedBuffer buffer_;
};

}  // namespace mpimoe
