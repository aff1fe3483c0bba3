// SessionStore: the flat index against a std::unordered_map model, the
// digest, and the memory per session.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "blades/session_store.h"
#include "core/page_supply.h"

// Every allocation of this test binary, counted (an extension per session
// must not cost one).
static std::atomic<size_t> g_allocations{0};
void* operator new(size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace bladesync {
namespace {

struct KeyHash {
  size_t operator()(const SessionKey& k) const { return k.Hash(); }
};

SessionKey K(uint32_t i) { return SessionKey::V4(0x0a000000 + (i % 5000), 0xc0a80001, static_cast<uint16_t>(i), 80, kProtoTcp); }

RC_GTEST_PROP(SessionStore, IndexAgreesWithModel, (const std::vector<std::pair<bool, uint16_t>>& ops)) {
  SessionStore s(kLive);
  std::unordered_map<SessionKey, uint32_t, KeyHash> model;
  for (auto [insert, n] : ops) {
    const SessionKey k = K(n % 3000);  // small key space: many collisions and erases
    auto it = model.find(k);
    if (insert && it == model.end()) {
      uint32_t id = s.Allocate();
      s.Mutate(id, [&](SessionRecord& r) {
        r.key = k;
        r.bits = kLive | kUsed;
      });
      model[k] = id;
    } else if (!insert && it != model.end()) {
      s.Mutate(it->second, [](SessionRecord& r) { r.bits = kUsed; });
      s.Release(it->second);
      model.erase(it);
    }
  }
  RC_ASSERT(s.live() == model.size());
  for (uint32_t i = 0; i < 3000; ++i) {
    auto want = model.find(K(i));
    auto got = s.Find(K(i));
    if (want == model.end()) {
      RC_ASSERT(!got.has_value());
    } else {
      RC_ASSERT(got.has_value());
      RC_ASSERT(*got == want->second);
    }
  }
}

TEST(SessionStore, DigestIsOrderIndependentAndTracksState) {
  SessionStore a(kLive), b(kLive);
  for (uint32_t i = 0; i < 100; ++i) {
    a.EnsureSlot(i);
    a.Mutate(i, [&](SessionRecord& r) { r.key = K(i); r.version = i + 1; r.bits = kLive | kUsed; });
  }
  for (int i = 99; i >= 0; --i) {
    b.EnsureSlot(static_cast<uint32_t>(i));
    b.Mutate(static_cast<uint32_t>(i), [&](SessionRecord& r) { r.key = K(static_cast<uint32_t>(i)); r.version = static_cast<uint64_t>(i) + 1; r.bits = kLive | kUsed; });
  }
  EXPECT_EQ(a.digest(), b.digest());
  b.Mutate(5, [](SessionRecord& r) { r.proto_state = kTcpEstablished; });
  EXPECT_NE(a.digest(), b.digest());
  a.Mutate(5, [](SessionRecord& r) { r.proto_state = kTcpEstablished; });
  EXPECT_EQ(a.digest(), b.digest());
  a.Mutate(7, [](SessionRecord& r) { r.bits = kUsed; });  // deleted: no longer counts
  EXPECT_NE(a.digest(), b.digest());
  EXPECT_EQ(a.live(), 99u);
  EXPECT_FALSE(a.Find(K(7)).has_value());
}

TEST(SessionStore, DigestOnlyCountsRecordsWithAllDigestBits) {
  SessionStore s(kLive | kSynced);
  uint32_t id = s.Allocate();
  s.Mutate(id, [](SessionRecord& r) { r.key = K(1); r.bits = kLive | kUsed; });
  EXPECT_EQ(s.digest(), 0u);
  EXPECT_EQ(s.counted(), 0u);
  s.Mutate(id, [](SessionRecord& r) { r.bits |= kSynced; });
  EXPECT_NE(s.digest(), 0u);
  EXPECT_EQ(s.counted(), 1u);
}

// An owner marks a logged create kSynced without Mutate: the digest and the
// count must come out as Mutate's would, and go back out when it is cleared.
TEST(SessionStore, SetDigestBitsCountsAsMutateWould) {
  SessionStore by_mutate(kLive | kSynced), by_bits(kLive | kSynced);
  NatInfo nat;
  nat.snat_ip = IpAddr::V4(0xc0a80001);
  nat.snat_port = 40000;
  for (SessionStore* s : {&by_mutate, &by_bits}) {
    for (uint32_t i = 0; i < 3; ++i) {
      const uint32_t id = s->Allocate();
      s->Mutate(id, [&](SessionRecord& r) {
        r.key = K(i);
        r.version = 10 + i;
        r.bits = kLive | kUsed;
        if (i == 1) {
          s->set_nat(id, nat);
          r.bits |= kHasNat;
        }
      });
    }
  }
  for (uint32_t id = 0; id < 3; ++id) {
    by_mutate.Mutate(id, [](SessionRecord& r) { r.bits |= kSynced; });
    by_bits.SetDigestBits(id, kSynced, 0);
  }
  EXPECT_NE(by_bits.digest(), 0u);
  EXPECT_EQ(by_bits.digest(), by_mutate.digest());
  EXPECT_EQ(by_bits.counted(), 3u);
  EXPECT_EQ(by_bits.CheckConsistency(), "");
  by_bits.SetDigestBits(1, kSynced, 0);  // already counted: counted once
  EXPECT_EQ(by_bits.digest(), by_mutate.digest());
  for (uint32_t id = 0; id < 3; ++id) by_bits.SetDigestBits(id, 0, kSynced);
  EXPECT_EQ(by_bits.digest(), 0u);
  EXPECT_EQ(by_bits.counted(), 0u);
  EXPECT_EQ(by_bits.live(), 3u);
  EXPECT_EQ(by_bits.CheckConsistency(), "");
}

// The hook hears of SetDigestBits as of Mutate (standby-in-kernel follows a
// table by it), and a deleted record's kSynced clears without counting:
// what an owner's Flush does for a create, then for its delete.
TEST(SessionStore, SetDigestBitsTellsTheHookAsMutateWould) {
  using Heard = std::vector<std::tuple<uint32_t, SessionKey, bool, uint8_t>>;
  static constexpr SessionStore::ChangeHook kRecord = [](void* ctx, const SessionStore& st, uint32_t id,
                                                        const SessionKey& old_key, bool was_live) {
    static_cast<Heard*>(ctx)->emplace_back(id, old_key, was_live, st.rec(id).bits);
  };
  Heard heard_mutate, heard_bits;
  SessionStore by_mutate(kLive | kSynced), by_bits(kLive | kSynced);
  for (SessionStore* s : {&by_mutate, &by_bits}) {
    const uint32_t id = s->Allocate();
    s->Mutate(id, [&](SessionRecord& r) {
      r.key = K(7);
      r.version = 3;
      r.bits = kLive | kUsed;
    });
  }
  by_mutate.set_change_hook(kRecord, &heard_mutate);
  by_bits.set_change_hook(kRecord, &heard_bits);
  by_mutate.Mutate(0, [](SessionRecord& r) { r.bits |= kSynced; });
  by_bits.SetDigestBits(0, kSynced, 0);
  for (SessionStore* s : {&by_mutate, &by_bits}) {
    s->Mutate(0, [](SessionRecord& r) {  // the owner's delete: no longer live, still kSynced
      r.version = 4;
      r.bits = static_cast<uint8_t>(r.bits & ~kLive);
    });
  }
  EXPECT_EQ(by_bits.counted(), 0u);
  by_mutate.Mutate(0, [](SessionRecord& r) { r.bits &= static_cast<uint8_t>(~kSynced); });
  by_bits.SetDigestBits(0, 0, kSynced);
  EXPECT_EQ(heard_bits, heard_mutate);
  ASSERT_EQ(heard_bits.size(), 3u);
  EXPECT_EQ(std::get<3>(heard_bits.back()), kUsed);
  EXPECT_EQ(by_bits.digest(), 0u);
  EXPECT_EQ(by_bits.counted(), 0u);
  EXPECT_EQ(by_bits.live(), 0u);
  EXPECT_EQ(by_bits.CheckConsistency(), "");
}

TEST(SessionStore, ScanVisitsEveryLiveRecordOnceAroundTheSlab) {
  SessionStore s(kLive);
  for (uint32_t i = 0; i < 1000; ++i) {
    uint32_t id = s.Allocate();
    s.Mutate(id, [&](SessionRecord& r) { r.key = K(i); r.bits = (i % 3) ? (kLive | kUsed) : kUsed; });
  }
  std::vector<int> seen(1000, 0);
  for (int round = 0; round < 10; ++round) s.Scan(100, [&](uint32_t id) { ++seen[id]; });
  for (uint32_t i = 0; i < 1000; ++i) EXPECT_EQ(seen[i], (i % 3) ? 1 : 0) << i;
}

TEST(SessionStore, RecordIs64BytesAndIndexStaysSmall) {
  SessionStore s(kLive);
  const uint32_t n = 200000;
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t id = s.Allocate();
    s.Mutate(id, [&](SessionRecord& r) {
      r.key = SessionKey::V4(i, ~i, static_cast<uint16_t>(i), 443, kProtoTcp);
      r.bits = kLive | kUsed;
    });
  }
  EXPECT_EQ(sizeof(SessionRecord), 64u);
  // Slab (with vector growth slack) plus index: well under 128 bytes each.
  EXPECT_LT(s.MemoryBytes() / n, 128u);
}


// A mirror told of one session at a high id holds that id's chunk only; the
// chunks in between read as empty, are skipped by scans, and become real
// when written (also after promotion, when the owner reuses their ids).
TEST(SessionStoreSparse, AHighIdCostsOneChunkAndEveryWriteStillWorks) {
  SessionStore s;
  const size_t empty = s.MemoryBytes();
  s.EnsureSlot(4194303);
  s.Mutate(4194303, [](SessionRecord& r) {
    r.key = SessionKey::V4(1, 2, 3, 4, kProtoTcp);
    r.bits = kUsed | kLive;
  });
  EXPECT_LT(s.MemoryBytes(), empty + (8u << 20)) << "every chunk below the id was allocated";
  EXPECT_EQ(s.slots(), 4194304u);
  EXPECT_FALSE(s.is_live(100000));
  EXPECT_EQ(s.Find(SessionKey::V4(1, 2, 3, 4, kProtoTcp)), std::optional<uint32_t>(4194303));
  size_t seen = 0;
  s.Scan(s.slots(), [&](uint32_t) { ++seen; });
  EXPECT_EQ(seen, 1u);
  EXPECT_EQ(s.CheckConsistency(), "");
  // Writes into an untouched chunk: a mirror's delete of an id it never had,
  // bookkeeping, a create.
  s.Mutate(2000000, [](SessionRecord& r) { r.bits = 0; });
  s.SetBookkeeping(3000000, kDirty, 0);
  s.EnsureSlot(1000000);
  s.Mutate(1000000, [](SessionRecord& r) {
    r.key = SessionKey::V4(5, 6, 7, 8, kProtoUdp);
    r.bits = kUsed | kLive;
  });
  EXPECT_EQ(s.live(), 2u);
  // Promotion: the owner takes the mirror's records and reuses its free ids.
  SessionStore owner;
  owner.TakeAll(s, [](SessionRecord&) {});
  EXPECT_EQ(owner.live(), 2u);
  for (int i = 0; i < 1000; ++i) {
    const uint32_t id = owner.Allocate();
    owner.Mutate(id, [&](SessionRecord& r) {
      r.key = SessionKey::V4(100 + static_cast<uint32_t>(i), 2, 3, 4, kProtoTcp);
      r.bits = kUsed | kLive;
    });
  }
  EXPECT_EQ(owner.live(), 1002u);
  EXPECT_EQ(owner.CheckConsistency(), "");
  owner.Clear();
  EXPECT_EQ(owner.live(), 0u);
}

}  // namespace
}  // namespace bladesync

