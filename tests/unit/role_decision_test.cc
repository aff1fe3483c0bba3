// DecideRole by table: each row is what a chassis manager knows at one
// moment, and the primary and role it must decide.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>

#include "manager/role_decision.h"

namespace bladesync {
namespace {

Candidate C(uint8_t id, int blades = 2, uint8_t priority = 128, int uptime_s = 1000, bool ready = true,
            int monitored = 0, bool remote_failed = false) {
  Candidate k;
  k.chassis = id;
  k.live_blades = blades;
  k.priority = priority;
  k.uptime = seconds(uptime_s);
  k.ready = ready;
  k.monitored_up = monitored;
  k.remote_link_failed = remote_failed;
  k.serial = "S" + std::to_string(id);
  return k;
}

struct Row {
  const char* what;
  uint8_t self;
  std::vector<Candidate> candidates;
  uint8_t incumbent;
  bool override_ = false;
  bool two_primaries = false;
  bool reelect = false;
  std::set<std::pair<uint8_t, uint8_t>> not_holding;  // (winner, incumbent) pairs that do not hold
  uint8_t primary;
  HaRole role;
};

TEST(RoleDecision, ByTable) {
  const std::vector<Row> rows = {
      {"alone: standalone", 1, {C(1)}, 0, false, false, false, {}, 1, HaRole::kStandalone},
      {"no incumbent: the election (older uptime wins)", 2, {C(2, 2, 128, 100), C(1, 2, 128, 1000)}, 0, false, false,
       false, {}, 1, HaRole::kSecondary},
      {"higher priority does not take the role from an incumbent without override", 2,
       {C(2, 2, 200), C(1, 2, 100)}, 1, false, false, false, {}, 1, HaRole::kSecondary},
      {"with override the higher priority takes it", 2, {C(2, 2, 200), C(1, 2, 100)}, 1, true, false, false, {}, 2,
       HaRole::kPrimary},
      {"more live blades take it from the incumbent", 2, {C(2, 3), C(1, 2)}, 1, false, false, false, {}, 2,
       HaRole::kPrimary},
      {"more live blades take it even from a chassis whose sessions are not held", 2, {C(2, 3), C(1, 2)}, 1, false,
       false, false, {{2, 1}}, 2, HaRole::kPrimary},
      {"override does not move it to a chassis that does not hold the incumbent's sessions", 2,
       {C(2, 2, 200), C(1, 2, 100)}, 1, true, false, false, {{2, 1}}, 1, HaRole::kSecondary},
      {"a chassis not ready (bulk sync running) cannot win", 1, {C(1, 2, 100, 1000), C(2, 2, 200, 1000, false)}, 0,
       true, false, false, {}, 1, HaRole::kPrimary},
      {"two primaries: the plain election decides", 1, {C(1, 2, 128, 100), C(2, 2, 128, 1000)}, 1, false, true, false,
       {}, 2, HaRole::kSecondary},
      {"reset-uptime on the incumbent: the plain election decides once", 1,
       {C(1, 2, 100, 0), C(2, 2, 200, 1000)}, 1, false, false, true, {}, 2, HaRole::kSecondary},
      {"a monitored interface down moves the role", 1, {C(1, 2, 128, 1000, true, 1), C(2, 2, 128, 100, true, 2)}, 1,
       false, false, false, {{2, 1}}, 2, HaRole::kSecondary},
      {"reset-uptime on a secondary does not let a better-aged chassis take the role", 2,
       {C(2, 2, 200, 5000), C(1, 2, 100, 1000)}, 1, false, false, true, {}, 1, HaRole::kSecondary},
      {"an incumbent no longer in the running: the election", 2, {C(2, 2, 100, 100), C(3, 2, 200, 100)}, 1, false,
       false, false, {}, 3, HaRole::kSecondary},
      {"a challenger not ready cannot take the role even with override", 2,
       {C(2, 2, 250, 1000, false), C(1, 2, 100, 1000)}, 1, true, false, false, {}, 1, HaRole::kSecondary},
      {"an incumbent not ready (resyncing a mirror) keeps the role", 2, {C(2, 2), C(1, 2, 128, 1000, false)}, 1,
       false, false, false, {}, 1, HaRole::kSecondary},
      {"an incumbent not ready keeps it with override too", 2, {C(2, 2, 100), C(1, 2, 250, 1000, false)}, 1, true,
       false, false, {}, 1, HaRole::kSecondary},
      {"an incumbent not ready still loses it to more live blades", 2, {C(2, 3), C(1, 2, 128, 1000, false)}, 1, false,
       false, false, {}, 2, HaRole::kPrimary},
      {"two primaries, one not ready: the ready one", 1, {C(1, 2, 128, 1000, false), C(2, 2, 128, 100)}, 1, false,
       true, false, {}, 2, HaRole::kSecondary},
      {"a failed remote link moves the role", 1,
       {C(1, 2, 128, 1000, true, 0, true), C(2, 2, 128, 100, true, 0, false)}, 1, false, false, false, {{2, 1}}, 2,
       HaRole::kSecondary},
  };
  for (const Row& r : rows) {
    RoleInputs in;
    in.self = r.self;
    in.candidates = r.candidates;
    in.incumbent = r.incumbent;
    in.two_primaries = r.two_primaries;
    in.reelect = r.reelect;
    in.election.override_ = r.override_;
    in.holds = [&](uint8_t w, uint8_t i) { return r.not_holding.count({w, i}) == 0; };
    const RoleDecision d = DecideRole(in);
    EXPECT_EQ(int(d.primary), int(r.primary)) << r.what;
    EXPECT_EQ(HaRoleName(d.role), std::string(HaRoleName(r.role))) << r.what;
  }
}

}  // namespace
}  // namespace bladesync
