#include "fabric/stream_sender.h"

#include "core/log.h"

namespace bladesync {

StreamSender::StreamSender(StreamSource& source, const StreamOptions& opts, EventLoop& loop, Transport& transport,
                           NodeId peer, LinkMonitor& links, StreamCounters& counters)
    : source_(source),
      opts_(opts),
      loop_(loop),
      transport_(transport),
      peer_(peer),
      links_(links),
      counters_(counters),
      reset_started_(loop.Now()) {}

StreamHeader StreamSender::Header(uint64_t first_seq, uint32_t seq_count, uint8_t flags) const {
  StreamHeader h;
  h.epoch = opts_.epoch;
  h.first_seq = first_seq;
  h.seq_count = seq_count;
  h.flags = flags;
  h.send_time_ns = static_cast<uint64_t>(loop_.WallNow().count());
  return h;
}

void StreamSender::Restart(const char* reason) {
  resetting_ = true;
  reset_started_ = loop_.Now();
  // The reset reads the payload as it is now, so older frames are moot.
  in_flight_.clear();
  held_back_ = false;
  acked_ = next_seq_;
  source_.Restart(reason);
}

bool StreamSender::Transmit(InFlight& f, bool resend) {
  const uint8_t flags = static_cast<uint8_t>(f.cut.flags | (resend ? kStreamResend : 0));
  std::span<const uint8_t> bytes = source_.Build(f.cut, Header(f.first_seq, f.cut.seq_count, flags));
  const Link link = links_.active();
  const SendResult r = transport_.Send(peer_, link, bytes);
  f.sent_at = loop_.Now();
  if (r != SendResult::kSent) {
    counters_.send_queue_full.Add();
    f.unsent = true;  // stays in flight and goes out first when the queue drains
    held_back_ = true;
    return false;
  }
  f.unsent = false;
  counters_.frames_sent.Add();
  counters_.bytes_sent.Add(bytes.size());
  if (resend) counters_.frames_resent.Add();
  source_.Sent(link, bytes.size(), resend);
  return true;
}

bool StreamSender::SendHeldBack() {
  if (!held_back_) return true;
  for (InFlight& f : in_flight_) {
    if (f.unsent && !Transmit(f, false)) return false;
  }
  held_back_ = false;
  return true;
}

void StreamSender::Pump() {
  if (!SendHeldBack()) return;
  while (unacked() < opts_.window) {
    InFlight f{};
    f.first_seq = next_seq_;
    if (!source_.Cut(static_cast<uint32_t>(opts_.window - unacked()), f.cut)) break;
    if (f.cut.flags & kStreamEnd) resetting_ = false;
    next_seq_ += f.cut.seq_count;
    in_flight_.push_back(f);
    if (!Transmit(in_flight_.back(), false)) return;
  }
}

void StreamSender::OnAck(const StreamAck& ack, Link link) {
  const Nanos now = loop_.Now();
  counters_.acks_received.Add();
  // About an earlier life of ours; epoch 0 is a receiver that never heard us
  // asking for its first reset (it need not wait for our keep-alive).
  if (ack.epoch != opts_.epoch && !(ack.reset_request && ack.epoch == 0)) return;
  if (ack.reset_request) {
    // The receiver lost its place. Restart unless a reset is already on its
    // way; at most one per receiver per link-loss interval, whoever asks.
    const bool fresh = resetting_ || (!in_flight_.empty() && (in_flight_.front().cut.flags & kStreamBegin));
    if (fresh && now - reset_started_ <= opts_.retransmit_timeout * 4) return;
    if (now - last_asked_reset_ < opts_.link_lost_after) {
      counters_.sync_requests_deferred.Add();
      return;
    }
    links_.OnReceive(link, now);
    last_asked_reset_ = now;
    Restart("mirror asked");
    Pump();
    return;
  }
  if (ack.next_seq > next_seq_) {  // acknowledges what we never sent
    source_.Dropped(StreamDrop::kImplausible);
    return;
  }
  links_.OnReceive(link, now);
  source_.Acked(link);
  if (ack.next_seq >= acked_) doubt_since_ = Nanos(0);
  if (ack.next_seq > acked_) acked_ = ack.next_seq;
  while (!in_flight_.empty() && in_flight_.front().first_seq + in_flight_.front().cut.seq_count <= acked_) {
    in_flight_.pop_front();
  }
  if (ack.nack_to > ack.nack_from && ack.nack_from < acked_) {
    // The receiver misses numbers we took as acknowledged: the ack was not
    // its own (forged) or not of this stream. Once that persists (a
    // reordered old NACK does not), reset rather than leave the gap open.
    if (doubt_since_ == Nanos(0)) doubt_since_ = now;
    if (now - doubt_since_ >= opts_.retransmit_timeout * 2) {
      doubt_since_ = Nanos(0);
      counters_.bulk_syncs_in_doubt.Add();
      Restart("the mirror misses deltas it acknowledged");
    }
  } else if (ack.nack_to > ack.nack_from) {
    counters_.nacks_received.Add();
    // One resend per round trip; the receiver repeats its NACK until it is filled.
    if (now - last_nack_resend_ >= opts_.retransmit_timeout / 4) {
      last_nack_resend_ = now;
      ResendRange(ack.nack_from, ack.nack_to);
    }
  }
  Pump();
}

// Selective repeat: only the frames the receiver reported missing, in
// order, up to the first the transport refuses.
void StreamSender::ResendRange(uint64_t from, uint64_t to) {
  for (InFlight& f : in_flight_) {
    if (f.first_seq + f.cut.seq_count > from && f.first_seq < to && !Transmit(f, true)) return;
  }
}

void StreamSender::ResendFrom(uint64_t seq) { ResendRange(seq, UINT64_MAX); }

void StreamSender::SendKeepAlive() {
  // What was sent: a frame held back must not look lost (the receiver would NACK it).
  uint64_t next = next_seq_;
  for (const InFlight& f : in_flight_) {
    if (f.unsent) {
      next = f.first_seq;
      break;
    }
  }
  // Fenced only once everything is cut and sent: the position then covers
  // all the payload had when the fence went up.
  const bool fence = fenced_ && source_.drained() && next == next_seq_;
  fence_told_ |= fence;
  std::span<const uint8_t> bytes = source_.BuildKeepAlive(Header(next, 0, fence ? kStreamFence : 0), idle());
  // Both links: the keep-alive is also the link heartbeat of this stream.
  for (Link l : {Link::kM1, Link::kM2}) {
    if (transport_.Send(peer_, l, bytes) == SendResult::kSent) counters_.keepalives_sent.Add();
  }
  last_keepalive_ = loop_.Now();
}

void StreamSender::Fence(bool on) {
  if (on == fenced_) return;
  fenced_ = on;
  fence_told_ = false;
  if (!on) SendKeepAlive();  // lifted at once: a mirror must not hold on to a passed fence
  TellFence();
}

// The first fenced keep-alive goes as soon as it can: the successor waits for it.
void StreamSender::TellFence() {
  if (fenced_ && !fence_told_ && source_.drained() && !held_back_) SendKeepAlive();
}

void StreamSender::OnLinkSwitch() {
  counters_.link_switches.Add();
  BS_LOG(kWarn, "sync") << "slot " << int(peer_.slot) << " -> chassis " << int(peer_.chassis) << ": sync moves to "
                        << LinkName(links_.active());
  ResendAfterLinkSwitch();
}

void StreamSender::OnTick(Nanos now) {
  if (!in_flight_.empty() && now - in_flight_.front().sent_at >= opts_.retransmit_timeout) ResendFrom(acked_);
  if (now - last_keepalive_ >= opts_.keepalive_interval) SendKeepAlive();
  Pump();
  TellFence();
}

}  // namespace bladesync
