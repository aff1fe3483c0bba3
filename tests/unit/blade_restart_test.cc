// A blade restarting on its own (a blade process, a board) with a new
// epoch, faster than blade-hb-lost-threshold x hb-interval or slower. Its
// previous incarnation's sessions live on at its mirror in the other
// chassis: whatever the timing and the mode, each one ends up owned by
// exactly one blade of a chassis that processes traffic, and mirrored.
#include <gtest/gtest.h>

#include <string>

#include "tests/support/sim_chassis_cluster.h"

namespace bladesync::testing {
namespace {

constexpr uint32_t kSessions = 2000;

SessionKey KeyOf(uint32_t n) {
  return SessionKey::V4(0x0a000000 + n, 0xc6336401, static_cast<uint16_t>(1024 + n), 443, kProtoTcp);
}

struct Case {
  const char* name;
  bool active_active;
  Nanos down_for;  // from the blade's death to its new incarnation's start
  uint8_t chassis = 1;  // whose blade in slot 1 restarts (chassis 1 is the primary)
  Nanos hb = milliseconds(100);  // hb-interval of blades and managers alike
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class BladeRestartTest : public ::testing::TestWithParam<Case> {
 protected:
  BladeRestartTest() : c_(2, 2, 41, Options(GetParam())) {}
  static SimClusterOptions Options(const Case& c) {
    SimClusterOptions o;
    const HaMode mode = c.active_active ? HaMode::kActiveActive : HaMode::kActivePassive;
    const Nanos hb = c.hb;
    o.blade = [mode, hb](BladeConfig& b) {
      b.pickup.mode = mode;
      b.hb_interval = hb;
      if (hb > milliseconds(100)) b.hb_lost_threshold = 6;  // as the managers' (one config)
    };
    o.manager = [mode, hb](ManagerConfig& m) {
      m.mode = mode;
      m.hb_interval = hb;
      if (hb > milliseconds(100)) m.hb_lost_threshold = 6;
    };
    return o;
  }
  // How many live blades own key n, and whether one of them is on a chassis
  // that processes traffic.
  int Owners(uint32_t n, bool* on_traffic) {
    int owners = 0;
    *on_traffic = false;
    for (uint8_t ch = 1; ch <= 2; ++ch) {
      for (uint8_t s = 1; s <= 2; ++s) {
        BladeAgent* b = c_.blade(ch, s);
        if (!b || !b->owned().Find(KeyOf(n))) continue;
        ++owners;
        *on_traffic |= c_.manager(ch)->processes_traffic();
      }
    }
    return owners;
  }
  SimChassisCluster c_;
};

TEST_P(BladeRestartTest, ThePreviousIncarnationsSessionsKeepOneOwner) {
  // Times in units of the default 100 ms heartbeat, so slow heartbeats scale them.
  const auto scaled = [](Nanos t) { return t * (GetParam().hb / milliseconds(100)); };
  c_.RunFor(scaled(seconds(2)));
  ASSERT_EQ(c_.manager(1)->role(), HaRole::kPrimary);
  for (uint32_t n = 0; n < kSessions; ++n) {
    SessionFacts f;
    f.key = KeyOf(n);
    c_.blade(1, 1)->CreateSession(f, SessionState{kTcpEstablished, 0, 3600u});
  }
  c_.RunFor(scaled(seconds(1)));
  ASSERT_EQ(c_.blade(2, 1)->standby(1)->store().live(), kSessions);

  const uint8_t ch = GetParam().chassis;
  c_.KillBlade(ch, 1);
  c_.RunFor(GetParam().down_for);
  c_.RestartBlade(ch, 1, 777);
  c_.RunFor(scaled(seconds(6)));  // past the orphans' keeping time

  // Its manager took it as dead then back when it came back before its
  // reports were missed (blade-hb-lost-threshold x hb-interval).
  const bool fast = GetParam().down_for < GetParam().hb * 5;
  EXPECT_EQ(c_.manager(ch)->blade_restarts(), fast ? 1u : 0u);
  EXPECT_TRUE(c_.manager(ch)->blades()[0].live) << "the new incarnation is back";

  ASSERT_GE(c_.TrafficChassis().size(), 1u);
  int lost = 0, twice = 0, off_traffic = 0;
  for (uint32_t n = 0; n < kSessions; ++n) {
    bool on_traffic = false;
    const int owners = Owners(n, &on_traffic);
    lost += owners == 0;
    twice += owners > 1;
    off_traffic += owners == 1 && !on_traffic;
  }
  EXPECT_EQ(lost, 0) << "sessions of the previous incarnation that nobody owns";
  EXPECT_EQ(twice, 0) << "sessions owned twice";
  EXPECT_EQ(off_traffic, 0) << "sessions owned only on a chassis that processes no traffic";
  std::string why;
  EXPECT_TRUE(c_.MirrorsMatch(&why)) << why;
  if (!GetParam().active_active) {
    // The primary's dead blade moves the role; a secondary's does not.
    EXPECT_EQ(c_.manager(ch == 1 ? 2 : 1)->role(), HaRole::kPrimary);
    EXPECT_EQ(c_.TrafficChassis().size(), 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Timings, BladeRestartTest,
    ::testing::Values(Case{"ActivePassiveFasterThanDetection", false, milliseconds(100)},
                      Case{"ActivePassiveAtOnce", false, milliseconds(1)},
                      Case{"ActivePassiveAfterDetection", false, seconds(1)},
                      Case{"ActiveActiveFasterThanDetection", true, milliseconds(100)},
                      Case{"ActiveActiveAfterDetection", true, seconds(1)},
                      Case{"ActivePassiveSecondaryFasterThanDetection", false, milliseconds(100), 2},
                      Case{"ActiveActiveOtherChassisFasterThanDetection", true, milliseconds(100), 2},
                      // hb-interval 20 (2 s), hb-lost-threshold 6: a handover takes
                      // seconds, longer than the one second a restart was once held at most.
                      Case{"ActivePassiveSlowHeartbeats", false, milliseconds(100), 1, seconds(2)},
                      Case{"ActiveActiveSlowHeartbeats", true, milliseconds(100), 1, seconds(2)}),
    [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace bladesync::testing
