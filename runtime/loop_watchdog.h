// LoopWatchdog: tells whether every event loop of the process still turns.
//
// Time is the loops' own clock (they share one). Each Probe() posts a tiny task to every loop that has answered the last
// one; a loop whose task has not run for `stale_after` is stuck (a blocked
// handler, a deadlock). systemd's watchdog is pinged only while none is, so
// a hung blade thread gets the whole process restarted.
//
//   LoopWatchdog w({&manager_loop, &blade1_loop}, milliseconds(500));
//   w.Probe();                       // from the main thread, every few 100 ms
//   if (w.AllTurning()) notifier.WatchdogPing();
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/event_loop.h"

namespace bladesync {

class LoopWatchdog {
 public:
  struct Watched {
    std::string name;  // for the log: "manager", "blade2"
    EventLoop* loop;
  };
  LoopWatchdog(std::vector<Watched> loops, Nanos stale_after);

  // Posts a probe to each loop, at most every stale_after / 4 however often called.
  void Probe();
  // Every loop ran a probe within stale_after; names the first that did not.
  bool AllTurning(std::string* stuck = nullptr) const;
  // Loop i (in the order given) ran a probe within stale_after.
  bool Turning(size_t i) const;

 private:
  struct State {
    std::atomic<int64_t> last_turn_ns{0};  // steady clock, when its probe last ran
    std::atomic<bool> pending{false};      // a probe is queued on it
  };
  int64_t NowNs() const;
  std::vector<Watched> loops_;
  // Shared with the posted tasks: a loop may run one after we are gone.
  std::vector<std::shared_ptr<State>> states_;
  Nanos stale_after_;
  int64_t last_probe_ns_ = INT64_MIN / 2;
};

}  // namespace bladesync
