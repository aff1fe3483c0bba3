#include "fabric/stream_receiver.h"

#include <algorithm>

#include "core/log.h"

namespace bladesync {

StreamReceiver::StreamReceiver(StreamSink& sink, const StreamOptions& opts, EventLoop& loop, Transport& transport,
                               NodeId peer, LinkMonitor& links, StreamCounters& counters)
    : sink_(sink), opts_(opts), loop_(loop), transport_(transport), peer_(peer), links_(links), counters_(counters) {}

void StreamReceiver::OnFrame(const StreamFrame& f, Link link, std::span<const uint8_t> frame) {
  const Nanos now = loop_.Now();
  const uint32_t epoch = f.h.epoch;
  const uint64_t seq = f.h.first_seq;
  // An honest sender numbers at most a frame's worth per frame; a larger
  // range would make every genuine frame after it a "duplicate".
  if (f.h.seq_count > opts_.max_seq_count || seq > UINT64_MAX / 2) return Drop(StreamDrop::kImplausible);
  if (epoch != epoch_ && epoch_ != 0 && now - heard_ < ConfirmAfter()) {
    // Another incarnation while the one we follow still talks: a frame from
    // an earlier life (a replay), or a claim that the sender restarted which
    // its own stream contradicts. Believed once the current one is quiet.
    return Drop(epoch < epoch_ ? StreamDrop::kOldEpoch : StreamDrop::kUnconfirmedEpoch);
  }
  links_.OnReceive(link, now);
  heard_ = now;
  if (f.h.flags & kStreamBegin) {
    // A reset supersedes everything before it, so any begin at or after
    // our position (or from another epoch) restarts from scratch.
    if (epoch != epoch_ || state_ == State::kNeedReset || seq >= next_seq_) {
      if (epoch != epoch_ && epoch_ != 0) {
        BS_LOG(kInfo, "sync") << "slot " << int(peer_.slot) << ": chassis " << int(peer_.chassis)
                              << " restarted (epoch " << epoch_ << " -> " << epoch << ")";
        sink_.NewIncarnation(epoch, state_ == State::kInStep || gave_up_);
      }
      if (epoch != epoch_) {
        gap_to_ = suspect_to_ = 0;
        data_link_.reset();
      }
      epoch_ = epoch;
      sink_.BeginReset(f);
      ClearBuffered();
      next_seq_ = seq;
      caught_up_ = now;
      // Live frames dropped while we waited for this reset are NACKed next.
      if (gap_to_ <= seq) gap_to_ = 0;
      if (suspect_to_ <= seq) suspect_to_ = 0;
      if (state_ != State::kResetting) {
        reset_began_ = now;
        reset_retries_ = 0;
      }
      parked_ = false;
      state_ = State::kResetting;
    }
  } else if (epoch != epoch_ || state_ == State::kNeedReset) {
    // Live frames of a sender we have no reset of: ask for one, and
    // remember how far the stream went so the gap after it is NACKed.
    Drop(StreamDrop::kNotInStep);
    if (epoch != epoch_) {
      if (epoch_ != 0) sink_.NewIncarnation(epoch, state_ == State::kInStep || gave_up_);
      epoch_ = epoch;
      state_ = State::kNeedReset;
      sink_.Forget();
      gap_to_ = suspect_to_ = 0;
      data_link_.reset();
    }
    gap_to_ = std::max<uint64_t>(gap_to_, seq + f.h.seq_count);
    if (now - last_reset_request_ >= opts_.retransmit_timeout) {
      last_reset_request_ = now;
      SendAck(link, true);
    }
    return;
  }

  if (f.h.seq_count == 0) return OnKeepAlive(f, link, now);
  if (seq + f.h.seq_count <= next_seq_) {
    Drop(StreamDrop::kDuplicate);
    ++frames_since_ack_;  // ack again so the sender stops resending
    FlushAck(link, false);
    return;
  }
  if (seq > next_seq_) return OnAhead(f, link, frame);
  if (seq < next_seq_) {
    // Overlaps what was applied: an honest sender resends a frame as it cut
    // it first, so our position came from frames it never sent.
    return ResetInDoubt(link, "a frame of the owner overlaps this mirror's position");
  }
  ApplyInOrder(f, frame, link);
}

void StreamReceiver::OnKeepAlive(const StreamFrame& f, Link link, Nanos now) {
  const uint64_t seq = f.h.first_seq;
  // A fence is passed once next_seq_ reaches it; an unfenced keep-alive
  // lifts it (the sender's chassis is primary again). One behind our
  // position is not believed (a genuine one is at or past it, but for a
  // reorder across links the next keep-alive repairs): a forged fence at
  // an old number would hand the sessions over before they arrived.
  fence_at_ = ((f.h.flags & kStreamFence) && seq >= next_seq_) ? std::max<uint64_t>(seq, 1) : 0;
  fence_epoch_ = epoch_;
  if (seq >= next_seq_) {
    caught_up_ = now;
    // Nothing at or past `seq` was sent: frames waiting there are not the
    // sender's (a genuine one dropped here is NACKed and resent).
    const size_t before = reorder_.size();
    for (auto it = reorder_.lower_bound(seq); it != reorder_.end(); it = reorder_.erase(it)) {
      reorder_bytes_ -= it->second.bytes.size();
    }
    if (reorder_.size() != before) {
      Drop(StreamDrop::kImplausible, before - reorder_.size());
      GapFromBuffer();
    }
    // Nor is a gap past `seq` (a forged keep-alive's): left open, it would
    // be NACKed, and keep the blade awake, for ever.
    if (suspect_to_ > seq) suspect_to_ = seq;
    if (gap_to_ > seq) {
      if (reorder_.empty()) {
        gap_to_ = seq > next_seq_ ? seq : 0;
      } else {
        GapFromBuffer();
      }
    }
  } else if (now - caught_up_ >= ConfirmAfter()) {
    // The sender's stream stays behind our position: frames it never sent
    // (forged, or corrupt) moved us ahead. What we hold is in doubt.
    return ResetInDoubt(link, "the owner's stream is behind this mirror");
  }
  if ((f.h.flags & kStreamSummary) && seq == next_seq_ && state_ == State::kInStep && reorder_.empty() &&
      sink_.quiet()) {
    // The sender is idle and we are caught up: the payload must hold what
    // it says. Three summaries in a row that say otherwise (with nothing
    // applied in between) mean it is wrong however it got so.
    std::string why = sink_.Mismatch(f);
    if (why.empty()) {
      summary_mismatches_ = 0;
    } else if (++summary_mismatches_ >= 3) {
      summary_mismatches_ = 0;
      return ResetInDoubt(link, why);
    }
  }
  const bool other_link = seq > next_seq_ && data_link_ && link != *data_link_ && gap_to_ <= next_seq_;
  if (other_link) {
    // The keep-alive goes on both links: this copy may have overtaken the
    // frames before it, still queued on the data link (OnTick NACKs if so).
    // Timed from when our position first went unexplained, so a replayed
    // keep-alive that clears the suspicion cannot put the NACK off.
    if (suspect_to_ <= next_seq_ && suspect_at_ != next_seq_) {
      suspect_since_ = now;
      suspect_at_ = next_seq_;
    }
    suspect_to_ = std::max(suspect_to_, seq);
  }
  if (!other_link && seq > next_seq_ && now - last_nack_ >= opts_.retransmit_timeout / 2) {
    gap_to_ = seq;
    SendAck(link, false);
  } else if (frames_since_ack_ > 0 ||
             ((opts_.idle_acks || !(f.h.flags & kStreamSummary)) && now - last_ack_ >= opts_.keepalive_interval)) {
    // Doubles as the link heartbeat back; a sender with frames in flight
    // (no summary) may have lost our last ack.
    SendAck(link, false);
  }
}

void StreamReceiver::OnAhead(const StreamFrame& f, Link link, std::span<const uint8_t> frame) {
  Buffer(f, frame);
  data_link_ = link;
  gap_to_ = reorder_.empty() ? std::max(gap_to_, f.h.first_seq) : reorder_.begin()->first;
  if (loop_.Now() - last_nack_ >= opts_.retransmit_timeout / 2) SendAck(link, false);
}

void StreamReceiver::ApplyInOrder(const StreamFrame& f, std::span<const uint8_t> frame, Link link) {
  ApplyOne(f, frame, link);
  DrainBuffered(link);
}

void StreamReceiver::ApplyOne(const StreamFrame& f, std::span<const uint8_t> frame, Link link) {
  sink_.Apply(f, frame, link);
  data_link_ = link;
  next_seq_ = f.h.first_seq + f.h.seq_count;
  const Nanos now = loop_.Now();
  caught_up_ = now;
  summary_mismatches_ = 0;
  if (gap_to_ <= next_seq_) gap_to_ = 0;
  if (f.h.flags & kStreamEnd) {
    if (state_ != State::kInStep) sink_.InStep(now - reset_began_);
    state_ = State::kInStep;
    gave_up_ = false;
    reset_retries_ = 0;
  }
  ++frames_since_ack_;
  FlushAck(link, (f.h.flags & kStreamEnd) != 0);
}

void StreamReceiver::Buffer(const StreamFrame& f, std::span<const uint8_t> frame) {
  // An honest sender cuts its stream once (a resend repeats a frame's
  // range): two waiting frames whose ranges overlap but differ cannot both
  // be its. Neither is kept; the NACK brings the sender's own again.
  const uint64_t seq = f.h.first_seq;
  const uint64_t end = seq + f.h.seq_count;
  auto it = reorder_.upper_bound(seq);
  if (it != reorder_.begin()) --it;  // the frame that starts at or before seq
  size_t conflicts = 0;
  bool same = false;
  while (it != reorder_.end() && it->first < end) {
    const uint64_t t_end = it->first + it->second.f.h.seq_count;
    if (t_end <= seq) {
      ++it;
      continue;
    }
    if (it->first == seq && t_end == end) {
      same = true;
      ++it;
      continue;
    }
    reorder_bytes_ -= it->second.bytes.size();
    it = reorder_.erase(it);
    ++conflicts;
  }
  if (conflicts) {
    Drop(StreamDrop::kImplausible, conflicts + 1);
    GapFromBuffer();
    return;
  }
  if (same) return Drop(StreamDrop::kDuplicate);
  if (reorder_.size() >= opts_.reorder_frames || reorder_bytes_ + frame.size() > opts_.reorder_bytes) {
    return Drop(StreamDrop::kGap);  // the buffer is full: the NACK brings it again
  }
  reorder_.emplace(seq, Waiting{f, std::vector<uint8_t>(frame.begin(), frame.end())});
  reorder_bytes_ += frame.size();
  counters_.frames_reordered.Add();
}

void StreamReceiver::DrainBuffered(Link link) {
  while (!reorder_.empty()) {
    auto it = reorder_.begin();
    if (it->first < next_seq_) {  // superseded
      reorder_bytes_ -= it->second.bytes.size();
      reorder_.erase(it);
      continue;
    }
    if (it->first != next_seq_) break;
    Waiting w = std::move(it->second);
    reorder_bytes_ -= w.bytes.size();
    reorder_.erase(it);
    ApplyOne(w.f, w.bytes, link);
  }
  GapFromBuffer();
}

void StreamReceiver::GapFromBuffer() {
  gap_to_ = reorder_.empty() ? 0 : reorder_.begin()->first;
  if (gap_to_ <= next_seq_) gap_to_ = 0;
}

void StreamReceiver::ClearBuffered() {
  reorder_.clear();
  reorder_bytes_ = 0;
}

void StreamReceiver::ResetInDoubt(Link link, const std::string& why) {
  Drop(StreamDrop::kImplausible);
  counters_.bulk_syncs_in_doubt.Add();
  BS_LOG(kWarn, "sync") << "slot " << int(peer_.slot) << ": " << why << " (chassis " << int(peer_.chassis)
                        << "); asking for a bulk sync";
  state_ = State::kNeedReset;  // the payload keeps what it holds until the reset replaces it
  ClearBuffered();
  gap_to_ = suspect_to_ = 0;
  last_reset_request_ = loop_.Now();
  SendAck(link, true);
}

void StreamReceiver::Park() {
  state_ = State::kNeedReset;
  parked_ = true;
}

void StreamReceiver::FlushAck(Link link, bool force) {
  const Nanos now = loop_.Now();
  if (force || frames_since_ack_ >= opts_.ack_every || now - last_ack_ >= opts_.ack_delay) SendAck(link, false);
}

void StreamReceiver::SendAck(Link link, bool reset_request) {
  const Nanos now = loop_.Now();
  // A receiver waiting for a reset has no place in the stream: it
  // acknowledges nothing and asks for no resend (after an epoch switch, or
  // a reset in doubt, next_seq_ belongs to another stream or is not to be
  // trusted). gap_to_ is kept for the NACK once the reset begins.
  const bool placed = state_ != State::kNeedReset;
  StreamAck ack;
  ack.epoch = epoch_;
  ack.next_seq = placed ? next_seq_ : 0;
  ack.reset_request = reset_request;
  if (placed && gap_to_ > next_seq_) {
    ack.nack_from = next_seq_;
    ack.nack_to = gap_to_;
    last_nack_ = now;
    counters_.nacks_sent.Add();
  }
  transport_.Send(peer_, link, sink_.BuildAck(ack, link));
  counters_.acks_sent.Add();
  frames_since_ack_ = 0;
  last_ack_ = now;
}

Nanos StreamReceiver::next_due() const {
  if (frames_since_ack_ > 0 || !reorder_.empty() || gap_to_ > next_seq_) return kLongAgo;
  Nanos due = sink_.housekeeping_due();
  if (suspect_to_ > next_seq_) due = std::min(due, suspect_since_ + opts_.retransmit_timeout / 2);
  if (state_ == State::kResetting) {
    // Its frames wake the owner as they come; a reset that stopped coming
    // is asked again at its timeout, and once given up waits for nothing.
    return gave_up_ ? due : std::min(due, reset_began_ + opts_.reset_timeout + Nanos(1));
  }
  if (state_ == State::kNeedReset && !parked_) return std::min(due, last_reset_request_ + opts_.retransmit_timeout);
  return epoch_ == 0 || !opts_.idle_acks ? due : std::min(due, last_ack_ + opts_.keepalive_interval);
}

void StreamReceiver::OnTick(Nanos now) {
  const bool payload_due = sink_.Housekeeping(now);
  const Link link = links_.active();
  if (suspect_to_ <= next_seq_) {
    suspect_to_ = 0;
  } else if (now - suspect_since_ >= opts_.retransmit_timeout / 2) {
    gap_to_ = std::max(gap_to_, suspect_to_);  // still open: a real gap
    suspect_to_ = 0;
  }
  if (state_ == State::kResetting && now - reset_began_ > opts_.reset_timeout) {
    if (reset_retries_ < opts_.reset_retries) {
      ++reset_retries_;
      counters_.bulk_sync_timeouts.Add();
      BS_LOG(kWarn, "sync") << "slot " << int(peer_.slot) << ": bulk sync from chassis " << int(peer_.chassis)
                            << " did not finish in " << ToSeconds(opts_.reset_timeout) << " s; asking again ("
                            << reset_retries_ << "/" << opts_.reset_retries << ")";
      reset_began_ = now;
      last_reset_request_ = now;
      SendAck(link, true);
      return;
    }
    if (!gave_up_) {
      gave_up_ = true;
      counters_.bulk_sync_abandoned.Add();
      BS_LOG(kError, "sync") << "slot " << int(peer_.slot) << ": bulk sync from chassis " << int(peer_.chassis)
                             << " failed " << opts_.reset_retries + 1
                             << " times; no longer waiting for it (the standby table is incomplete)";
    }
  }
  // A receiver that never heard its sender asks too (epoch 0), so a node
  // that starts gets its reset without waiting for the sender's keep-alive.
  if (state_ == State::kNeedReset && !parked_ && now - last_reset_request_ >= opts_.retransmit_timeout) {
    last_reset_request_ = now;
    SendAck(link, true);
  } else if (frames_since_ack_ > 0 || payload_due ||
             (gap_to_ > next_seq_ && now - last_nack_ >= opts_.retransmit_timeout / 2)) {
    SendAck(link, false);
  } else if (opts_.idle_acks && now - last_ack_ >= opts_.keepalive_interval && epoch_ != 0) {
    // Idle heartbeat on both links so the sender can judge M1 and M2.
    SendAck(Link::kM1, false);
    SendAck(Link::kM2, false);
  }
}

}  // namespace bladesync
