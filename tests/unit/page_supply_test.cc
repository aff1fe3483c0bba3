// PageSupply: table memory mapped and faulted in ahead of need, so a table
// that grows takes its next array ready instead of faulting it in on the
// sync path.
#include "core/page_supply.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <dirent.h>
#include <sched.h>

#include <cstring>
#include <fstream>
#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "blades/key_index.h"
#include "blades/record_slab.h"
#include "core/huge_page_allocator.h"

namespace bladesync {
namespace {

long ThreadMinorFaults() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return u.ru_minflt;
}

// This process's threads whose names start with `prefix`: name -> tid.
std::map<std::string, int> ThreadsNamed(const std::string& prefix) {
  std::map<std::string, int> tids;
  DIR* d = opendir("/proc/self/task");
  if (!d) return tids;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string name;
    std::getline(std::ifstream(std::string("/proc/self/task/") + e->d_name + "/comm"), name);
    if (name.rfind(prefix, 0) == 0) tids[name] = std::stoi(e->d_name);
  }
  closedir(d);
  return tids;
}

// Minor faults of this process's thread named `comm` so far (-1: none such).
long MinorFaultsOf(const std::string& comm) {
  const std::map<std::string, int> tids = ThreadsNamed(comm);
  const auto t = tids.find(comm);
  if (t == tids.end()) return -1;
  std::string stat;
  std::getline(std::ifstream("/proc/self/task/" + std::to_string(t->second) + "/stat"), stat);
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));  // (the name may hold spaces)
  std::string field;
  for (int i = 3; i <= 10; ++i) rest >> field;  // state .. minflt (proc(5): field 10)
  return std::stol(field);
}

// Nothing of `bytes` is ready or asked for (a Take without an ask would
// not see a mapping held for an open ask).
bool NothingReadyOrAsked(size_t bytes) {
  bool coming = true;
  void* p = PageSupply::Get().TakeIfReady(bytes, &coming);
  if (p) UnmapHugePages(p, bytes);
  return !p && !coming;
}

bool AllZero(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (size_t i = 0; i < bytes; ++i) {
    if (c[i]) return false;
  }
  return true;
}

TEST(PageSupply, AWantedMappingComesReadyZeroAndFaultedIn) {
  PageSupply& s = PageSupply::Get();
  const size_t bytes = 3 * kHugePage;
  s.Want(bytes, 1);
  s.WaitIdle();
  const uint64_t taken = s.taken();
  void* p = s.Take(bytes, true);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(s.taken(), taken + 1);
  const long faults = ThreadMinorFaults();
  std::memset(p, 0x5a, bytes);  // writing it takes no fault here: it is in already
  EXPECT_LE(ThreadMinorFaults() - faults, 2);
  UnmapHugePages(p, bytes);
  // Taken once: the want is not renewed by the take.
  s.WaitIdle();
  EXPECT_TRUE(NothingReadyOrAsked(bytes));
}

TEST(PageSupply, FreshMappingsAreZero) {
  PageSupply& s = PageSupply::Get();
  s.Want(kHugePage, 1);
  s.WaitIdle();
  void* p = s.Take(kHugePage, true);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(AllZero(p, kHugePage));
  s.GiveBack(p, kHugePage);
  s.WaitIdle();
}

// A table that did not ask (a first chunk, a reserve) does not take what
// was made ready for another table's open ask: that table would miss.
TEST(PageSupply, ATakeWithoutAnAskLeavesAnotherTablesMappingAlone) {
  PageSupply& s = PageSupply::Get();
  const size_t bytes = 9 * kHugePage;
  s.Want(bytes, 1);
  s.WaitIdle();
  EXPECT_EQ(s.Take(bytes, false), nullptr);
  void* p = s.Take(bytes, true);
  EXPECT_NE(p, nullptr) << "the table that asked found nothing";
  if (p) UnmapHugePages(p, bytes);
}

TEST(PageSupply, NothingReadyOfASizeNobodyWanted) {
  PageSupply& s = PageSupply::Get();
  const uint64_t missed = s.missed();
  EXPECT_EQ(s.Take(7 * kHugePage, false), nullptr);
  EXPECT_EQ(s.missed(), missed + 1);
}

