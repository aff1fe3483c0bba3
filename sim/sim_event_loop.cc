#include "sim/sim_event_loop.h"

namespace bladesync {
namespace {
// Virtual wall clock starts at a fixed date so runs replay exactly.
constexpr Nanos kWallBase = std::chrono::seconds(1'800'000'000);

class SimTimer : public Timer {
 public:
  SimTimer(SimEventLoop& loop, std::function<void()> cb)
      : loop_(loop), state_(std::make_shared<State>()) {
    state_->cb = std::move(cb);
  }
  ~SimTimer() override { Disarm(); }

  void Arm(Nanos delay) override {
    state_->armed = true;
    const uint64_t gen = ++state_->generation;
    std::weak_ptr<State> weak = state_;
    loop_.scheduler().ScheduleAt(loop_.Now() + delay, &loop_, [weak, gen] {
      auto s = weak.lock();
      if (!s || s->generation != gen) return;
      s->armed = false;
      s->cb();
    });
  }
  void Disarm() override {
    state_->armed = false;
    ++state_->generation;
  }
  bool armed() const override { return state_->armed; }

 private:
  struct State {
    std::function<void()> cb;
    uint64_t generation = 0;
    bool armed = false;
  };
  SimEventLoop& loop_;
  std::shared_ptr<State> state_;
};
}  // namespace

void SimScheduler::ScheduleAt(Nanos at, SimEventLoop* loop, std::function<void()> fn) {
  if (at < now_) at = now_;
  queue_.push(Event{at, next_order_++, loop, loop ? loop->generation_ : 0, std::move(fn)});
}

bool SimScheduler::RunOne() {
  while (!queue_.empty()) {
    Event ev = queue_.top();
    queue_.pop();
    now_ = ev.at;
    if (ev.loop) {
      if (ev.loop_generation != ev.loop->generation_) continue;  // killed since
      if (ev.loop->paused_) {
        ev.loop->held_.push_back(std::move(ev.fn));
        continue;
      }
    }
    ++events_run_;
    MixTrace(static_cast<uint64_t>(ev.at.count()) ^ (ev.order << 1));
    ev.fn();
    return true;
  }
  return false;
}

void SimScheduler::RunUntil(Nanos until) {
  while (!queue_.empty() && queue_.top().at <= until) RunOne();
  if (now_ < until) now_ = until;
}

uint64_t SimScheduler::RunUntilIdle(uint64_t max_events) {
  uint64_t n = 0;
  while (n < max_events && RunOne()) ++n;
  return n;
}

SimEventLoop::SimEventLoop(SimScheduler& sched, Nanos wall_skew)
    : sched_(sched), wall_skew_(wall_skew) {}

Nanos SimEventLoop::WallNow() const { return kWallBase + sched_.now() + wall_skew_; }

std::unique_ptr<Timer> SimEventLoop::CreateTimer(std::function<void()> callback) {
  return std::make_unique<SimTimer>(*this, std::move(callback));
}

void SimEventLoop::Post(std::function<void()> fn) { sched_.ScheduleAt(sched_.now(), this, std::move(fn)); }

void SimEventLoop::Resume() {
  paused_ = false;
  auto held = std::move(held_);
  held_.clear();
  for (auto& fn : held) sched_.ScheduleAt(sched_.now(), this, std::move(fn));
}

}  // namespace bladesync
