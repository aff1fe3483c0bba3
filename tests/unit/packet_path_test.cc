// The packet path: strict TCP tracking, state changes synced, refreshes not.
#include <gtest/gtest.h>

#include "blades/packet_path.h"
#include "tests/support/sim_cluster.h"

namespace bladesync::testing {
namespace {

TEST(TcpStates, HandshakeDataCloseAndReset) {
  EXPECT_EQ(NextTcpState(kTcpSynSent, kTcpSyn | kTcpAck, true), kTcpSynRecv);
  EXPECT_EQ(NextTcpState(kTcpSynSent, kTcpSyn | kTcpAck, false), kTcpSynSent);  // wrong direction
  EXPECT_EQ(NextTcpState(kTcpSynRecv, kTcpAck, false), kTcpEstablished);
  EXPECT_EQ(NextTcpState(kTcpEstablished, kTcpAck | kTcpPsh, true), kTcpEstablished);
  EXPECT_EQ(NextTcpState(kTcpEstablished, kTcpFin | kTcpAck, false), kTcpFinWait);
  EXPECT_EQ(NextTcpState(kTcpFinWait, kTcpFin | kTcpAck, true), kTcpLastAck);
  EXPECT_EQ(NextTcpState(kTcpLastAck, kTcpAck, false), kTcpTimeWait);
  EXPECT_EQ(NextTcpState(kTcpEstablished, kTcpRst, true), kTcpClose);
}

TEST(PacketPath, CreatesOnSynOnlyAndSyncsStateChanges) {
  SimBlades c(2, 1, 11);
  BladeAgent& a = c.blade(1, 1);
  PacketPath path(a);
  const SessionKey k = SessionKey::V4(0x0a000001, 0xc6336401, 40000, 443, kProtoTcp);
  EXPECT_EQ(path.Process(PacketInfo{k, kTcpAck, 0, 1, 2}), PacketResult::kDropped);  // no SYN, no session
  EXPECT_EQ(path.Process(PacketInfo{k, kTcpSyn, 0, 1, 2}), PacketResult::kCreated);
  EXPECT_EQ(path.Process(PacketInfo{k.Reversed(), kTcpSyn | kTcpAck, 0, 2, 1}), PacketResult::kStateChanged);
  EXPECT_EQ(path.Process(PacketInfo{k, kTcpAck, 0, 1, 2}), PacketResult::kStateChanged);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(path.Process(PacketInfo{k, kTcpAck | kTcpPsh, 0, 1, 2}), PacketResult::kRefreshed);
  c.RunFor(milliseconds(100));
  const StandbyTable* m = c.blade(2, 1).standby(1);
  ASSERT_EQ(m->store().live(), 1u);
  auto id = m->store().Find(k);
  ASSERT_TRUE(id);
  EXPECT_EQ(m->store().rec(*id).proto_state, kTcpEstablished);
  EXPECT_EQ(m->store().rec(*id).timeout_s, a.TimeoutFor(kProtoTcp, kTcpEstablished));
  // Refreshes were not sent: one create, state changes coalesced before the flush.
  EXPECT_LE(a.counters().sent[static_cast<int>(SyncOp::kUpdate)][0].get(), 2u);
  EXPECT_EQ(a.counters().packets_dropped.get(), 1u);
}

TEST(PacketPath, UdpBecomesRepliedAndNatIsSynced) {
  SimBlades c(2, 1, 12);
  BladeAgent& a = c.blade(1, 1);
  PacketPath path(a);
  const SessionKey k = SessionKey::V4(0x0a000002, 0xc6336401, 5353, 53, kProtoUdp);
  path.Process(PacketInfo{k, 0, kFlagNat, 1, 2});
  path.Process(PacketInfo{k.Reversed(), 0, kFlagNat, 2, 1});
  c.RunFor(milliseconds(100));
  const StandbyTable* m = c.blade(2, 1).standby(1);
  auto id = m->store().Find(k);
  ASSERT_TRUE(id);
  EXPECT_EQ(m->store().rec(*id).proto_state, kReplied);
  ASSERT_NE(m->store().nat(*id), nullptr);
  EXPECT_EQ(*m->store().nat(*id), *a.owned().nat(*a.Lookup(k)));
  EXPECT_TRUE(c.MirrorsMatch());
}

}  // namespace
}  // namespace bladesync::testing

namespace bladesync::testing {
namespace {

// Active-active: chassis 2 receives packets of a session chassis 1 owns.
TEST(ActiveActive, NonOwnerUsesTheSyncedCopyOrForwardsToTheOwner) {
  SimBlades c(2, 1, 61, [](BladeConfig& b) { b.pickup.mode = HaMode::kActiveActive; });
  PacketPath owner(c.blade(1, 1)), other(c.blade(2, 1));
  // As the runtime does: packets that arrive as frames go to the packet path.
  c.blade(1, 1).set_packet_handler([&](const wire::PacketBatch& b, bool fwd) { owner.ProcessBatch(b, fwd); });
  const SessionKey k = SessionKey::V4(0x0a000001, 0xc6336401, 40000, 443, kProtoTcp);
  const SessionKey inspected = SessionKey::V4(0x0a000002, 0xc6336401, 40001, 443, kProtoTcp);
  for (const auto& [key, attrs] : {std::pair{k, uint16_t{0}}, std::pair{inspected, uint16_t{kFlagFlowInspected}}}) {
    owner.Process(PacketInfo{key, kTcpSyn, attrs, 1, 2});
    owner.Process(PacketInfo{key.Reversed(), kTcpSyn | kTcpAck, attrs, 2, 1});
    owner.Process(PacketInfo{key, kTcpAck, attrs, 1, 2});
  }
  c.RunFor(milliseconds(100));
  // The reply direction arrives at chassis 2 (asymmetric routing).
  EXPECT_EQ(other.Process(PacketInfo{k.Reversed(), kTcpAck | kTcpPsh, 0, 2, 1}), PacketResult::kHandledWithCopy);
  EXPECT_EQ(other.Process(PacketInfo{inspected.Reversed(), kTcpAck | kTcpPsh, kFlagFlowInspected, 2, 1}),
            PacketResult::kForwarded) << "inspected sessions go to the owner";
  EXPECT_EQ(other.Process(PacketInfo{k.Reversed(), kTcpFin | kTcpAck, 0, 2, 1}), PacketResult::kForwarded)
      << "a state change goes to the owner";
  c.RunFor(milliseconds(100));
  EXPECT_EQ(c.blade(2, 1).owned().live(), 0u) << "the non-owner created nothing";
  // The owner applied the FIN and synced the new state back.
  auto id = c.blade(1, 1).Lookup(k);
  ASSERT_TRUE(id);
  EXPECT_EQ(c.blade(1, 1).owned().rec(*id).proto_state, kTcpFinWait);
  auto mid = c.blade(2, 1).standby(1)->store().Find(k);
  ASSERT_TRUE(mid);
  EXPECT_EQ(c.blade(2, 1).standby(1)->store().rec(*mid).proto_state, kTcpFinWait);
  EXPECT_EQ(c.blade(2, 1).counters().packets_forwarded.get(), 2u);
  EXPECT_EQ(c.blade(2, 1).counters().packets_asymmetric_local.get(), 1u);
  EXPECT_TRUE(c.MirrorsMatch());
}

}  // namespace
}  // namespace bladesync::testing
