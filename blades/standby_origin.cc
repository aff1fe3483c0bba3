#include "blades/standby_origin.h"

#include <algorithm>

#include "core/log.h"

namespace bladesync {

namespace {
constexpr uint8_t kBegin = static_cast<uint8_t>(wire::BatchFlags::SnapshotBegin);
constexpr uint8_t kEnd = static_cast<uint8_t>(wire::BatchFlags::SnapshotEnd);
constexpr uint8_t kSummary = static_cast<uint8_t>(wire::BatchFlags::Summary);
template <typename V>
size_t Len(const V* v) { return v ? v->size() : 0; }
}  // namespace

StandbyOrigin::StandbyOrigin(SyncContext& ctx, uint8_t origin_chassis, LinkMonitor& links)
    : ctx_(ctx), origin_(origin_chassis), links_(links) {
  if (ctx_.cfg.table_reserve) store_.Reserve(ctx_.cfg.table_reserve);
}

void StandbyOrigin::OnBatch(const wire::DeltaBatch& b, Link link, std::span<const uint8_t> frame) {
  const Nanos now = ctx_.loop.Now();
  const uint32_t epoch = b.origin()->epoch();
  const uint8_t flags = static_cast<uint8_t>(b.flags());
  const uint64_t seq = b.first_seq();

  if (flags & static_cast<uint8_t>(wire::BatchFlags::OutOfBand)) {
    // Only the test-only naive variant sends these; ours never applies them.
    if (!ctx_.cfg.test.naive_recreate || epoch != epoch_) return Drop(DropReason::kNotSynced);
    if (b.recreates4()) for (const wire::Create4* c : *b.recreates4()) ApplyNaiveRecreate(*c);
    if (b.recreates6()) for (const wire::Create6* c : *b.recreates6()) ApplyNaiveRecreate(*c);
    return;
  }
  // An honest owner numbers at most a frame's worth of deltas per frame; a
  // larger range would make every genuine frame after it a "duplicate".
  if (b.seq_count() > ctx_.cfg.max_batch * 4 || seq > UINT64_MAX / 2) return Drop(DropReason::kImplausible);
  if (epoch != epoch_ && epoch_ != 0 && now - heard_ < ConfirmAfter()) {
    // Another incarnation while the one we follow still talks: a frame from
    // an earlier life (a replay), or a claim that the owner restarted which
    // its own stream contradicts. Believed once the current one is quiet.
    return Drop(epoch < epoch_ ? DropReason::kOldEpoch : DropReason::kUnconfirmedEpoch);
  }
  links_.OnReceive(link, now);
  heard_ = now;
  if (flags & kBegin) {
    // A snapshot supersedes everything before it, so any begin at or after
    // our position (or from another epoch) restarts the origin from scratch.
    if (epoch != epoch_ || state_ == State::kNeedSync || seq >= next_seq_) {
      if (epoch != epoch_ && epoch_ != 0) {
        BS_LOG(kInfo, "sync") << "slot " << int(ctx_.cfg.slot) << ": chassis " << int(origin_)
                              << " restarted (epoch " << epoch_ << " -> " << epoch << ")";
        KeepOrphan(epoch);
      }
      if (epoch != epoch_) gap_to_ = 0;
      // Size the table once for what the owner holds, but only in proportion
      // to what this origin held before: the claim comes from the wire.
      const size_t plausible = std::max<size_t>(2 * store_.live(), RecordSlab::kChunk);
      epoch_ = epoch;
      store_.Clear();
      store_.Reserve(std::max<size_t>(ctx_.cfg.table_reserve,
                                      std::min<size_t>({b.snapshot_slots(), ctx_.cfg.max_sessions, plausible})));
      queries_.Clear();
      ClearBuffered();
      next_seq_ = seq;
      caught_up_ = now;
      // Live frames dropped while we waited for this snapshot are NACKed next.
      if (gap_to_ <= seq) gap_to_ = 0;
      if (state_ != State::kSnapshot) {
        snapshot_began_ = now;
        bulk_retries_ = 0;
      }
      released_ = false;
      state_ = State::kSnapshot;
    }
  } else if (epoch != epoch_ || state_ == State::kNeedSync) {
    // Live frames of an owner we have no snapshot of: ask for one, and
    // remember how far the stream went so the gap after it is NACKed.
    Drop(DropReason::kNotSynced);
    if (epoch != epoch_) {
      if (epoch_ != 0) KeepOrphan(epoch);
      epoch_ = epoch;
      state_ = State::kNeedSync;
      store_.Clear();
      gap_to_ = 0;
    }
    gap_to_ = std::max<uint64_t>(gap_to_, seq + b.seq_count());
    if (now - last_sync_request_ >= ctx_.cfg.retransmit_timeout) {
      last_sync_request_ = now;
      SendAck(link, true);
    }
    return;
  }

  if (b.seq_count() == 0) {  // keep-alive: it tells us the next number
    if (seq >= next_seq_) {
      caught_up_ = now;
      // Nothing at or past `seq` was sent: frames waiting there are not the
      // owner's (a genuine one dropped here is NACKed and resent).
      const size_t before = reorder_.size();
      for (auto it = reorder_.lower_bound(seq); it != reorder_.end(); it = reorder_.erase(it)) {
        reorder_bytes_ -= it->second.size();
      }
      if (reorder_.size() != before) {
        Drop(DropReason::kImplausible, before - reorder_.size());
        GapFromBuffer();
      }
    } else if (now - caught_up_ >= ConfirmAfter()) {
      // The owner's stream stays behind our position: frames it never sent
      // (forged, or corrupt) moved us ahead. What we hold is in doubt.
      return ResyncInDoubt(link, "the owner's stream is behind this mirror");
    }
    if ((flags & kSummary) && seq == next_seq_ && state_ == State::kInSync && queries_.empty() && reorder_.empty()) {
      // The owner is idle and we are caught up: we must hold what it synced.
      // Three summaries in a row that say otherwise (with nothing applied in
      // between) mean the table is wrong however it got so.
      if (store_.live() == b.owner_sessions() && store_.digest() == b.owner_digest()) {
        summary_mismatches_ = 0;
      } else if (++summary_mismatches_ >= 3) {
        summary_mismatches_ = 0;
        return ResyncInDoubt(link, "this mirror holds " + std::to_string(store_.live()) + " sessions, its owner " +
                                       std::to_string(b.owner_sessions()));
      }
    }
    if (seq > next_seq_ && now - last_nack_ >= ctx_.cfg.retransmit_timeout / 2) {
      gap_to_ = seq;
      SendAck(link, false);
    } else if (frames_since_ack_ > 0 || now - last_ack_ >= ctx_.cfg.hb_interval) {
      SendAck(link, false);  // doubles as the link heartbeat back
    }
    return;
  }
  if (seq + b.seq_count() <= next_seq_) {
    Drop(DropReason::kDuplicate);
    ++frames_since_ack_;  // ack again so the owner stops resending
    FlushAck(link, false);
    return;
  }
  if (seq > next_seq_ && ctx_.cfg.test.ack_unapplied) next_seq_ = seq;  // test-only broken variant
  if (seq != next_seq_) {
    if (seq > next_seq_) {
      Buffer(seq, frame);
      gap_to_ = reorder_.empty() ? std::max(gap_to_, seq) : reorder_.begin()->first;
      if (now - last_nack_ >= ctx_.cfg.retransmit_timeout / 2) SendAck(link, false);
      return;
    }
    // Overlaps what was applied: an honest owner resends a frame as it cut
    // it first, so our position came from frames it never sent.
    return ResyncInDoubt(link, "a frame of the owner overlaps this mirror's position");
  }
  ApplyBatch(b, link);
  DrainBuffered(link);
}

void StandbyOrigin::Buffer(uint64_t seq, std::span<const uint8_t> frame) {
  // An honest owner cuts its stream once (a resend repeats a frame's range):
  // two waiting frames whose ranges overlap but differ cannot both be its.
  // Neither is kept; the NACK brings the owner's own again.
  auto count_of = [](const std::vector<uint8_t>& bytes) {
    return wire::GetFrame(bytes.data())->msg_as_DeltaBatch()->seq_count();
  };
  const uint64_t end = seq + wire::GetFrame(frame.data())->msg_as_DeltaBatch()->seq_count();
  auto it = reorder_.upper_bound(seq);
  if (it != reorder_.begin()) --it;  // the frame that starts at or before seq
  size_t conflicts = 0;
  bool same = false;
  while (it != reorder_.end() && it->first < end) {
    const uint64_t t_end = it->first + count_of(it->second);
    if (t_end <= seq) {
      ++it;
      continue;
    }
    if (it->first == seq && t_end == end) {
      same = true;
      ++it;
      continue;
    }
    reorder_bytes_ -= it->second.size();
    it = reorder_.erase(it);
    ++conflicts;
  }
  if (conflicts) {
    Drop(DropReason::kImplausible, conflicts + 1);
    GapFromBuffer();
    return;
  }
  if (same) return Drop(DropReason::kDuplicate);
  if (reorder_.size() >= ctx_.cfg.reorder_frames || reorder_bytes_ + frame.size() > ctx_.cfg.reorder_bytes) {
    return Drop(DropReason::kGap);  // the buffer is full: the NACK brings it again
  }
  reorder_.emplace(seq, std::vector<uint8_t>(frame.begin(), frame.end()));
  reorder_bytes_ += frame.size();
  ctx_.counters.frames_reordered.Add();
}

void StandbyOrigin::DrainBuffered(Link link) {
  while (!reorder_.empty()) {
    auto it = reorder_.begin();
    if (it->first < next_seq_) {  // superseded
      reorder_bytes_ -= it->second.size();
      reorder_.erase(it);
      continue;
    }
    if (it->first != next_seq_) break;
    std::vector<uint8_t> bytes = std::move(it->second);
    reorder_bytes_ -= bytes.size();
    reorder_.erase(it);
    ApplyBatch(*wire::GetFrame(bytes.data())->msg_as_DeltaBatch(), link);
  }
  GapFromBuffer();
}

void StandbyOrigin::GapFromBuffer() {
  gap_to_ = reorder_.empty() ? 0 : reorder_.begin()->first;
  if (gap_to_ <= next_seq_) gap_to_ = 0;
}

void StandbyOrigin::ClearBuffered() {
  reorder_.clear();
  reorder_bytes_ = 0;
}

void StandbyOrigin::ApplyBatch(const wire::DeltaBatch& b, Link link) {
  const int li = static_cast<int>(link);
  const uint8_t flags = static_cast<uint8_t>(b.flags());
  const bool snapshot = state_ == State::kSnapshot;
  auto& rx = ctx_.counters.received;
  if (b.deletes()) {
    rx[static_cast<int>(SyncOp::kDelete)][li].Add(b.deletes()->size());
    for (const wire::Delete* d : *b.deletes()) ApplyDelete(*d);
  }
  // Creates and recreates before updates: inside one frame an update can
  // follow a create of the same session, never the other way round.
  const bool snap_frame = (flags & (kBegin | kEnd)) || (snapshot && Len(b.creates4()) + Len(b.creates6()) > 0 &&
                                                         Len(b.deletes()) + Len(b.updates()) == 0);
  const SyncOp create_op = snap_frame ? SyncOp::kSnapshot : SyncOp::kCreate;
  if (b.creates4()) {
    rx[static_cast<int>(create_op)][li].Add(b.creates4()->size());
    ApplyCreates(*b.creates4(), snap_frame);
  }
  if (b.creates6()) {
    rx[static_cast<int>(create_op)][li].Add(b.creates6()->size());
    ApplyCreates(*b.creates6(), snap_frame);
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
  auto apply_nat4 = [&](const wire::Nat4& n) {
    if (!store_.is_live(n.id())) return;
    NatInfo info{IpAddr::V4(n.snat_ip()), IpAddr::V4(n.dnat_ip()), n.snat_port(), n.dnat_port()};
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
      store_.Mutate(id, [&](SessionRecord&) { store_.set_extension(id, e); });
    }
  }
  next_seq_ = b.first_seq() + b.seq_count();
  caught_up_ = ctx_.loop.Now();
  summary_mismatches_ = 0;
  if (gap_to_ <= next_seq_) gap_to_ = 0;
  if (flags & kEnd) {
    if (state_ != State::kInSync) {
      ctx_.counters.bulk_syncs_received.Add();
      bulk_durations_.Observe(ToSeconds(ctx_.loop.Now() - snapshot_began_));
      BS_LOG(kInfo, "sync") << "slot " << int(ctx_.cfg.slot) << ": in sync with chassis " << int(origin_) << " ("
                            << store_.live() << " sessions)";
    }
    state_ = State::kInSync;
    gave_up_ = false;
    bulk_retries_ = 0;
  }
  last_send_ns_ = b.send_time_ns();
  // owner clock = our clock + offset: the send time on our clock is send - offset.
  last_lag_ = ctx_.loop.WallNow() - Nanos(b.send_time_ns()) + clock_offset_;
  if (last_lag_ < Nanos(0)) last_lag_ = Nanos(0);  // offset estimate error
  lag_sum_ns_ += static_cast<uint64_t>(last_lag_.count());
  ++lag_batches_;
  // Resends measure the retransmission, not the live path: lag counts them too.
  if (ctx_.cfg.metrics) lag_[li].Observe(ToSeconds(last_lag_));
  // After applying: benchmarks time the apply, tests check exactly-once.
  if (observer_) observer_(b.first_seq(), b.seq_count(), (flags & kBegin) != 0);
  ++frames_since_ack_;
  FlushAck(link, (flags & kEnd) != 0);
}

template <typename V>
void StandbyOrigin::ApplyCreates(const V& creates, bool snapshot) {
  constexpr uint32_t kAhead = 8;  // index slots in flight
  const uint32_t n = creates.size();
  for (uint32_t i = 0; i < std::min(n, kAhead); ++i) store_.Prefetch(KeyOf(*creates.Get(i)));
  for (uint32_t i = 0; i < n; ++i) {
    if (i + kAhead < n) store_.Prefetch(KeyOf(*creates.Get(i + kAhead)));
    ApplyCreate(*creates.Get(i), false, snapshot);
  }
}

void StandbyOrigin::ApplyDelete(const wire::Delete& d) {
  const uint32_t id = d.id();
  if (id >= ctx_.cfg.max_sessions) return Drop(DropReason::kMalformed);
  const uint64_t v = VersionOf(d.version_lo(), d.version_hi());
  store_.EnsureSlot(id);
  const SessionRecord& cur = store_.rec(id);
  if ((cur.bits & kUsed) && v <= cur.version) return Drop(DropReason::kStale);
  if (ctx_.cfg.test.keep_deleted) {  // test-only broken variant
    ctx_.counters.applied[static_cast<int>(SyncOp::kDelete)].Add();
    return;
  }
  store_.Mutate(id, [&](SessionRecord& r) {
    r.version = v;
    r.bits = kUsed | kOwnerDeleted;  // tombstone: key kept, not live
    store_.clear_nat(id);
    store_.clear_extensions(id);
  });
  ctx_.counters.applied[static_cast<int>(SyncOp::kDelete)].Add();
  ResolveQuery(id);
}

template <typename C>
void StandbyOrigin::ApplyCreate(const C& c, bool recreate, bool snapshot) {
  const uint32_t id = c.id();
  if (id >= ctx_.cfg.max_sessions) return Drop(DropReason::kMalformed);
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
    r.expires_ds = ctx_.ExpiryDs(c.timeout_s());
    r.bits = kUsed | kLive;
    store_.clear_nat(id);
    store_.clear_extensions(id);  // a new incarnation: its extensions follow in this frame
  });
  ctx_.counters.applied[static_cast<int>(recreate ? SyncOp::kRecreate : snapshot ? SyncOp::kSnapshot
                                                                                 : SyncOp::kCreate)].Add();
  ResolveQuery(id);
}

