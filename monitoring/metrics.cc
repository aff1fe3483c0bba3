#include "monitoring/metrics.h"

#include <cstring>
#include <limits>
#include <map>

#include "blades/blade_counters.h"
#include "core/version.h"

namespace bladesync {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

namespace {

const char* kProto[] = {"tcp", "udp", "icmp", "other"};
const char* kLink[] = {"m1", "m2"};

// Every series carries the cluster (group-name, or group-id when unnamed):
// one Prometheus watching several clusters must not add one's chassis to
// another's.
class Families {
 public:
  explicit Families(std::string cluster) : cluster_(std::move(cluster)) {}
  MetricFamily& Get(const std::string& name, const std::string& help, MetricType type) {
    auto it = index_.find(name);
    if (it != index_.end()) return out_[it->second];
    index_[name] = out_.size();
    out_.push_back(MetricFamily{name, help, type, {}});
    return out_.back();
  }
  void Add(const std::string& name, const std::string& help, MetricType type, double v,
           std::vector<ClientMetric::Label> labels) {
    ClientMetric c;
    c.label = WithCluster(std::move(labels));
    if (type == MetricType::Counter) c.counter.value = v;
    else c.gauge.value = v;
    Get(name, help, type).metric.push_back(std::move(c));
  }
  void Histogram(const std::string& name, const std::string& help, const FixedHistogram& h,
                 std::vector<ClientMetric::Label> labels) {
    ClientMetric c;
    c.label = WithCluster(std::move(labels));
    uint64_t cum = 0;
    for (size_t i = 0; i < h.bounds().size(); ++i) {
      cum += h.counts()[i];
      c.histogram.bucket.push_back({cum, h.bounds()[i]});
    }
    cum += h.counts()[h.bounds().size()];
    c.histogram.bucket.push_back({cum, std::numeric_limits<double>::infinity()});
    c.histogram.sample_count = h.count();
    c.histogram.sample_sum = h.sum();
    Get(name, help, MetricType::Histogram).metric.push_back(std::move(c));
  }
  std::vector<MetricFamily> Take() { return std::move(out_); }

