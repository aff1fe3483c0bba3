// KeyIndex: a session store's index from key to id, open addressing with
// linear probing, that grows without a stall.
//
// Doubling a table of a million entries at once took milliseconds on the
// sync path (every entry moved, the new array filled and faulted in), and
// tables grown on demand synced at half the rate of reserved ones. Here a
// full table becomes the old one, a table twice its size starts empty, and
// every insert moves a few of the old entries over, whole clusters at a
// time, so the old table is gone long before the new one is full; lookups
// try the new table, then the old. Empty is all zero bits, so a new table
// is fresh zero memory the kernel fills in as it is touched, not a pass of
// writes up front. The page supply faults the next table in ahead of need;
// while it is not ready the table fills past 70%, up to 85%.
//
// A cluster (a run of used slots) moves whole: an entry's probe path from
// its home never crosses an empty slot, so the old table stays searchable
// for what it still holds. The walk starts at an empty slot, so no cluster
// wraps around its start.
//
//   KeyIndex index;
//   index.Insert(id, tag);
//   std::optional<uint32_t> id = index.Find(tag, [&](uint32_t id) { return slab[id].key == key; });
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

namespace bladesync {

class KeyIndex {
 public:
  KeyIndex() : now_(Table::Make(kMinSlots)) {}
  ~KeyIndex() {
    ForgetAsk();
    now_.Free();
    old_.Free();
  }
  KeyIndex(const KeyIndex&) = delete;
  KeyIndex& operator=(const KeyIndex&) = delete;
  KeyIndex(KeyIndex&& o) : KeyIndex() { swap(*this, o); }  // o is left empty, and usable
  KeyIndex& operator=(KeyIndex&& o) {
    KeyIndex gone(std::move(o));
    swap(*this, gone);
    return *this;
  }
  friend void swap(KeyIndex& a, KeyIndex& b) noexcept {
    std::swap(a.now_, b.now_);
    std::swap(a.old_, b.old_);
    std::swap(a.walk_, b.walk_);
    std::swap(a.walk_left_, b.walk_left_);
    std::swap(a.walk_start_, b.walk_start_);
    std::swap(a.asked_, b.asked_);
    std::swap(a.waiting_, b.waiting_);
  }

  // `tag` is the low 32 bits of the key's hash; `is_key(id)` compares the
  // key of record `id` with the one looked for.
  template <typename IsKey>
  std::optional<uint32_t> Find(uint32_t tag, IsKey&& is_key) const {
    if (auto id = now_.Find(tag, is_key)) return id;
    if (InOld(tag)) return old_.Find(tag, is_key);
    return std::nullopt;
  }
  void Insert(uint32_t id, uint32_t tag);
  // Removes `id` (in the index, found by its key's tag).
  void Erase(uint32_t id, uint32_t tag);
  // Room for `entries` without growing again (one move, at once).
  void Reserve(size_t entries);
  void Clear();
  // Always inlined: g++ 12 takes a non-inlined function of prefetches
  // alone for one without effects and drops the call, prefetches and all.
  [[gnu::always_inline]] void Prefetch(uint32_t tag) const {
    __builtin_prefetch(&now_.slots[tag & now_.mask]);
    if (InOld(tag)) __builtin_prefetch(&old_.slots[tag & old_.mask]);
  }

  size_t size() const { return now_.used + old_.used; }
  size_t MemoryBytes() const { return (now_.n + old_.n) * sizeof(Slot); }
  // Still moving entries out of an old table (tests).
  bool growing() const { return old_.slots != nullptr; }

 private:
  static constexpr size_t kMinSlots = 1024;
  // Old slots walked per insert: the old table (half the new one's size)
  // is done after a third of the inserts that would fill the new one.
  static constexpr size_t kWalkPerInsert = 4;
  // While waiting for its next table, whether it is ready is checked every
  // this many inserts (it takes a lock).
  static constexpr uint32_t kReadyCheckEvery = 64;
  struct Slot {
    uint32_t ref;  // id + 1; 0 is empty
    uint32_t tag;
  };
  struct Table {
    Slot* slots = nullptr;
    size_t n = 0;
    size_t mask = 0;
    size_t used = 0;
    static Table Make(size_t n, bool asked = false);  // asked: this size was asked of the page supply
    static Table Of(void* slots, size_t n);           // on memory that is ready (zero)
    void Free();
    bool full_after_one_more() const { return (used + 1) * 10 > n * 7; }  // at most 70%: short clusters
    bool past_wait_limit() const { return (used + 1) * 100 > n * 85; }    // at most 85% while waiting
    void Place(Slot s) {
      size_t i = s.tag & mask;
      while (slots[i].ref) i = (i + 1) & mask;
      slots[i] = s;
      ++used;
    }
    template <typename IsKey>
    std::optional<uint32_t> Find(uint32_t tag, IsKey& is_key) const {
      for (size_t i = tag & mask;; i = (i + 1) & mask) {
        const Slot& s = slots[i];
        if (!s.ref) return std::nullopt;
        if (s.tag == tag && is_key(s.ref - 1)) return s.ref - 1;
      }
    }
    bool Erase(uint32_t id, uint32_t tag);
  };
  // Whether a key of this tag may still be in the old table. Not when its
  // home slot is behind the walk: the walk moves whole clusters and stops
  // only at an empty slot, so such a key's probe path was moved with it.
  // A new key's Find (every create on a mirror) then costs one probe, not two.
  bool InOld(uint32_t tag) const {
    return old_.slots && (((tag & old_.mask) - walk_start_) & old_.mask) >= old_.n - walk_left_;
  }
  // Moves at least `budget` old slots (finishing the cluster it is in).
  void Walk(size_t budget);
  // Grows into `next` (empty, twice the size) when the current table is full.
  void Grow(Table next);
  // At 70%: into the table asked for if it is ready; while it is still
  // coming, into one of its own only past 85%.
  void GrowWhenReady();
  // The successor asked for will not be taken (the index goes, is cleared,
  // or is reserved to another size).
  void ForgetAsk();

  Table now_;
  Table old_;          // being emptied into now_; slots == nullptr when none
  size_t walk_ = 0;    // the next old slot to move
  size_t walk_left_ = 0;
  size_t walk_start_ = 0;
  bool asked_ = false;  // for the table after now_ (PageSupply)
  uint32_t waiting_ = 0;  // inserts past 70% while the table asked for is not ready
};

}  // namespace bladesync