template <typename C>
void StandbyOrigin::ApplyNaiveRecreate(const C& c) {
  // No version check, no tombstone: whatever arrives last wins.
  const uint32_t id = c.id();
  if (id >= ctx_.cfg.max_sessions) return;
  store_.EnsureSlot(id);
  const SessionKey key = KeyOf(c);
  if (std::optional<uint32_t> other = store_.Find(key); other && *other != id) {
    store_.Mutate(*other, [](SessionRecord& r) { r.bits = static_cast<uint8_t>(r.bits & ~kLive); });
  }
  store_.Mutate(id, [&](SessionRecord& r) {
    r.key = key;
    r.version = VersionOf(c.version_lo(), c.version_hi());
    r.proto_state = c.proto_state();
    r.flags = c.flags();
    r.timeout_s = c.timeout_s();
    r.expires_ds = ctx_.ExpiryDs(c.timeout_s());
    r.bits = kUsed | kLive;
  });
  ctx_.counters.applied[static_cast<int>(SyncOp::kRecreate)].Add();
  ResolveQuery(id);
}

void StandbyOrigin::ApplyUpdate(const wire::Update& u) {
  const uint32_t id = u.id();
  const uint64_t v = VersionOf(u.version_lo(), u.version_hi());
  if (id >= store_.slots() || !(store_.rec(id).bits & kUsed) || (store_.rec(id).bits & kOwnerDeleted)) {
    Drop(DropReason::kUnknownSession);
    // Outside a snapshot this means we lost the session: ask for it.
    if (state_ == State::kInSync && id < ctx_.cfg.max_sessions) {
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
    r.flags = u.flags();
    r.timeout_s = u.timeout_s();
    r.expires_ds = ctx_.ExpiryDs(u.timeout_s());
    r.bits = static_cast<uint8_t>((r.bits & ~kExpiredLocally) | kLive);
  });
  ctx_.counters.applied[static_cast<int>(SyncOp::kUpdate)].Add();
  ResolveQuery(id);
}

