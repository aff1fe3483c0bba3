// StreamSender: the sending half of the reliable ordered stream to one peer
// node (fabric/stream.h).
//
// Every frame takes sequence numbers and stays in flight until the receiver
// acknowledges them; a NACK, a retransmit timeout or a switch from M1 to M2
// sends the unacknowledged frames again, rebuilt by the payload as they are
// now. An idle stream sends keep-alives on both links so a lost tail is
// noticed. When the transport's queue is full the stream holds back: the
// refused frame and everything after it wait, in order, for the next ack or
// tick (sending later frames past a refused one made gaps, NACKs and
// resends that filled the queue again).
//
//   StreamSender out(source, opts, loop, transport, NodeId{2, 1}, links, counters);
//   out.Pump();                          // after the payload has more
//   out.OnAck(ack, link);                // from the receiver
//   if (links.Update(now)) out.OnLinkSwitch();
//   out.OnTick(now);
#pragma once

#include <deque>

#include "fabric/link_monitor.h"
#include "fabric/stream.h"

namespace bladesync {

// The sender's payload.
class StreamSource {
 public:
  virtual ~StreamSource() = default;
  // Cuts the next frame, taking at most `budget` numbers unless it is part
  // of a reset; false when nothing is waiting.
  virtual bool Cut(uint32_t budget, FrameCut& cut) = 0;
  // The frame of `cut` as its content is now (a resend rebuilds it), under
  // `h`. The bytes stay valid until the next call.
  virtual std::span<const uint8_t> Build(const FrameCut& cut, const StreamHeader& h) = 0;
  // A keep-alive (no numbers); `summary` when everything was acknowledged,
  // so the receiver can check it holds what the payload says.
  virtual std::span<const uint8_t> BuildKeepAlive(const StreamHeader& h, bool summary) = 0;
  // The frame just built went out on `link`.
  virtual void Sent(Link link, size_t bytes, bool resend) {}
  // The stream starts over: what is cut next begins a reset.
  virtual void Restart(const char* reason) = 0;
  // Nothing waits to be cut.
  virtual bool drained() const = 0;
  // An ack that cannot be true was dropped.
  virtual void Dropped(StreamDrop why) {}
  // An ack was taken (of this stream's epoch, its position plausible),
  // before the frames it lets go are cut: what the receiver's ack says
  // about itself may be believed from here on.
  virtual void Acked(Link link) {}
};

class StreamSender {
 public:
  StreamSender(StreamSource& source, const StreamOptions& opts, EventLoop& loop, Transport& transport, NodeId peer,
               LinkMonitor& links, StreamCounters& counters);
  virtual ~StreamSender() = default;

  // Sends what the payload has, as far as the window allows.
  void Pump();
  void OnAck(const StreamAck& ack, Link link);
  // The link monitor moved sync to the other link (its one updater calls
  // this): counted, logged, and what was in flight goes out again.
  void OnLinkSwitch();
  // Retransmit timeout and keep-alive.
  void OnTick(Nanos now);
  // Starts a reset: what was in flight is moot, the payload begins again.
  void Restart(const char* reason);
  // While fenced, every keep-alive sent with nothing left to cut says so
  // (kStreamFence), the first as soon as it can: a receiver caught up to
  // one holds everything the payload had when the fence went up. The
  // payload decides what the fence stands for (blades/: a chassis that
  // stepped down, whose successor adopts once its mirror holds it all).
  // Virtual for a test's sender that never fences (tests/support/broken_streams.h).
  virtual void Fence(bool on);

  // The frames in flight, oldest first (the payload keeps what they need).
  template <typename F>
  void ForEachInFlight(F&& fn) const {
    for (const InFlight& f : in_flight_) fn(f.cut);
  }
  NodeId peer() const { return peer_; }
  uint64_t next_seq() const { return next_seq_; }
  uint64_t acked_seq() const { return acked_; }
  uint64_t unacked() const { return next_seq_ - acked_; }
  bool resetting() const { return resetting_; }
  Link active_link() const { return links_.active(); }
  bool idle() const { return in_flight_.empty() && !resetting_ && source_.drained(); }
  // When OnTick next has work: the next keep-alive, or the first frame's
  // resend while frames are in flight (acks come as frames and pump the
  // stream themselves). kLongAgo (every tick) while something is left to
  // cut or frames the transport refused wait, unless both links are lost:
  // then a resend timeout apart (a dead peer's stream does not keep the
  // blade awake).
  Nanos next_due(Nanos now) const {
    const Nanos keepalive = last_keepalive_ + opts_.keepalive_interval;
    if (idle()) return keepalive;
    if (in_flight_.empty()) return kLongAgo;
    if (held_back_ && (links_.alive(Link::kM1, now) || links_.alive(Link::kM2, now))) return kLongAgo;
    return std::min(keepalive, in_flight_.front().sent_at + opts_.retransmit_timeout);
  }

 protected:
  struct InFlight {
    FrameCut cut;
    uint64_t first_seq;
    bool unsent;   // the transport refused it: goes out before anything newer
    Nanos sent_at;
  };
  // After a link switch: what went out on the old link may be stuck there,
  // so everything unacknowledged goes again. The one step a test's broken
  // sender replaces (tests/support/broken_streams.h).
  virtual void ResendAfterLinkSwitch() { ResendFrom(acked_); }
  // Everything in flight from seq on, in order.
  void ResendFrom(uint64_t seq);
  // What is in flight and its numbers (a subclass may drop them).
  std::deque<InFlight>& in_flight() { return in_flight_; }
  uint64_t& next_seq_ref() { return next_seq_; }

 private:
  // False when the transport refused the frame (its queue is full).
  bool Transmit(InFlight& f, bool resend);
  // Sends the frames the transport refused, oldest first; false if it still refuses.
  bool SendHeldBack();
  void ResendRange(uint64_t from, uint64_t to);
  void SendKeepAlive();
  void TellFence();
  StreamHeader Header(uint64_t first_seq, uint32_t seq_count, uint8_t flags) const;

  StreamSource& source_;
  const StreamOptions& opts_;
  EventLoop& loop_;
  Transport& transport_;
  NodeId peer_;
  LinkMonitor& links_;
  StreamCounters& counters_;
  bool resetting_ = true;       // from a restart until the payload cuts kStreamEnd
  uint64_t next_seq_ = 1;
  uint64_t acked_ = 1;          // every number below this is applied at the receiver
  Nanos reset_started_{0};
  Nanos last_keepalive_{kLongAgo};
  Nanos last_nack_resend_{kLongAgo};
  Nanos last_asked_reset_{kLongAgo};  // the last reset a receiver's request started
  Nanos doubt_since_{0};              // the receiver has NACKed below acked_ since then
  std::deque<InFlight> in_flight_;
  bool held_back_ = false;  // some frame in flight is unsent
  bool fenced_ = false;
  bool fence_told_ = false;  // a fenced keep-alive went out since the fence went up
};

}  // namespace bladesync
