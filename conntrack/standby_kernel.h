// StandbyKernel: standby-in-kernel. A mirror blade installs the sessions it
// mirrors into its own kernel's conntrack table as they arrive (created,
// updated, deleted as the owner's deltas say), in batches of at most
// install-batch per loop turn, so that promotion finds them there and
// installs nothing: failover no longer costs a kernel install per session.
//
// It follows every mirrored table through the blade's mirror changes (keys
// marked dirty, keys that went away remembered), and knows which keys it
// put into the kernel. Entries it installs carry standby-mark in their ct
// mark. Events and dumps of keys it mirrors are not this blade's sessions
// (KernelSync asks IsMirrored); an entry the kernel drops while the owner
// still has it (a timer ran out: no packet refreshes it here) goes back in.
//
//   StandbyKernel sk(blade, loop, kernel, opt, ignored);   // blade: api::Blade
//   sk.Start();                        // installs what is mirrored already
//   bool skip = sk.IsMirrored(key);    // KernelSync, for events and dumps
#pragma once

#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "conntrack/kernel_sync.h"

namespace bladesync {

struct StandbyKernelCounters {
  Counter installed, updated, deleted, failed, reinstalled, repaired;
  Counter implausible;     // expectations left out (ct_mapping.h PlausibleExpectation)
  Counter without_extras;  // refused with their helper or labels, installed without them
};

class StandbyKernel {
 public:
  StandbyKernel(api::Blade& blade, EventLoop& loop, KernelTable& kernel, ConntrackOptions opt,
                std::function<bool(const SessionKey&)> ignored);
  ~StandbyKernel();
  void Start();
  // A mirrored session's key (either direction) that no owned session has.
  bool IsMirrored(const SessionKey& key) const;
  // Installed here as standby (and not deleted since).
  bool InKernel(const SessionKey& key) const { return installed_.count(key) > 0 || retired_.count(key) > 0; }
  // Promotion: the mirrored keys the kernel may not have (changed since the
  // last flush, or in a batch that failed), handed over and forgotten here.
  // Every other mirrored key is in the kernel, so promotion looks at these
  // alone, whatever the table size.
  // Keys of other owners (three or more chassis) stay queued.
  std::vector<SessionKey> TakeNotInKernel(const std::function<bool(const SessionKey&)>& ours);
  // The kernel destroyed an entry: one still mirrored goes back in.
  void OnDestroyed(const SessionKey& key);
  // A kernel entry that is standby, not this blade's own session: one it
  // mirrors, or one an earlier run left (its ct mark carries standby-mark).
  bool IsStandbyEntry(const KernelEntry& e) const;
  // After a promotion: the adopted sessions are KernelSync's now. Their
  // keys are let go a slice per loop turn (a promotion of 500k sessions
  // must not stop the blade for a walk over all of them).
  void ForgetOwned();
  // Dump-and-reconcile: every mirrored session in the kernel, nothing of
  // ours left that is neither mirrored nor owned. Counted as repaired.
  // One dump serves KernelSync and the mirror: Scan() sees every entry of
  // KernelSync's dump, Repair(scan) acts on it; Repair() dumps by itself.
  using KeyHash = SessionKeyHash;
  struct DumpScan {
    uint32_t generation = 0;  // BeginScan's
    size_t found = 0;         // installed keys the dump had
    std::vector<KernelEntry> stale;  // ours, neither mirrored nor owned
  };
  DumpScan BeginScan() {
    DumpScan scan;
    scan.generation = ++scan_generation_;
    return scan;
  }
  void Scan(DumpScan& scan, const KernelEntry& e);
  void Repair(DumpScan scan);
  Status Repair();
  size_t pending() const { return dirty_.size() + doomed_.size(); }
  size_t in_kernel() const { return installed_.size() + retired_.size(); }
  const StandbyKernelCounters& counters() const { return counters_; }

 private:
  void OnChange(const api::MirrorChange& change);
  void Flush(size_t max);
  void Arm();
  InstallOptions Options(InstallOptions::Op op) const;

  api::Blade& blade_;
  EventLoop& loop_;
  KernelTable& kernel_;
  ConntrackOptions opt_;
  std::function<bool(const SessionKey&)> ignored_;
  std::vector<SessionKey> dirty_;            // mirrored sessions changed since the last flush
  std::unordered_set<SessionKey, KeyHash> dirty_set_;  // the same, for dedup
  std::vector<SessionKey> doomed_;          // keys whose mirrored record went away
  // Keys installed here, each with the generation of the last dump that
  // had it. Every mirrored session is here, in dirty_ or in failed_, so a
  // repair looks only at these (a dump that found them all costs nothing
  // more), never at the whole mirror.
  std::unordered_map<SessionKey, uint32_t, KeyHash> installed_;
  uint32_t scan_generation_ = 0;
  std::unordered_set<SessionKey, KeyHash> failed_;   // mirrored, in a batch the kernel refused
  std::unordered_map<SessionKey, uint32_t, KeyHash> retired_;  // installed_ at the last promotion, being sorted
  void SortRetired();
  std::unique_ptr<Timer> flush_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  StandbyKernelCounters counters_;
};

}  // namespace bladesync
