// ChangeLog: the owner's log of session changes not yet acknowledged by
// every mirror, as a bounded ring.
//
// Entries name a session id and the version it had when the change was
// logged; the state itself is read from the session store when a frame is
// built, so a resend carries the current state (coalesced). Deletes carry
// their own version and stay until every mirror acknowledged them. When the
// ring is full, the streams holding the oldest entries give up their place
// and fall back to a bulk resync (never silent loss, never unbounded growth).
//
//   uint64_t index = log.Append({version, id, kOpCreate, kAllPeers});
//   const ChangeEntry& e = log.at(index);
#pragma once

#include <cassert>
#include <cstdint>
#include <vector>

namespace bladesync {

enum ChangeOp : uint8_t { kOpCreate = 0, kOpUpdate = 1, kOpDelete = 2, kOpRecreate = 3 };
inline constexpr uint8_t kAllPeers = 0xff;

struct ChangeEntry {
  uint64_t version = 0;
  uint32_t id = 0;
  uint8_t op = 0;
  uint8_t dest_mask = kAllPeers;  // bit i: peer stream i (a RECREATE goes to the asker only)
  uint8_t reason = 0;             // delete reason
};
static_assert(sizeof(ChangeEntry) == 16);

class ChangeLog {
 public:
  explicit ChangeLog(size_t capacity_pow2) : ring_(capacity_pow2), mask_(capacity_pow2 - 1) {
    assert((capacity_pow2 & mask_) == 0);
  }
  uint64_t begin() const { return begin_; }
  uint64_t end() const { return end_; }
  size_t size() const { return end_ - begin_; }
  size_t capacity() const { return ring_.size(); }
  bool full() const { return size() == capacity(); }

  uint64_t Append(const ChangeEntry& e) {
    assert(!full());
    // The ring is far larger than cache (1M entries by default): ask for the
    // next line before this one is done, so an append does not wait on memory.
    __builtin_prefetch(&ring_[(end_ + kPrefetchAhead) & mask_], 1);
    ring_[end_ & mask_] = e;
    return end_++;
  }
  const ChangeEntry& at(uint64_t index) const {
    assert(index >= begin_ && index < end_);
    return ring_[index & mask_];
  }
  // Forgets every entry below `index` (all streams are past it).
  void ReleaseUpTo(uint64_t index) {
    if (index > end_) index = end_;
    if (index > begin_) begin_ = index;
  }

 private:
  static constexpr uint64_t kPrefetchAhead = 8;  // two cache lines of entries
  std::vector<ChangeEntry> ring_;
  uint64_t mask_;
  uint64_t begin_ = 0;
  uint64_t end_ = 0;
};

}  // namespace bladesync
