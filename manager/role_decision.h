// DecideRole: which chassis is primary and what this one's role is, from
// what the chassis manager knows at one moment. Pure (no clock, no
// network): the manager gathers the inputs, tests give them as a table
// (tests/unit/role_decision_test.cc).
//
// On top of the election (manager/election.h):
//   - without override the incumbent keeps the role unless the challenger
//     is strictly better on what FGCP ranks before age (readiness, live
//     blades, monitored interfaces, remote link); with override (or a
//     manual failover) the plain election decides;
//   - the incumbent's readiness does not count against it (it is resyncing
//     a mirror, what it owns is whole); a challenger must be ready to win;
//   - two primaries (a healed partition) fall back to the plain election;
//   - a reset-uptime on the incumbent lets the plain election decide once;
//   - the role moves only to a chassis that holds the incumbent's sessions,
//     unless lost blades, monitored interfaces or a failed remote link move
//     it regardless (traffic first).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "manager/election.h"

namespace bladesync {

enum class HaRole : uint8_t { kUnknown = 0, kPrimary = 1, kSecondary = 2, kStandalone = 3 };
const char* HaRoleName(HaRole r);

struct RoleInputs {
  uint8_t self = 0;
  std::vector<Candidate> candidates;  // this chassis and every peer still in the running
  uint8_t incumbent = 0;              // the primary now, as far as we know (0: none)
  bool two_primaries = false;         // we are primary and a peer says it is too
  bool reelect = false;               // diagnose sys ha reset-uptime on this chassis
  ElectionOptions election;           // override_ set for override or a manual failover
  // Whether `winner` holds what `incumbent` owns, where this chassis can
  // know it (one of the two is this chassis); true otherwise.
  std::function<bool(uint8_t winner, uint8_t incumbent)> holds;
};

struct RoleDecision {
  uint8_t primary = 0;
  HaRole role = HaRole::kUnknown;
};

RoleDecision DecideRole(const RoleInputs& in);

}  // namespace bladesync
