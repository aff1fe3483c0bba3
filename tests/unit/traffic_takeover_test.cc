// The traffic follows the primary: TrafficTakeover alone on a simulated
// loop, then wired to whole chassis on the simulator, where the ordering is
// the promise: addresses only after adoption, removed first on demotion
// and on start, and never on two chassis at once.
#include "netif/traffic_takeover.h"

#include <gtest/gtest.h>

#include "sim/sim_event_loop.h"
#include "tests/support/fake_interfaces.h"
#include "tests/support/sim_chassis_cluster.h"

namespace bladesync::testing {
namespace {

AddrPrefix Prefix(const std::string& a, int len) {
  const IpAddr ip = *IpAddr::Parse(a);
  return AddrPrefix{ip, ip.is_v4() ? 96 + len : len};
}
const MacAddr kOwnMac{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};

TakeoverOptions LanOptions() {
  TakeoverOptions o;
  o.interfaces.push_back(TakeoverInterface{"lan", "lan0", 3, {Prefix("10.0.1.1", 24), Prefix("2001:db8::1", 64)}});
  o.group_id = 7;
  o.virtual_mac = true;
  o.arps = 3;
  o.arps_interval = seconds(2);
  return o;
}

class Takeover : public ::testing::Test {
 protected:
  Takeover() : loop_(sched_), host_(&loop_) { host_.AddDevice("lan0", kOwnMac); }
  SimScheduler sched_;
  SimEventLoop loop_;
  FakeInterfaces host_;
  bool ready_ = true;
};

TEST_F(Takeover, StartRemovesWhatACrashedRunLeftAddressesFirst) {
  host_.device("lan0").mac = VirtualMac(7, 3);
  host_.device("lan0").permanent = kOwnMac;
  host_.device("lan0").addresses = {"10.0.1.1", "2001:db8::1"};
  TrafficTakeover t(LanOptions(), loop_, host_, [&] { return ready_; });
  t.Start();
  ASSERT_EQ(host_.log().size(), 3u) << ::testing::PrintToString(host_.log());
  EXPECT_EQ(host_.log()[0], "remove lan0 10.0.1.1");
  EXPECT_EQ(host_.log()[1], "remove lan0 2001:db8::1");
  EXPECT_EQ(host_.log()[2], "mac lan0 " + kOwnMac.ToString());
  EXPECT_FALSE(t.held());
}

TEST_F(Takeover, AVirtualMacLeftWithoutAPermanentOneGetsAStableLocalMac) {
  host_.device("lan0").mac = VirtualMac(7, 3);
  TrafficTakeover t(LanOptions(), loop_, host_, [&] { return ready_; });
  t.Start();
  const MacAddr m = host_.device("lan0").mac;
  EXPECT_FALSE(IsVirtualMac(m));
  EXPECT_EQ(m.b[0], 0x02) << "locally administered, unicast: " << m.ToString();
  // The same device and chassis give the same MAC.
  host_.device("lan0").mac = VirtualMac(7, 3);
  TrafficTakeover again(LanOptions(), loop_, host_, [&] { return ready_; });
  again.Start();
  EXPECT_EQ(host_.device("lan0").mac, m);
}

TEST_F(Takeover, PrimaryTakesOnlyOnceReadyThenVirtualMacAddressesAnnouncements) {
  TrafficTakeover t(LanOptions(), loop_, host_, [&] { return ready_; });
  t.Start();
  host_.ClearLog();
  ready_ = false;
  t.SetPrimary(true);
  sched_.RunFor(seconds(1));
  EXPECT_TRUE(host_.log().empty()) << "took before its sessions were adopted: " << ::testing::PrintToString(host_.log());
  EXPECT_TRUE(t.waiting());
  ready_ = true;
  sched_.RunFor(milliseconds(10));
  ASSERT_TRUE(t.held());
  ASSERT_GE(host_.log().size(), 5u);
  EXPECT_EQ(host_.log()[0], "mac lan0 " + VirtualMac(7, 3).ToString());
  EXPECT_EQ(host_.log()[1], "add lan0 10.0.1.1");
  EXPECT_EQ(host_.log()[2], "add lan0 2001:db8::1");
  EXPECT_EQ(host_.log()[3], "announce lan0 10.0.1.1 00:09:0f:09:07:03");
  EXPECT_EQ(host_.log()[4], "announce lan0 2001:db8::1 00:09:0f:09:07:03");
  EXPECT_GE(t.last_wait(), seconds(1));
  // arps 3, arps-interval 2 s: two more rounds, then silence.
  sched_.RunFor(seconds(10));
  EXPECT_EQ(t.announcements(), 6u);
  const int last = host_.Find("announce", 9);
  EXPECT_EQ(last, -1) << "a fourth round";
  ASSERT_GE(host_.times().size(), 8u);
  EXPECT_EQ(host_.times()[7] - host_.times()[5], seconds(2));
}

TEST_F(Takeover, DemotionRemovesTheAddressesFirstAndStopsAnnouncing) {
  TrafficTakeover t(LanOptions(), loop_, host_, [&] { return ready_; });
  t.Start();
  t.SetPrimary(true);
  sched_.RunFor(milliseconds(100));
  ASSERT_TRUE(t.held());
  host_.ClearLog();
  t.SetPrimary(false);
  ASSERT_EQ(host_.log().size(), 3u);
  EXPECT_EQ(host_.log()[0], "remove lan0 10.0.1.1");
  EXPECT_EQ(host_.log()[1], "remove lan0 2001:db8::1");
  EXPECT_EQ(host_.log()[2], "mac lan0 " + kOwnMac.ToString());
  sched_.RunFor(seconds(20));
  EXPECT_EQ(host_.log().size(), 3u) << "announced after the role was gone";
}

TEST_F(Takeover, WithoutVirtualMacTheInterfacesOwnMacIsAnnounced) {
  TakeoverOptions o = LanOptions();
  o.virtual_mac = false;
  TrafficTakeover t(o, loop_, host_, [&] { return ready_; });
  t.Start();
  t.SetPrimary(true);
  sched_.RunFor(milliseconds(20));
  EXPECT_EQ(host_.Find("mac"), -1);
  EXPECT_NE(host_.Find("announce lan0 10.0.1.1 " + kOwnMac.ToString()), -1) << ::testing::PrintToString(host_.log());
}

TEST_F(Takeover, GratuitousArpsDisabledAnnounceNothing) {
  TakeoverOptions o = LanOptions();
  o.gratuitous_arps = false;
  TrafficTakeover t(o, loop_, host_, [&] { return ready_; });
  t.Start();
  t.SetPrimary(true);
  sched_.RunFor(seconds(30));
  EXPECT_TRUE(t.held());
  EXPECT_EQ(t.announcements(), 0u);
}

TEST_F(Takeover, AFailedStepIsCountedAndTheRestGoesOn) {
  TrafficTakeover t(LanOptions(), loop_, host_, [&] { return ready_; });
  t.Start();
  host_.FailNext("add");
  t.SetPrimary(true);
  sched_.RunFor(milliseconds(20));
  EXPECT_TRUE(t.held());
  EXPECT_EQ(t.errors(), 1u);
  EXPECT_FALSE(host_.Holds("lan0", "10.0.1.1"));
  EXPECT_TRUE(host_.Holds("lan0", "2001:db8::1")) << "one failure stopped the rest";
  host_.FailNext("remove");
  t.SetPrimary(false);
  EXPECT_EQ(t.errors(), 2u);
  EXPECT_FALSE(t.held()) << "the role change goes on";
}

TEST_F(Takeover, AMissingDeviceIsReportedAndNeverBlocks) {
  TakeoverOptions o = LanOptions();
  o.interfaces.push_back(TakeoverInterface{"wan", "wan9", 4, {Prefix("192.0.2.1", 24)}});
  TrafficTakeover t(o, loop_, host_, [&] { return ready_; });
  t.Start();
  EXPECT_EQ(t.Missing(), std::vector<std::string>{"wan9"});
  t.SetPrimary(true);
  sched_.RunFor(milliseconds(20));
  EXPECT_TRUE(t.held());
  EXPECT_TRUE(host_.Holds("lan0", "10.0.1.1"));
  EXPECT_GE(t.errors(), 1u);
}

TEST_F(Takeover, LinkFailedSignalTakesTheLinkDownForAboutASecondAndKeepsItsRoutes) {
  host_.AddDevice("wan0", kOwnMac);
  host_.device("wan0").routes = {"-4 default via 192.0.2.254"};
  TrafficTakeover t(LanOptions(), loop_, host_, [&] { return ready_; });
  t.SignalLinkFailure({"wan0"});
  EXPECT_FALSE(host_.IsUp("wan0"));
  sched_.RunFor(milliseconds(900));
  EXPECT_FALSE(host_.IsUp("wan0"));
  sched_.RunFor(milliseconds(200));
  EXPECT_TRUE(host_.IsUp("wan0"));
  EXPECT_EQ(host_.device("wan0").routes, std::vector<std::string>{"-4 default via 192.0.2.254"}) << "the bounce lost a route";
  EXPECT_EQ(t.link_failed_signals(), 1u);
  // Stopping brings a signalled link back at once.
  t.SignalLinkFailure({"wan0"});
  t.Stop();
  EXPECT_TRUE(host_.IsUp("wan0"));
  EXPECT_EQ(host_.device("wan0").routes.size(), 1u);
}

TEST_F(Takeover, StopReleases) {
  TrafficTakeover t(LanOptions(), loop_, host_, [&] { return ready_; });
  t.Start();
  t.SetPrimary(true);
  sched_.RunFor(milliseconds(20));
  ASSERT_TRUE(host_.Holds("lan0", "10.0.1.1"));
  t.Stop();
  EXPECT_FALSE(host_.Holds("lan0", "10.0.1.1"));
  EXPECT_EQ(host_.device("lan0").mac, kOwnMac);
  t.SetPrimary(true);
  sched_.RunFor(milliseconds(20));
  EXPECT_FALSE(host_.Holds("lan0", "10.0.1.1")) << "took again after Stop";
}

// ---- whole chassis on the simulator -------------------------------------

constexpr int kSessions = 40;
SessionKey KeyOf(int i) { return SessionKey::V4(0x0a000000 + i, 0xc6336401, static_cast<uint16_t>(2000 + i), 443, kProtoTcp); }

class FollowsThePrimary : public ::testing::Test {
 protected:
  FollowsThePrimary() : c_(2, 2, 23) {
    for (uint8_t x = 1; x <= 2; ++x) {
      hosts_[x] = std::make_unique<FakeInterfaces>(&loop(x));
      hosts_[x]->AddDevice("lan0", MacAddr{{0x52, 0x54, 0, 0, 0, x}});
      hosts_[x]->on_change = [this](const std::string&) { CheckOneHolder(); };
      Attach(x);
    }
    c_.RunFor(seconds(2));
  }
  SimEventLoop& loop(uint8_t x) { return static_cast<SimEventLoop&>(c_.manager(x)->loop()); }
  // What bladesyncd does: the takeover first in the role listener, ready
  // from the manager.
  void Attach(uint8_t x) {
    ChassisManager* m = c_.manager(x);
    takeovers_[x] = std::make_unique<TrafficTakeover>(LanOptions(), m->loop(), *hosts_[x], [m] { return m->TrafficReady(); });
    takeovers_[x]->Start();
    TrafficTakeover* t = takeovers_[x].get();
    m->set_role_listener([t](HaRole, HaRole now) { t->SetPrimary(now == HaRole::kPrimary || now == HaRole::kStandalone); });
  }
  void CheckOneHolder() {
    int holders = 0;
    for (uint8_t x = 1; x <= 2; ++x) holders += hosts_[x]->Holds("lan0", "10.0.1.1") && c_.alive(x);
    EXPECT_LE(holders, 1) << "two live chassis hold the cluster address";
  }
  uint8_t Traffic() {
    std::vector<uint8_t> t = c_.TrafficChassis();
    EXPECT_EQ(t.size(), 1u);
    return t.empty() ? 0 : t[0];
  }
  void CreateSessions(uint8_t t) {
    for (int i = 0; i < kSessions; ++i) {
      SessionFacts f;
      f.key = KeyOf(i);
      c_.blade(t, static_cast<uint8_t>(1 + i % 2))->CreateSession(f, SessionState{kTcpEstablished, 0, 3600});
    }
    c_.RunFor(seconds(1));
  }
  int OwnedBy(uint8_t x) {
    int n = 0;
    for (int i = 0; i < kSessions; ++i) {
      for (uint8_t s = 1; s <= 2; ++s) {
        if (c_.blade(x, s) && c_.blade(x, s)->owned().Find(KeyOf(i))) ++n;
      }
    }
    return n;
  }
  static uint8_t Other(uint8_t x) { return x == 1 ? 2 : 1; }

