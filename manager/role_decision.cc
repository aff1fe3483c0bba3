#include "manager/role_decision.h"

namespace bladesync {

const char* HaRoleName(HaRole r) {
  switch (r) {
    case HaRole::kUnknown: return "unknown";
    case HaRole::kPrimary: return "primary";
    case HaRole::kSecondary: return "secondary";
    case HaRole::kStandalone: return "standalone";
  }
  return "?";
}

namespace {
const Candidate* Find(const std::vector<Candidate>& c, uint8_t chassis) {
  for (const Candidate& k : c) {
    if (k.chassis == chassis) return &k;
  }
  return nullptr;
}
}  // namespace

RoleDecision DecideRole(const RoleInputs& in) {
  std::vector<Candidate> c = in.candidates;
  const uint8_t incumbent = in.incumbent;
  // An incumbent that is not ready is resyncing a mirror of a peer (a
  // change log that overflowed, a stream reset): what it owns and serves is
  // whole. Losing the role for that moved it to the peer and back again
  // with every resync under load (BENCHMARKS.md, false failovers). Not
  // ready still keeps a challenger from winning, and counts when two
  // primaries meet or on reset-uptime, where there is no one incumbent.
  if (incumbent && !in.two_primaries && !(in.reelect && incumbent == in.self)) {
    for (Candidate& k : c) {
      if (k.chassis == incumbent) k.ready = true;
    }
  }
  uint8_t winner = Elect(c, in.election);
  // Failback only under override: without it the incumbent primary keeps the
  // role unless the challenger is strictly better on what FGCP puts before
  // age (readiness, live blades, monitored interfaces). Two primaries (a
  // healed partition) fall back to the plain election.
  if (!in.election.override_ && incumbent && winner != incumbent && !in.two_primaries &&
      !(in.reelect && incumbent == in.self)) {
    const Candidate* inc = Find(c, incumbent);
    const Candidate* win = Find(c, winner);
    if (inc && win && CompareHard(*win, *inc) >= 0) winner = incumbent;
  }
  // Only to a holder of the incumbent's sessions, unless traffic demands it.
  if (incumbent && winner != incumbent) {
    const Candidate* inc = Find(c, incumbent);
    const Candidate* win = Find(c, winner);
    if (inc && win) {
      const bool forced = win->live_blades > inc->live_blades || win->monitored_up > inc->monitored_up ||
                          (inc->remote_link_failed && !win->remote_link_failed);
      if (!forced && in.holds && !in.holds(winner, incumbent)) winner = incumbent;
    }
  }
  RoleDecision d;
  d.primary = winner;
  d.role = c.size() == 1 ? HaRole::kStandalone : winner == in.self ? HaRole::kPrimary : HaRole::kSecondary;
  return d;
}

}  // namespace bladesync
