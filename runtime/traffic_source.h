// TrafficSource: the embedded traffic generator as the network in front of
// the cluster. It sends each packet to the manager (ingress) of the chassis
// that processes it: the primary in active-passive; in active-active each
// flow sticks to one live chassis by rendezvous hashing, and moves to a
// survivor when that chassis is gone, as an upstream ECMP switch would.
//
//   TrafficSource src(cfg, ctx, [&] { return ProcessingChassis(); });
//   src.Start();  ...  src.Stop();
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <functional>
#include <memory>
#include <vector>

#include "config/cluster_config.h"
#include "fabric/zmq_transport.h"
#include "runtime/address_book.h"
#include "runtime/node_thread.h"
#include "blades/packet.h"
#include "traffic/traffic_generator.h"

namespace bladesync {

class TrafficSource {
 public:
  using Targets = std::function<std::vector<uint8_t>()>;
  // `targets` may block (it can ask control sockets): it runs on its own
  // thread every 50 ms, never on the packet thread.
  TrafficSource(const ClusterConfig& cfg, FabricContext& ctx, Targets targets);
  ~TrafficSource();
  Status Start();
  void Stop();
  bool finished() const { return finished_.load(); }
  uint64_t flows_started() const { return flows_.load(); }
  uint64_t packets_sent() const { return sent_.load(); }
  uint64_t packets_unroutable() const { return unroutable_.load(); }

 private:
  void Tick();
  const ClusterConfig& cfg_;
  FabricContext& ctx_;
  Targets targets_;
  ConfigAddressBook book_;
  NodeThread thread_{"traffic"};
  std::unique_ptr<ZmqTransport> transport_;
  std::unique_ptr<TrafficGenerator> gen_;
  std::unique_ptr<PeriodicTask> tick_;
  std::vector<PacketInfo> scratch_;
  std::vector<std::vector<wire::Packet4>> p4_;
  std::vector<std::vector<wire::Packet6>> p6_;
  flatbuffers::FlatBufferBuilder fbb_{64 * 1024};
  Nanos start_{0};
  std::vector<uint8_t> targets_cache_;
  std::mutex targets_mu_;
  std::condition_variable targets_cv_;
  std::vector<uint8_t> targets_latest_;
  bool stopping_ = false;
  std::thread poller_;
  std::atomic<bool> finished_{false};
  std::atomic<uint64_t> flows_{0}, sent_{0}, unroutable_{0};
  bool started_ = false;
};

}  // namespace bladesync