  SimChassisCluster c_;
  std::map<uint8_t, std::unique_ptr<FakeInterfaces>> hosts_;
  std::map<uint8_t, std::unique_ptr<TrafficTakeover>> takeovers_;
};

TEST_F(FollowsThePrimary, ThePrimaryAloneHoldsTheAddresses) {
  const uint8_t p = Traffic();
  EXPECT_TRUE(hosts_[p]->Holds("lan0", "10.0.1.1"));
  EXPECT_FALSE(hosts_[Other(p)]->Holds("lan0", "10.0.1.1"));
  EXPECT_EQ(hosts_[p]->device("lan0").mac, VirtualMac(7, 3));
}

TEST_F(FollowsThePrimary, TheSurvivorTakesTheAddressesOnlyAfterItsBladesAdopted) {
  const uint8_t p = Traffic(), s = Other(p);
  CreateSessions(p);
  int owned_when_taken = -1;
  hosts_[s]->on_change = [&](const std::string& what) {
    if (what.rfind("add ", 0) == 0 && owned_when_taken < 0) owned_when_taken = OwnedBy(s);
  };
  c_.KillChassis(p);
  c_.RunFor(seconds(3));
  ASSERT_TRUE(hosts_[s]->Holds("lan0", "10.0.1.1"));
  EXPECT_EQ(owned_when_taken, kSessions) << "the address came before every session was adopted";
}

TEST_F(FollowsThePrimary, AKernelInstallStillRunningHoldsTheAddressesBack) {
  const uint8_t p = Traffic(), s = Other(p);
  CreateSessions(p);
  // As config system conntrack does: the adopted sessions go into the kernel
  // over 500 ms after the Adopt.
  std::vector<std::unique_ptr<Timer>> installs;
  Nanos installed_at{0};
  for (uint8_t slot = 1; slot <= 2; ++slot) {
    BladeAgent* b = c_.blade(s, slot);
    b->add_adopt_listener([&, b](uint8_t, size_t) {
      b->AdoptionPending(+1);
      installs.push_back(b->loop().CreateTimer([&, b] {
        installed_at = std::max(installed_at, c_.sched().now());
        b->AdoptionPending(-1);
      }));
      installs.back()->Arm(milliseconds(500));
    });
  }
  c_.KillChassis(p);
  c_.RunFor(seconds(3));
  ASSERT_TRUE(hosts_[s]->Holds("lan0", "10.0.1.1"));
  const int add = hosts_[s]->Find("add lan0 10.0.1.1");
  ASSERT_GE(add, 0);
  ASSERT_GT(installed_at, Nanos(0));
  EXPECT_GE(hosts_[s]->times()[add], installed_at) << "the address came before the kernel had the sessions";
}

TEST_F(FollowsThePrimary, AManualFailoverMovesTheAddressesOnlyOnceTheOldPrimaryDroppedThem) {
  const uint8_t p = Traffic(), s = Other(p);
  CreateSessions(p);
  bool old_held_when_taken = true;
  hosts_[s]->on_change = [&](const std::string& what) {
    if (what.rfind("add ", 0) == 0) old_held_when_taken = hosts_[p]->Holds("lan0", "10.0.1.1");
    CheckOneHolder();
  };
  c_.manager(p)->SetManualFailover(true);
  c_.RunFor(seconds(3));
  ASSERT_TRUE(hosts_[s]->Holds("lan0", "10.0.1.1"));
  EXPECT_FALSE(old_held_when_taken);
  EXPECT_FALSE(hosts_[p]->Holds("lan0", "10.0.1.1"));
  EXPECT_EQ(hosts_[p]->device("lan0").mac, (MacAddr{{0x52, 0x54, 0, 0, 0, p}}));
  EXPECT_EQ(OwnedBy(s), kSessions);
}

TEST_F(FollowsThePrimary, ARestartedChassisDropsWhatItsCrashedRunHeldBeforeAnythingElse) {
  const uint8_t p = Traffic(), s = Other(p);
  c_.KillChassis(p);  // as kill -9: the addresses and the virtual MAC stay on its interfaces
  c_.RunFor(seconds(2));
  ASSERT_TRUE(hosts_[p]->Holds("lan0", "10.0.1.1"));
  ASSERT_TRUE(hosts_[s]->Holds("lan0", "10.0.1.1"));
  c_.RestartChassis(p);
  hosts_[p]->ClearLog();
  Attach(p);
  ASSERT_GE(hosts_[p]->log().size(), 2u);
  EXPECT_EQ(hosts_[p]->log()[0], "remove lan0 10.0.1.1");
  EXPECT_FALSE(hosts_[p]->Holds("lan0", "10.0.1.1"));
  EXPECT_FALSE(IsVirtualMac(hosts_[p]->device("lan0").mac));
  c_.RunFor(seconds(3));
  EXPECT_FALSE(hosts_[p]->Holds("lan0", "10.0.1.1")) << "the restarted chassis took the role back";
  EXPECT_TRUE(hosts_[s]->Holds("lan0", "10.0.1.1"));
}

}  // namespace
}  // namespace bladesync::testing
