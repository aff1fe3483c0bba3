// Transport: how blades and managers send frames to each other.
//
// A frame is a byte string sent to a node over one link. Delivery is best
// effort, like a datagram: frames can be lost, duplicated or reordered, and
// every guarantee lives above this interface (sequence numbers, acks, NACKs).
// Production uses ZeroMQ (fabric/zmq_transport.h); tests use the in-memory
// network of sim/sim_network.h.
//
//   transport.SetReceiver([&](const FrameMeta& m, std::span<const uint8_t> f) { ... });
//   transport.Send(NodeId{2, 1}, Link::kM1, bytes);
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

namespace bladesync {

// M1 and M2 are the chassis management links the fabric runs on; the
// backplane connects a chassis manager with its own blades.
enum class Link : uint8_t { kM1 = 0, kM2 = 1, kBackplane = 2 };
inline constexpr int kFabricLinks = 2;
inline constexpr int kFabricLinksCount = kFabricLinks;
const char* LinkName(Link link);

// A blade is (chassis, slot >= 1); slot 0 is the chassis manager. A blade
// with several workers (blade-workers) is one node per worker: see WorkerSlots.
struct NodeId {
  uint8_t chassis = 0;
  uint8_t slot = 0;
  bool operator==(const NodeId&) const = default;
  bool is_manager() const { return slot == 0; }
  std::string ToString() const;
};

// Workers: a blade can run W workers, each owning the sessions of its shard
// (the same symmetric hash on every chassis) and mirroring the same worker
// of the blade in the same slot of every peer chassis. The fabric, the
// streams and the manager address a worker by its worker slot: worker w
// (0-based) of the blade in slot s is (s - 1) * W + w + 1, so with one
// worker (the default) a worker slot is the blade's slot.
struct WorkerSlots {
  int workers = 1;
  uint8_t Of(uint8_t blade_slot, int worker) const {
    return static_cast<uint8_t>((blade_slot - 1) * workers + worker + 1);
  }
  uint8_t BladeOf(uint8_t worker_slot) const { return static_cast<uint8_t>((worker_slot - 1) / workers + 1); }
  int WorkerOf(uint8_t worker_slot) const { return (worker_slot - 1) % workers; }
  // What people read: "slot 2", or "slot 2 worker 1" with several workers.
  std::string Name(uint8_t worker_slot) const {
    if (workers == 1) return "slot " + std::to_string(worker_slot);
    return "slot " + std::to_string(BladeOf(worker_slot)) + " worker " + std::to_string(WorkerOf(worker_slot));
  }
};
// At most this many worker slots per chassis (blades x workers).
inline constexpr int kMaxWorkerSlots = 64;

struct FrameMeta {
  Link link = Link::kM1;
  // The chassis whose CURVE key the transport verified (0: the network in
  // front of the cluster), or -1 when the transport does not authenticate
  // (in-memory, in-process backplane, authentication off).
  int authenticated_chassis = -1;
};

enum class SendResult { kSent, kQueueFull, kNoRoute, kClosed };

class Transport {
 public:
  using Receiver = std::function<void(const FrameMeta&, std::span<const uint8_t>)>;
  virtual ~Transport() = default;
  virtual SendResult Send(NodeId to, Link link, std::span<const uint8_t> frame) = 0;
  // Opens the way to a node ahead of the first frame, so that frame is not
  // refused while a connection is still being set up. Optional.
  virtual void Prepare(NodeId to, Link link) {}
  // Frames are delivered on the owner's EventLoop.
  virtual void SetReceiver(Receiver receiver) = 0;
};

}  // namespace bladesync
