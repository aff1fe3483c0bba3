// `bladesync execute ha upgrade --restart-command CMD`: the rolling upgrade
// FortiOS runs with `set upgrade-mode uninterruptible`, driven from the
// primary's control socket. Every secondary first (CMD restarts it on the
// new release; each must be back and in sync), then a handover to one of
// them, then this chassis. Nothing it does goes around the cluster's own
// safety: the handover moves the role only once the successor holds every
// stream of this chassis (adopt before relinquish).
#pragma once

#include <string>

namespace bladesync {

struct UpgradeOptions {
  std::string endpoint;         // this chassis's control socket (the primary's)
  std::string restart_command;  // run by /bin/sh -c, {chassis} replaced; returns once the old daemon stopped
  int timeout_s = 300;          // for each step
};

// Exit codes as the CLI's: 0 done, 1 a step failed (the cluster is left as
// it stands, which the output says), 3 the chassis does not answer.
int RollingUpgrade(const UpgradeOptions& o);

}  // namespace bladesync