 private:
  std::vector<ClientMetric::Label> WithCluster(std::vector<ClientMetric::Label> labels) const {
    labels.insert(labels.begin(), ClientMetric::Label{"cluster", cluster_});
    return labels;
  }
  std::string cluster_;
  std::map<std::string, size_t> index_;
  std::vector<MetricFamily> out_;
};

// A blade's labels: chassis and slot, and the worker when the blade runs
// several (blade-workers), then `more`.
std::vector<ClientMetric::Label> Where(const std::string& chassis, const BladeMetrics& b,
                                       std::initializer_list<ClientMetric::Label> more = {}) {
  std::vector<ClientMetric::Label> l{{"chassis", chassis}, {"slot", std::to_string(b.slot)}};
  if (b.worker >= 0) l.push_back({"worker", std::to_string(b.worker)});
  l.insert(l.end(), more.begin(), more.end());
  return l;
}

// Blade counters by their names ("sent.create.m1", "dropped.gap",
// "frames_sent"): families and help as blades/blade_counters.h declares them.
void AddBladeCounters(Families& f, const std::string& chassis, const BladeMetrics& b) {
  for (const auto& [name, v] : b.counters) {
    const double value = static_cast<double>(v);
    std::vector<ClientMetric::Label> l = Where(chassis, b);
    const size_t dot = name.find('.');
    if (dot == std::string::npos) {
      const char* help = CounterHelp(name);
      f.Add("bladesync_" + name + "_total", help ? help : name, MetricType::Counter, value, l);
      continue;
    }
    const std::string prefix = name.substr(0, dot), rest = name.substr(dot + 1);
    for (const CounterFamily& fam : kCounterFamilies) {
      if (prefix != fam.prefix) continue;
      const size_t dot2 = rest.find('.');
      if (fam.label_b && dot2 != std::string::npos) {
        l.push_back({fam.label_a, rest.substr(0, dot2)});
        l.push_back({fam.label_b, rest.substr(dot2 + 1)});
      } else if (!fam.label_b && dot2 == std::string::npos) {
        l.push_back({fam.label_a, rest});
      } else {
        break;
      }
      f.Add(fam.family, fam.help, MetricType::Counter, value, l);
      break;
    }
  }
}

void AddConntrackCounters(Families& f, const std::string& chassis, const BladeMetrics& b) {
  for (const auto& [name, v] : b.conntrack) {
    const double value = static_cast<double>(v);
    std::vector<ClientMetric::Label> l = Where(chassis, b);
    auto after = [&](const char* prefix) { return name.substr(std::string(prefix).size()); };
    if (name.rfind("events.", 0) == 0) {
      l.push_back({"event", after("events.")});
      f.Add("bladesync_conntrack_events_total", "Kernel conntrack events followed, by event (reread: entries read again because their event "
            "could not say it: a NAT helper's sequence adjustment, labels all cleared).", MetricType::Counter, value, l);
    } else if (name.rfind("install.", 0) == 0) {
      l.push_back({"result", after("install.")});
      f.Add("bladesync_conntrack_installs_total", "Adopted sessions installed into the kernel, by result.", MetricType::Counter, value, l);
    } else if (name.rfind("resync.", 0) == 0) {
      l.push_back({"change", after("resync.")});
      f.Add("bladesync_conntrack_resync_changes_total", "Sessions a dump added or removed that events had missed.", MetricType::Counter, value, l);
    } else if (name.rfind("expectations.", 0) == 0) {
      l.push_back({"what", after("expectations.")});
      f.Add("bladesync_conntrack_expectations_total",
            "Helper expectations (FTP, SIP) synced with their master session: kernel events (new, destroy), "
            "unmatched (no owned master), left_out (more than a session carries), resync (masters a dump "
            "corrected), installed and install_failed on promotion, implausible (from the peer, not the "
            "master's endpoints: not installed).",
            MetricType::Counter, value, l);
    } else if (name == "standby.in_kernel") {
      f.Add("bladesync_conntrack_standby_in_kernel", "Mirrored sessions standby-in-kernel holds in this kernel.",
            MetricType::Gauge, value, l);
    } else if (name.rfind("standby.", 0) == 0) {
      l.push_back({"what", after("standby.")});
      f.Add("bladesync_conntrack_standby_total",
            "standby-in-kernel's work on the mirror's kernel entries: installed, updated, deleted, failed, "
            "reinstalled (the kernel dropped one still mirrored), repaired (a dump found drift).",
            MetricType::Counter, value, l);
    } else if (name == "last_install_us") {
      f.Add("bladesync_conntrack_last_install_seconds", "Duration of the last promotion's install into the kernel.", MetricType::Gauge, value / 1e6, l);
    } else if (name == "event_buffer_bytes") {
      f.Add("bladesync_conntrack_event_buffer_bytes", "Receive buffer of the conntrack event socket.", MetricType::Gauge, value, l);
    } else {
      static const std::map<std::string, const char*> kHelp = {
          {"ignored", "Kernel conntrack events not synced (ignore-address, or not a session bladesync tracks)."},
          {"overruns", "Times the conntrack event socket overran (ENOBUFS): events were lost, a resync follows."},
          {"resyncs", "Full dumps of the kernel table to catch up after lost events."},
          {"refused", "Kernel entries refused as implausible (bad addresses, protocol or state)."},
      };
      auto it = kHelp.find(name);
      f.Add("bladesync_conntrack_" + name + "_total", it != kHelp.end() ? it->second : name, MetricType::Counter, value, l);
    }
  }
}

}  // namespace

std::vector<MetricFamily> BuildMetricFamilies(const ChassisMetrics& m) {
  Families f(m.cluster);
  const std::string ch = std::to_string(m.chassis);
  for (const char* r : {"primary", "secondary", "standalone", "unknown"}) {
    f.Add("bladesync_ha_role", "1 for the HA role this chassis holds.", MetricType::Gauge, m.role == r ? 1 : 0,
          {{"chassis", ch}, {"role", r}});
  }
  f.Add("bladesync_ready", "1 when no blade is bulk-syncing (0: not ready, takes no traffic).", MetricType::Gauge,
        m.ready ? 1 : 0, {{"chassis", ch}});
  f.Add("bladesync_processes_traffic", "1 when this chassis processes traffic.", MetricType::Gauge,
        m.processes_traffic ? 1 : 0, {{"chassis", ch}});
  f.Add("bladesync_failovers_total", "Takeovers performed by this chassis.", MetricType::Counter,
        static_cast<double>(m.failovers), {{"chassis", ch}});
  f.Add("bladesync_last_failover_duration_seconds",
        "How long the last takeover by this chassis took, from noticing the loss to every blade having adopted "
        "(a duration, not a time; 0: none yet).",
        MetricType::Gauge, m.last_failover_s, {{"chassis", ch}});
  f.Add("bladesync_split_brains_averted_total", "Silent peers found alive on their check address.", MetricType::Counter,
        static_cast<double>(m.split_brains_averted), {{"chassis", ch}});
  f.Add("bladesync_manager_held_up_total",
        "Times the chassis manager's own loop was held up past two hb-intervals (the process not run); silence "
        "was judged after reading what had arrived meanwhile.",
        MetricType::Counter, static_cast<double>(m.held_up), {{"chassis", ch}});
  f.Add("bladesync_peer_restarts_total", "Peers back with a new epoch before their loss was declared (taken over).",
        MetricType::Counter, static_cast<double>(m.peer_restarts), {{"chassis", ch}});
  f.Add("bladesync_blade_restarts_total",
        "Blades of this chassis back with a new epoch before they were marked dead (taken as dead, then as back).",
        MetricType::Counter, static_cast<double>(m.blade_restarts), {{"chassis", ch}});
  f.Add("bladesync_handovers_unfenced_total",
        "Handovers that adopted before every blade held the stepped-down primary's stream up to its fence (waited out).",
        MetricType::Counter, static_cast<double>(m.handovers_unfenced), {{"chassis", ch}});
  f.Add("bladesync_ingress_packets_total", "Packets that entered this chassis.", MetricType::Counter,
        static_cast<double>(m.ingress_packets), {{"chassis", ch}});
  f.Add("bladesync_ingress_dropped_total", "Packets this chassis did not process.", MetricType::Counter,
        static_cast<double>(m.ingress_dropped), {{"chassis", ch}});
  f.Add("bladesync_ingress_rerouted_total", "Packets sent to another slot than their flow's home, whose blade was down.",
        MetricType::Counter, static_cast<double>(m.ingress_rerouted), {{"chassis", ch}});
  f.Add("bladesync_ingress_no_live_slot_total", "Packets dropped because no slot their flow may use had a live blade.",
        MetricType::Counter, static_cast<double>(m.ingress_no_live_slot), {{"chassis", ch}});
  f.Add("bladesync_ingress_no_session_total",
        "Packets handed back by every live slot of their flow while a slot was or had been down: no session anywhere.",
        MetricType::Counter, static_cast<double>(m.ingress_no_session), {{"chassis", ch}});
  f.Add("bladesync_ingress_to_peer_total",
        "Active-active: packets handed to a peer whose blade took over the sessions of a dead blade here.",
        MetricType::Counter, static_cast<double>(m.ingress_to_peer), {{"chassis", ch}});
  f.Add("bladesync_ingress_from_peer_total",
        "Active-active: packets a peer handed us for sessions our blades took over from its dead blade.",
        MetricType::Counter, static_cast<double>(m.ingress_from_peer), {{"chassis", ch}});
  f.Add("bladesync_blade_takeovers_total",
        "Active-active: a peer's blade went down and our blade of its slot took over its sessions.",
        MetricType::Counter, static_cast<double>(m.blade_takeovers), {{"chassis", ch}});
  f.Add("bladesync_config_reload_errors_total", "Refused config reloads.", MetricType::Counter,
        static_cast<double>(m.config_reload_errors), {{"chassis", ch}});
  f.Add("bladesync_curve_peers_total", "CURVE handshakes the ZAP handler decided.", MetricType::Counter,
        static_cast<double>(m.zap_accepted), {{"chassis", ch}, {"result", "accepted"}});
  f.Add("bladesync_curve_peers_total", "CURVE handshakes the ZAP handler decided.", MetricType::Counter,
        static_cast<double>(m.zap_refused), {{"chassis", ch}, {"result", "refused"}});
  for (const auto& [reason, n] : m.manager_dropped) {
    f.Add("bladesync_manager_dropped_total", "Frames the chassis manager refused, by reason.", MetricType::Counter,
          static_cast<double>(n), {{"chassis", ch}, {"reason", reason}});
  }
  f.Add("bladesync_health_problems",
        "Problems get system ha status lists: not ready, blades down, peers lost or partitioned, mirrors not in "
        "sync, monitored interfaces down, a refused reload, a peer whose config differs (0: HA Health Status OK).",
        MetricType::Gauge, static_cast<double>(m.health_problems), {{"chassis", ch}});
  f.Add("bladesync_refused_handshakes_total",
        "Connections refused at the CURVE handshake: no CURVE, or a key of no chassis (another password).",
        MetricType::Counter, static_cast<double>(m.refused_handshakes), {{"chassis", ch}});
  f.Add("bladesync_corrupt_frames_total", "Frames dropped on their checksum (corrupt in transit).", MetricType::Counter,
        static_cast<double>(m.corrupt_frames), {{"chassis", ch}});
  if (m.has_cluster_addresses) {
    f.Add("bladesync_cluster_addresses_held", "1 while this chassis holds the cluster addresses (the primary, once its "
          "sessions are adopted).", MetricType::Gauge, m.cluster_addresses_held ? 1 : 0, {{"chassis", ch}});
    f.Add("bladesync_cluster_address_errors_total", "Steps of moving the cluster addresses or MACs that failed.",
          MetricType::Counter, static_cast<double>(m.takeover_errors), {{"chassis", ch}});
    f.Add("bladesync_announcements_total", "Gratuitous ARPs and unsolicited neighbour advertisements sent.",
          MetricType::Counter, static_cast<double>(m.announcements), {{"chassis", ch}});
    f.Add("bladesync_cluster_addresses_wait_seconds",
          "How long the last new primary waited for its sessions before taking the cluster addresses.",
          MetricType::Gauge, m.takeover_wait_s, {{"chassis", ch}});
  }
  if (!m.link_monitors.empty()) {
    for (const auto& [name, up] : m.link_monitors) {
      f.Add("bladesync_link_monitor_up", "1 while a link monitor has a server that answers.", MetricType::Gauge,
            up ? 1 : 0, {{"chassis", ch}, {"monitor", name}});
    }
    f.Add("bladesync_remote_link_score", "Sum of the ha-priority of the failed link monitors that count.",
          MetricType::Gauge, m.remote_link_score, {{"chassis", ch}});
    f.Add("bladesync_remote_link_failed",
          "1 when the score reached pingserver-failover-threshold (held for pingserver-flip-timeout).",
          MetricType::Gauge, m.remote_link_failed ? 1 : 0, {{"chassis", ch}});
  }
  for (const PeerMetrics& p : m.peers) {
    const std::string peer = std::to_string(p.chassis);
    for (int l = 0; l < 2; ++l) {
      f.Add("bladesync_link_up", "1 while heartbeats arrive on the link from the peer.", MetricType::Gauge,
            p.link_up[l] ? 1 : 0, {{"chassis", ch}, {"peer", peer}, {"link", kLink[l]}});
    }
    f.Add("bladesync_peer_up", "1 while the peer chassis is alive.", MetricType::Gauge, p.alive ? 1 : 0,
          {{"chassis", ch}, {"peer", peer}});
    f.Add("bladesync_peer_config_sections_differ",
          "Config sections (diagnose sys ha checksum) whose checksum on this peer differs from ours; 0 when alike.",
          MetricType::Gauge, p.config_sections_differ, {{"chassis", ch}, {"peer", peer}});
    f.Add("bladesync_peer_clock_offset_seconds", "Peer wall clock minus ours (NTP-style, from heartbeats).",
          MetricType::Gauge, p.clock_offset_s, {{"chassis", ch}, {"peer", peer}});
    f.Add("bladesync_peer_rtt_seconds", "Heartbeat round trip to the peer.", MetricType::Gauge, p.rtt_s,
          {{"chassis", ch}, {"peer", peer}});
    if (p.alive) {
      f.Add("bladesync_peer_info", "1 for each live peer, labelled with its release and wire schema version.",
            MetricType::Gauge, 1, {{"chassis", ch}, {"peer", peer}, {"version", p.version}, {"schema", p.schema}});
    }
    f.Add("bladesync_peer_schema_compatible",
          "0 while a live peer speaks another wire schema major version: sessions are not synced with it.",
          MetricType::Gauge, p.schema_compatible ? 1 : 0, {{"chassis", ch}, {"peer", peer}});
  }
  for (const BladeMetrics& b : m.blades) {
    f.Add("bladesync_blade_up", "1 while the blade reports to its manager.", MetricType::Gauge, b.live ? 1 : 0,
          Where(ch, b));
    if (!b.live) continue;
    f.Add("bladesync_blade_ready", "0 while the blade is bulk-syncing.", MetricType::Gauge, b.ready ? 1 : 0,
          Where(ch, b));
    for (int p = 0; p < 4; ++p) {
      f.Add("bladesync_sessions", "Sessions by role and protocol.", MetricType::Gauge, static_cast<double>(b.owned[p]),
            Where(ch, b, {{"role", "owned"}, {"proto", kProto[p]}}));
    }
    for (const StandbyMetrics& s : b.standby) {
      const std::string peer = std::to_string(s.owner);
      for (int p = 0; p < 4; ++p) {
        f.Add("bladesync_sessions", "Sessions by role and protocol.", MetricType::Gauge, static_cast<double>(s.sessions[p]),
              Where(ch, b, {{"role", "standby"}, {"proto", kProto[p]}}));
      }
      f.Add("bladesync_standby_in_sync", "1 when the standby table follows the owner's live stream.", MetricType::Gauge,
            s.in_sync ? 1 : 0, Where(ch, b, {{"peer", peer}}));
      for (size_t l = 0; l < s.lag.size(); ++l) {
        f.Histogram("bladesync_sync_lag_seconds",
                    "Time from a change leaving the owner to its apply on this mirror (clock offset corrected).",
                    s.lag[l], Where(ch, b, {{"peer", peer}, {"link", kLink[l]}}));
      }
      for (const FixedHistogram& h : s.bulk_durations) {
        f.Histogram("bladesync_bulk_sync_duration_seconds", "Bulk syncs received, from begin to end.", h,
                    Where(ch, b, {{"peer", peer}}));
      }
    }
    for (const auto& [peer, n] : b.unacked) {
      f.Add("bladesync_sequence_lag_deltas", "Deltas sent to the mirror and not yet acknowledged.", MetricType::Gauge,
            static_cast<double>(n), Where(ch, b, {{"peer", std::to_string(peer)}}));
    }
    f.Add("bladesync_change_log_entries", "Changes kept until every mirror acknowledged them.", MetricType::Gauge,
          static_cast<double>(b.change_log_entries), Where(ch, b));
    f.Add("bladesync_memory_bytes", "Memory held by the blade's session stores and change log.", MetricType::Gauge,
          static_cast<double>(b.memory_bytes), Where(ch, b));
    AddBladeCounters(f, ch, b);
    AddConntrackCounters(f, ch, b);
  }
  return f.Take();
}

MetricFamily BuildInfoFamily(const std::string& cluster) {
  ClientMetric c;
  c.label = {{"cluster", cluster}, {"version", kVersion}, {"revision", kCommit}, {"compiler", "g++ " __VERSION__}};
  c.gauge.value = 1;
  return MetricFamily{"bladesync_build_info", "Build of this bladesync process.", MetricType::Gauge, {c}};
}

std::vector<MetricFamily> TableMemoryFamilies(const std::string& cluster, const PageSupply::Counts& c) {
  Families f(cluster);
  f.Add("bladesync_table_arrays_ready_total",
        "Session table arrays (key index tables, record chunks) taken ready from the page supply.",
        MetricType::Counter, static_cast<double>(c.taken), {});
  f.Add("bladesync_table_arrays_not_ready_total",
        "Session table arrays needed before the page supply had them ready: faulted in on a sync thread.",
        MetricType::Counter, static_cast<double>(c.missed), {});
  f.Add("bladesync_table_memory_late_total",
        "Times a growing session table found its next array not ready and hurried the page supply.",
        MetricType::Counter, static_cast<double>(c.hurries), {});
  return f.Take();
}

}  // namespace bladesync
