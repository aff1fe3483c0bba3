// Versions on the wire (issue 20, rolling upgrades): a chassis of another
// wire schema major version is refused, loudly; one of another minor
// version, or release 0.2.0 which sent no version, syncs; an extension of a
// newer version than this release reads travels on as it came.
#include <gtest/gtest.h>

#include <algorithm>

#include "blades/extensions.h"
#include "runtime/status_report.h"
#include "schemas/wire_version.h"
#include "tests/support/forged_frames.h"
#include "tests/support/sim_chassis_cluster.h"

namespace bladesync::testing {
namespace {

uint64_t Dropped(const BladeAgent& b, DropReason r) { return b.counters().dropped[static_cast<int>(r)].get(); }

// Deltas as a release of wire schema `major` would send them: `creates`
// IPv4 sessions from id first_id on.
std::vector<uint8_t> BatchOfMajor(uint16_t major, wire::Origin origin, uint8_t dest, uint64_t first_seq,
                                  uint32_t creates, uint32_t first_id) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<wire::Create4> c;
  for (uint32_t i = 0; i < creates; ++i) {
    c.emplace_back(first_id + i, 1000 + i, 0x0b000000 + first_id + i, 0x0c000001, 3600, 1000 + i, 80, 0x7fff, 0, 0,
                   kProtoTcp, kTcpEstablished);
  }
  auto v = fbb.CreateVectorOfStructs(c);
  wire::DeltaBatchBuilder b(fbb);
  b.add_from(&origin);
  b.add_first_seq(first_seq);
  b.add_seq_count(creates);
  b.add_dest_chassis(dest);
  b.add_creates4(v);
  b.add_schema_major(major);
  return FrameBytes(fbb, wire::Message::DeltaBatch, b.Finish());
}

class DeltaVersions : public ::testing::Test {
 protected:
  DeltaVersions() : c_(2, 1, 31) {}
  void SetUp() override {
    for (uint32_t i = 0; i < 100; ++i) owner().CreateSession(TcpFacts(i), SessionState{kTcpEstablished, 0, 3600});
    c_.RunFor(milliseconds(500));
    ASSERT_TRUE(c_.MirrorsMatch());
  }
  BladeAgent& owner() { return c_.blade(1, 1); }
  BladeAgent& mirror() { return c_.blade(2, 1); }
  wire::Origin Owner() { return wire::Origin(1, owner().config().epoch, 1, 1); }
  SimBlades c_;
};

// Deltas of another major version are not applied, even at the stream's
// next number from the owner itself; the owner's own stream goes on.
TEST_F(DeltaVersions, DeltasOfAnotherMajorAreRefused) {
  const uint64_t at = mirror().standby(1)->next_seq();
  c_.net().Inject(NodeId{1, 1}, NodeId{2, 1}, Link::kM1, BatchOfMajor(kWireSchemaMajor + 1, Owner(), 2, at, 5, 500), 1);
  c_.RunFor(milliseconds(1));
  EXPECT_EQ(Dropped(mirror(), DropReason::kIncompatibleSchema), 1u);
  EXPECT_EQ(mirror().standby(1)->store().live(), 100u);
  EXPECT_EQ(mirror().standby(1)->next_seq(), at);
  for (uint32_t i = 100; i < 150; ++i) owner().CreateSession(TcpFacts(i), SessionState{kTcpEstablished, 0, 3600});
  c_.RunFor(seconds(1));
  std::string why;
  EXPECT_TRUE(c_.MirrorsMatch(&why)) << why;
  EXPECT_EQ(mirror().standby(1)->store().live(), 150u);
}

// The same frame of this major version is applied: what is refused above is
// the version, nothing else about the frame.
TEST_F(DeltaVersions, TheSameDeltasOfThisMajorAreApplied) {
  const uint64_t at = mirror().standby(1)->next_seq();
  c_.net().Inject(NodeId{1, 1}, NodeId{2, 1}, Link::kM1, BatchOfMajor(kWireSchemaMajor, Owner(), 2, at, 5, 500), 1);
  c_.RunFor(milliseconds(1));
  EXPECT_EQ(Dropped(mirror(), DropReason::kIncompatibleSchema), 0u);
  EXPECT_EQ(mirror().standby(1)->store().live(), 105u);
}

// An ack of another major version moves nothing on the owner's stream.
TEST_F(DeltaVersions, AcksOfAnotherMajorAreRefused) {
  flatbuffers::FlatBufferBuilder fbb;
  wire::Origin from(1, mirror().config().epoch, 2, 1);
  wire::AckBuilder b(fbb);
  b.add_from(&from);
  b.add_owner_chassis(1);
  b.add_owner_epoch(owner().config().epoch);
  b.add_next_seq(1);
  b.add_flags(wire::AckFlags::SyncRequest);
  b.add_schema_major(kWireSchemaMajor + 1);
  const uint64_t bulk_before = owner().counters().bulk_syncs_started.get();
  c_.net().Inject(NodeId{2, 1}, NodeId{1, 1}, Link::kM1, FrameBytes(fbb, wire::Message::Ack, b.Finish()), 2);
  c_.RunFor(milliseconds(100));
  EXPECT_EQ(Dropped(owner(), DropReason::kIncompatibleSchema), 1u);
  EXPECT_EQ(owner().counters().bulk_syncs_started.get(), bulk_before) << "a refused ack asked for a bulk sync";
}

// What release 0.2.0 sends (no version at all) reads as 1.0, and syncs.
TEST(WireVersions, AFrameWithoutAVersionIsOneDotZero) {
  flatbuffers::FlatBufferBuilder fbb;
  wire::Origin from(1, 1, 1, 1);
  wire::DeltaBatchBuilder b(fbb);
  b.add_from(&from);
  const std::vector<uint8_t> bytes = FrameBytes(fbb, wire::Message::DeltaBatch, b.Finish());
  EXPECT_EQ(wire::GetFrame(bytes.data())->msg_as_DeltaBatch()->schema_major(), 1);
  const std::vector<uint8_t> hb = ForgedHeartbeat(wire::Origin(1, 1, 1, 0), wire::Role::Primary, 1);
  EXPECT_EQ(wire::GetFrame(hb.data())->msg_as_Heartbeat()->schema_major(), 1);
  EXPECT_EQ(wire::GetFrame(hb.data())->msg_as_Heartbeat()->schema_minor(), 0);
  // And this release's deltas cost nothing for saying so (the default is not sent).
  std::vector<uint8_t> ours = ForgedBatch(from, 2, 1, 0);
  flatbuffers::FlatBufferBuilder fbb2;
  wire::DeltaBatchBuilder b2(fbb2);
  b2.add_from(&from);
  b2.add_first_seq(1);
  b2.add_dest_chassis(2);
  EXPECT_EQ(ours.size(), FrameBytes(fbb2, wire::Message::DeltaBatch, b2.Finish()).size());
}

// A peer that announces another major version stays in the election (two
// primaries would be worse) and status, metrics and the log say why its
// sessions are not synced; back on our major, the problem goes.
TEST(WireVersions, AHeartbeatOfAnotherMajorShowsInStatus) {
  SimChassisCluster c(2, 1, 41);
  c.RunFor(seconds(2));
  ASSERT_EQ(c.TrafficChassis().size(), 1u);
  const uint8_t primary = c.TrafficChassis()[0], secondary = primary == 1 ? 2 : 1;
  const PeerView& seen = c.manager(secondary)->peers().at(primary);
  EXPECT_TRUE(seen.schema_compatible());
  EXPECT_EQ(SchemaName(seen), std::to_string(kWireSchemaMajor) + "." + std::to_string(kWireSchemaMinor));
  // The primary's next heartbeat, as a release of the next major would send it.
  flatbuffers::FlatBufferBuilder fbb;
  wire::Origin from(c.manager(primary)->config().group_id, c.manager(primary)->config().epoch, primary, 0);
  wire::HeartbeatBuilder b(fbb);
  b.add_from(&from);
  b.add_role(wire::Role::Primary);
  b.add_ready(true);
  b.add_live_blades(1);
  b.add_priority(c.manager(primary)->config().priority);
  b.add_seq(seen.hb_seq + 1);
  b.add_schema_major(kWireSchemaMajor + 1);
  b.add_schema_minor(4);
  c.net().Inject(NodeId{primary, 0}, NodeId{secondary, 0}, Link::kM1, FrameBytes(fbb, wire::Message::Heartbeat, b.Finish()), primary);
  c.RunFor(milliseconds(1));
  EXPECT_FALSE(seen.schema_compatible());
  EXPECT_EQ(SchemaName(seen), std::to_string(kWireSchemaMajor + 1) + ".4");
  const std::vector<std::string> problems = HealthProblems(*c.manager(secondary), ConfigState{});
  EXPECT_TRUE(std::any_of(problems.begin(), problems.end(), [](const std::string& p) {
    return p.find("incompatible, no sessions are synced") != std::string::npos;
  })) << ::testing::PrintToString(problems);
  EXPECT_EQ(c.manager(secondary)->role(), HaRole::kSecondary) << "the election changed for a version";
  c.RunFor(seconds(1));
  EXPECT_TRUE(seen.schema_compatible());
  EXPECT_TRUE(HealthProblems(*c.manager(secondary), ConfigState{}).empty());
}

// An extension of a newer version than this release reads is carried: the
// mirror keeps it byte for byte, and after a takeover its new owner sends it
// on unchanged. (Release 0.2.0 dropped it as bad_extension.)
TEST(WireVersions, AnExtensionOfANewerVersionIsCarried) {
  SimBlades c(3, 1, 43);
  BladeAgent& owner = c.blade(1, 1);
  SessionFacts facts = TcpFacts(7);
  facts.flags = WithApp(0, AppKind::kSip);
  const uint32_t id = owner.CreateSession(facts, SessionState{kTcpEstablished, facts.flags, 3600});
  Extension newer{static_cast<uint16_t>(ExtensionType::kSipCall), 9, {}};
  for (uint8_t x : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}) newer.data.push_back(x);
  owner.SetExtension(id, newer);
  c.RunFor(milliseconds(500));
  ASSERT_TRUE(c.MirrorsMatch());
  for (uint8_t m : {2, 3}) {
    const SessionStore& st = c.blade(m, 1).standby(1)->store();
    ASSERT_EQ(st.live(), 1u);
    const ExtensionList* x = st.extensions(st.Find(owner.owned().rec(id).key).value());
    ASSERT_TRUE(x && x->size() == 1);
    EXPECT_EQ(x->front(), newer);
    EXPECT_EQ(c.blade(m, 1).counters().extensions_newer.get(), 1u);
    EXPECT_EQ(Dropped(c.blade(m, 1), DropReason::kBadExtension), 0u);
  }
  // Chassis 2 takes over; its new stream to chassis 3 carries the extension.
  c.Kill(1, 1);
  ASSERT_EQ(c.blade(2, 1).Adopt(1), 1u);
  c.RunFor(seconds(2));
  const SessionStore& three = c.blade(3, 1).standby(2)->store();
  ASSERT_EQ(three.live(), 1u);
  const ExtensionList* x = three.extensions(three.Find(owner.owned().rec(id).key).value());
  ASSERT_TRUE(x && x->size() == 1);
  EXPECT_EQ(x->front(), newer);
}

// Conntrack state goes into a kernel, so a newer version must keep version
// 2's framing: this release takes the parts it knows and skips the rest.
TEST(WireVersions, ConntrackStateOfANewerVersionGivesWhatThisReleaseKnows) {
  ConntrackState s;
  s.status = 0x18e;
  s.timeout_s = 300;
  s.tcp_state = 3;
  s.extra.helper = "ftp";
  Extension e = EncodeConntrack(s);
  e.version = 3;
  for (uint8_t x : {0xf0, 3, 1, 2, 3}) e.data.push_back(x);  // a part of version 3's own
  EXPECT_TRUE(ExtensionValid(e));
  ASSERT_TRUE(DecodeConntrack(e).has_value());
  EXPECT_EQ(*DecodeConntrack(e), s);
  e.data.push_back(0xf1);  // cut: not framed as version 2 was
  EXPECT_FALSE(ExtensionValid(e));
}

}  // namespace
}  // namespace bladesync::testing
