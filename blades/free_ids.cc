#include "blades/free_ids.h"

#include <cassert>
#include <cstdlib>

namespace bladesync {

bool FreeIds::Put(uint32_t id) {
  const size_t w = id / 64;
  if (w >= bits_.size()) {
    bits_.resize(w + 1);
    summary_.resize(bits_.size() / 64 + 1);
  }
  if (bits_[w] >> (id % 64) & 1) return false;
  bits_[w] |= uint64_t{1} << (id % 64);
  summary_[w / 64] |= uint64_t{1} << (w % 64);
  ++count_;
  return true;
}

size_t FreeIds::WordFrom(size_t w) const {
  for (int pass = 0; pass < 2; ++pass, w = 0) {
    size_t s = w / 64;
    uint64_t m = s < summary_.size() ? summary_[s] & (~uint64_t{0} << (w % 64)) : 0;
    for (;;) {
      if (m) return s * 64 + static_cast<size_t>(__builtin_ctzll(m));
      if (++s >= summary_.size()) break;
      m = summary_[s];
    }
  }
  std::abort();  // Take on an empty set
}

uint32_t FreeIds::Take() {
  assert(count_ > 0);
  size_t w = cursor_ / 64;
  uint64_t m = w < bits_.size() ? bits_[w] & (~uint64_t{0} << (cursor_ % 64)) : 0;
  if (!m) {
    w = WordFrom(w + 1 < bits_.size() ? w + 1 : 0);
    m = bits_[w];
  }
  const uint32_t id = static_cast<uint32_t>(w * 64 + static_cast<size_t>(__builtin_ctzll(m)));
  bits_[w] &= ~(uint64_t{1} << (id % 64));
  if (!bits_[w]) summary_[w / 64] &= ~(uint64_t{1} << (w % 64));
  --count_;
  cursor_ = uint64_t{id} + 1;
  return id;
}

void FreeIds::Clear() {
  bits_.clear();
  summary_.clear();
  count_ = 0;
  cursor_ = 0;
}

}  // namespace bladesync