void StandbyOrigin::ResolveQuery(uint32_t id) { queries_.Resolve(id); }

void StandbyOrigin::ResyncInDoubt(Link link, const std::string& why) {
  Drop(DropReason::kImplausible);
  ctx_.counters.resyncs_in_doubt.Add();
  BS_LOG(kWarn, "sync") << "slot " << int(ctx_.cfg.slot) << ": " << why << " (chassis " << int(origin_)
                        << "); asking for a snapshot";
  state_ = State::kNeedSync;  // the table stays for an adoption until the snapshot replaces it
  ClearBuffered();
  gap_to_ = 0;
  last_sync_request_ = ctx_.loop.Now();
  SendAck(link, true);
}

void StandbyOrigin::FlushAck(Link link, bool force) {
  const Nanos now = ctx_.loop.Now();
  if (force || frames_since_ack_ >= ctx_.cfg.ack_every || now - last_ack_ >= ctx_.cfg.ack_delay) {
    SendAck(link, false);
  }
}

void StandbyOrigin::SendAck(Link link, bool sync_request) {
  const Nanos now = ctx_.loop.Now();
  // A mirror waiting for a snapshot has no place in the stream: it
  // acknowledges nothing and asks for no resend (after an epoch switch, or a
  // resync in doubt, next_seq_ belongs to another stream or is not to be
  // trusted). gap_to_ is kept for the NACK once the snapshot begins.
  const bool placed = state_ != State::kNeedSync;
  uint64_t nack_from = 0, nack_to = 0;
  if (placed && gap_to_ > next_seq_) {
    nack_from = next_seq_;
    nack_to = gap_to_;
    last_nack_ = now;
    ctx_.counters.nacks_sent.Add();
  }
  query_out_.clear();
  queries_.ForEach([&](PendingQueries::Query& q) {
    if (q.tries > 0 && now - q.sent_at < ctx_.cfg.query_timeout) return true;
    query_out_.emplace_back(q.id, static_cast<uint32_t>(q.version), static_cast<uint16_t>(q.version >> 32));
    q.sent_at = now;
    ++q.tries;
    ctx_.counters.sent[static_cast<int>(SyncOp::kQuery)][static_cast<int>(link)].Add();
    return query_out_.size() < 4096;
  });
  const uint8_t flags = sync_request ? static_cast<uint8_t>(wire::AckFlags::SyncRequest) : 0;
  std::span<const uint8_t> bytes = BuildAck(ctx_.scratch_fbb, ctx_.self, origin_, epoch_, placed ? next_seq_ : 0, nack_from,
                                            nack_to, flags, last_send_ns_, query_out_);
  ctx_.Send(origin_, link, bytes);
  ctx_.counters.acks_sent.Add();
  frames_since_ack_ = 0;
  last_ack_ = now;
}

