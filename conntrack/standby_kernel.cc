#include "conntrack/standby_kernel.h"

#include <algorithm>

#include "conntrack/ct_mapping.h"
#include "core/log.h"

namespace bladesync {
namespace {
constexpr Nanos kFlushEvery = milliseconds(5);
}  // namespace

StandbyKernel::StandbyKernel(BladeAgent& agent, EventLoop& loop, KernelTable& kernel, ConntrackOptions opt,
                             std::function<bool(const SessionKey&)> ignored)
    : agent_(agent), loop_(loop), kernel_(kernel), opt_(std::move(opt)), ignored_(std::move(ignored)) {
  flush_ = loop_.CreateTimer([this] {
    Flush(opt_.install_chunk ? opt_.install_chunk : 20000);
    if (pending()) Arm();
  });
}

StandbyKernel::~StandbyKernel() { agent_.set_standby_change_hook(nullptr, nullptr); }

// What is mirrored already goes in with the first resync's dump (KernelSync::Reconcile).
void StandbyKernel::Start() { agent_.set_standby_change_hook(&StandbyKernel::OnChange, this); }

InstallOptions StandbyKernel::Options(InstallOptions::Op op) const {
  InstallOptions io;
  io.liberal = !opt_.tcp_window_tracking;
  io.op = op;
  io.mark_or = opt_.standby_mark;
  return io;
}

void StandbyKernel::Arm() {
  if (!flush_->armed()) flush_->Arm(kFlushEvery);
}

void StandbyKernel::OnChange(void* self, const SessionStore& store, uint32_t id, const SessionKey& old_key, bool was_live) {
  auto* sk = static_cast<StandbyKernel*>(self);
  const bool now_live = store.is_live(id);  // false too for an id a Clear() took away
  if (was_live && (!now_live || !(old_key == store.rec(id).key))) sk->doomed_.push_back(old_key);
  if (now_live) {
    auto it = std::find(sk->stores_.begin(), sk->stores_.end(), &store);
    const uint32_t n = static_cast<uint32_t>(it - sk->stores_.begin());
    if (it == sk->stores_.end()) sk->stores_.push_back(&store);
    if (sk->dirty_set_.insert(uint64_t{n} << 32 | id).second) sk->dirty_.emplace_back(n, id);
  }
  sk->Arm();
}

bool StandbyKernel::IsStandbyEntry(const KernelEntry& e) const {
  if (agent_.Lookup(e.key)) return false;
  if (agent_.LookupStandby(e.key)) return true;
  // Left by an earlier run (a restart, kill -9): ours by its mark.
  return opt_.standby_mark && (e.mark & opt_.standby_mark) == opt_.standby_mark;
}

void StandbyKernel::ForgetOwned() {
  std::erase_if(installed_, [&](const SessionKey& k) { return agent_.Lookup(k).has_value(); });
}

bool StandbyKernel::IsMirrored(const SessionKey& key) const {
  if (agent_.Lookup(key)) return false;
  return agent_.LookupStandby(key).has_value();
}

void StandbyKernel::OnDestroyed(const SessionKey& key) {
  auto hit = agent_.LookupStandby(key);
  if (!hit || agent_.Lookup(key)) {
    installed_.erase(key);
    installed_.erase(key.Reversed());
    return;
  }
  // Still mirrored: back in (its timer ran out here, where no packet refreshes it).
  const SessionStore& st = agent_.standby(hit->origin)->store();
  if (auto e = KernelFromSession(*hit->rec, st.nat(hit->id), st.extensions(hit->id))) {
    const InstallStats s = kernel_.Install(std::span(&*e, 1), Options(InstallOptions::Op::kCreateOrUpdate));
    counters_.reinstalled.Add(s.installed);
    counters_.failed.Add(s.failed);
  }
}

void StandbyKernel::Flush(size_t max) {
  // Gone first: a key that went and came back is installed again below.
  if (!doomed_.empty()) {
    std::vector<KernelEntry> del;
    for (const SessionKey& k : doomed_) {
      if (!installed_.count(k) || agent_.Lookup(k)) continue;
      if (agent_.LookupStandby(k)) continue;  // another mirrored record has the key now
      installed_.erase(k);
      KernelEntry e;
      e.key = k;
      e.reply_src = k.dst;
      e.reply_dst = k.src;
      e.reply_sport = k.dport;
      e.reply_dport = k.sport;
      del.push_back(e);
    }
    doomed_.clear();
    if (!del.empty()) {
      const InstallStats s = kernel_.Install(del, Options(InstallOptions::Op::kDelete));
      counters_.deleted.Add(s.installed + s.existed);
      counters_.failed.Add(s.failed);
    }
  }
  std::vector<KernelEntry> put;
  size_t fresh = 0;
  size_t taken = 0;
  for (; taken < dirty_.size() && put.size() < max; ++taken) {
    const auto [n, id] = dirty_[taken];
    const SessionStore* store = stores_[n];
    dirty_set_.erase(uint64_t{n} << 32 | id);
    if (!store->is_live(id)) continue;
    const SessionRecord& r = store->rec(id);
    if (ignored_ && ignored_(r.key)) continue;
    if (agent_.Lookup(r.key)) continue;  // ours: KernelSync's business
    auto e = KernelFromSession(r, store->nat(id), store->extensions(id));
    if (!e) continue;
    fresh += installed_.insert(r.key).second;
    put.push_back(*e);
  }
  dirty_.erase(dirty_.begin(), dirty_.begin() + static_cast<std::ptrdiff_t>(taken));
  if (put.empty()) return;
  const InstallStats s = kernel_.Install(put, Options(InstallOptions::Op::kCreateOrUpdate));
  if (s.failed) {
    // Which ones failed is not known: none of the batch counts as in the
    // kernel, so promotion installs them and Repair tries again.
    for (const KernelEntry& e : put) installed_.erase(e.key);
  }
  counters_.installed.Add(std::min<size_t>(fresh, s.installed));
  counters_.updated.Add(s.installed > fresh ? s.installed - fresh : 0);
  counters_.failed.Add(s.failed);
  if (s.failed && LogOccurrence(counters_.failed.get())) {
    BS_LOG(kWarn, "conntrack") << "standby-in-kernel: " << s.failed << " of " << put.size()
                               << " entries not installed (errno " << s.first_error << ") [" << counters_.failed.get()
                               << " so far]";
  }
}

void StandbyKernel::Scan(DumpScan& scan, const KernelEntry& e) const {
  scan.in_kernel.insert(e.key);
  const bool ours = installed_.count(e.key) || (opt_.standby_mark && (e.mark & opt_.standby_mark) == opt_.standby_mark);
  if (ours && !IsMirrored(e.key) && !agent_.Lookup(e.key)) scan.stale.push_back(e);
}

Status StandbyKernel::Repair() {
  DumpScan scan;
  if (Status st = kernel_.Dump([&](const KernelEntry& e) { Scan(scan, e); }); !st.ok()) return st;
  Repair(std::move(scan));
  return Status::Ok();
}

void StandbyKernel::Repair(DumpScan scan) {
  const auto& in_kernel = scan.in_kernel;
  const auto& stale = scan.stale;
  std::vector<KernelEntry> missing;
  agent_.ForEachStandby([&](const SessionRecord& r, const NatInfo* nat, const std::vector<Extension>* ext) {
    if ((ignored_ && ignored_(r.key)) || agent_.Lookup(r.key)) return;
    if (in_kernel.count(r.key) && installed_.count(r.key)) return;
    if (auto e = KernelFromSession(r, nat, ext)) missing.push_back(*e);
  });
  if (!missing.empty()) {
    const InstallStats s = kernel_.Install(missing, Options(InstallOptions::Op::kCreateOrUpdate));
    if (!s.failed) {
      for (const KernelEntry& e : missing) installed_.insert(e.key);
    }
    counters_.repaired.Add(s.installed);
    counters_.failed.Add(s.failed);
  }
  if (!stale.empty()) {
    const InstallStats s = kernel_.Install(stale, Options(InstallOptions::Op::kDelete));
    for (const KernelEntry& e : stale) installed_.erase(e.key);
    counters_.repaired.Add(s.installed);
  }
  if (!missing.empty() || !stale.empty()) {
    BS_LOG(kInfo, "conntrack") << "standby-in-kernel: repaired " << missing.size() << " missing and " << stale.size()
                               << " stale entries";
  }
}

}  // namespace bladesync
