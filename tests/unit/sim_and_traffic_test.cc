// The simulated event loop and the traffic generator: deterministic by
// construction.
#include <gtest/gtest.h>

#include "sim/sim_event_loop.h"
#include "traffic/traffic_generator.h"

namespace bladesync {
namespace {

TEST(SimEventLoop, TimersFireInTimeThenInsertionOrder) {
  SimScheduler s;
  SimEventLoop a(s), b(s, milliseconds(40));
  std::vector<int> order;
  auto t1 = a.CreateTimer([&] { order.push_back(1); });
  auto t2 = b.CreateTimer([&] { order.push_back(2); });
  auto t3 = a.CreateTimer([&] { order.push_back(3); });
  t1->Arm(milliseconds(5));
  t2->Arm(milliseconds(5));
  t3->Arm(milliseconds(1));
  a.Post([&] { order.push_back(0); });
  s.RunFor(milliseconds(10));
  EXPECT_EQ(order, (std::vector<int>{0, 3, 1, 2}));
  EXPECT_EQ(b.WallNow() - a.WallNow(), milliseconds(40));
  EXPECT_EQ(a.Now(), milliseconds(10));
}

TEST(SimEventLoop, DisarmPauseAndKill) {
  SimScheduler s;
  SimEventLoop a(s);
  int fired = 0;
  auto t = a.CreateTimer([&] { ++fired; });
  t->Arm(milliseconds(1));
  t->Disarm();
  s.RunFor(milliseconds(5));
  EXPECT_EQ(fired, 0);
  t->Arm(milliseconds(1));
  a.Pause();
  s.RunFor(milliseconds(5));
  EXPECT_EQ(fired, 0);
  a.Resume();
  s.RunFor(milliseconds(1));
  EXPECT_EQ(fired, 1);
  t->Arm(milliseconds(1));
  a.Kill();
  s.RunFor(milliseconds(5));
  EXPECT_EQ(fired, 1);
}

TEST(TrafficGenerator, SameSeedSamePackets) {
  TrafficOptions o;
  o.rate = 1000;
  o.duration_s = 2;
  o.mean_lifetime_ms = 500;
  TrafficGenerator a(o), b(o);
  std::vector<PacketInfo> pa, pb;
  for (int ms = 0; ms < 4000; ms += 7) {
    a.Generate(milliseconds(ms), pa);
    b.Generate(milliseconds(ms), pb);
  }
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].key, pb[i].key);
    EXPECT_EQ(pa[i].tcp_flags, pb[i].tcp_flags);
  }
  EXPECT_NEAR(static_cast<double>(a.flows_started()), 2000, 5);
  EXPECT_TRUE(a.finished(milliseconds(4000)));
}

TEST(TrafficGenerator, RealisticLifecycles) {
  TrafficOptions o;
  o.rate = 2000;
  o.duration_s = 1;
  o.ipv6_percent = 50;
  TrafficGenerator g(o);
  std::vector<PacketInfo> p;
  for (int ms = 0; ms <= 10000; ms += 10) g.Generate(milliseconds(ms), p);
  size_t syn = 0, synack = 0, fin = 0, rst = 0, v6 = 0, udp = 0, icmp = 0;
  for (const PacketInfo& x : p) {
    if (x.key.proto == kProtoTcp) {
      syn += x.tcp_flags == kTcpSyn;
      synack += x.tcp_flags == (kTcpSyn | kTcpAck);
      fin += (x.tcp_flags & kTcpFin) != 0;
      rst += (x.tcp_flags & kTcpRst) != 0;
    }
    udp += x.key.proto == kProtoUdp;
    icmp += x.key.proto == kProtoIcmp || x.key.proto == kProtoIcmp6;
    v6 += !x.key.is_v4();
  }
  EXPECT_GT(syn, 1200u);
  EXPECT_EQ(syn, synack);
  EXPECT_GT(fin, 1000u);  // most TCP flows close with FIN in both directions
  EXPECT_GT(rst, 50u);
  EXPECT_GT(udp, 500u);
  EXPECT_GT(icmp, 50u);
  EXPECT_GT(v6, p.size() / 3);
}

}  // namespace
}  // namespace bladesync
