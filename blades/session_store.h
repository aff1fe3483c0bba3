// SessionStore: the sessions of one owner, as the owner or as a mirror holds them.
//
// A slab of 64-byte records indexed by the owner's session id (dense, reused
// after delete), an index from key to id for live records (KeyIndex: grows
// a little per insert, not all at once),
// a side table for NAT translations, and an order-independent digest of the
// records that count (live, or live and synced on an owner), so that "does the
// mirror equal the owner" is one comparison of two numbers.
//
//   SessionStore store(kLive | kSynced);
//   store.Mutate(id, [&](SessionRecord& r) { r.proto_state = kTcpEstablished; });
//   std::optional<uint32_t> id = store.Find(key);
#pragma once

#include <array>
#include <cassert>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "blades/extensions.h"
#include "blades/free_ids.h"
#include "blades/key_index.h"
#include "blades/pooled_by_id.h"
#include "blades/session.h"
#include "blades/record_slab.h"
#include "core/huge_page_allocator.h"

namespace bladesync {

// A session's NAT in the store (PooledById keeps the slot for the id's
// next session; `set` says whether this one has NAT).
struct NatSlot {
  NatInfo nat;
  bool set = false;
};

class SessionStore {
 public:
  // Records whose bits include all of `digest_bits` count in digest().
  explicit SessionStore(uint8_t digest_bits = kLive);

  uint32_t slots() const { return static_cast<uint32_t>(slab_.size()); }
  size_t live() const { return live_; }
  // Live sessions by protocol class: 0 tcp, 1 udp, 2 icmp, 3 other.
  static int ProtoClass(uint8_t proto) {
    return proto == kProtoTcp ? 0 : proto == kProtoUdp ? 1 : (proto == kProtoIcmp || proto == kProtoIcmp6) ? 2 : 3;
  }
  size_t live_by_proto(int cls) const { return live_by_proto_[cls]; }
  uint64_t digest() const { return digest_; }
  size_t counted() const { return counted_; }

  const SessionRecord& rec(uint32_t id) const { return slab_[id]; }
  bool is_live(uint32_t id) const { return id < slab_.size() && (slab_[id].bits & kLive); }

  // Owner side: a free id (grows the slab); Release() makes it free again.
  uint32_t Allocate();
  void Release(uint32_t id);
  // Mirror side: make sure slot `id` exists (ids come from the owner).
  void EnsureSlot(uint32_t id);

  // Told of every change Mutate makes, after it: the record's key and
  // liveness before (standby-in-kernel follows a mirror table this way).
  // Unset it costs one test per Mutate. Clear() tells it of every live
  // record (the id may then be beyond slots()). Not carried by TakeAll.
  using ChangeHook = void (*)(void* ctx, const SessionStore& store, uint32_t id, const SessionKey& old_key, bool was_live);
  void set_change_hook(ChangeHook hook, void* ctx) {
    hook_ = hook;
    hook_ctx_ = ctx;
  }

  // Every change to a record goes through Mutate so the index, the digest and
  // the live count follow. `f` may also change the NAT side table.
  template <typename F>
  void Mutate(uint32_t id, F&& f) {
    slab_.Materialize(id);
    SessionRecord& r = slab_[id];
    const bool was_live = r.bits & kLive;
    const bool was_counted = Counts(id);
    const SessionKey old_key = r.key;
    // Each key is hashed once: the index and the digest share it (a
    // mirror's create hashed its key three times here).
    const uint64_t old_hash = was_live || was_counted ? old_key.Hash() : 0;
    if (was_counted) Uncount(id, old_hash);
    f(r);
    const bool now_live = r.bits & kLive;
    const bool now_counted = Counts(id);
    const bool same_key = (was_live || was_counted) && old_key == r.key;  // (no old key to keep otherwise)
    const uint64_t new_hash = !now_live && !now_counted ? 0 : same_key ? old_hash : r.key.Hash();
    if (was_live && (!now_live || !same_key)) index_.Erase(id, static_cast<uint32_t>(old_hash));
    if (now_live && (!was_live || !same_key)) index_.Insert(id, static_cast<uint32_t>(new_hash));
    live_ += static_cast<size_t>(now_live) - static_cast<size_t>(was_live);
    if (was_live) --live_by_proto_[ProtoClass(old_key.proto)];
    if (now_live) ++live_by_proto_[ProtoClass(r.key.proto)];
    if (now_counted) Count(id, new_hash);
    if (hook_) [[unlikely]] hook_(hook_ctx_, *this, id, old_key, was_live);
  }

