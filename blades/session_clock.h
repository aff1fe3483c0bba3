// SessionClock: session timers run in deciseconds since the blade started,
// read from the loop's coarse clock.
#pragma once

#include <cstdint>

#include "core/event_loop.h"

namespace bladesync {

struct SessionClock {
  const EventLoop* loop;
  Nanos start;

  uint32_t NowDs() const { return static_cast<uint32_t>((loop->CoarseNow() - start) / milliseconds(100)); }
  uint32_t ExpiryDs(uint32_t timeout_s) const { return NowDs() + timeout_s * 10; }
};

}  // namespace bladesync
