// SimScheduler and SimEventLoop: virtual time for deterministic tests.
//
// One SimScheduler holds every pending event of a simulated cluster, ordered
// by (time, insertion order), and runs them in one thread. Each simulated node
// gets its own SimEventLoop view, which can be skewed (wall clock), paused
// (events wait until resumed) or killed (its pending events are dropped).
//
//   SimScheduler sched;
//   SimEventLoop a(sched), b(sched, /*wall_skew=*/milliseconds(40));
//   auto t = a.CreateTimer([] { ... });
//   t->Arm(milliseconds(5));
//   sched.RunFor(seconds(1));
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <vector>

#include "core/event_loop.h"

namespace bladesync {

class SimEventLoop;

class SimScheduler {
 public:
  Nanos now() const { return now_; }
  // Schedules fn at absolute virtual time `at` for `loop` (may be null).
  void ScheduleAt(Nanos at, SimEventLoop* loop, std::function<void()> fn);
  // Runs the next event; false when none is left.
  bool RunOne();
  // Runs events until virtual time `until`; time ends at `until`.
  void RunUntil(Nanos until);
  void RunFor(Nanos d) { RunUntil(now_ + d); }
  // Runs until no event is left or `max_events` ran; returns events run.
  uint64_t RunUntilIdle(uint64_t max_events = 100'000'000);
  uint64_t events_run() const { return events_run_; }
  // A hash of everything that ran (when, in which order) and of what was
  // mixed in (frames on the network): two runs of one seed must agree.
  uint64_t trace_hash() const { return trace_; }
  void MixTrace(uint64_t v) { trace_ = (trace_ ^ v) * 0x100000001b3ULL + (trace_ >> 29); }
  size_t pending() const { return queue_.size(); }

 private:
  struct Event {
    Nanos at;
    uint64_t order;
    SimEventLoop* loop;
    uint64_t loop_generation;
    std::function<void()> fn;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.at != b.at ? a.at > b.at : a.order > b.order;
    }
  };
  std::priority_queue<Event, std::vector<Event>, Later> queue_;
  Nanos now_{0};
  uint64_t next_order_ = 0;
  uint64_t events_run_ = 0;
  uint64_t trace_ = 0xcbf29ce484222325ULL;
};

class SimEventLoop : public EventLoop {
 public:
  explicit SimEventLoop(SimScheduler& sched, Nanos wall_skew = Nanos(0));

  Nanos Now() const override { return sched_.now(); }
  Nanos WallNow() const override;
  std::unique_ptr<Timer> CreateTimer(std::function<void()> callback) override;
  void Post(std::function<void()> fn) override;

  // Events of a paused loop wait; Resume() releases them in order.
  void Pause() { paused_ = true; }
  void Resume();
  bool paused() const { return paused_; }
  // Drops every pending event of this loop (a crashed process).
  void Kill() { ++generation_; held_.clear(); }
  void set_wall_skew(Nanos skew) { wall_skew_ = skew; }
  SimScheduler& scheduler() { return sched_; }

 private:
  friend class SimScheduler;
  SimScheduler& sched_;
  Nanos wall_skew_;
  bool paused_ = false;
  uint64_t generation_ = 0;
  std::vector<std::function<void()>> held_;
};

}  // namespace bladesync
