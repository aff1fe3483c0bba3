// ChassisManager: one chassis's manager (the DP/NP role plus HA control).
//
// - Membership: blades report a BladeStatus every hb-interval on the
//   backplane; a blade silent for blade-hb-lost-threshold intervals is dead.
// - Heartbeats: every hb-interval on M1 and on M2 to every peer manager; a
//   peer is lost after hb-lost-threshold intervals without a heartbeat on
//   either link.
// - Election (manager/election.h) over itself and the live peers decides the
//   primary. When a peer is lost, the primary among the survivors tells its
//   blades to adopt the lost chassis's sessions (promotion).
// - Ingress: packets entering the chassis are distributed to blades by the
//   Distributor, batched per slot, while this chassis processes traffic
//   (active-passive: the primary only; active-active: every chassis).
//
//   ChassisManager m(cfg, loop, transport);
//   m.Start();
//   m.Ingress(packet);
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "blades/blade_config.h"
#include "blades/blade_counters.h"
#include "blades/packet.h"
#include "blades/pickup_policy.h"
#include "core/counter.h"
#include "core/event_loop.h"
#include "fabric/link_monitor.h"
#include "fabric/transport.h"
#include "manager/command_channel.h"
#include "manager/distributor.h"
#include "manager/election.h"
#include "manager/ingress_batcher.h"
#include "manager/role_decision.h"
#include "schemas/bladesync_generated.h"

