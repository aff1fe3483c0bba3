// ChassisRuntime: one chassis (or some of its blades) in this process.
//
// The manager and every blade each get their own thread with an
// AsioEventLoop and a ZmqTransport (M1 and M2 over TCP, the backplane over
// inproc or TCP). The manager also serves the control socket the CLI uses.
//
//   FabricContext ctx;
//   ChassisRuntime rt(cfg, /*chassis=*/1, RuntimeOptions{}, ctx);
//   if (Status s = rt.Start(); !s.ok()) ...
//   std::string json = rt.Control("get system ha status");
//   rt.Stop();
#pragma once

#include <atomic>
#include <mutex>
#include <memory>
#include <utility>
#include <vector>

#include "api/blade.h"
#include "blades/blade_agent.h"
#include "conntrack/conntrack_source.h"
#include "conntrack/standby_guard.h"
#include "blades/packet_path.h"
#include "config/cluster_config.h"
#include "fabric/zap_handler.h"
#include "fabric/zmq_transport.h"
#include "manager/chassis_manager.h"
#include "runtime/address_book.h"
#include "runtime/blade_beat.h"
#include "runtime/control_server.h"
#include "runtime/loop_watchdog.h"
#include "runtime/role_hook.h"
#include "runtime/status_page.h"
#include "runtime/node_thread.h"
#include "runtime/peer_check.h"
#include "monitoring/metrics.h"
#include "netif/icmp_prober.h"
#include "netif/linux_interfaces.h"
#include "netif/remote_link_monitors.h"
#include "netif/traffic_takeover.h"
#include <prometheus/exposer.h>
#include "runtime/status_report.h"

namespace bladesync {

struct ChassisState {
  HaRole role = HaRole::kUnknown;
  uint8_t primary = 0;
  int live_blades = 0;
  bool ready = false;
  bool processes_traffic = false;
};

struct RuntimeOptions {
  bool run_manager = true;
  std::vector<uint8_t> slots;  // blades to run here; empty with run_manager = all slots
  bool all_slots = true;
  uint32_t epoch = 0;          // 0: derived from the wall clock (bumps on every restart)
  std::string metrics;         // overrides the chassis's `set metrics` (e.g. per blade process)
  std::string thread_prefix;   // before the thread names: "c2/" when one process runs several chassis
  // The blades' sessions come from an embedder (api::EmbeddedBlade): no
  // packet path takes packets, no kernel conntrack source runs.
  bool embedded = false;
};

class ChassisRuntime {
 public:
  ChassisRuntime(const ClusterConfig& cfg, uint8_t chassis, RuntimeOptions opt, FabricContext& ctx);
  ~ChassisRuntime();

  Status Start();
  void Stop();
  // As kill -9 would look from the network: every node's sockets close at
  // once (LINGER 0), nothing more is sent, not even a last heartbeat, and
  // the manager and blades stop deciding anything (their tables stay
  // readable). Stop() then releases the rest. The demo's failover uses it.
  void Crash();

  // Re-reads the config file: options that can change at runtime (pickup
  // options, session timers) go to every blade; a file with errors, or one
  // that changes the cluster's shape, is refused and the running config stays.
  Status Reload(const std::string& path);

  // Runs one control command on the manager's loop; the reply is JSON.
  std::string Control(const std::string& command);
  // The status page's data: get system ha status, and the sync lag totals.
  std::string StatusJson();
  HaRole role() const { return role_.load(); }
  ChassisState State();
  // Everything /metrics shows, gathered on the manager's and blades' threads.
  ChassisMetrics CollectMetrics();
  // host:port /metrics is served on ("" when off).
  std::string metrics_endpoint() const { return metrics_endpoint_; }
  // The process's ZAP handler (CURVE admission), for status; may be null.
  void set_zap(const ZapHandler* zap) { zap_ = zap; }
  uint8_t chassis() const { return chassis_; }
  uint32_t epoch() const { return epoch_; }
  bool has_manager() const { return manager_ != nullptr; }
  // Runs fn(blade) on the blade's own thread and returns its result.
  template <typename F>
  auto OnBlade(uint8_t slot, F&& fn) -> decltype(fn(std::declval<BladeAgent&>())) {
    Blade& b = *blades_.at(slot_index_.at(slot));
    return b.thread.Call([&] { return fn(*b.agent); });
  }
  // The same with the embedding API's handle: waits (runs at once when
  // called on the blade's own thread), or returns at once.
  void RunOnBlade(uint8_t slot, const std::function<void(api::Blade&)>& fn);
  void PostToBlade(uint8_t slot, std::function<void(api::Blade&)> fn);
  std::vector<uint8_t> slots() const;
  // Every event loop of this chassis in this process, for the watchdog.
  std::vector<LoopWatchdog::Watched> loops();
  // The first bulk sync from every peer is done or given up on every blade
  // here (what systemd's READY=1 waits for). Blocks on the nodes' threads.
  bool Settled();
  // One line for systemd's STATUS=, from what the threads last published.
  std::string ServiceStatus() const;