  // Sets or clears bits that change neither the key nor liveness but may
  // change whether the record counts in the digest (an owner's kSynced once
  // its create is logged): the digest and the hook follow, without Mutate's
  // work for the index and the live counts (an owner did that twice a create).
  void SetDigestBits(uint32_t id, uint8_t set, uint8_t clear) {
    assert(!((set | clear) & (kLive | kHasNat)));  // (the index and the record hash read those)
    slab_.Materialize(id);
    SessionRecord& r = slab_[id];
    const uint8_t bits = static_cast<uint8_t>((r.bits & ~clear) | set);
    const bool was_counted = Counts(id);
    const bool now_counted = (bits & digest_bits_) == digest_bits_;
    const uint64_t hash = was_counted != now_counted ? r.key.Hash() : 0;  // (hashed only when the digest changes)
    if (was_counted && !now_counted) Uncount(id, hash);
    r.bits = bits;
    if (now_counted && !was_counted) Count(id, hash);
    if (hook_) [[unlikely]] hook_(hook_ctx_, *this, id, r.key, r.bits & kLive);
  }

  std::optional<uint32_t> Find(const SessionKey& key) const;
  // Starts loading the index slot of `key` into cache: a mirror applying a
  // frame of creates asks a few ahead, so the probes of Find and the insert
  // do not each wait on memory (they dominated bulk sync of a large table).
  [[gnu::always_inline]] void Prefetch(const SessionKey& key) const {
    index_.Prefetch(static_cast<uint32_t>(key.Hash()));
  }

  // Sets or clears bookkeeping bits that neither the index nor the digest
  // looks at (kDirty), without the cost of Mutate.
  void SetBookkeeping(uint32_t id, uint8_t set, uint8_t clear) {
    constexpr uint8_t kAllowed = kDirty;
    (void)kAllowed;
    slab_.Materialize(id);
    slab_[id].bits = static_cast<uint8_t>((slab_[id].bits & ~(clear & kAllowed)) | (set & kAllowed));
  }

  const NatInfo* nat(uint32_t id) const;
  // (IpAddr{} is a side left untranslated; 0.0.0.0 is an address, e.g. a
  // DHCP client's source with its port translated.)
  void set_nat(uint32_t id, const NatInfo& n) {
    NatSlot& s = nat_.At(id);
    s.nat = n;
    s.set = true;
  }
  void clear_nat(uint32_t id) {
    if (NatSlot* s = nat_.Peek(id)) s->set = false;
  }

  // Extension state (ALG, tunnel) of sessions that have any; call inside
  // Mutate so the digest follows.
  const ExtensionList* extensions(uint32_t id) const;
  void set_extension(uint32_t id, const Extension& e);
  void clear_extensions(uint32_t id) {
    if (ExtensionList* l = ext_.Peek(id)) l->clear();  // (its allocation, if any, stays for the id's next session)
  }

  // Drops every record (a mirror starting a bulk sync of a new epoch).
  void Clear();

  // Promotion fast path: takes over every record of `from` (left empty)
  // while this store is empty, keeping ids and the key index; calls fn(r)
  // on each live record (it must not change the key), frees the rest, and
  // recounts for this store's digest bits. O(n), sequential.
  template <typename F>
  void TakeAll(SessionStore& from, F&& fn) {
    swap(slab_, from.slab_);
    swap(index_, from.index_);
    live_by_proto_ = from.live_by_proto_;
    nat_.swap(from.nat_);
    ext_.swap(from.ext_);
    from.Clear();
    free_.Clear();
    live_ = counted_ = 0;
    digest_ = 0;
    for (uint32_t id = slots(); id-- > 0;) {
      SessionRecord& r = slab_[id];
      if (r.bits & kLive) {
        fn(r);
        ++live_;
        if (Counts(id)) Count(id, r.key.Hash());
      } else {
        if (r.bits) r.bits = 0;  // (records of never-written chunks are read-only zeros)
        clear_nat(id);
        clear_extensions(id);
        free_.Put(id);
      }
    }
  }
  void Reserve(size_t sessions);

  // Calls fn(id) for the live records among the next `budget` slots after
  // where the last scan ended (timers and pickup delay walk the slab this way).
  void Scan(uint32_t budget, const std::function<void(uint32_t)>& fn);

  // The hash a record contributes to the digest (same on owner and mirror);
  // `key_hash`: its key's Hash().
  uint64_t RecordHash(uint32_t id, uint64_t key_hash) const;

  // Full consistency check (index, live count, digest); O(n), for fuzzers
  // and tests. Returns an empty string when consistent.
  std::string CheckConsistency() const;

  // Approximate memory held, for the bounded-memory promise and benchmarks.
  size_t MemoryBytes() const;

 private:
  ChangeHook hook_ = nullptr;
  void* hook_ctx_ = nullptr;
  bool Counts(uint32_t id) const { return (slab_[id].bits & digest_bits_) == digest_bits_; }
  // The record's part of the digest out or in (it Counts; `key_hash` of its key).
  void Uncount(uint32_t id, uint64_t key_hash);
  void Count(uint32_t id, uint64_t key_hash);

  uint8_t digest_bits_;
  RecordSlab slab_;
  FreeIds free_;
  KeyIndex index_;
  size_t live_ = 0;
  std::array<size_t, 4> live_by_proto_{};
  size_t counted_ = 0;
  uint64_t digest_ = 0;
  uint32_t sweep_cursor_ = 0;
  PooledById<NatSlot> nat_;
  PooledById<ExtensionList> ext_;
};

}  // namespace bladesync