void StandbyOrigin::Sweep() {
  // Same timers as the owner: an expired session is deleted here and
  // QUERYed; the owner answers RECREATE if it still has it.
  if (state_ != State::kInSync) return;
  const uint32_t now_ds = ctx_.NowDs();
  expired_scratch_.clear();
  store_.Scan(store_.slots() / 10 + 256, [&](uint32_t id) {
    if (store_.rec(id).expires_ds <= now_ds) expired_scratch_.push_back(id);
  });
  ctx_.counters.standby_expired.Add(expired_scratch_.size());
  for (uint32_t id : expired_scratch_) {
    const uint64_t v = store_.rec(id).version;
    store_.Mutate(id, [&](SessionRecord& r) { r.bits = static_cast<uint8_t>((r.bits & ~kLive) | kExpiredLocally); });
    queries_.Add(id, v);
  }
  BoundQueries();
}

void StandbyOrigin::BoundQueries() {
  if (queries_.size() <= ctx_.cfg.max_pending_queries) return;
  const size_t excess = queries_.DropOldest(queries_.size() - ctx_.cfg.max_pending_queries);
  ctx_.counters.queries_dropped.Add(excess);
  BS_LOG(kWarn, "sync") << "slot " << int(ctx_.cfg.slot) << ": more than " << ctx_.cfg.max_pending_queries
                        << " queries pending to chassis " << int(origin_) << "; gave up the oldest " << excess;
}

