// Linux conntrack entries on the wire (issue 21, the lean event path): an
// entry whose state the compact form carries exactly goes as a
// ConntrackCreate4 / ConntrackUpdate (44 and 32 bytes instead of 76 and 64),
// anything else as before; an owner sends the compact form only to a mirror
// whose acks say wire schema 1.2 or later, and the mirror then holds the
// same session, extension byte for byte.
#include <gtest/gtest.h>

#include <functional>

#include "blades/delta_codec.h"
#include "blades/extensions.h"
#include "schemas/wire_version.h"
#include "tests/support/forged_frames.h"
#include "tests/support/sim_chassis_cluster.h"

namespace bladesync::testing {
namespace {

constexpr uint32_t kAssured = 0x0e;  // IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED
constexpr uint32_t kSrcNat = 0x10 | 0x80;

ConntrackState Established(uint32_t i) {
  ConntrackState c;
  c.status = kAssured;
  c.mark = 0x100 + i;
  c.timeout_s = 431990 - i;
  c.tcp_state = 3;
  c.wscale_orig = 7;
  c.wscale_repl = 9;
  c.flags_orig = 0x23;
  c.flags_repl = 0x03;
  return c;
}

SessionRecord KernelRecord(uint32_t i, const ConntrackState& c, bool v6 = false) {
  SessionRecord r;
  r.key = v6 ? SessionKey{IpAddr::V6(1, i), IpAddr::V6(2, 3), 1000, 443, kProtoTcp, 0} : TcpFacts(i).key;
  r.key.zone = 5;
  r.version = (uint64_t{3} << 32) | (100 + i);
  r.flags = ConntrackSessionFlags(c.status);
  r.proto_state = kTcpEstablished;
  r.timeout_s = 432000;
  return r;
}

const wire::DeltaBatch* Batch(std::span<const uint8_t> bytes) {
  Result<const wire::Frame*> f = VerifyFrame(bytes, FrameLimits{});
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? f.value()->msg_as_DeltaBatch() : nullptr;
}

BatchHeader Header(uint32_t seq_count) {
  BatchHeader h;
  h.from = wire::Origin(1, 1, 1, 1);
  h.seq_count = seq_count;
  return h;
}

TEST(ConntrackWire, CompactFormsMeetTheByteBudget) {
  EXPECT_EQ(sizeof(wire::ConntrackCreate4), 44u);
  EXPECT_EQ(sizeof(wire::ConntrackUpdate), 32u);
}

TEST(ConntrackWire, TheCompactFormCarriesTheEntryExactly) {
  DeltaEncoder enc;
  enc.Reset();
  enc.set_compact_conntrack(true);
  ConntrackState c = Established(1);
  c.status |= kSrcNat;
  const ExtensionList ext{EncodeConntrack(c)};
  const SessionRecord r = KernelRecord(1, c);
  const NatInfo nat{IpAddr::V4(0x01020304), IpAddr::V4(0), 40000, 0};
  enc.AddCreate(7, r, &nat, false, &ext);
  ConntrackState u = c;
  u.tcp_state = 4;
  u.flags_orig |= 0x04;
  const ExtensionList uext{EncodeConntrack(u)};
  SessionRecord ur = r;
  ur.proto_state = kTcpFinWait;
  ur.version += 1;
  enc.AddUpdate(8, ur, &uext);
  const wire::DeltaBatch* b = Batch(enc.FinishBatch(Header(2)));
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->creates4(), nullptr);
  EXPECT_EQ(b->updates(), nullptr);
  EXPECT_EQ(b->extensions(), nullptr);
  ASSERT_NE(b->conntrack_creates4(), nullptr);
  ASSERT_EQ(b->conntrack_creates4()->size(), 1u);
  const wire::ConntrackCreate4& cc = *b->conntrack_creates4()->Get(0);
  EXPECT_EQ(cc.id(), 7u);
  EXPECT_EQ(KeyOf(cc), r.key);
  EXPECT_EQ(VersionOf(cc.version_lo(), cc.version_hi()), r.version);
  EXPECT_EQ(cc.timeout_s(), r.timeout_s);
  EXPECT_EQ(cc.proto_state(), r.proto_state);
  EXPECT_EQ(ConntrackSessionFlags(cc.status()), r.flags);
  EXPECT_EQ(ConntrackExtensionOf(cc), ext[0]);
  ASSERT_NE(b->nat4(), nullptr);  // NAT travels as it always did
  EXPECT_EQ(b->nat4()->Get(0)->snat_port(), 40000);
  ASSERT_NE(b->conntrack_updates(), nullptr);
  const wire::ConntrackUpdate& cu = *b->conntrack_updates()->Get(0);
  EXPECT_EQ(cu.id(), 8u);
  EXPECT_EQ(VersionOf(cu.version_lo(), cu.version_hi()), ur.version);
  EXPECT_EQ(cu.proto_state(), kTcpFinWait);
  EXPECT_EQ(ConntrackExtensionOf(cu), uext[0]);
}

// What the compact form cannot say exactly goes as a Create4 (or Update)
// with its Extension.
TEST(ConntrackWire, WhatTheCompactFormCannotCarryGoesAsBefore) {
  struct Case {
    const char* what;
    ConntrackState c;
    std::function<void(SessionRecord&)> change;
    bool recreate = false;
    bool compact = true;
    bool v6 = false;
  };
  ConntrackState helper = Established(2);
  helper.extra.helper = "ftp";
  ConntrackState high = Established(3);
  high.status |= 1u << 16;
  ConntrackState wide = Established(4);
  wide.wscale_repl = 16;
  const std::vector<Case> cases = {
      {"extras (version 2)", helper, {}},
      {"a status bit above 15", high, {}},
      {"a window scale above 15", wide, {}},
      {"flags that do not follow from the status (adopted)", Established(5),
       [](SessionRecord& r) { r.flags |= kFlagAdopted; }},
      {"a recreate", Established(6), {}, true},
      {"a mirror of an older release", Established(7), {}, false, false},
      {"IPv6", Established(8), {}, false, true, true},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    DeltaEncoder enc;
    enc.Reset();
    enc.set_compact_conntrack(k.compact);
    const ExtensionList ext{EncodeConntrack(k.c)};
    SessionRecord r = KernelRecord(1, k.c, k.v6);
    if (k.change) k.change(r);
    enc.AddCreate(1, r, nullptr, k.recreate, &ext);
    // (the update of a recreated or IPv6 session goes in the compact form)
    const bool create_only = k.recreate || k.v6;
    if (!create_only) enc.AddUpdate(2, r, &ext);
    const wire::DeltaBatch* b = Batch(enc.FinishBatch(Header(2)));
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->conntrack_creates4(), nullptr);
    EXPECT_EQ(b->conntrack_updates(), nullptr);
    if (k.v6) {
      ASSERT_NE(b->creates6(), nullptr);
    } else {
      ASSERT_NE(k.recreate ? b->recreates4() : b->creates4(), nullptr);
    }
    if (!create_only) {
      ASSERT_NE(b->updates(), nullptr);
    }
    ASSERT_NE(b->extensions(), nullptr);
    EXPECT_EQ(b->extensions()->size(), create_only ? 1u : 2u);
  }
}