namespace bladesync {

struct ManagerConfig {
  uint32_t group_id = 0;     // group-id: the cluster's id on every frame
  uint8_t chassis = 1;
  uint32_t epoch = 1;
  int slots = 4;              // blades
  int workers = 1;            // blade-workers: each blade's workers are nodes of their own
  // The nodes the manager runs: one per worker of every blade (WorkerSlots).
  int worker_slot_count() const { return slots * workers; }
  uint8_t priority = 128;
  std::string serial;
  bool override_ = false;
  HaMode mode = HaMode::kActivePassive;
  std::vector<uint8_t> peers;          // the other chassis
  Nanos hb_interval = milliseconds(200);
  int hb_lost_threshold = 6;
  int blade_hb_lost_threshold = 5;
  int monitored_total = 0;
  Nanos uptime_margin = seconds(300);
  // hello-holddown: after start, wait this long for our blades and peers
  // to report before taking part in the election (no role, no traffic).
  Nanos hello_holddown = seconds(2);
  // Connected monitored interfaces right now (the runtime reads the system).
  std::function<int()> monitored_up;
  // The remote link monitors failed (netif/remote_link_monitors.h); unset: never.
  std::function<bool()> remote_link_failed;
  // Split-brain guard: the check address of each peer (host:port reachable
  // outside M1/M2) and how to probe it; done(true) means it answered.
  std::map<uint8_t, std::string> peer_check;
  std::function<void(const std::string& address, std::function<void(bool)> done)> probe;
  DistributionOptions distribution;
  // This chassis's release and commit, sent in heartbeats.
  std::string software_version;
  // Checksums of this chassis's config per section, sent in heartbeats.
  std::vector<uint64_t> config_checksums;
  size_t ingress_batch = 512;
  // How long a TCP session made while its flow's home slot was down can live
  // on idle (session-ttl): until then its packets may be handed back.
  Nanos moved_sessions_live = seconds(3600);
};


// A heartbeat with more config sections than this is not believed.
inline constexpr size_t kMaxConfigSections = 64;

struct BladeView {
  uint8_t slot = 0;
  bool live = false;
  bool ready = false;
  Nanos last_seen{0};
  uint64_t owned = 0;
  uint64_t synced = 0;
  uint64_t synced_digest = 0;
  uint64_t memory_bytes = 0;
  uint64_t last_command = 0;
  bool adoption_pending = false;  // adopted sessions not yet in the kernel
  uint64_t role_command = 0;      // the SetRole last sent to it (its request id)
  uint32_t epoch = 0;  // its stream's incarnation (its own when it runs as a process of its own)
  uint32_t dead_epoch = 0;         // the incarnation last marked dead here (a peer may take it over)
  uint32_t given_up_takeover = 0;  // the last takeover of dead_epoch it was told to give up
  // Back with a new epoch before it was marked dead: kept dead from then
  // until a peer took over what dead_epoch owned (ChassisManager::RestartHeld).
  Nanos restarted_at{-1};
  std::vector<wire::StandbySummary> standby;
  std::vector<uint8_t> fenced_owners;  // chassis whose fenced stream its mirrors hold up to the fence
  std::map<std::string, uint64_t> counters;  // by name; an absent one is 0
};

struct PeerView {
  uint8_t chassis = 0;
  bool alive = false;
  bool ever_heard = false;
  bool partitioned = false;   // silent on M1 and M2, but its check address answers
  bool probing = false;
  LinkMonitor links{Nanos(0)};  // its heartbeats on M1 and M2 (nothing heard at first)
  HaRole role = HaRole::kUnknown;
  bool ready = false;
  int live_blades = 0;
  int monitored_up = 0;
  bool remote_link_failed = false;
  std::vector<uint8_t> holds_addresses_of;  // a-a: whose traffic addresses it holds
  std::string software_version;             // its release and commit ("" from an older one)
  uint16_t schema_major = 1;                // its wire schema version (1.0 from release 0.2.0)
  uint16_t schema_minor = 0;
  bool schema_compatible() const;           // same major as ours: deltas and acks go both ways
  uint8_t priority = 0;
  Nanos uptime{0};
  std::string serial;
  Nanos clock_offset{0};   // peer wall clock minus ours, from heartbeat round trips
  Nanos rtt{0};
  uint64_t last_send_ns = 0;   // the peer's send time of its newest heartbeat
  uint32_t epoch = 0;          // the peer's incarnation and its newest heartbeat seq
  uint64_t hb_seq = 0;
  Nanos confirmed_at{0};       // when the epoch and seq we follow were last confirmed by a heartbeat
  std::vector<wire::HeldStream> held_streams;  // what its heartbeat says its live blades hold
  std::vector<uint64_t> config_checksums;      // its config's, per section (empty: not sent)
  uint32_t adopted_epoch = 0;  // the incarnation of it whose sessions we adopted
  bool stepped_down = false;   // was primary in this incarnation, is no longer: its sessions are to adopt
  Nanos stepped_down_at{0};    // when we saw it step down (a handover waits for its fence from then)
  bool adopted_ours = false;   // its heartbeat says it adopted our current incarnation's sessions
  std::optional<std::vector<uint8_t>> live_slots;  // its live blades (unset: an older release)
  std::vector<wire::TakenOverBlade> took_ours;  // a-a: our dead blades it took over
  Nanos last_rx_wall{0};       // our wall clock when it arrived
  std::array<std::pair<Nanos, Nanos>, 8> samples{};  // (delay, offset)
  int n_samples = 0;
  Nanos pushed_offset{0};
  std::shared_ptr<Timer> silence;  // fires hb-lost-threshold intervals after the last heartbeat
};

class ChassisManager {
 public:
  ChassisManager(ManagerConfig cfg, EventLoop& loop, Transport& transport);
  virtual ~ChassisManager() = default;
  void Start();
  // Stops deciding, as a crashed process would: no more ticks, heartbeats,
  // elections or frames handled (the demo's crash; the object stays readable).
  void Halt();
  void OnFrame(const FrameMeta& meta, std::span<const uint8_t> bytes);

  // A packet entering this chassis; dropped (and counted) unless the chassis
  // processes traffic. Batches go out at the end of the loop turn.
  void Ingress(const PacketInfo& p);
  void FlushIngress();
  // In a traffic role and caught up in it (see NoteCaughtUp).
  bool processes_traffic() const;
  // Processes traffic, and may be sent it: every live blade applied its
  // Adopt and has its adopted sessions where the traffic needs them (the
  // kernel), and no live peer still claims the primary role. The cluster
  // addresses come to this chassis only then (netif/traffic_takeover.h).
  bool TrafficReady() const;

