// FreeIds: the ids a session store may hand out again, in address order.
//
// A stack of freed ids gave them back in the order their sessions ended,
// which in a table at its working size is no order at all: every new
// session's record, extension and NAT slot was a cache miss on the owner,
// and again on each mirror, which takes the owner's ids (a conntrack sync
// into warm tables cost 0.3 us more per entry than into fresh ones). Here
// Take returns the next free id at or after the last one taken, wrapping
// around, so creates walk the table forward as they do while it grows.
//
// A bit per id, and a summary bit per 64 of them, so a Take in a table
// with few free ids far apart looks at a word per 4096 ids.
//
//   FreeIds f;
//   f.Put(7);
//   uint32_t id = f.Take();  // 7
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace bladesync {

class FreeIds {
 public:
  bool empty() const { return count_ == 0; }
  size_t size() const { return count_; }
  // `id` becomes free; false (and nothing changes) if it was already.
  bool Put(uint32_t id);
  // The first free id at or after the one after the last taken, else the
  // first free id; it is no longer free. Not on an empty set.
  uint32_t Take();
  bool contains(uint32_t id) const {
    return id / 64 < bits_.size() && (bits_[id / 64] >> (id % 64) & 1);
  }
  void Clear();
  size_t MemoryBytes() const { return (bits_.capacity() + summary_.capacity()) * sizeof(uint64_t); }

 private:
  // The first word at or after `w` with a free id, wrapping to 0.
  size_t WordFrom(size_t w) const;

  std::vector<uint64_t> bits_;     // bit i % 64 of word i / 64: id i is free
  std::vector<uint64_t> summary_;  // bit w % 64 of word w / 64: bits_[w] != 0
  size_t count_ = 0;
  uint64_t cursor_ = 0;            // where the next Take starts looking
};

}  // namespace bladesync
