// MonotonicNow: the clock for code that runs off any EventLoop (a worker
// thread's timeout, a tool's stopwatch). Logic on a loop reads the loop's
// clock instead, so the simulator can replay it; no file outside core/
// reads a clock itself (tests/unit/layering_test.sh checks).
#pragma once

#include "core/event_loop.h"

namespace bladesync {

Nanos MonotonicNow();

}  // namespace bladesync