  HaRole role() const { return role_; }
  uint8_t primary() const { return primary_; }
  bool ready() const;
  int live_blades() const;
  const ManagerConfig& config() const { return cfg_; }
  const std::vector<BladeView>& blades() const { return blades_; }
  const std::map<uint8_t, PeerView>& peers() const { return peers_; }
  // Whether a peer's heartbeats still arrive on `link` (M1 = 0, M2 = 1): the
  // one judgement of link liveness, with the threshold that declares a peer
  // lost (status, metrics and the loss itself agree).
  bool LinkUp(const PeerView& p, int link) const { return p.links.alive(static_cast<Link>(link), loop_.Now()); }
  uint64_t failovers() const { return failovers_.get(); }
  uint64_t split_brains_averted() const { return split_brains_averted_.get(); }
  // Times this manager's own loop was held up past two intervals, and
  // judged silence only after reading what had arrived meanwhile.
  uint64_t held_up() const { return held_up_.get(); }
  // BladeAlive beats taken from this chassis's blades (runtime/blade_beat.h).
  uint64_t blade_alives() const { return blade_alives_.get(); }
  // Peers seen with a new epoch before their loss was declared (taken as lost, then back).
  uint64_t peer_restarts() const { return peer_restarts_.get(); }
  // Blades of this chassis back with a new epoch before they were marked dead.
  uint64_t blade_restarts() const { return blade_restarts_.get(); }
  // Handovers that adopted without every blade past the stepped-down
  // primary's fence (HandoverWait ran out): what it sent last may be lost.
  uint64_t handovers_unfenced() const { return handovers_unfenced_.get(); }
  Nanos last_failover_duration() const { return last_failover_duration_; }
  // Wall-clock time every blade had applied the last takeover (0: none yet).
  Nanos last_failover_done_wall() const { return failover_done_wall_; }
  // Re-reads the monitored interfaces and re-runs the election.
  void Reevaluate() { EvaluateAfterCommand(); }
  // execute ha failover set|unset: this chassis steps down while set.
  void SetManualFailover(bool on) {
    manual_failover_ = on;
    EvaluateAfterCommand();
  }
  bool manual_failover() const { return manual_failover_; }
  // diagnose sys ha reset-uptime: our age starts again from now, and the
  // next election runs without the incumbent's advantage (FortiOS's way to
  // force a new election; within ha-uptime-diff-margin priority decides).
  void ResetUptime();
  Nanos uptime() const { return loop_.Now() - uptime_base_; }
  // a-a: the chassis whose traffic addresses this one holds (heartbeats say so).
  void SetHeldAddresses(std::vector<uint8_t> of) { held_addresses_ = std::move(of); }
  // A live peer holds chassis c's traffic addresses.
  bool AddressesHeldElsewhere(uint8_t c) const;
  // A reload changed the config: the next heartbeats carry its checksums.
  void SetConfigChecksums(std::vector<uint64_t> c) { cfg_.config_checksums = std::move(c); }
  // Frames refused, by reason (the blades' reasons: one word per concept).
  uint64_t dropped(DropReason r) const { return dropped_[static_cast<int>(r)].get(); }
  uint64_t ingress_packets() const { return ingress_packets_.get(); }
  uint64_t ingress_dropped() const { return ingress_dropped_.get(); }
  // Of the packets: sent to another slot than their flow's home (it was
  // down); dropped as no slot of their flow was live; handed back by every
  // live slot of their flow (no session anywhere here).
  uint64_t ingress_rerouted() const { return ingress_rerouted_.get(); }
  uint64_t ingress_no_live_slot() const { return ingress_no_live_slot_.get(); }
  uint64_t ingress_no_session() const { return ingress_no_session_.get(); }
  // Active-active: packets handed to / from a peer whose blade took over a
  // dead blade's sessions, and those takeovers.
  uint64_t ingress_to_peer() const { return ingress_to_peer_.get(); }
  uint64_t ingress_from_peer() const { return ingress_from_peer_.get(); }
  uint64_t blade_takeovers() const { return blade_takeovers_.get(); }
  // The slots whose blade is live now.
  SlotMask LiveSlots() const;
  EventLoop& loop() { return loop_; }
  Nanos now() const { return loop_.Now(); }
  // Called when the role changes: (old, new).
  void set_role_listener(std::function<void(HaRole, HaRole)> f) { role_listener_ = std::move(f); }

