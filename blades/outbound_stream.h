// OutboundStream: the ordered, reliable stream of deltas from this blade to
// its mirror (same slot) in one peer chassis.
//
// Every delta gets a sequence number. Frames stay in flight until the mirror
// acknowledges them; a NACK, a retransmit timeout or a switch from M1 to M2
// sends the unacknowledged frames again, rebuilt from the change log with the
// current state. A mirror that starts, restarts or fell too far behind gets a
// snapshot (SnapshotBegin ... SnapshotEnd) interleaved with the live stream.
// An idle stream sends keep-alives on both links so a lost tail is noticed.
// When the transport's queue is full the stream holds back: the refused frame
// and everything after it wait, in order, for the next ack or tick (sending
// later frames past a refused one made gaps, NACKs and resends that filled
// the queue again).
#pragma once

#include <array>
#include <deque>

#include "blades/sync_context.h"
#include "fabric/link_monitor.h"

namespace bladesync {

class OutboundStream {
 public:
  enum class State { kSnapshot, kLive };

  OutboundStream(SyncContext& ctx, uint8_t peer_chassis, uint8_t stream_bit, LinkMonitor& links);

  // Sends pending deltas and snapshot chunks, as far as the window allows.
  void Pump();
  void OnAck(const wire::Ack& ack, Link link);
  // Retransmit timeout, keep-alive and link choice; called every tick.
  void OnTick();
  // Starts a snapshot (bulk sync); `reason` is logged.
  void StartSnapshot(const char* reason);
  // The change log is full and this stream holds its oldest entry.
  void GiveUpLogPlace();

  // Oldest change-log index this stream may still need.
  uint64_t retain_from() const;
  uint8_t peer() const { return peer_; }
  uint8_t bit() const { return bit_; }
  State state() const { return state_; }
  uint64_t next_seq() const { return next_seq_; }
  uint64_t acked_seq() const { return acked_; }
  uint64_t unacked_deltas() const { return next_seq_ - acked_; }
  bool snapshot_done() const { return state_ == State::kLive; }
  Link active_link() const { return links_.active(); }
  bool idle() const { return in_flight_.empty() && state_ == State::kLive && log_cursor_ == ctx_.log.end(); }

 private:
  struct InFlight {
    uint64_t first_seq;
    uint32_t seq_count;
    uint64_t log_begin, log_end;   // live entries [log_begin, log_end)
    uint32_t snap_begin, snap_end; // snapshot ids [snap_begin, snap_end)
    uint8_t flags;
    bool unsent;                   // the transport refused it: goes out before anything newer
    Nanos sent_at;
  };

  bool BuildLive(InFlight& f);
  bool BuildSnapshot(InFlight& f);
  void Encode(const InFlight& f);
  // False when the transport refused the frame (its queue is full).
  bool Transmit(InFlight& f, bool resend);
  // Sends the frames the transport refused, oldest first; false if it still refuses.
  bool SendHeldBack();
  void ResendFrom(uint64_t seq);  // everything in flight from seq on
  void ResendRange(uint64_t from, uint64_t to);
  void SendKeepAlive();

  SyncContext& ctx_;
  uint8_t peer_;
  uint8_t bit_;
  LinkMonitor& links_;
  State state_ = State::kSnapshot;
  uint64_t next_seq_ = 1;
  uint64_t acked_ = 1;          // every seq below this is applied at the mirror
  uint64_t log_cursor_ = 0;     // next log entry not yet framed
  uint32_t snap_cursor_ = 0;
  bool snap_begin_pending_ = true;
  Nanos snapshot_started_{0};
  Nanos last_send_{kLongAgo};
  Nanos last_keepalive_{kLongAgo};
  Nanos last_nack_resend_{kLongAgo};
  Nanos last_asked_snapshot_{kLongAgo};  // the last snapshot a mirror's request started
  Nanos doubt_since_{0};                 // the mirror has NACKed below acked_ since then
  std::deque<InFlight> in_flight_;
  bool held_back_ = false;  // some frame in flight is unsent
  std::array<uint32_t, kOps> op_counts_{};  // deltas by op in the frame just encoded
};

}  // namespace bladesync
