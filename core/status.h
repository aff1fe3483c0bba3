// Status and Result: how bladesync functions report failure.
//
// A Status carries a canonical code and a message; Result<T> carries a value or
// a Status. Both are [[nodiscard]] so a failure cannot be dropped silently.
//
//   Result<Config> r = ParseConfig(text, "ha.conf");
//   if (!r.ok()) { std::cerr << r.status().message() << "\n"; return 1; }
//   const Config& cfg = r.value();
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace bladesync {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the caller's input is wrong: fix the input
  kFailedPrecondition,  // the state does not allow it yet: fix the state first
  kUnavailable,         // a peer or resource is not there now: retry the call
  kResourceExhausted,   // a configured limit was reached
  kDataLoss,            // bytes from the network are malformed
  kPermissionDenied,    // the peer is not who it must be
  kNotFound,
  kInternal,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Status status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  const T& value() const& { assert(ok()); return *value_; }
  T& value() & { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace bladesync