 protected:
  // Silence on both links this long declares a peer lost (hb-interval x hb-lost-threshold).
  // hb-lost-threshold heartbeats missed, plus a quarter interval for the
  // next one's latency: exactly threshold x interval after the last beat
  // raced the beat that was due then, so threshold - 1 lost ones could fail over.
  // Virtual so a test can break it (tests/support/broken_blades.h).
  virtual Nanos PeerLostAfter() const { return cfg_.hb_interval * cfg_.hb_lost_threshold + cfg_.hb_interval / 4; }

 private:
  void Tick();
  void SendHeartbeats();
  void OnHeartbeat(const wire::Heartbeat& hb, Link link);
  // Counts a refused frame by reason; logs the 1st, 2nd, 4th, ... of each.
  void Drop(DropReason r, const std::string& what);
  bool FromOwnBlade(const wire::Origin* from, const FrameMeta& meta, const std::string& what);
  void OnBladeStatus(const wire::BladeStatus& st);
  void OnBladeAlive(const wire::BladeAlive& a);
  void Evaluate();
  // This loop was held up past two intervals (or its grace is not over).
  bool HeldUp(Nanos now);
  // Primary or standalone (active-passive); any role but unknown (active-active).
  bool TrafficRole() const;
  // Latches caught_up_ while in a traffic role; leaving one clears it.
  void NoteCaughtUp();
  // An operator's command starts a takeover's clock only when it moved the
  // role: one that changed nothing is no start for a later takeover.
  void EvaluateAfterCommand();
  // When the cause of the takeover starting now was noticed: a recent loss
  // or command (within the detection time and a probe), else now.
  Nanos TakeoverStart() const;
  void SendCommand(wire::CommandKind kind, uint8_t peer, int64_t offset_ns = 0);
  void TellRole();
  // The blade an entering packet goes to (counted), or none (dropped,
  // counted); `after`: the slot that handed it back (0: it just entered).
  // to_peer: set to the peer to hand the packet to when no slot here can take
  // it (active-active, see PeerHoldingSlot); null for a peer's packets.
  std::optional<uint8_t> IngressSlot(const PacketInfo& p, uint8_t after = 0, uint8_t* to_peer = nullptr);
  uint8_t PeerHoldingSlot(uint8_t slot) const;
  uint8_t BladeHeir(uint8_t lost, uint8_t slot) const;
  Link PeerLink(uint8_t peer) const;
  void PeerBladesLost(const PeerView& p, const std::vector<uint8_t>& live_before);
  void GiveUpWhatPeersTookOver(const PeerView& p);
  void MarkDead(BladeView& b, Nanos now);
  void BladeRestarted(BladeView& b, uint32_t epoch);
  bool RestartHeld(const BladeView& b) const;
  // A live peer's blade of this slot is live: it mirrors ours and can take it over.
  bool PeerMirrorsSlot(uint8_t slot) const;
  // Whether a session may live on another slot than its flow's home: a slot
  // is down here or at a peer, or was within the longest session lifetime.
  bool SlotsMoved() const;
  void RefreshSlots();
  // A packet from a data port: `p` is read, `w` goes on unchanged.
  template <typename WirePacket>
  void Ingress(const PacketInfo& p, const WirePacket& w, uint8_t after = 0, bool from_peer = false);
  bool BladeLive(uint8_t slot) const { return blades_[slot - 1].live; }
  uint64_t hb_seq_ = 0;  // one per heartbeat round (the M1 and M2 copies share it)
  uint8_t Incumbent() const;
  // Every live blade holds chassis `c` incarnation `epoch` in sync, or adopted it.
  bool HoldsSessionsOf(uint8_t c, uint32_t epoch) const;
  // Its heartbeat says its blades hold the current stream of each of our live blades.
  bool HoldsOurs(const PeerView& p) const;
  // At least one blade is live and `pred` holds for every live one.
  template <typename Pred>
  bool EveryLiveBlade(Pred pred) const {
    bool any = false;
    for (const BladeView& b : blades_) {
      if (!b.live) continue;
      if (!pred(b)) return false;
      any = true;
    }
    return any;
  }
  // Every live blade's mirror of chassis `c` is past its fence: it holds
  // everything c sent as primary.
  bool FencePassed(uint8_t c) const;
  // The longest a handover waits for the fence: a cut M1 noticed, the lost
  // frames resent on M2, and a heartbeat to spare. Well inside the grace
  // the old primary keeps its stream for after relinquishing (BladeAgent::Relinquish).
  Nanos HandoverWait() const { return HandoverWaitOf(cfg_.hb_interval, cfg_.hb_lost_threshold); }
  // A primary stepped down and we hold the role: adopting its sessions waits for its fence.
  bool HandoverPending() const;
  bool StandsAsideForItsTakeover(uint8_t id, const PeerView& p) const;
  // Sends Adopt(peer) to every blade; remembers which incarnation was adopted.
  void AdoptFrom(uint8_t peer);
  void HandOver();
  Candidate Self() const;

