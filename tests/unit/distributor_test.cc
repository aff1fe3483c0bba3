// Distributor: every method is symmetric, flow rules apply in priority order
// to both directions, and the same flow maps to the same slot everywhere.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <random>
#include <set>

#include "manager/distributor.h"

namespace bladesync {
namespace {

SessionKey RandomKey() {
  SessionKey k;
  const bool v6 = *rc::gen::arbitrary<bool>();
  if (v6) {
    k.src = IpAddr::V6(*rc::gen::arbitrary<uint64_t>(), *rc::gen::arbitrary<uint64_t>());
    k.dst = IpAddr::V6(*rc::gen::arbitrary<uint64_t>(), *rc::gen::arbitrary<uint64_t>());
  } else {
    k.src = IpAddr::V4(*rc::gen::arbitrary<uint32_t>());
    k.dst = IpAddr::V4(*rc::gen::arbitrary<uint32_t>());
  }
  k.sport = *rc::gen::arbitrary<uint16_t>();
  k.dport = *rc::gen::arbitrary<uint16_t>();
  k.proto = *rc::gen::element(kProtoTcp, kProtoUdp, kProtoIcmp, kProtoSctp);
  return k;
}

RC_GTEST_PROP(Distributor, EveryMethodIsSymmetric, ()) {
  const auto method = *rc::gen::element(DistributionMethod::kToMaster, DistributionMethod::kSrcIp,
                                        DistributionMethod::kDstIp, DistributionMethod::kSrcDstIp,
                                        DistributionMethod::kSrcIpSport, DistributionMethod::kDstIpDport,
                                        DistributionMethod::kSrcDstIpSportDport);
  const int slots = *rc::gen::inRange(1, 17);
  DistributionOptions o;
  o.method = method;
  Distributor d(o, slots);
  const SessionKey k = RandomKey();
  const Verdict a = d.Classify(k, 1, 2);
  const Verdict b = d.Classify(k.Reversed(), 2, 1);
  RC_ASSERT(a.slot == b.slot);
  RC_ASSERT(a.slot >= 1 && a.slot <= slots);
  // No per-chassis state: another distributor with the same options agrees.
  Distributor other(o, slots);
  RC_ASSERT(other.Classify(k, 1, 2).slot == a.slot);
}

// A slot whose blade is down (issue 20): its flows go to live slots, the
// same for both directions and on every chassis; every other flow stays
// where it was; and a packet handed back by the slot it went to reaches, by
// `after`, the slot its flow took while its home was down.
RC_GTEST_PROP(Distributor, ADownSlotMovesOnlyItsOwnFlows, ()) {
  const int slots = *rc::gen::inRange(2, 17);
  DistributionOptions o;
  o.method = *rc::gen::element(DistributionMethod::kToMaster, DistributionMethod::kSrcIp,
                               DistributionMethod::kSrcDstIpSportDport);
  o.master_slot = static_cast<uint8_t>(*rc::gen::inRange(1, slots + 1));
  Distributor d(o, slots);
  const SlotMask all = (SlotMask{1} << slots) - 1;
  SlotMask live = all;
  for (int i = *rc::gen::inRange(1, slots); i > 0; --i) live &= ~SlotBit(static_cast<uint8_t>(*rc::gen::inRange(1, slots + 1)));
  RC_PRE(live != 0);
  const SessionKey k = RandomKey();
  const Verdict up = d.Classify(k, 1, 2, all);
  const Verdict v = d.Classify(k, 1, 2, live);
  RC_ASSERT(v.home == up.slot);
  RC_ASSERT(v.slot >= 1 && v.slot <= slots && (live & SlotBit(v.slot)));
  if (live & SlotBit(up.slot)) RC_ASSERT(v.slot == up.slot);  // its home is up: it stays
  RC_ASSERT(d.Classify(k.Reversed(), 2, 1, live).slot == v.slot);
  RC_ASSERT(Distributor(o, slots).Classify(k, 1, 2, live).slot == v.slot);
  // Its home is back: the packet goes home, misses there and is handed back
  // on down the ranking until the slot it took meanwhile (every live slot
  // now), each slot once.
  uint8_t at = up.slot;
  std::set<uint8_t> seen{at};
  while (at != v.slot) {
    at = d.Classify(k, 1, 2, all, at).slot;
    RC_ASSERT(at != 0);
    RC_ASSERT(seen.insert(at).second);  // each slot once: the walk ends
  }
  // Past the last slot of the ranking there is none: every slot is visited
  // once from home, then the walk says 0.
  for (int hops = 0; at; ++hops) {
    RC_ASSERT(hops < slots);
    at = d.Classify(k, 1, 2, all, at).slot;
    if (at) RC_ASSERT(seen.insert(at).second);
  }
  RC_ASSERT(seen.size() == static_cast<size_t>(slots));
}

// One slot down of four: a quarter of the flows move, spread evenly over the
// other three; nothing else moves.
TEST(Distributor, ADownSlotsShareIsSpreadOverTheRest) {
  Distributor d(DistributionOptions{}, 4);
  const SlotMask without3 = 0xf & ~SlotBit(3);
  std::map<uint8_t, int> moved_to;
  int moved = 0;
  for (uint32_t i = 0; i < 40000; ++i) {
    const SessionKey k = SessionKey::V4(0x0a000000 + i, 0xc6336401, static_cast<uint16_t>(1024 + i % 60000), 443, kProtoTcp);
    const uint8_t before = d.Classify(k).slot, after = d.Classify(k, 0, 0, without3).slot;
    if (before != 3) {
      EXPECT_EQ(after, before);
    } else {
      ++moved;
      ++moved_to[after];
    }
  }
  EXPECT_NEAR(moved, 10000, 600);
  for (uint8_t s : {1, 2, 4}) EXPECT_NEAR(moved_to[s], moved / 3, moved / 10) << "slot " << int(s);
  EXPECT_EQ(moved_to.count(3), 0u);
}

// No live slot at all, or a flow rule's slot down: the rule's flows go to
// the rest by their ranking; with none live the verdict says so (slot 0).
TEST(Distributor, ARuleForADownSlotFallsBackAndNoLiveSlotIsSaid) {
  DistributionOptions o;
  FlowRule r;
  r.id = 7;
  r.protocol = kProtoUdp;
  r.target = FlowRule::Target::kSlot;
  r.slot = 2;
  o.flow_rules.push_back(r);
  Distributor d(o, 3);
  const SessionKey k = SessionKey::V4(1, 2, 3, 4, kProtoUdp);
  EXPECT_EQ(d.Classify(k).slot, 2);
  const Verdict v = d.Classify(k, 0, 0, SlotBit(1) | SlotBit(3));
  EXPECT_EQ(v.home, 2);
  EXPECT_EQ(v.rule, 7);
  EXPECT_TRUE(v.slot == 1 || v.slot == 3);
  EXPECT_EQ(d.Classify(k, 0, 0, 0).slot, 0);
}

TEST(Distributor, MethodsUseTheirFields) {
  DistributionOptions o;
  o.method = DistributionMethod::kSrcIp;
  Distributor d(o, 16);
  // Same client address, other ports and server: same slot under src-ip.
  SessionKey a = SessionKey::V4(0x0a000001, 0xc6336401, 40000, 443, kProtoTcp);
  SessionKey b = SessionKey::V4(0x0a000001, 0xc6336499, 50000, 80, kProtoTcp);
  EXPECT_EQ(d.Classify(a).slot, d.Classify(b).slot);
  o.method = DistributionMethod::kToMaster;
  o.master_slot = 3;
  EXPECT_EQ(Distributor(o, 16).Classify(a).slot, 3);
}

// Every method: a field it does not use never moves a flow; each field it
// uses moves most flows (16 slots: about 15 in 16 would move by chance).
// Fields are the flow's ends as the distributor orients them (the client is
// the end with the higher port): keys here keep sport > dport, so src is the
// client and dst the server.
TEST(Distributor, EveryMethodUsesExactlyItsFields) {
  enum Field { kSrc, kDst, kSport, kDport };
  const std::vector<std::pair<DistributionMethod, std::set<Field>>> methods = {
      {DistributionMethod::kToMaster, {}},
      {DistributionMethod::kSrcIp, {kSrc}},
      {DistributionMethod::kDstIp, {kDst}},
      {DistributionMethod::kSrcDstIp, {kSrc, kDst}},
      {DistributionMethod::kSrcIpSport, {kSrc, kSport}},
      {DistributionMethod::kDstIpDport, {kDst, kDport}},
      {DistributionMethod::kSrcDstIpSportDport, {kSrc, kDst, kSport, kDport}},
  };
  std::mt19937_64 rng(20261202);
  auto change = [&](SessionKey k, Field f) {
    switch (f) {
      case kSrc: k.src = IpAddr::V4(static_cast<uint32_t>(rng())); break;
      case kDst: k.dst = IpAddr::V4(static_cast<uint32_t>(rng())); break;
      case kSport: k.sport = static_cast<uint16_t>(1024 + rng() % 64512); break;
      case kDport: k.dport = static_cast<uint16_t>(1 + rng() % 1023); break;
    }
    return k;
  };
  for (const auto& [method, used] : methods) {
    DistributionOptions o;
    o.method = method;
    o.master_slot = 5;
    Distributor d(o, 16);
    for (Field f : {kSrc, kDst, kSport, kDport}) {
      int moved = 0;
      for (int i = 0; i < 400; ++i) {
        const SessionKey k = SessionKey::V4(static_cast<uint32_t>(rng()), static_cast<uint32_t>(rng()),
                                            static_cast<uint16_t>(1024 + rng() % 64512),
                                            static_cast<uint16_t>(1 + rng() % 1023), kProtoTcp);
        const SessionKey k2 = change(k, f);
        if (k2 == k) continue;
        const bool differs = d.Classify(k).slot != d.Classify(k2).slot;
        if (!used.count(f)) ASSERT_FALSE(differs) << DistributionMethodName(method) << " moved a flow on field " << f;
        moved += differs;
      }
      if (used.count(f)) EXPECT_GT(moved, 300) << DistributionMethodName(method) << " ignores field " << f;
    }
    if (method == DistributionMethod::kToMaster) {
      EXPECT_EQ(d.Classify(SessionKey::V4(1, 2, 3, 4, kProtoTcp)).slot, 5);
    }
  }
}

TEST(Distributor, SpreadsFlowsAcrossSlots) {
  Distributor d(DistributionOptions{}, 4);
  std::vector<int> count(5, 0);
  for (uint32_t i = 0; i < 40000; ++i) {
    ++count[d.Classify(SessionKey::V4(0x0a000000 + i, 0xc6336401, static_cast<uint16_t>(1024 + i % 60000), 443, kProtoTcp)).slot];
  }
  for (int s = 1; s <= 4; ++s) EXPECT_NEAR(count[s], 10000, 600) << "slot " << s;
}

TEST(Distributor, IcmpMethodOverridesUnlessDerived) {
  DistributionOptions o;
  o.icmp_method = DistributionMethod::kToMaster;
  o.master_slot = 2;
  Distributor d(o, 8);
  EXPECT_EQ(d.Classify(SessionKey::V4(1, 2, 7, 0, kProtoIcmp)).slot, 2);
  o.icmp_method = DistributionMethod::kDerived;
  Distributor e(o, 8);
  EXPECT_EQ(e.Classify(SessionKey::V4(1, 2, 7, 0, kProtoIcmp)).slot,
            e.HashSlot(SessionKey::V4(1, 2, 7, 0, kProtoIcmp), o.method));
}

TEST(Distributor, FlowRulesByPriorityAndForBothDirections) {
  DistributionOptions o;
  FlowRule drop;
  drop.id = 1;
  drop.priority = 5;
  drop.protocol = kProtoUdp;
  drop.dst_port = PortRange{161, 161};
  drop.action = FlowRule::Action::kDrop;
  FlowRule pin;
  pin.id = 2;
  pin.priority = 1;  // wins over rule 1
  pin.src_addr = AddrPrefix{IpAddr::V4(0x0a010000), 96 + 16};
  pin.target = FlowRule::Target::kSlot;
  pin.slot = 4;
  FlowRule master;
  master.id = 3;
  master.priority = 3;
  master.src_interface = {7};
  master.target = FlowRule::Target::kMaster;
  o.flow_rules = {drop, pin, master};
  o.master_slot = 1;
  Distributor d(o, 4);
  const SessionKey snmp = SessionKey::V4(0x0a020001, 0xc6336401, 5000, 161, kProtoUdp);
  EXPECT_EQ(d.Classify(snmp).action, Verdict::kDrop);
  EXPECT_EQ(d.Classify(snmp.Reversed()).action, Verdict::kDrop);  // the reply too
  const SessionKey pinned = SessionKey::V4(0x0a010005, 0xc6336401, 5000, 161, kProtoUdp);
  EXPECT_EQ(d.Classify(pinned).slot, 4);       // rule 2 (priority 1) before rule 1
  EXPECT_EQ(d.Classify(pinned.Reversed()).slot, 4);
  const SessionKey from7 = SessionKey::V4(0x0b000001, 0xc6336401, 5000, 443, kProtoTcp);
  EXPECT_EQ(d.Classify(from7, 7, 2).slot, 1);
  EXPECT_EQ(d.Classify(from7.Reversed(), 2, 7).slot, 1);  // reply arrives on port2, leaves on 7
}

}  // namespace
}  // namespace bladesync

