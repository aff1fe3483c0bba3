// PageSupply: the session tables' next big arrays, mapped and faulted in
// ahead of need on a thread of their own.
//
// A table grown on demand used to take each new 2 MiB chunk of records and
// each new key-index array from the kernel on the sync path: a fault that
// zeroes 2 MiB at once, then a pass of writes, while every delta queued
// behind it waited (sync lag p99 at 1M deltas/s: 25-200 ms grown, against
// under 1 ms with session-table-reserve). A table now asks for what it will
// need next (Want) a while before it needs it; this thread maps it and
// writes it in (MADV_POPULATE_WRITE, or a write per page), and the table
// takes it ready (Take) when the time comes. When nothing is ready (a burst
// faster than the thread, or a size nobody asked for) the table maps its
// own, as before. Old arrays go back here too (GiveBack), so unmapping a
// large one is not on the sync path either.
//
// Each ask is for one Take: two tables asking for the same size at once
// (an owner's and a mirror's key index, growing at the same session count)
// get two mappings. A Take by a table that asked settles one ask of its
// size, ready or not; a table that goes away with asks open forgets them
// (Forget), and a mapping whose ask is gone is not prepared further.
//
// The faulting in is done by a thread at SCHED_IDLE, so it takes no core
// the sync threads want; a table that finds its ask not ready hurries the
// supply, whose own thread then joins in at the tables' priority until it
// has caught up (HurryLocked).
//
// Memory held ahead is bounded: kMaxReadyBytes in all (a larger array is
// not prepared; its table maps it on the sync path as before), and a ready
// mapping nobody took within kKeepReady goes back to the kernel, its ask
// with it.
//
//   PageSupply::Get().Want(kHugePage, 2);
//   void* p = PageSupply::Get().Take(kHugePage, true);  // nullptr: map your own
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace bladesync {

class PageSupply {
 public:
  // Ready mappings, all sizes together, at most this many bytes: room for
  // the next key index of two tables of 2-3 million sessions at once.
  static constexpr size_t kMaxReadyBytes = size_t{192} << 20;
  static constexpr std::chrono::seconds kKeepReady{30};
  // Arrays from this size on come from the supply (smaller ones are a few
  // pages from operator new). Not only huge ones: a table's first growths
  // (64 KiB to 1 MiB) faulted in on the sync path page by page cost
  // milliseconds on a VM, where a page fault may fault on the host too.
  static constexpr size_t kMinBytes = size_t{64} << 10;

  // The process's supply (its thread starts at the first Want).
  static PageSupply& Get();

  // A mapping of `bytes` (at least kMinBytes; MapHugePages rounds it up) that is already
  // faulted in and zero, or nullptr. The caller owns it (UnmapHugePages or
  // GiveBack). `asked`: the caller asked for it (Want), so one ask of that
  // size is settled; a caller that did not ask gets only a mapping beyond
  // the asks open for its size (the rest are other tables').
  void* Take(size_t bytes, bool asked);
  // A ready mapping of `bytes` if there is one, settling one ask of that
  // size; else nullptr and the asks stay open. `coming`: whether one may
  // still come (an ask of that size is open: not refused by the bound, not
  // expired), so the caller can wait a while.
  void* TakeIfReady(size_t bytes, bool* coming);
  // Settles up to `count` asks of `bytes` nobody will take (their table is
  // gone, cleared, or grew another way).
  void Forget(size_t bytes, size_t count);
  // Asks for `count` more mappings of `bytes` to be ready soon (within
  // kMaxReadyBytes), one per Take to come: a Take does not ask again.
  void Want(size_t bytes, size_t count);
  // Unmaps `p` (a MapHugePages mapping of `bytes`) on the supply's thread,
  // or here when kMaxGiveBackBytes wait already (a thread starved of CPU
  // must not let freed tables pile up).
  void GiveBack(void* p, size_t bytes);
  static constexpr size_t kMaxGiveBackBytes = size_t{256} << 20;

  // For tests, benchmarks and /metrics: mappings handed out ready, and
  // asked for when none was ready.
  // hurries: times a table found what it asked for not ready while it
  // was coming (the supply's thread then helped the toucher). Read under
  // one lock, so a scrape sees the three at one moment.
  struct Counts {
    uint64_t taken = 0;
    uint64_t missed = 0;
    uint64_t hurries = 0;
  };
  Counts counts() const;
  uint64_t taken() const { return counts().taken; }
  uint64_t missed() const { return counts().missed; }
  uint64_t hurries() const { return counts().hurries; }
  size_t ready_bytes() const;
  // Blocks until the thread has nothing left to do (tests).
  void WaitIdle();

 private:
  PageSupply() = default;
  void Run();
  // Faults [p, p + bytes) in on the toucher thread, and on this one too
  // while hurried; returns when done.
  void FaultIn(void* p, size_t bytes);
  // A table needed what it asked for and it was not ready: the supply's
  // thread helps the toucher until nothing asked is left to prepare.
  void HurryLocked();
  // Writes the next claim of touch_ (touch_mu_ held by `touch`, let go meanwhile).
  void WriteAClaim(std::unique_lock<std::mutex>& touch);
  size_t ReadyBytesLocked() const;
  // The size of a mapping to prepare next (an ask not met by one ready,
  // within the bound), or 0.
  size_t NextLocked() const;
  size_t AsksLocked(size_t bytes) const;
  size_t ReadyCountLocked(size_t bytes) const;
  void SettleAskLocked(size_t bytes);
  // A ready mapping of `bytes` out of ready_ (counted taken), or nullptr.
  void* TakeReadyLocked(size_t bytes);
  // More asks of this size than mappings ready for them.
  bool StillAskedLocked(size_t bytes) const;
  void Finished(void* p, size_t bytes);
  void StartLocked();

  mutable std::mutex mu_;
  std::condition_variable work_;
  std::condition_variable idle_;
  bool started_ = false;
  bool busy_ = false;
  struct Wanted {
    size_t bytes;
    size_t count;
  };
  std::vector<Wanted> wanted_;                      // asks not yet settled, per size
  struct Ready {
    size_t bytes;
    void* p;
    std::chrono::steady_clock::time_point since;
  };
  std::vector<Ready> ready_;
  // A large mapping being faulted in, kSlice bytes at a time.
  static constexpr size_t kSlice = size_t{4} << 20;
  struct Partial {
    void* p = nullptr;
    size_t bytes = 0;
    size_t done = 0;
  };
  Partial partial_;
  std::deque<std::pair<void*, size_t>> give_back_;  // (mapping, bytes)
  uint64_t taken_ = 0;
  uint64_t missed_ = 0;
  // The toucher: faults in what the supply's thread hands it, at SCHED_IDLE,
  // a claim of up to kHugePage at a time (so a hurried supply can share it).
  std::mutex touch_mu_;
  std::condition_variable touch_cv_;
  bool toucher_started_ = false;
  struct TouchJob {
    char* p = nullptr;
    size_t bytes = 0;    // 0: none
    size_t claimed = 0;  // bytes handed to a thread to write
    size_t written = 0;  // bytes written
  };
  TouchJob touch_;
  // Set and cleared under mu_, read under either lock (HurryLocked).
  std::atomic<bool> hurried_{false};
  static constexpr std::chrono::milliseconds kHurryCheck{1};
  uint64_t hurries_ = 0;  // under mu_
};

}  // namespace bladesync
