// Election: which chassis is primary, in FGCP order.
//
// A pure function of what each chassis advertises in its heartbeats:
//   1. more live blades
//   2. more connected monitored interfaces, then a remote link that has
//      not failed (link monitors, pingserver-failover-threshold)
//   3. age: a chassis whose uptime is within the margin of the oldest
//      (among those equal on 1 and 2) is senior, the others junior
//      (FortiOS compares pairs with the margin, which is not an order:
//      A > C by age while A ~ B ~ C, and priority can put C over B over A,
//      so chassis reading the candidates in another order could elect
//      another winner; for two chassis both rules agree)
//   4. higher priority
//   5. higher serial (chassis id as the last tie-break)
// With override, priority is compared before uptime. A chassis that is not
// ready (bulk sync running) cannot win over one that is.
//
//   std::vector<Candidate> c = {...};
//   uint8_t primary = Elect(c, ElectionOptions{.override_ = false});
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/event_loop.h"

namespace bladesync {

struct Candidate {
  uint8_t chassis = 0;
  int live_blades = 0;
  int monitored_up = 0;
  bool remote_link_failed = false;
  Nanos uptime{0};
  uint8_t priority = 128;
  std::string serial;
  bool ready = true;
};

struct ElectionOptions {
  bool override_ = false;
  Nanos uptime_margin = seconds(300);  // ha-uptime-diff-margin
};

// Uptime from which a candidate of `c` counts as senior: the oldest of the
// best-placed (readiness, blades, monitored interfaces) minus the margin.
Nanos SeniorFrom(const std::vector<Candidate>& c, const ElectionOptions& opt);
// A strict total order for one candidate list (senior_from = SeniorFrom(list)).
// Returns < 0 when a ranks above b (a is preferred).
int CompareCandidates(const Candidate& a, const Candidate& b, const ElectionOptions& opt, Nanos senior_from);
// Only what FGCP ranks before age and priority: readiness, live blades,
// connected monitored interfaces, remote link. < 0 when a is strictly better.
int CompareHard(const Candidate& a, const Candidate& b);
// The winner's chassis id, or 0 when there is no candidate.
uint8_t Elect(const std::vector<Candidate>& candidates, const ElectionOptions& opt);

}  // namespace bladesync
