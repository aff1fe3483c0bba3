#include "conntrack/kernel_sync.h"

#include <algorithm>
#include <unordered_map>

#include "conntrack/ct_mapping.h"
#include "conntrack/standby_kernel.h"
#include "core/log.h"

namespace bladesync {

struct InstallJob {
  std::vector<KernelEntry> entries;
  size_t next = 0;
  InstallStats total;
  Nanos started{0};
  std::function<void(const InstallStats&)> done;
};

KernelSync::KernelSync(api::Blade& blade, EventLoop& loop, KernelTable& kernel, ConntrackOptions opt,
                       std::vector<IpAddr> own_addresses)
    : blade_(blade), loop_(loop), kernel_(kernel), opt_(std::move(opt)), own_(std::move(own_addresses)) {}

KernelSync::~KernelSync() { *alive_ = false; }

bool KernelSync::Ignored(const SessionKey& k) const {
  // This host's own conversations (the CLI, /metrics) are not forwarded traffic.
  if (k.src.is_loopback() || k.dst.is_loopback()) return true;
  for (const IpAddr& a : own_) {
    if (k.src == a || k.dst == a) return true;
  }
  for (const AddrPrefix& p : opt_.ignore) {
    if (p.Contains(k.src) || p.Contains(k.dst)) return true;
  }
  return false;
}

void KernelSync::OnEvent(CtEvent kind, const KernelEntry& e) {
  if (Ignored(e.key)) {
    counters_.ignored.Add();
    return;
  }
  if (standby_ && standby_->IsStandbyEntry(e)) {
    // A session another chassis owns, in our kernel because we mirror it.
    counters_.mirrored_events.Add();
    if (kind == CtEvent::kDestroy) standby_->OnDestroyed(e.key);
    return;
  }
  switch (kind) {
    case CtEvent::kNew: counters_.events_new.Add(); break;
    case CtEvent::kUpdate: counters_.events_update.Add(); break;
    case CtEvent::kDestroy: counters_.events_destroy.Add(); break;
  }
  if (kind == CtEvent::kDestroy) {
    if (reconcile_) destroyed_while_reconciling_.insert(e.key);
    if (auto id = blade_.Find(e.key)) blade_.Delete(*id, kDeleteClosed);
    return;
  }
  if (reconcile_) destroyed_while_reconciling_.erase(e.key);  // back again
  Upsert(e, false);
}

std::optional<ConntrackState> KernelSync::StateOf(api::SessionId id) const {
  std::optional<api::SessionView> v = blade_.Get(id);
  if (!v || !v->extensions) return std::nullopt;
  for (const Extension& x : *v->extensions) {
    if (auto c = DecodeConntrack(x)) return c;
  }
  return std::nullopt;
}

void KernelSync::SetState(api::SessionId id, const ConntrackState& c) {
  size_t left_out = 0;
  blade_.SetExtension(id, EncodeConntrack(c, &left_out));
  counters_.expectations_left_out.Add(left_out);
}

namespace {
// An update event with what it did not carry (unchanged) from the state last
// synced: the kernel sends TCP state, labels and sequence adjustment only
// when they changed.
KernelEntry Completed(const KernelEntry& event, const ConntrackState& old) {
  KernelEntry e = event;
  if (!(event.parts & KernelEntry::kProtoInfo)) {
    e.tcp_state = old.tcp_state;
    e.wscale_orig = old.wscale_orig;
    e.wscale_repl = old.wscale_repl;
    e.flags_orig = old.flags_orig;
    e.flags_repl = old.flags_repl;
  }
  if (!(event.parts & KernelEntry::kLabels)) e.extra.labels = old.extra.labels;
  if (!(event.parts & KernelEntry::kSeqAdjOrig)) e.extra.seqadj_orig = old.extra.seqadj_orig;
  if (!(event.parts & KernelEntry::kSeqAdjRepl)) e.extra.seqadj_repl = old.extra.seqadj_repl;
  e.parts = KernelEntry::kAllParts;
  return e;
}
}  // namespace

void KernelSync::Upsert(const KernelEntry& event, bool from_dump) {
  // The kernel refreshes its timers without telling; ours must outlast the
  // time to the next resync, which refreshes them.
  const uint32_t min_timeout = opt_.resync_interval_s ? opt_.resync_interval_s * 2 : 0;
  std::optional<api::SessionId> id = blade_.Find(event.key);
  const std::optional<ConntrackState> old = id ? StateOf(*id) : std::nullopt;
  std::optional<KernelEntry> completed;
  if (old && event.parts != KernelEntry::kAllParts) {
    // Labels all cleared leave no trace in their event (the kernel sends
    // them only while one is set): ask the kernel. Only for an event that
    // says nothing of the protocol (a TCP state change carries it): the
    // question costs a netlink round trip on this loop, and a labelled
    // flow's state changes must not each ask it.
    if (!(event.parts & (KernelEntry::kLabels | KernelEntry::kProtoInfo)) && old->extra.has_labels()) {
      completed = kernel_.Get(event.key);
      if (completed) counters_.reread.Add();
    }
    if (!completed) completed = Completed(event, *old);
  }
  const KernelEntry& e = completed ? *completed : event;
  MappedSession m = SessionFromKernel(e, min_timeout);
  if (!id) {
    size_t left_out = 0;
    new_extensions_.clear();
    new_extensions_.push_back(EncodeConntrack(m.ct, &left_out));
    counters_.expectations_left_out.Add(left_out);
    const api::SessionId nid = blade_.Create(m.facts, m.state, m.nat ? &*m.nat : nullptr, &new_extensions_);
    if (nid == api::kNoSession) {
      counters_.refused.Add();
      return;
    }
    if (from_dump) counters_.resync_created.Add();
    id = nid;
  } else {
    const api::SessionView v = *blade_.Get(*id);  // Find found it live
    const SessionRecord& r = *v.record;
    // An entry's events do not carry its expectations: they stay as their
    // own events left them.
    if (old) m.ct.extra.expectations = old->extra.expectations;
    // Adoption marks sessions; the kernel does not know that bit.
    SessionState state = m.state;
    state.flags = static_cast<uint16_t>(state.flags | (r.flags & kFlagAdopted));
    const bool state_changed = r.proto_state != state.proto_state || r.flags != state.flags;
    if (!old || !SameSyncedState(*old, m.ct)) SetState(*id, m.ct);
    if (state_changed) blade_.Update(*id, state);
    else blade_.Touch(*id);
  }
  if (from_dump || reconcile_) {  // an event during a resync's dump counts as seen by it
    if (seen_.size() <= *id) seen_.resize(std::max<size_t>(*id + 1, seen_.size() * 2), 0);
    seen_[*id] = generation_;
  }
}

void KernelSync::OnExpectation(CtEvent kind, const KernelExpectation& x) {
  if (Ignored(x.master)) {
    counters_.ignored.Add();
    return;
  }
  if (standby_ && standby_->IsMirrored(x.master)) {
    counters_.mirrored_events.Add();  // an expectation of a session we mirror
    return;
  }
  const std::optional<api::SessionId> id = blade_.Find(x.master);
  std::optional<ConntrackState> c = id ? StateOf(*id) : std::nullopt;
  if (!c) {
    counters_.expectations_unmatched.Add();
    return;
  }
  std::vector<CtExpectation>& list = c->extra.expectations;
  const auto it = std::find_if(list.begin(), list.end(), [&](const CtExpectation& y) { return y.SameTuple(x.exp); });
  if (kind == CtEvent::kDestroy) {
    counters_.expectations_destroy.Add();
    if (it == list.end()) return;
    list.erase(it);
  } else {
    counters_.expectations_new.Add();
    if (it != list.end()) *it = x.exp;
    else list.push_back(x.exp);
  }
  SetState(*id, *c);
  // A NAT helper that announced a connection rewrote the packet that did
  // (nf_nat_ftp's PORT): the master's sequence adjustment changed, and the
  // kernel sends no event for that. Read the master again.
  if (kind != CtEvent::kDestroy && x.exp.nat && x.master.proto == kProtoTcp) {
    if (std::optional<KernelEntry> master = kernel_.Get(x.master)) {
      counters_.reread.Add();
      Upsert(*master, false);
    }
  }
}

// Every owned master's expectations become what the kernel's expectation
// table holds for it (events lost in an overrun included).
Status KernelSync::ReconcileExpectations() {
  std::unordered_map<SessionKey, std::vector<CtExpectation>, StandbyKernel::KeyHash> by_master;
  Status s = kernel_.DumpExpectations([&](const KernelExpectation& x) { by_master[x.master].push_back(x.exp); });
  if (!s.ok()) return s;
  std::vector<std::pair<api::SessionId, ConntrackState>> changed;
  blade_.ForEachOwned([&](api::SessionId id, const api::SessionView& v) {
    if (AppOf(v.record->flags) != AppKind::kLinuxConntrack) return;
    std::optional<ConntrackState> c = StateOf(id);
    if (!c) return;
    const auto it = by_master.find(v.record->key);
    std::vector<CtExpectation> want = it == by_master.end() ? std::vector<CtExpectation>{} : it->second;
    ConntrackExtras now = c->extra;
    now.expectations = want;
    if (SameSyncedExtras(c->extra, now)) return;
    c->extra = std::move(now);
    changed.emplace_back(id, std::move(*c));
  });
  for (const auto& [id, c] : changed) SetState(id, c);
  counters_.resync_expectations.Add(changed.size());
  return Status::Ok();
}

namespace {

// Dump() read whole, handed out in slices (fakes, and kernels without a cursor).
class WholeDumpCursor : public DumpCursor {
 public:
  explicit WholeDumpCursor(KernelTable& k) {
    status_ = k.Dump([&](const KernelEntry& e) { entries_.push_back(e); });
  }
  bool Next(size_t max, const std::function<void(const KernelEntry&)>& fn) override {
    for (size_t n = 0; n < max && next_ < entries_.size(); ++n) fn(entries_[next_++]);
    return next_ < entries_.size();
  }
  Status status() const override { return status_; }

