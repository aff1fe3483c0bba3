// OutboundStream: what this blade sends its mirror (the blade in the same
// slot of one peer chassis): the payload of a fabric StreamSender.
//
// Live frames carry the change-log entries for this mirror, each rebuilt
// from the owned table as it is when the frame goes out (so a resend carries
// the current state). A stream's reset is a bulk sync of the
// owned table, cut by session id and interleaved with live frames so live
// lag stays low. The stream itself (numbers, acks, resends, keep-alives,
// the queue holding back) is fabric/stream_sender.h.
#pragma once

#include <array>
#include <memory>

#include "blades/blade_config.h"
#include "blades/blade_counters.h"
#include "blades/change_log.h"
#include "blades/delta_codec.h"
#include "blades/session_store.h"
#include "fabric/link_monitor.h"
#include "fabric/stream_sender.h"

namespace bladesync {

class OutboundStream final : public StreamSource {
 public:
  // What the stream needs of its blade.
  struct Parts {
    const BladeConfig& cfg;
    const StreamOptions& opts;
    EventLoop& loop;
    Transport& transport;
    BladeCounters& counters;
    const SessionStore& owned;
    const ChangeLog& log;
    DeltaEncoder& encoder;  // shared: frames are built one at a time
    wire::Origin self;
  };
  // Makes the sender; tests substitute a broken one (tests/support/broken_blades.h).
  using MakeSender = std::unique_ptr<StreamSender> (*)(StreamSource&, const StreamOptions&, EventLoop&, Transport&,
                                                       NodeId, LinkMonitor&, StreamCounters&);

  OutboundStream(const Parts& parts, uint8_t peer_chassis, uint8_t stream_bit, LinkMonitor& links,
                 MakeSender make_sender = nullptr);

  void Pump() { sender_->Pump(); }
  void OnAck(const wire::Ack& ack, Link link);
  void OnLinkSwitch() { sender_->OnLinkSwitch(); }
  void OnTick(Nanos now) { sender_->OnTick(now); }
  // Starts a bulk sync; `reason` is logged.
  void StartBulkSync(const char* reason) { sender_->Restart(reason); }
  // The change log is full and this stream holds its oldest entry.
  void GiveUpLogPlace();
  // Idle keep-alives carry a summary of the owned table. Not while a
  // relinquish waits out its grace: the table is empty on purpose, and the
  // stream still says what it held until the adopter has it.
  void set_summaries(bool on) { summaries_ = on; }
  // While this chassis is not primary: the mirror's chassis, taking over,
  // adopts once its mirror holds everything sent before (fabric Fence).
  void Fence(bool on) { sender_->Fence(on); }

  // Oldest change-log index this stream may still need.
  uint64_t retain_from() const;
  uint8_t peer() const { return peer_; }
  uint8_t bit() const { return bit_; }
  uint64_t next_seq() const { return sender_->next_seq(); }
  uint64_t acked_seq() const { return sender_->acked_seq(); }
  uint64_t unacked_deltas() const { return sender_->unacked(); }
  bool bulk_sync_done() const { return !bulk_sync_; }
  Link active_link() const { return sender_->active_link(); }
  bool idle() const { return sender_->idle(); }
  Nanos next_due(Nanos now) const { return sender_->next_due(now); }

 private:
  // StreamSource: called by the sender only.
  bool Cut(uint32_t budget, FrameCut& cut) override;
  std::span<const uint8_t> Build(const FrameCut& cut, const StreamHeader& h) override;
  std::span<const uint8_t> BuildKeepAlive(const StreamHeader& h, bool summary) override;
  void Sent(Link link, size_t bytes, bool resend) override;
  void Restart(const char* reason) override;
  bool drained() const override { return !bulk_sync_ && log_cursor_ == log_.end(); }
  void Dropped(StreamDrop why) override;
  void Acked(Link link) override;

  enum CutKind : uint8_t { kBulkSyncCut = 0, kLiveCut = 1 };
  bool CutLive(uint32_t budget, FrameCut& cut);
  void CutBulkSync(FrameCut& cut);
  // Rebuilds the deltas of a frame from the log or the table, as they are now.
  void Encode(const FrameCut& cut);
  BatchHeader Wire(const StreamHeader& h) const;

  const BladeConfig& cfg_;
  BladeCounters& counters_;
  const SessionStore& owned_;
  const ChangeLog& log_;
  DeltaEncoder& encoder_;
  wire::Origin self_;
  uint8_t peer_;
  uint8_t bit_;
  bool summaries_ = true;
  bool bulk_sync_ = true;         // cutting a bulk sync (every stream opens with one)
  bool snap_begin_pending_ = true;
  bool live_turn_ = false;       // during a bulk sync, a live frame goes next
  uint32_t snap_cursor_ = 0;
  uint16_t mirror_schema_minor_ = 0;  // from its acks taken: what it reads (0 until it acked)
  uint16_t ack_schema_minor_ = 0;     // the ack being handled says so
  uint64_t log_cursor_ = 0;      // next log entry not yet cut
  std::array<uint32_t, kOps> op_counts_{};  // deltas by op in the frame just built
  std::unique_ptr<StreamSender> sender_;
};

}  // namespace bladesync
