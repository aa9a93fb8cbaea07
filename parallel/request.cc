#include <chrono>

#include "parallel/communicator.h"
#include "runtime/core/logging.h"

namespace mpimoe::parallel {

Communicator::BusyScope::BusyScope(Communicator* comm)
    : comm_(comm), outermost_(comm->busy_depth_++ == 0) {
  if (outermost_) {
    start_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  }
}

Communicator::BusyScope::~BusyScope() {
  --comm_->busy_depth_;
  if (!outermost_) return;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  comm_->busy_seconds_ += static_cast<double>(now - start_ns_) * 1e-9;
}

Request& Request::operator=(Request&& other) noexcept {
  if (this != &other) {
    if (impl_ != nullptr) Wait().IgnoreError();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

Request::~Request() {
  if (impl_ == nullptr) return;
  Status status = Wait();
  if (!status.ok()) LogError("request destroyed while pending: " + status.ToString());
}

Status Request::Wait() {
  if (impl_ == nullptr) return Status::Ok();
  Status status = impl_->Wait();
  impl_.reset();
  return status;
}

}  // namespace mpimoe::parallel
