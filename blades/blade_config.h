// BladeConfig: what one blade agent needs to know, derived from the cluster
// config (config/cluster_config.h) for one (chassis, slot).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "blades/pickup_policy.h"
#include "core/event_loop.h"

namespace bladesync {

// Idle timers, FortiOS names: session-ttl default, tcp-halfopen-timer,
// tcp-halfclose-timer, tcp-timewait-timer, udp-idle-timer.
struct SessionTimers {
  uint32_t session_ttl_s = 3600;
  uint32_t tcp_halfopen_s = 10;
  uint32_t tcp_halfclose_s = 120;
  uint32_t tcp_timewait_s = 1;
  uint32_t udp_idle_s = 180;
  uint32_t icmp_idle_s = 60;
};

// How long a new primary waits for the old one's fence before it adopts
// anyway (ChassisManager::HandoverWait).
inline Nanos HandoverWaitOf(Nanos hb_interval, int hb_lost_threshold) { return hb_interval * (hb_lost_threshold + 2); }
// How long after a loss a takeover may still adopt the lost incarnation's
// tables: a handover's wait, one second at least. The mirrors keep those
// tables twice as long (StandbyTable::OrphanKeptFor): the manager and the
// blades read both from one config, so the margin holds.
inline Nanos OrphanTakeoverWindowOf(Nanos hb_interval, int hb_lost_threshold) {
  return std::max<Nanos>(std::chrono::seconds(1), HandoverWaitOf(hb_interval, hb_lost_threshold));
}

struct BladeConfig {
  uint32_t group_id = 0;     // group-id: the cluster's id on every frame
  uint8_t chassis = 1;
  uint8_t slot = 1;           // the worker slot (fabric/transport.h: WorkerSlots)
  uint8_t workers = 1;        // blade-workers: the workers of this blade
  uint32_t epoch = 1;
  std::vector<uint8_t> peers;       // the other chassis: mirrors of ours, owners of what we mirror
  PickupOptions pickup;
  SessionTimers timers;

  Nanos hb_interval = milliseconds(200);   // hb-interval 2 (x100 ms)
  int hb_lost_threshold = 6;               // hb-lost-threshold
  int blade_hb_lost_threshold = 5;         // blade-hb-lost-threshold: a silent blade is dead after this x hb-interval

  // Fabric limits (bounded memory).
  size_t change_log_capacity = 1u << 20;     // change-log entries kept until acked (power of 2)
  uint32_t max_batch = 2048;          // deltas per frame
  size_t max_frame_bytes = 256 * 1024;
  uint32_t window = 1u << 16;         // unacknowledged deltas per stream
  uint32_t max_sessions = 4u << 20;   // per store; a mirror refuses ids beyond it
  // session-table-reserve: every table (owned, and each peer's standby) is
  // sized for this many sessions at start, so growing it (new record chunks
  // faulted in, the key index rehashed: ms to tens of ms at a million) never
  // stalls sync.
  uint32_t table_reserve = 0;
  Nanos ack_delay = milliseconds(2);
  uint32_t ack_every = 8;             // frames
  Nanos retransmit_timeout = milliseconds(200);
  Nanos query_timeout = milliseconds(500);
  int query_retries = 3;
  uint32_t max_pending_queries = 1u << 16;  // per owner; beyond it the oldest are given up
  // Frames that arrive ahead of a gap wait here (per owner) instead of
  // being dropped and resent; beyond either limit they are dropped.
  uint32_t reorder_frames = 512;
  size_t reorder_bytes = 32u << 20;
  Nanos sweep_interval = milliseconds(100);
  // A bulk sync that does not finish within bulk_sync_timeout is asked for
  // again, bulk_sync_retries times; then the blade stops waiting (ready,
  // with a warning and a counter), like down-intfs-before-sess-sync's timeout.
  Nanos bulk_sync_timeout = seconds(30);
  int bulk_sync_retries = 3;

  // Observe the sync-lag histograms (the metrics' only hot-path work).
  bool metrics = true;

  Nanos link_lost_after() const { return hb_interval * hb_lost_threshold; }
  Nanos orphan_takeover_window() const { return OrphanTakeoverWindowOf(hb_interval, hb_lost_threshold); }
  // Three statuses in a row may be missed before the manager declares the
  // blade dead (the fourth arrives with an hb-interval to spare); at least
  // one per hb-interval.
  Nanos status_interval() const {
    return std::max(hb_interval, (hb_interval * blade_hb_lost_threshold - hb_interval) / 3);
  }
};

}  // namespace bladesync
