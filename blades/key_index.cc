#include "blades/key_index.h"

#include <cassert>
#include <cstring>
#include <utility>

#include "core/huge_page_allocator.h"
#include "core/page_supply.h"

namespace bladesync {

// Big tables are fresh mappings: zero, and faulted in already when the page
// supply had one ready; small ones are zeroed here.
KeyIndex::Table KeyIndex::Table::Make(size_t n, bool asked) {
  Table t;
  t.n = n;
  t.mask = n - 1;
  const size_t bytes = n * sizeof(Slot);
  if (bytes >= PageSupply::kMinBytes) {
    void* ready = PageSupply::Get().Take(bytes, asked);
    t.slots = static_cast<Slot*>(ready ? ready : MapHugePages(bytes));
  } else {
    t.slots = static_cast<Slot*>(::operator new(bytes));
    std::memset(static_cast<void*>(t.slots), 0, bytes);
  }
  return t;
}

KeyIndex::Table KeyIndex::Table::Of(void* slots, size_t n) {
  Table t;
  t.n = n;
  t.mask = n - 1;
  t.slots = static_cast<Slot*>(slots);
  return t;
}

void KeyIndex::Table::Free() {
  if (!slots) return;
  const size_t bytes = n * sizeof(Slot);
  if (bytes >= PageSupply::kMinBytes) {
    PageSupply::Get().GiveBack(slots, bytes);  // (unmapping megabytes takes a while)
  } else {
    ::operator delete(slots);
  }
  *this = Table{};
}

// Backward-shift deletion: no tombstones, and a cluster never gains a gap.
bool KeyIndex::Table::Erase(uint32_t id, uint32_t tag) {
  size_t i = tag & mask;
  while (slots[i].ref != id + 1) {
    if (!slots[i].ref) return false;
    i = (i + 1) & mask;
  }
  size_t hole = i;
  for (size_t j = (hole + 1) & mask; slots[j].ref; j = (j + 1) & mask) {
    const size_t home = slots[j].tag & mask;
    // Move j into the hole when its home is not in (hole, j] cyclically.
    const bool in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!in_range) {
      slots[hole] = slots[j];
      hole = j;
    }
  }
  slots[hole] = Slot{0, 0};
  --used;
  return true;
}

void KeyIndex::Insert(uint32_t id, uint32_t tag) {
  if (old_.slots) Walk(kWalkPerInsert);
  if (now_.full_after_one_more()) {
    GrowWhenReady();
  } else {
    waiting_ = 0;  // (erases took it back under 70%: check at once next time)
  }
  now_.Place(Slot{id + 1, tag});
  // The next table is asked for at 55% (growth comes at 70%): faulting in
  // takes long on a VM (about 0.5 ms per 2 MiB here), and the 15% of n
  // inserts between leave it the time. Not earlier: a table that stays
  // just under its growth would hold its successor ready for nothing.
  if (!asked_ && now_.used * 100 > now_.n * 55 && 2 * now_.n * sizeof(Slot) >= PageSupply::kMinBytes) {
    asked_ = true;
    PageSupply::Get().Want(2 * now_.n * sizeof(Slot), 1);
  }
}

// Erases walk too: a table whose inserts stop mid-move (sessions that only
// expire from then on) would otherwise keep both tables, and probe both on
// every miss, for as long as it lives.
void KeyIndex::Erase(uint32_t id, uint32_t tag) {
  if (old_.slots) Walk(kWalkPerInsert);
  if (now_.Erase(id, tag)) return;
  const bool found = old_.slots && old_.Erase(id, tag);
  assert(found);
  (void)found;
}

// The next table comes ready from the page supply when all goes well. When
// it is not ready yet but still coming (a machine too busy to fault it in
// ahead), the table fills on to 85% for a while, with longer probes, rather
// than fault twice its size in on the sync path at once: on a VM that took
// 50-130 ms at 16-32 MiB (sync_lag_bench at 1M/s), far more than the supply
// needs to finish. When none is coming (its ask expired, or was larger
// than the supply holds) it grows at once.
void KeyIndex::GrowWhenReady() {
  if (old_.slots) Walk(old_.n);  // not done yet (many erases, few inserts): finish first
  const size_t slots = now_.n * 2;
  if (asked_) {
    if (waiting_++ % kReadyCheckEvery != 0 && !now_.past_wait_limit()) return;
    bool coming = false;
    if (void* ready = PageSupply::Get().TakeIfReady(slots * sizeof(Slot), &coming)) {
      Grow(Table::Of(ready, slots));
      return;
    }
    if (coming && !now_.past_wait_limit()) return;
    if (!coming) asked_ = false;  // nothing to settle
  }
  Grow(Table::Make(slots, asked_));
}

// The full table becomes the old one; entries move over as inserts come.
void KeyIndex::Grow(Table next) {
  assert(!old_.slots);
  old_ = std::exchange(now_, next);
  asked_ = false;
  waiting_ = 0;
  // Start the walk at an empty slot (a table at most 85% full has one), so
  // no cluster wraps around it.
  walk_ = 0;
  while (old_.slots[walk_].ref) ++walk_;
  walk_start_ = walk_;
  walk_left_ = old_.n;
  if (old_.used == 0) {
    old_.Free();
    walk_left_ = 0;
  }
}

void KeyIndex::Walk(size_t budget) {
  while (walk_left_ > 0 && (budget > 0 || old_.slots[walk_].ref)) {
    Slot& s = old_.slots[walk_];
    if (s.ref) {
      now_.Place(s);
      s = Slot{0, 0};
      --old_.used;
    }
    walk_ = (walk_ + 1) & old_.mask;
    --walk_left_;
    if (budget > 0) --budget;
  }
  if (walk_left_ == 0 || old_.used == 0) {
    assert(old_.used == 0);
    old_.Free();
    walk_left_ = 0;
  }
}

void KeyIndex::Reserve(size_t entries) {
  size_t slots = now_.n;
  while (slots * 7 < entries * 10) slots *= 2;
  if (slots == now_.n) return;
  ForgetAsk();
  if (old_.slots) Walk(old_.n);
  // Once, not once per doubling, and at once: a reserve happens before
  // traffic, so its memory is written now (faulted in), not under load.
  Table from = std::exchange(now_, Table::Make(slots));
  std::memset(static_cast<void*>(now_.slots), 0, now_.n * sizeof(Slot));
  for (size_t i = 0; i < from.n; ++i) {
    if (from.slots[i].ref) now_.Place(from.slots[i]);
  }
  from.Free();
  asked_ = false;
  waiting_ = 0;
}

void KeyIndex::ForgetAsk() {
  if (asked_) PageSupply::Get().Forget(2 * now_.n * sizeof(Slot), 1);
  asked_ = false;
}

void KeyIndex::Clear() {
  ForgetAsk();
  waiting_ = 0;
  now_.Free();
  old_.Free();
  walk_left_ = 0;
  asked_ = false;
  now_ = Table::Make(kMinSlots);
}

}  // namespace bladesync
