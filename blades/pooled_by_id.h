// PooledById: a value per session id for the ids that have one (a
// session's extensions, its NAT), without a node or an allocation each.
//
// Per id a 4-byte reference, in chunks of 1024 ids made on first use, to a
// slot in a pool of slots, in blocks of 1024. A table where every session
// has one (a conntrack table: an extension each; a masquerading firewall:
// NAT each) allocates twice per 1024 sessions; one where few have one pays
// 4 bytes for the ids near them; a high id (a forged frame's may be up to
// max-sessions) costs one chunk, not a table up to it. An id keeps its slot
// for its next session (the caller marks it empty); the pool only grows,
// to the ids that ever had one, until Clear.
//
//   PooledById<NatSlot> nat;
//   nat.At(id).set = true;
//   if (const NatSlot* s = nat.Peek(id)) ...
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace bladesync {

template <typename Slot>
class PooledById {
 public:
  PooledById() = default;
  PooledById(PooledById&&) noexcept = default;
  PooledById& operator=(PooledById&&) noexcept = default;
  PooledById(const PooledById&) = delete;
  PooledById& operator=(const PooledById&) = delete;

  // The id's slot, or nullptr when it never had one.
  const Slot* Peek(uint32_t id) const {
    const uint32_t ref = RefOf(id);
    return ref ? &SlotOf(ref) : nullptr;
  }
  Slot* Peek(uint32_t id) {
    const uint32_t ref = RefOf(id);
    return ref ? &SlotOf(ref) : nullptr;
  }
  // The id's slot, made if need be (a new one is Slot{}).
  Slot& At(uint32_t id) {
    const size_t c = id >> kChunkBits;
    if (c >= refs_.size()) refs_.resize(c + 1);
    if (!refs_[c]) {
      refs_[c] = std::make_unique<Refs>();  // (value-initialized: all zero)
      ++made_;
    }
    uint32_t& ref = (*refs_[c])[id & kChunkMask];
    if (ref == 0) {
      if ((slots_ >> kChunkBits) >= pool_.size()) pool_.push_back(std::make_unique<Block>());
      ref = static_cast<uint32_t>(++slots_);
    }
    return SlotOf(ref);
  }
  void Clear() {
    refs_.clear();
    refs_.shrink_to_fit();
    pool_.clear();
    pool_.shrink_to_fit();
    made_ = slots_ = 0;
  }
  void swap(PooledById& o) noexcept {
    refs_.swap(o.refs_);
    pool_.swap(o.pool_);
    std::swap(made_, o.made_);
    std::swap(slots_, o.slots_);
  }
  size_t MemoryBytes() const {
    return refs_.capacity() * sizeof(refs_[0]) + made_ * sizeof(Refs) + pool_.capacity() * sizeof(pool_[0]) +
           pool_.size() * sizeof(Block);
  }

 private:
  static constexpr int kChunkBits = 10;
  static constexpr uint32_t kChunkMask = (1u << kChunkBits) - 1;
  using Refs = std::array<uint32_t, 1u << kChunkBits>;  // pool index + 1; 0: none
  using Block = std::array<Slot, 1u << kChunkBits>;
  uint32_t RefOf(uint32_t id) const {
    const size_t c = id >> kChunkBits;
    return c < refs_.size() && refs_[c] ? (*refs_[c])[id & kChunkMask] : 0;
  }
  Slot& SlotOf(uint32_t ref) const { return (*pool_[(ref - 1) >> kChunkBits])[(ref - 1) & kChunkMask]; }

  std::vector<std::unique_ptr<Refs>> refs_;
  std::vector<std::unique_ptr<Block>> pool_;
  size_t made_ = 0;   // chunks of refs
  size_t slots_ = 0;  // slots handed out of the pool
};

}  // namespace bladesync