TEST(PageSupply, HoldsAtMostItsBoundReady) {
  PageSupply& s = PageSupply::Get();
  s.Want(PageSupply::kMaxReadyBytes + kHugePage, 1);  // larger than the bound: never prepared
  s.Want(5 * kHugePage, 100);                         // more than the bound in all
  s.WaitIdle();
  EXPECT_EQ(s.Take(PageSupply::kMaxReadyBytes + kHugePage, true), nullptr);
  EXPECT_GT(s.ready_bytes(), PageSupply::kMaxReadyBytes - 5 * kHugePage);
  EXPECT_LE(s.ready_bytes(), PageSupply::kMaxReadyBytes);
  // Each Take settles one of the 100 asks, ready or not.
  for (int i = 0; i < 100; ++i) {
    if (void* p = s.Take(5 * kHugePage, true)) UnmapHugePages(p, 5 * kHugePage);
  }
  s.WaitIdle();
  EXPECT_TRUE(NothingReadyOrAsked(5 * kHugePage)) << "asks outlived their takes";
}

// Two tables asking for the same size at once (an owner's and a mirror's
// key index grow at the same session count) get one each. With one
// mapping per size, the second table faulted its 32 MiB in on the sync
// path: 60-80 ms of sync lag at 1M deltas/s.
TEST(PageSupply, TwoAsksForOneSizeGetTwoMappings) {
  PageSupply& s = PageSupply::Get();
  const size_t bytes = 4 * kHugePage;
  s.Want(bytes, 1);
  s.Want(bytes, 1);
  s.WaitIdle();
  void* a = s.Take(bytes, true);
  void* b = s.Take(bytes, true);
  EXPECT_NE(a, nullptr);
  EXPECT_NE(b, nullptr);
  for (void* p : {a, b}) {
    if (p) UnmapHugePages(p, bytes);
  }
  s.WaitIdle();
  EXPECT_TRUE(NothingReadyOrAsked(bytes)) << "both asks were settled";
}

// A table that goes away with its asks open forgets them: what was made
// ready for it goes back, and a large mapping being faulted in for it is
// given up, not finished for nobody.
TEST(PageSupply, AnIndexDestroyedBeforeItGrewLeavesNothingReady) {
  PageSupply::Get().WaitIdle();
  const size_t before = PageSupply::Get().ready_bytes();  // earlier tests' (the supply is the process's)
  {
    KeyIndex index;
    uint32_t id = 0;
    // Past 55% of 2^22 slots: its 64 MiB successor is asked for.
    while (index.size() < (size_t{1} << 22) * 56 / 100) index.Insert(id, id * 2654435761u), ++id;
    ASSERT_FALSE(index.growing());
  }
  PageSupply::Get().WaitIdle();
  EXPECT_LE(PageSupply::Get().ready_bytes(), before) << "a mapping was left ready for an index that is gone";
}

TEST(PageSupply, AForgottenAskIsNotPrepared) {
  PageSupply& s = PageSupply::Get();
  s.WaitIdle();
  const size_t before = s.ready_bytes();
  const size_t bytes = 32 * kHugePage;  // 64 MiB: faulted in a slice at a time
  s.Want(bytes, 1);
  s.Forget(bytes, 1);
  s.WaitIdle();
  EXPECT_LE(s.ready_bytes(), before);
  EXPECT_TRUE(NothingReadyOrAsked(bytes));
}

// Owner and mirror key indexes growing side by side both take their next
// table ready, and neither faults it in on its own thread.
TEST(PageSupply, TwoKeyIndexesGrowingAtOnceBothTakeTheirTablesReady) {
  KeyIndex a, b;
  uint32_t id = 0;
  while (a.size() < (size_t{1} << 19) * 7 / 10 - 1) a.Insert(id, id * 2654435761u), b.Insert(id, id * 40503u), ++id;
  ASSERT_FALSE(a.growing());
  PageSupply::Get().WaitIdle();
  const uint64_t taken = PageSupply::Get().taken();
  const long faults = ThreadMinorFaults();
  for (int i = 0; i < 64; ++i) a.Insert(id, id * 2654435761u), b.Insert(id, id * 40503u), ++id;
  ASSERT_TRUE(a.growing());
  ASSERT_TRUE(b.growing());
  EXPECT_EQ(PageSupply::Get().taken(), taken + 2) << "one of the two new tables was not ready";
  EXPECT_LE(ThreadMinorFaults() - faults, 4) << "a new table faulted in on the inserting thread";
}

