// EventLoop: the only way blade and manager logic sees time.
//
// Production runs on AsioEventLoop (a Boost.Asio io_context); tests and the
// simulator run on SimEventLoop with virtual time, so a seeded run replays
// exactly. Logic never reads a real clock and never sleeps.
//
//   auto timer = loop.CreateTimer([&] { Flush(); });
//   timer->Arm(std::chrono::milliseconds(1));
//   loop.Post([&] { OnIdle(); });
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace bladesync {

using Nanos = std::chrono::nanoseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A one-shot timer. Arm() re-arms; destroying the timer cancels it.
class Timer {
 public:
  virtual ~Timer() = default;
  virtual void Arm(Nanos delay) = 0;
  virtual void Disarm() = 0;
  virtual bool armed() const = 0;
};

class EventLoop {
 public:
  virtual ~EventLoop() = default;
  // Monotonic time since an arbitrary start; only differences mean anything.
  virtual Nanos Now() const = 0;
  // Now() to within a few milliseconds, for timestamps kept in deciseconds
  // (session expiry): read per created or applied session, where a precise
  // clock read was 7% of a blade's time.
  virtual Nanos CoarseNow() const { return Now(); }
  // Wall-clock time since the Unix epoch. Chassis clocks may be skewed.
  virtual Nanos WallNow() const = 0;
  virtual std::unique_ptr<Timer> CreateTimer(std::function<void()> callback) = 0;
  // Runs fn on this loop after the work already queued.
  virtual void Post(std::function<void()> fn) = 0;
};

// A periodic task built from a Timer: fires every `period` until destroyed.
class PeriodicTask {
 public:
  PeriodicTask(EventLoop& loop, Nanos period, std::function<void()> fn)
      : period_(period), fn_(std::move(fn)) {
    timer_ = loop.CreateTimer([this] {
      timer_->Arm(period_);
      fn_();
    });
    timer_->Arm(period_);
  }
  void set_period(Nanos period) { period_ = period; timer_->Arm(period_); }

 private:
  Nanos period_;
  std::function<void()> fn_;
  std::unique_ptr<Timer> timer_;
};

// "Never happened" for rate limits: far enough in the past to be due at
// once, also at the start of virtual time.
inline constexpr Nanos kLongAgo = -std::chrono::hours(24 * 365);
// "Nothing due": for the earliest of several deadlines (never added to).
inline constexpr Nanos kNever = Nanos::max();

inline double ToSeconds(Nanos d) { return std::chrono::duration<double>(d).count(); }

}  // namespace bladesync
