// Status and StatusOr<T>: the recoverable-error tier of mpimoe.
//
// A function that can fail for reasons outside the programmer's control (bad config,
// file I/O, an MPI error, a oneDNN failure) returns a [[nodiscard]] Status or
// StatusOr<T>. The message says what failed and where; callers add context as the error
// travels up with WithContext(), so a user sees e.g.
//   "loading configs/x.textproto: model.d_model: must be positive (got 0)".
// Programmer errors (broken invariants) do not use Status: they abort through
// MPIMOE_CHECK (check.h).
//
// Thread-safety: Status and StatusOr are values; distinct objects may be used from
// distinct threads, one object is not synchronised.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "runtime/core/check.h"

namespace mpimoe {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // bad input: config, flags, shapes given by a user
  kNotFound,            // a file or a named thing does not exist
  kIoError,             // reading or writing failed
  kInternal,            // a library (oneDNN, MPI) reported a failure
  kUnimplemented,       // a valid request that this build does not support
  kAborted,             // training stopped on its own numbers (e.g. a non-finite loss);
                        // every rank of the job reports it at the same step
  kFailedPrecondition,  // a well-formed request the state on disk cannot serve (e.g. a
                        // checkpoint that is corrupt or belongs to another model)
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns this status with "context: " prepended to the message (no-op when OK).
  Status WithContext(std::string_view context) const&;
  Status WithContext(std::string_view context) &&;

  // "INVALID_ARGUMENT: message", or "OK".
  std::string ToString() const;

  // Explicitly discards a status the caller has decided to ignore.
  void IgnoreError() const {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

Status InvalidArgumentError(std::string message);
Status NotFoundError(std::string message);
Status IoError(std::string message);
Status InternalError(std::string message);
Status UnimplementedError(std::string message);
Status AbortedError(std::string message);
Status FailedPreconditionError(std::string message);

// A value of type T or a non-OK Status explaining why there is none.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    MPIMOE_CHECK_MSG(!status_.ok(), "StatusOr built from an OK Status without a value");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  const T& value() const& {
    MPIMOE_CHECK_MSG(ok(), status_.ToString().c_str());
    return *value_;
  }
  T& value() & {
    MPIMOE_CHECK_MSG(ok(), status_.ToString().c_str());
    return *value_;
  }
  T&& value() && {
    MPIMOE_CHECK_MSG(ok(), status_.ToString().c_str());
    return std::move(*value_);
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace mpimoe

#define MPIMOE_STATUS_CONCAT_INNER(a, b) a##b
#define MPIMOE_STATUS_CONCAT(a, b) MPIMOE_STATUS_CONCAT_INNER(a, b)

// Returns the status from the enclosing function if `expr` is not OK.
#define MPIMOE_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::mpimoe::Status mpimoe_status_ = (expr);        \
    if (!mpimoe_status_.ok()) return mpimoe_status_; \
  } while (0)

// `lhs = value of expr` or return its status from the enclosing function.
#define MPIMOE_ASSIGN_OR_RETURN(lhs, expr)                                            \
  MPIMOE_ASSIGN_OR_RETURN_IMPL(MPIMOE_STATUS_CONCAT(mpimoe_statusor_, __LINE__), lhs, \
                               expr)
#define MPIMOE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