void StandbyOrigin::Released() {
  if (has_orphan_) {  // the new incarnation's stream is untouched
    DropOrphan();
    return;
  }
  state_ = State::kNeedSync;
  released_ = true;  // its owner is gone: nothing to wait for until it returns
}

void StandbyOrigin::KeepOrphan(uint32_t new_epoch) {
  if (released_ || store_.live() == 0) return;  // adopted already, or nothing owned
  if (has_orphan_) ctx_.counters.orphaned_sessions_dropped.Add(orphan_.live());  // restarted twice
  orphan_complete_ = state_ == State::kInSync || gave_up_;
  orphan_ = std::move(store_);
  store_ = SessionStore(kLive);
  store_.set_change_hook(hook_, hook_ctx_);
  has_orphan_ = true;
  orphan_since_ = ctx_.loop.Now();
  ctx_.counters.orphaned_sessions.Add(orphan_.live());
  BS_LOG(kWarn, "sync") << "slot " << int(ctx_.cfg.slot) << ": chassis " << int(origin_) << " restarted (epoch "
                        << new_epoch << ") before its loss was declared; keeping the " << orphan_.live()
                        << " sessions of its previous incarnation for the chassis manager";
}

// Held long enough for the manager to see the new incarnation's heartbeat and
// decide; not adopted by then means the old incarnation owned nothing that
// this chassis takes over.
void StandbyOrigin::DropOrphanIfStale(Nanos now) {
  if (!has_orphan_ || now - orphan_since_ < std::max<Nanos>(seconds(2), ctx_.cfg.link_lost_after() * 4)) return;
  ctx_.counters.orphaned_sessions_dropped.Add(orphan_.live());
  BS_LOG(kInfo, "sync") << "slot " << int(ctx_.cfg.slot) << ": dropped " << orphan_.live()
                        << " sessions of chassis " << int(origin_) << "'s previous incarnation (not taken over here)";
  DropOrphan();
}

