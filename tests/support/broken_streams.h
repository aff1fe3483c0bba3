// Deliberately broken halves of the fabric's reliable stream: each breaks
// in-order, exactly-once delivery, and the stream's property test (and the
// blade suites, through BladeSeams) must catch it.
#pragma once

#include "fabric/stream_receiver.h"
#include "fabric/stream_sender.h"

namespace bladesync::testing {

// A mirror that acknowledges deltas it has not applied: frames past a gap
// are taken as if the gap had been applied (what "ack on receipt" does).
class AckUnappliedReceiver : public StreamReceiver {
 public:
  using StreamReceiver::StreamReceiver;

 protected:
  void OnAhead(const StreamFrame& f, Link link, std::span<const uint8_t> frame) override {
    SetNext(f.h.first_seq);
    ApplyInOrder(f, frame, link);
  }
};

// An owner that, when sync moves to the other link, forgets what was in
// flight on the old one and numbers on from the last acknowledged delta
// (the retransmit buffer dropped on a link switch).
class DropRetransmitSender : public StreamSender {
 public:
  using StreamSender::StreamSender;

 protected:
  void ResendAfterLinkSwitch() override {
    next_seq_ref() = acked_seq();
    in_flight().clear();  // nothing is held back any more either: SendHeldBack finds nothing
  }
};

// A sender whose fence never goes up (a release without fences, or a fence
// an attacker keeps off): a successor adopts only after HandoverWait.
class NeverFencedSender : public StreamSender {
 public:
  using StreamSender::StreamSender;
  void Fence(bool) override {}
};

}  // namespace bladesync::testing
