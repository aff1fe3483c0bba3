#include "manager/election.h"

namespace bladesync {

int CompareHard(const Candidate& a, const Candidate& b) {
  if (a.ready != b.ready) return a.ready ? -1 : 1;
  if (a.live_blades != b.live_blades) return a.live_blades > b.live_blades ? -1 : 1;
  if (a.monitored_up != b.monitored_up) return a.monitored_up > b.monitored_up ? -1 : 1;
  return 0;
}

int CompareCandidates(const Candidate& a, const Candidate& b, const ElectionOptions& opt) {
  if (int h = CompareHard(a, b)) return h;
  auto by_priority = [&]() { return a.priority == b.priority ? 0 : (a.priority > b.priority ? -1 : 1); };
  auto by_age = [&]() {
    const Nanos diff = a.uptime - b.uptime;
    if (diff > opt.uptime_margin) return -1;
    if (-diff > opt.uptime_margin) return 1;
    return 0;
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
  const Candidate* best = nullptr;
  for (const Candidate& c : candidates) {
    if (!best || CompareCandidates(c, *best, opt) < 0) best = &c;
  }
  return best ? best->chassis : 0;
}

}  // namespace bladesync
