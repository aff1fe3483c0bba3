#include "core/page_supply.h"

#include <algorithm>

#include <pthread.h>

#include "core/huge_page_allocator.h"
#include "core/thread_priority.h"

namespace bladesync {

PageSupply& PageSupply::Get() {
  static PageSupply* const supply = new PageSupply;  // never destroyed: tables may outlive statics
  return *supply;
}

void PageSupply::StartLocked() {
  if (started_) return;
  started_ = true;
  std::thread([this] {
    pthread_setname_np(pthread_self(), "page-supply");  // else it bears the name of the first table's thread
    Run();
  }).detach();
}

size_t PageSupply::ReadyBytesLocked() const {
  size_t sum = 0;
  for (const Ready& r : ready_) sum += r.bytes;
  return sum;
}

size_t PageSupply::AsksLocked(size_t bytes) const {
  for (const Wanted& w : wanted_) {
    if (w.bytes == bytes) return w.count;
  }
  return 0;
}

size_t PageSupply::ReadyCountLocked(size_t bytes) const {
  return static_cast<size_t>(std::count_if(ready_.begin(), ready_.end(), [&](const Ready& r) { return r.bytes == bytes; }));
}

void PageSupply::SettleAskLocked(size_t bytes) {
  auto w = std::find_if(wanted_.begin(), wanted_.end(), [&](const Wanted& x) { return x.bytes == bytes; });
  if (w == wanted_.end()) return;
  if (--w->count == 0) wanted_.erase(w);
}

bool PageSupply::StillAskedLocked(size_t bytes) const { return AsksLocked(bytes) > ReadyCountLocked(bytes); }

void* PageSupply::Take(size_t bytes, bool asked) {
  std::lock_guard<std::mutex> lock(mu_);
  if (asked) {
    SettleAskLocked(bytes);
  } else if (ReadyCountLocked(bytes) <= AsksLocked(bytes)) {
    ++missed_;  // what is ready of this size is another table's, asked for
    return nullptr;
  }
  if (void* p = TakeReadyLocked(bytes)) return p;
  ++missed_;
  if (asked) HurryLocked();  // late: the next ones must not be
  return nullptr;
}

void* PageSupply::TakeReadyLocked(size_t bytes) {
  for (size_t i = 0; i < ready_.size(); ++i) {
    if (ready_[i].bytes != bytes) continue;
    void* p = ready_[i].p;
    ready_.erase(ready_.begin() + static_cast<std::ptrdiff_t>(i));
    ++taken_;
    return p;
  }
  return nullptr;
}

void* PageSupply::TakeIfReady(size_t bytes, bool* coming) {
  std::lock_guard<std::mutex> lock(mu_);
  *coming = AsksLocked(bytes) > 0;
  void* p = TakeReadyLocked(bytes);
  if (p) SettleAskLocked(bytes);
  if (!p && *coming) HurryLocked();
  return p;
}

// The toucher at SCHED_IDLE spares the sync threads a core while it keeps
// up, but on two cores busy with sync (1M deltas/s) it fell so far behind
// that a key index reached its wait limit and faulted 32 MiB in on the sync
// thread (sync lag p99 85-110 ms in a third of the runs). Faulting in at the
// tables' priority all the time costs the light loads instead (at 100k/s a
// woken sync thread waited for it: p99 1.1 ms against 0.26). So the supply's
// own thread, which runs as the tables do, joins in only once a table has
// found its ask not ready, and until the supply has caught up.
//
// The flag is set and cleared under mu_ only, never with touch_mu_ taken
// there: the toucher at SCHED_IDLE holds touch_mu_ now and then, and a
// table's thread must not wait behind it. The supply's thread, in a job,
// looks at the flag at least every kHurryCheck, so a notify that misses it
// costs that much at most. (A slab's miss hurries before its next ask
// comes: if the supply is idle in between, the hurry ends unused.)
void PageSupply::HurryLocked() {
  if (hurried_.exchange(true, std::memory_order_relaxed)) return;
  ++hurries_;
  touch_cv_.notify_all();
  work_.notify_one();  // (an idle supply clears it at once)
}

void PageSupply::Want(size_t bytes, size_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  if (bytes > kMaxReadyBytes || count == 0) return;
  auto w = std::find_if(wanted_.begin(), wanted_.end(), [&](const Wanted& x) { return x.bytes == bytes; });
  if (w == wanted_.end()) {
    wanted_.push_back(Wanted{bytes, count});
  } else {
    w->count += count;
  }
  StartLocked();
  work_.notify_one();
}

void PageSupply::Forget(size_t bytes, size_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < count; ++i) SettleAskLocked(bytes);
  // Ready ones beyond the asks left go back now, not in kKeepReady.
  const size_t asks = AsksLocked(bytes);
  for (size_t ready = ReadyCountLocked(bytes); ready > asks; --ready) {
    auto r = std::find_if(ready_.begin(), ready_.end(), [&](const Ready& x) { return x.bytes == bytes; });
    give_back_.emplace_back(r->p, r->bytes);
    ready_.erase(r);
  }
  StartLocked();
  work_.notify_one();  // (and a mapping being prepared for them is given up)
}