// The mirror's (chassis 2) acks say schema minor `minor` (0: none, as
// 0.3.0 and older).
void RewriteMirrorAcks(SimBlades& c, uint16_t minor) {
  c.net().set_rewrite([minor](NodeId from, NodeId, std::vector<uint8_t>& bytes) {
    if (from.chassis != 2) return;
    const wire::Ack* a = wire::GetFrame(bytes.data())->msg_as_Ack();
    if (!a || a->schema_minor() == minor) return;
    flatbuffers::FlatBufferBuilder fbb;
    std::vector<wire::Query> q;
    if (a->queries()) for (const wire::Query* x : *a->queries()) q.push_back(*x);
    auto qv = q.empty() ? 0 : fbb.CreateVectorOfStructs(q);
    wire::AckBuilder b(fbb);
    b.add_from(a->from());
    b.add_owner_chassis(a->owner_chassis());
    b.add_owner_epoch(a->owner_epoch());
    b.add_next_seq(a->next_seq());
    b.add_nack_from(a->nack_from());
    b.add_nack_to(a->nack_to());
    b.add_flags(a->flags());
    b.add_echo_send_time_ns(a->echo_send_time_ns());
    if (minor) b.add_schema_minor(minor);
    if (!qv.IsNull()) b.add_queries(qv);
    bytes = FrameBytes(fbb, wire::Message::Ack, b.Finish());
  });
}

