// Prometheus metrics of one chassis process, built at scrape time from a
// plain copy (no Prometheus object is touched on the hot path).
//
// Names are bladesync_<thing>_<unit>, base units, labels of low cardinality
// only (chassis, slot, peer, link, op, reason, role, proto); never a session.
//
//   ChassisMetrics m = runtime.CollectMetrics();
//   std::vector<prometheus::MetricFamily> f = BuildMetricFamilies(m);
#pragma once

#include <array>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/metric_family.h>

#include "core/histogram.h"
#include "core/page_supply.h"

namespace bladesync {

struct StandbyMetrics {
  uint8_t owner = 0;
  std::array<uint64_t, 4> sessions{};  // tcp, udp, icmp, other
  bool in_sync = false;
  std::vector<FixedHistogram> lag;     // per link (m1, m2); empty when the blade is elsewhere
  std::vector<FixedHistogram> bulk_durations;
  double clock_offset_s = 0;
};

struct BladeMetrics {
  uint8_t slot = 0;         // the blade's slot
  int worker = -1;          // its worker (blade-workers > 1), else -1
  uint8_t worker_slot = 0;  // the worker's node (WorkerSlots): the slot with one worker
  bool live = false;
  bool ready = false;
  std::array<uint64_t, 4> owned{};
  std::vector<StandbyMetrics> standby;
  std::vector<std::pair<std::string, uint64_t>> counters;  // CounterList names
  std::map<uint8_t, uint64_t> unacked;                     // per peer: deltas sent, not acknowledged
  uint64_t change_log_entries = 0;
  uint64_t memory_bytes = 0;
  // config system conntrack: KernelSync counters by name ("events.new", ...).
  std::vector<std::pair<std::string, uint64_t>> conntrack;
};

struct PeerMetrics {
  uint8_t chassis = 0;
  bool alive = false;
  bool partitioned = false;
  std::array<bool, 2> link_up{};
  double clock_offset_s = 0;
  double rtt_s = 0;
  int config_sections_differ = 0;  // config sections whose checksums differ from ours
  std::string version;             // its release ("" from one that does not say)
  std::string schema;              // its wire schema version, "1.1"
  bool schema_compatible = true;   // same major as ours
};

struct ChassisMetrics {
  std::string cluster;  // the `cluster` label: group-name, or group-id when unnamed
  uint8_t chassis = 0;
  std::string role;
  bool ready = false;
  bool processes_traffic = false;
  uint64_t failovers = 0;
  double last_failover_s = 0;
  uint64_t split_brains_averted = 0;
  uint64_t held_up = 0;  // the manager's loop held up past two intervals
  uint64_t peer_restarts = 0;
  uint64_t blade_restarts = 0;  // blades back with a new epoch before they were marked dead
  uint64_t handovers_unfenced = 0;
  uint64_t ingress_packets = 0;
  uint64_t ingress_dropped = 0;
  uint64_t ingress_rerouted = 0;
  uint64_t ingress_no_live_slot = 0;
  uint64_t ingress_no_session = 0;
  uint64_t ingress_to_peer = 0;
  uint64_t ingress_from_peer = 0;
  uint64_t blade_takeovers = 0;
  uint64_t config_reload_errors = 0;
  uint64_t zap_accepted = 0;
  uint64_t zap_refused = 0;
  std::vector<std::pair<std::string, uint64_t>> manager_dropped;  // frames the manager refused, by reason
  uint64_t refused_handshakes = 0;
  uint64_t health_problems = 0;  // what get system ha status lists under problems  // CURVE handshakes refused (no CURVE, unknown key)
  uint64_t corrupt_frames = 0;  // frames every transport of this process dropped on their checksum
  // The traffic follows the primary (absent without cluster addresses).
  bool has_cluster_addresses = false;
  bool cluster_addresses_held = false;
  uint64_t takeover_errors = 0, announcements = 0;
  double takeover_wait_s = 0;
  // Remote link monitors: (name, up) and the score.
  std::vector<std::pair<std::string, bool>> link_monitors;
  uint32_t remote_link_score = 0;
  bool remote_link_failed = false;
  std::vector<BladeMetrics> blades;
  std::vector<PeerMetrics> peers;
};

std::vector<prometheus::MetricFamily> BuildMetricFamilies(const ChassisMetrics& m);

// bladesync_build_info{version, revision, compiler} 1 (prometheus-cpp 1.0.1 has no BuildInfo).
prometheus::MetricFamily BuildInfoFamily(const std::string& cluster);

// What the page supply did for this process's tables (PageSupply::counts():
// arrays taken ready, arrays asked for and not ready, that is faulted in on
// a sync thread, and times a table found its ask late and hurried it).
// Process-wide, not per blade.
std::vector<prometheus::MetricFamily> TableMemoryFamilies(const std::string& cluster, const PageSupply::Counts& c);

}  // namespace bladesync