namespace bladesync {
namespace {
// A mirror sets an extension for any id below max-sessions a frame names: a
// forged frame's id near the top costs a chunk, not a table up to it, and
// a Clear gives it back.
TEST(SessionStore, AHighIdsExtensionCostsAChunkNotATableUpToIt) {
  SessionStore s;
  const size_t before = s.MemoryBytes();
  Extension e{3, 1, {}};
  e.data.push_back(1);
  s.set_extension(4194303, e);
  ASSERT_NE(s.extensions(4194303), nullptr);
  EXPECT_EQ(s.extensions(4194303)->front(), e);
  EXPECT_EQ(s.extensions(4194302), nullptr);
  EXPECT_LT(s.MemoryBytes() - before, size_t{256} << 10);
  s.Clear();
  EXPECT_LT(s.MemoryBytes(), before + 1024);
  EXPECT_EQ(s.extensions(4194303), nullptr);
}

Extension Ext(uint16_t type, uint8_t first, size_t bytes) {
  Extension e{type, 1, {}};
  for (size_t i = 0; i < bytes; ++i) e.data.push_back(static_cast<uint8_t>(first + i));
  return e;
}

// A conntrack table has an extension for every session: setting them costs
// two allocations per 1024 ids (a block of lists, a chunk of references), not
// one per session, and at most 72 bytes a session.
TEST(SessionStore, AnExtensionPerSessionCostsNoAllocationOfItsOwn) {
  // The count is of every thread: the page supply may still be preparing
  // memory an earlier test's tables asked for (a CI run counted one extra).
  PageSupply::Get().WaitIdle();
  SessionStore s;
  constexpr uint32_t kIds = 16384;
  const Extension e = Ext(3, 7, 20);
  const size_t allocations = g_allocations.load();
  const size_t memory = s.MemoryBytes();
  for (uint32_t id = 0; id < kIds; ++id) s.set_extension(id, e);
  EXPECT_LE(g_allocations.load() - allocations, 2 * kIds / 1024 + 16);  // + the two pointer arrays growing
  EXPECT_LE((s.MemoryBytes() - memory) / kIds, 72u);
  for (uint32_t id = 0; id < kIds; id += 997) {
    ASSERT_NE(s.extensions(id), nullptr);
    ASSERT_EQ(s.extensions(id)->size(), 1u);
    EXPECT_EQ(s.extensions(id)->front(), e);
  }
  // An id's next session reuses its list: no allocation either.
  const size_t again = g_allocations.load();
  for (uint32_t id = 0; id < kIds; ++id) {
    s.clear_extensions(id);
    EXPECT_EQ(s.extensions(id), nullptr);
    s.set_extension(id, Ext(3, 9, 12));
  }
  EXPECT_EQ(g_allocations.load(), again);
  EXPECT_EQ(s.extensions(kIds - 1)->front(), Ext(3, 9, 12));
}

// A masquerading firewall has NAT on every session: setting it costs two
// allocations per 1024 ids, not a map node per session, and at most 48
// bytes a session; a cleared id reads as no NAT and its next NAT costs
// nothing new.
TEST(SessionStore, NatPerSessionCostsNoAllocationOfItsOwn) {
  // The count is of every thread: the page supply may still be preparing
  // memory an earlier test's tables asked for (a CI run counted one extra).
  PageSupply::Get().WaitIdle();
  SessionStore s;
  constexpr uint32_t kIds = 16384;
  const size_t allocations = g_allocations.load();
  const size_t memory = s.MemoryBytes();
  for (uint32_t id = 0; id < kIds; ++id) {
    s.set_nat(id, NatInfo{IpAddr::V4(0xcb007101), IpAddr{}, static_cast<uint16_t>(id), 0});
  }
  EXPECT_LE(g_allocations.load() - allocations, 2 * kIds / 1024 + 16);  // + the two pointer arrays growing
  EXPECT_LE((s.MemoryBytes() - memory) / kIds, 48u);
  ASSERT_NE(s.nat(777), nullptr);
  EXPECT_EQ(s.nat(777)->snat_port, 777);
  EXPECT_EQ(s.nat(kIds), nullptr);
  const size_t again = g_allocations.load();
  for (uint32_t id = 0; id < kIds; ++id) {
    s.clear_nat(id);
    ASSERT_EQ(s.nat(id), nullptr);
    s.set_nat(id, NatInfo{IpAddr{}, IpAddr::V4(0x0a000001), 0, 8080});
  }
  EXPECT_EQ(g_allocations.load(), again);
  EXPECT_EQ(s.nat(5)->dnat_port, 8080);
  EXPECT_EQ(s.nat(5)->snat_ip, IpAddr{});
}

// The digest is on the wire (summaries, status): owner and mirror of one
// wire version must compute the same on any host. It covers every byte of
// a synced extension (eight at a time since 1.6) and the extension's
// length, so a trailing zero is a change too; the pinned value catches a
// change of the function that wire 1.6 did not announce.
TEST(SessionStore, TheDigestCoversEachExtensionByteAndLengthAndIsPinned) {
  auto hash = [](const Extension& e) {
    SessionStore s(kLive);
    s.EnsureSlot(3);
    s.Mutate(3, [&](SessionRecord& r) {
      r.key = K(3);
      r.version = 7;
      r.flags = WithApp(0, AppKind::kLinuxConntrack);
      r.bits = kLive | kUsed;
      s.set_extension(3, e);
    });
    return s.digest();
  };
  const Extension e = Ext(3, 1, 20);
  EXPECT_EQ(hash(e), 0x03471d0235ce5e5cull) << std::hex << hash(e);
  for (size_t i = 0; i < e.data.size(); ++i) {
    Extension x{e.type, e.version, {}};
    for (size_t j = 0; j < e.data.size(); ++j) x.data.push_back(static_cast<uint8_t>(e.data[j] ^ (i == j)));
    EXPECT_NE(hash(x), hash(e)) << "byte " << i;
  }
  Extension longer = e;
  longer.data.push_back(0);
  EXPECT_NE(hash(longer), hash(e));
  Extension newer = e;
  newer.version = 2;
  EXPECT_NE(hash(newer), hash(e));
}

// More than one type on a session (an embedder's own): kept in order, a
// type set again replaced in place, copies equal, a clear keeps none.
TEST(SessionStore, ASessionsExtensionsKeepTheirOrderAndOneOfEachType) {
  SessionStore s;
  s.set_extension(5, Ext(1, 0, 3));
  s.set_extension(5, Ext(2, 10, 30));  // past the inline bytes too
  s.set_extension(5, Ext(3, 20, 1));
  s.set_extension(5, Ext(2, 40, 2));
  const ExtensionList* l = s.extensions(5);
  ASSERT_NE(l, nullptr);
  ASSERT_EQ(l->size(), 3u);
  std::vector<uint16_t> types;
  for (const Extension& x : *l) types.push_back(x.type);
  EXPECT_EQ(types, (std::vector<uint16_t>{1, 2, 3}));
  EXPECT_EQ(l->at(1), Ext(2, 40, 2));
  EXPECT_THROW(l->at(3), std::out_of_range);
  ExtensionList copy = *l;
  EXPECT_EQ(copy, *l);
  copy.push_back(Ext(4, 0, 1));
  EXPECT_FALSE(copy == *l);
  ExtensionList moved = std::move(copy);
  EXPECT_EQ(moved.size(), 4u);
  ExtensionList& same = moved;
  moved = std::move(same);  // a self-move keeps the list
  EXPECT_EQ(moved.size(), 4u);
  EXPECT_EQ(moved.at(1), Ext(2, 40, 2));
  EXPECT_TRUE(copy.empty());  // NOLINT(bugprone-use-after-move): a moved-from list is empty
  EXPECT_EQ(copy.begin(), copy.end());
  s.clear_extensions(5);
  EXPECT_EQ(s.extensions(5), nullptr);
  s.set_extension(5, Ext(3, 1, 1));
  ASSERT_EQ(s.extensions(5)->size(), 1u);
  EXPECT_EQ(s.extensions(5)->front(), Ext(3, 1, 1));
}
}  // namespace
}  // namespace bladesync
