#include "manager/chassis_manager.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "blades/delta_codec.h"
#include "core/log.h"
#include "schemas/wire_version.h"

namespace bladesync {

ChassisManager::ChassisManager(ManagerConfig cfg, EventLoop& loop, Transport& transport)
    : cfg_(std::move(cfg)),
      loop_(loop),
      transport_(transport),
      distributor_(cfg_.distribution, cfg_.slots, cfg_.workers),
      start_(loop.Now()),
      uptime_base_(start_),
      blades_(static_cast<size_t>(cfg_.worker_slot_count())),
      commands_(transport_, wire::Origin(cfg_.group_id, cfg_.epoch, cfg_.chassis, 0), cfg_.worker_slot_count(),
                10 * cfg_.blade_hb_lost_threshold),
      ingress_(loop_, transport_, wire::Origin(cfg_.group_id, cfg_.epoch, cfg_.chassis, 0), cfg_.worker_slot_count(),
               cfg_.ingress_batch) {
  for (int s = 1; s <= cfg_.worker_slot_count(); ++s) blades_[s - 1].slot = static_cast<uint8_t>(s);
  for (uint8_t p : cfg_.peers) {
    if (p != cfg_.chassis) peers_[p].chassis = p;
  }
  for (auto& [id, p] : peers_) p.silence = loop_.CreateTimer([this] { CheckPeers(); });
}

void ChassisManager::Start() {
  transport_.SetReceiver([this](const FrameMeta& m, std::span<const uint8_t> b) { OnFrame(m, b); });
  for (int s = 1; s <= cfg_.worker_slot_count(); ++s) transport_.Prepare(NodeId{cfg_.chassis, static_cast<uint8_t>(s)}, Link::kBackplane);
  for (auto& [id, p] : peers_) {
    transport_.Prepare(NodeId{id, 0}, Link::kM1);
    transport_.Prepare(NodeId{id, 0}, Link::kM2);
  }
  tick_ = std::make_unique<PeriodicTask>(loop_, cfg_.hb_interval, [this] { Tick(); });
  SendHeartbeats();
}

int ChassisManager::live_blades() const {
  return static_cast<int>(std::count_if(blades_.begin(), blades_.end(), [](const BladeView& b) { return b.live; }));
}

bool PeerView::schema_compatible() const { return schema_major == kWireSchemaMajor; }

bool ChassisManager::ready() const {
  return std::all_of(blades_.begin(), blades_.end(), [](const BladeView& b) { return !b.live || b.ready; });
}

bool ChassisManager::TrafficRole() const {
  if (cfg_.mode == HaMode::kActiveActive) return role_ != HaRole::kUnknown;
  return role_ == HaRole::kPrimary || role_ == HaRole::kStandalone;
}

// down-intfs-before-sess-sync: a chassis that takes a traffic role waits for
// its bulk syncs. Once caught up in that role it keeps its traffic when a
// mirror resyncs later (a peer's change log overflowed): what it owns and
// serves is whole, and stopping would drop every flow for each resync.
bool ChassisManager::processes_traffic() const { return TrafficRole() && (caught_up_ || ready()); }

void ChassisManager::NoteCaughtUp() { caught_up_ = TrafficRole() && (caught_up_ || ready()); }

bool ChassisManager::TrafficReady() const {
  if (!processes_traffic()) return false;
  for (const CommandChannel::Command& c : commands_.pending()) {
    if (c.order.kind == wire::CommandKind::Adopt && blades_[c.slot - 1].live) return false;
  }
  for (const BladeView& b : blades_) {
    if (b.live && b.adoption_pending) return false;
  }
  if (cfg_.mode == HaMode::kActivePassive) {
    for (const auto& [id, p] : peers_) {
      if (p.alive && p.role == HaRole::kPrimary) return false;
    }
    if (HandoverPending()) return false;
  }
  return true;
}

bool ChassisManager::HandoverPending() const {
  if (role_ != HaRole::kPrimary && role_ != HaRole::kStandalone) return false;
  return std::any_of(peers_.begin(), peers_.end(),
                     [](const auto& kv) { return kv.second.stepped_down && kv.second.adopted_epoch != kv.second.epoch; });
}

bool ChassisManager::AddressesHeldElsewhere(uint8_t c) const {
  for (const auto& [id, p] : peers_) {
    if (!p.alive) continue;
    if (std::find(p.holds_addresses_of.begin(), p.holds_addresses_of.end(), c) != p.holds_addresses_of.end()) return true;
  }
  return false;
}

void ChassisManager::ResetUptime() {
  uptime_base_ = loop_.Now();
  reelect_ = true;
  BS_LOG(kInfo, "manager") << "chassis " << int(cfg_.chassis) << ": uptime reset (diagnose sys ha reset-uptime): electing again";
  EvaluateAfterCommand();
}

Candidate ChassisManager::Self() const {
  Candidate c;
  c.chassis = cfg_.chassis;
  c.live_blades = live_blades();
  c.monitored_up = cfg_.monitored_up ? cfg_.monitored_up() : cfg_.monitored_total;
  c.remote_link_failed = cfg_.remote_link_failed && cfg_.remote_link_failed();
  c.uptime = loop_.Now() - uptime_base_;
  c.priority = cfg_.priority;
  c.serial = cfg_.serial;
  c.ready = ready();
  return c;
}

void ChassisManager::SendHeartbeats() {
  const Candidate self = Self();
  ++hb_seq_;
  std::vector<wire::HeldStream> held;
  for (const BladeView& bv : blades_) {
    if (!bv.live) continue;
    for (const wire::StandbySummary& sum : bv.standby) {
      if (sum.in_sync() || sum.adopted()) held.emplace_back(sum.owner_chassis(), bv.slot, sum.owner_epoch());
    }
  }
  std::vector<uint8_t> live_slots_now;
  for (const BladeView& bv : blades_) {
    if (bv.live) live_slots_now.push_back(bv.slot);
  }
  std::vector<wire::HeldOrigin> adopted;
  for (const auto& [id, p] : peers_) {
    if (p.adopted_epoch != 0 && p.adopted_epoch == p.epoch) adopted.emplace_back(id, p.epoch);
  }
  for (auto& [id, peer] : peers_) {
    for (Link link : {Link::kM1, Link::kM2}) {
      fbb_.Clear();
      wire::Origin from(cfg_.group_id, cfg_.epoch, cfg_.chassis, 0);
      auto serial = fbb_.CreateString(cfg_.serial);
      auto holds = fbb_.CreateVectorOfStructs(held);
      auto checksums = fbb_.CreateVector(cfg_.config_checksums);
      auto held_addresses = fbb_.CreateVector(held_addresses_);
      auto version = fbb_.CreateString(cfg_.software_version);
      auto adopted_from = fbb_.CreateVectorOfStructs(adopted);
      auto live_slots = fbb_.CreateVector(live_slots_now);
      auto adopted_blades = fbb_.CreateVectorOfStructs(adopted_blades_);
      wire::HeartbeatBuilder b(fbb_);
      b.add_from(&from);
      b.add_role(static_cast<wire::Role>(role_));
      b.add_ready(self.ready);
      b.add_live_blades(static_cast<uint8_t>(self.live_blades));
      b.add_monitored_up(static_cast<uint8_t>(self.monitored_up));
      // Manual failover: advertise the lowest standing so the peer takes over.
      b.add_priority(manual_failover_ ? 0 : cfg_.priority);
      b.add_override(cfg_.override_);
      b.add_uptime_ms(static_cast<uint64_t>(self.uptime / milliseconds(1)));
      b.add_send_time_ns(static_cast<uint64_t>(loop_.WallNow().count()));
      b.add_seq(hb_seq_);
      b.add_serial(serial);
      b.add_held_streams(holds);
      b.add_handing_over(pending_relinquish_);
      b.add_adopted_from(adopted_from);
      b.add_live_slots(live_slots);
      b.add_config_checksums(checksums);
      b.add_remote_link_failed(self.remote_link_failed);
      b.add_holds_addresses_of(held_addresses);
      b.add_software_version(version);
      b.add_schema_major(kWireSchemaMajor);
      b.add_schema_minor(kWireSchemaMinor);
      if (!adopted_blades_.empty()) b.add_adopted_blades(adopted_blades);
      if (peer.last_send_ns) {
        b.add_echo_send_time_ns(peer.last_send_ns);
        b.add_echo_receive_time_ns(static_cast<uint64_t>(peer.last_rx_wall.count()));
      }
      auto hb = b.Finish();
      fbb_.Finish(wire::CreateFrame(fbb_, wire::Message::Heartbeat, hb.Union()), wire::FrameIdentifier());
      transport_.Send(NodeId{id, 0}, link, {fbb_.GetBufferPointer(), fbb_.GetSize()});
    }
  }
}

void ChassisManager::Drop(DropReason r, const std::string& what) {
  Counter& c = dropped_[static_cast<int>(r)];
  c.Add();
  const uint64_t n = c.get();
  if (LogOccurrence(n)) {
    BS_LOG(kWarn, "manager") << "chassis " << int(cfg_.chassis) << ": dropped frame (" << DropReasonName(r)
                             << "): " << what << " [" << n << " so far]";
  }
}

// Provenance: heartbeats come from peer managers on M1/M2; blade status from
// our own blades and packets from the network in front of the chassis, both
// on the backplane. Anything else is dropped and counted by reason.
void ChassisManager::OnFrame(const FrameMeta& meta, std::span<const uint8_t> bytes) {
  if (halted_) return;
  Result<const wire::Frame*> f = VerifyFrame(bytes, FrameLimits{});
  if (!f.ok()) return Drop(DropReason::kMalformed, f.status().message());
  const bool fabric = meta.link != Link::kBackplane;
  switch (f.value()->msg_type()) {
    case wire::Message::Heartbeat: {
      const wire::Heartbeat* hb = f.value()->msg_as_Heartbeat();
      if (!fabric) return Drop(DropReason::kWrongLink, "heartbeat on the backplane");
      if (!hb->from()) return Drop(DropReason::kMalformed, "heartbeat without origin");
      if (hb->from()->group_id() != cfg_.group_id) return Drop(DropReason::kWrongCluster, "heartbeat");
      if (hb->from()->slot() != 0) return Drop(DropReason::kWrongSender, "heartbeat not from a manager");
      if (!peers_.count(hb->from()->chassis())) return Drop(DropReason::kWrongChassis, "heartbeat from an unknown chassis");
      if (meta.authenticated_chassis >= 0 && meta.authenticated_chassis != hb->from()->chassis()) {
        return Drop(DropReason::kUnauthenticated, "heartbeat claims another chassis than its key proves");
      }
      OnHeartbeat(*hb, meta.link);
      return;
    }
    case wire::Message::BladeStatus: {
      const wire::BladeStatus* st = f.value()->msg_as_BladeStatus();
      if (FromOwnBlade(st->from(), meta, "blade status")) OnBladeStatus(*st);
      return;
    }
    case wire::Message::BladeAlive: {
      const wire::BladeAlive* a = f.value()->msg_as_BladeAlive();
      if (FromOwnBlade(a->from(), meta, "blade alive")) OnBladeAlive(*a);
      return;
    }
    case wire::Message::PacketBatch: {
      // A data port: packets entering this chassis from outside.
      const wire::PacketBatch* pb = f.value()->msg_as_PacketBatch();
      if (!pb->from() || pb->from()->group_id() != cfg_.group_id) {
        ingress_dropped_.Add();
        return Drop(DropReason::kWrongCluster, "packets");
      }
      if (fabric) {
        // Active-active: a peer's manager hands us packets of sessions our
        // blades took over from its dead blade.
        if (cfg_.mode != HaMode::kActiveActive) return Drop(DropReason::kWrongLink, "packets on m1/m2");
        const uint8_t from = pb->from()->chassis();
        if (pb->from()->slot() != 0 || !peers_.count(from)) return Drop(DropReason::kWrongSender, "packets not from a peer's manager");
        // Only from a peer with a dead blade (its heartbeat, sent first, said
        // so) or one whose dead blade we took over.
        const PeerView& sender = peers_.at(from);
        const bool lost_a_blade = sender.live_slots && sender.live_slots->size() < static_cast<size_t>(cfg_.worker_slot_count());
        if (!lost_a_blade &&
            std::none_of(adopted_blades_.begin(), adopted_blades_.end(), [&](const wire::TakenOverBlade& t) { return t.chassis() == from; })) {
          return Drop(DropReason::kImplausible, "packets from a peer that lost no blade");
        }
        if (meta.authenticated_chassis >= 0 && meta.authenticated_chassis != from) {
          return Drop(DropReason::kUnauthenticated, "packets from a peer under another chassis's key");
        }
        // Only what a peer hands over: TCP packets of established sessions
        // (a SYN, or anything UDP or ICMP, would open a session it never had
        // to send us, and cannot come from a peer's own ingress).
        ForEachPacket(*pb, [this](const PacketInfo& p, const auto& w) {
          if (p.key.proto != kProtoTcp || ((p.tcp_flags & kTcpSyn) && !(p.tcp_flags & kTcpAck))) {
            return Drop(DropReason::kImplausible, "a peer handed over a packet that would open a session");
          }
          ingress_from_peer_.Add();
          Ingress(p, w, 0, /*from_peer=*/true);
        });
        return;
      }
      // A blade of ours hands back packets it has no session for: they go
      // on to the next live slot of their flow (see Distributor).
      uint8_t after = 0;
      if (pb->from()->chassis() == cfg_.chassis && pb->from()->slot() >= 1 && pb->from()->slot() <= cfg_.worker_slot_count()) {
        if (meta.authenticated_chassis >= 0 && meta.authenticated_chassis != cfg_.chassis) {
          return Drop(DropReason::kUnauthenticated, "packets handed back under another chassis's key");
        }
        after = pb->from()->slot();
      }
      // Each packet goes on to its blade in the wire form it came in: only
      // its key and interfaces are read here.
      ForEachPacket(*pb, [this, after](const PacketInfo& p, const auto& w) { Ingress(p, w, after); });
      return;
    }
    default:
      return Drop(DropReason::kWrongSender, "a blade's frame at the manager");
  }
}

void ChassisManager::OnHeartbeat(const wire::Heartbeat& hb, Link link) {
  PeerView& p = peers_.at(hb.from()->chassis());
  const Nanos now = loop_.Now();
  const uint32_t epoch = hb.from()->epoch();
  // What we follow of the peer (its epoch, its heartbeat seq) changes only
  // by plausible steps, or once what we follow has gone quiet: one frame
  // (forged, replayed, a bit flip) can neither fake a restart nor freeze the
  // peer's role.
  // Every heartbeat is numbered from 1: a 0 would pass for "newer than
  // anything" below and reset what we follow (found by the soak: one forged
  // heartbeat with seq 0 made the peer's later ones look like jumps ahead).
  if (hb.seq() == 0) return Drop(DropReason::kImplausible, "heartbeat without a sequence number");
  const bool quiet = now - p.confirmed_at >= cfg_.hb_interval * 2;
  if (p.epoch != 0 && epoch != p.epoch && !quiet) {
    return Drop(epoch < p.epoch ? DropReason::kOldEpoch : DropReason::kUnconfirmedEpoch,
                "heartbeat of another incarnation of chassis " + std::to_string(p.chassis) + " (epoch " +
                    std::to_string(epoch) + ", following " + std::to_string(p.epoch) + ")");
  }
  if (epoch == p.epoch && hb.seq() > p.hb_seq && !quiet) {
    // One seq per interval: further ahead than the time since the last one
    // allows (twice over, for clock rates) is not the peer's.
    const uint64_t allowed = 4 + 2 * static_cast<uint64_t>((now - p.confirmed_at) / cfg_.hb_interval);
    if (hb.seq() - p.hb_seq > allowed) return Drop(DropReason::kImplausible, "heartbeat sequence jumps ahead");
  }
  p.links.set_lost_after(PeerLostAfter());
  p.links.OnReceive(link, now);
  p.ever_heard = true;
  // Lost exactly hb-lost-threshold intervals after the last beat on any link.
  p.silence->Arm(PeerLostAfter() + Nanos(1));
  // Heartbeats go on M1 and M2: an older copy arriving late on the slower
  // link proves the peer alive but must not roll its role back (a stale
  // "primary" would make the real primary step down with nobody taking over).
  if (epoch == p.epoch && hb.seq() <= p.hb_seq && !quiet) return;
  p.confirmed_at = now;
  if (p.alive && p.epoch != 0 && epoch != p.epoch) {
    // The peer restarted faster than hb-interval x hb-lost-threshold: its
    // previous incarnation is gone with what it owned. It is lost first (our
    // blades keep that incarnation's tables for the takeover), then back.
    peer_restarts_.Add();
    BS_LOG(kWarn, "manager") << "chassis " << int(cfg_.chassis) << ": peer chassis " << int(p.chassis)
                             << " restarted (epoch " << p.epoch << " -> " << epoch << ") before its loss was declared";
    p.alive = false;
    failover_started_ = now;
    PeerGone(p.chassis, now);
  }
  const HaRole was = p.epoch == epoch ? p.role : HaRole::kUnknown;
  const bool same_incarnation = p.epoch == epoch;
  p.epoch = epoch;
  p.hb_seq = hb.seq();
  p.role = static_cast<HaRole>(hb.role());
  if (p.role == HaRole::kPrimary && lost_primary_ && lost_primary_->first != p.chassis) lost_primary_.reset();
  p.adopted_ours = hb.adopted_from() && std::any_of(hb.adopted_from()->begin(), hb.adopted_from()->end(), [&](const wire::HeldOrigin* o) {
                      return o->chassis() == cfg_.chassis && o->epoch() == cfg_.epoch;
                    });
  std::optional<std::vector<uint8_t>> live_before = std::move(p.live_slots);
  p.live_slots.reset();
  if (hb.live_slots() && hb.live_slots()->size() <= static_cast<size_t>(kMaxWorkerSlots)) p.live_slots.emplace(hb.live_slots()->begin(), hb.live_slots()->end());
  if (same_incarnation && live_before && p.live_slots) PeerBladesLost(p, *live_before);
  RefreshSlots();
  p.took_ours.clear();
  // At most every worker slot of every other chassis (4 chassis).
  if (hb.adopted_blades() && hb.adopted_blades()->size() <= static_cast<size_t>(3 * kMaxWorkerSlots)) {
    for (const wire::TakenOverBlade* t : *hb.adopted_blades()) {
      if (t->chassis() == cfg_.chassis && t->slot() >= 1 && t->slot() <= cfg_.worker_slot_count()) p.took_ours.push_back(*t);
    }
  }
  GiveUpWhatPeersTookOver(p);
  p.held_streams.clear();
  if (hb.held_streams()) {
    for (const wire::HeldStream* h : *hb.held_streams()) p.held_streams.push_back(*h);
  }
  // A primary that stepped down (a handover, or two primaries resolved: a
  // healed partition, a restart that heard nobody): whoever holds the role
  // adopts what it owned (HandOver, from Evaluate below).
  if (p.role == HaRole::kPrimary) {
    p.stepped_down = false;
    // It owns again (a healed partition gave it its sessions back): what we
    // adopted from this incarnation before is history, and when it steps
    // down next, whoever holds the role adopts again.
    p.adopted_epoch = 0;
  }
  const bool stepped_before = p.stepped_down;
  if (was == HaRole::kPrimary && p.role != HaRole::kPrimary) p.stepped_down = true;
  if (hb.handing_over() && p.role != HaRole::kPrimary) p.stepped_down = true;
  if (p.stepped_down && !stepped_before) p.stepped_down_at = loop_.Now();
  p.ready = hb.ready();
  p.live_blades = hb.live_blades();
  p.monitored_up = hb.monitored_up();
  p.remote_link_failed = hb.remote_link_failed();
  // A version is a short word; anything longer is not believed.
  p.software_version = hb.software_version() && hb.software_version()->size() <= 64 ? hb.software_version()->str() : "";
  const bool was_compatible = p.schema_compatible();
  p.schema_major = hb.schema_major();
  p.schema_minor = hb.schema_minor();
  if (was_compatible && !p.schema_compatible()) {
    // Said once per change: the peer stays in the election (two primaries
    // would be worse), but its blades and ours refuse each other's deltas.
    BS_LOG(kError, "manager") << "chassis " << int(cfg_.chassis) << ": peer chassis " << int(p.chassis)
                              << " speaks wire schema " << p.schema_major << "." << p.schema_minor << ", this chassis "
                              << kWireSchemaMajor << "." << kWireSchemaMinor
                              << ": incompatible, sessions are not synced between them (run one major version)";
  }
  p.holds_addresses_of.clear();
  if (hb.holds_addresses_of() && hb.holds_addresses_of()->size() <= 16) {
    p.holds_addresses_of.assign(hb.holds_addresses_of()->begin(), hb.holds_addresses_of()->end());
  }
  p.priority = hb.priority();
  p.uptime = milliseconds(hb.uptime_ms());
  p.serial = hb.serial() ? hb.serial()->str() : "";
  p.config_checksums.clear();
  if (hb.config_checksums() && hb.config_checksums()->size() <= kMaxConfigSections) {
    p.config_checksums.assign(hb.config_checksums()->begin(), hb.config_checksums()->end());
  }
  // Clock offset, NTP-style: t1 our send (echoed), t2 their receive, t3
  // their send, t4 our receive. The sample with the smallest round trip
  // among the last 8 gives the estimate.
  const Nanos t4 = loop_.WallNow();
  p.last_send_ns = hb.send_time_ns();
  p.last_rx_wall = t4;
  if (hb.echo_send_time_ns() && hb.echo_receive_time_ns()) {
    const Nanos t1(static_cast<int64_t>(hb.echo_send_time_ns()));
    const Nanos t2(static_cast<int64_t>(hb.echo_receive_time_ns()));
    const Nanos t3(static_cast<int64_t>(hb.send_time_ns()));
    const Nanos delay = (t4 - t1) - (t3 - t2);
    if (delay >= Nanos(0) && delay < seconds(5)) {
      p.samples[static_cast<size_t>(p.n_samples++ % 8)] = {delay, ((t2 - t1) + (t3 - t4)) / 2};
      const int n = std::min(p.n_samples, 8);
      auto best = std::min_element(p.samples.begin(), p.samples.begin() + n);
      p.rtt = best->first;
      p.clock_offset = best->second;
      if (std::chrono::abs(p.clock_offset - p.pushed_offset) > std::chrono::microseconds(50) || p.n_samples == 1) {
        p.pushed_offset = p.clock_offset;
        SendCommand(wire::CommandKind::SetClockOffset, p.chassis, p.clock_offset.count());
      }
    }
  }
  if (!p.alive) {
    p.alive = true;
    p.partitioned = false;
    BS_LOG(kInfo, "manager") << "chassis " << int(cfg_.chassis) << ": peer chassis " << int(p.chassis) << " is up (via "
                             << LinkName(link) << ")";
  }
  // What the peer advertises (live blades, readiness, priority) can change
  // with every heartbeat, and so can the election's outcome.
  Evaluate();
}

// A blade's report or beat comes on the backplane, from a blade of this
// chassis and cluster; else it is dropped and counted (`what` names it).
bool ChassisManager::FromOwnBlade(const wire::Origin* from, const FrameMeta& meta, const std::string& what) {
  if (meta.link != Link::kBackplane) return Drop(DropReason::kWrongLink, what + " on m1/m2"), false;
  if (!from) return Drop(DropReason::kMalformed, what + " without origin"), false;
  if (from->group_id() != cfg_.group_id) return Drop(DropReason::kWrongCluster, what), false;
  if (from->chassis() != cfg_.chassis || from->slot() < 1 || from->slot() > cfg_.worker_slot_count()) {
    return Drop(DropReason::kWrongSender, what + " not from a blade of this chassis"), false;
  }
  if (meta.authenticated_chassis >= 0 && meta.authenticated_chassis != cfg_.chassis) {
    return Drop(DropReason::kUnauthenticated, what + " under another chassis's key"), false;
  }
  return true;
}

// Keeps a live blade live: the incarnation its statuses come from, whose
// loop is turning though busy. A dead one (or a new incarnation) comes
// back with its next status, which says what it holds.
void ChassisManager::OnBladeAlive(const wire::BladeAlive& a) {
  BladeView& b = blades_[a.from()->slot() - 1];
  if (b.live && b.epoch == a.from()->epoch()) {
    b.last_seen = loop_.Now();
    blade_alives_.Add();
  }
}

void ChassisManager::OnBladeStatus(const wire::BladeStatus& st) {
  const uint8_t slot = st.from()->slot();
  if (slot < 1 || slot > cfg_.worker_slot_count()) return;
  BladeView& b = blades_[slot - 1];
  if (b.live && b.epoch != 0 && st.from()->epoch() != b.epoch) BladeRestarted(b, st.from()->epoch());
  if (RestartHeld(b)) return;
  b.restarted_at = Nanos(-1);
  const bool was_live = b.live;
  NoteCaughtUp();  // before a report that says not ready
  b.live = true;
  b.last_seen = loop_.Now();
  b.ready = st.ready();
  b.owned = st.owned_sessions();
  b.synced = st.synced_sessions();
  b.synced_digest = st.synced_digest();
  b.memory_bytes = st.memory_bytes();
  b.last_command = st.last_command();
  b.adoption_pending = st.adoption_pending();
  b.epoch = st.from()->epoch();
  commands_.Applied(slot, b.last_command, [this](uint8_t s) { return BladeLive(s); });
  // A blade that started (or restarted) after the role last changed, or
  // missed the SetRole (cut off until we gave up), has not applied it: once
  // nothing else waits for it, it is told again. One that applied it and
  // still reports another role (a release without roles) is not: that
  // would ask again on every status.
  if (st.role() != static_cast<wire::Role>(role_) && b.last_command < b.role_command &&
      std::none_of(commands_.pending().begin(), commands_.pending().end(),
                   [&](const CommandChannel::Command& c) { return c.slot == slot; })) {
    b.role_command = commands_.SendTo(slot, {.kind = wire::CommandKind::SetRole, .role = static_cast<wire::Role>(role_)},
                                      [this](uint8_t s) { return BladeLive(s); });
  }
  // A takeover is done when every live blade applied its Adopt.
  if (failover_command_ && std::none_of(commands_.pending().begin(), commands_.pending().end(), [&](const CommandChannel::Command& c) {
        return c.id >= failover_command_ && c.order.kind == wire::CommandKind::Adopt && blades_[c.slot - 1].live;
      })) {
    failover_command_ = 0;
    failover_done_wall_ = loop_.WallNow();
    last_failover_duration_ = loop_.Now() - failover_started_;
    failover_started_ = Nanos(0);  // used up: no start for the next one
  }
  b.standby.clear();
  if (st.standby()) for (const wire::StandbySummary* s : *st.standby()) b.standby.push_back(*s);
  // One entry per peer chassis at most: more is not believed.
  std::vector<uint8_t> fenced;
  if (st.fenced_owners() && st.fenced_owners()->size() <= 16) {
    fenced.assign(st.fenced_owners()->begin(), st.fenced_owners()->end());
  }
  const bool fence_moved = fenced != b.fenced_owners;
  b.fenced_owners = std::move(fenced);
  // A handover waiting for this blade's fence goes on now, not at the next tick.
  if (fence_moved && cfg_.mode == HaMode::kActivePassive && HandoverPending()) Evaluate();
  // Only names this build declares: whatever else a status carries is not
  // believed (and cannot grow the map).
  static const std::set<std::string> kKnown(CounterNames().begin(), CounterNames().end());
  b.counters.clear();
  if (st.named_counters()) {
    for (const wire::NamedCounter* c : *st.named_counters()) {
      if (c->name() && kKnown.count(c->name()->str())) b.counters[c->name()->str()] = c->value();
    }
  }
  if (!was_live) {
    RefreshSlots();
    BS_LOG(kInfo, "manager") << "chassis " << int(cfg_.chassis) << ": blade in slot " << int(slot) << " is up";
    Evaluate();
  }
}

void ChassisManager::Halt() {
  halted_ = true;
  tick_.reset();
  for (auto& [id, p] : peers_) p.silence.reset();
}

// This loop itself was held up (the process not run: a VM's stolen time, an
// overloaded host): its timers fire late, while what the blades and peers
// sent meanwhile still waits in the sockets, unread. Silence is judged
// again one interval later, after that has been read. Ticks come every
// hb-interval: one later than two intervals, or a grace not yet over, is
// such a hold-up.
bool ChassisManager::HeldUp(Nanos now) {
  if (now < held_up_until_) return true;
  if (last_tick_ == Nanos(0) || now - last_tick_ <= 2 * cfg_.hb_interval) return false;
  held_up_until_ = now + cfg_.hb_interval;
  held_up_.Add();
  if (LogOccurrence(held_up_.get())) {
    BS_LOG(kWarn, "manager") << "chassis " << int(cfg_.chassis) << ": this manager was held up for "
                             << (now - last_tick_) / milliseconds(1) << " ms; judging silence after what arrived meanwhile ["
                             << held_up_.get() << " so far]";
  }
  return true;
}

void ChassisManager::Tick() {
  if (halted_) return;
  const Nanos now = loop_.Now();
  const bool held_up = HeldUp(now);
  last_tick_ = now;
  for (BladeView& b : blades_) {
    if (held_up) break;
    if (b.live && now - b.last_seen > cfg_.hb_interval * cfg_.blade_hb_lost_threshold) {
      MarkDead(b, now);
      failover_started_ = now - cfg_.hb_interval * cfg_.blade_hb_lost_threshold;  // when it went silent
      BS_LOG(kWarn, "manager") << "chassis " << int(cfg_.chassis) << ": blade in slot " << int(b.slot)
                               << " missed its reports: marked dead";
    }
  }
  RefreshSlots();
  NoteCaughtUp();
  CheckPeers();
  Evaluate();  // every tick: also ends hello-holddown, and reads monitored interfaces
  commands_.Resend([this](uint8_t s) { return BladeLive(s); });
  SendHeartbeats();
}

// A peer went silent on both links. With a check address it is probed over
// another path first: if it answers, this is a partition of M1/M2, not a
// dead chassis, and nothing is taken over (the peer keeps its place in the
// election with what it last said).
void ChassisManager::PeerSilent(uint8_t id, Nanos now) {
  if (halted_) return;
  auto check = cfg_.peer_check.find(id);
  if (check == cfg_.peer_check.end() || !cfg_.probe) {
    PeerGone(id, now);
    return;
  }
  PeerView& p = peers_[id];
  p.probing = true;
  cfg_.probe(check->second, [this, id](bool answered) {
    PeerView& q = peers_[id];
    q.probing = false;
    if (q.alive) return;  // heartbeats came back meanwhile
    if (answered) {
      if (!q.partitioned) {
        split_brains_averted_.Add();
        BS_LOG(kWarn, "manager") << "chassis " << int(cfg_.chassis) << ": peer chassis " << int(id)
                                 << " is silent on m1 and m2 but answers at " << cfg_.peer_check[id]
                                 << ": a partition; not taking over";
      }
      q.partitioned = true;
      return;
    }
    q.partitioned = false;
    PeerGone(id, loop_.Now());
  });
}

void ChassisManager::PeerGone(uint8_t id, Nanos now) {
  if (primary_ == id) {
    lost_primary_ = std::make_pair(id, now);
    lost_primary_epoch_ = peers_.at(id).epoch;  // the incarnation lost (a restart is noticed before the epoch moves)
  }
  Evaluate();
  // Active-active: every chassis owns what it processed; the primary among
  // the survivors (whoever the lost one was) takes over what it owned. (In
  // active-passive Evaluate() hands over when the primary changes.)
  if (cfg_.mode == HaMode::kActiveActive && primary_ == cfg_.chassis) {
    AdoptFrom(id);
    CountFailover();
  }
}

// Its duration runs from when the loss was noticed; from now when nothing was
// lost lately (a manual failover, an override failback).
void ChassisManager::CountFailover() {
  failovers_.Add();
  failover_started_ = TakeoverStart();
  last_failover_duration_ = loop_.Now() - failover_started_;
}

Nanos ChassisManager::TakeoverStart() const {
  const Nanos now = loop_.Now();
  // A cause older than the detection time plus a split-brain probe (1 s)
  // and a turn of the loop belongs to something else.
  const Nanos window = PeerLostAfter() + seconds(2);
  return failover_started_ > Nanos(0) && now - failover_started_ <= window ? failover_started_ : now;
}

void ChassisManager::EvaluateAfterCommand() {
  const Nanos before = failover_started_;
  const HaRole role = role_;
  const uint64_t command = failover_command_;
  failover_started_ = loop_.Now();
  Evaluate();
  if (role_ == role && failover_command_ == command) failover_started_ = before;
}

// The chassis that holds the primary role now, as far as this one knows.
uint8_t ChassisManager::Incumbent() const {
  if (role_ == HaRole::kPrimary || role_ == HaRole::kStandalone) return cfg_.chassis;
  for (const auto& [id, p] : peers_) {
    if ((p.alive || p.partitioned) && p.role == HaRole::kPrimary) return id;
  }
  return 0;
}

void ChassisManager::CheckPeers() {
  const Nanos now = loop_.Now();
  const Nanos lost_after = PeerLostAfter();
  if (HeldUp(now)) {
    for (auto& [id, p] : peers_) {
      if (p.alive && p.silence && !p.silence->armed()) p.silence->Arm(held_up_until_ - now + Nanos(1));
    }
    return;
  }
  for (auto& [id, p] : peers_) {
    if (!p.alive && !p.partitioned) continue;
    if (LinkUp(p, 0) || LinkUp(p, 1)) continue;
    if (p.alive) {
      p.alive = false;
      BS_LOG(kWarn, "manager") << "chassis " << int(cfg_.chassis) << ": lost peer chassis " << int(id)
                               << " (no heartbeat on m1 or m2 for " << cfg_.hb_lost_threshold << " intervals)";
      failover_started_ = now - lost_after;  // the peer went silent this long ago
      PeerSilent(id, now);
    } else if (p.partitioned && !p.probing) {
      PeerSilent(id, now);  // probe again every interval while the partition lasts
    }
  }
}

void ChassisManager::Evaluate() {
  if (halted_) return;
  if (loop_.Now() - start_ < cfg_.hello_holddown) return;  // still in hello state
  std::vector<Candidate> c{Self()};
  if (manual_failover_) c[0].priority = 0;
  int peer_primaries = 0;
  for (auto& [id, p] : peers_) {
    // A partitioned peer (or one being probed) keeps its last known place.
    if (!p.alive && !p.partitioned && !p.probing) continue;
    if (StandsAsideForItsTakeover(id, p)) continue;
    Candidate k;
    k.chassis = id;
    k.live_blades = p.live_blades;
    k.monitored_up = p.monitored_up;
    k.remote_link_failed = p.remote_link_failed;
    k.uptime = p.uptime;
    k.priority = p.priority;
    k.serial = p.serial;
    k.ready = p.ready;
    c.push_back(k);
    peer_primaries += p.role == HaRole::kPrimary;
  }
  RoleInputs in;
  in.self = cfg_.chassis;
  in.candidates = std::move(c);
  in.election.override_ = cfg_.override_ || manual_failover_;
  in.election.uptime_margin = cfg_.uptime_margin;
  in.incumbent = Incumbent();
  in.two_primaries = (role_ == HaRole::kPrimary) && peer_primaries > 0;
  in.reelect = reelect_;
  reelect_ = false;
  in.holds = [this](uint8_t winner, uint8_t incumbent) {
    if (incumbent == cfg_.chassis) return HoldsOurs(peers_.at(winner));  // we step down only for a holder of ours
    if (winner == cfg_.chassis) return HoldsSessionsOf(incumbent, peers_.at(incumbent).epoch);  // we take over once we hold its
    return true;
  };
  const RoleDecision decision = DecideRole(in);
  const uint8_t winner = decision.primary;
  const HaRole next = decision.role;
  const uint8_t old_primary = primary_;
  primary_ = winner;
  if (next != role_) {
    const HaRole old = role_;
    role_ = next;
    NoteCaughtUp();  // kept from one traffic role to another, else caught up anew
    if (next == HaRole::kPrimary || next == HaRole::kStandalone) promoted_at_ = loop_.Now();
    BS_LOG(kInfo, "manager") << "chassis " << int(cfg_.chassis) << ": role " << HaRoleName(old) << " -> "
                             << HaRoleName(next) << " (primary is chassis " << int(winner) << ")";
    if (cfg_.mode == HaMode::kActivePassive && old == HaRole::kUnknown &&
        (next == HaRole::kPrimary || next == HaRole::kStandalone)) {
      // Leaving the hello state as primary: a peer that was primary and was
      // lost meanwhile (a restarted backup that had resynced from it) owned
      // what our standby tables hold, and nobody else has it.
      for (auto& [id, p] : peers_) {
        if (p.alive || p.partitioned || p.role != HaRole::kPrimary) continue;
        AdoptFrom(id);
        CountFailover();
      }
    } else if (cfg_.mode == HaMode::kActivePassive && old != HaRole::kUnknown) {
      const bool now_primary = next == HaRole::kPrimary || next == HaRole::kStandalone;
      const bool was_primary = old == HaRole::kPrimary || old == HaRole::kStandalone;
      if (now_primary && !was_primary && old_primary != 0 && old_primary != cfg_.chassis) {
        // Promotion: the sessions the old primary owned are in our standby
        // tables. A lost primary's are taken now; a live one's when it has
        // stepped down and our mirrors are past its fence (HandOver).
        auto op = peers_.find(old_primary);
        const bool live = op != peers_.end() && op->second.alive &&
                          (op->second.role == HaRole::kPrimary || op->second.stepped_down);
        if (!live) AdoptFrom(old_primary);
        // The primary lost before, when our view of who comes next moved in
        // between: nobody else took the role, so it is ours to adopt. If it
        // is back with a new incarnation, only while our blades still keep
        // the old one's tables (OrphanTakeoverWindow, from about when we noticed):
        // later an Adopt would take the live incarnation's.
        if (lost_primary_ && lost_primary_->first != old_primary) {
          auto lp = peers_.find(lost_primary_->first);
          const bool back = lp != peers_.end() && lp->second.alive;
          if (!back || loop_.Now() - lost_primary_->second < OrphanTakeoverWindow()) AdoptFrom(lost_primary_->first);
        }
        lost_primary_.reset();
        CountFailover();
      } else if (was_primary && !now_primary) {
        // Demotion: we stop processing traffic now, and give up what we own
        // once the new primary holds it and has taken the role (HandOver).
        pending_relinquish_ = true;
      }
    }
    TellRole();
    if (role_listener_) role_listener_(old, next);
  }
  if (cfg_.mode == HaMode::kActivePassive) HandOver();
}

// The lost primary back with a new incarnation while the survivors keep
// its previous incarnation's sessions for a takeover: it is no candidate
// until one of them has taken the role (or the window is over). Else, with
// the survivors briefly disagreeing on who comes next (one of them not
// ready), the new incarnation wins on priority with empty tables and the
// old one's sessions are dropped unadopted (found by the soak).
// Only another incarnation and only in active-passive: the same one back
// from a short partition still owns its sessions (a takeover must not
// adopt them under it), and in active-active the survivors adopt at the
// loss itself (PeerGone).
bool ChassisManager::StandsAsideForItsTakeover(uint8_t id, const PeerView& p) const {
  return cfg_.mode == HaMode::kActivePassive && lost_primary_ && lost_primary_->first == id && p.alive &&
         p.epoch != lost_primary_epoch_ && p.role != HaRole::kPrimary && p.role != HaRole::kStandalone &&
         loop_.Now() - lost_primary_->second < OrphanTakeoverWindow();
}

// Adopt before relinquish: a primary that steps down keeps its sessions
// until the new primary, which holds them, has taken the role and adopted
// them; if the role comes back first, nothing moved and nothing is lost.
void ChassisManager::HandOver() {
  if (role_ == HaRole::kPrimary || role_ == HaRole::kStandalone) {
    pending_relinquish_ = false;  // still ours
    for (auto& [id, p] : peers_) {
      if (!p.stepped_down) continue;
      if (p.adopted_epoch == p.epoch) {
        p.stepped_down = false;
        continue;
      }
      // What it sent as primary just before may still be on its way (a cut
      // M1 not yet noticed): our mirrors hold it all once they are past its
      // fence. One that never comes (a release without fences, a peer gone
      // quiet) is waited out, counted.
      const bool fenced = FencePassed(id);
      const Nanos waiting_since = std::max(p.stepped_down_at, promoted_at_);
      if (!fenced && p.alive && loop_.Now() - waiting_since < HandoverWait()) continue;
      if (!fenced) {
        handovers_unfenced_.Add();
        BS_LOG(kWarn, "manager") << "chassis " << int(cfg_.chassis) << ": chassis " << int(id)
                                 << " stepped down and its fence did not arrive: adopting what our mirrors hold";
      }
      p.stepped_down = false;
      AdoptFrom(id);
    }
    return;
  }
  if (!pending_relinquish_) return;
  auto it = peers_.find(primary_);
  if (it == peers_.end() || !it->second.alive || it->second.role != HaRole::kPrimary) return;
  if (!HoldsOurs(it->second)) return;
  // Only once it adopted them: it may wait for our fence, and if the role
  // came back to us meanwhile we still have them.
  if (!it->second.adopted_ours) return;
  pending_relinquish_ = false;
  SendCommand(wire::CommandKind::Relinquish, cfg_.chassis);
}

bool ChassisManager::HoldsOurs(const PeerView& p) const {
  return EveryLiveBlade([&](const BladeView& b) {
    return std::any_of(p.held_streams.begin(), p.held_streams.end(), [&](const wire::HeldStream& h) {
      return h.chassis() == cfg_.chassis && h.slot() == b.slot && h.epoch() == b.epoch;
    });
  });
}

bool ChassisManager::FencePassed(uint8_t c) const {
  static const std::optional<std::vector<uint8_t>> kUnknown;
  auto peer = peers_.find(c);
  const std::optional<std::vector<uint8_t>>& live = peer == peers_.end() ? kUnknown : peer->second.live_slots;
  return EveryLiveBlade([&](const BladeView& b) {
    // Its blade in this slot is dead (it said so): nothing to wait for.
    if (live && std::find(live->begin(), live->end(), b.slot) == live->end()) return true;
    return std::find(b.fenced_owners.begin(), b.fenced_owners.end(), c) != b.fenced_owners.end();
  });
}

bool ChassisManager::HoldsSessionsOf(uint8_t chassis, uint32_t epoch) const {
  return EveryLiveBlade([&](const BladeView& b) {
    return std::any_of(b.standby.begin(), b.standby.end(), [&](const wire::StandbySummary& s) {
      return s.owner_chassis() == chassis && s.owner_epoch() == epoch && (s.in_sync() || s.adopted());
    });
  });
}

void ChassisManager::AdoptFrom(uint8_t peer) {
  // Timed from the loss, the manual failover or the monitor change that
  // caused it when that was lately; else from now (the peer stepped down:
  // nothing here marked a start, which made the duration our uptime).
  failover_started_ = TakeoverStart();
  failover_command_ = commands_.next_id();
  SendCommand(wire::CommandKind::Adopt, peer);
  if (auto it = peers_.find(peer); it != peers_.end()) it->second.adopted_epoch = it->second.epoch;
}

void ChassisManager::SendCommand(wire::CommandKind kind, uint8_t peer, int64_t offset_ns) {
  if (kind == wire::CommandKind::Adopt || kind == wire::CommandKind::Relinquish) {
    BS_LOG(kWarn, "manager") << "chassis " << int(cfg_.chassis) << ": "
                             << (kind == wire::CommandKind::Adopt ? "taking over the sessions of chassis " : "handing over the sessions of chassis ")
                             << int(peer);
  }
  commands_.Send({kind, peer, offset_ns}, [this](uint8_t s) { return BladeLive(s); });
}

// Every blade learns the chassis's role (an embedded data plane acts on
// it), after any Adopt the change brought: adopted sessions come first.
void ChassisManager::TellRole() {
  const uint64_t first = commands_.Send({.kind = wire::CommandKind::SetRole, .role = static_cast<wire::Role>(role_)},
                                        [this](uint8_t s) { return BladeLive(s); });
  for (BladeView& b : blades_) b.role_command = CommandChannel::IdFor(first, b.slot);
}

void ChassisManager::FlushIngress() { ingress_.Flush(); }

void ChassisManager::Ingress(const PacketInfo& p) {
  if (auto slot = IngressSlot(p)) ingress_.Add(*slot, p);
}

template <typename WirePacket>
void ChassisManager::Ingress(const PacketInfo& p, const WirePacket& w, uint8_t after, bool from_peer) {
  uint8_t peer = 0;
  if (auto slot = IngressSlot(p, after, from_peer ? nullptr : &peer)) {
    ingress_.Add(*slot, w);
  } else if (peer) {
    ingress_to_peer_.Add();
    ingress_.AddToPeer(peer, PeerLink(peer), w);
  }
}

// Active-active: the live peer whose blade of `slot` took over our dead
// blade's sessions (its heartbeat lists the slot), or 0.
uint8_t ChassisManager::PeerHoldingSlot(uint8_t slot) const {
  if (cfg_.mode != HaMode::kActiveActive || slot < 1 || slot > cfg_.worker_slot_count() || BladeLive(slot)) return 0;
  // It adopts when it hears of the death: from our heartbeat of the same
  // tick, sent before anything we hand it.
  const uint8_t heir = BladeHeir(cfg_.chassis, slot);
  return heir == cfg_.chassis ? 0 : heir;
}

// Who takes over the sessions of `lost`'s dead blade in `slot`: one chassis,
// the same in every chassis's view, among those alive with that slot live:
// the primary if it is one of them, else the lowest-numbered.
uint8_t ChassisManager::BladeHeir(uint8_t lost, uint8_t slot) const {
  auto has = [&](uint8_t c) {
    if (c == lost) return false;
    if (c == cfg_.chassis) return BladeLive(slot);
    const PeerView& p = peers_.at(c);
    return p.alive && p.live_slots && std::find(p.live_slots->begin(), p.live_slots->end(), slot) != p.live_slots->end();
  };
  if (const uint8_t primary = Incumbent(); primary && has(primary)) return primary;
  uint8_t lowest = has(cfg_.chassis) ? cfg_.chassis : 0;
  for (const auto& [id, p] : peers_) {
    if (has(id) && (!lowest || id < lowest)) lowest = id;
  }
  return lowest;
}

Link ChassisManager::PeerLink(uint8_t peer) const {
  const PeerView& p = peers_.at(peer);
  return LinkUp(p, 0) || !LinkUp(p, 1) ? Link::kM1 : Link::kM2;
}

// A peer's blade went down (its heartbeat no longer lists the slot). In
// active-active its sessions are nobody's now: our blade of that slot, which
// mirrors it, takes them over, and the peer hands us their packets.
void ChassisManager::PeerBladesLost(const PeerView& p, const std::vector<uint8_t>& live_before) {
  for (uint8_t slot : live_before) {
    if (std::find(p.live_slots->begin(), p.live_slots->end(), slot) != p.live_slots->end()) continue;
    slot_down_at_ = loop_.Now();
    if (cfg_.mode != HaMode::kActiveActive || slot < 1 || slot > cfg_.worker_slot_count()) continue;
    if (BladeHeir(p.chassis, slot) != cfg_.chassis) continue;  // another chassis takes them
    // The dead blade's incarnation, as our blade of that slot follows it.
    uint32_t epoch = 0;
    for (const wire::StandbySummary& s : blades_[slot - 1].standby) {
      if (s.owner_chassis() == p.chassis) epoch = s.owner_epoch();
    }
    std::erase_if(adopted_blades_, [&](const wire::TakenOverBlade& t) { return t.chassis() == p.chassis && t.slot() == slot; });
    blade_takeovers_.Add();
    adopted_blades_.emplace_back(p.chassis, slot, epoch, static_cast<uint32_t>(blade_takeovers_.get()));
    BS_LOG(kWarn, "manager") << "chassis " << int(cfg_.chassis) << ": blade in slot " << int(slot) << " of chassis "
                             << int(p.chassis) << " is down: our blade in slot " << int(slot) << " takes over its sessions";
    commands_.SendTo(slot, {.kind = wire::CommandKind::Adopt, .peer = p.chassis},
                     [this](uint8_t s) { return BladeLive(s); });
  }
}

// A blade back with a new epoch before it was marked dead (a blade process
// or a board restarted faster than blade-hb-lost-threshold intervals): its
// previous incarnation is gone with what it owned, whose copies are at its
// mirrors. Like a restarted peer chassis, it is dead first, then back: a
// peer takes those sessions over (in active-passive the role moves, as for
// any dead blade), and only then is the new, empty incarnation live again.
void ChassisManager::BladeRestarted(BladeView& b, uint32_t epoch) {
  const Nanos now = loop_.Now();
  blade_restarts_.Add();
  BS_LOG(kWarn, "manager") << "chassis " << int(cfg_.chassis) << ": blade in slot " << int(b.slot) << " restarted (epoch "
                           << b.epoch << " -> " << epoch << ") before it was marked dead: taken as dead, then as back";
  MarkDead(b, now);
  b.epoch = epoch;
  failover_started_ = now;
  const bool owned_any = cfg_.mode == HaMode::kActiveActive || role_ == HaRole::kPrimary || role_ == HaRole::kStandalone;
  b.restarted_at = owned_any && PeerMirrorsSlot(b.slot) ? now : Nanos(-1);
  RefreshSlots();
  Evaluate();
  SendHeartbeats();  // the peers learn it now, ahead of its flows' packets
}

// Its current incarnation is dead here (a peer may take it over).
void ChassisManager::MarkDead(BladeView& b, Nanos now) {
  b.live = false;
  slot_down_at_ = now;
  if (b.dead_epoch != b.epoch) b.given_up_takeover = 0;
  b.dead_epoch = b.epoch;
}

// Kept dead until a peer says it took over the previous incarnation's
// sessions: in active-active the heir lists the slot's takeover, in
// active-passive the new primary adopted ours. At least one heartbeat
// round, at most while the mirrors still keep the previous table.
bool ChassisManager::RestartHeld(const BladeView& b) const {
  if (b.restarted_at < Nanos(0)) return false;
  const Nanos held = loop_.Now() - b.restarted_at;
  if (held < cfg_.hb_interval) return true;
  for (const auto& [id, p] : peers_) {
    if (!p.alive) continue;
    if (cfg_.mode == HaMode::kActiveActive) {
      for (const wire::TakenOverBlade& t : p.took_ours) {
        if (t.slot() == b.slot && (t.epoch() == b.dead_epoch || t.epoch() == b.epoch)) return false;
      }
    } else if (p.role == HaRole::kPrimary && p.adopted_ours) {
      return false;
    }
  }
  return held < OrphanTakeoverWindow();
}

bool ChassisManager::PeerMirrorsSlot(uint8_t slot) const {
  return std::any_of(peers_.begin(), peers_.end(), [&](const auto& kv) {
    const PeerView& p = kv.second;
    return p.alive && p.live_slots && std::find(p.live_slots->begin(), p.live_slots->end(), slot) != p.live_slots->end();
  });
}

// A blade of ours that was only silent (a stall, a blip on the backplane)
// comes back owning what a peer took over meanwhile: it gives that up, once
// per incarnation, so every session keeps one owner.
void ChassisManager::GiveUpWhatPeersTookOver(const PeerView& p) {
  for (const wire::TakenOverBlade& t : p.took_ours) {
    const uint8_t slot = t.slot();
    BladeView& b = blades_[slot - 1];
    // Only an incarnation this manager itself marked dead: a heartbeat
    // cannot make a blade that never went silent give anything up.
    if (!b.live || b.epoch != t.epoch() || b.dead_epoch != t.epoch() || b.given_up_takeover >= t.takeover()) continue;
    b.given_up_takeover = t.takeover();
    BS_LOG(kWarn, "manager") << "chassis " << int(cfg_.chassis) << ": blade in slot " << int(slot)
                             << " came back after chassis " << int(p.chassis) << " took over its sessions: it gives them up";
    commands_.SendTo(slot, {.kind = wire::CommandKind::Relinquish}, [this](uint8_t s) { return BladeLive(s); });
  }
}

// What routing reads on every packet, refreshed where it changes: a blade
// up or down, a peer's heartbeat (its live slots), and each tick (the
// window after a slot was down runs out).
void ChassisManager::RefreshSlots() {
  live_mask_ = LiveSlots();
  ingress_.set_may_return(SlotsMoved());
}

SlotMask ChassisManager::LiveSlots() const {
  SlotMask m = 0;
  for (const BladeView& b : blades_) {
    if (b.live) m |= SlotBit(b.slot);
  }
  return m;
}

bool ChassisManager::SlotsMoved() const {
  const SlotMask all = cfg_.worker_slot_count() >= kMaxWorkerSlots ? kAllSlots : (SlotMask{1} << cfg_.worker_slot_count()) - 1;
  if (LiveSlots() != all) return true;
  for (const auto& [id, p] : peers_) {
    if (p.alive && p.live_slots && p.live_slots->size() < static_cast<size_t>(cfg_.worker_slot_count())) return true;
  }
  return slot_down_at_ >= Nanos(0) && loop_.Now() - slot_down_at_ < cfg_.moved_sessions_live;
}

std::optional<uint8_t> ChassisManager::IngressSlot(const PacketInfo& p, uint8_t after, uint8_t* to_peer) {
  if (!after) ingress_packets_.Add();
  if (!processes_traffic()) {
    ingress_dropped_.Add();
    return std::nullopt;
  }
  const Verdict v = distributor_.Classify(p.key, p.srcintf, p.dstintf, live_mask_, after);
  if (v.action == Verdict::kDrop) {
    ingress_dropped_.Add();
    return std::nullopt;
  }
  if (v.slot == 0) {
    // Active-active, a blade of its flow's slots dead here: the peer that
    // took over what that blade owned (the first such slot of the flow's
    // ranking: its session was made on the first slot live then).
    if (to_peer && cfg_.mode == HaMode::kActiveActive) {
      for (uint8_t s : distributor_.Ranking(p.key, v.home, v.method)) {
        if ((*to_peer = PeerHoldingSlot(s))) return std::nullopt;
      }
    }
    ingress_dropped_.Add();
    if (after) {
      ingress_no_session_.Add();  // every live slot of its flow handed it back
    } else {
      ingress_no_live_slot_.Add();
      const uint64_t n = ingress_no_live_slot_.get();
      if (LogOccurrence(n)) {
        BS_LOG(kWarn, "manager") << "chassis " << int(cfg_.chassis) << ": no live slot for " << p.key.ToString()
                                 << (v.rule >= 0 ? " (flow rule " + std::to_string(v.rule) + ")" : std::string())
                                 << ": dropped [" << n << " so far]";
      }
    }
    return std::nullopt;
  }
  if (v.slot != v.home) ingress_rerouted_.Add();
  return v.slot;
}

}  // namespace bladesync