void StandbyOrigin::DropOrphan() {
  orphan_.Clear();                // tells the change hook what went
  orphan_ = SessionStore(kLive);  // its memory too: Clear() keeps the capacity
  has_orphan_ = false;
}

void StandbyOrigin::OnTick() {
  const Nanos now = ctx_.loop.Now();
  links_.Update(now);
  DropOrphanIfStale(now);
  const Link link = links_.active();
  // Queries that ran out of retries are given up (the session stays deleted).
  ctx_.counters.queries_unanswered.Add(queries_.EraseIf([&](const PendingQueries::Query& q) {
    return q.tries > ctx_.cfg.query_retries && now - q.sent_at >= ctx_.cfg.query_timeout;
  }));
  bool query_due = false;
  queries_.ForEach([&](PendingQueries::Query& q) {
    query_due = q.tries == 0 || now - q.sent_at >= ctx_.cfg.query_timeout;
    return !query_due;
  });
  if (state_ == State::kSnapshot && now - snapshot_began_ > ctx_.cfg.bulk_sync_timeout) {
    if (bulk_retries_ < ctx_.cfg.bulk_sync_retries) {
      ++bulk_retries_;
      ctx_.counters.bulk_sync_timeouts.Add();
      BS_LOG(kWarn, "sync") << "slot " << int(ctx_.cfg.slot) << ": bulk sync from chassis " << int(origin_)
                            << " did not finish in " << ToSeconds(ctx_.cfg.bulk_sync_timeout) << " s; asking again ("
                            << bulk_retries_ << "/" << ctx_.cfg.bulk_sync_retries << ")";
      snapshot_began_ = now;
      last_sync_request_ = now;
      SendAck(link, true);
      return;
    }
    if (!gave_up_) {
      gave_up_ = true;
      ctx_.counters.bulk_sync_abandoned.Add();
      BS_LOG(kError, "sync") << "slot " << int(ctx_.cfg.slot) << ": bulk sync from chassis " << int(origin_)
                             << " failed " << ctx_.cfg.bulk_sync_retries + 1
                             << " times; no longer waiting for it (the standby table is incomplete)";
    }
  }
  // A mirror that never heard its owner asks too (epoch 0), so a blade that
  // starts gets its snapshot without waiting for the owner's keepalive.
  if (state_ == State::kNeedSync && !released_ && now - last_sync_request_ >= ctx_.cfg.retransmit_timeout) {
    last_sync_request_ = now;
    SendAck(link, true);
  } else if (frames_since_ack_ > 0 || query_due || (gap_to_ > next_seq_ && now - last_nack_ >= ctx_.cfg.retransmit_timeout / 2)) {
    SendAck(link, false);
  } else if (now - last_ack_ >= ctx_.cfg.hb_interval && epoch_ != 0) {
    // Idle heartbeat on both links so the owner can judge M1 and M2.
    SendAck(Link::kM1, false);
    SendAck(Link::kM2, false);
  }
}

}  // namespace bladesync
