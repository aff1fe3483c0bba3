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

// A full chunk comes ready from the page supply when it has one (faulted in
// off the sync path), and one more is asked for in its place, so two stay
// asked for ahead; else it is mapped and faulted in here. A fresh mapping is
// zero, which is what empty records are: it is not written again.
SessionRecord* RecordSlab::NewChunk(size_t records) {
  if (records == kChunk) {
    void* ready = PageSupply::Get().Take(kChunkBytes, asked_ahead_);
    PageSupply::Get().Want(kChunkBytes, asked_ahead_ ? 1 : 2);
    asked_ahead_ = true;
    if (ready) return static_cast<SessionRecord*>(ready);
    void* own = MapHugePages(kChunkBytes);
    PopulateHugePages(own, kChunkBytes);
    return static_cast<SessionRecord*>(own);
  }
  SessionRecord* c = Alloc().allocate(records);
  std::uninitialized_value_construct_n(c, records);
  return c;
}

void RecordSlab::FreeChunk(SessionRecord* c, size_t records) {
  if (c == EmptyChunk()) return;
  if (records == kChunk) {
    PageSupply::Get().GiveBack(c, kChunkBytes);
  } else {
    Alloc().deallocate(c, records);
  }
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
  chunks_[k] = NewChunk(kChunk);
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
    SessionRecord* grown = NewChunk(want);
    if (!chunks_.empty()) {
      std::memcpy(static_cast<void*>(grown), chunks_[0], size_ * sizeof(SessionRecord));
      FreeChunk(chunks_[0], first_capacity_);
      chunks_[0] = grown;
    } else {
      chunks_.push_back(grown);
    }
    first_capacity_ = want;
  }
  while (capacity() < n) chunks_.push_back(NewChunk(kChunk));
}

void RecordSlab::clear() {
  if (asked_ahead_) PageSupply::Get().Forget(kChunkBytes, 2);
  asked_ahead_ = false;
  for (size_t i = 0; i < chunks_.size(); ++i) FreeChunk(chunks_[i], i == 0 ? first_capacity_ : kChunk);
  chunks_.clear();
  chunks_.shrink_to_fit();
  first_capacity_ = 0;
  size_ = 0;
  empty_chunks_ = 0;
}

}  // namespace bladesync
