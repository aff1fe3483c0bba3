#include "blades/outbound_stream.h"

#include "core/log.h"
#include "schemas/wire_version.h"

namespace bladesync {

static_assert(kStreamBegin == static_cast<uint8_t>(wire::BatchFlags::BulkSyncBegin));
static_assert(kStreamEnd == static_cast<uint8_t>(wire::BatchFlags::BulkSyncEnd));
static_assert(kStreamResend == static_cast<uint8_t>(wire::BatchFlags::Resend));
static_assert(kStreamSummary == static_cast<uint8_t>(wire::BatchFlags::Summary));

OutboundStream::OutboundStream(const Parts& p, uint8_t peer_chassis, uint8_t stream_bit, LinkMonitor& links,
                               MakeSender make_sender)
    : cfg_(p.cfg),
      counters_(p.counters),
      owned_(p.owned),
      log_(p.log),
      encoder_(p.encoder),
      self_(p.self),
      peer_(peer_chassis),
      bit_(stream_bit) {
  log_cursor_ = log_.end();
  counters_.bulk_syncs_started.Add();  // every stream opens with a bulk sync
  const NodeId to{peer_chassis, cfg_.slot};
  sender_ = make_sender ? make_sender(*this, p.opts, p.loop, p.transport, to, links, counters_)
                        : std::make_unique<StreamSender>(*this, p.opts, p.loop, p.transport, to, links, counters_);
}

uint64_t OutboundStream::retain_from() const {
  uint64_t from = log_cursor_;
  sender_->ForEachInFlight([&](const FrameCut& c) {
    if (c.kind == kLiveCut && c.end > c.begin && c.begin < from) from = c.begin;
  });
  return from;
}

void OutboundStream::Restart(const char* reason) {
  BS_LOG(kInfo, "sync") << "slot " << int(cfg_.slot) << " -> chassis " << int(peer_) << ": bulk sync starts (" << reason
                        << ")";
  counters_.bulk_syncs_started.Add();
  bulk_sync_ = true;
  // The mirror may be another release now (rolled back): nothing newer
  // than 1.0 goes to it until its next ack says what it reads.
  mirror_schema_minor_ = 0;
  snap_cursor_ = 0;
  snap_begin_pending_ = true;
  live_turn_ = false;
  // The bulk sync reads current state, so older log entries are moot.
  log_cursor_ = log_.end();
}

void OutboundStream::GiveUpLogPlace() {
  counters_.bulk_syncs_forced.Add();
  BS_LOG(kWarn, "sync") << "slot " << int(cfg_.slot) << " -> chassis " << int(peer_) << ": change log full ("
                        << log_.capacity() << " entries); falling back to bulk sync";
  StartBulkSync("change log full");
}

void OutboundStream::Dropped(StreamDrop why) {
  if (why == StreamDrop::kImplausible) counters_.dropped[static_cast<int>(DropReason::kImplausible)].Add();
}

void OutboundStream::OnAck(const wire::Ack& ack, Link link) {
  StreamAck a;
  a.epoch = ack.owner_epoch();
  a.next_seq = ack.next_seq();
  a.nack_from = ack.nack_from();
  a.nack_to = ack.nack_to();
  a.reset_request = static_cast<uint8_t>(ack.flags()) & static_cast<uint8_t>(wire::AckFlags::SyncRequest);
  // Believed only from an ack the stream takes (Acked): a forged one
  // saying an older minor would otherwise stop the summaries.
  ack_schema_minor_ = ack.schema_minor();
  sender_->OnAck(a, link);
}

// A mirror's minor only rises while the stream lasts: it changes release
// only by restarting, and its first ack then asks for a bulk sync, which
// forgets what it read (Restart).
void OutboundStream::Acked(Link) { mirror_schema_minor_ = std::max(mirror_schema_minor_, ack_schema_minor_); }

// Alternates bulk sync chunks with live deltas so live lag stays low.
bool OutboundStream::Cut(uint32_t budget, FrameCut& cut) {
  if (!bulk_sync_) return CutLive(budget, cut);
  if (live_turn_) {
    live_turn_ = false;
    if (CutLive(budget, cut)) return true;
  }
  CutBulkSync(cut);
  live_turn_ = true;
  return true;
}

void OutboundStream::CutBulkSync(FrameCut& cut) {
  cut.kind = kBulkSyncCut;
  cut.begin = snap_cursor_;
  cut.flags = snap_begin_pending_ ? kStreamBegin : 0;
  const uint32_t slots = owned_.slots();
  // A frame covers at most max_batch ids, and numbers them all: a resend
  // rebuilds it from the table as it is then, and sessions created since in
  // those ids must still fit its sequence range (a frame with more deltas
  // than numbers is malformed). Sized here, encoded once in Build().
  size_t bytes = DeltaEncoder::kFrameOverhead;
  while (snap_cursor_ < slots && snap_cursor_ - cut.begin < cfg_.max_batch && bytes + 128 < cfg_.max_frame_bytes) {
    const SessionRecord& r = owned_.rec(snap_cursor_);
    if ((r.bits & (kLive | kSynced)) == (kLive | kSynced)) {
      bytes += DeltaEncoder::CreateBytes(r, (r.bits & kHasNat) ? owned_.nat(snap_cursor_) : nullptr,
                                         owned_.extensions(snap_cursor_), mirror_schema_minor_ >= kHalfNat4SchemaMinor);
    }
    ++snap_cursor_;
  }
  cut.end = snap_cursor_;
  if (snap_cursor_ >= slots) cut.flags |= kStreamEnd;
  // A bulk sync frame takes at least one number, so even an empty one is acked.
  cut.seq_count = std::max<uint32_t>(1, static_cast<uint32_t>(cut.end - cut.begin));
  snap_begin_pending_ = false;
  if (cut.flags & kStreamEnd) bulk_sync_ = false;
}

bool OutboundStream::CutLive(uint32_t budget, FrameCut& cut) {
  cut.kind = kLiveCut;
  cut.flags = 0;
  cut.begin = log_cursor_;
  uint32_t count = 0;
  uint64_t i = log_cursor_;
  const uint64_t end = log_.end();
  // Size the frame by entry count; encoding happens in Build().
  while (i < end && count < cfg_.max_batch && count < budget) {
    if (log_.at(i).dest_mask & (1u << bit_)) ++count;
    ++i;
  }
  log_cursor_ = i;
  if (count == 0) return false;  // entries for other peers only
  cut.end = i;
  cut.seq_count = count;
  return true;
}

void OutboundStream::Encode(const FrameCut& cut) {
  DeltaEncoder& enc = encoder_;
  enc.Reset();
  enc.set_compact_conntrack(mirror_schema_minor_ >= kCompactConntrackSchemaMinor);
  enc.set_half_nat4(mirror_schema_minor_ >= kHalfNat4SchemaMinor);
  op_counts_.fill(0);
  if (cut.kind == kBulkSyncCut) {
    for (uint64_t id = cut.begin; id < cut.end && id < owned_.slots(); ++id) {
      const uint32_t i = static_cast<uint32_t>(id);
      const SessionRecord& r = owned_.rec(i);
      if ((r.bits & (kLive | kSynced)) == (kLive | kSynced)) {
        enc.AddCreate(i, r, (r.bits & kHasNat) ? owned_.nat(i) : nullptr, false, owned_.extensions(i));
        ++op_counts_[static_cast<int>(SyncOp::kBulkSync)];
      }
    }
    return;
  }
  for (uint64_t i = cut.begin; i < cut.end; ++i) {
    const ChangeEntry& e = log_.at(i);
    if (!(e.dest_mask & (1u << bit_))) continue;
    const bool exists = owned_.is_live(e.id) && (owned_.rec(e.id).bits & kSynced);
    const SessionRecord* r = exists ? &owned_.rec(e.id) : nullptr;
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
          enc.AddCreate(e.id, *r, (r->bits & kHasNat) ? owned_.nat(e.id) : nullptr, e.op == kOpRecreate,
                        owned_.extensions(e.id));
          ++op_counts_[static_cast<int>(e.op == kOpRecreate ? SyncOp::kRecreate : SyncOp::kCreate)];
        }
        break;
      case kOpUpdate:
        // An update carries no key: send it only while it is still the latest
        // change of the same session; otherwise a later entry carries it.
        if (r && r->version == e.version) {
          enc.AddUpdate(e.id, *r, owned_.extensions(e.id));
          ++op_counts_[static_cast<int>(SyncOp::kUpdate)];
        }
        break;
    }
  }
}

