// Election: which chassis is primary, in FGCP order.
//
// A pure function of what each chassis advertises in its heartbeats:
//   1. more live blades
//   2. more connected monitored interfaces
//   3. longer uptime, when the difference is above the margin (age)
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
  Nanos uptime{0};
  uint8_t priority = 128;
  std::string serial;
  bool ready = true;
};

struct ElectionOptions {
  bool override_ = false;
  Nanos uptime_margin = seconds(300);  // ha-uptime-diff-margin
};

// Returns < 0 when a ranks above b (a is preferred).
int CompareCandidates(const Candidate& a, const Candidate& b, const ElectionOptions& opt);
// Only what FGCP ranks before age and priority: readiness, live blades,
// connected monitored interfaces. < 0 when a is strictly better.
int CompareHard(const Candidate& a, const Candidate& b);
// The winner's chassis id, or 0 when there is no candidate.
uint8_t Elect(const std::vector<Candidate>& candidates, const ElectionOptions& opt);

}  // namespace bladesync
