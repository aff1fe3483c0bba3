#include "blades/record_slab.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <type_traits>

#include "core/page_supply.h"

namespace bladesync {

static_assert(std::is_trivially_copyable_v<SessionRecord>, "chunks are moved with memcpy");
constexpr size_t kChunkBytes = RecordSlab::kChunk * sizeof(SessionRecord);
static_assert(kChunkBytes % kHugePage == 0, "a full chunk is whole huge pages");

static_assert(1024 * sizeof(SessionRecord) >= PageSupply::kMinBytes, "every chunk comes from the page supply");

// A chunk comes ready from the page supply when one was asked for (faulted
// in off the sync path); else it is mapped and faulted in here. A fresh
// mapping is zero, which is what empty records are: it is not written again.
SessionRecord* RecordSlab::NewChunk(size_t records, bool asked) {
  const size_t bytes = records * sizeof(SessionRecord);
  if (void* ready = PageSupply::Get().Take(bytes, asked)) return static_cast<SessionRecord*>(ready);
  void* own = MapHugePages(bytes);
  PopulateHugePages(own, bytes);
  return static_cast<SessionRecord*>(own);
}

// Each full chunk taken asks for one more in its place, so two stay asked
// for ahead.
SessionRecord* RecordSlab::NextFullChunk() {
  SessionRecord* c = NewChunk(kChunk, asked_ahead_);
  PageSupply::Get().Want(kChunkBytes, asked_ahead_ ? 1 : 2);
  asked_ahead_ = true;
  return c;
}

bool RecordSlab::TakeFirstAsk(size_t records) {
  const bool asked = asked_first_ == records;
  if (asked_first_ && !asked) PageSupply::Get().Forget(asked_first_ * sizeof(SessionRecord), 1);
  asked_first_ = 0;
  return asked;
}

void RecordSlab::FreeChunk(SessionRecord* c, size_t records) {
  if (c == EmptyChunk()) return;
  PageSupply::Get().GiveBack(c, records * sizeof(SessionRecord));
}

// Read-only: a write that skipped Materialize faults at once instead of
// changing what every empty chunk reads as.
SessionRecord* RecordSlab::EmptyChunk() {
  static SessionRecord* const empty = [] {
    void* p = mmap(nullptr, kChunk * sizeof(SessionRecord), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    return static_cast<SessionRecord*>(p);
  }();
  return empty;
}

void RecordSlab::MaterializeChunk(size_t k) {
  chunks_[k] = NextFullChunk();
  --empty_chunks_;
}

void RecordSlab::resize_sparse(size_t n) {
  if (n <= size_) return;
  if (first_capacity_ < kChunk) reserve(std::min<size_t>(n, kChunk));
  while (capacity() < n) {
    chunks_.push_back(EmptyChunk());
    ++empty_chunks_;
  }
  size_ = n;
}

void RecordSlab::reserve(size_t n) {
  if (n <= capacity()) return;
  if (first_capacity_ < kChunk) {  // the first chunk grows like a vector
    const size_t want = std::min<size_t>(kChunk, std::max<size_t>({n, first_capacity_ * 2, 1024}));
    SessionRecord* grown = NewChunk(want, TakeFirstAsk(want));
    if (!chunks_.empty()) {
      std::memcpy(static_cast<void*>(grown), chunks_[0], size_ * sizeof(SessionRecord));
      FreeChunk(chunks_[0], first_capacity_);
      chunks_[0] = grown;
    } else {
      chunks_.push_back(grown);
    }
    first_capacity_ = want;
    // The next size is asked for now, to be ready when this one is full
    // (half of it is left: ample time for a thread to fault in 2 x as much).
    if (want < kChunk) {
      asked_first_ = std::min<size_t>(kChunk, want * 2);
      PageSupply::Get().Want(asked_first_ * sizeof(SessionRecord), 1);
    } else {
      PageSupply::Get().Want(kChunkBytes, 2);
      asked_ahead_ = true;
    }
  }
  while (capacity() < n) chunks_.push_back(NextFullChunk());
}

void RecordSlab::clear() {
  if (asked_ahead_) PageSupply::Get().Forget(kChunkBytes, 2);
  asked_ahead_ = false;
  TakeFirstAsk(0);  // forgets an ask left open
  for (size_t i = 0; i < chunks_.size(); ++i) FreeChunk(chunks_[i], i == 0 ? first_capacity_ : kChunk);
  chunks_.clear();
  chunks_.shrink_to_fit();
  first_capacity_ = 0;
  size_ = 0;
  empty_chunks_ = 0;
}

}  // namespace bladesync
