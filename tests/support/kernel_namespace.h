// The kernel tests' own network namespace: EnterConntrackNamespace() moves
// the process into a fresh one (unshare) with nf_conntrack loaded, or says
// why it cannot ("" when it could), so a test skips with that message.
#pragma once

#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace bladesync::testing {

inline std::string EnterConntrackNamespace() {
  if (geteuid() != 0) return "needs root";
  if (unshare(CLONE_NEWNET) != 0) return "cannot create a network namespace";
  std::system("modprobe nf_conntrack 2>/dev/null");
  if (!std::ifstream("/proc/sys/net/netfilter/nf_conntrack_max")) return "the kernel has no nf_conntrack";
  return "";
}

// The kernel keeps conntrack labels only while something uses them (an
// nftables rule reading or setting one, as a firewall that labels has).
// True when the rule is in; a test asserts it, so a missing nft fails with
// that reason rather than as labels that did not come back.
[[nodiscard]] inline bool UseConnLabels() {
  return std::system("nft add table inet bladesync_test_labels && nft add chain inet bladesync_test_labels c && "
                     "nft add rule inet bladesync_test_labels c ct label set 127") == 0;
}

}  // namespace bladesync::testing
