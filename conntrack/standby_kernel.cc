#include "conntrack/standby_kernel.h"

#include <algorithm>

#include "conntrack/ct_mapping.h"
#include "core/log.h"

namespace bladesync {
namespace {
constexpr Nanos kFlushEvery = milliseconds(5);
constexpr size_t kFlushSlice = 2000;  // 400k entries/s at most, 10-25 ms of netlink per slice
}  // namespace

StandbyKernel::StandbyKernel(api::Blade& blade, EventLoop& loop, KernelTable& kernel, ConntrackOptions opt,
                             std::function<bool(const SessionKey&)> ignored)
    : blade_(blade), loop_(loop), kernel_(kernel), opt_(std::move(opt)), ignored_(std::move(ignored)) {
  // A slice every kFlushEvery: the blade's loop goes on between them, and
  // the kernel takes at most kFlushSlice / kFlushEvery entries a second.
  flush_ = loop_.CreateTimer([this] {
    Flush(std::min<size_t>(opt_.install_chunk ? opt_.install_chunk : kFlushSlice, kFlushSlice));
    if (pending()) Arm();
  });
}

StandbyKernel::~StandbyKernel() {
  *alive_ = false;
  blade_.OnMirrorChange(nullptr);
}

// What is mirrored already goes in with the first resync's dump (KernelSync::Reconcile).
void StandbyKernel::Start() {
  blade_.OnMirrorChange([this](const api::MirrorChange& c) { OnChange(c); });
}

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

void StandbyKernel::OnChange(const api::MirrorChange& c) {
  if (c.was_live && (!c.now || !(c.old_key == c.now->key()))) doomed_.push_back(c.old_key);
  if (c.now && dirty_set_.insert(c.now->key()).second) dirty_.push_back(c.now->key());
  Arm();
}

bool StandbyKernel::IsStandbyEntry(const KernelEntry& e) const {
  if (blade_.Find(e.key)) return false;
  if (blade_.FindMirrored(e.key)) return true;
  // Left by an earlier run (a restart, kill -9): ours by its mark.
  return opt_.standby_mark && (e.mark & opt_.standby_mark) == opt_.standby_mark;
}

std::vector<SessionKey> StandbyKernel::TakeNotInKernel(const std::function<bool(const SessionKey&)>& ours) {
  std::vector<SessionKey> taken, kept;
  for (const SessionKey& k : dirty_) (ours(k) ? taken : kept).push_back(k);
  dirty_ = std::move(kept);
  for (auto it = dirty_set_.begin(); it != dirty_set_.end();) it = ours(*it) ? dirty_set_.erase(it) : std::next(it);
  for (auto it = failed_.begin(); it != failed_.end();) {
    if (!ours(*it)) {
      ++it;
      continue;
    }
    taken.push_back(*it);
    it = failed_.erase(it);
  }
  return taken;
}

void StandbyKernel::ForgetOwned() {
  if (retired_.empty()) {
    retired_.swap(installed_);
  } else {
    retired_.merge(installed_);
    installed_.clear();
  }
  SortRetired();
}

// Keys now owned are dropped; the rest (still mirrored: another owner's)
// go back. A slice per loop turn, nodes moved without allocating.
void StandbyKernel::SortRetired() {
  constexpr size_t kSlice = 20000;
  for (size_t i = 0; i < kSlice && !retired_.empty(); ++i) {
    auto node = retired_.extract(retired_.begin());
    if (!blade_.Find(node.key())) installed_.insert(std::move(node));
  }
  if (!retired_.empty()) {
    loop_.Post([this, alive = alive_] {
      if (*alive) SortRetired();
    });
  }
}

bool StandbyKernel::IsMirrored(const SessionKey& key) const {
  if (blade_.Find(key)) return false;
  return blade_.FindMirrored(key).has_value();
}

void StandbyKernel::OnDestroyed(const SessionKey& key) {
  auto hit = blade_.FindMirrored(key);
  if (!hit || blade_.Find(key)) {
    installed_.erase(key);
    installed_.erase(key.Reversed());
    return;
  }
  // Still mirrored: back in (its timer ran out here, where no packet refreshes it).
  size_t implausible = 0;
  auto e = KernelFromSession(*hit->session.record, hit->session.nat, hit->session.extensions, &implausible);
  counters_.implausible.Add(implausible);
  if (e) {
    const InstallStats s = kernel_.Install(std::span(&*e, 1), Options(InstallOptions::Op::kCreateOrUpdate));
    counters_.reinstalled.Add(s.installed);
    counters_.failed.Add(s.failed);
    if (s.failed) {
      installed_.erase(e->key);
      failed_.insert(e->key);
    }
  }
}

void StandbyKernel::Flush(size_t max) {
  // Gone first: a key that went and came back is installed again below.
  if (!doomed_.empty()) {
    std::vector<KernelEntry> del;
    for (const SessionKey& k : doomed_) {
      if (!installed_.count(k) || blade_.Find(k)) continue;
      if (blade_.FindMirrored(k)) continue;  // another mirrored record has the key now
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
    const SessionKey& k = dirty_[taken];
    dirty_set_.erase(k);
    auto hit = blade_.FindMirrored(k);
    if (!hit) continue;  // gone again since
    const SessionRecord& r = *hit->session.record;
    if (ignored_ && ignored_(r.key)) continue;
    if (blade_.Find(r.key)) continue;  // ours: KernelSync's business
    size_t implausible = 0;
    auto e = KernelFromSession(r, hit->session.nat, hit->session.extensions, &implausible);
    counters_.implausible.Add(implausible);
    if (!e) continue;
    fresh += installed_.try_emplace(r.key, scan_generation_).second;
    put.push_back(*e);
  }
  dirty_.erase(dirty_.begin(), dirty_.begin() + static_cast<std::ptrdiff_t>(taken));
  if (put.empty()) return;
  const InstallStats s = kernel_.Install(put, Options(InstallOptions::Op::kCreateOrUpdate));
  // What the kernel refused is not in it: promotion installs it, a repair
  // tries again.
  for (size_t k : s.failed_entries) {
    installed_.erase(put[k].key);
    failed_.insert(put[k].key);
  }
  if (!failed_.empty()) {
    std::vector<bool> refused(put.size(), false);
    for (size_t k : s.failed_entries) refused[k] = true;
    for (size_t k = 0; k < put.size(); ++k) {
      if (!refused[k]) failed_.erase(put[k].key);
    }
  }
  counters_.without_extras.Add(s.without_extras);
  counters_.installed.Add(std::min<size_t>(fresh, s.installed));
  counters_.updated.Add(s.installed > fresh ? s.installed - fresh : 0);
  counters_.failed.Add(s.failed);
  if (s.failed && LogOccurrence(counters_.failed.get())) {
    BS_LOG(kWarn, "conntrack") << "standby-in-kernel: " << s.failed << " of " << put.size()
                               << " entries not installed (errno " << s.first_error << ") [" << counters_.failed.get()
                               << " so far]";
  }
}

void StandbyKernel::Scan(DumpScan& scan, const KernelEntry& e) {
  if (auto it = installed_.find(e.key); it != installed_.end()) {
    it->second = scan.generation;
    ++scan.found;
    if (!IsMirrored(e.key) && !blade_.Find(e.key)) scan.stale.push_back(e);
    return;
  }
  // Left by an earlier run (a restart, kill -9): ours by its mark.
  const bool marked = opt_.standby_mark && (e.mark & opt_.standby_mark) == opt_.standby_mark;
  if (marked && !IsMirrored(e.key) && !blade_.Find(e.key)) scan.stale.push_back(e);
}

Status StandbyKernel::Repair() {
  DumpScan scan = BeginScan();
  if (Status st = kernel_.Dump([&](const KernelEntry& e) { Scan(scan, e); }); !st.ok()) return st;
  Repair(std::move(scan));
  return Status::Ok();
}

void StandbyKernel::Repair(DumpScan scan) {
  const auto& stale = scan.stale;
  size_t missing = 0;
  auto requeue = [&](const SessionKey& k) {
    if (dirty_set_.insert(k).second) dirty_.push_back(k);
    ++missing;
  };
  if (scan.found < installed_.size()) {
    // Some went without a DESTROY we read: back in if still mirrored.
    for (auto it = installed_.begin(); it != installed_.end();) {
      if (it->second == scan.generation) {
        ++it;
        continue;
      }
      const SessionKey k = it->first;
      it = installed_.erase(it);
      if (!blade_.Find(k) && blade_.FindMirrored(k) && !(ignored_ && ignored_(k))) requeue(k);
    }
  }
  for (const SessionKey& k : failed_) requeue(k);  // refused before: try again
  failed_.clear();
  if (missing) {
    counters_.repaired.Add(missing);
    Arm();
  }
  // Still neither mirrored nor owned? (The dump's verdict may be seconds
  // old: a bulk sync can have brought the key back since.)
  std::erase_if(scan.stale, [&](const KernelEntry& e) { return IsMirrored(e.key) || blade_.Find(e.key); });
  if (!stale.empty()) {
    const InstallStats s = kernel_.Install(stale, Options(InstallOptions::Op::kDelete));
    for (const KernelEntry& e : stale) installed_.erase(e.key);
    counters_.repaired.Add(s.installed);
  }
  if (missing || !stale.empty()) {
    BS_LOG(kInfo, "conntrack") << "standby-in-kernel: repairing " << missing << " missing and " << stale.size()
                               << " stale entries";
  }
}

}  // namespace bladesync
