#include "blades/session_store.h"

#include <bit>
#include <cassert>
#include <cstring>

#include "core/hash.h"

namespace bladesync {

SessionStore::SessionStore(uint8_t digest_bits) : digest_bits_(digest_bits) {}

// Ids are mostly taken in order (fresh slots, or free ones from a moving
// cursor), and each record written after its Allocate missed cache: the
// record a few ids on is asked for now, while this one is created.
constexpr uint32_t kAllocateAhead = 4;

uint32_t SessionStore::Allocate() {
  uint32_t id;
  if (!free_.empty()) {
    id = free_.Take();  // (a promoted mirror's free ids may lie in chunks never written)
  } else {
    slab_.push_back();
    id = static_cast<uint32_t>(slab_.size() - 1);
  }
  slab_.Materialize(id);
  slab_.PrefetchForWrite(id + kAllocateAhead);
  return id;
}

void SessionStore::Release(uint32_t id) {
  assert(!(slab_[id].bits & kLive));
  free_.Put(id);
}

void SessionStore::EnsureSlot(uint32_t id) {
  if (id >= slab_.size()) slab_.resize_sparse(static_cast<size_t>(id) + 1);
  slab_.Materialize(id);
}

namespace {
// Up to 8 bytes as a little-endian word, whatever the host's order (the
// owner and its mirrors must agree).
uint64_t LoadLe(const uint8_t* p, size_t n) {
  uint64_t w = 0;
  std::memcpy(&w, p, n);
  if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
  return w;
}
}  // namespace

uint64_t SessionStore::RecordHash(uint32_t id, uint64_t key_hash) const {
  const SessionRecord& r = slab_[id];
  uint64_t h = Fmix64(key_hash ^ (uint64_t{id} * 0x9e3779b97f4a7c15ULL));
  h = Fmix64(h ^ (r.version & kVersionMask));
  h = Fmix64(h ^ (uint64_t{r.proto_state} | uint64_t{r.flags} << 8 | uint64_t{r.timeout_s} << 24));
  if (r.bits & kHasNat) {
    if (const NatInfo* n = nat(id)) {
      h = Fmix64(h ^ n->snat_ip.lo() ^ (n->dnat_ip.lo() << 1));
      h = Fmix64(h ^ n->snat_ip.hi() ^ n->dnat_ip.hi() ^ (uint64_t{n->snat_port} << 16 | n->dnat_port));
    }
  }
  // Only extension state that is synced counts: the mirror holds nothing else.
  const AppSpec& app = AppSpecFor(AppOf(r.flags));
  if (app.extension != ExtensionType::kNone && app.policy == SyncPolicy::kSynced) {
    if (const ExtensionList* exts = extensions(id)) {
      for (const Extension& e : *exts) {
        // Eight bytes a step (wire 1.6; a byte a step before, a fifth of a
        // mirror's apply): the length first, so trailing zeros count.
        const uint8_t* p = e.data.data();
        const size_t n = e.data.size();
        uint64_t x = Fmix64(uint64_t{e.type} << 16 | e.version | uint64_t{n} << 32);
        size_t i = 0;
        for (; i + 8 <= n; i += 8) x = Fmix64(x ^ LoadLe(p + i, 8));
        if (i < n) x = Fmix64(x ^ LoadLe(p + i, n - i));
        h = Fmix64(h ^ x);
      }
    }
  }
  return h;
}

const ExtensionList* SessionStore::extensions(uint32_t id) const {
  const ExtensionList* l = ext_.Peek(id);
  return l && !l->empty() ? l : nullptr;
}

void SessionStore::set_extension(uint32_t id, const Extension& e) {
  ExtensionList& v = ext_.At(id);
  for (Extension& x : v) {
    if (x.type == e.type) {
      x = e;
      return;
    }
  }
  v.push_back(e);
}

void SessionStore::Uncount(uint32_t id, uint64_t key_hash) {
  digest_ -= RecordHash(id, key_hash);
  --counted_;
}

void SessionStore::Count(uint32_t id, uint64_t key_hash) {
  digest_ += RecordHash(id, key_hash);
  ++counted_;
}

// The index keeps the low 32 bits of the key's hash: they give the home
// slot and a cheap compare before the full key.
std::optional<uint32_t> SessionStore::Find(const SessionKey& key) const {
  return index_.Find(static_cast<uint32_t>(key.Hash()), [&](uint32_t id) { return slab_[id].key == key; });
}

void SessionStore::Reserve(size_t sessions) {
  slab_.reserve(sessions);
  index_.Reserve(sessions);
}

const NatInfo* SessionStore::nat(uint32_t id) const {
  const NatSlot* s = nat_.Peek(id);
  return s && s->set ? &s->nat : nullptr;
}

void SessionStore::Clear() {
  // Whoever follows the changes hears that every live record went.
  std::vector<std::pair<uint32_t, SessionKey>> gone;
  if (hook_) {
    for (uint32_t id = 0; id < slots(); ++id) {
      if (is_live(id)) gone.emplace_back(id, slab_[id].key);
    }
  }
  slab_.clear();
  free_.Clear();
  index_.Clear();
  live_ = 0;
  live_by_proto_ = {};
  counted_ = 0;
  digest_ = 0;
  sweep_cursor_ = 0;
  nat_.Clear();
  ext_.Clear();
  for (const auto& [id, key] : gone) hook_(hook_ctx_, *this, id, key, true);
}

void SessionStore::Scan(uint32_t budget, const std::function<void(uint32_t)>& fn) {
  const uint32_t n = slots();
  if (n == 0) return;
  if (budget > n) budget = n;
  for (uint32_t k = 0; k < budget; ++k) {
    if (sweep_cursor_ >= slots()) sweep_cursor_ = 0;
    const uint32_t id = sweep_cursor_++;
    const SessionRecord& r = slab_[id];
    if (r.bits & kLive) fn(id);
  }
}

std::string SessionStore::CheckConsistency() const {
  size_t live = 0, counted = 0;
  uint64_t digest = 0;
  for (uint32_t id = 0; id < slots(); ++id) {
    const SessionRecord& r = slab_[id];
    if (r.bits & kLive) {
      ++live;
      std::optional<uint32_t> found = Find(r.key);
      if (!found || *found != id) return "live record " + std::to_string(id) + " is not found by its key";
    }
    if (Counts(id)) {
      ++counted;
      digest += RecordHash(id, r.key.Hash());
    }
  }
  if (live != live_) return "live count " + std::to_string(live_) + " but " + std::to_string(live) + " live records";
  if (live != index_.size()) return "index holds " + std::to_string(index_.size()) + " entries for " + std::to_string(live) + " live records";
  if (counted != counted_ || digest != digest_) return "digest or counted is off";
  return "";
}

size_t SessionStore::MemoryBytes() const {
  return slab_.allocated() * sizeof(SessionRecord) + index_.MemoryBytes() +
         free_.MemoryBytes() + nat_.MemoryBytes() +
         ext_.MemoryBytes();
}

}  // namespace bladesync
