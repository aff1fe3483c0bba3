#include "runtime/loop_watchdog.h"

namespace bladesync {

LoopWatchdog::LoopWatchdog(std::vector<Watched> loops, Nanos stale_after)
    : loops_(std::move(loops)), stale_after_(stale_after) {
  for (size_t i = 0; i < loops_.size(); ++i) {
    auto s = std::make_shared<State>();
    s->last_turn_ns = NowNs();  // started just now: turning until shown otherwise
    states_.push_back(std::move(s));
  }
}

int64_t LoopWatchdog::NowNs() const { return loops_.empty() ? 0 : loops_[0].loop->Now().count(); }

void LoopWatchdog::Probe() {
  // Four probes per stale_after tell a stuck loop in time; more would wake
  // every idle loop for nothing.
  const int64_t now = NowNs();
  if (now - last_probe_ns_ < stale_after_.count() / 4) return;
  last_probe_ns_ = now;
  for (size_t i = 0; i < loops_.size(); ++i) {
    std::shared_ptr<State> s = states_[i];
    if (s->pending.exchange(true)) continue;  // the last one has not run yet
    EventLoop* loop = loops_[i].loop;
    loop->Post([s, loop] {
      s->last_turn_ns = loop->Now().count();
      s->pending = false;
    });
  }
}

bool LoopWatchdog::Turning(size_t i) const { return NowNs() - states_[i]->last_turn_ns.load() <= stale_after_.count(); }

bool LoopWatchdog::AllTurning(std::string* stuck) const {
  for (size_t i = 0; i < loops_.size(); ++i) {
    if (!Turning(i)) {
      if (stuck) *stuck = loops_[i].name;
      return false;
    }
  }
  return true;
}

}  // namespace bladesync
