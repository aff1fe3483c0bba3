#include "runtime/status_report.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "blades/blade_counters.h"
#include "config/config_options.h"
#include "core/json.h"
#include "schemas/wire_version.h"

namespace bladesync {

namespace {
std::string WorkerName(const ManagerConfig& mc, uint8_t worker_slot) { return WorkerSlots{mc.workers}.Name(worker_slot); }

// Every worker's sessions together: what the chassis holds.
std::pair<uint64_t, uint64_t> OwnedAndSynced(const ChassisManager& m) {
  uint64_t owned = 0, synced = 0;
  for (const BladeView& b : m.blades()) owned += b.owned, synced += b.synced;
  return {owned, synced};
}
}  // namespace

std::string Hex64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string HaStatusJson(const ChassisManager& m, const ClusterConfig& cfg, const ConfigState& cs) {
  const ManagerConfig& mc = m.config();
  const Nanos now = m.now();
  JsonWriter j;
  j.BeginObject();
  j.Key("group_id").Uint(cfg.group_id);
  j.Key("group_name").String(cfg.group_name);
  j.Key("mode").String(mc.mode == HaMode::kActiveActive ? "a-a" : "a-p");
  j.Key("chassis").Uint(mc.chassis);
  j.Key("serial").String(mc.serial);
  j.Key("priority").Uint(mc.priority);
  j.Key("override").Bool(mc.override_);
  j.Key("version").String(mc.software_version);
  j.Key("uptime_s").Double(static_cast<double>(m.uptime().count()) / 1e9);
  j.Key("schema").String(std::to_string(kWireSchemaMajor) + "." + std::to_string(kWireSchemaMinor));
  j.Key("role").String(HaRoleName(m.role()));
  j.Key("primary").Uint(m.primary());
  j.Key("ready").Bool(m.ready());
  j.Key("processes_traffic").Bool(m.processes_traffic());
  // Where the cluster addresses go: processes traffic, and a takeover's
  // adoptions are done (a handover's new primary is not, for a round trip).
  j.Key("traffic_ready").Bool(m.TrafficReady());
  j.Key("manual_failover").Bool(m.manual_failover());
  j.Key("live_blades").Int(m.live_blades());
  j.Key("monitored_up").Int(m.config().monitored_up ? m.config().monitored_up() : m.config().monitored_total);
  j.Key("monitored_total").Int(m.config().monitored_total);
  j.Key("failovers").Uint(m.failovers());
  j.Key("split_brains_averted").Uint(m.split_brains_averted());
  j.Key("held_up").Uint(m.held_up());
  j.Key("blade_alives").Uint(m.blade_alives());
  j.Key("peer_restarts").Uint(m.peer_restarts());
  j.Key("blade_restarts").Uint(m.blade_restarts());
  j.Key("handovers_unfenced").Uint(m.handovers_unfenced());
  j.Key("last_failover_ms").Double(static_cast<double>(m.last_failover_duration().count()) / 1e6);
  j.Key("last_failover_done_ns").Int(m.last_failover_done_wall().count());
  j.Key("ingress_packets").Uint(m.ingress_packets());
  j.Key("ingress_dropped").Uint(m.ingress_dropped());
  j.Key("ingress_rerouted").Uint(m.ingress_rerouted());
  j.Key("ingress_no_live_slot").Uint(m.ingress_no_live_slot());
  j.Key("ingress_no_session").Uint(m.ingress_no_session());
  j.Key("ingress_to_peer").Uint(m.ingress_to_peer());
  j.Key("ingress_from_peer").Uint(m.ingress_from_peer());
  j.Key("blade_takeovers").Uint(m.blade_takeovers());
  const std::vector<std::string> problems = HealthProblems(m, cs);
  j.Key("health").String(problems.empty() ? "ok" : "warning");
  j.Key("problems").BeginArray();
  for (const std::string& x : problems) j.String(x);
  j.EndArray();
  // Frames the manager refused, by reason (only reasons that occurred).
  j.Key("dropped").BeginObject();
  for (int r = 0; r < kDropReasons; ++r) {
    if (uint64_t n = m.dropped(static_cast<DropReason>(r))) j.Key(DropReasonName(static_cast<DropReason>(r))).Uint(n);
  }
  j.EndObject();
  j.Key("config").BeginObject();
  j.Key("source").String(cs.source);
  j.Key("reloads").Uint(cs.reloads);
  j.Key("reload_errors").Uint(cs.reload_errors);
  j.Key("last_error").String(cs.last_error);
  j.Key("session_pickup").Bool(cs.session_pickup);
  j.Key("session_pickup_connectionless").Bool(cs.connectionless);
  j.EndObject();
  j.Key("metrics").String(cs.metrics);
  j.Key("monitored_down").BeginArray();
  for (const std::string& n : cs.monitored_down) j.String(n);
  j.EndArray();
  j.Key("monitored_missing").BeginArray();  // of those, the ones this host does not have
  for (const std::string& n : cs.monitored_missing) j.String(n);
  j.EndArray();
  j.Key("cluster_addresses").BeginObject();
  j.Key("configured").Bool(cs.takeover.configured);
  j.Key("held").Bool(cs.takeover.held);
  j.Key("waiting_for_adoption").Bool(cs.takeover.waiting);
  j.Key("in_place").Uint(cs.takeover.in_place);
  j.Key("total").Uint(cs.takeover.total);
  j.Key("addresses").BeginArray();
  for (const std::string& a : cs.takeover.addresses) j.String(a);
  j.EndArray();
  j.Key("missing_devices").BeginArray();
  for (const std::string& d : cs.takeover.missing) j.String(d);
  j.EndArray();
  j.Key("virtual_mac").String(cs.takeover.virtual_mac);
  j.Key("takes").Uint(cs.takeover.takes);
  j.Key("releases").Uint(cs.takeover.releases);
  j.Key("errors").Uint(cs.takeover.errors);
  j.Key("announcements").Uint(cs.takeover.announcements);
  j.Key("link_failed_signals").Uint(cs.takeover.link_failed_signals);
  j.Key("last_wait_ms").Double(cs.takeover.last_wait_ms);
  j.EndObject();
  j.Key("standby_guard").String(cs.standby_guard);
  j.Key("traffic_addresses").BeginArray();
  for (const ConfigState::TrafficAddresses& ta : cs.traffic_addresses) {
    j.BeginObject().Key("chassis").Uint(ta.chassis).Key("held").Bool(ta.held).Key("addresses").BeginArray();
    for (const std::string& a : ta.addresses) j.String(a);
    j.EndArray().EndObject();
  }
  j.EndArray();
  j.Key("remote_link").BeginObject();
  j.Key("failed").Bool(cs.remote_link_failed);
  j.Key("score").Uint(cs.remote_link_score);
  j.Key("pingserver_failover_threshold").Uint(cs.pingserver_failover_threshold);
  j.Key("hold_down_s").Double(cs.remote_link_hold_down_s);
  j.Key("monitors").BeginArray();
  for (const ConfigState::LinkMonitor& lm : cs.link_monitors) {
    j.BeginObject();
    j.Key("name").String(lm.name);
    j.Key("srcintf").String(lm.srcintf);
    j.Key("state").String(lm.failed ? "die" : "alive");
    j.Key("counted").Bool(lm.counted);
    j.Key("ha_priority").Uint(lm.ha_priority);
    j.Key("servers").BeginArray();
    for (const auto& sv : lm.servers) {
      j.BeginObject();
      j.Key("address").String(sv.address);
      j.Key("state").String(sv.up ? "alive" : "die");
      j.Key("sent").Uint(sv.sent);
      j.Key("received").Uint(sv.received);
      j.Key("rtt_ms").Double(sv.rtt_ms);
      j.EndObject();
    }
    j.EndArray();
    j.EndObject();
  }
  j.EndArray();
  j.EndObject();
  j.Key("notify_script").BeginObject();
  j.Key("path").String(cs.notify_script);
  j.Key("runs").Uint(cs.notify_runs);
  j.Key("failed").Uint(cs.notify_failed);
  j.Key("timed_out").Uint(cs.notify_timed_out);
  j.EndObject();
  j.Key("fabric").BeginObject();
  j.Key("curve").Bool(cs.curve);
  j.Key("authentication").String(cs.authentication);
  j.Key("zap_accepted").Uint(cs.zap_accepted);
  j.Key("zap_refused").Uint(cs.zap_refused);
  j.Key("refused_handshakes").Uint(cs.refused_handshakes);
  j.Key("public_key").String(cs.public_key);
  j.EndObject();
  {
    const auto [owned, synced] = OwnedAndSynced(m);
    j.Key("blade_workers").Uint(static_cast<uint64_t>(m.config().workers));
    j.Key("owned").Uint(owned);
    j.Key("synced").Uint(synced);
  }
  j.Key("blades").BeginArray();
  for (const BladeView& b : m.blades()) {
    const WorkerSlots ws{m.config().workers};
    j.BeginObject();
    j.Key("slot").Uint(ws.BladeOf(b.slot));
    j.Key("worker").Uint(static_cast<uint64_t>(ws.WorkerOf(b.slot)));
    j.Key("live").Bool(b.live);
    j.Key("ready").Bool(b.ready);
    j.Key("owned").Uint(b.owned);
    j.Key("synced").Uint(b.synced);
    j.Key("synced_digest").String(Hex64(b.synced_digest));
    j.Key("memory_bytes").Uint(b.memory_bytes);
    j.Key("standby").BeginArray();
    for (const wire::StandbySummary& s : b.standby) {
      j.BeginObject();
      j.Key("owner").Uint(s.owner_chassis());
      j.Key("sessions").Uint(s.sessions());
      j.Key("digest").String(Hex64(s.digest()));
      j.Key("in_sync").Bool(s.in_sync());
      j.Key("adopted").Bool(s.adopted());  // its owner was lost and this blade took its sessions
      j.Key("epoch").Uint(s.owner_epoch());
      j.Key("next_seq").Uint(s.next_seq());
      j.EndObject();
    }
    j.EndArray();
    j.EndObject();
  }
  j.EndArray();
  j.Key("peers").BeginArray();
  for (const auto& [id, p] : m.peers()) {
    j.BeginObject();
    j.Key("chassis").Uint(id);
    j.Key("alive").Bool(p.alive);
    j.Key("partitioned").Bool(p.partitioned);
    j.Key("role").String(p.alive ? HaRoleName(p.role) : "unknown");  // a lost peer's last role is history
    // A lost peer's last readiness and blade count are history, like its role.
    j.Key("ready").Bool(p.alive && p.ready);
    j.Key("serial").String(p.serial);
    j.Key("version").String(p.software_version);
    j.Key("schema").String(SchemaName(p));
    j.Key("schema_compatible").Bool(p.schema_compatible());
    j.Key("priority").Uint(p.priority);
    j.Key("live_blades").Int(p.alive ? p.live_blades : 0);
    // A lost peer's uptime stopped meaning anything when it went.
    if (p.alive) {
      j.Key("uptime_s").Double(static_cast<double>(p.uptime.count()) / 1e9);
    } else {
      j.Key("uptime_s").Null();
    }
    static const char* kNames[] = {"m1", "m2"};
    for (int l = 0; l < kFabricLinks; ++l) {
      const bool up = m.LinkUp(p, l);
      j.Key(kNames[l]).String(up ? "up" : "down");
    }
    j.EndObject();
  }
  j.EndArray();
  j.EndObject();
  return j.str();
}

std::string SchemaName(const PeerView& p) { return std::to_string(p.schema_major) + "." + std::to_string(p.schema_minor); }

std::vector<std::string> HealthProblems(const ChassisManager& m, const ConfigState& cs) {
  std::vector<std::string> p;
  if (!m.ready()) p.push_back("not ready: a bulk sync is running");
  for (const BladeView& b : m.blades()) {
    if (!b.live) p.push_back("blade in " + WorkerName(m.config(), b.slot) + " is down");
  }
  for (const auto& [id, peer] : m.peers()) {
    if (peer.partitioned) {
      p.push_back("peer chassis " + std::to_string(id) + " is partitioned: silent on M1 and M2, answers its check");
    } else if (!peer.alive) {
      p.push_back("peer chassis " + std::to_string(id) + " is lost");
    }
  }
  for (const BladeView& b : m.blades()) {
    if (!b.live) continue;
    for (const wire::StandbySummary& s : b.standby) {
      auto it = m.peers().find(s.owner_chassis());
      if (it == m.peers().end() || !it->second.alive || s.in_sync() || s.adopted()) continue;
      p.push_back(WorkerName(m.config(), b.slot) + ": the mirror of chassis " + std::to_string(s.owner_chassis()) +
                  " is not in sync");
    }
  }
  for (const std::string& name : cs.monitored_down) {
    const bool missing = std::find(cs.monitored_missing.begin(), cs.monitored_missing.end(), name) != cs.monitored_missing.end();
    p.push_back("monitored interface " + name + (missing ? " does not exist on this host (counted as down)" : " is down"));
  }
  for (const std::string& d : cs.takeover.missing) {
    p.push_back("device " + d + " of a cluster interface does not exist on this host: its addresses cannot be held here");
  }
  if (cs.takeover.held && cs.takeover.in_place < cs.takeover.total) {
    p.push_back("cluster addresses: only " + std::to_string(cs.takeover.in_place) + " of " +
                std::to_string(cs.takeover.total) + " in place on this primary");
  }
  if (cs.takeover.errors) {
    p.push_back(std::to_string(cs.takeover.errors) + " errors moving the cluster addresses (see the log)");
  }
  if (cs.standby_guard == "raised" && (m.role() == HaRole::kPrimary || m.role() == HaRole::kStandalone)) {
    p.push_back("the standby-in-kernel guard is still raised on this primary: its mirrored sessions' packets are dropped");
  }
  if (cs.standby_guard_errors) {
    p.push_back(std::to_string(cs.standby_guard_errors) + " errors raising or lowering the standby-in-kernel guard (nft; see the log)");
  }
  for (const ConfigState::LinkMonitor& lm : cs.link_monitors) {
    if (lm.failed) p.push_back("link monitor " + lm.name + " failed: no server answers on " + lm.srcintf);
  }
  if (cs.remote_link_failed) {
    p.push_back("remote link failed (score " + std::to_string(cs.remote_link_score) + ", pingserver-failover-threshold " +
                std::to_string(cs.pingserver_failover_threshold) + ")");
  }
  if (!cs.last_error.empty()) p.push_back("the last reload was refused: " + cs.last_error);
  for (const auto& [id, peer] : m.peers()) {
    if (!peer.alive || peer.schema_compatible()) continue;
    p.push_back("peer chassis " + std::to_string(id) + " speaks wire schema " + SchemaName(peer) + ", this chassis " +
                std::to_string(kWireSchemaMajor) + "." + std::to_string(kWireSchemaMinor) +
                ": incompatible, no sessions are synced between them (run one major version on every chassis)");
  }
  for (const auto& [id, peer] : m.peers()) {
    if (!peer.alive || peer.software_version == m.config().software_version) continue;
    p.push_back("peer chassis " + std::to_string(id) + " runs " +
                (peer.software_version.empty() ? std::string("an older release") : peer.software_version) +
                ", this chassis " + m.config().software_version + " (mixed versions: finish the upgrade)");
  }
  for (const auto& [id, peer] : m.peers()) {
    if (!peer.alive || peer.config_checksums.empty()) continue;
    const std::vector<std::string> d = DifferingSections(m.config().config_checksums, peer.config_checksums);
    if (d.empty()) continue;
    std::string names;
    for (const std::string& s : d) names += (names.empty() ? "" : ", ") + s;
    p.push_back("the config differs from chassis " + std::to_string(id) + "'s in: " + names +
                " (diagnose sys ha checksum cluster)");
  }
  return p;
}

std::vector<std::string> DifferingSections(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  std::vector<std::string> out;
  for (size_t i = 0; i < kChecksumSections.size(); ++i) {
    const bool in_a = i < a.size(), in_b = i < b.size();
    if (in_a != in_b || (in_a && a[i] != b[i])) out.push_back(kChecksumSections[i]);
  }
  if (a.size() > kChecksumSections.size() || b.size() > kChecksumSections.size()) {
    if (a.size() != b.size() || !std::equal(a.begin() + kChecksumSections.size(), a.end(), b.begin() + kChecksumSections.size())) {
      out.push_back("(sections another release checksums)");
    }
  }
  return out;
}

namespace {
// Every chassis's checksums as this one knows them: its own, then each
// peer's from its last heartbeat.
std::vector<std::pair<uint8_t, const std::vector<uint64_t>*>> KnownChecksums(const ChassisManager& m, bool cluster) {
  std::vector<std::pair<uint8_t, const std::vector<uint64_t>*>> out{{m.config().chassis, &m.config().config_checksums}};
  if (cluster) {
    for (const auto& [id, peer] : m.peers()) out.emplace_back(id, &peer.config_checksums);
  }
  return out;
}
}  // namespace

std::string ChecksumText(const ChassisManager& m, bool cluster) {
  std::ostringstream o;
  for (const auto& [id, sums] : KnownChecksums(m, cluster)) {
    const auto peer = m.peers().find(id);
    o << "chassis " << int(id);
    if (id == m.config().chassis) o << " (this one)";
    else if (!peer->second.alive) o << " (not heard now; as last heard)";
    o << ":\n";
    if (sums->empty()) {
      o << "  (no checksums heard)\n";
      continue;
    }
    for (size_t i = 0; i < kChecksumSections.size() && i < sums->size(); ++i) {
      o << "  " << kChecksumSections[i] << ": " << ChecksumHex((*sums)[i]) << "\n";
    }
    o << "  all: " << ChecksumHex(ChecksumOfSections(*sums)) << "\n";
  }
  return o.str();
}

std::string ChecksumJson(const ChassisManager& m, bool cluster) {
  JsonWriter j;
  j.BeginObject().Key("chassis").BeginArray();
  for (const auto& [id, sums] : KnownChecksums(m, cluster)) {
    j.BeginObject().Key("chassis").Uint(id).Key("self").Bool(id == m.config().chassis);
    j.Key("sections").BeginObject();
    for (size_t i = 0; i < kChecksumSections.size() && i < sums->size(); ++i) {
      j.Key(kChecksumSections[i]).String(ChecksumHex((*sums)[i]));
    }
    j.EndObject();
    if (!sums->empty()) j.Key("all").String(ChecksumHex(ChecksumOfSections(*sums)));
    j.EndObject();
  }
  j.EndArray().EndObject();
  return j.str();
}

std::string SessionSyncJson(const ChassisManager& m) {
  JsonWriter j;
  j.BeginObject();
  j.Key("chassis").Uint(m.config().chassis);
  j.Key("blades").BeginArray();
  for (const BladeView& b : m.blades()) {
    const WorkerSlots ws{m.config().workers};
    j.BeginObject();
    j.Key("slot").Uint(ws.BladeOf(b.slot));
    j.Key("worker").Uint(static_cast<uint64_t>(ws.WorkerOf(b.slot)));
    j.Key("live").Bool(b.live);
    j.Key("counters").BeginObject();
    for (const std::string& n : CounterNames()) {
      auto it = b.counters.find(n);
      j.Key(n).Uint(it == b.counters.end() ? 0 : it->second);
    }
    j.EndObject();
    j.EndObject();
  }
  j.EndArray();
  j.EndObject();
  return j.str();
}

std::string HaStatusText(const ChassisManager& m, const ClusterConfig& cfg, const ConfigState& cs) {
  const ManagerConfig& mc = m.config();
  const Nanos now = m.now();
  std::ostringstream o;
  const std::vector<std::string> problems = HealthProblems(m, cs);
  o << "HA Health Status: " << (problems.empty() ? "OK" : "WARNING") << "\n";
  for (const std::string& x : problems) o << "  - " << x << "\n";
  o << "Mode: HA " << (mc.mode == HaMode::kActiveActive ? "A-A" : "A-P") << "\n";
  o << "Group: " << cfg.group_id << " (" << cfg.group_name << ")\n";
  o << "Chassis: " << int(mc.chassis) << " (" << mc.serial << "), priority " << int(mc.priority) << ", override "
    << (mc.override_ ? "enable" : "disable") << "\n";
  o << "Role: " << HaRoleName(m.role()) << " (primary is chassis " << int(m.primary()) << ")"
    << ", ready: " << (m.ready() ? "yes" : "no (bulk sync running)")
    << ", processes traffic: " << (m.processes_traffic() ? "yes" : "no")
    << (m.manual_failover() ? ", manual failover set" : "") << "\n";
  o << "Failovers: " << m.failovers() << "\n";
  o << "Fabric: CURVE " << (cs.curve ? "enable" : "disable") << ", authentication " << cs.authentication;
  if (cs.curve) {
    o << ", peers admitted " << cs.zap_accepted << ", refused " << cs.zap_refused << ", handshakes refused "
      << cs.refused_handshakes;
  }
  o << "\n";
  o << "Config: " << cs.source << ", session-pickup " << (cs.session_pickup ? "enable" : "disable") << ", reloads "
    << cs.reloads << (cs.last_error.empty() ? std::string() : ", last reload REFUSED: " + cs.last_error) << "\n";
  if (mc.monitored_total) {
    o << "Monitored interfaces: " << (mc.monitored_total - static_cast<int>(cs.monitored_down.size())) << "/"
      << mc.monitored_total << " up\n";
  }
  if (cs.takeover.configured) {
    o << "Cluster addresses: "
      << (cs.takeover.held ? "held here (" + std::to_string(cs.takeover.in_place) + " of " + std::to_string(cs.takeover.total) + " in place)"
          : cs.takeover.waiting ? std::string("waiting for the adopted sessions") : std::string("not held here"));
    for (const std::string& a : cs.takeover.addresses) o << "; " << a;
    if (!cs.takeover.virtual_mac.empty()) o << "; virtual MAC " << cs.takeover.virtual_mac;
    o << "; announcements " << cs.takeover.announcements << ", errors " << cs.takeover.errors << "\n";
  }
  for (const ConfigState::TrafficAddresses& ta : cs.traffic_addresses) {
    o << "Traffic addresses of chassis " << int(ta.chassis) << ": " << (ta.held ? "held here" : "not held here");
    for (const std::string& a : ta.addresses) o << "; " << a;
    o << "\n";
  }
  if (!cs.link_monitors.empty()) {
    o << "Remote link: " << (cs.remote_link_failed ? "FAILED" : "ok") << ", score " << cs.remote_link_score
      << " (pingserver-failover-threshold " << cs.pingserver_failover_threshold << ")";
    if (cs.remote_link_hold_down_s > 0) o << ", held failed for " << cs.remote_link_hold_down_s << " s more";
    o << "\n";
    for (const ConfigState::LinkMonitor& lm : cs.link_monitors) {
      o << "  link monitor " << lm.name << " on " << lm.srcintf << ": " << (lm.failed ? "die" : "alive")
        << ", ha-priority " << lm.ha_priority << (lm.counted ? "" : " (not on a pingserver-monitor-interface)");
      for (const auto& sv : lm.servers) {
        o << "; " << sv.address << " " << (sv.up ? "alive" : "die") << " " << sv.received << "/" << sv.sent;
      }
      o << "\n";
    }
  }
  if (mc.workers > 1) {
    const auto [owned, synced] = OwnedAndSynced(m);
    o << "Blades (" << mc.slots << " x " << mc.workers << " workers, " << m.live_blades() << "/" << mc.worker_slot_count()
      << " workers live, owned " << owned << ", synced " << synced << "):\n";
  } else {
    o << "Blades (" << m.live_blades() << "/" << mc.slots << " live):\n";
  }
  for (const BladeView& b : m.blades()) {
    o << "  " << WorkerName(mc, b.slot) << ": " << (b.live ? "live" : "DEAD") << (b.live && !b.ready ? ", not ready" : "")
      << ", owned " << b.owned << ", synced " << b.synced;
    for (const wire::StandbySummary& s : b.standby) {
      auto owner = m.peers().find(s.owner_chassis());
      const bool owner_lost = owner != m.peers().end() && !owner->second.alive;
      o << ", standby from chassis " << int(s.owner_chassis()) << " " << s.sessions()
        << (s.adopted() ? " (adopted)" : owner_lost ? " (owner lost)" : s.in_sync() ? " (in sync)"
                                                    : s.owner_epoch() ? " (SYNCING)" : " (no owner yet)");
    }
    o << "\n";
  }
  o << "Peers:\n";
  for (const auto& [id, p] : m.peers()) {
    auto up = [&](int l) { return m.LinkUp(p, l) ? "up" : "down"; };
    o << "  chassis " << int(id) << " (" << (p.serial.empty() ? "?" : p.serial) << "): "
      << (p.alive ? "alive" : p.partitioned ? "PARTITIONED (answers its check)" : "LOST") << ", "
      << (p.alive ? HaRoleName(p.role) : "role unknown") << (p.alive && !p.ready ? ", not ready" : "")
      << ", m1 " << up(0) << ", m2 " << up(1) << ", priority " << int(p.priority)
      << (p.alive && !p.software_version.empty() ? ", version " + p.software_version : std::string())
      << (p.alive ? ", wire schema " + SchemaName(p) + (p.schema_compatible() ? "" : " (INCOMPATIBLE)") : std::string()) << "\n";
  }
  return o.str();
}

std::string SessionSyncText(const ChassisManager& m) {
  std::ostringstream o;
  o << "session sync counters, chassis " << int(m.config().chassis) << "\n";
  for (const BladeView& b : m.blades()) {
    o << WorkerName(m.config(), b.slot) << (b.live ? "" : " (DEAD)") << ":\n";
    for (const std::string& n : CounterNames()) {  // in declared order; zeros left out
      auto it = b.counters.find(n);
      if (it == b.counters.end() || it->second == 0) continue;
      o << "  " << n << " = " << it->second << "\n";
    }
  }
  return o.str();
}

}  // namespace bladesync
