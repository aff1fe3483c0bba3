// Wire format: round trips through the verifier, struct sizes, and the
// rejection of malformed frames.
#include <gtest/gtest.h>

#include "blades/delta_codec.h"
#include "blades/extensions.h"

namespace bladesync {
namespace {

SessionRecord Rec4(uint32_t i) {
  SessionRecord r;
  r.key = SessionKey::V4(0x0a000001 + i, 0xc6336402, static_cast<uint16_t>(40000 + i), 443, kProtoTcp, 3);
  r.version = (uint64_t{7} << 32) | (100 + i);
  r.proto_state = kTcpEstablished;
  r.flags = kFlagFlowInspected | kFlagNat;
  r.timeout_s = 3600;
  return r;
}

TEST(DeltaCodec, StructSizesMeetTheWireBudget) {
  EXPECT_EQ(sizeof(wire::Create4), 32u);  // <= 48 bytes per IPv4 create
  EXPECT_EQ(sizeof(wire::Delete), 12u);   // <= 12 bytes per delete
  EXPECT_EQ(sizeof(wire::Update), 20u);
  EXPECT_EQ(sizeof(wire::Create6), 56u);
}

TEST(DeltaCodec, RoundTripCreatesUpdatesDeletesNat) {
  DeltaEncoder enc;
  enc.Reset();
  NatInfo nat{IpAddr::V4(0xcb007101), IpAddr::V4(0xc6336402), 61000, 443};
  enc.AddCreate(1, Rec4(1), &nat, false);
  enc.AddCreate(2, Rec4(2), nullptr, true);
  SessionRecord v6 = Rec4(3);
  v6.key.src = IpAddr::V6(0x20010db800010000ULL, 5);
  v6.key.dst = IpAddr::V6(0x20010db800020000ULL, 9);
  enc.AddCreate(3, v6, nullptr, false);
  enc.AddUpdate(4, Rec4(4));
  enc.AddDelete(5, (uint64_t{1} << 40) + 3, 1);
  BatchHeader h;
  h.from = wire::Origin(9, 4, 1, 2);
  h.first_seq = 1000;
  h.seq_count = 5;
  h.send_time_ns = 123456789;
  h.flags = static_cast<uint8_t>(wire::BatchFlags::Resend);
  h.dest_chassis = 2;
  std::span<const uint8_t> bytes = enc.FinishBatch(h);
  std::vector<uint8_t> copy(bytes.begin(), bytes.end());
  Result<const wire::Frame*> f = VerifyFrame(copy, FrameLimits{});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const wire::DeltaBatch* b = f.value()->msg_as_DeltaBatch();
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->from()->group_id(), 9u);
  EXPECT_EQ(b->from()->epoch(), 4u);
  EXPECT_EQ(b->from()->chassis(), 1);
  EXPECT_EQ(b->from()->slot(), 2);
  EXPECT_EQ(b->first_seq(), 1000u);
  EXPECT_EQ(b->seq_count(), 5u);
  EXPECT_EQ(b->send_time_ns(), 123456789u);
  EXPECT_EQ(b->dest_chassis(), 2);
  ASSERT_EQ(b->creates4()->size(), 1u);
  const wire::Create4* c = b->creates4()->Get(0);
  EXPECT_EQ(KeyOf(*c), Rec4(1).key);
  EXPECT_EQ(VersionOf(c->version_lo(), c->version_hi()), Rec4(1).version);
  EXPECT_EQ(c->proto_state(), kTcpEstablished);
  EXPECT_EQ(c->timeout_s(), 3600u);
  EXPECT_EQ(c->flags(), kFlagFlowInspected | kFlagNat);
  ASSERT_EQ(b->recreates4()->size(), 1u);
  EXPECT_EQ(b->recreates4()->Get(0)->id(), 2u);
  ASSERT_EQ(b->creates6()->size(), 1u);
  EXPECT_EQ(KeyOf(*b->creates6()->Get(0)), v6.key);
  ASSERT_EQ(b->updates()->size(), 1u);
  EXPECT_EQ(b->updates()->Get(0)->id(), 4u);
  ASSERT_EQ(b->deletes()->size(), 1u);
  EXPECT_EQ(VersionOf(b->deletes()->Get(0)->version_lo(), b->deletes()->Get(0)->version_hi()), (uint64_t{1} << 40) + 3);
  ASSERT_EQ(b->nat4()->size(), 1u);
  EXPECT_EQ(b->nat4()->Get(0)->snat_ip(), 0xcb007101u);
  EXPECT_EQ(b->nat4()->Get(0)->snat_port(), 61000);
}

TEST(DeltaCodec, BytesPerDeltaInFullFrames) {
  DeltaEncoder enc;
  auto frame_bytes = [&](auto add) {
    enc.Reset();
    for (uint32_t i = 0; i < 1000; ++i) add(i);
    BatchHeader h;
    h.from = wire::Origin(1, 1, 1, 1);
    h.seq_count = 1000;
    return enc.FinishBatch(h).size() / 1000.0;
  };
  const double create = frame_bytes([&](uint32_t i) { enc.AddCreate(i, Rec4(i), nullptr, false); });
  const double del = frame_bytes([&](uint32_t i) { enc.AddDelete(i, i, 0); });
  EXPECT_LE(create, 48.0);
  EXPECT_LE(del, 12.2);  // 12 bytes plus a share of the frame header
}

// A bulk sync chunk is sized with CreateBytes before it is encoded: it must
// say exactly what AddCreate adds, for every kind of session.
TEST(DeltaCodec, CreateBytesIsWhatAddCreateAdds) {
  SessionRecord v4 = Rec4(1);
  SessionRecord v6 = Rec4(2);
  v6.key.src = IpAddr::V6(0x20010db800000000ULL, 1);
  v6.key.dst = IpAddr::V6(0x20010db800000000ULL, 2);
  SessionRecord gtp = Rec4(3);
  gtp.flags = WithApp(gtp.flags, AppKind::kGtpC);
  const ExtensionList ext{EncodeGtpTunnel(GtpTunnel{})};
  const NatInfo nat4{IpAddr::V4(0xcb007101), IpAddr::V4(0xc6336402), 1025, 443};
  const NatInfo nat6{IpAddr::V6(0x20010db8ffff0000ULL, 1), IpAddr::V6(0x20010db800000000ULL, 2), 1025, 443};
  const NatInfo snat_only{IpAddr::V4(0xcb007101), IpAddr{}, 1025, 0};
  const NatInfo zero_address{IpAddr::V4(0), IpAddr{}, 1068, 0};
  struct Case {
    const SessionRecord* r;
    const NatInfo* nat;
    const ExtensionList* ext;
  };
  for (const bool half_nat4 : {false, true}) {
    for (const Case& c : {Case{&v4, nullptr, nullptr}, Case{&v6, nullptr, nullptr}, Case{&v4, &nat4, nullptr},
                          Case{&v6, &nat6, nullptr}, Case{&gtp, nullptr, &ext}, Case{&v4, nullptr, &ext},
                          Case{&v4, &snat_only, nullptr}, Case{&v4, &zero_address, nullptr}}) {
      DeltaEncoder enc;
      enc.Reset();
      enc.set_half_nat4(half_nat4);
      ASSERT_EQ(enc.approx_bytes(), DeltaEncoder::kFrameOverhead);
      enc.AddCreate(7, *c.r, c.nat, false, c.ext);
      EXPECT_EQ(enc.approx_bytes() - DeltaEncoder::kFrameOverhead,
                DeltaEncoder::CreateBytes(*c.r, c.nat, c.ext, half_nat4));
    }
  }
}

// Which NAT a Nat4 carries: both sides IPv4, or from 1.5 one side left
// untranslated (0.0.0.0 stands for it, so an address of 0.0.0.0 does not fit).
TEST(DeltaCodec, ANat4StandsForAnUntranslatedSideOnlyFromOneDotFive) {
  const IpAddr a = IpAddr::V4(0xcb007101), b = IpAddr::V4(0x0a000001);
  EXPECT_TRUE(DeltaEncoder::FitsNat4(NatInfo{a, b, 1, 2}, false));
  EXPECT_TRUE(DeltaEncoder::FitsNat4(NatInfo{a, b, 1, 2}, true));
  EXPECT_FALSE(DeltaEncoder::FitsNat4(NatInfo{a, IpAddr{}, 1, 0}, false));
  EXPECT_TRUE(DeltaEncoder::FitsNat4(NatInfo{a, IpAddr{}, 1, 0}, true));
  EXPECT_TRUE(DeltaEncoder::FitsNat4(NatInfo{IpAddr{}, b, 0, 2}, true));
  EXPECT_TRUE(DeltaEncoder::FitsNat4(NatInfo{IpAddr::V4(0), b, 68, 2}, false));  // (1.4: 0.0.0.0 is the address)
  EXPECT_FALSE(DeltaEncoder::FitsNat4(NatInfo{IpAddr::V4(0), IpAddr{}, 1068, 0}, true));
  EXPECT_FALSE(DeltaEncoder::FitsNat4(NatInfo{IpAddr::V6(0x20010db800000000ULL, 1), IpAddr{}, 1, 0}, true));
}

TEST(DeltaCodec, RejectsMalformedFrames) {
  DeltaEncoder enc;
  enc.Reset();
  for (uint32_t i = 0; i < 10; ++i) enc.AddCreate(i, Rec4(i), nullptr, false);
  BatchHeader h;
  h.from = wire::Origin(1, 1, 1, 1);
  h.seq_count = 10;
  std::span<const uint8_t> good = enc.FinishBatch(h);
  std::vector<uint8_t> bytes(good.begin(), good.end());
  ASSERT_TRUE(VerifyFrame(bytes, FrameLimits{}).ok());
  // Truncated.
  std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(bytes.size() / 2));
  EXPECT_FALSE(VerifyFrame(cut, FrameLimits{}).ok());
  // Oversized for the limit.
  FrameLimits small;
  small.max_frame_bytes = 64;
  Result<const wire::Frame*> r = VerifyFrame(bytes, small);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("over the limit"), std::string::npos);
  // Wrong identifier.
  std::vector<uint8_t> wrong = bytes;
  wrong[4] = 'X';
  EXPECT_FALSE(VerifyFrame(wrong, FrameLimits{}).ok());
  // More deltas than the sequence range says: a lying header.
  BatchHeader lie = h;
  lie.seq_count = 3;
  enc.Reset();
  for (uint32_t i = 0; i < 10; ++i) enc.AddCreate(i, Rec4(i), nullptr, false);
  std::span<const uint8_t> l = enc.FinishBatch(lie);
  std::vector<uint8_t> lb(l.begin(), l.end());
  EXPECT_FALSE(VerifyFrame(lb, FrameLimits{}).ok());
  // Every single-byte corruption either fails verification or yields a
  // frame that keeps the promises VerifyFrame makes beyond FlatBuffers: a
  // message, a delta batch with an origin and no more deltas than its
  // sequence range or the limit. Corrupting the identifier always fails.
  size_t rejected = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::vector<uint8_t> m = bytes;
    m[i] ^= 0xff;
    Result<const wire::Frame*> r = VerifyFrame(m, FrameLimits{});
    if (!r.ok()) {
      ++rejected;
      continue;
    }
    EXPECT_FALSE(i >= 4 && i < 8) << "a corrupt identifier was accepted at byte " << i;
    ASSERT_NE(r.value()->msg(), nullptr) << "byte " << i;
    if (const auto* b = r.value()->msg_as_DeltaBatch()) {
      ASSERT_NE(b->from(), nullptr) << "byte " << i;
      auto len = [](const auto* v) -> size_t { return v ? v->size() : 0; };
      const size_t n = len(b->deletes()) + len(b->creates4()) + len(b->recreates4()) + len(b->creates6()) +
                       len(b->recreates6()) + len(b->updates());
      EXPECT_LE(n, b->seq_count()) << "byte " << i;
      EXPECT_LE(n, FrameLimits{}.max_deltas) << "byte " << i;
    }
  }
  EXPECT_GT(rejected, 0u);
}

}  // namespace
}  // namespace bladesync

