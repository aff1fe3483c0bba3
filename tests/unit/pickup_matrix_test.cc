// The FortiGate session-pickup protocol matrix, one row per case, and every
// pickup option, first as the pure decision, then through blades on the
// simulator (synced or not, counted, and what failover does with them).
#include <gtest/gtest.h>

#include "blades/extensions.h"
#include "blades/packet_path.h"
#include "blades/pickup_policy.h"
#include "tests/support/sim_cluster.h"

namespace bladesync::testing {
namespace {

SessionKey Tcp4() { return SessionKey::V4(0x0a000001, 0xc6336401, 40000, 443, kProtoTcp); }
SessionKey Udp4(uint32_t dst = 0xc6336401) { return SessionKey::V4(0x0a000001, dst, 40000, 53, kProtoUdp); }
SessionKey V6(uint8_t proto) {
  SessionKey k;
  k.src = IpAddr::V6(0x20010db800010000ULL, 1);
  k.dst = IpAddr::V6(0x20010db800020000ULL, 2);
  k.sport = 40000;
  k.dport = 443;
  k.proto = proto;
  return k;
}

PickupOptions On() {
  PickupOptions o;
  o.session_pickup = true;
  return o;
}
PickupOptions With(std::function<void(PickupOptions&)> f) {
  PickupOptions o = On();
  f(o);
  return o;
}

struct Row {
  const char* name;
  PickupOptions opt;
  SessionKey key;
  uint16_t flags;
  bool sync;
  SkipReason reason;
};

TEST(PickupMatrix, EveryRow) {
  const PickupOptions aa = With([](PickupOptions& o) { o.mode = HaMode::kActiveActive; });
  const Row rows[] = {
      {"tcp, session-pickup disabled (FortiOS default)", PickupOptions{}, Tcp4(), 0, false, SkipReason::kPickupDisabled},
      {"tcp", On(), Tcp4(), 0, true, SkipReason::kNone},
      {"sctp is not connectionless", On(), SessionKey::V4(1, 2, 3, 4, kProtoSctp), 0, true, SkipReason::kNone},
      {"udp without connectionless", On(), Udp4(), 0, false, SkipReason::kConnectionless},
      {"udp with connectionless", With([](PickupOptions& o) { o.connectionless = true; }), Udp4(), 0, true, SkipReason::kNone},
      {"icmp without connectionless", On(), SessionKey::V4(1, 2, 7, 0, kProtoIcmp), 0, false, SkipReason::kConnectionless},
      {"icmp with connectionless", With([](PickupOptions& o) { o.connectionless = true; }), SessionKey::V4(1, 2, 7, 0, kProtoIcmp), 0, true, SkipReason::kNone},
      {"broadcast without connectionless", On(), Udp4(0xffffffff), 0, false, SkipReason::kConnectionless},
      {"broadcast with connectionless", With([](PickupOptions& o) { o.connectionless = true; }), Udp4(0xffffffff), 0, true, SkipReason::kNone},
      {"multicast without multicast-ttl", With([](PickupOptions& o) { o.connectionless = true; }), Udp4(0xef010101), 0, false, SkipReason::kMulticast},
      {"multicast with multicast-ttl", With([](PickupOptions& o) { o.multicast_ttl = 120; }), Udp4(0xef010101), 0, true, SkipReason::kNone},
      {"ipv6 tcp", On(), V6(kProtoTcp), 0, true, SkipReason::kNone},
      {"nat66 in a-p", On(), V6(kProtoTcp), kFlagNat, true, SkipReason::kNone},
      {"nat64 in a-a without session-pickup-nat", aa, V6(kProtoTcp), kFlagNat, false, SkipReason::kNat},
      {"nat in a-a with session-pickup-nat", With([](PickupOptions& o) { o.mode = HaMode::kActiveActive; o.nat = true; }), Tcp4(), kFlagNat, true, SkipReason::kNone},
      {"proxy-based inspection", On(), Tcp4(), kFlagProxyInspected, false, SkipReason::kProxyInspected},
      {"flow-based inspection", On(), Tcp4(), kFlagFlowInspected, true, SkipReason::kNone},
      {"flow and proxy inspection", On(), Tcp4(), kFlagFlowInspected | kFlagProxyInspected, false, SkipReason::kProxyInspected},
      {"sip in a-p", With([](PickupOptions& o) { o.connectionless = true; }), Udp4(), WithApp(0, AppKind::kSip), true, SkipReason::kNone},
      {"sip rtp in a-p", With([](PickupOptions& o) { o.connectionless = true; }), Udp4(), WithApp(0, AppKind::kSipRtp), true, SkipReason::kNone},
      {"sip in a-a", With([](PickupOptions& o) { o.connectionless = true; o.mode = HaMode::kActiveActive; }), Udp4(), WithApp(0, AppKind::kSip), false, SkipReason::kActivePassiveOnly},
      {"gtp-c tunnel", With([](PickupOptions& o) { o.connectionless = true; }), Udp4(), WithApp(0, AppKind::kGtpC), true, SkipReason::kNone},
      {"gtp-u rides on the tunnel", With([](PickupOptions& o) { o.connectionless = true; }), Udp4(), WithApp(0, AppKind::kGtpU), false, SkipReason::kGtpUserPlane},
      {"sccp", On(), Tcp4(), WithApp(0, AppKind::kSccp), false, SkipReason::kAppNotSynced},
      {"simple", On(), Tcp4(), WithApp(0, AppKind::kSimple), false, SkipReason::kAppNotSynced},
      {"ssl offload", On(), Tcp4(), WithApp(0, AppKind::kSslOffload), false, SkipReason::kAppNotSynced},
      {"http multiplexing", On(), Tcp4(), WithApp(0, AppKind::kHttpMux), false, SkipReason::kAppNotSynced},
      {"management session to the cluster", On(), Tcp4(), kFlagLocal, false, SkipReason::kLocal},
      {"management, pickup off", PickupOptions{}, Tcp4(), kFlagLocal, false, SkipReason::kLocal},
      {"expectation without the option", On(), Tcp4(), kFlagExpectation, false, SkipReason::kExpectation},
      {"expectation with session-pickup-expectation", With([](PickupOptions& o) { o.expectation = true; }), Tcp4(), kFlagExpectation, true, SkipReason::kNone},
  };
  for (const Row& r : rows) {
    PickupDecision d = Decide(r.opt, SessionFacts{r.key, r.flags, 1, 2});
    EXPECT_EQ(d.sync, r.sync) << r.name;
    EXPECT_EQ(d.reason, r.reason) << r.name << ": " << SkipReasonName(d.reason);
  }
}

TEST(PickupMatrix, DelayAppliesToTcpOnly) {
  PickupOptions o = With([](PickupOptions& p) { p.delay = true; });
  EXPECT_TRUE(DelayApplies(o, kProtoTcp));
  EXPECT_FALSE(DelayApplies(o, kProtoSctp));
  EXPECT_FALSE(DelayApplies(o, kProtoUdp));
  EXPECT_FALSE(DelayApplies(o, kProtoIcmp));
  EXPECT_FALSE(DelayApplies(On(), kProtoTcp));
}

TEST(PickupMatrix, SessionSyncFilterFields) {
  PickupOptions o = With([](PickupOptions& p) { p.connectionless = true; });
  auto sync = [&](const SessionKey& k, uint8_t in, uint8_t out) { return Decide(o, SessionFacts{k, 0, in, out}).sync; };
  o.filter.srcintf = {1};
  EXPECT_TRUE(sync(Tcp4(), 1, 2));
  EXPECT_FALSE(sync(Tcp4(), 3, 2));
  o.filter = {};
  o.filter.dstintf = {2};
  EXPECT_TRUE(sync(Tcp4(), 1, 2));
  EXPECT_FALSE(sync(Tcp4(), 1, 4));
  o.filter = {};
  o.filter.srcaddr = {AddrPrefix{IpAddr::V4(0x0a000000), 96 + 8}};
  EXPECT_TRUE(sync(Tcp4(), 1, 2));
  EXPECT_FALSE(sync(SessionKey::V4(0x0b000001, 0xc6336401, 1, 2, kProtoTcp), 1, 2));
  o.filter = {};
  o.filter.dstaddr = {AddrPrefix{IpAddr::V4(0xc6336400), 96 + 24}};
  EXPECT_TRUE(sync(Tcp4(), 1, 2));
  EXPECT_FALSE(sync(SessionKey::V4(0x0a000001, 0xc6336501, 1, 2, kProtoTcp), 1, 2));
  o.filter = {};
  o.filter.srcaddr6 = {AddrPrefix{IpAddr::V6(0x20010db800010000ULL, 0), 64}};
  EXPECT_TRUE(sync(V6(kProtoTcp), 1, 2));
  EXPECT_FALSE(sync(V6(kProtoTcp).Reversed(), 1, 2));
  o.filter = {};
  o.filter.dstaddr6 = {AddrPrefix{IpAddr::V6(0x20010db800020000ULL, 0), 64}};
  EXPECT_TRUE(sync(V6(kProtoTcp), 1, 2));
  o.filter = {};
  o.filter.custom_service = {CustomService{PortRange{0, 65535}, PortRange{443, 443}}};
  EXPECT_TRUE(sync(Tcp4(), 1, 2));
  EXPECT_FALSE(sync(Udp4(), 1, 2));  // dport 53
  o.filter.custom_service.push_back(CustomService{PortRange{40000, 40000}, PortRange{0, 65535}});
  EXPECT_TRUE(sync(Udp4(), 1, 2));   // the second service matches the source port
}

// ---------------------------------------------------------------- blades

SimBlades Pair(uint64_t seed, std::function<void(PickupOptions&)> f, HaMode mode = HaMode::kActivePassive) {
  return SimBlades(2, 1, seed, [f, mode](BladeConfig& b) {
    b.pickup = PickupOptions{};
    b.pickup.session_pickup = true;
    b.pickup.mode = mode;
    f(b.pickup);
  });
}

TEST(PickupBlades, SessionPickupDelaySyncsOnlyTcpThatLives30s) {
  SimBlades c = Pair(31, [](PickupOptions& o) { o.delay = true; o.connectionless = true; });
  BladeAgent& a = c.blade(1, 1);
  PacketPath path(a);
  const SessionKey long_lived = Tcp4();
  const SessionKey short_lived = SessionKey::V4(0x0a000002, 0xc6336401, 40001, 443, kProtoTcp);
  for (const SessionKey& k : {long_lived, short_lived}) {
    path.Process(PacketInfo{k, kTcpSyn, 0, 1, 2});
    path.Process(PacketInfo{k.Reversed(), kTcpSyn | kTcpAck, 0, 2, 1});
    path.Process(PacketInfo{k, kTcpAck, 0, 1, 2});
  }
  path.Process(PacketInfo{Udp4(), 0, 0, 1, 2});  // connectionless: not delayed
  c.RunFor(seconds(10));
  const StandbyTable* m = c.blade(2, 1).standby(1);
  EXPECT_EQ(m->store().live(), 1u) << "only the UDP session before 30 s";
  // The short one closes at 10 s; the long one keeps sending.
  path.Process(PacketInfo{short_lived, kTcpRst, 0, 1, 2});
  for (int s = 10; s < 32; ++s) {
    path.Process(PacketInfo{long_lived, kTcpAck | kTcpPsh, 0, 1, 2});
    c.RunFor(seconds(1));
  }
  EXPECT_EQ(m->store().live(), 2u);
  EXPECT_TRUE(m->store().Find(long_lived));
  EXPECT_FALSE(m->store().Find(short_lived));
  EXPECT_TRUE(c.MirrorsMatch());
}

// Session timers count in deciseconds: a session born 51 ms into one must
// not count that decisecond as lived (found by pickup_convergence_test: a
// session born at 0.451 s was synced at 5.401 s with a 5 s delay).
TEST(PickupBlades, SessionPickupDelayNeverEndsEarly) {
  SimBlades c = Pair(34, [](PickupOptions& o) { o.delay = true; o.delay_s = 5; });
  BladeAgent& a = c.blade(1, 1);
  c.RunFor(milliseconds(451));
  a.CreateSession(SessionFacts{Tcp4(), 0, 1, 2}, SessionState{kTcpSynSent, 0, 600});
  const StandbyTable* m = c.blade(2, 1).standby(1);
  while (c.sched().now() < milliseconds(5451)) {
    c.RunFor(milliseconds(10));
    ASSERT_FALSE(m->store().Find(Tcp4())) << "synced at " << c.sched().now().count() / 1000000 << " ms, age below 5 s";
  }
  c.RunFor(seconds(1));
  EXPECT_TRUE(m->store().Find(Tcp4())) << "synced within a second of the delay";
}

TEST(PickupBlades, SkippedSessionsAreCountedByReason) {
  SimBlades c = Pair(32, [](PickupOptions&) {});
  BladeAgent& a = c.blade(1, 1);
  PacketPath path(a);
  path.Process(PacketInfo{Udp4(), 0, 0, 1, 2});                       // connectionless off
  path.Process(PacketInfo{Tcp4(), kTcpSyn, kFlagProxyInspected, 1, 2});
  path.Process(PacketInfo{SessionKey::V4(9, 9, 9, 443, kProtoTcp), kTcpSyn, kFlagLocal, 1, 2});
  path.Process(PacketInfo{SessionKey::V4(8, 8, 8, 22, kProtoTcp), kTcpSyn, 0, 1, 2});  // synced
  c.RunFor(milliseconds(100));
  auto skipped = [&](SkipReason r) { return a.counters().skipped[static_cast<int>(r)].get(); };
  EXPECT_EQ(skipped(SkipReason::kConnectionless), 1u);
  EXPECT_EQ(skipped(SkipReason::kProxyInspected), 1u);
  EXPECT_EQ(skipped(SkipReason::kLocal), 1u);
  EXPECT_EQ(a.counters().synced_sessions.get(), 1u);
  EXPECT_EQ(c.blade(2, 1).standby(1)->store().live(), 1u);
}

TEST(PickupBlades, FailoverKeepsStateFlagsFlowInspectedAndHonoursTimers) {
  for (bool update_all : {false, true}) {
    SimBlades c = Pair(33, [&](PickupOptions& o) {
      o.connectionless = true;
      o.update_all_session_timer = update_all;
      o.multicast_ttl = 120;
    });
    BladeAgent& a = c.blade(1, 1);
    PacketPath path(a);
    path.Process(PacketInfo{Tcp4(), kTcpSyn, kFlagFlowInspected, 1, 2});
    path.Process(PacketInfo{Tcp4().Reversed(), kTcpSyn | kTcpAck, kFlagFlowInspected, 2, 1});
    path.Process(PacketInfo{Tcp4(), kTcpAck, kFlagFlowInspected, 1, 2});
    path.Process(PacketInfo{Udp4(0xef010101), 0, 0, 1, 2});  // multicast
    c.RunFor(seconds(100));  // 100 s of the 3600 s TCP timer run on both sides
    c.Kill(1, 1);
    BladeAgent& b = c.blade(2, 1);
    // The multicast session (udp-idle 180 s) is still there; adopt now.
    EXPECT_EQ(b.Adopt(1), 2u);
    auto tcp = b.Lookup(Tcp4());
    ASSERT_TRUE(tcp);
    const SessionRecord& r = b.owned().rec(*tcp);
    EXPECT_EQ(r.proto_state, kTcpEstablished) << "continues from its last known state";
    EXPECT_TRUE(r.flags & kFlagNoInspectAfterFailover) << "flow-inspected: not inspected after failover";
    EXPECT_TRUE(r.flags & kFlagAdopted);
    const uint32_t left_ds = r.expires_ds - b.NowDs();
    if (update_all) {
      EXPECT_NEAR(left_ds, 36000, 2) << "update-all-session-timer: full timeout again";
    } else {
      EXPECT_NEAR(left_ds, 35000, 20) << "keeps what was left";
    }
    auto mc = b.Lookup(Udp4(0xef010101));
    ASSERT_TRUE(mc);
    EXPECT_NEAR(b.owned().rec(*mc).expires_ds - b.NowDs(), 1200, 2) << "multicast-ttl after failover";
  }
}

TEST(PickupBlades, SipCallStateSyncedInActivePassiveOnly) {
  for (HaMode mode : {HaMode::kActivePassive, HaMode::kActiveActive}) {
    SimBlades c = Pair(34, [](PickupOptions& o) { o.connectionless = true; }, mode);
    BladeAgent& a = c.blade(1, 1);
    PacketPath path(a);
    const SessionKey sip = SessionKey::V4(0x0a000001, 0xc6336401, 5062, 5060, kProtoUdp);
    path.Process(PacketInfo{sip, 0, WithApp(0, AppKind::kSip), 1, 2});
    path.Process(PacketInfo{sip.Reversed(), 0, WithApp(0, AppKind::kSip), 2, 1});  // 200 OK: setup complete
    c.RunFor(milliseconds(200));
    const StandbyTable* m = c.blade(2, 1).standby(1);
    auto id = m->store().Find(sip);
    if (mode == HaMode::kActiveActive) {
      EXPECT_FALSE(id);
      EXPECT_EQ(a.counters().skipped[static_cast<int>(SkipReason::kActivePassiveOnly)].get(), 1u);
      continue;
    }
    ASSERT_TRUE(id);
    const ExtensionList* ext = m->store().extensions(*id);
    ASSERT_NE(ext, nullptr);
    std::optional<SipCall> call = DecodeSipCall(ext->at(0));
    ASSERT_TRUE(call);
    EXPECT_EQ(call->state, SipCall::kEstablished);
    EXPECT_NE(call->rtp_port, 0);
    EXPECT_TRUE(c.MirrorsMatch());
    // It survives failover with the session.
    c.Kill(1, 1);
    BladeAgent& b = c.blade(2, 1);
    b.Adopt(1);
    auto own = b.Lookup(sip);
    ASSERT_TRUE(own);
    EXPECT_EQ(DecodeSipCall(b.owned().extensions(*own)->at(0))->state, SipCall::kEstablished);
  }
}

TEST(PickupBlades, GtpTunnelStateLetsGtpUFlowsContinueInPolicyDirection) {
  SimBlades c = Pair(35, [](PickupOptions& o) { o.connectionless = true; });
  BladeAgent& a = c.blade(1, 1);
  PacketPath path(a);
  SessionKey ctrl = SessionKey::V4(0x0a000001, 0xc6336401, kGtpControlPort, kGtpControlPort, kProtoUdp);
  SessionKey user = ctrl;
  user.sport = user.dport = kGtpUserPort;
  const uint16_t gtpc = WithApp(0, AppKind::kGtpC), gtpu = WithApp(0, AppKind::kGtpU);
  // Before the tunnel exists, GTP-U is dropped.
  EXPECT_EQ(path.Process(PacketInfo{user, 0, gtpu, 1, 2}), PacketResult::kDropped);
  EXPECT_EQ(a.counters().gtp_no_tunnel.get(), 1u);
  path.Process(PacketInfo{ctrl, 0, gtpc, 1, 2});   // tunnel set up from port1 (policy direction)
  path.Process(PacketInfo{ctrl.Reversed(), 0, gtpc, 2, 1});
  EXPECT_EQ(path.Process(PacketInfo{user, 0, gtpu, 1, 2}), PacketResult::kCreated);
  path.Process(PacketInfo{user.Reversed(), 0, gtpu, 2, 1});
  c.RunFor(milliseconds(200));
  const StandbyTable* m = c.blade(2, 1).standby(1);
  ASSERT_TRUE(m->store().Find(ctrl)) << "the tunnel (GTP-C session) is synced";
  EXPECT_FALSE(m->store().Find(user)) << "GTP-U sessions are not";
  EXPECT_EQ(a.counters().skipped[static_cast<int>(SkipReason::kGtpUserPlane)].get(), 1u);
  // Failover: the new owner has the tunnel, not the GTP-U session.
  c.Kill(1, 1);
  BladeAgent& b = c.blade(2, 1);
  b.Adopt(1);
  PacketPath path_b(b);
  // A packet from the external side cannot flow until the policy direction speaks.
  EXPECT_EQ(path_b.Process(PacketInfo{user.Reversed(), 0, gtpu, 2, 1}), PacketResult::kDropped);
  EXPECT_EQ(b.counters().gtp_wrong_direction.get(), 1u);
  EXPECT_EQ(path_b.Process(PacketInfo{user, 0, gtpu, 1, 2}), PacketResult::kCreated);
  EXPECT_EQ(path_b.Process(PacketInfo{user.Reversed(), 0, gtpu, 2, 1}), PacketResult::kStateChanged);
}

TEST(PickupBlades, Nat66AndNat64TranslationsAreSynced) {
  SimBlades c = Pair(36, [](PickupOptions&) {});
  BladeAgent& a = c.blade(1, 1);
  SessionFacts f66{V6(kProtoTcp), kFlagNat, 1, 2};
  NatInfo nat66{IpAddr::V6(0x20010db8ffff0000ULL, 7), V6(kProtoTcp).dst, 61000, 443};
  a.CreateSession(f66, SessionState{kTcpEstablished, kFlagNat, 3600}, &nat66);
  SessionKey k64 = V6(kProtoTcp);
  k64.sport = 40001;
  SessionFacts f64{k64, kFlagNat, 1, 2};
  NatInfo nat64{IpAddr::V4(0xcb007107), IpAddr::V4(0xc6336401), 61001, 443};  // to an IPv4 server
  a.CreateSession(f64, SessionState{kTcpEstablished, kFlagNat, 3600}, &nat64);
  c.RunFor(milliseconds(200));
  const StandbyTable* m = c.blade(2, 1).standby(1);
  auto i66 = m->store().Find(f66.key);
  auto i64 = m->store().Find(k64);
  ASSERT_TRUE(i66 && i64);
  ASSERT_NE(m->store().nat(*i66), nullptr);
  ASSERT_NE(m->store().nat(*i64), nullptr);
  EXPECT_EQ(*m->store().nat(*i66), nat66);
  EXPECT_EQ(*m->store().nat(*i64), nat64);
  EXPECT_TRUE(c.MirrorsMatch());
}

TEST(PickupBlades, EveryStateChangeIsSyncedButRefreshesAreNot) {
  SimBlades c = Pair(37, [](PickupOptions&) {});
  BladeAgent& a = c.blade(1, 1);
  PacketPath path(a);
  const SessionKey k = Tcp4();
  const uint8_t flags[] = {kTcpSyn, kTcpSyn | kTcpAck, kTcpAck, kTcpFin | kTcpAck, kTcpFin | kTcpAck, kTcpAck};
  const bool reply[] = {false, true, false, false, true, false};
  const uint8_t expect[] = {kTcpSynSent, kTcpSynRecv, kTcpEstablished, kTcpFinWait, kTcpLastAck, kTcpTimeWait};
  const StandbyTable* m = c.blade(2, 1).standby(1);
  for (int i = 0; i < 6; ++i) {
    path.Process(PacketInfo{reply[i] ? k.Reversed() : k, flags[i], 0, uint8_t(reply[i] ? 2 : 1), uint8_t(reply[i] ? 1 : 2)});
    for (int n = 0; n < 5 && i == 2; ++n) path.Process(PacketInfo{k, kTcpAck | kTcpPsh, 0, 1, 2});  // data: refresh only
    c.RunFor(milliseconds(20));
    auto id = m->store().Find(k);
    ASSERT_TRUE(id) << i;
    EXPECT_EQ(m->store().rec(*id).proto_state, expect[i]) << "after packet " << i;
  }
  const BladeCounters& mc = c.blade(2, 1).counters();
  const uint64_t applied = mc.applied[static_cast<int>(SyncOp::kCreate)].get() + mc.applied[static_cast<int>(SyncOp::kUpdate)].get();
  EXPECT_EQ(applied, 6u) << "one create and five state changes; the five data packets sent nothing";
}

}  // namespace
}  // namespace bladesync::testing
