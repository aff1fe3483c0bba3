// LoopWatchdog on virtual time: a stuck loop is named within stale_after,
// turning loops are not, and probing often does not wake idle loops often.
#include "runtime/loop_watchdog.h"

#include <gtest/gtest.h>

#include "sim/sim_event_loop.h"

namespace bladesync {
namespace {

TEST(LoopWatchdog, NamesAStuckLoopAndWakesIdleLoopsFourTimesPerStaleAfter) {
  SimScheduler sched;
  SimEventLoop manager(sched), blade(sched);
  LoopWatchdog w({{"manager", &manager}, {"blade1", &blade}}, seconds(4));
  // The daemon's main thread probes every 250 ms.
  auto every_250ms = [&](Nanos d) {
    for (Nanos end = sched.now() + d; sched.now() < end;) {
      w.Probe();
      sched.RunFor(milliseconds(250));
    }
  };
  const uint64_t before = sched.events_run();
  every_250ms(seconds(8));
  EXPECT_TRUE(w.AllTurning());
  // 8 s, a probe per loop every second: 16 events, not the 64 of probing
  // at every call.
  EXPECT_LE(sched.events_run() - before, 2u * 9);
  EXPECT_GE(sched.events_run() - before, 2u * 7);

  blade.Pause();  // a handler that never returns
  every_250ms(seconds(3));
  EXPECT_TRUE(w.AllTurning()) << "stuck for less than stale_after";
  every_250ms(seconds(2));
  std::string stuck;
  EXPECT_FALSE(w.AllTurning(&stuck));
  EXPECT_EQ(stuck, "blade1");
  blade.Resume();
  every_250ms(seconds(2));
  EXPECT_TRUE(w.AllTurning());
}

}  // namespace
}  // namespace bladesync
