// BladeAgent: one blade. It owns a shard of the chassis's sessions and
// mirrors the sessions of the blade in the same slot of every peer chassis.
//
// As owner it turns each session change into a versioned delta (coalesced
// until the next flush: the latest state wins), keeps it in a bounded change
// log and streams it to every mirror (OutboundStream). As mirror it follows
// each peer's stream into a standby table (StandbyTable). Everything runs on
// one EventLoop; the agent never touches a socket or a clock directly.
//
//   BladeAgent blade(cfg, loop, transport);
//   blade.Start();
//   uint32_t id = blade.CreateSession(facts, state, nullptr);
//   blade.ChangeState(id, established);   // synced
//   blade.Refresh(id);                    // timer only, not synced
#pragma once

#include <array>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "blades/blade_config.h"
#include "blades/blade_counters.h"
#include "blades/change_log.h"
#include "blades/delta_codec.h"
#include "blades/outbound_stream.h"
#include "blades/packet_info.h"
#include "blades/session_clock.h"
#include "blades/session_store.h"
#include "blades/standby_table.h"
#include "core/event_loop.h"
#include "fabric/link_monitor.h"
#include "fabric/transport.h"

namespace bladesync {

// How a blade makes the parts of each peer stream. Production leaves them
// empty (the real parts); tests put in deliberately broken ones to prove
// the suites catch each break (tests/support/broken_blades.h).
struct BladeSeams {
  OutboundStream::MakeSender make_sender = nullptr;
  StandbyTable::MakeReceiver make_receiver = nullptr;
  using MakeStandby = std::unique_ptr<StandbyTable> (*)(const StandbyTable::Parts&, uint8_t owner_chassis,
                                                         LinkMonitor&, StandbyTable::MakeReceiver);
  MakeStandby make_standby = nullptr;
};

class BladeAgent {
 public:
  // forwarded: from a peer chassis's blade (active-active), not from our manager.
  using PacketHandler = std::function<void(const wire::PacketBatch&, bool forwarded)>;

  BladeAgent(BladeConfig cfg, EventLoop& loop, Transport& transport, BladeSeams seams = {});
  virtual ~BladeAgent();
  BladeAgent(const BladeAgent&) = delete;
  BladeAgent& operator=(const BladeAgent&) = delete;

  virtual void Start();

  // ---- owner side: the session API of the data path ----
  // Creates an owned session; the pickup policy decides whether it syncs.
  // Returns kNoSession (and counts it) when max-sessions is reached.
  uint32_t CreateSession(const SessionFacts& facts, const SessionState& state, const NatInfo* nat = nullptr,
                         const ExtensionList* extensions = nullptr);
  // Sets (replaces) one extension of a session; synced like a state change.
  void SetExtension(uint32_t id, const Extension& e);
  // New pickup options (a config reload); they apply to sessions created from now on.
  void SetPickupOptions(const PickupOptions& p) { cfg_.pickup = p; }
  void ChangeState(uint32_t id, const SessionState& state);  // a protocol-state change: synced
  void Refresh(uint32_t id);                                 // a packet: restarts the timer only
  void DeleteSession(uint32_t id, uint8_t reason);
  // Finds an owned session by either direction of its key.
  std::optional<uint32_t> Lookup(const SessionKey& key) const;
  // Starts fetching what a Lookup of `key` reads first (both directions'
  // index slots): a caller with a batch of keys looks them all ahead.
  [[gnu::always_inline]] void LookAhead(const SessionKey& key) const {
    owned_.Prefetch(key);
    owned_.Prefetch(key.Reversed());
  }
  const SessionStore& owned() const { return owned_; }

