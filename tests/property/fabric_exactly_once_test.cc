// Property: over a network that drops, duplicates, delays and reorders
// frames, and cuts M1, M2 or both, every mirror applies each owner's deltas
// in order and exactly once (each sequence number once, contiguous, a new
// snapshot being the only restart), and converges once the faults stop.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>

#include "tests/support/sim_cluster.h"

namespace bladesync::testing {
namespace {

RC_GTEST_PROP(FabricExactlyOnce, InOrderExactlyOnceAndConvergent, ()) {
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  const int chassis = *rc::gen::inRange(2, 5);
  SimBlades c(chassis, 1, seed, [](BladeConfig& b) { b.max_batch = 64; });
  SimFaults faults;
  faults.drop = *rc::gen::element(0.0, 0.02, 0.1, 0.3);
  faults.duplicate = *rc::gen::element(0.0, 0.05, 0.2);
  faults.delay = *rc::gen::element(0.0, 0.1, 0.5);
  c.net().faults() = faults;

  // next expected seq per (mirror, origin); a violation is recorded, not thrown
  // inside the simulator.
  std::map<std::pair<int, int>, uint64_t> expect;
  std::string violation;
  for (int m = 1; m <= chassis; ++m) {
    c.blade(m, 1).set_apply_observer([&, m](uint8_t origin, uint64_t first, uint32_t n, bool begin) {
      auto key = std::make_pair(m, int(origin));
      auto it = expect.find(key);
      if (!begin && it != expect.end() && first != it->second && violation.empty()) {
        violation = "mirror " + std::to_string(m) + " of " + std::to_string(origin) + " applied seq " +
                    std::to_string(first) + " expecting " + std::to_string(it->second);
      }
      if (it != expect.end() && begin && first < it->second && violation.empty()) {
        violation = "a snapshot restarted behind what was applied";
      }
      expect[key] = first + n;
    });
  }
  std::vector<std::vector<uint32_t>> ids(chassis + 1);
  uint32_t next_key = 0;
  int cuts = 0;
  const int steps = *rc::gen::inRange(5, 60);
  for (int i = 0; i < steps; ++i) {
    const int op = *rc::gen::inRange(0, 10);
    const int owner = *rc::gen::inRange(1, chassis + 1);
    BladeAgent& a = c.blade(owner, 1);
    if (op < 4) {
      const int n = *rc::gen::inRange(1, 300);
      for (int k = 0; k < n; ++k) {
        ids[owner].push_back(a.CreateSession(TcpFacts(next_key++), SessionState{kTcpSynSent, 0, 3600}));
      }
    } else if (op < 6 && !ids[owner].empty()) {
      for (size_t k = *rc::gen::inRange<size_t>(0, 5); k < ids[owner].size(); k += 7) {
        a.ChangeState(ids[owner][k], SessionState{kTcpEstablished, 0, 3600});
      }
    } else if (op < 7 && !ids[owner].empty()) {
      const size_t k = *rc::gen::inRange<size_t>(0, ids[owner].size());
      a.DeleteSession(ids[owner][k], kDeleteClosed);
      ids[owner].erase(ids[owner].begin() + static_cast<long>(k));
    } else if (op < 8) {
      const int other = 1 + (owner % chassis);
      const Link link = *rc::gen::element(Link::kM1, Link::kM2);
      if (c.net().is_cut(owner, other, link)) {
        c.net().Restore(owner, other, link);
      } else {
        c.net().Cut(owner, other, link);
        ++cuts;
      }
    } else {
      c.RunFor(milliseconds(*rc::gen::inRange(1, 1500)));
    }
  }
  // Quiesce: links back, faults off, time for retransmits and resyncs.
  for (int x = 1; x <= chassis; ++x)
    for (int y = x + 1; y <= chassis; ++y)
      for (Link l : {Link::kM1, Link::kM2}) c.net().Restore(static_cast<uint8_t>(x), static_cast<uint8_t>(y), l);
  c.net().faults() = SimFaults{};
  c.RunFor(seconds(3));
  RC_ASSERT(violation.empty());
  std::string why;
  RC_ASSERT(c.MirrorsMatch(&why));
  RC_CLASSIFY(cuts > 0, "link cuts");
  RC_CLASSIFY(faults.drop > 0, "drops");
  RC_CLASSIFY(chassis > 2, "3-4 chassis");
}

}  // namespace
}  // namespace bladesync::testing
