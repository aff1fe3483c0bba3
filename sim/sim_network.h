// SimNetwork: an in-memory network between simulated nodes, with faults.
//
// Every node gets a SimTransport (the Transport interface) bound to its own
// SimEventLoop. A frame is delivered after a latency drawn from the seeded
// generator; faults drop, duplicate, delay (reorder) frames, or cut M1, M2 or
// both between two chassis. All randomness comes from one seeded generator,
// so a run replays exactly.
//
//   SimNetwork net(sched, /*seed=*/42);
//   SimTransport& t = net.AddNode(NodeId{1, 1}, loop);
//   net.faults().drop = 0.05;
//   net.Cut(1, 2, Link::kM1);
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include "fabric/transport.h"
#include "sim/sim_event_loop.h"

namespace bladesync {

struct SimFaults {
  double drop = 0.0;        // probability a frame is lost
  double duplicate = 0.0;   // probability it arrives twice
  double delay = 0.0;       // probability it takes an extra (reordering) delay
  Nanos latency = std::chrono::microseconds(50);
  Nanos jitter = std::chrono::microseconds(20);
  Nanos extra_delay = milliseconds(5);
  bool faults_on_backplane = false;
  // Frames a sender may have on the way to one peer on one fabric link
  // before Send answers kQueueFull, as ZeroMQ's send high-water mark does
  // (0: unbounded).
  int send_queue = 0;
  // Extra one-way latency per link (M1, M2, backplane), e.g. a slow M2.
  std::array<Nanos, 3> link_latency{};
};

class SimNetwork;

class SimTransport : public Transport {
 public:
  SimTransport(SimNetwork& net, NodeId self, SimEventLoop& loop) : net_(net), self_(self), loop_(loop) {}
  SendResult Send(NodeId to, Link link, std::span<const uint8_t> frame) override;
  void SetReceiver(Receiver receiver) override { receiver_ = std::move(receiver); }
  NodeId self() const { return self_; }
  SimEventLoop& loop() { return loop_; }

 private:
  friend class SimNetwork;
  SimNetwork& net_;
  NodeId self_;
  SimEventLoop& loop_;
  Receiver receiver_;
};

class SimNetwork {
 public:
  SimNetwork(SimScheduler& sched, uint64_t seed) : sched_(sched), rng_(seed) {}

  // Adds a node, or replaces its transport (a restarted process gets a fresh one).
  SimTransport& AddNode(NodeId id, SimEventLoop& loop);
  SimFaults& faults() { return faults_; }
  void Cut(uint8_t a, uint8_t b, Link link) { cuts_.insert(Key(a, b, link)); }
  void Restore(uint8_t a, uint8_t b, Link link) { cuts_.erase(Key(a, b, link)); }
  bool is_cut(uint8_t a, uint8_t b, Link link) const { return cuts_.count(Key(a, b, link)) > 0; }
  // A node that is down receives nothing (its frames are lost).
  void SetDown(NodeId id, bool down);
  // Injects raw bytes as if `from` had sent them (hostile peer tests).
  // `key_of` models an authenticated link: the chassis whose key the sender
  // holds (0: the network's), as FrameMeta::authenticated_chassis; -1: none.
  void Inject(NodeId from, NodeId to, Link link, std::vector<uint8_t> bytes, int key_of = -1);

  // Sees every frame handed to the network (for replay and fuzz corpora).
  using Tap = std::function<void(NodeId from, NodeId to, Link link, std::span<const uint8_t> bytes)>;
  void set_tap(Tap tap) { tap_ = std::move(tap); }
  // Changes frames on their way (a peer of another release, in tests).
  using Rewrite = std::function<void(NodeId from, NodeId to, std::vector<uint8_t>& bytes)>;
  void set_rewrite(Rewrite rewrite) { rewrite_ = std::move(rewrite); }

  uint64_t delivered() const { return delivered_; }
  uint64_t dropped() const { return dropped_; }
  uint64_t duplicated() const { return duplicated_; }
  std::mt19937_64& rng() { return rng_; }

 private:
  friend class SimTransport;
  static std::tuple<uint8_t, uint8_t, Link> Key(uint8_t a, uint8_t b, Link l) {
    return {std::min(a, b), std::max(a, b), l};
  }
  SendResult Deliver(NodeId from, NodeId to, Link link, std::span<const uint8_t> frame);
  // (from chassis, from slot, to chassis, to slot, link): frames on their way.
  using QueueKey = std::tuple<uint8_t, uint8_t, uint8_t, uint8_t, Link>;
  void Schedule(NodeId to, Link link, std::shared_ptr<std::vector<uint8_t>> bytes, Nanos delay, uint8_t from_chassis,
                std::optional<QueueKey> queued = std::nullopt, int key_of = -1);
  bool Chance(double p);

  SimScheduler& sched_;
  std::mt19937_64 rng_;
  SimFaults faults_;
  std::map<std::pair<uint8_t, uint8_t>, std::unique_ptr<SimTransport>> nodes_;
  std::set<std::pair<uint8_t, uint8_t>> down_;
  std::set<std::tuple<uint8_t, uint8_t, Link>> cuts_;
  std::map<QueueKey, int> queued_;
  uint64_t delivered_ = 0, dropped_ = 0, duplicated_ = 0;
  Tap tap_;
  Rewrite rewrite_;
};

}  // namespace bladesync