// The key index asks for its next table before it is full, and takes it
// ready when it grows: the inserting thread takes no page faults for it.
TEST(PageSupply, AGrowingKeyIndexTakesItsNextTableReady) {
  KeyIndex index;
  uint32_t id = 0;
  // Fill to the brink of a growth into a table of 2^20 slots (8 MiB).
  while (index.size() < (size_t{1} << 19) * 7 / 10 - 1) index.Insert(id, id * 2654435761u), ++id;
  ASSERT_FALSE(index.growing());
  PageSupply::Get().WaitIdle();
  const uint64_t taken = PageSupply::Get().taken();
  const long faults = ThreadMinorFaults();
  for (int i = 0; i < 64; ++i) index.Insert(id, id * 2654435761u), ++id;
  ASSERT_TRUE(index.growing());
  EXPECT_EQ(PageSupply::Get().taken(), taken + 1) << "the new table was not the one asked for";
  EXPECT_LE(ThreadMinorFaults() - faults, 2) << "the new table faulted in on the inserting thread";
}

// A slab takes full chunks ready, and they read as empty records.
TEST(PageSupply, AGrowingSlabTakesChunksReady) {
  RecordSlab slab;
  slab.resize(RecordSlab::kChunk + 1);  // a second chunk: the next two are asked for
  PageSupply::Get().WaitIdle();
  const uint64_t taken = PageSupply::Get().taken();
  const long faults = ThreadMinorFaults();
  slab.resize(3 * size_t{RecordSlab::kChunk});
  for (uint32_t id = RecordSlab::kChunk; id < 3 * RecordSlab::kChunk; id += 512) slab[id].version = id;
  EXPECT_EQ(PageSupply::Get().taken(), taken + 1);
  EXPECT_LE(ThreadMinorFaults() - faults, 2);
  for (uint32_t id = 2 * RecordSlab::kChunk + 1; id < 3 * RecordSlab::kChunk; id += 4099) {
    EXPECT_EQ(slab[id].bits, 0);
    EXPECT_EQ(slab[id].key.proto, 0);
  }
}

// The small growths too: every size from 64 KiB on was faulted in page by
// page on the inserting thread (hundreds of faults per growth, milliseconds
// on a VM). Each growth of an index from 8192 slots (64 KiB) to 2^18 (2 MiB,
// where the test above begins) takes its table ready.
TEST(PageSupply, AGrowingKeyIndexTakesItsSmallTablesReadyToo) {
  KeyIndex index;
  uint32_t id = 0;
  long faults = 0;
  uint64_t ready = 0, growths = 0;
  for (size_t slots = 8192; slots <= (size_t{1} << 17); slots *= 2) {
    while (index.size() < slots * 7 / 10) index.Insert(id, id * 2654435761u), ++id;
    ASSERT_FALSE(index.growing()) << slots;
    PageSupply::Get().WaitIdle();
    const uint64_t taken = PageSupply::Get().taken();
    const long before = ThreadMinorFaults();
    for (int i = 0; i < 8; ++i) index.Insert(id, id * 2654435761u), ++id;
    ASSERT_TRUE(index.growing()) << slots;
    faults += ThreadMinorFaults() - before;
    ready += PageSupply::Get().taken() - taken;
    ++growths;
  }
  EXPECT_EQ(ready, growths) << "a new table was not the one asked for";
  EXPECT_LE(faults, static_cast<long>(2 * growths)) << "new tables faulted in on the inserting thread";
}

