// The FGCP election order, table-driven and as properties.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "manager/election.h"

namespace bladesync {
namespace {

Candidate C(uint8_t id, int blades, int mon, int up_s, uint8_t prio, bool ready = true) {
  Candidate c;
  c.chassis = id;
  c.live_blades = blades;
  c.monitored_up = mon;
  c.uptime = seconds(up_s);
  c.priority = prio;
  c.serial = "SN" + std::to_string(id);
  c.ready = ready;
  return c;
}

TEST(Election, FgcpOrder) {
  ElectionOptions o;
  struct Row {
    const char* why;
    std::vector<Candidate> c;
    bool override_;
    uint8_t want;
  } rows[] = {
      {"more live blades wins over everything", {C(1, 3, 2, 9000, 255), C(2, 4, 0, 10, 1)}, false, 2},
      {"then more monitored interfaces", {C(1, 4, 1, 9000, 255), C(2, 4, 2, 10, 1)}, false, 2},
      {"then age beyond the margin", {C(1, 4, 2, 1000, 1), C(2, 4, 2, 10, 255)}, false, 1},
      {"age within the margin is a tie: priority", {C(1, 4, 2, 100, 1), C(2, 4, 2, 10, 255)}, false, 2},
      {"override: priority before age", {C(1, 4, 2, 1000, 1), C(2, 4, 2, 10, 255)}, true, 2},
      {"override still after blades", {C(1, 4, 2, 10, 1), C(2, 3, 2, 10, 255)}, true, 1},
      {"serial breaks the last tie", {C(1, 4, 2, 10, 100), C(2, 4, 2, 10, 100)}, false, 2},
      {"not ready never wins over ready", {C(1, 4, 2, 1000, 255, false), C(2, 1, 0, 10, 1)}, false, 2},
  };
  for (const Row& r : rows) {
    o.override_ = r.override_;
    EXPECT_EQ(Elect(r.c, o), r.want) << r.why;
  }
  EXPECT_EQ(Elect({}, o), 0);
}

RC_GTEST_PROP(Election, WinnerDoesNotDependOnOrder, ()) {
  const int n = *rc::gen::inRange(1, 5);
  std::vector<Candidate> c;
  for (int i = 0; i < n; ++i) {
    c.push_back(C(static_cast<uint8_t>(i + 1), *rc::gen::inRange(0, 5), *rc::gen::inRange(0, 3),
                  *rc::gen::inRange(0, 2000), *rc::gen::arbitrary<uint8_t>(), *rc::gen::arbitrary<bool>()));
  }
  ElectionOptions o;
  o.override_ = *rc::gen::arbitrary<bool>();
  const uint8_t w = Elect(c, o);
  std::vector<Candidate> shuffled = *rc::gen::container<std::vector<Candidate>>(n, rc::gen::just(c[0]));
  shuffled = c;
  std::reverse(shuffled.begin(), shuffled.end());
  RC_ASSERT(Elect(shuffled, o) == w);
  // The winner is at least as good as everyone.
  const Candidate* win = nullptr;
  for (const auto& x : c) if (x.chassis == w) win = &x;
  for (const auto& x : c) RC_ASSERT(CompareCandidates(*win, x, o) <= 0);
}

}  // namespace
}  // namespace bladesync
