// A dead blade black-holes nothing (issue 20): the manager sends new flows
// of its slot to live slots, a packet that finds no session where it went is
// handed back and tried on the next slot of its flow, and a returning blade
// takes new flows again while the flows made elsewhere meanwhile go on
// where they are. Real packet paths on every blade, on the simulator.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <vector>

#include "blades/packet_path.h"
#include "tests/support/sim_chassis_cluster.h"

namespace bladesync::testing {
namespace {

// Active-active: every chassis takes traffic.
SimClusterOptions ActiveActive() {
  SimClusterOptions o;
  o.blade = [](BladeConfig& b) { b.pickup.mode = HaMode::kActiveActive; };
  o.manager = [](ManagerConfig& m) { m.mode = HaMode::kActiveActive; };
  return o;
}

class DeadBlade : public ::testing::Test {
 protected:
  // chassis of four slots; in active-active packets enter chassis 1.
  explicit DeadBlade(int chassis = 1, bool active_active = false)
      : chassis_(chassis), active_active_(active_active), c_(chassis, 4, 71, active_active ? ActiveActive() : SimClusterOptions{}) {}
  void SetUp() override {
    c_.RunFor(seconds(2));
    for (int ch = 1; ch <= chassis_; ++ch) Wire(static_cast<uint8_t>(ch));
    ASSERT_EQ(c_.TrafficChassis().size(), active_active_ ? static_cast<size_t>(chassis_) : 1u);
    t_ = c_.TrafficChassis()[0];
    if (active_active_) t_ = to_ = 1;
  }
  // As the runtime does: every blade's packets go through a packet path.
  void Wire(uint8_t ch) {
    for (uint8_t s = 1; s <= 4; ++s) {
      BladeAgent* b = c_.blade(ch, s);
      if (!b) continue;
      auto& p = paths_[{ch, s}];
      p = std::make_unique<PacketPath>(*b);
      PacketPath* path = p.get();
      b->set_packet_handler([path](const wire::PacketBatch& pb, bool fwd) { path->ProcessBatch(pb, fwd); });
    }
  }
  static SessionKey Flow(uint32_t i) {
    return SessionKey::V4(0x0a000000 + i, 0xc6336401, static_cast<uint16_t>(20000 + i), 443, kProtoTcp);
  }
  void Send(const SessionKey& k, uint8_t flags, bool reply = false) {
    c_.manager(to_ ? to_ : t_)->Ingress(PacketInfo{reply ? k.Reversed() : k, flags, 0, uint8_t(reply ? 2 : 1), uint8_t(reply ? 1 : 2)});
  }
  // SYN, SYN-ACK, ACK for flows [from, to).
  void Open(uint32_t from, uint32_t to) {
    for (uint32_t i = from; i < to; ++i) Send(Flow(i), kTcpSyn);
    c_.RunFor(milliseconds(5));
    for (uint32_t i = from; i < to; ++i) Send(Flow(i), kTcpSyn | kTcpAck, true);
    c_.RunFor(milliseconds(5));
    for (uint32_t i = from; i < to; ++i) Send(Flow(i), kTcpAck);
    c_.RunFor(milliseconds(5));
  }
  void Data(uint32_t from, uint32_t to) {
    for (uint32_t i = from; i < to; ++i) Send(Flow(i), kTcpAck | kTcpPsh);
    c_.RunFor(milliseconds(5));
  }
  // The slot whose blade holds flow i as owner, or 0.
  uint8_t Holder(uint32_t i) {
    for (uint8_t s = 1; s <= 4; ++s) {
      if (c_.blade(t_, s) && c_.blade(t_, s)->owned().Find(Flow(i))) return s;
    }
    return 0;
  }
  uint64_t Sum(uint8_t ch, uint64_t (*f)(const BladeCounters&)) {
    uint64_t n = 0;
    for (uint8_t s = 1; s <= 4; ++s) {
      if (c_.blade(ch, s)) n += f(c_.blade(ch, s)->counters());
    }
    return n;
  }
  static uint64_t Dropped(const BladeCounters& b) { return b.packets_dropped.get(); }
  static uint64_t Returned(const BladeCounters& b) { return b.packets_returned.get(); }
  Distributor distributor_{DistributionOptions{}, 4};
  const int chassis_;
  const bool active_active_;
  SimChassisCluster c_;
  std::map<std::pair<uint8_t, uint8_t>, std::unique_ptr<PacketPath>> paths_;
  uint8_t t_ = 0;
  uint8_t to_ = 0;  // where packets enter (0: the traffic chassis)
};

// A standalone chassis loses blade 3 (kill -9, no mirror anywhere): its
// sessions are gone, but its slot's new flows open on live slots; blade 3
// returns, takes new flows again, and the flows opened elsewhere meanwhile
// go on where they are (handed back once, then found).
TEST_F(DeadBlade, NewFlowsOfADeadSlotGoToLiveSlotsAndStayThereWhenItReturns) {
  constexpr uint32_t kN = 400;
  Open(0, kN);
  uint32_t home3 = 0;
  for (uint32_t i = 0; i < kN; ++i) {
    ASSERT_EQ(Holder(i), distributor_.Classify(Flow(i)).slot) << i;
    home3 += Holder(i) == 3;
  }
  ASSERT_GT(home3, 50u);
  ChassisManager& m = *c_.manager(t_);
  ASSERT_EQ(m.ingress_rerouted(), 0u);

  c_.KillBlade(t_, 3);
  c_.RunFor(seconds(1));  // five missed reports: marked dead
  ASSERT_FALSE(m.blades()[2].live);
  // The old flows of slot 3 died with it (nothing mirrored them): their
  // packets are tried on every live slot of their flow, then counted.
  Data(0, kN);
  EXPECT_EQ(m.ingress_no_session(), home3);
  EXPECT_EQ(Sum(t_, Dropped), 0u);
  // New flows: every one opens, slot 3's on the others.
  Open(kN, 2 * kN);
  uint32_t moved = 0;
  for (uint32_t i = kN; i < 2 * kN; ++i) {
    const uint8_t home = distributor_.Classify(Flow(i)).slot;
    const uint8_t at = Holder(i);
    ASSERT_NE(at, 0) << "flow " << i << " found no slot";
    if (home == 3) {
      ++moved;
    } else {
      EXPECT_EQ(at, home) << "flow " << i << " moved though its slot is up";
    }
  }
  EXPECT_GT(moved, 50u);
  EXPECT_EQ(m.ingress_no_live_slot(), 0u);
  EXPECT_GE(m.ingress_rerouted(), 3 * moved);  // three packets each
  const uint64_t no_session_before = m.ingress_no_session();

  // Blade 3 returns (a new epoch). The flows it took meanwhile live on the
  // other slots: their packets come home, miss, and go on to them.
  c_.RestartBlade(t_, 3, 99);
  Wire(t_);
  c_.RunFor(seconds(1));
  ASSERT_TRUE(m.blades()[2].live);
  Data(kN, 2 * kN);
  Data(kN, 2 * kN);
  EXPECT_EQ(m.ingress_no_session(), no_session_before) << "a flow opened while slot 3 was down was lost";
  EXPECT_EQ(Sum(t_, Dropped), 0u);
  EXPECT_EQ(c_.blade(t_, 3)->counters().packets_returned.get(), 2 * moved);
  for (uint32_t i = kN; i < 2 * kN; ++i) EXPECT_NE(Holder(i), 3) << "flow " << i << " opened twice";
  // And it takes its own new flows again.
  Open(2 * kN, 3 * kN);
  for (uint32_t i = 2 * kN; i < 3 * kN; ++i) EXPECT_EQ(Holder(i), distributor_.Classify(Flow(i)).slot) << i;
  EXPECT_EQ(Sum(t_, Dropped), 0u);
}

// While every slot is up and none was down, nothing is handed back: a stray
// packet is dropped where it lands, as before.
TEST_F(DeadBlade, NothingIsHandedBackWhileEverySlotIsUp) {
  Data(0, 100);  // no session anywhere
  EXPECT_EQ(Sum(t_, Returned), 0u);
  EXPECT_EQ(Sum(t_, Dropped), 100u);
  EXPECT_EQ(c_.manager(t_)->ingress_no_session(), 0u);
}

// Every blade dead: each packet is dropped at the manager, said and counted.
TEST_F(DeadBlade, NoLiveSlotIsCounted) {
  for (uint8_t s = 1; s <= 4; ++s) c_.KillBlade(t_, s);
  c_.RunFor(seconds(1));
  Open(0, 10);
  EXPECT_EQ(c_.manager(t_)->ingress_no_live_slot(), 30u) << c_.manager(t_)->ingress_dropped() << " " << c_.manager(t_)->processes_traffic();
  for (uint32_t i = 0; i < 10; ++i) EXPECT_EQ(Holder(i), 0);
}

// Two chassis with the same slot dead on both: neither has more live blades,
// so the role stays, and the primary's new flows of that slot open on its
// live slots.
class SameSlotDeadOnBoth : public DeadBlade {
 protected:
  SameSlotDeadOnBoth() : DeadBlade(2) {}
};

TEST_F(SameSlotDeadOnBoth, TheRoleStaysAndNewFlowsOpenOnLiveSlots) {
  c_.KillBlade(1, 2);
  c_.KillBlade(2, 2);
  c_.RunFor(seconds(2));
  ASSERT_EQ(c_.TrafficChassis(), std::vector<uint8_t>{t_});
  Open(0, 400);
  for (uint32_t i = 0; i < 400; ++i) {
    const uint8_t at = Holder(i);
    ASSERT_NE(at, 0) << i;
    ASSERT_NE(at, 2) << i;
  }
  EXPECT_EQ(c_.manager(t_)->ingress_no_live_slot(), 0u);
  EXPECT_EQ(Sum(t_, Dropped), 0u);
  c_.RunFor(milliseconds(500));
  std::string why;
  EXPECT_TRUE(c_.MirrorsMatch(&why)) << why;
}

// Active-active: blade 3 of chassis 1 dies with its flows established:
// blade 3 of chassis 2, its mirror, takes its sessions over, and chassis 1
// hands their packets to chassis 2 over M1/M2; no acknowledged session is
// lost and no packet dropped. Blade 3 returns and the flows go on through
// its copy.
class DeadBladeActiveActive : public DeadBlade {
 protected:
  DeadBladeActiveActive() : DeadBlade(2, true) {}
  // Data on flows [from, to) through chassis 1: none dropped, none without a
  // session; then every mirror equals its owner.
  void ExpectFlowsGoOn(uint32_t from, uint32_t to) {
    Data(from, to);
    c_.RunFor(milliseconds(20));
    EXPECT_EQ(Sum(1, Dropped) + Sum(2, Dropped), 0u);
    EXPECT_EQ(c_.manager(1)->ingress_no_session() + c_.manager(2)->ingress_no_session(), 0u);
    std::string why;
    c_.RunFor(milliseconds(500));
    EXPECT_TRUE(c_.MirrorsMatch(&why)) << why;
  }
};

TEST_F(DeadBladeActiveActive, ItsMirrorTakesOverAndThePacketsFollowOverTheFabric) {
  constexpr uint32_t kN = 400;
  Open(0, kN);
  c_.RunFor(milliseconds(300));  // synced and acknowledged
  std::vector<uint32_t> on3;
  for (uint32_t i = 0; i < kN; ++i) {
    if (Holder(i) == 3) on3.push_back(i);
  }
  ASSERT_GT(on3.size(), 50u);
  ASSERT_EQ(c_.blade(2, 3)->standby(1)->store().live(), on3.size());
  c_.KillBlade(1, 3);
  // The moment chassis 1 marks it dead, its flows' packets go on: the
  // heartbeat saying so leaves in the same tick, ahead of them.
  for (int ms = 0; ms < 2000 && c_.manager(1)->blades()[2].live; ++ms) c_.RunFor(milliseconds(1));
  ASSERT_FALSE(c_.manager(1)->blades()[2].live);
  Data(0, kN);
  c_.RunFor(milliseconds(20));
  EXPECT_EQ(c_.manager(1)->ingress_no_session(), 0u) << "packets lost between the death and the takeover";
  EXPECT_EQ(Sum(1, Dropped) + Sum(2, Dropped), 0u);
  c_.RunFor(seconds(1));
  EXPECT_EQ(c_.manager(2)->blade_takeovers(), 1u);
  EXPECT_EQ(c_.blade(2, 3)->counters().adopted_sessions.get(), on3.size());
  for (uint32_t i : on3) EXPECT_TRUE(c_.blade(2, 3)->owned().Find(Flow(i))) << i;
  // Every flow's data still enters chassis 1.
  Data(0, kN);
  c_.RunFor(milliseconds(20));
  EXPECT_EQ(c_.manager(1)->ingress_no_session(), 0u);
  EXPECT_EQ(c_.manager(1)->ingress_to_peer(), 2 * on3.size());
  EXPECT_EQ(c_.manager(2)->ingress_from_peer(), 2 * on3.size());
  EXPECT_EQ(c_.manager(2)->ingress_no_session(), 0u);
  EXPECT_EQ(Sum(1, Dropped) + Sum(2, Dropped), 0u);
  // New flows of slot 3 open on chassis 1's live slots.
  Open(kN, 2 * kN);
  for (uint32_t i = kN; i < 2 * kN; ++i) EXPECT_NE(Holder(i), 0) << i;
  EXPECT_EQ(Sum(1, Dropped) + Sum(2, Dropped), 0u);
  // Blade 3 of chassis 1 returns: it mirrors chassis 2's blade 3 again, and
  // the taken-over flows that enter chassis 1 go on through that copy.
  c_.RestartBlade(1, 3, 77);
  Wire(1);
  c_.RunFor(seconds(2));
  ASSERT_TRUE(c_.manager(1)->blades()[2].live);
  EXPECT_EQ(c_.blade(1, 3)->standby(2)->store().live(), c_.blade(2, 3)->owned().live());
  ExpectFlowsGoOn(0, 2 * kN);
}

// Three chassis: both peers mirror the dead blade, one takes it over (the
// primary when it can, else the lowest-numbered), the same in every view,
// and the packets go to that one.
class DeadBladeThreeChassis : public DeadBlade {
 protected:
  DeadBladeThreeChassis() : DeadBlade(3, true) {}
};

TEST_F(DeadBladeThreeChassis, OnePeerTakesOverAndGetsThePackets) {
  for (uint8_t lost : {1, 2}) {  // the primary's blade, then another's
    t_ = to_ = lost;
    const uint32_t base = 1000 * lost;
    Open(base, base + 300);
    c_.RunFor(milliseconds(300));
    uint32_t on3 = 0;
    for (uint32_t i = base; i < base + 300; ++i) on3 += Holder(i) == 3;
    ASSERT_GT(on3, 30u);
    uint64_t before[4] = {0, c_.manager(1)->blade_takeovers(), c_.manager(2)->blade_takeovers(), c_.manager(3)->blade_takeovers()};
    c_.KillBlade(lost, 3);
    c_.RunFor(seconds(1));
    std::vector<uint8_t> heirs;
    for (uint8_t ch : {1, 2, 3}) {
      if (c_.manager(ch)->blade_takeovers() > before[ch]) heirs.push_back(ch);
    }
    ASSERT_EQ(heirs.size(), 1u) << "chassis " << int(lost) << "'s blade 3 was taken over by " << heirs.size();
    const uint8_t heir = heirs[0];
    EXPECT_NE(heir, lost);
    const uint8_t primary = c_.manager(1)->primary();
    if (primary != lost) EXPECT_EQ(heir, primary);
    EXPECT_EQ(c_.blade(heir, 3)->counters().adopted_sessions.get() >= on3, true);
    const uint64_t to_before = c_.manager(lost)->ingress_to_peer();
    Data(base, base + 300);
    c_.RunFor(milliseconds(20));
    EXPECT_EQ(c_.manager(lost)->ingress_to_peer() - to_before, on3);
    for (uint8_t ch : {1, 2, 3}) {
      EXPECT_EQ(c_.manager(ch)->ingress_no_session(), 0u) << int(ch);
      EXPECT_EQ(Sum(ch, Dropped), 0u) << int(ch);
    }
    c_.RestartBlade(lost, 3, 500 + lost);
    Wire(lost);
    c_.RunFor(seconds(2));
  }
}

// What a peer may hand over: packets of existing TCP sessions. A SYN (or
// UDP) from a peer's manager would open a session here it had no reason to
// send: refused and counted; and in active-passive no packet comes on M1/M2.
TEST_F(DeadBladeActiveActive, APeerCannotOpenSessionsHere) {
  flatbuffers::FlatBufferBuilder fbb;
  const wire::Packet4 syn = ToWire4(PacketInfo{Flow(1), kTcpSyn, 0, 1, 2});
  const wire::Packet4 udp = ToWire4(PacketInfo{SessionKey::V4(1, 2, 3, 53, kProtoUdp), 0, 0, 1, 2});
  const wire::Packet4 ack = ToWire4(PacketInfo{Flow(2), kTcpAck, 0, 1, 2});
  const wire::Origin peer(1, c_.manager(2)->config().epoch, 2, 0);
  auto hand_over = [&](std::vector<wire::Packet4> v) {
    std::span<const uint8_t> f = BuildPacketBatch(fbb, peer, v, {});
    c_.net().Inject(NodeId{2, 0}, NodeId{1, 0}, Link::kM1, {f.begin(), f.end()}, 2);
    c_.RunFor(milliseconds(5));
  };
  // None of chassis 2's blades died: it has nothing to hand over.
  hand_over({ack});
  EXPECT_EQ(c_.manager(1)->dropped(DropReason::kImplausible), 1u);
  EXPECT_EQ(c_.manager(1)->ingress_from_peer(), 0u);
  // Chassis 1 took over chassis 2's blade 3: still nothing that would open a session.
  c_.KillBlade(2, 3);
  c_.RunFor(seconds(1));
  ASSERT_EQ(c_.manager(1)->blade_takeovers(), 1u);
  hand_over({syn, udp});
  EXPECT_EQ(c_.manager(1)->dropped(DropReason::kImplausible), 3u);
  EXPECT_EQ(c_.manager(1)->ingress_from_peer(), 0u);
  for (uint8_t s = 1; s <= 4; ++s) EXPECT_EQ(c_.blade(1, s)->owned().live(), 0u);
}

// A heartbeat naming our blade as taken over, when this manager never saw it
// dead (forged, or a confused peer), makes it give nothing up.
TEST_F(DeadBladeActiveActive, NoBladeGivesUpWhatNobodyTookOver) {
  Open(0, 200);
  c_.RunFor(milliseconds(300));
  const size_t owned = c_.blade(1, 3)->owned().live();
  ASSERT_GT(owned, 20u);
  const PeerView& seen = c_.manager(1)->peers().at(2);
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<wire::TakenOverBlade> took{wire::TakenOverBlade(1, 3, c_.manager(1)->blades()[2].epoch, 7)};
  auto v = fbb.CreateVectorOfStructs(took);
  std::vector<uint8_t> live{1, 2, 3, 4};
  auto slots = fbb.CreateVector(live);
  wire::Origin from(1, c_.manager(2)->config().epoch, 2, 0);
  wire::HeartbeatBuilder b(fbb);
  b.add_from(&from);
  b.add_role(static_cast<wire::Role>(c_.manager(2)->role()));
  b.add_ready(true);
  b.add_live_blades(4);
  b.add_priority(c_.manager(2)->config().priority);
  b.add_seq(seen.hb_seq + 1);
  b.add_live_slots(slots);
  b.add_adopted_blades(v);
  fbb.Finish(wire::CreateFrame(fbb, wire::Message::Heartbeat, b.Finish().Union()), wire::FrameIdentifier());
  c_.net().Inject(NodeId{2, 0}, NodeId{1, 0}, Link::kM1, {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()}, 2);
  c_.RunFor(seconds(2));
  EXPECT_EQ(c_.blade(1, 3)->owned().live(), owned);
  EXPECT_EQ(c_.blade(1, 3)->counters().relinquished_sessions.get(), 0u);
}

// A blade that was only silent (a stall, a backplane blip) and comes back
// with its table: its mirror took its sessions over meanwhile, so it gives
// them up, and every session has one owner again; the flows go on.
TEST_F(DeadBladeActiveActive, ABladeBackFromSilenceGivesUpWhatItsMirrorTookOver) {
  Open(0, 300);
  c_.RunFor(milliseconds(300));
  std::vector<uint32_t> on3;
  for (uint32_t i = 0; i < 300; ++i) {
    if (Holder(i) == 3) on3.push_back(i);
  }
  ASSERT_GT(on3.size(), 30u);
  c_.net().SetDown(NodeId{1, 3}, true);
  c_.RunFor(milliseconds(1500));  // marked dead; chassis 2 takes its sessions over
  ASSERT_EQ(c_.manager(2)->blade_takeovers(), 1u);
  c_.net().SetDown(NodeId{1, 3}, false);
  c_.RunFor(seconds(3));  // back, told to give up, then mirrors chassis 2's blade 3
  ASSERT_TRUE(c_.manager(1)->blades()[2].live);
  for (uint32_t i : on3) {
    EXPECT_FALSE(c_.blade(1, 3)->owned().Find(Flow(i))) << "flow " << i << " still owned by the returned blade";
    EXPECT_TRUE(c_.blade(2, 3)->owned().Find(Flow(i))) << i;
  }
  ExpectFlowsGoOn(0, 300);
}

TEST_F(SameSlotDeadOnBoth, NoPacketsComeOnTheFabricInActivePassive) {
  flatbuffers::FlatBufferBuilder fbb;
  const wire::Packet4 ack = ToWire4(PacketInfo{Flow(1), kTcpAck, 0, 1, 2});
  const uint8_t other = t_ == 1 ? 2 : 1;
  std::span<const uint8_t> f = BuildPacketBatch(fbb, wire::Origin(1, c_.manager(other)->config().epoch, other, 0),
                                                std::vector<wire::Packet4>{ack}, {});
  c_.net().Inject(NodeId{other, 0}, NodeId{t_, 0}, Link::kM1, {f.begin(), f.end()}, other);
  c_.RunFor(milliseconds(5));
  EXPECT_EQ(c_.manager(t_)->dropped(DropReason::kWrongLink), 1u);
  EXPECT_EQ(c_.manager(t_)->ingress_from_peer(), 0u);
}

}  // namespace
}  // namespace bladesync::testing
