// KernelSync: a blade whose sessions are the Linux kernel's conntrack
// table.
//
// As owner it follows the kernel's events (NEW and UPDATE upsert a session,
// DESTROY deletes it) and, after an event overrun or every resync-interval,
// dumps the table and reconciles: what the kernel has is created or
// refreshed, what it no longer has is deleted. Nothing is lost silently: an
// overrun is counted and repaired by the dump. A kernel expectation (FTP,
// SIP helpers) travels in its master's session, so it is owned, synced and
// adopted with it. When the blade adopts a lost
// owner's sessions, it installs them into the kernel, in chunks so the loop
// keeps serving heartbeats, before traffic moves (the route follows the
// manager's failover).
//
//   KernelSync sync(blade, loop, kernel, opt, own_addresses);   // blade: api::Blade
//   sync.Reconcile();                       // at start
//   sync.OnEvent(CtEvent::kNew, entry);     // from the event socket
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <unordered_set>
#include <vector>

#include "api/blade.h"
#include "conntrack/conntrack_options.h"
#include "conntrack/kernel_entry.h"
#include "conntrack/netlink_conntrack.h"
#include "core/counter.h"

namespace bladesync {

// A dump read a slice at a time.
class DumpCursor {
 public:
  virtual ~DumpCursor() = default;
  // At least `max` entries to fn, or what is left; false once the dump ended.
  virtual bool Next(size_t max, const std::function<void(const KernelEntry&)>& fn) = 0;
  virtual Status status() const = 0;
};

// The kernel table as KernelSync uses it; a fake stands in for it in tests.
class KernelTable {
 public:
  virtual ~KernelTable() = default;
  virtual Status Dump(const std::function<void(const KernelEntry&)>& fn) = 0;
  // The same dump in slices (by default Dump() read whole, then handed out).
  virtual std::unique_ptr<DumpCursor> OpenDump();
  virtual InstallStats Install(std::span<const KernelEntry> entries, const InstallOptions& opt) = 0;
  virtual Status DumpExpectations(const std::function<void(const KernelExpectation&)>& fn) = 0;
  // One entry as a dump has it (nothing if the kernel has none).
  virtual std::optional<KernelEntry> Get(const SessionKey& key) = 0;
};

class NetlinkKernelTable : public KernelTable {
 public:
  Status Dump(const std::function<void(const KernelEntry&)>& fn) override { return DumpConntrack(fn); }
  std::unique_ptr<DumpCursor> OpenDump() override;
  InstallStats Install(std::span<const KernelEntry> entries, const InstallOptions& opt) override {
    return InstallConntrack(entries, opt);
  }
  Status DumpExpectations(const std::function<void(const KernelExpectation&)>& fn) override {
    return bladesync::DumpExpectations(fn);
  }
  std::optional<KernelEntry> Get(const SessionKey& key) override { return GetConntrack(key); }
};

class StandbyKernel;

struct ConntrackCounters {
  Counter events_new, events_update, events_destroy;
  Counter ignored;          // loopback, own M1/M2 traffic and ignore-address
  Counter overruns;         // the kernel dropped events: a resync follows
  Counter resyncs;          // dumps reconciled
  Counter resync_created;   // sessions a dump found that events had not told
  Counter resync_deleted;   // sessions the kernel no longer had
  Counter installed, install_existed, install_failed;
  Counter install_without_extras;  // refused with their helper or labels, installed without them
  Counter last_install_us;  // duration of the last promotion's install
  Counter refused;          // max-sessions reached
  Counter mirrored_events;  // events of sessions this blade mirrors (standby-in-kernel's own)
  Counter skipped_in_kernel;  // adopted sessions standby-in-kernel had installed already
  Counter expectations_new, expectations_destroy;  // expectation events of owned masters
  Counter expectations_unmatched;   // an expectation whose master is no session here
  Counter expectations_left_out;    // more than a session's extension holds
  Counter expectations_installed, expectations_failed;
  Counter expectations_implausible;  // from the network, not installed (ct_mapping.h)
  Counter resync_expectations;      // masters whose expectations a dump corrected
  // Entries read again because their event could not say it: a NAT
  // helper's master (its seqadj has no event), labels all cleared.
  Counter reread;
};

class KernelSync {
 public:
  KernelSync(api::Blade& blade, EventLoop& loop, KernelTable& kernel, ConntrackOptions opt,
             std::vector<IpAddr> own_addresses);
  ~KernelSync();

  void OnEvent(CtEvent kind, const KernelEntry& e);
  // An event to come (CtEventSocket::Read's look-ahead): its session's
  // index slots start coming into cache.
  void LookAhead(const KernelEntry& e) const { blade_.LookAhead(e.key); }
  // An expectation came or went: it travels with its master's session.
  void OnExpectation(CtEvent kind, const KernelExpectation& x);
  // Makes the owned table equal to a dump of the kernel (and, with
  // standby-in-kernel, the mirror's entries: the same dump), all at once.
  Status Reconcile();
  // The same a slice of the dump per loop turn (a table of 500k entries
  // takes seconds to dump: the blade's reports and heartbeats go on). Events
  // read meanwhile count: what they create or touch is not taken for gone,
  // what they destroy is not brought back by the dump. `done` runs at the
  // end; a call while one runs is ignored (false).
  bool StartReconcile(std::function<void(const Status&)> done);
  bool reconciling() const { return reconcile_ != nullptr; }
  // Installs every adopted session (`adopted` of them) into the kernel,
  // install_chunk per loop turn; `done` runs when the last chunk is in.
  // With standby-in-kernel only those its kernel may lack.
  void InstallAdopted(size_t adopted, std::function<void(const InstallStats&)> done = nullptr);

  const ConntrackCounters& counters() const { return counters_; }
  ConntrackCounters& counters() { return counters_; }
  bool Ignored(const SessionKey& k) const;
  // standby-in-kernel: the kernel also holds the sessions this blade mirrors.
  void set_standby(StandbyKernel* s) { standby_ = s; }

 private:
  void Upsert(const KernelEntry& e, bool from_dump);
  // The session's conntrack state as last synced, if it has one.
  std::optional<ConntrackState> StateOf(api::SessionId id) const;
  void SetState(api::SessionId id, const ConntrackState& c);
  Status ReconcileExpectations();
  void BeginReconcile();
  bool StepReconcile(size_t max);
  Status FinishReconcile();
  void ReconcileSlice();
  void PostReconcileSlice();
  std::shared_ptr<struct ReconcileJob> reconcile_;
  std::unordered_set<SessionKey, SessionKeyHash> destroyed_while_reconciling_;
  void InstallChunk(std::shared_ptr<struct InstallJob> job);

  api::Blade& blade_;
  EventLoop& loop_;
  KernelTable& kernel_;
  ConntrackOptions opt_;
  std::vector<IpAddr> own_;
  ConntrackCounters counters_;
  StandbyKernel* standby_ = nullptr;
  std::vector<uint32_t> seen_;   // per owned id: the resync generation that last saw it
  ExtensionList new_extensions_;  // a new session's
  uint32_t generation_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace bladesync