 private:
  std::vector<KernelEntry> entries_;
  size_t next_ = 0;
  Status status_ = Status::Ok();
};

class NetlinkDumpCursor : public DumpCursor {
 public:
  NetlinkDumpCursor() { (void)cursor_.Start(); }  // a failed start shows in status()
  bool Next(size_t max, const std::function<void(const KernelEntry&)>& fn) override {
    return cursor_.status().ok() && cursor_.Next(max, fn);
  }
  Status status() const override { return cursor_.status(); }

 private:
  CtDumpCursor cursor_;
};

// Entries per loop turn while a resync reads the dump: a few ms each.
constexpr size_t kReconcileSlice = 4096;

}  // namespace

std::unique_ptr<DumpCursor> KernelTable::OpenDump() { return std::make_unique<WholeDumpCursor>(*this); }
std::unique_ptr<DumpCursor> NetlinkKernelTable::OpenDump() { return std::make_unique<NetlinkDumpCursor>(); }

struct ReconcileJob {
  std::unique_ptr<DumpCursor> cursor;
  StandbyKernel::DumpScan scan;  // the same dump repairs the mirror's entries
  size_t dumped = 0;
  std::function<void(const Status&)> done;
};

void KernelSync::BeginReconcile() {
  ++generation_;
  destroyed_while_reconciling_.clear();
  reconcile_ = std::make_shared<ReconcileJob>();
  if (standby_) reconcile_->scan = standby_->BeginScan();
  reconcile_->cursor = kernel_.OpenDump();
}

bool KernelSync::StepReconcile(size_t max) {
  const std::shared_ptr<ReconcileJob> keep = reconcile_;  // alive even if replaced meanwhile
  ReconcileJob& job = *keep;
  return job.cursor->Next(max, [&](const KernelEntry& e) {
    if (standby_) standby_->Scan(job.scan, e);
    if (Ignored(e.key)) return;
    if (standby_ && standby_->IsStandbyEntry(e)) return;  // the mirror's (StandbyKernel::Repair)
    // Destroyed after the dump passed it: its DESTROY event came first.
    if (!destroyed_while_reconciling_.empty() && destroyed_while_reconciling_.count(e.key)) return;
    ++job.dumped;
    Upsert(e, true);
  });
}

Status KernelSync::FinishReconcile() {
  std::shared_ptr<ReconcileJob> job = std::move(reconcile_);
  reconcile_.reset();
  destroyed_while_reconciling_.clear();
  if (Status s = job->cursor->status(); !s.ok()) return s;
  if (standby_) standby_->Repair(std::move(job->scan));
  if (Status e = ReconcileExpectations(); !e.ok()) return e;
  counters_.resyncs.Add();
  // What the kernel no longer has is gone (its DESTROY event was lost).
  std::vector<api::SessionId> gone;
  blade_.ForEachOwned([&](api::SessionId id, const api::SessionView& v) {
    if (AppOf(v.record->flags) != AppKind::kLinuxConntrack) return;
    if (id >= seen_.size() || seen_[id] != generation_) gone.push_back(id);
  });
  for (api::SessionId id : gone) blade_.Delete(id, kDeleteExpired);
  counters_.resync_deleted.Add(gone.size());
  BS_LOG(kInfo, "conntrack") << "resync: " << job->dumped << " kernel entries, " << gone.size() << " sessions removed";
  return Status::Ok();
}

Status KernelSync::Reconcile() {
  if (reconcile_) return Unavailable("a resync is running");
  BeginReconcile();
  while (StepReconcile(SIZE_MAX)) {
  }
  return FinishReconcile();
}

bool KernelSync::StartReconcile(std::function<void(const Status&)> done) {
  if (reconcile_) return false;
  BeginReconcile();
  reconcile_->done = std::move(done);
  PostReconcileSlice();
  return true;
}

// Each posted slice belongs to one resync (its generation): a slice of one
// begun again since finds another generation and ends its chain.
void KernelSync::PostReconcileSlice() {
  loop_.Post([this, alive = alive_, run = generation_] {
    if (*alive && reconcile_ && generation_ == run) ReconcileSlice();
  });
}

void KernelSync::ReconcileSlice() {
  const uint32_t run = generation_;
  const bool more = StepReconcile(kReconcileSlice);
  if (!reconcile_ || generation_ != run) return;  // begun again meanwhile: that one goes on
  if (more) {
    PostReconcileSlice();
    return;
  }
  std::function<void(const Status&)> done = std::move(reconcile_->done);
  const Status s = FinishReconcile();
  if (done) done(s);
}

void KernelSync::InstallAdopted(size_t adopted, std::function<void(const InstallStats&)> done) {
  if (reconcile_) {
    // The dump began before the adoption: it skipped the now adopted
    // sessions as mirrored and would take them for gone. Begin again.
    std::function<void(const Status&)> resync_done = std::move(reconcile_->done);
    reconcile_.reset();
    destroyed_while_reconciling_.clear();
    StartReconcile(std::move(resync_done));
  }
  auto job = std::make_shared<InstallJob>();
  job->done = std::move(done);
  job->started = loop_.Now();
  auto take = [&](const api::SessionView& v) {
    const SessionRecord& r = *v.record;
    if (!(r.flags & kFlagAdopted) || Ignored(r.key)) return;
    size_t implausible = 0;
    if (auto e = KernelFromSession(r, v.nat, v.extensions, &implausible)) job->entries.push_back(*e);
    counters_.expectations_implausible.Add(implausible);
  };
  if (standby_) {
    // The kernel has every mirrored session but these: promotion costs what
    // changed since the last flush, not the table size.
    for (const SessionKey& k : standby_->TakeNotInKernel([&](const SessionKey& k) { return blade_.Find(k).has_value(); })) {
      take(*blade_.Get(*blade_.Find(k)));
    }
    counters_.skipped_in_kernel.Add(adopted > job->entries.size() ? adopted - job->entries.size() : 0);
    standby_->ForgetOwned();  // they are ours now, not the mirror's
  } else {
    job->entries.reserve(adopted);
    blade_.ForEachOwned([&](api::SessionId, const api::SessionView& v) { take(v); });
  }
  BS_LOG(kInfo, "conntrack") << "installing " << job->entries.size() << " adopted sessions into the kernel";
  InstallChunk(std::move(job));
}

void KernelSync::InstallChunk(std::shared_ptr<InstallJob> job) {
  InstallOptions io;
  io.liberal = !opt_.tcp_window_tracking;
  // With standby-in-kernel an entry there may be an older version of the
  // session (its update was refused, or not flushed yet): update it.
  if (standby_) io.op = InstallOptions::Op::kCreateOrUpdate;
  const size_t n = std::min<size_t>(opt_.install_chunk ? opt_.install_chunk : job->entries.size(),
                                    job->entries.size() - job->next);
  const InstallStats st = kernel_.Install(std::span(job->entries).subspan(job->next, n), io);
  job->next += n;
  job->total.installed += st.installed;
  job->total.existed += st.existed;
  job->total.failed += st.failed;
  if (!job->total.first_error) job->total.first_error = st.first_error;
  counters_.installed.Add(st.installed);
  counters_.install_existed.Add(st.existed);
  counters_.install_failed.Add(st.failed);
  counters_.install_without_extras.Add(st.without_extras);
  counters_.expectations_installed.Add(st.expectations_installed + st.expectations_existed);
  counters_.expectations_failed.Add(st.expectations_failed);
  if (job->next < job->entries.size()) {
    loop_.Post([this, job, alive = alive_] {
      if (*alive) InstallChunk(job);
    });
    return;
  }
  job->total.took = loop_.Now() - job->started;
  counters_.last_install_us.Set(static_cast<uint64_t>(job->total.took.count() / 1000));
  BS_LOG(kInfo, "conntrack") << "installed " << job->total.installed << " sessions (" << job->total.existed
                             << " already there, " << job->total.failed << " failed"
                             << (job->total.first_error ? ", first error " + std::to_string(job->total.first_error) : "")
                             << ") in " << job->total.took.count() / 1000 << " us";
  if (job->done) job->done(job->total);
}

}  // namespace bladesync
