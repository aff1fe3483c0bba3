#include "runtime/chassis_runtime.h"

#include "core/version.h"

#include <fstream>
#include <sstream>
#include <tuple>

#include <algorithm>

#include "core/json.h"
#include "core/log.h"
#include "core/page_supply.h"
#include "core/thread_priority.h"
#include "runtime/fabric_security.h"
#include "runtime/session_list.h"
#include "runtime/status_report.h"

namespace bladesync {

// The IP address in "10.0.0.1", "10.0.0.1:27100", "[fd00::1]:9" or
// "tcp://10.0.0.1:5"; nothing for "inproc" or names.
static std::optional<IpAddr> HostAddress(std::string a) {
  if (auto p = a.find("://"); p != std::string::npos) a = a.substr(p + 3);
  if (!a.empty() && a[0] == '[') {
    a = a.substr(1, a.find(']') - 1);
  } else if (std::count(a.begin(), a.end(), ':') == 1) {
    a = a.substr(0, a.find(':'));
  }
  return IpAddr::Parse(a);
}

void ChassisRuntime::OnRoleChange(HaRole old, HaRole now) {
  primary_.store(manager_->primary());
  role_.store(now);
  const bool was_primary = old == HaRole::kPrimary || old == HaRole::kStandalone;
  const bool is_primary = now == HaRole::kPrimary || now == HaRole::kStandalone;
  // Traffic first: a demoted chassis drops its addresses before anything
  // else; a promoted one forwards its mirrored sessions before they come.
  if (guard_ && is_primary && !was_primary) guard_->Want(false);  // the addresses wait for it (TrafficReady below)
  if (takeover_) takeover_->SetPrimary(is_primary && cfg_.mode == HaMode::kActivePassive);
  if (guard_ && was_primary && !is_primary) guard_->Want(true);
  if (cfg_.link_failed_signal && was_primary && !is_primary) {
    // link-failed-signal: only when a monitored interface cost us the role.
    auto winner = manager_->peers().find(manager_->primary());
    const std::vector<std::string> down = MonitoredDown();
    const int up = static_cast<int>(cfg_.monitor.size() - down.size());
    if (winner != manager_->peers().end() && winner->second.monitored_up > up) {
      std::vector<std::string> devices;
      for (const std::string& name : cfg_.monitor) {
        if (std::find(down.begin(), down.end(), name) == down.end()) devices.push_back(cfg_.DeviceOf(name));
      }
      if (takeover_) takeover_->SignalLinkFailure(devices);
    }
  }
  UpdateTrafficAddresses();
  if (role_hook_) role_hook_->RoleChanged(HaRoleName(old), HaRoleName(now), manager_->primary());
}

// a-a: this chassis holds its own traffic addresses while it processes
// traffic, and a lost chassis's once it adopted that chassis's sessions
// (the primary among the survivors does), until that chassis is back and
// ready; then it lets go and the owner, seeing that in our heartbeats,
// takes them back.
void ChassisRuntime::UpdateTrafficAddresses() {
  if (traffic_addresses_.empty() || !manager_) return;
  const HaRole role = manager_->role();
  std::vector<uint8_t> held;
  for (auto& [id, t] : traffic_addresses_) {
    bool want = false;
    if (id == chassis_) {
      want = role != HaRole::kUnknown;
    } else if (auto p = manager_->peers().find(id); p != manager_->peers().end()) {
      const PeerView& pv = p->second;
      const bool back = pv.alive && pv.ready && pv.role != HaRole::kUnknown;
      want = role != HaRole::kUnknown && pv.adopted_epoch != 0 && !back;
    }
    t->SetPrimary(want);
    if (t->held()) held.push_back(id);
  }
  manager_->SetHeldAddresses(std::move(held));
}

TakeoverOptions TakeoverOptionsFor(const ClusterConfig& cfg, uint8_t chassis) {
  TakeoverOptions o;
  for (const InterfaceConfig* ic : cfg.ClusterInterfaces()) {
    o.interfaces.push_back(TakeoverInterface{ic->name, ic->device, ic->index, ic->addresses});
  }
  o.group_id = cfg.group_id;
  o.virtual_mac = cfg.virtual_mac;
  o.gratuitous_arps = cfg.gratuitous_arps;
  o.arps = cfg.arps;
  o.arps_interval = seconds(cfg.arps_interval_s);
  o.who = "chassis " + std::to_string(chassis);
  return o;
}

TakeoverOptions TrafficAddressOptionsFor(const ClusterConfig& cfg, uint8_t chassis, const ChassisConfig& owner) {
  TakeoverOptions o = TakeoverOptionsFor(cfg, chassis);
  o.interfaces.clear();
  o.virtual_mac = false;  // each chassis has its own MAC; the gratuitous ARPs move a lost one's addresses
  o.who = "chassis " + std::to_string(chassis) + " (traffic addresses of chassis " + std::to_string(owner.id) + ")";
  for (const auto& [intf, addr] : owner.traffic_addresses) {
    auto it = std::find_if(o.interfaces.begin(), o.interfaces.end(), [&](const TakeoverInterface& t) { return t.name == intf; });
    if (it == o.interfaces.end()) {
      o.interfaces.push_back(TakeoverInterface{intf, cfg.DeviceOf(intf), cfg.interfaces.at(intf), {}});
      it = o.interfaces.end() - 1;
    }
    it->addresses.push_back(addr);
  }
  return o;
}

size_t ReleaseAddresses(const ClusterConfig& cfg, uint8_t chassis) {
  AsioEventLoop loop;  // never run: releasing sets no timer off
  LinuxInterfaces host;
  size_t errors = 0;
  auto release = [&](TakeoverOptions o) {
    TrafficTakeover t(std::move(o), loop, host, nullptr);
    t.Start();
    errors += t.errors();
  };
  if (!cfg.ClusterInterfaces().empty()) release(TakeoverOptionsFor(cfg, chassis));
  for (const ChassisConfig& owner : cfg.chassis) {
    if (!owner.traffic_addresses.empty()) release(TrafficAddressOptionsFor(cfg, chassis, owner));
  }
  return errors;
}

RemoteLinkMonitorOptions ChassisRuntime::MakeLinkMonitorOptions() const {
  RemoteLinkMonitorOptions o;
  for (const LinkMonitorConfig& m : cfg_.link_monitors) {
    RemoteLinkMonitorOptions::Monitor x;
    x.name = m.name;
    x.srcintf = m.srcintf;
    x.device = cfg_.DeviceOf(m.srcintf);
    x.servers = m.servers;
    x.interval = milliseconds(m.interval_ms);
    x.failtime = m.failtime;
    x.recoverytime = m.recoverytime;
    x.ha_priority = m.ha_priority;
    const auto& pmi = cfg_.pingserver_monitor_interface;
    x.counted = std::find(pmi.begin(), pmi.end(), m.srcintf) != pmi.end();
    o.monitors.push_back(std::move(x));
  }
  o.failover_threshold = cfg_.pingserver_failover_threshold;
  // FortiOS allows up to 2^31 minutes; past 10 years it is forever, and fits in Nanos.
  o.flip_timeout = std::chrono::minutes(std::min<uint32_t>(cfg_.pingserver_flip_timeout_min, 10u * 366 * 24 * 60));
  return o;
}

uint32_t EpochFromWallClock(Nanos wall_now) {
  constexpr int64_t k2025 = 1735689600;  // 2025-01-01T00:00:00Z
  const int64_t ds = wall_now.count() / 100'000'000 - k2025 * 10;
  return static_cast<uint32_t>(ds > 0 ? ds : 1);
}

ChassisRuntime::ChassisRuntime(const ClusterConfig& cfg, uint8_t chassis, RuntimeOptions opt, FabricContext& ctx)
    : cfg_(cfg), chassis_(chassis), opt_(std::move(opt)), ctx_(ctx), book_(cfg) {}

ChassisRuntime::~ChassisRuntime() { Stop(); }

void ChassisRuntime::RunOnBlade(uint8_t slot, const std::function<void(api::Blade&)>& fn) {
  Blade& b = *blades_.at(slot_index_.at(slot));
  if (b.thread.current()) return fn(*b.api);  // from a listener: waiting for ourselves would never end
  b.thread.Call([&] { fn(*b.api); });
}

void ChassisRuntime::PostToBlade(uint8_t slot, std::function<void(api::Blade&)> fn) {
  Blade& b = *blades_.at(slot_index_.at(slot));
  b.thread.loop().Post([&b, fn = std::move(fn)] { fn(*b.api); });
}

std::vector<uint8_t> ChassisRuntime::slots() const {
  std::vector<uint8_t> s;
  for (auto& [slot, i] : slot_index_) s.push_back(slot);
  return s;
}

std::vector<LoopWatchdog::Watched> ChassisRuntime::loops() {
  std::vector<LoopWatchdog::Watched> v;
  if (manager_thread_) v.push_back({manager_thread_->name(), &manager_thread_->loop()});
  for (auto& b : blades_) v.push_back({b->thread.name(), &b->thread.loop()});
  return v;
}

bool ChassisRuntime::Settled() {
  // A peer not heard within the detection time counts as down: its bulk
  // sync comes when it does, as after any restart of a peer.
  const Nanos lost_after = cfg_.hb_interval_ns() * cfg_.hb_lost_threshold;
  for (auto& b : blades_) {
    const bool settled = b->thread.Call([&] {
      if (!b->agent->ready()) return false;
      if (b->thread.loop().Now() - started_at_ >= lost_after) return true;
      for (const ChassisConfig& c : cfg_.chassis) {
        const StandbyTable* so = c.id == chassis_ ? nullptr : b->agent->standby(c.id);
        if (so && so->epoch() == 0) return false;  // not heard yet: its bulk sync may be on its way
      }
      return true;
    });
    if (!settled) return false;
  }
  if (manager_thread_ && blades_.empty()) {  // a manager-only process: its blades report
    return manager_thread_->Call([&] { return manager_->live_blades() > 0 && manager_->ready(); });
  }
  return true;
}

std::string ChassisRuntime::ServiceStatus() const {
  std::string s = "chassis " + std::to_string(chassis_);
  if (!manager_) {
    s += ": blades";
    const WorkerSlots ws = cfg_.worker_slots();
    for (uint8_t slot : slots()) {
      if (ws.WorkerOf(slot) == 0) s += " " + std::to_string(ws.BladeOf(slot));
    }
    return s + " (no manager in this process)";
  }
  const HaRole r = role_.load();
  if (r == HaRole::kUnknown) return s + ": electing (hello state)";
  s += std::string(": ") + HaRoleName(r);
  if (r == HaRole::kSecondary && primary_.load()) s += " (primary is chassis " + std::to_string(primary_.load()) + ")";
  return s;
}

Status ChassisRuntime::Start() {
  const ChassisConfig* cc = cfg_.FindChassis(chassis_);
  if (!cc) return NotFound(cfg_.source + ": no chassis " + std::to_string(chassis_) + " in 'config chassis'");
  Result<CurveKeys> curve = CurveKeysFor(cfg_, chassis_);
  if (!curve.ok()) return curve.status();
  public_key_ = curve->public_key;
  std::vector<uint8_t> slots = opt_.slots;
  if (slots.empty() && opt_.all_slots) {
    for (int s = 1; s <= cfg_.slots; ++s) slots.push_back(static_cast<uint8_t>(s));
  }
  for (uint8_t slot : slots) {
    if (slot < 1 || slot > cfg_.slots) {
      return InvalidArgument("no slot " + std::to_string(slot) + " in " + cfg_.source + ": 'set slots " +
                             std::to_string(cfg_.slots) + "' gives slots 1 to " + std::to_string(cfg_.slots));
    }
  }
  if (opt_.run_manager) {
    manager_thread_ = std::make_unique<NodeThread>(opt_.thread_prefix + "manager");
  }
  epoch_ = opt_.epoch ? opt_.epoch : EpochFromWallClock(AsioEventLoop().WallNow());
  if (manager_thread_) {
    AsioEventLoop& loop = manager_thread_->loop();
    manager_ctx_ = std::make_unique<FabricContext>(1, /*raised=*/true);
    Result<std::unique_ptr<ZapHandler>> zap = StartFabricSecurity(cfg_, *manager_ctx_, loop, /*warn=*/false);
    if (!zap.ok()) return zap.status();
    manager_zap_ = std::move(zap).value();
    manager_transport_ = std::make_unique<ZmqTransport>(*manager_ctx_, loop, NodeId{chassis_, 0}, book_, curve.value(),
                                                        ZmqOptions{}, &ctx_);
    if (Status s = manager_transport_->Bind(); !s.ok()) return s;
    ManagerConfig mc;
    mc.group_id = cfg_.group_id;
    mc.chassis = chassis_;
    mc.epoch = epoch_;
    mc.slots = cfg_.slots;
    mc.workers = cfg_.blade_workers;
    mc.priority = cc->priority;
    mc.serial = cc->serial;
    mc.override_ = cfg_.override_;
    mc.mode = cfg_.mode;
    for (const ChassisConfig& c : cfg_.chassis) mc.peers.push_back(c.id);
    mc.hb_interval = cfg_.hb_interval_ns();
    mc.hb_lost_threshold = cfg_.hb_lost_threshold;
    mc.blade_hb_lost_threshold = static_cast<int>(cfg_.blade_hb_lost_threshold);
    mc.monitored_total = static_cast<int>(cfg_.monitor.size());
    mc.distribution = cfg_.distribution;
    mc.config_checksums = cfg_.checksums.sections;
    // Only TCP packets are handed back (UDP and ICMP open where they land).
    mc.moved_sessions_live = seconds(cfg_.timers.session_ttl_s);
    mc.software_version = std::string(kVersion) + (std::string(kCommit).empty() ? "" : "+g" + std::string(kCommit));
    mc.monitored_up = [this] { return MonitoredUp(); };
    mc.hello_holddown = seconds(cfg_.hello_holddown_s);
    mc.uptime_margin = seconds(cfg_.ha_uptime_diff_margin_s);
    if (!cfg_.link_monitors.empty()) {
      prober_ = std::make_unique<IcmpProber>(loop, cfg_.link_monitors.size());
      link_monitors_ = std::make_unique<RemoteLinkMonitors>(MakeLinkMonitorOptions(), loop, *prober_, [this] {
        if (manager_) manager_->Reevaluate();
      });
      prober_->set_monitors(link_monitors_.get());
      mc.remote_link_failed = [this] { return link_monitors_->failed(); };
    }
    // Keyed like the fabric: only the peer itself can answer its probe.
    CheckKeys check_keys;
    check_keys.enabled = curve->enabled;
    check_keys.self = chassis_;
    check_keys.secret_key = curve->secret_key;
    check_keys.public_key = curve->peer_public_key;
    peer_check_ = std::make_unique<PeerCheck>(loop, check_keys);
    if (!cc->check.empty()) {
      if (Status s = peer_check_->Listen(cc->check); !s.ok()) return s;
    }
    for (const ChassisConfig& c : cfg_.chassis) {
      if (c.id != chassis_ && !c.check.empty()) mc.peer_check[c.id] = c.check;
    }
    PeerCheck* pc = peer_check_.get();
    const Nanos probe_timeout = cfg_.peer_probe_timeout();
    std::map<std::string, uint8_t> check_owner;
    for (const auto& [id, addr] : mc.peer_check) check_owner[addr] = id;
    mc.probe = [pc, probe_timeout, check_owner](const std::string& addr, std::function<void(bool)> done) {
      auto it = check_owner.find(addr);
      pc->Probe(it == check_owner.end() ? 0 : it->second, addr, probe_timeout, std::move(done));
    };
    manager_ = std::make_unique<ChassisManager>(mc, loop, *manager_transport_);
    if (!cfg_.notify_script.empty()) {
      role_hook_ = std::make_unique<RoleHook>(
          RoleHook::Options{cfg_.notify_script, seconds(cfg_.notify_script_timeout_s)},
          std::map<std::string, std::string>{{"BLADESYNC_CHASSIS", std::to_string(chassis_)},
                                             {"BLADESYNC_GROUP", cfg_.group_name},
                                             {"BLADESYNC_GROUP_ID", std::to_string(cfg_.group_id)}});
    }
    manager_->set_role_listener([this](HaRole old, HaRole now) { OnRoleChange(old, now); });
    if (!cfg_.ClusterInterfaces().empty() || cfg_.link_failed_signal) {
      // With standby-in-kernel, also once its guard is down: the mirrored
      // sessions in its kernel are this chassis's to forward then.
      takeover_ = std::make_unique<TrafficTakeover>(TakeoverOptionsFor(cfg_, chassis_), loop, host_, [this] {
        // (A guard that failed to go is retried and reported; the addresses
        // do not wait for it beyond the attempt in flight.)
        return manager_->TrafficReady() && (!guard_ || !guard_->pending() || !guard_->raised());
      });
      if (cfg_.mode == HaMode::kActiveActive && !cfg_.ClusterInterfaces().empty()) {
        BS_LOG(kWarn, "takeover") << "chassis " << int(chassis_) << ": cluster addresses are held in a-p only; "
                                  << "in a-a route to each chassis's own addresses (see the README)";
      }
      takeover_->Start();  // before anything else: what a crashed run left goes
    }
    // a-p only: in a-a every chassis forwards, and the sessions it adopted carry the mark.
    if (cfg_.conntrack.enabled && cfg_.conntrack.standby_in_kernel && cfg_.conntrack.standby_mark &&
        cfg_.mode == HaMode::kActivePassive) {
      guard_ = std::make_unique<StandbyGuard>(cfg_.conntrack.standby_mark);
      if (Status s = guard_->Raise(); !s.ok()) {
        BS_LOG(kError, "conntrack") << "chassis " << int(chassis_) << ": standby-in-kernel guard: " << s.message();
      }
    }
    if (cfg_.mode == HaMode::kActiveActive) {
      for (const ChassisConfig& owner : cfg_.chassis) {
        if (owner.traffic_addresses.empty()) continue;
        TakeoverOptions o = TrafficAddressOptionsFor(cfg_, chassis_, owner);
        const uint8_t id = owner.id;
        std::function<bool()> ready;
        if (id == chassis_) {
          // Our own back only once the survivor that held them let go.
          ready = [this] { return manager_->processes_traffic() && !manager_->AddressesHeldElsewhere(chassis_); };
        } else {
          ready = [this] { return manager_->TrafficReady(); };
        }
        traffic_addresses_[id] = std::make_unique<TrafficTakeover>(o, loop, host_, ready);
        traffic_addresses_[id]->Start();
      }
      if (!traffic_addresses_.empty()) {
        traffic_addresses_task_ = std::make_unique<PeriodicTask>(loop, cfg_.hb_interval_ns() / 2, [this] { UpdateTrafficAddresses(); });
      }
    }
    for (const std::string& w : ConfigWarnings(cfg_)) BS_LOG(kWarn, "config") << w;
    for (const std::string& name : cfg_.monitor) {
      if (!host_.Exists(cfg_.DeviceOf(name))) {
        BS_LOG(kWarn, "runtime") << "chassis " << int(chassis_) << ": monitored interface " << name << " (device "
                                 << cfg_.DeviceOf(name) << ") does not exist on this host: it counts as down";
      }
    }
    manager_->Start();
    if (link_monitors_) link_monitors_->Start();
  }
  const WorkerSlots ws = cfg_.worker_slots();
  std::vector<uint8_t> worker_slots;
  for (uint8_t blade : slots) {
    for (int w = 0; w < ws.workers; ++w) worker_slots.push_back(ws.Of(blade, w));
  }
  for (uint8_t slot : worker_slots) {
    const std::string name = ws.workers == 1 ? "blade" + std::to_string(slot)
                                             : "blade" + std::to_string(ws.BladeOf(slot)) + "w" +
                                                   std::to_string(ws.WorkerOf(slot));
    auto b = std::make_unique<Blade>(opt_.thread_prefix + name);
    b->transport = std::make_unique<ZmqTransport>(ctx_, b->thread.loop(), NodeId{chassis_, slot}, book_, curve.value());
    if (Status s = b->transport->Bind(); !s.ok()) return s;
    b->agent = std::make_unique<BladeAgent>(cfg_.ForBlade(chassis_, slot, epoch_), b->thread.loop(), *b->transport);
    b->api = std::make_unique<api::Blade>(*b->agent);
    if (!opt_.embedded) {
      b->path = std::make_unique<PacketPath>(*b->agent);
      PacketPath* path = b->path.get();
      b->agent->set_packet_handler([path](const wire::PacketBatch& pb, bool fwd) { path->ProcessBatch(pb, fwd); });
    }
    b->agent->Start();
    if (cfg_.conntrack.enabled && opt_.embedded) {
      BS_LOG(kWarn, "runtime") << "chassis " << int(chassis_) << " slot " << int(slot)
                               << ": config system conntrack is ignored: the embedding data plane reports the sessions";
    } else if (cfg_.conntrack.enabled) {
      // The sync traffic itself (M1, M2, backplane, check) is never a session to sync.
      std::vector<IpAddr> own;
      for (const std::string& a : {cc->m1, cc->m2, cc->backplane, cc->check}) {
        if (auto ip = HostAddress(a)) own.push_back(*ip);
      }
      b->conntrack = std::make_unique<ConntrackSource>(b->thread.loop(), *b->api, cfg_.conntrack, own);
      if (Status s = b->conntrack->Start(); !s.ok()) {
        return Unavailable("config system conntrack: " + s.message() + " (needs root and nf_conntrack)");
      }
      BS_LOG(kInfo, "runtime") << "chassis " << int(chassis_) << " slot " << int(slot)
                               << ": sessions come from the kernel's conntrack table";
    }
    slot_index_[slot] = blades_.size();
    blades_.push_back(std::move(b));
  }
  const std::string metrics_addr = opt_.metrics.empty() ? cc->metrics : opt_.metrics;
  // A blade-only process serves /metrics only when given its own address.
  if (!metrics_addr.empty() && (manager_ || !opt_.metrics.empty())) {
    // /metrics: built at scrape time on the manager's and blades' threads.
    class Collector : public prometheus::Collectable {
     public:
      explicit Collector(ChassisRuntime* rt) : rt_(rt) {}
      std::vector<prometheus::MetricFamily> Collect() const override {
        std::vector<prometheus::MetricFamily> f = BuildMetricFamilies(rt_->CollectMetrics());
        f.push_back(BuildInfoFamily(rt_->cfg_.cluster_label()));
        for (prometheus::MetricFamily& t : TableMemoryFamilies(rt_->cfg_.cluster_label(), PageSupply::Get().counts())) {
          f.push_back(std::move(t));
        }
        return f;
      }

     private:
      ChassisRuntime* rt_;
    };
    try {
      // Slow or half-open clients hold a thread for at most the request
      // timeout, and there are enough threads that a few of them do not
      // starve Prometheus's scrapes (CivetWeb's default: 2 threads, 30 s).
      exposer_ = std::make_unique<prometheus::Exposer>(
          std::vector<std::string>{"listening_ports", metrics_addr, "num_threads", "8", "request_timeout_ms", "2000",
                                   "enable_keep_alive", "no"},
          StatusPage::Callbacks());
    } catch (const std::exception& e) {
      return Unavailable("cannot serve /metrics on " + metrics_addr + ": " + e.what());
    }
    collector_ = std::make_shared<Collector>(this);
    exposer_->RegisterCollectable(collector_);
    const auto ports = exposer_->GetListeningPorts();
    const std::string host = metrics_addr.substr(0, metrics_addr.rfind(':'));
    metrics_endpoint_ = host + ":" + std::to_string(ports.empty() ? 0 : ports[0]);
    if (!ports.empty()) status_page_ = std::make_unique<StatusPage>(ports[0], [this] { return StatusJson(); });
    BS_LOG(kInfo, "runtime") << "chassis " << int(chassis_) << ": metrics on http://" << metrics_endpoint_
                             << "/metrics, the status page on http://" << metrics_endpoint_ << "/";
  }
  config_state_.source = cfg_.source;
  running_options_ = cfg_.options;
  config_state_.session_pickup = cfg_.pickup.session_pickup;
  config_state_.connectionless = cfg_.pickup.connectionless;
  if (manager_thread_) {
    manager_thread_->Start();
    // Heartbeats ahead of sync work (core/thread_priority.h).
    if (!manager_thread_->Call([] { return RaiseThisThread(); })) {
      BS_LOG(kInfo, "runtime") << "chassis " << int(chassis_) << ": the manager and the blades' beats run at the "
                               << "process's priority (raising them needs CAP_SYS_NICE): on saturated cores "
                               << "short heartbeat intervals may be missed";
    }
  }
  for (auto& b : blades_) {
    b->thread.Start();
    b->thread.loop().Post([this, slot = b->agent->config().slot] {
      BS_LOG(kDebug, "runtime") << "chassis " << int(chassis_) << " slot " << int(slot) << ": blade running";
    });
  }
  if (!blades_.empty()) {
    std::vector<BladeBeat::Blade> beating;
    for (auto& b : blades_) beating.push_back({b->agent->config().slot, epoch_, &b->thread.loop(), b->thread.name()});
    const BladeConfig& bc = blades_.front()->agent->config();
    beat_ = std::make_unique<BladeBeat>(ctx_, book_, curve.value(), bc.group_id, chassis_, std::move(beating),
                                        bc.status_interval());
    beat_->Start();
  }
  started_ = true;
  // Any loop's clock: they all read the one steady clock.
  if (manager_thread_) started_at_ = manager_thread_->loop().Now();
  else if (!blades_.empty()) started_at_ = blades_.front()->thread.loop().Now();
  if (manager_) {
    control_ = std::make_unique<ControlServer>(cc->control, [this](const std::string& c) { return Control(c); });
    if (Status s = control_->Start(); !s.ok()) {
      control_.reset();
      return s;
    }
  }
  BS_LOG(kInfo, "runtime") << "chassis " << int(chassis_) << " up: " << (manager_ ? "manager + " : "")
                           << blades_.size() / static_cast<size_t>(cfg_.blade_workers) << " blade(s)"
                           << (cfg_.blade_workers > 1 ? " x " + std::to_string(cfg_.blade_workers) + " workers" : "")
                           << ", epoch " << epoch_;
  return Status::Ok();
}

void ChassisRuntime::Crash() {
  if (!started_) return;
  if (beat_) beat_->Stop();
  for (auto& b : blades_) {
    b->thread.Call([&] {
      b->transport->Close();
      b->agent->Halt();
    });
  }
  if (manager_thread_) {
    manager_thread_->Call([&] {
      if (peer_check_) peer_check_->Close();
      manager_transport_->Close();
      manager_->Halt();
    });
  }
}

void ChassisRuntime::Stop() {
  if (!started_) return;
  started_ = false;
  // The cluster addresses go first: no packet is for a chassis that is going.
  if (manager_thread_ && (takeover_ || !traffic_addresses_.empty())) {
    manager_thread_->Call([&] {
      traffic_addresses_task_.reset();
      for (auto& [id, t] : traffic_addresses_) t->Stop();
      if (takeover_) takeover_->Stop();
    });
  }
  status_page_.reset();
  exposer_.reset();  // no scrape may reach into the threads that stop next
  control_.reset();  // nor a control request
  // Sockets close on their own threads, before the threads and the context go.
  beat_.reset();  // (it probes the blades' loops)
  for (auto& b : blades_) {
    b->thread.Call([&] {
      b->conntrack.reset();
      b->api.reset();
      b->path.reset();
      b->agent.reset();
      b->transport->Close();
    });
    b->thread.Stop();
  }
  blades_.clear();
  if (manager_thread_) {
    manager_thread_->Call([&] {
      if (peer_check_) peer_check_->Close();
      if (link_monitors_) link_monitors_->Stop();
      link_monitors_.reset();
      prober_.reset();
      takeover_.reset();
      traffic_addresses_.clear();
      manager_.reset();
      manager_transport_->Close();
      if (manager_zap_) manager_zap_->Close();
    });
    manager_thread_->Stop();
  }
}

// Runs on the caller's thread (the control socket's): what the manager
// knows is asked on its loop, a session list from each blade in turn, so
// no request keeps the manager from its heartbeats.
std::string ChassisRuntime::StatusJson() {
  if (!manager_thread_) return R"({"error":"no manager in this process"})";
  const std::string status = Control("json get system ha status");
  // Sync lag totals over every blade here and every owner it mirrors: the
  // page takes the mean over each of its refreshes.
  double sum_s = 0;
  uint64_t count = 0;
  for (const BladeMetrics& b : CollectMetrics().blades) {
    for (const StandbyMetrics& s : b.standby) {
      for (const FixedHistogram& h : s.lag) {
        sum_s += h.sum();
        count += h.count();
      }
    }
  }
  return "{\"status\":" + status + ",\"lag\":{\"sum_s\":" + std::to_string(sum_s) + ",\"count\":" +
         std::to_string(count) + "}}";
}

std::string ChassisRuntime::Control(const std::string& command) {
  if (!manager_thread_) return R"({"error":"no manager in this process"})";
  std::istringstream in(command);
  std::vector<std::string> w;
  for (std::string t; in >> t;) w.push_back(t);
  const bool text = !w.empty() && w[0] == "text";
  if (!w.empty() && (w[0] == "text" || w[0] == "json")) w.erase(w.begin());
  if (w.size() >= 4 && w[0] == "diagnose" && w[1] == "sys" && w[2] == "session" && w[3] == "list") {
    return ListSessions(std::vector<std::string>(w.begin() + 4, w.end()), text);
  }
  return manager_thread_->Call([&] { return HandleControl(command); });
}

namespace {
// An error answer: {"error": ...} in JSON; in text "error: ..." (a usage
// line as it is). The CLI exits 4 on either.
std::string ErrorReply(const std::string& msg, bool text) {
  if (text) return (msg.rfind("usage:", 0) == 0 ? msg : "error: " + msg) + "\n";
  JsonWriter j;
  j.BeginObject().Key("error").String(msg).EndObject();
  return j.str();
}
}  // namespace

std::string ChassisRuntime::ListSessions(const std::vector<std::string>& words, bool text) {
  Result<SessionFilter> f = ParseSessionFilter(words);
  if (!f.ok()) return ErrorReply(f.status().message(), text);
  const WorkerSlots ws = cfg_.worker_slots();
  if (f->worker && *f->worker >= ws.workers) {
    return ErrorReply("no worker " + std::to_string(*f->worker) + ": blades here run " + std::to_string(ws.workers) +
                          (ws.workers == 1 ? " worker (0)" : " workers (0-" + std::to_string(ws.workers - 1) + ")"),
                      text);
  }
  std::vector<ListedSession> listed;
  std::vector<uint8_t> not_here;
  size_t matched = 0;
  for (int s = 1; s <= cfg_.slots; ++s) {
    const uint8_t blade = static_cast<uint8_t>(s);
    if (f->slot && *f->slot != blade) continue;
    if (!slot_index_.count(ws.Of(blade, 0))) {
      not_here.push_back(blade);
      continue;
    }
    for (int w = 0; w < ws.workers; ++w) {
      if (f->worker && *f->worker != w) continue;
      matched += OnBlade(ws.Of(blade, w), [&](BladeAgent& b) { return CollectSessions(b, ws, f.value(), f->max, &listed); });
    }
  }
  return text ? SessionListText(listed, matched, not_here) : SessionListJson(chassis_, listed, matched, not_here);
}

// On the manager's loop (the monitored interfaces' forced states live there).
ConfigState ChassisRuntime::CurrentConfigState() const {
  ConfigState cs;
  {
    std::lock_guard<std::mutex> lock(config_mu_);
    cs = config_state_;
  }
  cs.curve = cfg_.fabric_auth() != ClusterConfig::FabricAuth::kOff;
  cs.authentication = FabricAuthName(cfg_.fabric_auth());
  cs.refused_handshakes = RefusedHandshakes();
  cs.public_key = public_key_;
  cs.monitored_down = MonitoredDown();
  for (const std::string& name : cs.monitored_down) {
    if (!monitor_forced_.count(name) && !host_.Exists(cfg_.DeviceOf(name))) cs.monitored_missing.push_back(name);
  }
  if (takeover_) {
    ConfigState::Takeover& t = cs.takeover;
    t.configured = !cfg_.ClusterInterfaces().empty();
    t.held = takeover_->held();
    t.in_place = takeover_->in_place();
    t.total = takeover_->total();
    t.waiting = takeover_->waiting();
    for (const InterfaceConfig* ic : cfg_.ClusterInterfaces()) {
      for (const AddrPrefix& a : ic->addresses) {
        t.addresses.push_back(ic->name + " " + a.ToString());
      }
    }
    t.missing = takeover_->Missing();
    if (cfg_.virtual_mac) t.virtual_mac = VirtualMac(cfg_.group_id, 0).ToString().substr(0, 15) + "<index>";
    t.takes = takeover_->takes();
    t.releases = takeover_->releases();
    t.errors = takeover_->errors();
    t.announcements = takeover_->announcements();
    t.link_failed_signals = takeover_->link_failed_signals();
    t.last_wait_ms = ToSeconds(takeover_->last_wait()) * 1000;
  }
  for (const auto& [id, t] : traffic_addresses_) {
    ConfigState::TrafficAddresses ta;
    ta.chassis = id;
    ta.held = t->held();
    if (const ChassisConfig* owner = cfg_.FindChassis(id)) {
      for (const auto& [intf, a] : owner->traffic_addresses) {
        ta.addresses.push_back(intf + " " + a.ToString());
      }
    }
    cs.traffic_addresses.push_back(std::move(ta));
  }
  if (guard_) {
    cs.standby_guard = guard_->raised() ? "raised" : "lowered";
    cs.standby_guard_errors = guard_->errors();
  }
  if (link_monitors_) {
    const RemoteLinkMonitorOptions& o = link_monitors_->options();
    for (size_t m = 0; m < o.monitors.size(); ++m) {
      const RemoteLinkMonitors::MonitorState& st = link_monitors_->states()[m];
      ConfigState::LinkMonitor lm;
      lm.name = o.monitors[m].name;
      lm.srcintf = o.monitors[m].srcintf;
      lm.counted = o.monitors[m].counted;
      lm.failed = st.failed;
      lm.ha_priority = o.monitors[m].ha_priority;
      for (const RemoteLinkMonitors::ServerState& sv : st.servers) {
        lm.servers.push_back({sv.address.ToString(), sv.up, sv.sent, sv.received, ToSeconds(sv.last_rtt) * 1000});
      }
      cs.link_monitors.push_back(std::move(lm));
    }
    cs.remote_link_failed = link_monitors_->failed();
    cs.remote_link_score = link_monitors_->score();
    cs.pingserver_failover_threshold = cfg_.pingserver_failover_threshold;
    const Nanos until = link_monitors_->hold_down_until();
    const Nanos now = manager_->now();
    if (until > now && cs.remote_link_failed) cs.remote_link_hold_down_s = ToSeconds(until - now);
  }
  if (role_hook_) {
    cs.notify_script = role_hook_->path();
    cs.notify_runs = role_hook_->runs();
    cs.notify_failed = role_hook_->failed();
    cs.notify_timed_out = role_hook_->timed_out();
  }
  std::tie(cs.zap_accepted, cs.zap_refused) = ZapCounts();
  cs.metrics = metrics_endpoint_;
  return cs;
}

std::pair<uint64_t, uint64_t> ChassisRuntime::ZapCounts() const {
  std::pair<uint64_t, uint64_t> n{0, 0};
  for (const ZapHandler* z : {zap_, static_cast<const ZapHandler*>(manager_zap_.get())}) {
    if (!z) continue;
    n.first += z->accepted();
    n.second += z->refused();
  }
  return n;
}

uint64_t ChassisRuntime::RefusedHandshakes() const {
  uint64_t n = manager_transport_ ? manager_transport_->refused_handshakes() : 0;
  for (const auto& b : blades_) n += b->transport->refused_handshakes();
  return n;
}

Status ChassisRuntime::Reload(const std::string& path) {
  Result<ClusterConfig> next = LoadClusterConfigFile(path);
  Status status = next.ok() ? Status::Ok() : next.status();
  std::vector<std::string> changed;
  if (status.ok()) {
    std::lock_guard<std::mutex> lock(config_mu_);
    changed = ChangedOptions(running_options_, next->options);
  }
  if (status.ok()) {
    // All or nothing: one option that needs a restart refuses the whole file.
    std::vector<std::string> restart;
    for (const std::string& o : changed)
      if (!LiveOption(o)) restart.push_back(o);
    if (!restart.empty()) {
      std::string names;
      for (size_t i = 0; i < restart.size() && i < 8; ++i) names += (i ? ", " : "") + restart[i];
      if (restart.size() > 8) names += " and " + std::to_string(restart.size() - 8) + " more";
      status = FailedPrecondition(path + ": changed " + names + (restart.size() == 1 ? ", which needs" : ", which need") +
                                  " a restart; nothing was applied, the running config stays");
    }
  }
  {
    std::lock_guard<std::mutex> lock(config_mu_);
    if (!status.ok()) {
      ++config_state_.reload_errors;
      config_state_.last_error = status.message();
      BS_LOG(kError, "config") << "reload refused, keeping the running config: " << status.message();
      return status;
    }
    ++config_state_.reloads;
    config_state_.last_error.clear();
    config_state_.session_pickup = next->pickup.session_pickup;
    config_state_.connectionless = next->pickup.connectionless;
    running_options_ = next->options;
  }
  for (auto& b : blades_) {
    const PickupOptions p = next->pickup;
    b->thread.Call([&] { b->agent->SetPickupOptions(p); });
  }
  if (manager_thread_) {
    manager_thread_->Call([&] { manager_->SetConfigChecksums(next->checksums.sections); });
  }
  std::string names;
  for (const std::string& o : changed) names += (names.empty() ? "" : ", ") + o;
  BS_LOG(kInfo, "config") << "reloaded " << path << ": " << (changed.empty() ? std::string("nothing changed") : "applied " + names);
  return Status::Ok();
}

// A monitored interface is up when its device is up with carrier (operstate
// up, or unknown for devices without one); a device this host does not
// have is down, never silently up. `diagnose sys ha monitor` forces either.
std::vector<std::string> ChassisRuntime::MonitoredDown() const {
  std::vector<std::string> down;
  for (const std::string& name : cfg_.monitor) {
    auto forced = monitor_forced_.find(name);
    if (forced != monitor_forced_.end()) {
      if (!forced->second) down.push_back(name);
      continue;
    }
    if (!host_.IsUp(cfg_.DeviceOf(name))) down.push_back(name);
  }
  return down;
}

int ChassisRuntime::MonitoredUp() const {
  return static_cast<int>(cfg_.monitor.size() - MonitoredDown().size());
}

void ChassisRuntime::PlaceWorker(uint8_t worker_slot, BladeMetrics* b) const {
  const WorkerSlots ws = cfg_.worker_slots();
  b->worker_slot = worker_slot;
  b->slot = ws.BladeOf(worker_slot);
  b->worker = ws.workers > 1 ? ws.WorkerOf(worker_slot) : -1;
}

ChassisMetrics ChassisRuntime::CollectMetrics() {
  ChassisMetrics m;
  m.cluster = cfg_.cluster_label();
  m.chassis = chassis_;
  if (manager_thread_) {
    manager_thread_->Call([&] {
      const ChassisManager& mg = *manager_;
      m.role = HaRoleName(mg.role());
      m.ready = mg.ready();
      m.processes_traffic = mg.processes_traffic();
      m.failovers = mg.failovers();
      m.last_failover_s = ToSeconds(mg.last_failover_duration());
      m.split_brains_averted = mg.split_brains_averted();
      m.held_up = mg.held_up();
      m.peer_restarts = mg.peer_restarts();
      m.blade_restarts = mg.blade_restarts();
      m.handovers_unfenced = mg.handovers_unfenced();
      m.ingress_packets = mg.ingress_packets();
      m.ingress_dropped = mg.ingress_dropped();
      m.ingress_rerouted = mg.ingress_rerouted();
      m.ingress_no_live_slot = mg.ingress_no_live_slot();
      m.ingress_no_session = mg.ingress_no_session();
      m.ingress_to_peer = mg.ingress_to_peer();
      m.ingress_from_peer = mg.ingress_from_peer();
      m.blade_takeovers = mg.blade_takeovers();
      const ConfigState cs = CurrentConfigState();
      m.health_problems = HealthProblems(mg, cs).size();
      m.has_cluster_addresses = cs.takeover.configured;
      m.cluster_addresses_held = cs.takeover.held && cs.takeover.in_place == cs.takeover.total;
      m.takeover_errors = cs.takeover.errors;
      m.announcements = cs.takeover.announcements;
      m.takeover_wait_s = cs.takeover.last_wait_ms / 1000;
      for (const ConfigState::LinkMonitor& lm : cs.link_monitors) m.link_monitors.emplace_back(lm.name, !lm.failed);
      m.remote_link_score = cs.remote_link_score;
      m.remote_link_failed = cs.remote_link_failed;
      for (int r = 0; r < kDropReasons; ++r) {
        if (uint64_t n = mg.dropped(static_cast<DropReason>(r))) m.manager_dropped.emplace_back(DropReasonName(static_cast<DropReason>(r)), n);
      }
      const Nanos now = manager_thread_->loop().Now();
      const Nanos lost_after = cfg_.hb_interval_ns() * cfg_.hb_lost_threshold;
      for (const auto& [id, p] : mg.peers()) {
        PeerMetrics pm;
        pm.chassis = id;
        pm.alive = p.alive;
        pm.partitioned = p.partitioned;
        for (int l = 0; l < 2; ++l) pm.link_up[l] = mg.LinkUp(p, l);
        pm.clock_offset_s = ToSeconds(p.clock_offset);
        pm.rtt_s = ToSeconds(p.rtt);
        if (p.alive) {
          pm.version = p.software_version;
          pm.schema = SchemaName(p);
          pm.schema_compatible = p.schema_compatible();
        }
        if (p.alive && !p.config_checksums.empty()) {
          pm.config_sections_differ = static_cast<int>(DifferingSections(mg.config().config_checksums, p.config_checksums).size());
        }
        m.peers.push_back(pm);
      }
      for (const BladeView& v : mg.blades()) {
        BladeMetrics b;
        PlaceWorker(v.slot, &b);
        b.live = v.live;
        b.ready = v.ready;
        b.memory_bytes = v.memory_bytes;
        for (const std::string& n : CounterNames()) {
          auto it = v.counters.find(n);
          b.counters.emplace_back(n, it == v.counters.end() ? 0 : it->second);
        }
        b.owned[3] = v.owned;  // refined below for blades in this process
        m.blades.push_back(std::move(b));
      }
      return 0;
    });
  }
  if (!manager_thread_) {  // a blade-only process: its own blades
    m.role = "unknown";
    for (auto& [slot, i] : slot_index_) {
      BladeMetrics b;
      PlaceWorker(slot, &b);
      b.live = true;
      OnBlade(slot, [&](BladeAgent& a) {
        b.ready = a.ready();
        b.counters = CounterList(a.counters());
        b.memory_bytes = a.MemoryBytes();
        return 0;
      });
      m.blades.push_back(std::move(b));
    }
  }
  {
    std::lock_guard<std::mutex> lock(config_mu_);
    m.config_reload_errors = config_state_.reload_errors;
  }
  // Atomic counters, read from this thread.
  if (manager_transport_) m.corrupt_frames += manager_transport_->corrupt_frames();
  for (auto& b : blades_) m.corrupt_frames += b->transport->corrupt_frames();
  m.refused_handshakes = RefusedHandshakes();
  std::tie(m.zap_accepted, m.zap_refused) = ZapCounts();
  for (BladeMetrics& b : m.blades) {
    if (!slot_index_.count(b.worker_slot)) continue;
    OnBlade(b.worker_slot, [&](BladeAgent& a) {
      for (int p = 0; p < 4; ++p) b.owned[p] = a.owned().live_by_proto(p);
      for (uint8_t c : a.config().peers) {
        const StandbyTable* so = a.standby(c);
        if (!so) continue;
        StandbyMetrics s;
        s.owner = c;
        for (int p = 0; p < 4; ++p) s.sessions[p] = so->store().live_by_proto(p);
        s.in_sync = so->in_sync();
        s.lag = {so->lag(Link::kM1), so->lag(Link::kM2)};
        s.bulk_durations = {so->bulk_sync_durations()};
        s.clock_offset_s = ToSeconds(so->clock_offset());
        b.standby.push_back(std::move(s));
        b.unacked[c] = a.outbound(c)->unacked_deltas();
      }
      b.change_log_entries = a.change_log_entries();
      return 0;
    });
    Blade& blade = *blades_.at(slot_index_.at(b.worker_slot));
    if (blade.conntrack) {
      blade.thread.Call([&] {
        const ConntrackCounters& c = blade.conntrack->counters();
        b.conntrack = {{"events.new", c.events_new.get()}, {"events.update", c.events_update.get()},
                       {"events.destroy", c.events_destroy.get()}, {"events.reread", c.reread.get()},
                       {"ignored", c.ignored.get()},
                       {"overruns", c.overruns.get()}, {"resyncs", c.resyncs.get()},
                       {"resync.created", c.resync_created.get()}, {"resync.deleted", c.resync_deleted.get()},
                       {"install.installed", c.installed.get()}, {"install.existed", c.install_existed.get()},
                       {"install.failed", c.install_failed.get()}, {"refused", c.refused.get()},
                       {"install.without_extras", c.install_without_extras.get()},
                       {"last_install_us", c.last_install_us.get()},
                       {"expectations.new", c.expectations_new.get()},
                       {"expectations.destroy", c.expectations_destroy.get()},
                       {"expectations.unmatched", c.expectations_unmatched.get()},
                       {"expectations.left_out", c.expectations_left_out.get()},
                       {"expectations.resync", c.resync_expectations.get()},
                       {"expectations.installed", c.expectations_installed.get()},
                       {"expectations.install_failed", c.expectations_failed.get()},
                       {"expectations.implausible",
                        c.expectations_implausible.get() +
                            (blade.conntrack->standby() ? blade.conntrack->standby()->counters().implausible.get() : 0)},
                       {"event_buffer_bytes", blade.conntrack->event_buffer_bytes()}};
        if (const StandbyKernel* sk = blade.conntrack->standby()) {
          const StandbyKernelCounters& k = sk->counters();
          for (const auto& [what, v] : {std::pair{"installed", &k.installed}, {"updated", &k.updated},
                                        {"deleted", &k.deleted}, {"failed", &k.failed},
                                        {"reinstalled", &k.reinstalled}, {"repaired", &k.repaired},
                                        {"without_extras", &k.without_extras}}) {
            b.conntrack.emplace_back(std::string("standby.") + what, v->get());
          }
          b.conntrack.emplace_back("standby.in_kernel", sk->in_kernel());
        }
      });
    }
  }
  return m;
}

ChassisState ChassisRuntime::State() {
  if (!manager_thread_) return {};
  return manager_thread_->Call([&] {
    ChassisState s;
    s.role = manager_->role();
    s.primary = manager_->primary();
    s.live_blades = manager_->live_blades();
    s.ready = manager_->ready();
    s.processes_traffic = manager_->processes_traffic();
    return s;
  });
}

// Runs on the manager's loop (Control brings it there; session lists stay
// outside). A leading "text" or "json" word picks the reply format (default json).
std::string ChassisRuntime::HandleControl(const std::string& command) {
  std::istringstream in(command);
  std::vector<std::string> w;
  for (std::string t; in >> t;) w.push_back(t);
  bool text = false;
  if (!w.empty() && (w[0] == "text" || w[0] == "json")) {
    text = w[0] == "text";
    w.erase(w.begin());
  }
  auto is = [&](std::initializer_list<const char*> words) {
    if (w.size() < words.size()) return false;
    size_t i = 0;
    for (const char* x : words)
      if (w[i++] != x) return false;
    return true;
  };
  const ConfigState cs = CurrentConfigState();
  if (is({"get", "system", "ha", "status"})) return text ? HaStatusText(*manager_, cfg_, cs) : HaStatusJson(*manager_, cfg_, cs);
  if (is({"diagnose", "sys", "session", "sync"})) return text ? SessionSyncText(*manager_) : SessionSyncJson(*manager_);
  if (is({"execute", "ha", "failover"})) {
    if (w.size() == 4 && (w[3] == "set" || w[3] == "unset")) {
      manager_->SetManualFailover(w[3] == "set");
      if (text) return std::string("manual failover ") + (w[3] == "set" ? "set" : "unset") + "; role now " + HaRoleName(manager_->role()) + "\n";
      JsonWriter j;
      j.BeginObject().Key("manual_failover").Bool(w[3] == "set").Key("role").String(HaRoleName(manager_->role())).EndObject();
      return j.str();
    }
    return ErrorReply("usage: execute ha failover set|unset", text);
  }
  if (is({"diagnose", "sys", "ha", "checksum"})) {
    if (w.size() == 5 && (w[4] == "show" || w[4] == "cluster")) {
      return text ? ChecksumText(*manager_, w[4] == "cluster") : ChecksumJson(*manager_, w[4] == "cluster");
    }
    return ErrorReply("usage: diagnose sys ha checksum show|cluster", text);
  }
  if (is({"diagnose", "sys", "ha", "monitor"})) {
    if (w.size() == 6 && (w[5] == "down" || w[5] == "up" || w[5] == "auto")) {
      if (std::find(cfg_.monitor.begin(), cfg_.monitor.end(), w[4]) == cfg_.monitor.end()) {
        return ErrorReply("'" + w[4] + "' is not a monitored interface (set monitor)", text);
      }
      if (w[5] == "auto") {
        monitor_forced_.erase(w[4]);
      } else {
        monitor_forced_[w[4]] = w[5] == "up";
      }
      manager_->Reevaluate();
      JsonWriter j;
      j.BeginObject().Key("monitored_up").Int(MonitoredUp()).Key("role").String(HaRoleName(manager_->role())).EndObject();
      return text ? "monitored interfaces up: " + std::to_string(MonitoredUp()) + "; role " + HaRoleName(manager_->role()) + "\n"
                  : j.str();
    }
    return ErrorReply("usage: diagnose sys ha monitor <interface> down|up|auto", text);
  }
  if (is({"diagnose", "sys", "ha", "reset-uptime"})) {
    if (w.size() != 4) return ErrorReply("usage: diagnose sys ha reset-uptime", text);
    manager_->ResetUptime();
    JsonWriter j;
    j.BeginObject().Key("uptime_reset").Bool(true).Key("role").String(HaRoleName(manager_->role())).EndObject();
    return text ? std::string("uptime reset; role now ") + HaRoleName(manager_->role()) + "\n" : j.str();
  }
  if (is({"diagnose", "sys", "link-monitor", "status"})) {
    if (w.size() != 4) return ErrorReply("usage: diagnose sys link-monitor status", text);
    JsonWriter j;
    std::ostringstream o;
    j.BeginObject().Key("failed").Bool(cs.remote_link_failed).Key("score").Uint(cs.remote_link_score);
    j.Key("monitors").BeginArray();
    if (cs.link_monitors.empty()) o << "no link monitors (config system link-monitor)\n";
    for (const ConfigState::LinkMonitor& lm : cs.link_monitors) {
      j.BeginObject().Key("name").String(lm.name).Key("srcintf").String(lm.srcintf);
      j.Key("state").String(lm.failed ? "die" : "alive").Key("servers").BeginArray();
      o << "Link Monitor: " << lm.name << ", Status: " << (lm.failed ? "die" : "alive") << ", Source interface: "
        << lm.srcintf << ", ha-priority " << lm.ha_priority << (lm.counted ? "" : " (not counted)") << "\n";
      for (const auto& sv : lm.servers) {
        j.BeginObject().Key("address").String(sv.address).Key("state").String(sv.up ? "alive" : "die");
        j.Key("sent").Uint(sv.sent).Key("received").Uint(sv.received).Key("rtt_ms").Double(sv.rtt_ms).EndObject();
        o << "  Peer: " << sv.address << ", state: " << (sv.up ? "alive" : "die") << ", packets sent: " << sv.sent
          << ", received: " << sv.received << ", last rtt " << sv.rtt_ms << " ms\n";
      }
      j.EndArray().EndObject();
    }
    j.EndArray().EndObject();
    return text ? o.str() : j.str();
  }
  // Name the command as the operator typed it (without the format word).
  std::string typed;
  for (const std::string& x : w) typed += (typed.empty() ? "" : " ") + x;
  return ErrorReply("unknown command '" + typed + "'", text);
}

}  // namespace bladesync