namespace bladesync {
namespace {

// Extension bytes are held inline up to kInlineExtensionBytes and in one
// allocation beyond: every kind must fit the limit, more is refused, and a
// copy or move keeps every byte.
TEST(ExtensionBytes, EveryKindFitsAndMoreIsRefused) {
  for (int app = 0; app <= static_cast<int>(AppKind::kLinuxConntrack); ++app) {
    EXPECT_LE(AppSpecFor(static_cast<AppKind>(app)).max_bytes, kMaxExtensionBytes) << "app " << app;
  }
  ExtensionBytes b;
  for (size_t i = 0; i < kMaxExtensionBytes; ++i) ASSERT_TRUE(b.push_back(static_cast<uint8_t>(i)));
  EXPECT_FALSE(b.push_back(0xff));
  EXPECT_EQ(b.size(), kMaxExtensionBytes);
  EXPECT_EQ(b[kInlineExtensionBytes - 1], kInlineExtensionBytes - 1);
  EXPECT_EQ(b[kInlineExtensionBytes], kInlineExtensionBytes);
  EXPECT_EQ(b[kMaxExtensionBytes - 1], kMaxExtensionBytes - 1);
  ExtensionBytes copy = b;
  EXPECT_EQ(copy, b);
  ExtensionBytes moved = std::move(copy);
  EXPECT_EQ(moved, b);
  EXPECT_TRUE(copy.empty());  // NOLINT(bugprone-use-after-move): a moved-from value is empty
  ExtensionBytes small;
  small.push_back(1);
  moved = small;  // shorter than what it held
  EXPECT_EQ(moved, small);
  const std::vector<uint8_t> too_long(kMaxExtensionBytes + 1, 7);
  EXPECT_FALSE(b.assign(too_long.begin(), too_long.end()));
  const ConntrackState c{0x1234, 7, 300, 3, 7, 7, 0x23, 0x22};
  EXPECT_EQ(DecodeConntrack(EncodeConntrack(c)), c);
}

}  // namespace
}  // namespace bladesync