  // ---- mirror side ----
  const StandbyTable* standby(uint8_t chassis) const;
  // A peer's session we mirror, by either direction of its key.
  struct StandbyHit {
    uint8_t owner;
    uint32_t id;
    bool reply;
    const SessionRecord* rec;
  };
  std::optional<StandbyHit> LookupStandby(const SessionKey& key) const;
  // Told of every change to every mirrored table, of every peer: the owner
  // chassis, the store and id changed, the key it had and whether it was
  // live before (standby-in-kernel). nullptr stops it.
  using StandbyListener =
      std::function<void(uint8_t owner, const SessionStore& store, uint32_t id, const SessionKey& old_key, bool was_live)>;
  void set_standby_listener(StandbyListener f);
  // Calls fn(owner chassis, store, id) for every live mirrored session.
  template <typename F>
  void ForEachStandby(F&& fn) const {
    for (const auto& p : peers_) {
      const SessionStore& st = p->standby->store();
      for (uint32_t id = 0; id < st.slots(); ++id) {
        if (st.is_live(id)) fn(p->standby->owner(), st, id);
      }
    }
  }
  // Active-active: hands a packet to the blade that owns its session.
  void ForwardToOwner(uint8_t owner, const wire::Packet4* p4, const wire::Packet6* p6);
  // A packet with no session here goes back to this chassis's manager, which
  // tries the next slot of its flow; sent together by FlushReturned.
  void ReturnToManager(const PacketInfo& p);
  void FlushReturned();
  // session-pickup-defer: `release(true)` once every mirror with a link up
  // acknowledged session id's latest change (at once when there is none),
  // `release(false)` after `bound` (clamped to 1 ms .. 1 s), or at once when
  // no mirror will ever have it (not synced) or kMaxDeferred wait already.
  // Each is counted by how it went. Holds still pending when the blade is
  // destroyed are dropped without a call.
  static constexpr size_t kMaxDeferred = 65536;
  void DeferUntilSynced(uint32_t id, Nanos bound, std::function<void(bool acked)> release);
  // Takes over the sessions mirrored from `chassis` (its owner was lost).
  size_t Adopt(uint8_t chassis);
  // This chassis is no longer the one that processes traffic and another
  // chassis adopted what this blade owned: forget the owned sessions without
  // sending DELETEs (the adopter holds them now), keep mirroring. Waits
  // until every mirror acknowledged what was sent (a resend is rebuilt from
  // the table, which would then hold nothing), at most twice the link-lost
  // time; returns the sessions given up (0 while it waits).
  size_t Relinquish();
  // True while no mirror stream is in the middle of a bulk sync.
  bool ready() const;

  // ---- fabric ----
  void OnFrame(const FrameMeta& meta, std::span<const uint8_t> bytes);
  // Stops, as a crashed process would: no more timers, sweeps, reports or
  // frames handled (the demo's crash; the tables stay readable).
  void Halt();
  void set_packet_handler(PacketHandler h) { packet_handler_ = std::move(h); }
  // Sends what is pending now instead of at the end of this loop turn.
  void Flush();

  const OutboundStream* outbound(uint8_t chassis) const;
  // Each runs after Adopt(chassis) moved n sessions into the owned table
  // (the kernel sync installs them, the demo counts what it picked up).
  // An adopt listener that hands the adopted sessions on asynchronously
  // (the kernel's conntrack table) marks the start (+1) and the end (-1):
  // the manager holds the cluster addresses back until none is pending.
  void AdoptionPending(int delta);
  void add_adopt_listener(std::function<void(uint8_t chassis, size_t n)> f) { adopt_listeners_.push_back(std::move(f)); }
  void set_apply_observer(std::function<void(uint8_t owner, uint64_t first, uint32_t count, bool begin)> f);
  // The chassis's role as its manager last said (SetRole); Unknown until then.
  wire::Role role() const { return role_; }
  // Each runs when the manager tells a different role (after any Adopt the
  // change brought).
  void add_role_listener(std::function<void(wire::Role was, wire::Role now)> f) { role_listeners_.push_back(std::move(f)); }
  const BladeConfig& config() const { return cfg_; }
  BladeCounters& counters() { return counters_; }
  const BladeCounters& counters() const { return counters_; }
  EventLoop& loop() { return loop_; }
  uint32_t NowDs() const { return clock_.NowDs(); }
  uint32_t TimeoutFor(uint8_t proto, uint8_t proto_state) const;
  // True when every stream to a mirror has nothing unacknowledged.
  bool quiet() const;
  size_t MemoryBytes() const;
  // Expires when this agent is destroyed (what outlives it checks first).
  std::weak_ptr<const void> lifetime() const { return lifetime_; }
  size_t change_log_entries() const { return log_.size(); }

 protected:
  struct Peer {
    Peer(const OutboundStream::Parts& out_parts, const StandbyTable::Parts& in_parts, const BladeSeams& seams,
         uint8_t chassis, uint8_t bit, Nanos lost_after, Nanos now);
    // The one place the links are judged: both halves see the same switch.
    void Tick(Nanos now);
    LinkMonitor links;
    OutboundStream out;
    std::unique_ptr<StandbyTable> standby;
    // What the standby table's change hook is handed (set_standby_listener).
    struct ChangeContext {
      BladeAgent* agent = nullptr;
      uint8_t owner = 0;
    } change_context;
    bool fence_reported = false;  // the last status said its fence was passed
  };

