#include "blades/outbound_stream.h"

#include "core/log.h"

namespace bladesync {

OutboundStream::OutboundStream(SyncContext& ctx, uint8_t peer_chassis, uint8_t stream_bit, LinkMonitor& links)
    : ctx_(ctx), peer_(peer_chassis), bit_(stream_bit), links_(links) {
  log_cursor_ = ctx_.log.end();
  snapshot_started_ = ctx_.loop.Now();
  ctx_.counters.bulk_syncs_started.Add();  // every stream opens with a snapshot
}

uint64_t OutboundStream::retain_from() const {
  uint64_t from = log_cursor_;
  for (const InFlight& f : in_flight_) {
    if (f.log_end > f.log_begin && f.log_begin < from) from = f.log_begin;
  }
  return from;
}

void OutboundStream::StartSnapshot(const char* reason) {
  BS_LOG(kInfo, "sync") << "slot " << int(ctx_.cfg.slot) << " -> chassis " << int(peer_)
                        << ": bulk sync starts (" << reason << ")";
  ctx_.counters.bulk_syncs_started.Add();
  state_ = State::kSnapshot;
  snap_cursor_ = 0;
  snap_begin_pending_ = true;
  snapshot_started_ = ctx_.loop.Now();
  // The snapshot reads current state, so older frames and log entries are moot.
  in_flight_.clear();
  log_cursor_ = ctx_.log.end();
  acked_ = next_seq_;
}

void OutboundStream::GiveUpLogPlace() {
  ctx_.counters.resync_overflow.Add();
  BS_LOG(kWarn, "sync") << "slot " << int(ctx_.cfg.slot) << " -> chassis " << int(peer_)
                        << ": resend queue full (" << ctx_.log.capacity()
                        << " entries); falling back to bulk sync";
  StartSnapshot("resend queue full");
}

bool OutboundStream::BuildSnapshot(InFlight& f) {
  ctx_.encoder.Reset();
  f.snap_begin = snap_cursor_;
  f.log_begin = f.log_end = log_cursor_;
  f.flags = snap_begin_pending_ ? static_cast<uint8_t>(wire::BatchFlags::SnapshotBegin) : 0;
  const uint32_t slots = ctx_.owned.slots();
  // A frame covers at most max_batch ids, and numbers them all: a resend
  // rebuilds it from the table as it is then, and sessions created since in
  // those ids must still fit its sequence range (a frame with more deltas
  // than numbers is malformed).
  while (snap_cursor_ < slots && snap_cursor_ - f.snap_begin < ctx_.cfg.max_batch &&
         ctx_.encoder.approx_bytes() + 128 < ctx_.cfg.max_frame_bytes) {
    const SessionRecord& r = ctx_.owned.rec(snap_cursor_);
    if ((r.bits & (kLive | kSynced)) == (kLive | kSynced)) {
      ctx_.encoder.AddCreate(snap_cursor_, r, (r.bits & kHasNat) ? ctx_.owned.nat(snap_cursor_) : nullptr, false,
                             ctx_.owned.extensions(snap_cursor_));
    }
    ++snap_cursor_;
  }
  f.snap_end = snap_cursor_;
  if (snap_cursor_ >= slots) f.flags |= static_cast<uint8_t>(wire::BatchFlags::SnapshotEnd);
  // A snapshot frame takes at least one number, so even an empty one is acked.
  f.seq_count = std::max<uint32_t>(1, f.snap_end - f.snap_begin);
  snap_begin_pending_ = false;
  if (f.flags & static_cast<uint8_t>(wire::BatchFlags::SnapshotEnd)) state_ = State::kLive;
  return true;
}

bool OutboundStream::BuildLive(InFlight& f) {
  f.snap_begin = f.snap_end = 0;
  f.flags = 0;
  f.log_begin = log_cursor_;
  uint32_t count = 0;
  uint64_t i = log_cursor_;
  const uint64_t end = ctx_.log.end();
  const uint64_t budget = ctx_.cfg.window > unacked_deltas() ? ctx_.cfg.window - unacked_deltas() : 0;
  // Size the frame by entry count first; encoding happens in Encode().
  while (i < end && count < ctx_.cfg.max_batch && count < budget) {
    const ChangeEntry& e = ctx_.log.at(i);
    if (e.dest_mask & (1u << bit_)) ++count;
    ++i;
  }
  if (count == 0) {
    log_cursor_ = i;  // entries for other peers only
    return false;
  }
  log_cursor_ = i;
  f.log_end = i;
  f.seq_count = count;
  return true;
}

// Rebuilds the deltas of a frame from the log or the store, as they are now.
void OutboundStream::Encode(const InFlight& f) {
  DeltaEncoder& enc = ctx_.encoder;
  enc.Reset();
  op_counts_.fill(0);
  if (f.snap_end > f.snap_begin || (f.flags & static_cast<uint8_t>(wire::BatchFlags::SnapshotEnd))) {
    for (uint32_t id = f.snap_begin; id < f.snap_end && id < ctx_.owned.slots(); ++id) {
      const SessionRecord& r = ctx_.owned.rec(id);
      if ((r.bits & (kLive | kSynced)) == (kLive | kSynced)) {
        enc.AddCreate(id, r, (r.bits & kHasNat) ? ctx_.owned.nat(id) : nullptr, false, ctx_.owned.extensions(id));
        ++op_counts_[static_cast<int>(SyncOp::kSnapshot)];
      }
    }
  }
  for (uint64_t i = f.log_begin; i < f.log_end; ++i) {
    const ChangeEntry& e = ctx_.log.at(i);
    if (!(e.dest_mask & (1u << bit_))) continue;
    const bool exists = ctx_.owned.is_live(e.id) && (ctx_.owned.rec(e.id).bits & kSynced);
    const SessionRecord* r = exists ? &ctx_.owned.rec(e.id) : nullptr;
    switch (e.op) {
      case kOpDelete:
        enc.AddDelete(e.id, e.version, e.reason);
        ++op_counts_[static_cast<int>(SyncOp::kDelete)];
        break;
      case kOpCreate:
      case kOpRecreate:
        // A full create with the current state is always safe: the mirror
        // applies it only when it is newer than what it holds.
        if (r) {
          enc.AddCreate(e.id, *r, (r->bits & kHasNat) ? ctx_.owned.nat(e.id) : nullptr, e.op == kOpRecreate,
                        ctx_.owned.extensions(e.id));
          ++op_counts_[static_cast<int>(e.op == kOpRecreate ? SyncOp::kRecreate : SyncOp::kCreate)];
        }
        break;
      case kOpUpdate:
        // An update carries no key: send it only while it is still the latest
        // change of the same session; otherwise a later entry carries it.
        if (r && r->version == e.version) {
          enc.AddUpdate(e.id, *r, ctx_.owned.extensions(e.id));
          ++op_counts_[static_cast<int>(SyncOp::kUpdate)];
        }
        break;
    }
  }
}

bool OutboundStream::Transmit(InFlight& f, bool resend) {
  Encode(f);
  BatchHeader h;
  h.origin = ctx_.self;
  h.first_seq = f.first_seq;
  h.seq_count = f.seq_count;
  h.send_time_ns = static_cast<uint64_t>(ctx_.loop.WallNow().count());
  h.flags = f.flags | (resend ? static_cast<uint8_t>(wire::BatchFlags::Resend) : 0);
  h.dest_chassis = peer_;
  if (f.flags & static_cast<uint8_t>(wire::BatchFlags::SnapshotBegin)) h.snapshot_slots = ctx_.owned.slots();
  std::span<const uint8_t> bytes = ctx_.encoder.FinishBatch(h);
  const Link link = links_.active();
  const SendResult r = ctx_.Send(peer_, link, bytes);
  f.sent_at = ctx_.loop.Now();
  last_send_ = f.sent_at;
  if (r != SendResult::kSent) {
    ctx_.counters.send_queue_full.Add();
    f.unsent = true;  // stays in flight and goes out first when the queue drains
    held_back_ = true;
    return false;
  }
  f.unsent = false;
  const int li = static_cast<int>(link);
  ctx_.counters.frames_sent.Add();
  ctx_.counters.bytes_sent.Add(bytes.size());
  if (resend) ctx_.counters.frames_resent.Add();
  for (int op = 0; op < kOps; ++op) {
    if (op_counts_[op]) ctx_.counters.sent[op][li].Add(op_counts_[op]);
  }
  return true;
}

bool OutboundStream::SendHeldBack() {
  if (!held_back_) return true;
  for (InFlight& f : in_flight_) {
    if (f.unsent && !Transmit(f, false)) return false;
  }
  held_back_ = false;
  return true;
}

void OutboundStream::Pump() {
  if (!SendHeldBack()) return;
  while (unacked_deltas() < ctx_.cfg.window) {
    InFlight f{};
    f.first_seq = next_seq_;
    bool built = false;
    // Alternate snapshot chunks with live deltas so live lag stays low.
    if (state_ == State::kSnapshot) built = BuildSnapshot(f);
    if (!built && state_ == State::kLive) built = BuildLive(f);
    if (!built) break;
    next_seq_ += f.seq_count;
    in_flight_.push_back(f);
    if (!Transmit(in_flight_.back(), false)) return;
    if (state_ == State::kSnapshot && log_cursor_ < ctx_.log.end()) {
      InFlight live{};
      live.first_seq = next_seq_;
      if (BuildLive(live)) {
        next_seq_ += live.seq_count;
        in_flight_.push_back(live);
        if (!Transmit(in_flight_.back(), false)) return;
      }
    }
  }
}

void OutboundStream::OnAck(const wire::Ack& ack, Link link) {
  const Nanos now = ctx_.loop.Now();
  ctx_.counters.acks_received.Add();
  const bool sync_request = static_cast<uint8_t>(ack.flags()) & static_cast<uint8_t>(wire::AckFlags::SyncRequest);
  // About an earlier life of ours; epoch 0 is a mirror that never heard us
  // asking for its first snapshot (it need not wait for our keepalive).
  if (ack.origin_epoch() != ctx_.self.epoch() && !(sync_request && ack.origin_epoch() == 0)) return;
  if (sync_request) {
    // The mirror lost its place. Restart unless a snapshot is already on its
    // way; at most one per mirror per link-loss interval, whoever asks.
    const bool fresh = state_ == State::kSnapshot || (!in_flight_.empty() && (in_flight_.front().flags &
                       static_cast<uint8_t>(wire::BatchFlags::SnapshotBegin)));
    if (fresh && now - snapshot_started_ <= ctx_.cfg.retransmit_timeout * 4) return;
    if (now - last_asked_snapshot_ < ctx_.cfg.link_lost_after()) {
      ctx_.counters.sync_requests_deferred.Add();
      return;
    }
    links_.OnReceive(link, now);
    last_asked_snapshot_ = now;
    StartSnapshot("mirror asked");
    Pump();
    return;
  }
  const uint64_t next = ack.next_seq();
  if (next > next_seq_) {  // acknowledges what we never sent
    ctx_.counters.dropped[static_cast<int>(DropReason::kImplausible)].Add();
    return;
  }
  links_.OnReceive(link, now);
  if (next >= acked_) doubt_since_ = Nanos(0);
  if (next > acked_) acked_ = next;
  while (!in_flight_.empty() && in_flight_.front().first_seq + in_flight_.front().seq_count <= acked_) {
    in_flight_.pop_front();
  }
  if (ack.nack_to() > ack.nack_from() && ack.nack_from() < acked_) {
    // The mirror misses deltas we took as acknowledged: the ack was not its
    // own (forged) or not of this stream. Once that persists (a reordered
    // old NACK does not), resync rather than leave the gap open for good.
    if (doubt_since_ == Nanos(0)) doubt_since_ = now;
    if (now - doubt_since_ >= ctx_.cfg.retransmit_timeout * 2) {
      doubt_since_ = Nanos(0);
      ctx_.counters.resyncs_in_doubt.Add();
      StartSnapshot("the mirror misses deltas it acknowledged");
    }
  } else if (ack.nack_to() > ack.nack_from()) {
    ctx_.counters.nacks_received.Add();
    // One resend per round trip; the mirror repeats its NACK until it is filled.
    if (now - last_nack_resend_ >= ctx_.cfg.retransmit_timeout / 4) {
      last_nack_resend_ = now;
      ResendRange(ack.nack_from(), ack.nack_to());
    }
  }
  Pump();
}

// Selective repeat: only the frames the mirror reported missing, in order,
// up to the first the transport refuses.
void OutboundStream::ResendRange(uint64_t from, uint64_t to) {
  for (InFlight& f : in_flight_) {
    if (f.first_seq + f.seq_count > from && f.first_seq < to && !Transmit(f, true)) return;
  }
}

void OutboundStream::ResendFrom(uint64_t seq) { ResendRange(seq, UINT64_MAX); }

void OutboundStream::SendKeepAlive() {
  BatchHeader h;
  h.origin = ctx_.self;
  // What was sent: a frame held back must not look lost (the mirror would NACK it).
  h.first_seq = next_seq_;
  for (const InFlight& f : in_flight_) {
    if (f.unsent) {
      h.first_seq = f.first_seq;
      break;
    }
  }
  h.seq_count = 0;
  h.send_time_ns = static_cast<uint64_t>(ctx_.loop.WallNow().count());
  h.dest_chassis = peer_;
  if (idle() && ctx_.summaries) {  // everything synced went out and was acked: the mirror must hold exactly this
    h.flags = static_cast<uint8_t>(wire::BatchFlags::Summary);
    h.owner_sessions = ctx_.owned.counted();
    h.owner_digest = ctx_.owned.digest();
  }
  ctx_.encoder.Reset();
  std::span<const uint8_t> bytes = ctx_.encoder.FinishBatch(h);
  // Both links: the keep-alive is also the link heartbeat of this stream.
  for (Link l : {Link::kM1, Link::kM2}) {
    if (ctx_.Send(peer_, l, bytes) == SendResult::kSent) ctx_.counters.keepalives_sent.Add();
  }
  last_keepalive_ = ctx_.loop.Now();
}

void OutboundStream::OnTick() {
  const Nanos now = ctx_.loop.Now();
  if (links_.Update(now)) {
    ctx_.counters.link_switches.Add();
    BS_LOG(kWarn, "sync") << "slot " << int(ctx_.cfg.slot) << " -> chassis " << int(peer_) << ": sync moves to "
                          << LinkName(links_.active());
    if (ctx_.cfg.test.drop_retransmit_on_link_switch) {
      next_seq_ = acked_;  // broken on purpose (tests only): what was in flight is lost
      in_flight_.clear();
    } else {
      // What went out on the old link may be stuck there: send it again.
      ResendFrom(acked_);
    }
  }
  if (!in_flight_.empty() && now - in_flight_.front().sent_at >= ctx_.cfg.retransmit_timeout) {
    ResendFrom(acked_);
  }
  if (now - last_keepalive_ >= ctx_.cfg.hb_interval) SendKeepAlive();
  Pump();
}

}  // namespace bladesync
