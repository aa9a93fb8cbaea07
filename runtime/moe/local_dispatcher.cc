#include <cstring>

#include "runtime/moe/dispatcher.h"

namespace mpimoe::moe {
namespace {

void CopyRows(const float* src, float* dst, int64_t num_rows, int64_t d) {
  if (src == dst || num_rows == 0) return;
  std::memcpy(dst, src, static_cast<size_t>(num_rows * d) * sizeof(float));
}

}  // namespace

LocalDispatcher::LocalDispatcher(int64_t num_experts) : num_experts_(num_experts) {
  MPIMOE_CHECK(num_experts > 0);
  slot_experts_.resize(static_cast<size_t>(num_experts));
  for (int64_t e = 0; e < num_experts; ++e)
    slot_experts_[static_cast<size_t>(e)] = static_cast<int32_t>(e);
}

Status LocalDispatcher::Prepare(const int64_t* send_bucket_offsets,
                                DispatchHandle* handle) {
  handle->send_bucket_offsets.assign(send_bucket_offsets,
                                     send_bucket_offsets + num_experts_ + 1);
  handle->recv_slot_offsets.assign(send_bucket_offsets,
                                   send_bucket_offsets + num_experts_ + 1);
  handle->num_send_rows = send_bucket_offsets[num_experts_];
  handle->num_recv_rows = handle->num_send_rows;
  return Status::Ok();
}

Status LocalDispatcher::ToExperts(const DispatchHandle& handle, const float* send,
                                  float* recv, int64_t d) {
  CopyRows(send, recv, handle.num_send_rows, d);
  return Status::Ok();
}

Status LocalDispatcher::FromExperts(const DispatchHandle& handle, const float* recv,
                                    float* send, int64_t d) {
  CopyRows(recv, send, handle.num_recv_rows, d);
  return Status::Ok();
}

}  // namespace mpimoe::moe
