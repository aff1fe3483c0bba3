#include "blades/standby_table.h"

#include <algorithm>
#include <type_traits>

#include "core/log.h"
#include "schemas/wire_version.h"

namespace bladesync {

namespace {
constexpr uint8_t kBegin = kStreamBegin;
constexpr uint8_t kEnd = kStreamEnd;
template <typename V>
size_t Len(const V* v) { return v ? v->size() : 0; }

// A compact conntrack create as the Create4 it stands for.
struct ConntrackCreateView {
  const wire::ConntrackCreate4& c;
  uint32_t id() const { return c.id(); }
  uint32_t version_lo() const { return c.version_lo(); }
  uint16_t version_hi() const { return c.version_hi(); }
  uint8_t proto_state() const { return c.proto_state(); }
  uint16_t flags() const { return ConntrackSessionFlags(c.status()); }
  uint32_t timeout_s() const { return c.timeout_s(); }
};
SessionKey KeyOf(const ConntrackCreateView& v) { return bladesync::KeyOf(v.c); }
}  // namespace

StandbyTable::StandbyTable(const Parts& p, uint8_t owner_chassis, LinkMonitor& links, MakeReceiver make_receiver)
    : cfg_(p.cfg),
      loop_(p.loop),
      counters_(p.counters),
      scratch_fbb_(p.scratch_fbb),
      self_(p.self),
      clock_(p.clock),
      owner_(owner_chassis) {
  if (cfg_.table_reserve) store_.Reserve(cfg_.table_reserve);
  const NodeId from{owner_chassis, cfg_.slot};
  in_ = make_receiver ? make_receiver(*this, p.opts, p.loop, p.transport, from, links, counters_)
                      : std::make_unique<StreamReceiver>(*this, p.opts, p.loop, p.transport, from, links, counters_);
}

void StandbyTable::OnBatch(const wire::DeltaBatch& b, Link link, std::span<const uint8_t> frame) {
  StreamFrame f;
  f.h.epoch = b.from()->epoch();
  f.h.first_seq = b.first_seq();
  f.h.seq_count = b.seq_count();
  f.h.flags = static_cast<uint8_t>(b.flags());
  f.h.send_time_ns = b.send_time_ns();
  f.summary_count = b.owner_sessions();
  f.summary_digest = b.owner_digest();
  f.summary_has_digest = b.schema_minor() >= kDigestSchemaMinor;
  f.reset_size = b.bulk_sync_slots();
  in_->OnFrame(f, link, frame);
}

void StandbyTable::Apply(const StreamFrame&, std::span<const uint8_t> frame, Link link) {
  ApplyBatch(*wire::GetFrame(frame.data())->msg_as_DeltaBatch(), link);
}

void StandbyTable::BeginReset(const StreamFrame& f) {
  // Size the table once for what the owner holds, but only in proportion
  // to what this owner held before: the claim comes from the wire.
  const size_t plausible = std::max<size_t>(2 * store_.live(), RecordSlab::kChunk);
  store_.Clear();
  store_.Reserve(std::max<size_t>(cfg_.table_reserve,
                                  std::min<size_t>({f.reset_size, cfg_.max_sessions, plausible})));
  queries_.Clear();
}

void StandbyTable::NewIncarnation(uint32_t new_epoch, bool complete) { KeepOrphan(new_epoch, complete); }

void StandbyTable::InStep(Nanos took) {
  counters_.bulk_syncs_received.Add();
  bulk_durations_.Observe(ToSeconds(took));
  BS_LOG(kInfo, "sync") << "slot " << int(cfg_.slot) << ": in sync with chassis " << int(owner_) << " ("
                        << store_.live() << " sessions)";
}

std::string StandbyTable::Mismatch(const StreamFrame& f) {
  if (store_.live() == f.summary_count && (!f.summary_has_digest || store_.digest() == f.summary_digest)) return {};
  if (store_.live() == f.summary_count) return "this mirror's digest differs from its owner's";
  return "this mirror holds " + std::to_string(store_.live()) + " sessions, its owner " +
         std::to_string(f.summary_count);
}

void StandbyTable::Dropped(StreamDrop why, uint64_t n) {
  switch (why) {
    case StreamDrop::kDuplicate: return Drop(DropReason::kDuplicate, n);
    case StreamDrop::kGap: return Drop(DropReason::kGap, n);
    case StreamDrop::kNotInStep: return Drop(DropReason::kNotSynced, n);
    case StreamDrop::kOldEpoch: return Drop(DropReason::kOldEpoch, n);
    case StreamDrop::kUnconfirmedEpoch: return Drop(DropReason::kUnconfirmedEpoch, n);
    case StreamDrop::kImplausible: return Drop(DropReason::kImplausible, n);
  }
}

void StandbyTable::ApplyBatch(const wire::DeltaBatch& b, Link link) {
  const int li = static_cast<int>(link);
  const uint8_t flags = static_cast<uint8_t>(b.flags());
  const bool bulk_sync = in_->state() == StreamReceiver::State::kResetting;
  auto& rx = counters_.received;
  if (b.deletes()) {
    rx[static_cast<int>(SyncOp::kDelete)][li].Add(b.deletes()->size());
    for (const wire::Delete* d : *b.deletes()) ApplyDelete(*d);
  }
  // Creates and recreates before updates: inside one frame an update can
  // follow a create of the same session, never the other way round.
  const bool bulk_sync_frame =
      (flags & (kBegin | kEnd)) ||
      (bulk_sync && Len(b.creates4()) + Len(b.creates6()) + Len(b.conntrack_creates4()) > 0 &&
       Len(b.deletes()) + Len(b.updates()) + Len(b.conntrack_updates()) == 0);
  const SyncOp create_op = bulk_sync_frame ? SyncOp::kBulkSync : SyncOp::kCreate;
  if (b.creates4()) {
    rx[static_cast<int>(create_op)][li].Add(b.creates4()->size());
    ApplyCreates(*b.creates4(), bulk_sync_frame);
  }
  if (b.creates6()) {
    rx[static_cast<int>(create_op)][li].Add(b.creates6()->size());
    ApplyCreates(*b.creates6(), bulk_sync_frame);
  }
  if (b.conntrack_creates4()) {
    rx[static_cast<int>(create_op)][li].Add(b.conntrack_creates4()->size());
    ApplyCreates(*b.conntrack_creates4(), bulk_sync_frame);
  }
  if (b.recreates4()) {
    rx[static_cast<int>(SyncOp::kRecreate)][li].Add(b.recreates4()->size());
    for (const wire::Create4* c : *b.recreates4()) ApplyCreate(*c, true, false);
  }
  if (b.recreates6()) {
    rx[static_cast<int>(SyncOp::kRecreate)][li].Add(b.recreates6()->size());
    for (const wire::Create6* c : *b.recreates6()) ApplyCreate(*c, true, false);
  }
  if (b.updates()) {
    rx[static_cast<int>(SyncOp::kUpdate)][li].Add(b.updates()->size());
    for (const wire::Update* u : *b.updates()) ApplyUpdate(*u);
  }
  if (b.conntrack_updates()) {
    rx[static_cast<int>(SyncOp::kUpdate)][li].Add(b.conntrack_updates()->size());
    for (const wire::ConntrackUpdate* u : *b.conntrack_updates()) ApplyUpdate(*u);
  }
  // From an owner of 1.5 or later a Nat4's 0.0.0.0 is a side left
  // untranslated (it sends an address of 0.0.0.0 in a Nat6); before, the address.
  const bool half_nat4 = b.schema_minor() >= kHalfNat4SchemaMinor;
  const auto nat4_side = [half_nat4](uint32_t a) { return half_nat4 && a == 0 ? IpAddr{} : IpAddr::V4(a); };
  auto apply_nat4 = [&](const wire::Nat4& n) {
    if (!store_.is_live(n.id())) return;
    NatInfo info{nat4_side(n.snat_ip()), nat4_side(n.dnat_ip()), n.snat_port(), n.dnat_port()};
    store_.Mutate(n.id(), [&](SessionRecord& r) {
      store_.set_nat(n.id(), info);
      r.bits |= kHasNat;
    });
  };
  if (b.nat4()) for (const wire::Nat4* n : *b.nat4()) apply_nat4(*n);
  if (b.nat6()) {
    for (const wire::Nat6* n : *b.nat6()) {
      if (!store_.is_live(n->id())) continue;
      NatInfo info{FromWire(n->snat_ip()), FromWire(n->dnat_ip()), n->snat_port(), n->dnat_port()};
      store_.Mutate(n->id(), [&](SessionRecord& r) {
        store_.set_nat(n->id(), info);
        r.bits |= kHasNat;
      });
    }
  }
  if (b.extensions()) {
    for (const wire::Extension* x : *b.extensions()) {
      Extension e{x->type(), x->version(), {}};
      const bool fits = !x->data() || e.data.assign(x->data()->begin(), x->data()->end());
      const uint32_t id = x->id();
      if (!fits || !store_.is_live(id) || !ExtensionValid(e) ||
          static_cast<uint16_t>(AppSpecFor(AppOf(store_.rec(id).flags)).extension) != e.type) {
        Drop(DropReason::kBadExtension);
        continue;
      }
      if (e.version > AppSpecForExtension(e.type)->extension_version) counters_.extensions_newer.Add();
      store_.Mutate(id, [&](SessionRecord&) { store_.set_extension(id, e); });
    }
  }
  last_send_ns_ = b.send_time_ns();
  // owner clock = our clock + offset: the send time on our clock is send - offset.
  last_lag_ = loop_.WallNow() - Nanos(b.send_time_ns()) + clock_offset_;
  if (last_lag_ < Nanos(0)) last_lag_ = Nanos(0);  // offset estimate error
  lag_sum_ns_ += static_cast<uint64_t>(last_lag_.count());
  ++lag_batches_;
  // Resends measure the retransmission, not the live path: lag counts them too.
  if (cfg_.metrics) lag_[li].Observe(ToSeconds(last_lag_));
  // After applying: benchmarks time the apply, tests check exactly-once.
  if (observer_) observer_(b.first_seq(), b.seq_count(), (flags & kBegin) != 0);
}

template <typename V>
void StandbyTable::ApplyCreates(const V& creates, bool bulk_sync) {
  constexpr uint32_t kAhead = 8;  // index slots in flight
  const uint32_t n = creates.size();
  for (uint32_t i = 0; i < std::min(n, kAhead); ++i) store_.Prefetch(KeyOf(*creates.Get(i)));
  for (uint32_t i = 0; i < n; ++i) {
    if (i + kAhead < n) store_.Prefetch(KeyOf(*creates.Get(i + kAhead)));
    ApplyCreate(*creates.Get(i), false, bulk_sync);
  }
}

void StandbyTable::ApplyCreate(const wire::ConntrackCreate4& c, bool recreate, bool bulk_sync) {
  const Extension ext = ConntrackExtensionOf(c);
  ApplyCreate(ConntrackCreateView{c}, recreate, bulk_sync, &ext);
}

void StandbyTable::ApplyDelete(const wire::Delete& d) {
  const uint32_t id = d.id();
  if (id >= cfg_.max_sessions) return Drop(DropReason::kMalformed);
  const uint64_t v = VersionOf(d.version_lo(), d.version_hi());
  store_.EnsureSlot(id);
  const SessionRecord& cur = store_.rec(id);
  if ((cur.bits & kUsed) && v <= cur.version) return Drop(DropReason::kStale);
  WriteTombstone(id, v);
  counters_.applied[static_cast<int>(SyncOp::kDelete)].Add();
  ResolveQuery(id);
}

void StandbyTable::WriteTombstone(uint32_t id, uint64_t version) {
  store_.Mutate(id, [&](SessionRecord& r) {
    r.version = version;
    r.bits = kUsed | kOwnerDeleted;  // tombstone: key kept, not live
    store_.clear_nat(id);
    store_.clear_extensions(id);
  });
}

template <typename C>
void StandbyTable::ApplyCreate(const C& c, bool recreate, bool bulk_sync, const Extension* ext) {
  const uint32_t id = c.id();
  if (id >= cfg_.max_sessions) return Drop(DropReason::kMalformed);
  const uint64_t v = VersionOf(c.version_lo(), c.version_hi());
  store_.EnsureSlot(id);
  const SessionRecord& cur = store_.rec(id);
  if (cur.bits & kUsed) {
    const bool newer = v > cur.version;
    // After our own expiry the owner answers with the version we had.
    const bool revive = v == cur.version && (cur.bits & kExpiredLocally);
    if (!newer && !revive) {
      Drop(recreate && (cur.bits & kOwnerDeleted) ? DropReason::kStaleRecreate : DropReason::kStale);
      if (recreate) ResolveQuery(id);
      return;
    }
  }
  const SessionKey key = KeyOf(c);
  // One live session per key: an honest owner never has two, so a second id
  // with the same key means the first is gone (a corrupt or hostile stream).
  if (std::optional<uint32_t> other = store_.Find(key); other && *other != id) {
    Drop(DropReason::kStale);
    store_.Mutate(*other, [](SessionRecord& r) { r.bits = static_cast<uint8_t>(r.bits & ~kLive); });
  }
  store_.Mutate(id, [&](SessionRecord& r) {
    r.key = key;
    r.version = v;
    r.proto_state = c.proto_state();
    r.flags = c.flags();
    r.timeout_s = c.timeout_s();
    r.expires_ds = clock_.ExpiryDs(c.timeout_s());
    r.bits = kUsed | kLive;
    store_.clear_nat(id);
    store_.clear_extensions(id);  // a new incarnation: its extensions follow in this frame
    if (ext) store_.set_extension(id, *ext);
  });
  counters_.applied[static_cast<int>(recreate ? SyncOp::kRecreate : bulk_sync ? SyncOp::kBulkSync
                                                                                 : SyncOp::kCreate)].Add();
  ResolveQuery(id);
}

template <typename U>
void StandbyTable::ApplyUpdate(const U& u) {
  const uint32_t id = u.id();
  const uint64_t v = VersionOf(u.version_lo(), u.version_hi());
  if (id >= store_.slots() || !(store_.rec(id).bits & kUsed) || (store_.rec(id).bits & kOwnerDeleted)) {
    Drop(DropReason::kUnknownSession);
    // Outside a bulk sync this means we lost the session: ask for it.
    if (in_->in_step() && id < cfg_.max_sessions) {
      queries_.Add(id, v);
      BoundQueries();
    }
    return;
  }
  if (v <= store_.rec(id).version) return Drop(DropReason::kStale);
  if (!store_.is_live(id)) {  // reviving a locally expired session: its key must still be free
    std::optional<uint32_t> other = store_.Find(store_.rec(id).key);
    if (other && *other != id) return Drop(DropReason::kStale);
  }
  store_.Mutate(id, [&](SessionRecord& r) {
    r.version = v;
    r.proto_state = u.proto_state();
    r.timeout_s = u.timeout_s();
    r.expires_ds = clock_.ExpiryDs(u.timeout_s());
    r.bits = static_cast<uint8_t>((r.bits & ~kExpiredLocally) | kLive);
    if constexpr (std::is_same_v<U, wire::ConntrackUpdate>) {
      r.flags = ConntrackSessionFlags(u.status());
      store_.set_extension(id, ConntrackExtensionOf(u));
    } else {
      r.flags = u.flags();
    }
  });
  counters_.applied[static_cast<int>(SyncOp::kUpdate)].Add();
  ResolveQuery(id);
}

void StandbyTable::ResolveQuery(uint32_t id) { queries_.Resolve(id); }

std::span<const uint8_t> StandbyTable::BuildAck(const StreamAck& ack, Link link) {
  const Nanos now = loop_.Now();
  query_out_.clear();
  queries_.ForEach([&](PendingQueries::Query& q) {
    if (q.tries > 0 && now - q.sent_at < cfg_.query_timeout) return true;
    query_out_.emplace_back(q.id, static_cast<uint32_t>(q.version), static_cast<uint16_t>(q.version >> 32));
    q.sent_at = now;
    ++q.tries;
    counters_.sent[static_cast<int>(SyncOp::kQuery)][static_cast<int>(link)].Add();
    return query_out_.size() < 4096;
  });
  const uint8_t flags = ack.reset_request ? static_cast<uint8_t>(wire::AckFlags::SyncRequest) : 0;
  return bladesync::BuildAck(scratch_fbb_, self_, owner_, ack.epoch, ack.next_seq, ack.nack_from, ack.nack_to, flags,
                             last_send_ns_, query_out_);
}

void StandbyTable::Sweep() {
  // Same timers as the owner: an expired session is deleted here and
  // QUERYed; the owner answers RECREATE if it still has it.
  if (!in_->in_step()) return;
  const uint32_t now_ds = clock_.NowDs();
  expired_scratch_.clear();
  store_.Scan(store_.slots() / 10 + 256, [&](uint32_t id) {
    if (store_.rec(id).expires_ds <= now_ds) expired_scratch_.push_back(id);
  });
  counters_.standby_expired.Add(expired_scratch_.size());
  for (uint32_t id : expired_scratch_) {
    const uint64_t v = store_.rec(id).version;
    store_.Mutate(id, [&](SessionRecord& r) { r.bits = static_cast<uint8_t>((r.bits & ~kLive) | kExpiredLocally); });
    queries_.Add(id, v);
  }
  BoundQueries();
}

void StandbyTable::BoundQueries() {
  if (queries_.size() <= cfg_.max_pending_queries) return;
  const size_t excess = queries_.DropOldest(queries_.size() - cfg_.max_pending_queries);
  counters_.queries_dropped.Add(excess);
  BS_LOG(kWarn, "sync") << "slot " << int(cfg_.slot) << ": more than " << cfg_.max_pending_queries
                        << " queries pending to chassis " << int(owner_) << "; gave up the oldest " << excess;
}

void StandbyTable::Released() {
  if (has_orphan_) {  // the new incarnation's stream is untouched
    DropOrphan();
    return;
  }
  in_->Park();  // its owner is gone: nothing to wait for until it returns
}

void StandbyTable::KeepOrphan(uint32_t new_epoch, bool complete) {
  if (in_->parked() || store_.live() == 0) return;  // adopted already, or nothing owned
  if (has_orphan_) counters_.orphaned_sessions_dropped.Add(orphan_.live());  // restarted twice
  orphan_complete_ = complete;
  orphan_ = std::move(store_);
  store_ = SessionStore(kLive);
  store_.set_change_hook(hook_, hook_ctx_);
  has_orphan_ = true;
  orphan_since_ = loop_.Now();
  counters_.orphaned_sessions.Add(orphan_.live());
  BS_LOG(kWarn, "sync") << "slot " << int(cfg_.slot) << ": chassis " << int(owner_) << " restarted (epoch "
                        << new_epoch << ") before its loss was declared; keeping the " << orphan_.live()
                        << " sessions of its previous incarnation for the chassis manager";
}

// Held long enough for the manager to see the new incarnation's heartbeat and
// decide; not adopted by then means the old incarnation owned nothing that
// this chassis takes over. Twice the manager's window for a takeover.
Nanos StandbyTable::OrphanKeptFor() const {
  return std::max(cfg_.link_lost_after() * 4, cfg_.orphan_takeover_window() * 2);
}

void StandbyTable::DropOrphanIfStale(Nanos now) {
  if (!has_orphan_ || now - orphan_since_ < OrphanKeptFor()) return;
  counters_.orphaned_sessions_dropped.Add(orphan_.live());
  BS_LOG(kInfo, "sync") << "slot " << int(cfg_.slot) << ": dropped " << orphan_.live()
                        << " sessions of chassis " << int(owner_) << "'s previous incarnation (not taken over here)";
  DropOrphan();
}

void StandbyTable::DropOrphan() {
  orphan_.Clear();                // tells the change hook what went
  orphan_ = SessionStore(kLive);  // its memory too: Clear() keeps the capacity
  has_orphan_ = false;
}

Nanos StandbyTable::housekeeping_due() const {
  if (!queries_.empty()) return kLongAgo;
  return has_orphan_ ? orphan_since_ + OrphanKeptFor() : kNever;
}

bool StandbyTable::Housekeeping(Nanos now) {
  DropOrphanIfStale(now);
  // Queries that ran out of retries are given up (the session stays deleted).
  counters_.queries_unanswered.Add(queries_.EraseIf([&](const PendingQueries::Query& q) {
    return q.tries > cfg_.query_retries && now - q.sent_at >= cfg_.query_timeout;
  }));
  bool query_due = false;
  queries_.ForEach([&](PendingQueries::Query& q) {
    query_due = q.tries == 0 || now - q.sent_at >= cfg_.query_timeout;
    return !query_due;
  });
  return query_due;
}

}  // namespace bladesync
