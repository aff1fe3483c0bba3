// TrafficGenerator: the embedded default session source.
//
// Realistic flow lifecycles at a configured rate and concurrency: TCP with
// handshake, data, then FIN close, RST, or going idle until its timer
// expires; UDP request/response then idle; ICMP echo. IPv4 and IPv6, with a
// share of NAT, flow- and proxy-inspected and management sessions so the
// pickup policy has real work. Deterministic from its seed: it returns the
// packets due up to a given time, and never reads a clock.
//
//   TrafficGenerator gen(options);
//   std::vector<PacketInfo> out;
//   gen.Generate(now, out);   // packets due up to `now`
#pragma once

#include <cstdint>
#include <queue>
#include <random>
#include <vector>

#include "api/packet.h"
#include "core/event_loop.h"

namespace bladesync {

struct TrafficOptions {
  uint32_t rate = 2000;            // new flows per second
  uint32_t concurrency = 50000;    // flows alive at once, at most
  uint32_t duration_s = 10;        // how long new flows start
  uint32_t tcp_percent = 70;
  uint32_t udp_percent = 25;       // the rest is ICMP
  uint32_t ipv6_percent = 20;
  uint32_t mean_lifetime_ms = 3000;
  uint32_t packet_interval_ms = 500;
  uint32_t idle_percent = 10;      // TCP flows that go quiet without FIN or RST
  uint32_t rst_percent = 10;
  uint32_t nat_percent = 20;
  uint32_t flow_inspected_percent = 20;
  uint32_t proxy_inspected_percent = 5;
  uint32_t local_percent = 1;      // management sessions to the cluster itself
  uint32_t sip_percent = 0;        // SIP calls (UDP 5060) with an RTP flow
  uint32_t gtp_percent = 0;        // GTP tunnels: GTP-C (2123) then GTP-U (2152) on the same addresses
  uint64_t seed = 1;
};

class TrafficGenerator {
 public:
  explicit TrafficGenerator(TrafficOptions options);

  // Appends every packet due at or before `now` (time since the generator started).
  void Generate(Nanos now, std::vector<PacketInfo>& out);
  // True once no new flow will start and every flow has sent its last packet.
  bool finished(Nanos now) const;
  uint64_t flows_started() const { return flows_started_; }
  uint64_t packets() const { return packets_; }
  size_t active_flows() const { return active_; }

 private:
  enum class Kind : uint8_t { kTcpClose, kTcpRst, kTcpIdle, kUdp, kIcmp };
  struct Flow {
    SessionKey key;
    uint16_t attrs;
    Kind kind;
    uint8_t step;
    Nanos end;
    bool alive;
  };
  struct Due {
    Nanos at;
    uint32_t flow;
    bool operator>(const Due& o) const { return at != o.at ? at > o.at : flow > o.flow; }
  };

  void StartFlow(Nanos now);
  // Starts one flow of a given kind and key at `at` (a companion flow).
  void AddFlow(const SessionKey& key, uint16_t attrs, Kind kind, Nanos at, Nanos end);
  // Emits the next packet of the flow; returns when the one after is due, or nothing.
  std::optional<Nanos> Step(Flow& f, Nanos now, std::vector<PacketInfo>& out);
  void Emit(const Flow& f, bool reply, uint8_t flags, std::vector<PacketInfo>& out);
  uint32_t Percent() { return static_cast<uint32_t>(rng_() % 100); }

  TrafficOptions opt_;
  std::mt19937_64 rng_;
  std::vector<Flow> flows_;
  std::vector<uint32_t> free_;
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_;
  Nanos next_start_{0};
  uint64_t flows_started_ = 0;
  uint64_t packets_ = 0;
  uint64_t port_counter_ = 0;
  size_t active_ = 0;
};

}  // namespace bladesync