// Two chassis of one blade: the owner's kernel sessions reach the mirror.
class ConntrackStream : public ::testing::Test {
 protected:
  ConntrackStream() : c_(2, 1, 41) {
    c_.net().set_tap([this](NodeId from, NodeId, Link, std::span<const uint8_t> bytes) {
      if (from.chassis != 1) return;
      Result<const wire::Frame*> f = VerifyFrame(bytes, FrameLimits{});
      if (!f.ok() || !f.value()->msg_as_DeltaBatch()) return;
      const wire::DeltaBatch* b = f.value()->msg_as_DeltaBatch();
      if (b->conntrack_creates4()) compact_ += b->conntrack_creates4()->size();
      if (b->conntrack_updates()) compact_ += b->conntrack_updates()->size();
      if (b->extensions()) extensions_ += b->extensions()->size();
      if (b->nat4()) nat4_ += b->nat4()->size();
      if (b->nat6()) nat6_ += b->nat6()->size();
    });
  }
  // The mirror's acks say schema minor `minor` (0: none, as 0.3.0 and older).
  void MirrorAcksAs(uint16_t minor) { RewriteMirrorAcks(c_, minor); }
  // n masqueraded sessions (source NAT only, as conntrack maps them: the
  // destination side untranslated) and n with destination NAT only.
  void CreateHalfNat(uint32_t n) {
    for (uint32_t i = 0; i < 2 * n; ++i) {
      const ConntrackState c = Established(1000 + i);
      SessionFacts f = TcpFacts(1000 + i);
      f.flags = ConntrackSessionFlags(c.status);
      const ExtensionList ext{EncodeConntrack(c)};
      const NatInfo nat = i < n ? NatInfo{IpAddr::V4(0xcb007101), IpAddr{}, static_cast<uint16_t>(30000 + i), 0}
                                : NatInfo{IpAddr{}, IpAddr::V4(0x0a0000fe), 0, 8080};
      ASSERT_NE(owner().CreateSession(f, SessionState{kTcpEstablished, f.flags, 432000}, &nat, &ext), kNoSession);
    }
    c_.RunFor(milliseconds(300));
  }
  void CreateAndChange(uint32_t n) {
    std::vector<uint32_t> ids;
    for (uint32_t i = 0; i < n; ++i) {
      const ConntrackState c = Established(i);
      SessionFacts f = TcpFacts(i);
      f.flags = ConntrackSessionFlags(c.status);
      const ExtensionList ext{EncodeConntrack(c)};
      ids.push_back(owner().CreateSession(f, SessionState{kTcpEstablished, f.flags, 432000}, nullptr, &ext));
    }
    c_.RunFor(milliseconds(50));
    for (uint32_t i = 0; i < n; i += 2) {  // half of them close
      ConntrackState c = Established(i);
      c.tcp_state = 4;
      owner().SetExtension(ids[i], EncodeConntrack(c));
      owner().ChangeState(ids[i], SessionState{kTcpFinWait, ConntrackSessionFlags(c.status), 120});
    }
    c_.RunFor(milliseconds(500));
  }
  BladeAgent& owner() { return c_.blade(1, 1); }
  SimBlades c_;
  uint64_t compact_ = 0, extensions_ = 0, nat4_ = 0, nat6_ = 0;
};

// The owner's (chassis 1) summary keep-alives, their digest and minor
// version rewritten by `f`.
void RewriteSummaries(SimBlades& c, std::function<void(uint64_t& digest, uint16_t& minor)> f) {
  c.net().set_rewrite([f](NodeId from, NodeId, std::vector<uint8_t>& bytes) {
    if (from.chassis != 1) return;
    const wire::DeltaBatch* d = wire::GetFrame(bytes.data())->msg_as_DeltaBatch();
    if (!d || !(static_cast<uint8_t>(d->flags()) & static_cast<uint8_t>(wire::BatchFlags::Summary))) return;
    uint64_t digest = d->owner_digest();
    uint16_t minor = d->schema_minor();
    f(digest, minor);
    flatbuffers::FlatBufferBuilder fbb;
    wire::DeltaBatchBuilder b(fbb);
    b.add_from(d->from());
    b.add_first_seq(d->first_seq());
    b.add_seq_count(d->seq_count());
    b.add_send_time_ns(d->send_time_ns());
    b.add_flags(d->flags());
    b.add_dest_chassis(d->dest_chassis());
    b.add_owner_sessions(d->owner_sessions());
    b.add_owner_digest(digest);
    if (minor) b.add_schema_minor(minor);
    bytes = FrameBytes(fbb, wire::Message::DeltaBatch, b.Finish());
  });
}