// The slab's first chunk grows like a vector from 1024 records (64 KiB) to a
// full chunk: each next size is asked for when the last one is taken.
TEST(PageSupply, ASlabsFirstChunkTakesEachNextSizeReady) {
  RecordSlab slab;
  slab.resize(1);
  long faults = 0;
  uint64_t ready = 0, growths = 0;
  for (size_t records = 1024; records < RecordSlab::kChunk; records *= 2) {
    slab.resize(records);
    PageSupply::Get().WaitIdle();
    const uint64_t taken = PageSupply::Get().taken();
    const long before = ThreadMinorFaults();
    slab.resize(records + 1);
    faults += ThreadMinorFaults() - before;
    ready += PageSupply::Get().taken() - taken;
    ++growths;
    EXPECT_EQ(slab[static_cast<uint32_t>(records)].bits, 0);
  }
  EXPECT_EQ(ready, growths) << "a next size was not ready";
  EXPECT_LE(faults, static_cast<long>(2 * growths)) << "a next size faulted in on the growing thread";
}

// A busy machine: the supply cannot have the next table ready in time (here
// it is held at its bound by mappings nobody takes). The index then fills
// on past 70% rather than fault twice its size in on the inserting thread
// at once, takes its table when it comes, and grows by itself only past 85%.
TEST(PageSupply, AKeyIndexWaitsPast70PercentForItsNextTable) {
  PageSupply& supply = PageSupply::Get();
  constexpr size_t kSlots = size_t{1} << 18;  // 2 MiB; the next one is 4 MiB
  KeyIndex index, other, third;               // sized first: no smaller asks of theirs
  index.Reserve(kSlots / 2);
  other.Reserve(kSlots / 2);
  third.Reserve(kSlots / 2);
  ASSERT_EQ(index.MemoryBytes(), kSlots * 8);
  std::vector<std::pair<size_t, size_t>> held;  // (bytes, count) of mappings nobody takes
  auto hold_the_bound = [&] {
    supply.WaitIdle();
    const size_t left = PageSupply::kMaxReadyBytes - supply.ready_bytes();  // a multiple of 64 KiB
    held = {{kHugePage, left / kHugePage}, {PageSupply::kMinBytes, left % kHugePage / PageSupply::kMinBytes}};
    for (auto [bytes, n] : held) supply.Want(bytes, n);
    supply.WaitIdle();
    ASSERT_EQ(supply.ready_bytes(), PageSupply::kMaxReadyBytes);
  };
  auto free_the_bound = [&] {
    for (auto [bytes, n] : held) {
      for (size_t i = 0; i < n; ++i) {
        void* p = supply.Take(bytes, true);
        ASSERT_NE(p, nullptr);
        supply.GiveBack(p, bytes);
      }
    }
  };
  hold_the_bound();
  uint32_t id = 0;
  while (index.size() < kSlots * 80 / 100) index.Insert(id, id * 2654435761u), ++id;
  EXPECT_FALSE(index.growing()) << "grew at 70% into a table of its own";
  EXPECT_EQ(index.MemoryBytes(), kSlots * 8);
  // The bound frees up: the table asked for comes, and is taken ready.
  free_the_bound();
  supply.WaitIdle();
  const uint64_t taken = supply.taken();
  const long faults = ThreadMinorFaults();
  for (int i = 0; i < 64; ++i) index.Insert(id, id * 2654435761u), ++id;
  EXPECT_TRUE(index.growing());
  EXPECT_EQ(supply.taken(), taken + 1);
  EXPECT_LE(ThreadMinorFaults() - faults, 2) << "the new table faulted in on the inserting thread";
  for (uint32_t k = 0; k < id; k += 997) EXPECT_EQ(index.Find(k * 2654435761u, [&](uint32_t x) { return x == k; }), k);
  // Held at the bound for good: past 85% it grows into one of its own.
  hold_the_bound();
  id = 0;
  while (other.size() < kSlots * 85 / 100 - 1) other.Insert(id, id * 40503u), ++id;
  EXPECT_FALSE(other.growing());
  for (int i = 0; i < 2; ++i) other.Insert(id, id * 40503u), ++id;
  EXPECT_TRUE(other.growing());
  // An ask that will not come (it expired: here forgotten) is not waited for.
  id = 0;
  while (third.size() < kSlots * 60 / 100) third.Insert(id, id * 69069u), ++id;  // asked at 55%
  supply.Forget(2 * kSlots * 8, 1);
  while (third.size() < kSlots * 70 / 100 + 1) third.Insert(id, id * 69069u), ++id;
  EXPECT_TRUE(third.growing()) << "waited past 70% for a table nobody prepares";
  free_the_bound();
}

