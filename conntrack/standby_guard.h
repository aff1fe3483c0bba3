// StandbyGuard: with standby-in-kernel, a secondary's kernel holds
// established entries for sessions another chassis owns. The plain kernel
// would have none and drop their packets; so must a secondary. While this
// chassis is not primary, an nftables table of its own
// (`inet bladesync_standby`, a forward chain ahead of the usual filters)
// drops forwarded packets whose ct mark carries standby-mark; on becoming
// primary the table goes, in one transaction, before the cluster
// addresses come. It uses the `nft` tool (Debian's nftables).
//
//   StandbyGuard g(0x80000000);
//   g.Raise();   // at start and on demotion
//   g.Lower();   // on becoming primary
#pragma once

#include <cstdint>
#include <string>

#include "core/counter.h"
#include "core/status.h"

namespace bladesync {

class StandbyGuard {
 public:
  explicit StandbyGuard(uint32_t mark, std::string nft = "nft") : mark_(mark), nft_(std::move(nft)) {}
  Status Raise();
  Status Lower();
  bool raised() const { return raised_; }
  uint64_t errors() const { return errors_.get(); }
  // The ruleset Raise() loads (tests read it).
  std::string Ruleset() const;

 private:
  Status Nft(const std::string& script);
  uint32_t mark_;
  std::string nft_;
  bool raised_ = false;
  Counter errors_;
};

}  // namespace bladesync
