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
// The names of the config sections whose checksums differ.
std::vector<std::string> DifferingSections(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);
// diagnose sys ha checksum show (this chassis) / cluster (every chassis).
std::string ChecksumText(const ChassisManager& m, bool cluster);
std::string ChecksumJson(const ChassisManager& m, bool cluster);

}  // namespace bladesync
