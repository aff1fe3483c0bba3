// The reliable ordered stream between one sender and one receiver (a blade
// and its mirror in one peer chassis): what the two halves and their payload
// share. The stream numbers, acknowledges, resends and reorders frames; what
// a frame carries is the payload's business (blades/ puts session deltas in
// it), and so is the wire format: the stream hands the payload a header to
// encode and gets the header back, parsed, from whoever reads the frames.
//
// A stream opens with a reset: frames flagged kBegin ... kEnd that replace
// whatever the receiver held (blades/ fills them with a bulk sync of its
// table). After kEnd the receiver is in step; a receiver that loses its
// place asks for another reset.
#pragma once

#include <cstdint>
#include <span>

#include "core/counter.h"
#include "core/event_loop.h"
#include "fabric/transport.h"

namespace bladesync {

// Frame flags. The values are the wire's (schemas/bladesync.fbs BatchFlags).
enum StreamFlag : uint8_t {
  kStreamBegin = 1,    // a reset begins: the receiver drops what it held
  kStreamEnd = 2,      // the reset is complete: the receiver is in step
  kStreamResend = 4,   // sent again after a NACK, a timeout or a link switch
  kStreamSummary = 16, // an idle keep-alive carrying the payload's summary
  kStreamFence = 32,   // a keep-alive of a fenced stream: everything the sender
                       // sent before its fence is below this position
};

// What the sender puts in front of every frame.
struct StreamHeader {
  uint32_t epoch = 0;       // the sender's incarnation
  uint64_t first_seq = 0;   // the frame covers [first_seq, first_seq + seq_count)
  uint32_t seq_count = 0;   // 0: a keep-alive that tells the next number
  uint8_t flags = 0;
  uint64_t send_time_ns = 0;  // the sender's wall clock
};

// A received frame's header, read by the receiver's owner from the wire.
struct StreamFrame {
  StreamHeader h;
  // A summary keep-alive's claim about the sender's payload (opaque here).
  uint64_t summary_count = 0;
  uint64_t summary_digest = 0;
  bool summary_has_digest = true;  // false: the digest is of another kind, only the count counts
  // A kBegin frame's size hint for the payload (opaque here).
  uint64_t reset_size = 0;
};

// The receiver's answer.
struct StreamAck {
  uint32_t epoch = 0;       // the sender incarnation acknowledged (0: none yet)
  uint64_t next_seq = 0;    // every number below it was applied (0: no place)
  uint64_t nack_from = 0;   // missing [nack_from, nack_to) when nack_to > nack_from
  uint64_t nack_to = 0;
  bool reset_request = false;  // the receiver needs a reset
};

// What the sender did with a frame's numbers, for the payload: the sender
// keeps each frame in flight as the payload cut it, and asks the payload to
// build it again (as its content is now) for a resend.
struct FrameCut {
  uint8_t kind = 0;          // the payload's own (e.g. table range or log range)
  uint64_t begin = 0, end = 0;
  uint32_t seq_count = 0;    // numbers the frame takes (at least 1)
  uint8_t flags = 0;         // kStreamBegin / kStreamEnd
};

// Frames the stream refused, by why (the payload counts them its own way).
enum class StreamDrop : uint8_t {
  kDuplicate,         // numbers already applied
  kGap,               // ahead of a gap, with the reorder buffer full
  kNotInStep,         // before the reset began
  kOldEpoch,          // from an incarnation before the one followed
  kUnconfirmedEpoch,  // another incarnation while the followed one still talks
  kImplausible,       // numbers that cannot be true
};

struct StreamOptions {
  uint32_t epoch = 1;                // the sender's incarnation
  uint32_t window = 1u << 16;        // unacknowledged numbers in flight
  uint32_t max_seq_count = 1u << 13; // numbers one honest frame can take
  Nanos retransmit_timeout = milliseconds(200);
  Nanos keepalive_interval = milliseconds(200);  // keep-alives on both links (and idle acks, if on)
  // The receiver acks an idle sender's keep-alives, and sends acks of its
  // own on both links when quiet, so the sender can judge M1 and M2. Off
  // where the sender's link monitor also hears a stream the other way
  // (blades: each pair streams both ways over one monitor).
  bool idle_acks = true;
  Nanos link_lost_after = milliseconds(1200);    // at most one asked-for reset per this, per receiver
  Nanos ack_delay = milliseconds(2);
  uint32_t ack_every = 8;            // frames
  uint32_t reorder_frames = 512;     // frames that wait ahead of a gap
  size_t reorder_bytes = 32u << 20;
  Nanos reset_timeout = seconds(30); // a reset not finished by then is asked again,
  int reset_retries = 3;             // this many times, then the receiver stops waiting
};

// The stream's counters, each declared once: X(field, help). The field's
// name is also its name in status and on the CLI, and its Prometheus family
// is bladesync_<name>_total with this help (blades/blade_counters.h).
#define BLADESYNC_STREAM_COUNTERS(X)                                                                     \
  X(frames_sent, "Sync frames sent to mirrors, first transmissions.")                                    \
  X(frames_resent, "Sync frames sent again after a NACK or a missing ack.")                              \
  X(bytes_sent, "Bytes of sync frames sent.")                                                            \
  X(keepalives_sent, "Keepalives sent on an idle stream so the mirror knows it is current.")             \
  X(nacks_sent, "Gaps this mirror asked the owner to resend.")                                           \
  X(nacks_received, "Resend requests this owner received from mirrors.")                                 \
  X(frames_reordered, "Frames that arrived ahead of a gap and waited in the reorder buffer.")           \
  X(acks_sent, "Acknowledgements this mirror sent.")                                                     \
  X(acks_received, "Acknowledgements this owner received.")                                              \
  X(bulk_syncs_in_doubt, "Bulk syncs asked for because a stream's numbers contradicted each other.")        \
  X(sync_requests_deferred, "Bulk sync requests that waited for the rate limit.")                         \
  X(bulk_sync_timeouts, "Bulk syncs that took longer than bulk-sync-timeout and were asked again.")      \
  X(bulk_sync_abandoned, "Bulk syncs given up after bulk-sync-retries (ready with an incomplete table).") \
  X(send_queue_full, "Frames the transport refused (send queue full).")                                  \
  X(link_switches, "Times a stream moved between M1 and M2.")

// Shared by the streams of one node; read from any thread.
struct StreamCounters {
#define BLADESYNC_COUNTER_FIELD(name, help) Counter name;
  BLADESYNC_STREAM_COUNTERS(BLADESYNC_COUNTER_FIELD)
#undef BLADESYNC_COUNTER_FIELD
};

}  // namespace bladesync
