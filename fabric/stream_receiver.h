// StreamReceiver: the receiving half of the reliable ordered stream from one
// peer node (fabric/stream.h).
//
// Frames are handed to the payload strictly in sequence order, each exactly
// once; a gap is NACKed (frames ahead of it wait in a bounded reorder
// buffer), a duplicate dropped, an older incarnation ignored. Numbers that
// cannot come from an honest sender (an overlap with what was applied, a
// sender whose keep-alives stay behind us, an idle summary that disagrees
// with the payload) make the receiver ask for a reset instead of trusting
// what it holds.
//
//   StreamReceiver in(sink, opts, loop, transport, NodeId{2, 1}, links, counters);
//   in.OnFrame(frame, link, bytes);   // header parsed by the owner
//   in.OnTick(now);
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fabric/link_monitor.h"
#include "fabric/stream.h"

namespace bladesync {

// The receiver's payload.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // A reset begins at `f`: drop what was held of the sender.
  virtual void BeginReset(const StreamFrame& f) = 0;
  // Live frames of a sender incarnation with no reset yet: drop what was held.
  virtual void Forget() = 0;
  // The sender restarted (`new_epoch`) while an earlier incarnation was
  // followed; `complete` when what was held of that one was whole. Called
  // before BeginReset or Forget drops it.
  virtual void NewIncarnation(uint32_t new_epoch, bool complete) {}
  // One frame, in order, exactly once.
  virtual void Apply(const StreamFrame& f, std::span<const uint8_t> frame, Link link) = 0;
  // The reset completed: the receiver is in step.
  virtual void InStep(Nanos reset_took) {}
  // Empty when the payload holds what an idle sender's summary says; else why not.
  virtual std::string Mismatch(const StreamFrame& f) { return {}; }
  // Nothing of the payload's own is outstanding, so a summary can be judged.
  virtual bool quiet() const { return true; }
  // The ack to send, with what the payload adds to it.
  virtual std::span<const uint8_t> BuildAck(const StreamAck& ack, Link link) = 0;
  // Every tick, before the receiver's own; true when the payload needs an ack out.
  virtual bool Housekeeping(Nanos now) { return false; }
  // When Housekeeping next has work (kLongAgo: every tick).
  virtual Nanos housekeeping_due() const { return kLongAgo; }
  virtual void Dropped(StreamDrop why, uint64_t n) {}
};

class StreamReceiver {
 public:
  enum class State { kNeedReset, kResetting, kInStep };

  StreamReceiver(StreamSink& sink, const StreamOptions& opts, EventLoop& loop, Transport& transport, NodeId peer,
                 LinkMonitor& links, StreamCounters& counters);
  virtual ~StreamReceiver() = default;

  // `frame` is the verified frame `f` was read from (kept if it is early).
  void OnFrame(const StreamFrame& f, Link link, std::span<const uint8_t> frame);
  // Acks, NACKs, reset requests and their timeout.
  void OnTick(Nanos now);
  // When OnTick next has work: kLongAgo (every tick) while acks are owed,
  // a gap is open or a reset runs; else the next idle ack or reset request.
  Nanos next_due() const;
  // The sender is gone and what it sent was taken: ask nothing of it until
  // it comes back with a reset.
  void Park();

  State state() const { return state_; }
  bool in_step() const { return state_ == State::kInStep; }
  bool parked() const { return parked_; }
  bool gave_up() const { return gave_up_; }
  // Waiting for this sender no longer holds the receiver's node back.
  bool settled() const { return epoch_ == 0 || state_ == State::kInStep || gave_up_ || parked_; }
  uint32_t epoch() const { return epoch_; }
  uint64_t next_seq() const { return next_seq_; }
  NodeId peer() const { return peer_; }
  // Nothing more to wait for from the sender: its last keep-alive was
  // fenced (kStreamFence) and everything it sent before is applied here, in
  // step; or both links to it are lost (a dead sender fences nothing).
  bool fence_passed(Nanos now) const {
    if (!links_.alive(Link::kM1, now) && !links_.alive(Link::kM2, now)) return true;
    return fence_at_ != 0 && fence_epoch_ == epoch_ && state_ == State::kInStep && next_seq_ >= fence_at_;
  }

 protected:
  // What to do with a frame ahead of the next number: buffer it and NACK
  // the gap. A broken receiver (tests only, through a subclass) takes it as
  // if the gap had been applied.
  virtual void OnAhead(const StreamFrame& f, Link link, std::span<const uint8_t> frame);
  // Applies `f` (next in line) and whatever waited behind it.
  void ApplyInOrder(const StreamFrame& f, std::span<const uint8_t> frame, Link link);
  void SetNext(uint64_t seq) { next_seq_ = seq; }

 private:
  struct Waiting {
    StreamFrame f;
    std::vector<uint8_t> bytes;
  };
  // What we hold was moved by frames the sender never sent: ask for a reset.
  void ResetInDoubt(Link link, const std::string& why);
  // Keep-alives come every keepalive_interval on both links: two missed on
  // both means the stream we follow has gone quiet.
  Nanos ConfirmAfter() const { return opts_.keepalive_interval * 2; }
  void SendAck(Link link, bool reset_request);
  // Sends an ack now if one is due (after a burst of frames).
  void FlushAck(Link link, bool force);
  void Drop(StreamDrop why, uint64_t n = 1) { sink_.Dropped(why, n); }
  void ApplyOne(const StreamFrame& f, std::span<const uint8_t> frame, Link link);
  void OnKeepAlive(const StreamFrame& f, Link link, Nanos now);
  // Keeps a verified frame that arrived ahead of a gap; applies buffered
  // frames that have become next in line.
  void Buffer(const StreamFrame& f, std::span<const uint8_t> frame);
  void DrainBuffered(Link link);
  // The NACK range after the buffer changed: up to the first frame waiting.
  void GapFromBuffer();
  void ClearBuffered();

  StreamSink& sink_;
  const StreamOptions& opts_;
  EventLoop& loop_;
  Transport& transport_;
  NodeId peer_;
  LinkMonitor& links_;
  StreamCounters& counters_;
  State state_ = State::kNeedReset;
  uint32_t epoch_ = 0;
  uint64_t next_seq_ = 0;
  uint64_t gap_to_ = 0;            // a NACK for [next_seq_, gap_to_) is out
  // A gap only a keep-alive on the other link than the data's showed: its
  // frames may still be queued on the data link, so it is NACKed once it
  // stays open for half a retransmit timeout.
  uint64_t suspect_to_ = 0;
  Nanos suspect_since_{0};
  uint64_t suspect_at_ = UINT64_MAX;  // next_seq_ when suspect_since_ was set
  std::optional<Link> data_link_;     // the link of the last data frame applied or buffered
  Nanos heard_{kLongAgo};          // last frame of epoch_ taken
  Nanos caught_up_{0};             // last time the sender's stream was at or past next_seq_
  int summary_mismatches_ = 0;     // idle summaries in a row that differ from what the payload holds
  uint64_t fence_at_ = 0;          // the last keep-alive's position if it was fenced, else 0
  uint32_t fence_epoch_ = 0;
  Nanos last_nack_{kLongAgo};
  Nanos last_reset_request_{kLongAgo};
  uint32_t frames_since_ack_ = 0;
  Nanos last_ack_{kLongAgo};
  Nanos reset_began_{0};
  int reset_retries_ = 0;
  bool gave_up_ = false;
  bool parked_ = false;
  std::map<uint64_t, Waiting> reorder_;  // first_seq -> frame
  size_t reorder_bytes_ = 0;
};

}  // namespace bladesync
