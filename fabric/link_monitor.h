// LinkMonitor: is M1 or M2 to one peer alive, and which one carries sync.
// Blades judge their streams' links with it, chassis managers their peers'.
//
// A link is alive while something was received on it within
// hb-interval x hb-lost-threshold. Sync uses M1 when it is alive, else M2
// when it is alive, else keeps trying M1. ActiveLink() reports a switch so
// the sender can resend what was not yet acknowledged on the new link.
//
//   LinkMonitor links(hb_interval * hb_lost_threshold);
//   links.OnReceive(Link::kM2, loop.Now());
//   if (links.Update(loop.Now())) ResendUnacked();
#pragma once

#include <algorithm>
#include <array>

#include "core/event_loop.h"
#include "fabric/transport.h"

namespace bladesync {

class LinkMonitor {
 public:
  // Both links are presumed up at `start` and lost only after lost_after
  // of silence: whichever link a peer is heard on first does not matter.
  LinkMonitor(Nanos lost_after, Nanos start) : lost_after_(lost_after) {
    last_rx_.fill(start);
    heard_.fill(true);
  }
  // Nothing heard yet: both links are down until a frame arrives on one (a
  // chassis manager's view of a peer: a start says nothing about it).
  explicit LinkMonitor(Nanos lost_after) : lost_after_(lost_after) {}

  void OnReceive(Link link, Nanos now) {
    if (link == Link::kBackplane) return;
    last_rx_[static_cast<int>(link)] = now;
    heard_[static_cast<int>(link)] = true;
  }
  bool alive(Link link, Nanos now) const {
    const int i = static_cast<int>(link);
    return heard_[i] && now - last_rx_[i] <= lost_after_;
  }
  // Recomputes the active link; true when it changed.
  bool Update(Nanos now) {
    const Link next = Best(now);
    const bool changed = next != active_;
    if (changed) ++switches_;
    active_ = next;
    return changed;
  }
  // When Update() may next change the active link: kLongAgo when it would
  // now, else when a link still alive falls silent for too long (a link
  // heard again counts from its frame, which wakes the owner anyway).
  Nanos next_change(Nanos now) const {
    Nanos due = kNever;
    for (Link l : {Link::kM1, Link::kM2}) {
      if (alive(l, now)) due = std::min(due, last_rx_[static_cast<int>(l)] + lost_after_ + Nanos(1));
    }
    return Best(now) != active_ ? kLongAgo : due;
  }
  Link active() const { return active_; }
  uint64_t switches() const { return switches_; }
  void set_lost_after(Nanos d) { lost_after_ = d; }

 private:
  // M1 while it is alive, else M2 while it is, else whichever was active.
  Link Best(Nanos now) const {
    return alive(Link::kM1, now) ? Link::kM1 : alive(Link::kM2, now) ? Link::kM2 : active_;
  }
  Nanos lost_after_{0};
  std::array<Nanos, kFabricLinks> last_rx_{};
  std::array<bool, kFabricLinks> heard_{};
  Link active_ = Link::kM1;
  uint64_t switches_ = 0;
};

}  // namespace bladesync
