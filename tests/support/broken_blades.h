// Deliberately broken blades, streams and managers: each breaks one promise
// of DESIGN.md, and the suites must catch it (their teeth). They are built
// on the production classes' seams (BladeSeams, protected virtuals), so the
// production code carries no switch for them and the wire no flag.
//
//   Broken b{.keep_deleted = true};
//   SimChassisCluster c(2, 1, seed, SimClusterOptions{.make_blade = b.BladeMaker(), .make_manager = b.ManagerMaker()});
#pragma once

#include <cassert>
#include <memory>

#include "blades/blade_agent.h"
#include "core/log.h"
#include "manager/chassis_manager.h"
#include "tests/support/broken_streams.h"
#include "tests/support/sim_chassis_cluster.h"

namespace bladesync::testing {

// A mirror that counts a DELETE as applied and keeps the session live (a
// deleted session would come back with a failover). Range and version
// checks stay: only the tombstone is not written.
class KeepDeletedStandby : public StandbyTable {
 public:
  using StandbyTable::StandbyTable;

 protected:
  void WriteTombstone(uint32_t, uint64_t) override {}
};

// The vendor protocol as the seeds describe it: RECREATE answers a QUERY
// outside the ordered stream, and the mirror applies it without looking at
// the DELETE it may have seen.
class NaiveRecreateStandby : public StandbyTable {
 public:
  using StandbyTable::StandbyTable;
  // No version check, no tombstone: whatever arrives last wins.
  template <typename C>
  void ApplyNaiveRecreate(const C& c, uint32_t max_sessions) {
    SessionStore& store = mutable_store();
    const uint32_t id = c.id();
    if (id >= max_sessions) return;
    store.EnsureSlot(id);
    const SessionKey key = KeyOf(c);
    if (std::optional<uint32_t> other = store.Find(key); other && *other != id) {
      store.Mutate(*other, [](SessionRecord& r) { r.bits = static_cast<uint8_t>(r.bits & ~kLive); });
    }
    store.Mutate(id, [&](SessionRecord& r) {
      r.key = key;
      r.version = VersionOf(c.version_lo(), c.version_hi());
      r.proto_state = c.proto_state();
      r.flags = c.flags();
      r.timeout_s = c.timeout_s();
      r.expires_ds = clock().ExpiryDs(c.timeout_s());
      r.bits = kUsed | kLive;
    });
    counters().applied[static_cast<int>(SyncOp::kRecreate)].Add();
    ResolveQuery(id);
  }
};

struct Broken {
  bool ack_unapplied = false;
  bool drop_retransmit_on_link_switch = false;
  bool keep_deleted = false;
  bool naive_recreate = false;
  // An owner that trims its change log only when it is full: acknowledged
  // entries are held (memory the bound says must be free).
  bool trim_log_when_full = false;
  // A blade that drops malformed frames without counting them (hostile
  // input goes unseen).
  bool uncounted_malformed = false;
  // A manager that takes over after one missed heartbeat, before the peer
  // is declared lost (hb-lost-threshold ignored).
  bool promote_early = false;
  // A blade whose streams never fence when its chassis steps down.
  bool never_fence = false;

  BladeSeams Seams() const {
    assert(!(keep_deleted && naive_recreate) && "one standby variant at a time");
    BladeSeams s;
    if (ack_unapplied) s.make_receiver = &Make<StreamReceiver, AckUnappliedReceiver, StreamSink>;
    if (drop_retransmit_on_link_switch) s.make_sender = &Make<StreamSender, DropRetransmitSender, StreamSource>;
    if (never_fence) s.make_sender = &Make<StreamSender, NeverFencedSender, StreamSource>;
    if (keep_deleted) s.make_standby = &MakeStandby<KeepDeletedStandby>;
    if (naive_recreate) s.make_standby = &MakeStandby<NaiveRecreateStandby>;
    return s;
  }
  MakeBlade BladeMaker() const;
  MakeManager ManagerMaker() const;

 private:
  template <typename Base, typename T, typename Payload>
  static std::unique_ptr<Base> Make(Payload& p, const StreamOptions& o, EventLoop& l, Transport& t, NodeId n,
                                    LinkMonitor& links, StreamCounters& c) {
    return std::make_unique<T>(p, o, l, t, n, links, c);
  }
  template <typename T>
  static std::unique_ptr<StandbyTable> MakeStandby(const StandbyTable::Parts& p, uint8_t owner, LinkMonitor& links,
                                                    StandbyTable::MakeReceiver r) {
    return std::make_unique<T>(p, owner, links, r);
  }
};

class BrokenBlade : public BladeAgent {
 public:
  BrokenBlade(const Broken& b, const BladeConfig& cfg, EventLoop& loop, Transport& transport)
      : BladeAgent(cfg, loop, transport, b.Seams()), b_(b) {}