  // What a test variant changes (tests/support/broken_blades.h).
  // Lets the change log go of what every stream has acknowledged.
  virtual void ReleaseLog();
  // Counts and logs (throttled) a frame refused before any stream saw it.
  virtual void DropFrame(DropReason r, const char* what);
  // A mirror's QUERY for a session we still own: the RECREATE travels on the
  // same ordered stream as any DELETE.
  virtual void AnswerQuery(Peer& peer, uint32_t id, Link link);
  Peer* FindPeer(uint8_t chassis);
  const ChangeLog& log() const { return log_; }
  Transport& transport() { return transport_; }
  DeltaEncoder& encoder() { return encoder_; }
  wire::Origin self() const { return self_; }

 private:
  uint64_t NextVersion() { return version_ = (version_ + 1) & kVersionMask; }
  void MarkDirty(uint32_t id);
  void PostFlush();
  // Small so that Flush inlines it: the entry goes to the ring from
  // registers (passed on the stack, its overlapping 8-byte copy waited on the
  // caller's byte stores: two thirds of Append's samples).
  void Append(const ChangeEntry& e) {
    if (log_.full()) [[unlikely]] MakeLogRoom();
    log_.Append(e);
  }
  void MakeLogRoom();
  void HandleFrame(const FrameMeta& meta, std::span<const uint8_t> bytes);
  void Tick();
  Nanos NextDue(Nanos now) const;
  bool HoldsSessions() const;
  void ArmTick(Nanos now, Nanos due);
  void WakeIfDue();
  void Sweep();
  void SendStatus();
  void HandleQueries(Peer& peer, const wire::Ack& ack, Link link);
  void SetSummaries(bool on);

  BladeConfig cfg_;
  EventLoop& loop_;
  Transport& transport_;
  BladeCounters counters_;
  SessionStore owned_{kLive | kSynced};
  ChangeLog log_;
  DeltaEncoder encoder_;
  flatbuffers::FlatBufferBuilder scratch_fbb_{4096};
  wire::Origin self_;
  SessionClock clock_;
  StreamOptions stream_opts_;
  std::vector<std::unique_ptr<Peer>> peers_;
  std::array<int8_t, 256> peer_index_{};
  std::vector<uint32_t> dirty_;
  std::vector<std::pair<uint32_t, uint8_t>> deleted_;
  std::vector<uint32_t> scratch_ids_;
  uint64_t version_ = 0;
  bool flush_posted_ = false;
  uint32_t manager_epoch_ = 0;  // the incarnation of our manager whose commands we apply
  uint64_t last_command_ = 0;   // its newest request id applied
  int adoption_pending_ = 0;    // adopted sessions still on their way into the kernel
  struct Deferral {
    uint64_t watermark;  // acknowledged once every mirror's stream is past this log index (kNoIndex: not flushed yet)
    Nanos deadline;
    std::function<void(bool)> release;
  };
  static constexpr uint64_t kNoIndex = ~uint64_t{0};
  std::deque<Deferral> deferrals_;
  size_t deferrals_pending_ = 0;     // held sessions whose change waits for the next flush
  Nanos next_deferral_due_ = kNever;  // the earliest bound among them
  void IndexDeferrals();
  void ReleaseDeferrals();
  std::vector<wire::Packet4> returned4_;  // handed back to the manager, not yet sent
  std::vector<wire::Packet6> returned6_;
  PacketHandler packet_handler_;
  std::vector<std::function<void(uint8_t, size_t)>> adopt_listeners_;
  StandbyListener standby_listener_;
  wire::Role role_ = wire::Role::Unknown;
  std::vector<std::function<void(wire::Role, wire::Role)>> role_listeners_;
  std::unique_ptr<Timer> tick_;
  Nanos busy_tick_{0};  // min(ack-delay, hb-interval / 4): the tick while anything is outstanding
  Nanos next_tick_{0};
  bool status_ready_ = false;  // what the last status said: a change goes out at the next tick
  bool asleep_ = false;  // the armed tick is for a deadline, not the ack-delay tick
  Nanos sweep_due_{0};
  Nanos status_due_{0};
  bool halted_ = false;
  std::unique_ptr<Timer> relinquish_timer_;
  std::optional<Nanos> relinquish_by_;  // a Relinquish waits for acks until then
  Nanos last_status_{kLongAgo};
  bool StatusStale() const;
  bool EarlyStatusDue(Nanos now) const;
  // Early statuses (readiness, a fence) at most this often: a tenth of a heartbeat.
  Nanos EarlyStatusGap() const { return cfg_.hb_interval / 10; }
  size_t RelinquishNow();
  std::shared_ptr<const void> lifetime_ = std::make_shared<int>(0);
};

}  // namespace bladesync
