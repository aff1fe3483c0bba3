// SimBlades: N chassis x 1..S blades on the simulator, for tests.
//
//   SimBlades c(/*chassis=*/2, /*slots=*/1, /*seed=*/7);
//   uint32_t id = c.blade(1, 1).CreateSession(facts, state);
//   c.RunFor(milliseconds(500));
//   EXPECT_TRUE(c.MirrorsMatch());
#pragma once

#include <map>
#include <memory>
#include <string>

#include <cstdlib>

#include "blades/blade_agent.h"
#include "core/log.h"
#include "sim/sim_event_loop.h"
#include "sim/sim_network.h"

namespace bladesync::testing {

// Makes a blade; tests put in a broken one (tests/support/broken_blades.h).
using MakeBlade = std::function<std::unique_ptr<BladeAgent>(const BladeConfig&, EventLoop&, Transport&)>;

inline BladeConfig TestBladeConfig(uint8_t chassis, uint8_t slot, int n_chassis) {
  BladeConfig c;
  c.group_id = 1;  // the tests' forged frames say so
  c.chassis = chassis;
  c.slot = slot;
  for (int i = 1; i <= n_chassis; ++i) c.peers.push_back(static_cast<uint8_t>(i));
  c.pickup.session_pickup = true;
  c.pickup.connectionless = true;
  c.hb_interval = milliseconds(100);
  c.hb_lost_threshold = 3;
  c.retransmit_timeout = milliseconds(50);
  c.ack_delay = milliseconds(2);
  return c;
}

// Every mirror of every owner blade (same slot, each other chassis) holds
// exactly what the owner synced. blade_of(c, s) is null for a blade that is
// down: it is neither checked nor expected to mirror.
template <typename BladeOf>
bool MirrorsMatchAcross(int n_chassis, int n_slots, BladeOf blade_of, std::string* why) {
  for (int c = 1; c <= n_chassis; ++c) {
    for (int s = 1; s <= n_slots; ++s) {
      const BladeAgent* owner = blade_of(c, s);
      for (int m = 1; owner && m <= n_chassis; ++m) {
        const BladeAgent* mirror = m == c ? nullptr : blade_of(m, s);
        if (!mirror) continue;
        const StandbyTable* so = mirror->standby(static_cast<uint8_t>(c));
        if (!so || so->store().digest() != owner->owned().digest() || so->store().live() != owner->owned().counted()) {
          if (why) {
            *why = "chassis " + std::to_string(m) + " slot " + std::to_string(s) + " mirror of chassis " +
                   std::to_string(c) + ": " + std::to_string(so ? so->store().live() : 0) + " sessions vs owner " +
                   std::to_string(owner->owned().counted());
          }
          return false;
        }
      }
    }
  }
  return true;
}

class SimBlades {
 public:
  SimBlades(int n_chassis, int n_slots, uint64_t seed, std::function<void(BladeConfig&)> tweak = {},
            MakeBlade make_blade = {})
      : net_(sched_, seed),
        n_chassis_(n_chassis),
        n_slots_(n_slots),
        tweak_(std::move(tweak)),
        make_blade_(std::move(make_blade)) {
    // Thousands of simulated clusters per run: only warnings, unless asked.
    if (!std::getenv("BLADESYNC_TEST_LOG")) SetLogLevel(LogLevel::kWarn);
    // Every node is on the network before any blade starts, as processes
    // whose sockets are bound before they speak.
    for (int c = 1; c <= n_chassis; ++c) {
      for (int s = 1; s <= n_slots; ++s) {
        auto& n = nodes_[{c, s}];
        n.loop = std::make_unique<SimEventLoop>(sched_);
        net_.AddNode(NodeId{static_cast<uint8_t>(c), static_cast<uint8_t>(s)}, *n.loop);
      }
    }
    for (int c = 1; c <= n_chassis; ++c)
      for (int s = 1; s <= n_slots; ++s) Boot(static_cast<uint8_t>(c), static_cast<uint8_t>(s), 1);
  }

  // (Re)starts a blade with the given epoch: a fresh process, empty tables.
  BladeAgent& Boot(uint8_t chassis, uint8_t slot, uint32_t epoch) {
    auto& n = nodes_[{chassis, slot}];
    SimTransport* t = nullptr;
    if (n.agent || !n.loop) {  // a restart: the old process and its pending events are gone
      if (n.loop) n.loop->Kill();
      n.agent.reset();
      // Its queued events are dropped by generation: the loop outlives them.
      if (n.loop) retired_loops_.push_back(std::move(n.loop));
      n.loop = std::make_unique<SimEventLoop>(sched_);
      t = &net_.AddNode(NodeId{chassis, slot}, *n.loop);
    } else {
      t = &net_.AddNode(NodeId{chassis, slot}, *n.loop);
    }
    BladeConfig cfg = TestBladeConfig(chassis, slot, n_chassis_);
    cfg.epoch = epoch;
    if (tweak_) tweak_(cfg);
    n.agent = make_blade_ ? make_blade_(cfg, *n.loop, *t) : std::make_unique<BladeAgent>(cfg, *n.loop, *t);
    n.agent->Start();
    return *n.agent;
  }
  void Kill(uint8_t chassis, uint8_t slot) {
    auto& n = nodes_[{chassis, slot}];
    n.loop->Kill();
    net_.SetDown(NodeId{chassis, slot}, true);
  }
  void Revive(uint8_t chassis, uint8_t slot, uint32_t epoch) {
    net_.SetDown(NodeId{chassis, slot}, false);
    Boot(chassis, slot, epoch);
  }

  BladeAgent& blade(int chassis, int slot) { return *nodes_.at({chassis, slot}).agent; }
  SimNetwork& net() { return net_; }
  SimScheduler& sched() { return sched_; }
  void RunFor(Nanos d) { sched_.RunFor(d); }

  // Every mirror of every owner holds exactly the owner's synced sessions.
  bool MirrorsMatch(std::string* why = nullptr) {
    return MirrorsMatchAcross(n_chassis_, n_slots_, [&](int c, int s) { return &blade(c, s); }, why);
  }

 private:
  struct Node {
    std::unique_ptr<SimEventLoop> loop;
    std::unique_ptr<BladeAgent> agent;
  };
  SimScheduler sched_;
  std::vector<std::unique_ptr<SimEventLoop>> retired_loops_;
  SimNetwork net_;
  int n_chassis_, n_slots_;
  std::function<void(BladeConfig&)> tweak_;
  MakeBlade make_blade_;
  std::map<std::pair<int, int>, Node> nodes_;
};

inline SessionFacts TcpFacts(uint32_t i) {
  SessionFacts f;
  f.key = SessionKey::V4(0x0a000000 + i, 0xc6336401, static_cast<uint16_t>(1024 + (i % 60000)), 443, kProtoTcp);
  return f;
}

}  // namespace bladesync::testing
