// ClusterConfig: the typed bladesync configuration, read from a FortiOS-style
// CLI file (see examples/demo.conf for every option).
//
//   config system ha              group-id, mode, hb-interval (-in-milliseconds), hb-lost-threshold,
//                                 session-pickup*, override, priority, monitor, ...
//     config session-sync-filter  srcintf, dstintf, srcaddr, dstaddr, srcaddr6,
//                                 dstaddr6, config custom-service
//     config chassis              edit <id>: priority, serial, m1, m2, backplane,
//                                 sync-port, control, public-key, private-key[-file]
//   config system session-ttl     default
//   config system global          tcp-halfopen-timer, tcp-halfclose-timer, ...
//   config system interface       edit <name>: index, device, ip, ip6
//   config system link-monitor    edit <name>: srcintf, server, protocol,
//                                 interval, failtime, recoverytime, ha-priority
//   config firewall address(6)    edit <name>: subnet / ip6
//   config load-balance setting   dp-load-distribution-method, ...
//   config load-balance flow-rule edit <id>: ...
//   config traffic-generator      rate, concurrency, duration, ...
//   config system conntrack       status, event-buffer-size, resync-interval,
//                                 tcp-window-tracking, ignore-address, ...
//
// Every error names the file, the line and the option.
//
//   Result<ClusterConfig> cfg = LoadClusterConfigFile("examples/demo.conf");
//   BladeConfig blade = cfg->ForBlade(1, 3);
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "blades/blade_config.h"
#include "config/config_options.h"
#include "conntrack/conntrack_options.h"
#include "fabric/transport.h"
#include "core/status.h"
#include "manager/distributor.h"
#include "traffic/traffic_generator.h"

namespace bladesync {

struct ChassisConfig {
  uint8_t id = 0;
  uint8_t priority = 128;
  std::string serial;
  std::string m1;          // address of the M1 link
  std::string m2;          // address of the M2 link
  std::string backplane;   // address (tcp) or "inproc" for in-process blades
  uint16_t sync_port = 27100;
  std::string control;     // Unix socket of the CLI (default /run/bladesync/chassis<N>.sock)
  std::string metrics;     // host:port of /metrics ("" = off; port 0 = any)
  std::string check;       // host:port peers probe outside M1/M2 (split-brain guard)
  std::string public_key;  // CURVE, Z85
  std::string private_key;       // CURVE secret: the 40 Z85 characters themselves
  std::string private_key_file;  // or the absolute path of a file holding them
  // a-a: the addresses this chassis takes traffic on (interface, address);
  // it holds them, and the survivor that adopts its sessions takes them over.
  std::vector<std::pair<std::string, AddrPrefix>> traffic_addresses;
  int line = 0;
};

// `config system interface` / `edit <name>`: where the interface is on this
// host, and the cluster addresses the primary holds on it.
struct InterfaceConfig {
  std::string name;
  uint8_t index = 0;
  std::string device;                 // the Linux interface (default: the name)
  std::vector<AddrPrefix> addresses;  // set ip / set ip6: held by the primary only
  int line = 0;
};

// `config system link-monitor` / `edit <name>`: remote servers pinged out of
// an interface (FortiOS remote link failover).
struct LinkMonitorConfig {
  std::string name;
  std::string srcintf;           // a config system interface name
  std::vector<IpAddr> servers;   // IPv4; the monitor fails when every one does
  uint32_t interval_ms = 500;
  uint32_t failtime = 5;         // probes missed in a row before a server is down
  uint32_t recoverytime = 5;     // probes answered in a row before it is up again
  uint32_t ha_priority = 1;      // what a failed monitor adds to the chassis's score
  int line = 0;
};

struct ClusterConfig {
  std::string source;                  // file the config came from
  uint32_t group_id = 0;
  std::string group_name;
  HaMode mode = HaMode::kActivePassive;
  int hb_interval = 2;                 // in hb-interval-in-milliseconds units, 1..20
  int hb_unit_ms = 100;                // hb-interval-in-milliseconds: 100ms or 10ms
  int hb_lost_threshold = 6;           // 1..60
  bool override_ = false;
  std::vector<std::string> monitor;    // monitored interfaces
  int monitor_line = 0;                // where `set monitor` is (check-config names it)
  int notify_script_line = 0;
  int slots = 4;                       // blades per chassis
  int blade_workers = 1;               // blade-workers: sync workers (cores) per blade
  int blade_workers_line = 0;
  WorkerSlots worker_slots() const { return WorkerSlots{blade_workers}; }
  // Fabric nodes per chassis besides the manager: every worker of every blade.
  int worker_slot_count() const { return slots * blade_workers; }
  bool curve = false;                  // CURVE with keys per chassis (set curve enable)
  std::string password;                // HA password: CURVE keys derived from it
  bool authentication = true;          // `set authentication disable`: run unauthenticated, on purpose
  int ha_line = 0;                     // line of 'config system ha', for cross-block errors
  uint32_t blade_hb_lost_threshold = 5;
  uint32_t hello_holddown_s = 2;       // hello-holddown
  uint32_t ha_uptime_diff_margin_s = 300;  // uptimes this close count as equal in the election
  std::string notify_script;           // run on every role change (absolute path; "" none)
  uint32_t notify_script_timeout_s = 10;
  // Traffic follows the primary (config system ha).
  bool virtual_mac = false;            // 00:09:0f:09:<group-id>:<interface index> on the primary
  bool gratuitous_arps = true;
  uint32_t arps = 5;                   // announcements per address after becoming primary
  uint32_t arps_interval_s = 8;
  bool link_failed_signal = false;     // down other monitored interfaces ~1 s on a monitor failover
  std::vector<std::string> pingserver_monitor_interface;  // link monitors on these count in the election
  int pingserver_line = 0;
  uint32_t pingserver_failover_threshold = 0;
  uint32_t pingserver_flip_timeout_min = 60;
  std::vector<LinkMonitorConfig> link_monitors;