  void Start() override {
    BladeAgent::Start();
    if (!b_.naive_recreate) return;
    // The out-of-band RECREATE bypasses the stream: it is caught before it.
    transport().SetReceiver([this](const FrameMeta& m, std::span<const uint8_t> bytes) {
      if (!ApplyOutOfBand(bytes)) OnFrame(m, bytes);
    });
  }

 protected:
  void ReleaseLog() override {
    if (b_.trim_log_when_full && !log().full()) return;
    BladeAgent::ReleaseLog();
  }
  void DropFrame(DropReason r, const char* what) override {
    if (b_.uncounted_malformed && r == DropReason::kMalformed) return;
    BladeAgent::DropFrame(r, what);
  }
  // An immediate, unsequenced RECREATE on the other link, as a separate
  // channel would carry it (first_seq 0: no stream frame has that number).
  void AnswerQuery(Peer& peer, uint32_t id, Link query_link) override {
    if (!b_.naive_recreate) return BladeAgent::AnswerQuery(peer, id, query_link);
    DeltaEncoder& enc = encoder();
    enc.Reset();
    const SessionRecord& r = owned().rec(id);
    enc.AddCreate(id, r, (r.bits & kHasNat) ? owned().nat(id) : nullptr, true, owned().extensions(id));
    BatchHeader h;
    h.from = self();
    h.first_seq = 0;
    h.seq_count = 1;
    h.dest_chassis = peer.out.peer();
    const Link other = query_link == Link::kM1 ? Link::kM2 : Link::kM1;
    transport().Send(NodeId{peer.out.peer(), config().slot}, other, enc.FinishBatch(h));
    counters().sent[static_cast<int>(SyncOp::kRecreate)][static_cast<int>(other)].Add();
  }

 private:
  bool ApplyOutOfBand(std::span<const uint8_t> bytes) {
    Result<const wire::Frame*> f = VerifyFrame(bytes, FrameLimits{});
    if (!f.ok() || f.value()->msg_type() != wire::Message::DeltaBatch) return false;
    const wire::DeltaBatch* b = f.value()->msg_as_DeltaBatch();
    if (b->first_seq() != 0 || !b->from()) return false;
    Peer* p = FindPeer(b->from()->chassis());
    auto* standby = p ? dynamic_cast<NaiveRecreateStandby*>(p->standby.get()) : nullptr;
    if (!standby || b->from()->epoch() != standby->epoch()) {
      counters().dropped[static_cast<int>(DropReason::kNotSynced)].Add();
      return true;
    }
    const uint32_t bound = config().max_sessions;
    if (b->recreates4()) for (const wire::Create4* c : *b->recreates4()) standby->ApplyNaiveRecreate(*c, bound);
    if (b->recreates6()) for (const wire::Create6* c : *b->recreates6()) standby->ApplyNaiveRecreate(*c, bound);
    return true;
  }

  Broken b_;
};

class BrokenManager : public ChassisManager {
 public:
  BrokenManager(const Broken& b, ManagerConfig cfg, EventLoop& loop, Transport& transport)
      : ChassisManager(std::move(cfg), loop, transport), b_(b) {}

 protected:
  Nanos PeerLostAfter() const override {
    if (!b_.promote_early) return ChassisManager::PeerLostAfter();
    return config().hb_interval + config().hb_interval / 4;
  }

 private:
  Broken b_;
};

inline MakeBlade Broken::BladeMaker() const {
  Broken b = *this;
  return [b](const BladeConfig& cfg, EventLoop& loop, Transport& t) -> std::unique_ptr<BladeAgent> {
    return std::make_unique<BrokenBlade>(b, cfg, loop, t);
  };
}

inline MakeManager Broken::ManagerMaker() const {
  Broken b = *this;
  return [b](const ManagerConfig& cfg, EventLoop& loop, Transport& t) -> std::unique_ptr<ChassisManager> {
    return std::make_unique<BrokenManager>(b, cfg, loop, t);
  };
}

}  // namespace bladesync::testing
