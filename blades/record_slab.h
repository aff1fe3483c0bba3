// RecordSlab: the session records of one store, by id, in chunks of 2 MiB.
//
// A vector of records doubles: at 10M sessions it copied a gigabyte in the
// middle of traffic (a stall of tens of ms on the owner, then on every
// mirror) and kept up to half of it unused (121 bytes per session). Chunks
// never move and waste at most one chunk. The first chunk grows like a vector
// up to a full chunk, so the many small stores of tests and idle peers stay
// small; full chunks are one huge page each. Every chunk, and each next size
// of the first, is asked of the page supply ahead of need.
//
// A mirror learns ids from its owner, and a forged frame can name any id up
// to max-sessions: growing to an id leaves the chunks in between unallocated
// (they read as empty records from one shared read-only zero mapping) until
// a record in them is written, so one session at id 4194303 costs one chunk,
// not 128. Writers make an id's chunk real first (Materialize).
//
//   RecordSlab slab;
//   slab.resize(5);
//   slab[4].version = 7;
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "blades/session.h"
#include "core/huge_page_allocator.h"

namespace bladesync {

class RecordSlab {
 public:
  static constexpr uint32_t kChunkBits = 15;  // 32768 records of 64 bytes: 2 MiB
  static constexpr uint32_t kChunk = 1u << kChunkBits;

  RecordSlab() = default;
  ~RecordSlab() { clear(); }
  RecordSlab(const RecordSlab&) = delete;
  RecordSlab& operator=(const RecordSlab&) = delete;
  RecordSlab(RecordSlab&& o) noexcept { swap(*this, o); }
  RecordSlab& operator=(RecordSlab&& o) noexcept {
    RecordSlab gone(std::move(o));
    swap(*this, gone);
    return *this;
  }
  friend void swap(RecordSlab& a, RecordSlab& b) noexcept {
    std::swap(a.chunks_, b.chunks_);
    std::swap(a.first_capacity_, b.first_capacity_);
    std::swap(a.size_, b.size_);
    std::swap(a.empty_chunks_, b.empty_chunks_);
    std::swap(a.asked_ahead_, b.asked_ahead_);
    std::swap(a.asked_first_, b.asked_first_);
  }

  size_t size() const { return size_; }
  // Records addressable without growing.
  size_t capacity() const { return chunks_.empty() ? 0 : first_capacity_ + (chunks_.size() - 1) * size_t{kChunk}; }
  // Records backed by memory (for memory accounting): not the empty chunks.
  size_t allocated() const { return capacity() - empty_chunks_ * size_t{kChunk}; }
  SessionRecord& operator[](uint32_t id) { return chunks_[id >> kChunkBits][id & (kChunk - 1)]; }
  const SessionRecord& operator[](uint32_t id) const { return chunks_[id >> kChunkBits][id & (kChunk - 1)]; }

  // Starts loading record `id` into cache to be written, if it has room.
  // (always_inline: GCC 12 finds a function that only prefetches pure and
  // drops calls to it.)
  [[gnu::always_inline]] void PrefetchForWrite(uint32_t id) const {
    if (id < capacity()) __builtin_prefetch(&(*this)[id], 1);
  }

  // Grows to n records; new ones are default (all zero).
  void resize(size_t n) {
    if (n <= size_) return;
    reserve(n);
    size_ = n;
  }
  void push_back() { resize(size_ + 1); }
  // Grows to n records, allocating only the first chunk and none in between.
  void resize_sparse(size_t n);
  // The chunk holding `id` (< size()) gets memory of its own; call before writing it.
  void Materialize(uint32_t id) {
    // The count first: a table without empty chunks (most) skips the call
    // to EmptyChunk() and its guard, on every write.
    if (empty_chunks_ != 0 && chunks_[id >> kChunkBits] == EmptyChunk()) [[unlikely]] {
      MaterializeChunk(id >> kChunkBits);
    }
  }
  // Allocates room for n records; new room is zeroed.
  void reserve(size_t n);
  // Frees every chunk.
  void clear();

 private:
  static SessionRecord* EmptyChunk();
  void MaterializeChunk(size_t k);
  // `asked`: the page supply was asked for this size (Want).
  SessionRecord* NewChunk(size_t records, bool asked);
  SessionRecord* NextFullChunk();
  // Settles the ask for the first chunk's next size: true when it was for `records`.
  bool TakeFirstAsk(size_t records);
  void FreeChunk(SessionRecord* c, size_t records);

  std::vector<SessionRecord*> chunks_;
  size_t first_capacity_ = 0;  // records in chunks_[0]; kChunk once a second chunk exists
  size_t size_ = 0;
  size_t empty_chunks_ = 0;  // chunks_ entries that are EmptyChunk()
  bool asked_ahead_ = false;  // the page supply has two full chunks asked for (NextFullChunk)
  size_t asked_first_ = 0;    // records: the first chunk's next size, asked for (0: none)
};

}  // namespace bladesync
