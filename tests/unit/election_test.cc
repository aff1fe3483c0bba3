// The FGCP election order, table-driven and as properties.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
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

Candidate Failed(Candidate c) {
  c.remote_link_failed = true;
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
      {"a failed remote link loses to age and priority", {Failed(C(1, 4, 2, 1000, 255)), C(2, 4, 2, 10, 1)}, true, 2},
      {"but not to more monitored interfaces", {Failed(C(1, 4, 2, 10, 1)), C(2, 4, 1, 1000, 255)}, false, 1},
      {"both failed: a tie there", {Failed(C(1, 4, 2, 1000, 1)), Failed(C(2, 4, 2, 10, 255))}, false, 1},
  };
  for (const Row& r : rows) {
    o.override_ = r.override_;
    EXPECT_EQ(Elect(r.c, o), r.want) << r.why;
  }
  EXPECT_EQ(Elect({}, o), 0);
}

// The cycle pairwise margins make (issue 23 point 5): A ~ B and B ~ C by age
// (within 300 s), A > C by age, and priority A > B > C. Pairwise, A beats B,
// B beats C, C beats A: the winner depended on the order of the list.
TEST(Election, AgeMarginIsTransitive) {
  ElectionOptions o;
  const Candidate a = C(1, 4, 2, 0, 3), b = C(2, 4, 2, 200, 2), c = C(3, 4, 2, 400, 1);
  std::vector<Candidate> list = {a, b, c};
  std::sort(list.begin(), list.end(), [](const Candidate& x, const Candidate& y) { return x.chassis < y.chassis; });
  do {
    EXPECT_EQ(Elect(list, o), 2) << "B and C are senior (within 300 s of the oldest), B has the higher priority; order "
                                 << int(list[0].chassis) << int(list[1].chassis) << int(list[2].chassis);
  } while (std::next_permutation(list.begin(), list.end(),
                                 [](const Candidate& x, const Candidate& y) { return x.chassis < y.chassis; }));
}

std::vector<Candidate> RandomCandidates() {
  const int n = *rc::gen::inRange(1, 5);
  std::vector<Candidate> c;
  for (int i = 0; i < n; ++i) {
    c.push_back(C(static_cast<uint8_t>(i + 1), *rc::gen::inRange(0, 3), *rc::gen::inRange(0, 2),
                  *rc::gen::inRange(0, 1000), *rc::gen::inRange<uint8_t>(0, 4), *rc::gen::weightedElement<bool>({{4, true}, {1, false}})));
    c.back().serial = *rc::gen::element<std::string>("SN1", "SN2", "SN3");  // serials may tie
  }
  return c;
}

// For one list the comparison is a strict total order: irreflexive,
// antisymmetric, transitive, total (chassis ids are unique).
RC_GTEST_PROP(Election, CompareIsAStrictTotalOrder, ()) {
  const std::vector<Candidate> c = RandomCandidates();
  ElectionOptions o;
  o.override_ = *rc::gen::arbitrary<bool>();
  const Nanos from = SeniorFrom(c, o);
  for (const auto& x : c) {
    RC_ASSERT(CompareCandidates(x, x, o, from) == 0);
    for (const auto& y : c) {
      if (&x == &y) continue;
      const int xy = CompareCandidates(x, y, o, from), yx = CompareCandidates(y, x, o, from);
      RC_ASSERT(xy != 0);
      RC_ASSERT(xy == -yx);
      for (const auto& z : c) {
        if (xy < 0 && CompareCandidates(y, z, o, from) < 0) RC_ASSERT(CompareCandidates(x, z, o, from) < 0);
      }
    }
  }
}

// Every chassis elects the same winner, whatever order it reads the list in.
RC_GTEST_PROP(Election, WinnerDoesNotDependOnOrder, ()) {
  const std::vector<Candidate> c = RandomCandidates();
  ElectionOptions o;
  o.override_ = *rc::gen::arbitrary<bool>();
  const uint8_t w = Elect(c, o);
  std::vector<Candidate> shuffled = c;
  std::mt19937 rng(*rc::gen::arbitrary<uint32_t>());
  for (int i = 0; i < 6; ++i) {
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    RC_ASSERT(Elect(shuffled, o) == w);
  }
  // The winner ranks above everyone else.
  const Nanos from = SeniorFrom(c, o);
  const Candidate* win = nullptr;
  for (const auto& x : c) if (x.chassis == w) win = &x;
  RC_ASSERT(win != nullptr);
  for (const auto& x : c) if (&x != win) RC_ASSERT(CompareCandidates(*win, x, o, from) < 0);
}

}  // namespace
}  // namespace bladesync