void PageSupply::GiveBack(void* p, size_t bytes) {
  std::unique_lock<std::mutex> lock(mu_);
  size_t waiting = bytes;
  for (const auto& g : give_back_) waiting += g.second;
  if (waiting > kMaxGiveBackBytes) {
    lock.unlock();
    UnmapHugePages(p, bytes);
    return;
  }
  give_back_.emplace_back(p, bytes);
  StartLocked();
  work_.notify_one();
}

// The smallest ask first: a slab's next 2 MiB chunk is needed sooner than
// a key index's next table, and is faulted in a hundred times faster.
size_t PageSupply::NextLocked() const {
  const size_t held = ReadyBytesLocked() + partial_.bytes;
  size_t next = 0;
  for (const Wanted& w : wanted_) {
    const size_t have = ReadyCountLocked(w.bytes) + (partial_.bytes == w.bytes ? 1 : 0);
    if (have < w.count && held + w.bytes <= kMaxReadyBytes && (next == 0 || w.bytes < next)) next = w.bytes;
  }
  return next;
}

PageSupply::Counts PageSupply::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {taken_, missed_, hurries_};
}

size_t PageSupply::ready_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ReadyBytesLocked();
}

void PageSupply::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [&] {
    return !busy_ && NextLocked() == 0 && !partial_.p && give_back_.empty() && !hurried_.load(std::memory_order_relaxed);
  });
}

// A mapping faulted in (the lock held): ready if still asked for, else
// back (its table took its own meanwhile, or is gone).
void PageSupply::Finished(void* p, size_t bytes) {
  if (StillAskedLocked(bytes)) {
    ready_.push_back(Ready{bytes, p, std::chrono::steady_clock::now()});
  } else {
    give_back_.emplace_back(p, bytes);
  }
}

// By a thread of its own at SCHED_IDLE, touching each page: the supply's
// own thread holds mu_ (which the tables take) and unmaps (which holds
// mmap_lock for writing), so it runs as the tables' threads do, and a thread
// at SCHED_IDLE may wait long for a CPU on a busy machine. The toucher holds
// nothing anyone else waits for: a fault takes no process-wide lock
// (per-VMA locks; MADV_POPULATE_WRITE would hold mmap_lock), and the
// mapping is the supply's alone until it is ready. (A thread cannot come
// back from SCHED_IDLE without CAP_SYS_NICE, so the work moves, not the
// thread's policy.) Hurried, this thread takes a share of the claims too.
void PageSupply::FaultIn(void* p, size_t bytes) {
  std::unique_lock<std::mutex> lock(touch_mu_);
  if (!toucher_started_) {
    toucher_started_ = true;
    std::thread([this] {
      pthread_setname_np(pthread_self(), "page-toucher");
      LowerThisThread();
      std::unique_lock<std::mutex> l(touch_mu_);
      for (;;) {
        // Hurried, the claims left are the supply's own thread's: one
        // claim of a starved toucher is all it may wait for. (The flag
        // clears only between jobs, and each job wakes this thread.)
        touch_cv_.wait(l, [&] { return !hurried_.load(std::memory_order_relaxed) && touch_.claimed < touch_.bytes; });
        WriteAClaim(l);
      }
    }).detach();
  }
  touch_ = TouchJob{static_cast<char*>(p), bytes, 0, 0};
  touch_cv_.notify_all();
  for (;;) {
    touch_cv_.wait_for(lock, kHurryCheck, [&] {
      return touch_.written == touch_.bytes || (hurried_.load(std::memory_order_relaxed) && touch_.claimed < touch_.bytes);
    });
    if (touch_.written == touch_.bytes) break;
    if (!hurried_.load(std::memory_order_relaxed) || touch_.claimed == touch_.bytes) continue;
    WriteAClaim(lock);
  }
  touch_ = TouchJob{};
}