 private:
  struct Blade {
    explicit Blade(std::string name) : thread(std::move(name)) {}
    NodeThread thread;
    std::unique_ptr<ZmqTransport> transport;
    std::unique_ptr<BladeAgent> agent;
    std::unique_ptr<api::Blade> api;  // the embedding API's handle (conntrack, embedders)
    std::unique_ptr<PacketPath> path;
    std::unique_ptr<ConntrackSource> conntrack;  // config system conntrack: the kernel's table
  };
  // A worker's node as a blade's slot and worker (what status and metrics show).
  void PlaceWorker(uint8_t worker_slot, BladeMetrics* b) const;
  uint64_t RefusedHandshakes() const;
  // (accepted, refused) by the process's ZAP handler and the manager's.
  std::pair<uint64_t, uint64_t> ZapCounts() const;
  ConfigState CurrentConfigState() const;
  std::string ListSessions(const std::vector<std::string>& words, bool text);  // every transport of this process, atomic counters
  std::string HandleControl(const std::string& command);
  // Connected monitored interfaces: forced state if set, else the system's.
  int MonitoredUp() const;
  std::vector<std::string> MonitoredDown() const;
  // Set up what moves the traffic and watches remote links (before the manager starts).
  RemoteLinkMonitorOptions MakeLinkMonitorOptions() const;
  // On the manager's loop: the role changed. Traffic first, then the hook.
  void OnRoleChange(HaRole old, HaRole now);

  const ClusterConfig& cfg_;
  uint8_t chassis_;
  RuntimeOptions opt_;
  FabricContext& ctx_;
  ConfigAddressBook book_;
  uint32_t epoch_ = 0;
  std::unique_ptr<NodeThread> manager_thread_;
  // The manager's sockets have a ZeroMQ context, and so an I/O thread, of
  // their own (and its ZAP handler, on the manager's loop): in the
  // process's, heartbeats queued behind the blades' sync frames under load.
  std::unique_ptr<FabricContext> manager_ctx_;
  std::unique_ptr<ZapHandler> manager_zap_;
  std::unique_ptr<ZmqTransport> manager_transport_;
  std::unique_ptr<ChassisManager> manager_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<PeerCheck> peer_check_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<prometheus::Collectable> collector_;
  std::unique_ptr<StatusPage> status_page_;  // / and /status.json beside /metrics
  std::unique_ptr<RoleHook> role_hook_;      // set notify-script
  mutable LinuxInterfaces host_;             // this host's interfaces (stateless: const methods may ask)
  std::unique_ptr<TrafficTakeover> takeover_;            // cluster addresses, virtual MAC (manager thread)
  std::unique_ptr<IcmpProber> prober_;                   // link monitors' pings (manager thread)
  std::unique_ptr<RemoteLinkMonitors> link_monitors_;
  std::unique_ptr<StandbyGuard> guard_;
  // a-a: every chassis's traffic addresses this one may hold: its own, and
  // a lost chassis's once it adopted that chassis's sessions (manager thread).
  std::map<uint8_t, std::unique_ptr<TrafficTakeover>> traffic_addresses_;
  std::unique_ptr<PeriodicTask> traffic_addresses_task_;
  void UpdateTrafficAddresses();  // standby-in-kernel: drops mirrored sessions' packets while not primary
  std::string metrics_endpoint_;
  std::vector<std::unique_ptr<Blade>> blades_;
  std::unique_ptr<BladeBeat> beat_;  // the blades' liveness, from a thread of its own
  std::map<uint8_t, size_t> slot_index_;
  std::atomic<HaRole> role_{HaRole::kUnknown};
  std::atomic<uint8_t> primary_{0};
  const ZapHandler* zap_ = nullptr;
  std::map<std::string, bool> monitor_forced_;  // manager thread only
  ConfigOptions running_options_;  // what the last good load or reload set (config_mu_)
  ConfigState config_state_;   // guarded by config_mu_
  mutable std::mutex config_mu_;
  bool started_ = false;
  Nanos started_at_{0};  // steady clock, for Settled()
  std::string public_key_;  // this chassis's CURVE key (Z85; "" when unauthenticated)
};

// What chassis `chassis` holds as primary (a-p cluster addresses), and the
// a-a traffic addresses of `owner` as chassis `chassis` would hold them.
TakeoverOptions TakeoverOptionsFor(const ClusterConfig& cfg, uint8_t chassis);
TakeoverOptions TrafficAddressOptionsFor(const ClusterConfig& cfg, uint8_t chassis, const ChassisConfig& owner);
// bladesync release: what a chassis whose daemon died left on this host
// (cluster and traffic addresses, the virtual MAC) goes, as at a start.
// Returns the steps that failed.
size_t ReleaseAddresses(const ClusterConfig& cfg, uint8_t chassis);

// Epoch for a process that starts now: deciseconds since 2025-01-01 by the
// wall clock, so every restart gets a larger one.
uint32_t EpochFromWallClock(Nanos wall_now);

}  // namespace bladesync