BatchHeader OutboundStream::Wire(const StreamHeader& h) const {
  BatchHeader b;
  b.from = wire::Origin(self_.group_id(), h.epoch, self_.chassis(), self_.slot());  // the stream's epoch
  b.first_seq = h.first_seq;
  b.seq_count = h.seq_count;
  b.send_time_ns = h.send_time_ns;
  b.flags = h.flags;
  b.dest_chassis = peer_;
  return b;
}

std::span<const uint8_t> OutboundStream::Build(const FrameCut& cut, const StreamHeader& h) {
  Encode(cut);
  BatchHeader b = Wire(h);
  if (cut.flags & kStreamBegin) b.bulk_sync_slots = owned_.slots();
  return encoder_.FinishBatch(b);
}

std::span<const uint8_t> OutboundStream::BuildKeepAlive(const StreamHeader& h, bool summary) {
  BatchHeader b = Wire(h);
  // Everything synced went out and was acked: the mirror must hold exactly
  // this. Not to a mirror before 1.6: its digest is of another kind.
  if (summary && summaries_ && mirror_schema_minor_ >= kDigestSchemaMinor) {
    b.flags |= kStreamSummary;
    b.owner_sessions = owned_.counted();
    b.owner_digest = owned_.digest();
  }
  encoder_.Reset();
  return encoder_.FinishBatch(b);
}

void OutboundStream::Sent(Link link, size_t, bool) {
  const int li = static_cast<int>(link);
  for (int op = 0; op < kOps; ++op) {
    if (op_counts_[op]) counters_.sent[op][li].Add(op_counts_[op]);
  }
}

}  // namespace bladesync
