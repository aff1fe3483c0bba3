// BladeCounters: every outcome of a blade's sync work, counted.
//
// Plain single-writer counters, read by the CLI, the status reports and the
// Prometheus collector. Indexed by op, link, skip reason and drop reason so
// `diagnose sys session sync` can show create/update/delete/query/recreate
// per link.
#pragma once

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "blades/pickup_policy.h"
#include "core/counter.h"
#include "fabric/stream.h"
#include "fabric/transport.h"

namespace bladesync {

// Ops as counted (query travels mirror -> owner; the rest owner -> mirror).
enum class SyncOp : uint8_t { kCreate = 0, kUpdate, kDelete, kQuery, kRecreate, kSnapshot, kCount };
const char* SyncOpName(SyncOp op);

enum class DropReason : uint8_t {
  kMalformed = 0,     // failed size limit or verifier
  kWrongCluster,
  kWrongSlot,
  kWrongChassis,      // not meant for this chassis, or from an unknown one
  kUnauthenticated,   // claims a chassis its CURVE key does not prove
  kOldEpoch,          // from an epoch before the one we follow (replay)
  kDuplicate,         // a sequence number already applied
  kGap,               // ahead of the next expected sequence number
  kNotSynced,         // live deltas before the snapshot began
  kStale,             // version at or below what the mirror holds
  kStaleRecreate,     // RECREATE at or below a DELETE the mirror saw
  kUnknownSession,    // update for a session the mirror does not have
  kBadExtension,      // extension of an unknown type, version or size (the session still applies)
  kWrongLink,         // a kind of frame that cannot come on the link it came on
  kWrongSender,       // from a node that may not send this kind of frame
  kImplausible,       // numbers that cannot be true (sequence range, request id, ack beyond what was sent)
  kUnconfirmedEpoch,  // another incarnation while the one we follow is still talking
  kCount,
};
const char* DropReasonName(DropReason r);

inline constexpr int kOps = static_cast<int>(SyncOp::kCount);
inline constexpr int kDropReasons = static_cast<int>(DropReason::kCount);
inline constexpr int kSkipReasons = static_cast<int>(SkipReason::kCount);

// The stream's own counters (fabric/stream.h) are part of the blade's.
struct BladeCounters : StreamCounters {
  // [op][link] for M1 and M2.
  std::array<std::array<Counter, kFabricLinksCount>, kOps> sent;
  std::array<std::array<Counter, kFabricLinksCount>, kOps> received;
  std::array<Counter, kOps> applied;
  std::array<Counter, kDropReasons> dropped;
  std::array<Counter, kSkipReasons> skipped;   // sessions not synced, by reason
  Counter synced_sessions_total;               // sessions that became synced
  Counter frames_received, bytes_received;
  Counter bulk_syncs_started;    // snapshots this blade sent as owner
  Counter bulk_syncs_received;   // snapshots this blade completed as mirror
  Counter resync_overflow;       // a limit forced a bulk resync
  Counter queries_unanswered;    // gave up after the retries
  Counter packets, packets_dropped;
  Counter packets_asymmetric_local;   // active-active: handled with the synced copy
  Counter packets_forwarded;          // active-active: sent to the owning blade
  Counter adopted_sessions;
  Counter relinquished_sessions;
  Counter queries_dropped;      // more pending than max_pending_queries
  Counter sessions_refused;     // max-sessions reached on the owner
  Counter gtp_no_tunnel;        // GTP-U packet without a GTP-C tunnel
  Counter gtp_wrong_direction;  // GTP-U packet against the tunnel's policy direction
  Counter orphaned_sessions;          // kept from an owner that restarted before its loss was declared
  Counter orphaned_sessions_dropped;  // of those, not taken over here and dropped
  Counter standby_expired;            // mirrored sessions whose timers ran out here (each queries the owner)
};

// Every counter as (name, value), names like "sent.create.m1" or
// "dropped.gap"; the order is fixed, so a list of values travels alone.
std::vector<std::pair<std::string, uint64_t>> CounterList(const BladeCounters& c);
std::vector<uint64_t> CounterValues(const BladeCounters& c);
// What a one-word counter of CounterList ("frames_resent") counts, for
// /metrics' HELP; nullptr for a name it does not know.
const char* CounterHelp(const std::string& name);

}  // namespace bladesync
