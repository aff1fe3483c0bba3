// Status reports of a chassis as JSON, for the CLI (--json) and the demo.
//
//   get system ha status        -> HaStatusJson
//   diagnose sys session sync   -> SessionSyncJson
#pragma once

#include <string>
#include <vector>

#include "config/cluster_config.h"
#include "manager/chassis_manager.h"

namespace bladesync {

// What the operator needs to know about the config in force.
struct ConfigState {
  std::string source;
  uint64_t reloads = 0;
  uint64_t reload_errors = 0;
  std::string last_error;
  bool session_pickup = false;
  bool connectionless = false;
  // Fabric security: CURVE on M1/M2 and what the ZAP handler decided.
  bool curve = false;                 // CURVE on the fabric (password or keys)
  std::string authentication = "off";  // password, keys or off
  uint64_t zap_accepted = 0;
  uint64_t zap_refused = 0;
  uint64_t refused_handshakes = 0;  // every inbound socket: no CURVE, unknown key
  std::string public_key;           // this chassis's CURVE key, Z85
  std::string metrics;  // host:port of /metrics
  std::vector<std::string> monitored_down;  // monitored interfaces that are down, by name
  std::vector<std::string> monitored_missing;  // of those, the ones this host does not have
  // The traffic follows the primary (netif/traffic_takeover.h).
  struct Takeover {
    bool configured = false;  // the config has cluster addresses
    bool held = false;        // this chassis holds them now
    bool waiting = false;     // primary, waiting for its blades to hold the adopted sessions
    size_t in_place = 0, total = 0;  // addresses the last take put in place, of all
    std::vector<std::string> addresses;  // "lan 10.0.1.1/24", ...
    std::vector<std::string> missing;    // devices of cluster interfaces this host lacks
    std::string virtual_mac;             // "" when virtual-mac is disabled
    uint64_t takes = 0, releases = 0, errors = 0, announcements = 0, link_failed_signals = 0;
    double last_wait_ms = 0;
  } takeover;
  // a-a: the traffic addresses of each chassis, and whether this one holds them.
  struct TrafficAddresses {
    uint8_t chassis = 0;
    bool held = false;
    std::vector<std::string> addresses;
  };
  std::vector<TrafficAddresses> traffic_addresses;
  // standby-in-kernel's guard: "raised" (not primary), "lowered", "" (none).
  std::string standby_guard;
  uint64_t standby_guard_errors = 0;
  // Remote link monitors (config system link-monitor).
  struct LinkMonitor {
    std::string name, srcintf;
    bool counted = false;  // on a pingserver-monitor-interface
    bool failed = false;
    uint32_t ha_priority = 0;
    struct Server {
      std::string address;
      bool up = true;
      uint64_t sent = 0, received = 0;
      double rtt_ms = 0;
    };
    std::vector<Server> servers;
  };
  std::vector<LinkMonitor> link_monitors;
  bool remote_link_failed = false;
  uint32_t remote_link_score = 0;
  uint32_t pingserver_failover_threshold = 0;
  double remote_link_hold_down_s = 0;  // left of pingserver-flip-timeout
  // set notify-script: what its runs came to ("" when none is set).
  std::string notify_script;
  uint64_t notify_runs = 0, notify_failed = 0, notify_timed_out = 0;
};

// Why the cluster is not healthy, one line each (empty: healthy): not
// ready, blades down, peers lost or partitioned, mirrors of live peers not in
// sync, monitored interfaces down, the last reload refused, a peer whose
// config differs.
std::vector<std::string> HealthProblems(const ChassisManager& m, const ConfigState& cs);

std::string HaStatusJson(const ChassisManager& m, const ClusterConfig& cfg, const ConfigState& cs);
std::string SessionSyncJson(const ChassisManager& m);
std::string HaStatusText(const ChassisManager& m, const ClusterConfig& cfg, const ConfigState& cs);
std::string SessionSyncText(const ChassisManager& m);
std::string Hex64(uint64_t v);
// A peer's wire schema version as status and metrics show it: "1.1".
std::string SchemaName(const PeerView& p);
// The names of the config sections whose checksums differ.
std::vector<std::string> DifferingSections(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);
// diagnose sys ha checksum show (this chassis) / cluster (every chassis).
std::string ChecksumText(const ChassisManager& m, bool cluster);
std::string ChecksumJson(const ChassisManager& m, bool cluster);

}  // namespace bladesync
