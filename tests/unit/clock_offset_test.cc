// The managers estimate each peer's clock offset NTP-style from their
// heartbeats and hand it to their blades, so sync lag is measured right
// across chassis whose wall clocks disagree (README, Observability: Clocks).
#include <gtest/gtest.h>

#include <chrono>

#include "tests/support/sim_chassis_cluster.h"

namespace bladesync::testing {
namespace {

Nanos Abs(Nanos d) { return d < Nanos{0} ? -d : d; }

TEST(ClockOffset, EstimatedFromHeartbeatsAndHandedToTheBlades) {
  SimChassisCluster c(2, 1, 5);
  c.SetSkew(2, milliseconds(700));  // chassis 2's wall clock runs 700 ms ahead
  c.RunFor(seconds(3));
  // Symmetric latency on the simulator: the estimate is within a few
  // microseconds (the bound is half the round-trip asymmetry).
  EXPECT_LT(Abs(c.manager(1)->peers().at(2).clock_offset - milliseconds(700)), std::chrono::microseconds(100))
      << c.manager(1)->peers().at(2).clock_offset.count();
  EXPECT_LT(Abs(c.manager(2)->peers().at(1).clock_offset + milliseconds(700)), std::chrono::microseconds(100));
  // Each blade holds the offset of the owner it mirrors...
  EXPECT_LT(Abs(c.blade(1, 1)->standby(2)->clock_offset() - milliseconds(700)), std::chrono::microseconds(100));
  EXPECT_LT(Abs(c.blade(2, 1)->standby(1)->clock_offset() + milliseconds(700)), std::chrono::microseconds(100));
  // ...so a change's lag is the network's, not the skew.
  const uint8_t owner = c.TrafficChassis().at(0), mirror = owner == 1 ? 2 : 1;
  SessionFacts f;
  f.key = SessionKey::V4(0x0a000001, 0xc6336401, 40000, 443, kProtoTcp);
  c.blade(owner, 1)->CreateSession(f, SessionState{kTcpEstablished, 0, 3600});
  c.RunFor(milliseconds(100));
  const Nanos lag = c.blade(mirror, 1)->standby(owner)->last_apply_lag();
  EXPECT_GE(lag, Nanos{0});
  EXPECT_LT(lag, milliseconds(20)) << "lag " << lag.count() << " ns: the 700 ms skew leaked in";
}

// A clock that moves (stepped by NTP) is followed: the blades get the new offset.
TEST(ClockOffset, FollowsAClockThatSteps) {
  SimChassisCluster c(2, 1, 6);
  c.RunFor(seconds(2));
  EXPECT_LT(Abs(c.manager(1)->peers().at(2).clock_offset), std::chrono::microseconds(100));
  c.SetSkew(2, milliseconds(-250));
  c.RunFor(seconds(3));
  EXPECT_LT(Abs(c.manager(1)->peers().at(2).clock_offset + milliseconds(250)), std::chrono::microseconds(100));
  EXPECT_LT(Abs(c.blade(1, 1)->standby(2)->clock_offset() + milliseconds(250)), std::chrono::microseconds(100));
}

}  // namespace
}  // namespace bladesync::testing