namespace bladesync {
namespace {

// blade-workers: a flow's worker slot is a worker of the blade one worker
// would give it (the same blade for every worker count), the same for both
// directions and on every chassis; a blade's flows are shared out among
// its workers; a flow rule's slot and the master slot keep their flows on
// their blade.
RC_GTEST_PROP(DistributorWorkers, AWorkerOfTheFlowsBladeForBothDirections, ()) {
  const int slots = *rc::gen::inRange(1, 5);
  const int workers = *rc::gen::inRange(1, 17);
  DistributionOptions o;
  o.method = *rc::gen::element(DistributionMethod::kToMaster, DistributionMethod::kSrcIp,
                               DistributionMethod::kSrcDstIpSportDport);
  o.master_slot = static_cast<uint8_t>(*rc::gen::inRange(1, slots + 1));
  const Distributor one(o, slots), d(o, slots, workers);
  const WorkerSlots ws{workers};
  const SessionKey k = RandomKey();
  const Verdict v = d.Classify(k, 1, 2);
  RC_ASSERT(v.slot >= 1 && v.slot <= slots * workers);
  RC_ASSERT(ws.BladeOf(v.slot) == one.Classify(k, 1, 2).slot);
  RC_ASSERT(d.Classify(k.Reversed(), 2, 1).slot == v.slot);
  RC_ASSERT(Distributor(o, slots, workers).Classify(k, 1, 2).slot == v.slot);
}

TEST(DistributorWorkers, ABladesFlowsAreSharedOutAmongItsWorkers) {
  DistributionOptions o;
  FlowRule r;
  r.id = 1;
  r.dst_port = PortRange{8080, 8080};
  r.target = FlowRule::Target::kSlot;
  r.slot = 3;
  o.flow_rules.push_back(r);
  const int workers = 4;
  const Distributor d(o, 4, workers);
  const WorkerSlots ws{workers};
  std::map<uint8_t, int> per_slot, rule_slot;
  std::mt19937 rng(7);
  for (int i = 0; i < 40000; ++i) {
    const SessionKey k = SessionKey::V4(rng(), rng(), static_cast<uint16_t>(1024 + rng() % 60000), 443, kProtoTcp);
    per_slot[d.Classify(k).slot]++;
    const SessionKey rk = SessionKey::V4(rng(), rng(), static_cast<uint16_t>(1024 + rng() % 60000), 8080, kProtoTcp);
    rule_slot[d.Classify(rk).slot]++;
  }
  ASSERT_EQ(per_slot.size(), 16u) << "every worker of every blade takes flows";
  for (auto& [s, n] : per_slot) EXPECT_NEAR(n, 40000 / 16, 40000 / 16 / 5) << "worker slot " << int(s);
  ASSERT_EQ(rule_slot.size(), static_cast<size_t>(workers)) << "a rule's flows: every worker of its slot";
  for (auto& [s, n] : rule_slot) EXPECT_EQ(ws.BladeOf(s), 3) << "worker slot " << int(s);
}

// Flows a method (or a rule to the master) keeps together on a blade stay
// together on a worker: a GTP tunnel's control (2123) and user plane (2152)
// between the same two hosts, whose user plane is found by the tunnel its
// control plane made on that worker's table (PacketPath).
TEST(DistributorWorkers, RelatedFlowsKeptTogetherOnABladeShareAWorker) {
  std::mt19937 rng(11);
  DistributionOptions by_hosts;
  by_hosts.method = DistributionMethod::kSrcDstIp;
  DistributionOptions to_master;
  FlowRule gtp;
  gtp.id = 1;
  gtp.protocol = kProtoUdp;
  gtp.dst_port = PortRange{2123, 2152};
  gtp.target = FlowRule::Target::kMaster;
  to_master.flow_rules.push_back(gtp);
  std::set<uint8_t> workers_used;
  for (const DistributionOptions& o : {by_hosts, to_master}) {
    const Distributor d(o, 4, 8);
    for (int i = 0; i < 2000; ++i) {
      const uint32_t a = rng(), b = rng();
      const SessionKey c = SessionKey::V4(a, b, static_cast<uint16_t>(1024 + rng() % 60000), 2123, kProtoUdp);
      const SessionKey u = SessionKey::V4(a, b, 2152, 2152, kProtoUdp);
      const uint8_t at = d.Classify(c).slot, ut = d.Classify(u).slot;
      const WorkerSlots ws{8};
      // src-dst-ip orients a flow before hashing, so a tunnel's two planes
      // may land on two blades (one worker or many alike); on one blade
      // they share its worker.
      if (ws.BladeOf(at) == ws.BladeOf(ut)) {
        ASSERT_EQ(ut, at) << "GTP-C and GTP-U of " << c.ToString() << " on different workers";
      }
      workers_used.insert(at);
    }
  }
  EXPECT_EQ(workers_used.size(), 32u) << "the tunnels are still shared out among every worker";
}

// A dead blade takes its workers with it: their flows spread over every
// live worker of the other blades, the rest stay.
TEST(DistributorWorkers, ADeadBladesFlowsGoToTheOtherBladesWorkers) {
  const int workers = 4;
  const Distributor d(DistributionOptions{}, 2, workers);
  const WorkerSlots ws{workers};
  SlotMask live = 0;
  for (int w = 0; w < workers; ++w) live |= SlotBit(ws.Of(2, w));  // blade 1 down
  std::mt19937 rng(9);
  std::set<uint8_t> took;
  for (int i = 0; i < 4000; ++i) {
    const SessionKey k = SessionKey::V4(rng(), rng(), static_cast<uint16_t>(1024 + rng() % 60000), 443, kProtoTcp);
    const Verdict up = d.Classify(k);
    const Verdict v = d.Classify(k, 0, 0, live);
    ASSERT_EQ(ws.BladeOf(v.slot), 2);
    if (ws.BladeOf(up.slot) == 2) {
      EXPECT_EQ(v.slot, up.slot);
    } else {
      took.insert(v.slot);
    }
  }
  EXPECT_EQ(took.size(), static_cast<size_t>(workers)) << "blade 1's flows spread over every worker of blade 2";
}

}  // namespace
}  // namespace bladesync