  PickupOptions pickup;
  SessionTimers timers;
  DistributionOptions distribution;
  TrafficOptions traffic;
  ConntrackOptions conntrack;          // config system conntrack

  // Fabric limits (bladesync options in config system ha).
  uint32_t change_log_capacity = 1u << 20;
  uint32_t max_batch = 2048;
  uint32_t max_sessions = 4u << 20;
  uint32_t table_reserve = 0;          // session-table-reserve
  uint32_t bulk_sync_timeout_s = 30;
  uint32_t bulk_sync_retries = 3;

  std::vector<ChassisConfig> chassis;
  std::map<std::string, uint8_t> interfaces;  // name -> index
  std::map<std::string, InterfaceConfig> interface_config;  // the entries of config system interface

  // Every option as the file sets it (a reload names what changed), and
  // the checksums of its cluster-wide part (chassis compare them).
  ConfigOptions options;
  ConfigChecksums checksums;

  Nanos hb_interval_ns() const { return milliseconds(hb_unit_ms) * hb_interval; }
  // How long a silent peer's check address may take to answer: two
  // intervals, and never under 100 ms (at 10 ms units one slow answer would
  // read as a dead peer, and both sides would take the role).
  Nanos peer_probe_timeout() const { return std::max<Nanos>(hb_interval_ns() * 2, milliseconds(100)); }
  // The cluster's name in metrics: group-name, or the group-id when unnamed.
  std::string cluster_label() const { return group_name.empty() ? std::to_string(group_id) : group_name; }
  // How M1, M2 and the backplane are authenticated.
  enum class FabricAuth { kOff, kKeys, kPassword };
  FabricAuth fabric_auth() const {
    return curve ? FabricAuth::kKeys : !password.empty() ? FabricAuth::kPassword : FabricAuth::kOff;
  }
  // Every M1, M2 and backplane address is loopback (or in-process).
  bool loopback_only() const;
  const ChassisConfig* FindChassis(uint8_t id) const;
  // A worker's config: `worker_slot` as WorkerSlots numbers it (the blade's
  // slot with one worker). max-sessions and session-table-reserve are per
  // blade: each worker gets its share.
  BladeConfig ForBlade(uint8_t chassis, uint8_t worker_slot, uint32_t epoch = 1) const;
  std::optional<std::string> InterfaceName(uint8_t index) const;
  // The Linux device of a configured interface (`set device`, else its name).
  std::string DeviceOf(const std::string& name) const;
  // Interfaces holding cluster addresses, in name order.
  std::vector<const InterfaceConfig*> ClusterInterfaces() const;
};

Result<ClusterConfig> LoadClusterConfig(const std::string& text, const std::string& file);
// What is valid but most likely not meant, one line each with file and line:
// link monitors that count nothing, virtual-mac with no cluster interface.
std::vector<std::string> ConfigWarnings(const ClusterConfig& cfg);
Result<ClusterConfig> LoadClusterConfigFile(const std::string& path);

}  // namespace bladesync