// Wire 1.6 changed the digest (extension bytes eight at a time): a mirror
// of 1.5 would find every summary of a 1.6 owner wrong and resync for ever,
// so it gets none (counts and digests are then checked by status only).
TEST(SummaryDigest, SummariesGoOnlyToAMirrorWithTheSameDigest) {
  for (uint16_t minor : {uint16_t{5}, kWireSchemaMinor}) {
    SimBlades c(2, 1, 43);
    uint64_t summaries = 0, saying_minor = 0;
    c.net().set_tap([&](NodeId from, NodeId, Link, std::span<const uint8_t> bytes) {
      const wire::DeltaBatch* d = wire::GetFrame(bytes.data())->msg_as_DeltaBatch();
      if (from.chassis != 1 || !d || !(static_cast<uint8_t>(d->flags()) & static_cast<uint8_t>(wire::BatchFlags::Summary))) return;
      ++summaries;
      saying_minor += d->schema_minor() == kWireSchemaMinor;  // else a 1.6 mirror compares no digest
    });
    if (minor != kWireSchemaMinor) RewriteMirrorAcks(c, minor);
    for (uint32_t i = 0; i < 50; ++i) c.blade(1, 1).CreateSession(TcpFacts(i), SessionState{kTcpEstablished, 0, 3600});
    c.RunFor(seconds(2));
    std::string why;
    EXPECT_TRUE(c.MirrorsMatch(&why)) << why;
    if (minor == kWireSchemaMinor) {
      EXPECT_GT(summaries, 3u);
      EXPECT_EQ(saying_minor, summaries);
    } else {
      EXPECT_EQ(summaries, 0u) << "a summary went to a mirror of 1." << minor;
    }
  }
}

// A summary that does not say 1.6 (an owner of 1.5, its digest of the old
// kind) is checked by its count alone; one that says 1.6 by its digest too.
TEST(SummaryDigest, ComparedOnlyFromAnOwnerOfTheSameKind) {
  for (bool says_minor : {false, true}) {
    SimBlades c(2, 1, 44);
    for (uint32_t i = 0; i < 50; ++i) c.blade(1, 1).CreateSession(TcpFacts(i), SessionState{kTcpEstablished, 0, 3600});
    c.RunFor(milliseconds(300));
    RewriteSummaries(c, [says_minor](uint64_t& digest, uint16_t& minor) {
      digest ^= 1;  // another kind of digest
      minor = says_minor ? kWireSchemaMinor : 0;
    });
    c.RunFor(seconds(2));
    const uint64_t in_doubt = c.blade(2, 1).counters().bulk_syncs_in_doubt.get();
    if (says_minor) {
      EXPECT_GE(in_doubt, 1u) << "a wrong 1.6 digest went unnoticed";
    } else {
      EXPECT_EQ(in_doubt, 0u) << "a 1.5 owner's digest was compared";
    }
  }
}

TEST_F(ConntrackStream, AMirrorOfThisReleaseGetsTheCompactFormAndHoldsTheSameSessions) {
  c_.RunFor(milliseconds(300));  // the stream is open: the mirror acked its version
  CreateAndChange(200);
  std::string why;
  EXPECT_TRUE(c_.MirrorsMatch(&why)) << why;  // records, flags and extension bytes (the digest)
  EXPECT_EQ(compact_, 300u);
  EXPECT_EQ(extensions_, 0u);
}

// A mirror of release 0.3.0 or older (wire schema 1.1) says no minor
// version in its acks: it gets every entry as a Create4 with its Extension.
TEST_F(ConntrackStream, AMirrorOfAnOlderReleaseGetsExtensions) {
  MirrorAcksAs(0);
  c_.RunFor(milliseconds(300));
  CreateAndChange(200);
  std::string why;
  EXPECT_TRUE(c_.MirrorsMatch(&why)) << why;
  EXPECT_EQ(compact_, 0u);
  EXPECT_EQ(extensions_, 300u);
}

// NAT with one side untranslated (conntrack's masquerade) goes as a 16-byte
// Nat4 to a mirror of 1.5 or later, a 40-byte Nat6 to one of 1.4, and the
// mirror holds the same either way (the digest covers the NAT addresses).
TEST_F(ConntrackStream, HalfNatGoesAsNat4ToAMirrorThatReadsIt) {
  c_.RunFor(milliseconds(300));
  CreateHalfNat(50);
  std::string why;
  EXPECT_TRUE(c_.MirrorsMatch(&why)) << why;
  EXPECT_EQ(nat4_, 100u);
  EXPECT_EQ(nat6_, 0u);
  const StandbyTable* m = c_.blade(2, 1).standby(1);
  size_t untranslated_dst = 0, untranslated_src = 0;
  for (uint32_t id = 0; id < m->store().slots(); ++id) {
    const NatInfo* n = m->store().is_live(id) ? m->store().nat(id) : nullptr;
    if (!n) continue;
    untranslated_dst += n->dnat_ip == IpAddr{};
    untranslated_src += n->snat_ip == IpAddr{};
  }
  EXPECT_EQ(untranslated_dst, 50u);
  EXPECT_EQ(untranslated_src, 50u);
}