// A table that finds its ask not ready (it is late) hurries the supply:
// the supply's own thread, at the tables' priority, then faults in beside
// the toucher at SCHED_IDLE until nothing asked is left, and not after.
// (At 1M deltas/s on two cores the toucher alone fell so far behind that a
// key index faulted 32 MiB in on the sync thread.)
TEST(PageSupply, ALateTakeHurriesTheSupplyUntilItCatchesUp) {
  PageSupply& supply = PageSupply::Get();
  constexpr size_t kBig = size_t{128} << 20;  // 64 claims of a huge page: long enough to join in
  // The supply's thread has run (and named itself), whichever test runs
  // first: it prepared something. (An ask forgotten at once would leave it
  // nothing to do, and WaitIdle could return before it ran at all.)
  supply.Want(PageSupply::kMinBytes, 1);
  supply.WaitIdle();
  bool coming = false;
  void* first = supply.TakeIfReady(PageSupply::kMinBytes, &coming);
  ASSERT_NE(first, nullptr);
  UnmapHugePages(first, PageSupply::kMinBytes);
  supply.WaitIdle();
  ASSERT_LE(supply.ready_bytes(), PageSupply::kMaxReadyBytes - kBig) << "the bound would refuse the ask";
  const uint64_t hurries = supply.hurries();
  const long faults = MinorFaultsOf("page-supply");
  ASSERT_GE(faults, 0);
  supply.Want(kBig, 1);
  ASSERT_EQ(supply.TakeIfReady(kBig, &coming), nullptr) << "128 MiB faulted in within microseconds";
  EXPECT_TRUE(coming);
  EXPECT_EQ(supply.hurries(), hurries + 1);
  supply.WaitIdle();
  const long hurried_faults = MinorFaultsOf("page-supply");
  // Hurried, the toucher finishes at most the claim it holds: the supply's
  // thread writes most of the 64 (a fault each on huge pages, 512 without).
  EXPECT_GE(hurried_faults - faults, 32) << "hurried, the supply's thread faulted (next to) nothing in";
  void* big = supply.TakeIfReady(kBig, &coming);
  ASSERT_NE(big, nullptr);
  UnmapHugePages(big, kBig);
  // Caught up: what is asked next is the toucher's alone again (80 pages;
  // a fault or two of the supply's own bookkeeping may come with it).
  supply.Want(PageSupply::kMinBytes * 5, 1);
  supply.WaitIdle();
  EXPECT_LE(MinorFaultsOf("page-supply") - hurried_faults, 4);
  EXPECT_EQ(supply.hurries(), hurries + 1);
  void* small = supply.TakeIfReady(PageSupply::kMinBytes * 5, &coming);
  ASSERT_NE(small, nullptr);
  UnmapHugePages(small, PageSupply::kMinBytes * 5);
}

// Its threads are named for what they are (top -H, perf). Table memory is
// faulted in at SCHED_IDLE (until a table is late: above), by a thread
// that holds nothing the tables' threads take: work ahead of need must not
// take a core from the sync threads on a busy machine (at nice 0 it held one for milliseconds at a
// time, and the sync lag of tables grown on demand showed it). The supply's
// own thread, which holds the lock the tables take, runs as they do.
TEST(PageSupply, ItsThreadsAreNamedAndFaultInAtIdlePriority) {
  PageSupply& supply = PageSupply::Get();
  supply.Want(PageSupply::kMinBytes * 3, 1);
  supply.WaitIdle();
  supply.Forget(PageSupply::kMinBytes * 3, 1);
  std::map<std::string, int> policy;
  for (const auto& [name, tid] : ThreadsNamed("page-")) policy[name] = sched_getscheduler(tid);
  EXPECT_EQ(policy, (std::map<std::string, int>{{"page-supply", SCHED_OTHER}, {"page-toucher", SCHED_IDLE}}));
}

}  // namespace
}  // namespace bladesync
