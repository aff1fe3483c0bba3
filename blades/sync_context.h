// SyncContext: what the per-peer streams of one blade share.
#pragma once

#include "blades/blade_config.h"
#include "blades/blade_counters.h"
#include "blades/change_log.h"
#include "blades/delta_codec.h"
#include "blades/session_store.h"
#include "core/event_loop.h"
#include "fabric/transport.h"

namespace bladesync {

struct SyncContext {
  const BladeConfig& cfg;
  EventLoop& loop;
  Transport& transport;
  BladeCounters& counters;
  SessionStore& owned;        // this blade's own sessions
  ChangeLog& log;             // changes to them not yet acked everywhere
  DeltaEncoder& encoder;      // shared: frames are built one at a time
  flatbuffers::FlatBufferBuilder& scratch_fbb;
  wire::Origin self;
  Nanos start;
  // Idle keep-alives carry a summary of the owned table. Not while a
  // relinquish waits out its grace: the table is empty on purpose, and the
  // stream still says what it held until the adopter has it.
  bool summaries = true;

  // Session timers run in deciseconds since the blade started (`start` is
  // read from the same coarse clock).
  uint32_t NowDs() const {
    return static_cast<uint32_t>((loop.CoarseNow() - start) / milliseconds(100));
  }
  uint32_t ExpiryDs(uint32_t timeout_s) const { return NowDs() + timeout_s * 10; }
  SendResult Send(uint8_t chassis, Link link, std::span<const uint8_t> bytes) {
    return transport.Send(NodeId{chassis, cfg.slot}, link, bytes);
  }
};

}  // namespace bladesync
