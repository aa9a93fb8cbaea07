#include "parallel/communicator.h"
#include "runtime/core/logging.h"

namespace mpimoe::parallel {

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
