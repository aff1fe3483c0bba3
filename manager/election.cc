#include "manager/election.h"

#include <algorithm>

namespace bladesync {

int CompareHard(const Candidate& a, const Candidate& b) {
  if (a.ready != b.ready) return a.ready ? -1 : 1;
  if (a.live_blades != b.live_blades) return a.live_blades > b.live_blades ? -1 : 1;
  if (a.monitored_up != b.monitored_up) return a.monitored_up > b.monitored_up ? -1 : 1;
  if (a.remote_link_failed != b.remote_link_failed) return a.remote_link_failed ? 1 : -1;
  return 0;
}

Nanos SeniorFrom(const std::vector<Candidate>& c, const ElectionOptions& opt) {
  const Candidate* best = nullptr;
  for (const Candidate& x : c) {
    if (!best || CompareHard(x, *best) < 0) best = &x;
  }
  Nanos oldest{0};
  for (const Candidate& x : c) {
    if (best && CompareHard(x, *best) == 0) oldest = std::max(oldest, x.uptime);
  }
  return oldest - opt.uptime_margin;
}

int CompareCandidates(const Candidate& a, const Candidate& b, const ElectionOptions& opt, Nanos senior_from) {
  if (int h = CompareHard(a, b)) return h;
  auto by_priority = [&]() { return a.priority == b.priority ? 0 : (a.priority > b.priority ? -1 : 1); };
  auto by_age = [&]() {
    const bool sa = a.uptime >= senior_from, sb = b.uptime >= senior_from;
    return sa == sb ? 0 : (sa ? -1 : 1);
  };
  if (opt.override_) {
    if (int p = by_priority()) return p;
    if (int g = by_age()) return g;
  } else {
    if (int g = by_age()) return g;
    if (int p = by_priority()) return p;
  }
  if (a.serial != b.serial) return a.serial > b.serial ? -1 : 1;
  if (a.chassis != b.chassis) return a.chassis > b.chassis ? -1 : 1;
  return 0;
}

uint8_t Elect(const std::vector<Candidate>& candidates, const ElectionOptions& opt) {
  const Nanos senior_from = SeniorFrom(candidates, opt);
  const Candidate* best = nullptr;
  for (const Candidate& c : candidates) {
    if (!best || CompareCandidates(c, *best, opt, senior_from) < 0) best = &c;
  }
  return best ? best->chassis : 0;
}

}  // namespace bladesync
