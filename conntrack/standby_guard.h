// StandbyGuard: with standby-in-kernel, a secondary's kernel holds
// established entries for sessions another chassis owns. The plain kernel
// would have none and drop their packets; so must a secondary. While this
// chassis is not primary, an nftables table of its own
// (`inet bladesync_standby`, a forward chain ahead of the usual filters)
// drops forwarded packets whose ct mark carries standby-mark; on becoming
// primary the table goes, in one transaction, before the cluster
// addresses come. It uses the `nft` tool (Debian's nftables).
//
// nft runs on a thread of the guard's own, so a slow nft never holds up
// the manager's heartbeats: Want(raised) asks, raised() says what is in
// force (the new primary's addresses wait for it to be lowered).
//
//   StandbyGuard g(0x80000000);
//   g.Raise();         // at start, before the manager runs (synchronous)
//   g.Want(false);     // on becoming primary; g.raised() turns false when done
//   g.Want(true);      // on demotion
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/counter.h"
#include "core/status.h"

namespace bladesync {

class StandbyGuard {
 public:
  explicit StandbyGuard(uint32_t mark, std::string nft = "nft");
  ~StandbyGuard();
  Status Raise();
  Status Lower();
  // Asks the guard's thread to raise or lower it; the latest wish wins.
  void Want(bool raised);
  bool raised() const { return raised_.load(); }
  // A wish not yet in force (or that failed: it is tried again on the next wish).
  bool pending() const;
  uint64_t errors() const { return errors_.get(); }
  // The ruleset Raise() loads (tests read it).
  std::string Ruleset() const;

 private:
  Status Nft(const std::string& script);
  void Run();
  uint32_t mark_;
  std::string nft_;
  std::atomic<bool> raised_{false};
  Counter errors_;  // written by whichever thread runs nft, one at a time (mu_)
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<bool> want_;
  bool busy_ = false, stop_ = false;
  std::mutex nft_mu_;  // one nft at a time
  std::thread worker_;
};

}  // namespace bladesync
