#include "core/asio_event_loop.h"

#include <time.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/clock.h"

namespace bladesync {
namespace {

class AsioTimer : public Timer {
 public:
  AsioTimer(boost::asio::io_context& io, std::function<void()> cb)
      : timer_(io), cb_(std::make_shared<std::function<void()>>(std::move(cb))) {}
  ~AsioTimer() override { timer_.cancel(); }

  void Arm(Nanos delay) override {
    timer_.expires_after(delay);
    armed_ = true;
    ++generation_;
    const uint64_t gen = generation_;
    timer_.async_wait([this, gen, alive = std::weak_ptr<int>(alive_)](const boost::system::error_code& ec) {
      // The timer may be gone (alive expired) or re-armed (generation moved on).
      if (ec || alive.expired() || gen != generation_) return;
      armed_ = false;
      (*cb_)();
    });
  }
  void Disarm() override {
    armed_ = false;
    ++generation_;
    timer_.cancel();
  }
  bool armed() const override { return armed_; }

 private:
  boost::asio::steady_timer timer_;
  std::shared_ptr<std::function<void()>> cb_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  uint64_t generation_ = 0;
  bool armed_ = false;
};

}  // namespace

AsioEventLoop::AsioEventLoop() = default;
AsioEventLoop::~AsioEventLoop() = default;

// The one place the production code reads the real clocks.
Nanos AsioEventLoop::Now() const {
  return MonotonicNow();
}
// The same clock as steady_clock (CLOCK_MONOTONIC), as of the last tick.
Nanos AsioEventLoop::CoarseNow() const {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return Nanos(int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec);
}
Nanos AsioEventLoop::WallNow() const {
  return std::chrono::duration_cast<Nanos>(std::chrono::system_clock::now().time_since_epoch());
}

std::unique_ptr<Timer> AsioEventLoop::CreateTimer(std::function<void()> callback) {
  return std::make_unique<AsioTimer>(io_, std::move(callback));
}

void AsioEventLoop::Post(std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); }

// The work guard goes before restart(): releasing the last work stops the
// io_context, and a stopped io_context returns from the next run at once.
void AsioEventLoop::Run() {
  {
    auto guard = boost::asio::make_work_guard(io_);
    io_.run();
  }
  io_.restart();
}

void AsioEventLoop::RunFor(Nanos duration) {
  {
    auto guard = boost::asio::make_work_guard(io_);
    io_.run_for(duration);
  }
  io_.restart();
}

void AsioEventLoop::Stop() { io_.stop(); }

}  // namespace bladesync