TEST_F(ConntrackStream, HalfNatGoesAsNat6ToAMirrorOfOneDotFour) {
  MirrorAcksAs(4);
  c_.RunFor(milliseconds(300));
  CreateHalfNat(50);
  std::string why;
  EXPECT_TRUE(c_.MirrorsMatch(&why)) << why;
  EXPECT_EQ(nat4_, 0u);
  EXPECT_EQ(nat6_, 100u);
}

// 0.0.0.0 as an address (a DHCP client's source, its port translated) is
// not a side left untranslated: it goes as a Nat6 and the mirror holds it,
// port and all.
TEST_F(ConntrackStream, AZeroNatAddressIsNotTakenForUntranslated) {
  c_.RunFor(milliseconds(300));
  const ConntrackState c = Established(3000);
  SessionFacts f = TcpFacts(3000);
  f.flags = ConntrackSessionFlags(c.status);
  const ExtensionList ext{EncodeConntrack(c)};
  const NatInfo nat{IpAddr::V4(0), IpAddr{}, 1068, 0};
  const uint32_t id = owner().CreateSession(f, SessionState{kTcpEstablished, f.flags, 432000}, &nat, &ext);
  ASSERT_NE(id, kNoSession);
  c_.RunFor(milliseconds(300));
  std::string why;
  EXPECT_TRUE(c_.MirrorsMatch(&why)) << why;
  EXPECT_EQ(nat4_, 0u);
  EXPECT_EQ(nat6_, 1u);
  const StandbyTable* m = c_.blade(2, 1).standby(1);
  const std::optional<uint32_t> mid = m->store().Find(f.key);
  ASSERT_TRUE(mid.has_value());
  ASSERT_NE(m->store().nat(*mid), nullptr);
  EXPECT_EQ(m->store().nat(*mid)->snat_ip, IpAddr::V4(0));
  EXPECT_EQ(m->store().nat(*mid)->snat_port, 1068);
  EXPECT_EQ(m->store().nat(*mid)->dnat_ip, IpAddr{});
}

// Forged compact deltas, at the stream's next number (as a hostile peer
// holding the owner's key would send them): an id past max-sessions is
// malformed and costs the mirror nothing; an update of a session the mirror
// lacks is refused; the rest of the table is untouched.
TEST_F(ConntrackStream, ForgedCompactDeltasAreRefusedLikeTheirLongForms) {
  c_.RunFor(milliseconds(300));
  CreateAndChange(10);
  BladeAgent& mirror = c_.blade(2, 1);
  const size_t live = mirror.standby(1)->store().live();
  const size_t memory = mirror.standby(1)->store().MemoryBytes();
  const uint64_t at = mirror.standby(1)->next_seq();
  const wire::Origin origin(1, owner().config().epoch, 1, 1);
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<wire::ConntrackCreate4> creates = {
      wire::ConntrackCreate4(mirror.config().max_sessions - 1 + 1, 9000, 0x0b000001, 0x0c000001, 3600, 3600, 0, 1, 80,
                             0x7fff, 0, 0x0e, kProtoTcp, kTcpEstablished, 3, 0x77, 0, 0)};
  std::vector<wire::ConntrackUpdate> updates = {
      wire::ConntrackUpdate(3000000, 9000, 3600, 3600, 0, 0x7fff, 0x0e, kTcpEstablished, 3, 0x77, 0, 0)};
  auto cv = fbb.CreateVectorOfStructs(creates);
  auto uv = fbb.CreateVectorOfStructs(updates);
  wire::DeltaBatchBuilder b(fbb);
  b.add_from(&origin);
  b.add_first_seq(at);
  b.add_seq_count(2);
  b.add_dest_chassis(2);
  b.add_conntrack_creates4(cv);
  b.add_conntrack_updates(uv);
  c_.net().Inject(NodeId{1, 1}, NodeId{2, 1}, Link::kM1, FrameBytes(fbb, wire::Message::DeltaBatch, b.Finish()), 1);
  c_.RunFor(milliseconds(5));
  const auto dropped = [&](DropReason r) { return mirror.counters().dropped[static_cast<int>(r)].get(); };
  EXPECT_GE(dropped(DropReason::kMalformed), 1u);
  EXPECT_GE(dropped(DropReason::kUnknownSession), 1u);
  EXPECT_EQ(mirror.standby(1)->store().live(), live);
  EXPECT_LT(mirror.standby(1)->store().MemoryBytes(), memory + (size_t{256} << 10));
}

}  // namespace
}  // namespace bladesync::testing
