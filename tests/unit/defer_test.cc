// session-pickup-defer (issue 20, asymmetric active-active): the reply to a
// new session's first packet comes back through the other chassis. The
// test is the network around the cluster: when a chassis lets a client's
// SYN through (its packet path's egress), the server answers into the
// other chassis after a short round trip, and the client's ACK follows
// through the first one. Without defer the SYN-ACK beats the create delta
// to the other chassis (its sync links are slower than the data path) and
// strict TCP tracking drops it; with defer the SYN waits until the mirror
// has the session.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "blades/packet_path.h"
#include "tests/support/sim_chassis_cluster.h"

namespace bladesync::testing {
namespace {

struct Outcome {
  uint64_t dropped = 0, deferred = 0, acked = 0, timed_out = 0, established = 0;
  std::vector<Nanos> hold;  // how long each SYN waited
};

Outcome RunFlows(bool defer, uint32_t flows, Nanos sync_latency, uint32_t timeout_ms = 20) {
  SimClusterOptions o;
  o.blade = [&](BladeConfig& b) {
    b.pickup.mode = HaMode::kActiveActive;
    b.pickup.defer = defer;
    b.pickup.defer_timeout_ms = timeout_ms;
  };
  o.manager = [](ManagerConfig& m) { m.mode = HaMode::kActiveActive; };
  SimChassisCluster c(2, 1, 81, o);
  c.net().faults().link_latency[static_cast<int>(Link::kM1)] = sync_latency;
  c.net().faults().link_latency[static_cast<int>(Link::kM2)] = sync_latency;
  c.RunFor(seconds(2));
  EXPECT_EQ(c.TrafficChassis().size(), 2u);
  std::vector<std::unique_ptr<PacketPath>> paths;
  std::vector<std::pair<SessionKey, Nanos>> sent;     // SYNs in flight: key, when sent
  struct Due {
    PacketInfo packet;
    uint8_t chassis;
    Nanos at;
  };
  std::vector<Due> due;  // packets the endpoints send, when they are due
  Outcome out;
  for (uint8_t ch : {1, 2}) {
    paths.push_back(std::make_unique<PacketPath>(*c.blade(ch, 1)));
    PacketPath* path = paths.back().get();
    c.blade(ch, 1)->set_packet_handler([path](const wire::PacketBatch& pb, bool fwd) { path->ProcessBatch(pb, fwd); });
    path->set_egress([&, ch](const PacketInfo& p) {
      const Nanos rtt_half = std::chrono::microseconds(100);
      // The server answers a SYN let through chassis 1 into chassis 2; the
      // client answers the SYN-ACK, wherever it was let through, into chassis 1.
      if (ch == 1 && p.tcp_flags == kTcpSyn) {
        for (auto& [key, at] : sent) {
          if (key == p.key) out.hold.push_back(c.sched().now() - at);
        }
        due.push_back(Due{PacketInfo{p.key.Reversed(), kTcpSyn | kTcpAck, 0, 2, 1}, 2, c.sched().now() + rtt_half});
      }
      if (p.tcp_flags == (kTcpSyn | kTcpAck)) due.push_back(Due{PacketInfo{p.key.Reversed(), kTcpAck, 0, 1, 2}, 1, c.sched().now() + rtt_half});
    });
  }
  // Runs the network in 20 us steps; each endpoint's packet goes when due.
  auto pump = [&](Nanos d) {
    for (Nanos t{0}; t < d; t += std::chrono::microseconds(20)) {
      c.RunFor(std::chrono::microseconds(20));
      std::vector<Due> now;
      for (auto it = due.begin(); it != due.end();) {
        if (it->at <= c.sched().now()) {
          now.push_back(*it);
          it = due.erase(it);
        } else {
          ++it;
        }
      }
      for (const Due& d : now) c.manager(d.chassis)->Ingress(d.packet);
    }
  };
  for (uint32_t i = 0; i < flows; ++i) {
    const SessionKey k = SessionKey::V4(0x0a000000 + i, 0xc6336401, static_cast<uint16_t>(30000 + i), 443, kProtoTcp);
    c.manager(1)->Ingress(PacketInfo{k, kTcpSyn, 0, 1, 2});
    sent.emplace_back(k, c.sched().now());
    pump(milliseconds(2));
  }
  pump(milliseconds(50));
  c.RunFor(milliseconds(100));
  for (uint8_t ch : {1, 2}) {
    const BladeCounters& b = c.blade(ch, 1)->counters();
    out.dropped += b.packets_dropped.get();
    out.deferred += b.packets_deferred.get();
    out.acked += b.deferred_acked.get();
    out.timed_out += b.deferred_timed_out.get();
  }
  for (const auto& [k, at] : sent) {
    if (auto id = c.blade(1, 1)->owned().Find(k)) out.established += c.blade(1, 1)->owned().rec(*id).proto_state == kTcpEstablished;
  }
  return out;
}

TEST(Defer, WithoutItARepliedThroughTheOtherChassisIsDropped) {
  const Outcome o = RunFlows(false, 50, milliseconds(1));
  EXPECT_EQ(o.deferred, 0u);
  EXPECT_EQ(o.dropped, 50u) << "every SYN-ACK beat its create to chassis 2";
  EXPECT_EQ(o.established, 0u);
}

TEST(Defer, WithItTheReplyFindsTheSessionAndTheSynWaitedForTheAck) {
  const Outcome o = RunFlows(true, 50, milliseconds(1));
  EXPECT_EQ(o.deferred, 50u);
  EXPECT_EQ(o.acked, 50u);
  EXPECT_EQ(o.timed_out, 0u);
  EXPECT_EQ(o.dropped, 0u);
  EXPECT_EQ(o.established, 50u);
  ASSERT_EQ(o.hold.size(), 50u);
  // Held about a sync round trip (1 ms each way), never past the bound.
  for (Nanos h : o.hold) {
    EXPECT_GE(h, milliseconds(2));
    EXPECT_LT(h, milliseconds(20));
  }
}

// A mirror slower than the bound: the SYN goes at the bound, unacknowledged
// and counted (the reply may then be dropped, as without defer).
TEST(Defer, TheBoundReleasesAnUnacknowledgedFirstPacket) {
  const Outcome o = RunFlows(true, 20, milliseconds(8), /*timeout_ms=*/5);
  EXPECT_EQ(o.deferred, 20u);
  EXPECT_EQ(o.timed_out, 20u);
  EXPECT_EQ(o.acked, 0u);
  ASSERT_EQ(o.hold.size(), 20u);
  for (Nanos h : o.hold) {
    EXPECT_GE(h, milliseconds(5));
    EXPECT_LT(h, milliseconds(8));
  }
}

// A hold registered after its session's create already went out (a flush
// on the spot: sync-max-batch 1, or the embedding API on an older session)
// is released by the acknowledgement, not left waiting.
TEST(Defer, AHoldAfterItsCreateWentOutIsReleasedByTheAck) {
  SimBlades c(2, 1, 83, [](BladeConfig& b) { b.max_batch = 1; });
  BladeAgent& owner = c.blade(1, 1);
  std::vector<uint32_t> ids;
  for (uint32_t i = 0; i < 8; ++i) ids.push_back(owner.CreateSession(TcpFacts(i), SessionState{kTcpSynSent, 0, 3600}));
  int acked = 0, bound = 0;
  for (uint32_t id : ids) owner.DeferUntilSynced(id, milliseconds(50), [&](bool a) { (a ? acked : bound)++; });
  c.RunFor(milliseconds(20));
  EXPECT_EQ(acked, 8);
  EXPECT_EQ(bound, 0);
  // Long after: an already-synced session's hold goes with the next ack round.
  c.RunFor(milliseconds(500));
  owner.DeferUntilSynced(ids[0], milliseconds(50), [&](bool a) { (a ? acked : bound)++; });
  c.RunFor(milliseconds(20));
  EXPECT_EQ(acked, 9);
  EXPECT_EQ(owner.counters().deferred_acked.get(), 9u);
}

// A session no mirror will ever hold (the pickup policy keeps it local) is
// not held; a bound outside 1 ms .. 1 s is clamped, and one mirror down
// does not hold anything up.
TEST(Defer, NothingWaitsForWhatNoMirrorWillHave) {
  SimBlades c(2, 1, 84);
  BladeAgent& owner = c.blade(1, 1);
  SessionFacts local = TcpFacts(1);
  local.flags = kFlagProxyInspected;
  const uint32_t id = owner.CreateSession(local, SessionState{kTcpSynSent, local.flags, 3600});
  int calls = 0;
  owner.DeferUntilSynced(id, milliseconds(20), [&](bool a) { calls += a ? 100 : 1; });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(owner.counters().deferred_unsynced.get(), 1u);
  // The mirror is gone: a hold goes once its links are down, not at the bound.
  const uint32_t id2 = owner.CreateSession(TcpFacts(2), SessionState{kTcpSynSent, 0, 3600});
  c.Kill(2, 1);
  c.RunFor(seconds(2));
  bool released = false;
  owner.DeferUntilSynced(id2, seconds(3600), [&](bool) { released = true; });  // clamped to 1 s
  c.RunFor(milliseconds(20));
  EXPECT_TRUE(released);
}

}  // namespace
}  // namespace bladesync::testing