  ManagerConfig cfg_;
  EventLoop& loop_;
  Transport& transport_;
  Distributor distributor_;
  Nanos start_;
  Nanos uptime_base_;  // start_, or the last reset-uptime
  bool reelect_ = false;  // reset-uptime: one election without the incumbent's advantage
  std::vector<uint8_t> held_addresses_;
  std::vector<BladeView> blades_;   // index = slot - 1
  std::map<uint8_t, PeerView> peers_;
  HaRole role_ = HaRole::kUnknown;
  uint8_t primary_ = 0;
  bool pending_relinquish_ = false;  // demoted; our sessions go once the new primary holds them
  Nanos failover_started_{0};
  uint64_t failover_command_ = 0;   // first command id of the last takeover
  // The primary we lost (or that restarted before its loss was declared)
  // and when: whoever is promoted next adopts it, even when in between this
  // chassis took another for the coming primary (a view that changed as
  // readiness did). Cleared when a chassis takes the role or we adopt it.
  std::optional<std::pair<uint8_t, Nanos>> lost_primary_;
  uint32_t lost_primary_epoch_ = 0;
  // How long after that loss a takeover may still adopt the lost primary's
  // previous incarnation (or a restarted blade's): OrphanTakeoverWindowOf.
  Nanos OrphanTakeoverWindow() const { return OrphanTakeoverWindowOf(cfg_.hb_interval, cfg_.hb_lost_threshold); }
  Nanos failover_done_wall_{0};
  void CheckPeers();
  bool manual_failover_ = false;
  Counter failovers_;
  Counter split_brains_averted_;
  Counter held_up_;
  Counter blade_alives_;
  Nanos last_tick_{0};
  Nanos held_up_until_{0};
  Counter peer_restarts_;
  Counter blade_restarts_;
  Counter handovers_unfenced_;
  Nanos promoted_at_{0};  // when we last became primary (a handover's wait starts no earlier)
  void PeerSilent(uint8_t id, Nanos now);
  void PeerGone(uint8_t id, Nanos now);
  // A takeover: counted, with how long it took since the loss was noticed.
  void CountFailover();
  Nanos last_failover_duration_{0};
  Counter ingress_packets_, ingress_dropped_, ingress_rerouted_, ingress_no_live_slot_, ingress_no_session_;
  Counter ingress_to_peer_, ingress_from_peer_, blade_takeovers_;
  std::vector<wire::TakenOverBlade> adopted_blades_;  // a-a: peers' dead blades our blades took over (one per chassis and slot)
  SlotMask live_mask_ = 0;  // LiveSlots(), as routing reads it (RefreshSlots)
  Nanos slot_down_at_{-1};  // when a live slot here or at a peer was last seen go down (-1: never)
  std::array<Counter, kDropReasons> dropped_;
  CommandChannel commands_;
  IngressBatcher ingress_;
  flatbuffers::FlatBufferBuilder fbb_{4096};
  std::unique_ptr<PeriodicTask> tick_;
  bool halted_ = false;
  bool caught_up_ = false;  // ready at some point since taking a traffic role
  std::function<void(HaRole, HaRole)> role_listener_;
};

}  // namespace bladesync