// One claim of the job, by whichever thread: at most a huge page, written
// without the lock.
void PageSupply::WriteAClaim(std::unique_lock<std::mutex>& touch) {
  char* at = touch_.p + touch_.claimed;
  const size_t n = std::min(kHugePage, touch_.bytes - touch_.claimed);
  touch_.claimed += n;
  touch.unlock();
  WriteEachPage(at, n);
  touch.lock();
  touch_.written += n;
  touch_cv_.notify_all();
}

void PageSupply::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (!give_back_.empty()) {
      const auto [p, bytes] = give_back_.front();
      give_back_.pop_front();
      busy_ = true;
      lock.unlock();
      UnmapHugePages(p, bytes);
      lock.lock();
      busy_ = false;
      continue;
    }
    // A large mapping is faulted in a slice at a time, and a smaller ask
    // that comes meanwhile goes first: faulting in 32 MiB takes 15-60 ms
    // here, time in which a growing slab would otherwise find no chunk ready.
    // A large mapping whose ask went meanwhile (its table took its own, or
    // is gone) is given up, not faulted in for nobody.
    if (partial_.p && !StillAskedLocked(partial_.bytes)) {
      give_back_.emplace_back(partial_.p, partial_.bytes);
      partial_ = Partial{};
      continue;
    }
    const size_t next = NextLocked();
    if (partial_.p && (next == 0 || next > kSlice)) {
      const size_t slice = std::min(kSlice, partial_.bytes - partial_.done);
      char* at = static_cast<char*>(partial_.p) + partial_.done;
      busy_ = true;
      lock.unlock();
      FaultIn(at, slice);
      lock.lock();
      busy_ = false;
      partial_.done += slice;
      if (partial_.done == partial_.bytes) {
        Finished(partial_.p, partial_.bytes);
        partial_ = Partial{};
      }
      continue;
    }
    if (next > kSlice) {
      busy_ = true;
      lock.unlock();
      void* p = MapHugePages(next);
      lock.lock();
      busy_ = false;
      partial_ = Partial{p, next, 0};
      continue;
    }
    if (next != 0) {
      busy_ = true;
      lock.unlock();
      void* p = MapHugePages(next);
      FaultIn(p, next);
      lock.lock();
      busy_ = false;
      Finished(p, next);
      continue;
    }
    // Ready mappings nobody took go back to the kernel after a while, with
    // their asks (else the next round would prepare them again).
    const auto now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < ready_.size();) {
      if (now - ready_[i].since < kKeepReady) {
        ++i;
        continue;
      }
      SettleAskLocked(ready_[i].bytes);
      give_back_.emplace_back(ready_[i].p, ready_[i].bytes);
      ready_.erase(ready_.begin() + static_cast<std::ptrdiff_t>(i));
    }
    if (!give_back_.empty()) continue;
    hurried_.store(false, std::memory_order_relaxed);  // caught up
    idle_.notify_all();
    if (ready_.empty()) {
      work_.wait(lock);
    } else {
      work_.wait_for(lock, std::chrono::seconds(1));
    }
  }
}

}  // namespace bladesync
