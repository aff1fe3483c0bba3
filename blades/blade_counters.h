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
enum class SyncOp : uint8_t { kCreate = 0, kUpdate, kDelete, kQuery, kRecreate, kBulkSync, kCount };
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
  kNotSynced,         // live deltas before the bulk sync began
  kStale,             // version at or below what the mirror holds
  kStaleRecreate,     // RECREATE at or below a DELETE the mirror saw
  kUnknownSession,    // update for a session the mirror does not have
  kBadExtension,      // extension of an unknown type, version or size (the session still applies)
  kWrongLink,         // a kind of frame that cannot come on the link it came on
  kWrongSender,       // from a node that may not send this kind of frame
  kImplausible,       // numbers that cannot be true (sequence range, request id, ack beyond what was sent)
  kUnconfirmedEpoch,  // another incarnation while the one we follow is still talking
  kIncompatibleSchema,  // deltas or acks of another wire schema major version (a release that cannot sync with ours)
  kCount,
};
const char* DropReasonName(DropReason r);

inline constexpr int kOps = static_cast<int>(SyncOp::kCount);
inline constexpr int kDropReasons = static_cast<int>(DropReason::kCount);
inline constexpr int kSkipReasons = static_cast<int>(SkipReason::kCount);

// The blade's own counters beside the stream's (fabric/stream.h), each
// declared once: X(field, help). The field's name is its name in status,
// on the CLI and in BladeStatus frames (values travel by name), and its
// Prometheus family is bladesync_<name>_total with this help.
#define BLADESYNC_BLADE_COUNTERS(X)                                                                                 \
  X(synced_sessions, "Sessions that became synced (eligible for pickup), as owner or by adoption.")                 \
  X(frames_received, "Sync frames received from owners and mirrors.")                                               \
  X(bytes_received, "Bytes of sync frames received.")                                                               \
  X(bulk_syncs_started, "Bulk syncs this blade sent as owner.")                                         \
  X(bulk_syncs_received, "Bulk syncs this blade completed as mirror.")                                               \
  X(bulk_syncs_forced, "Bulk syncs forced by a limit (change log, reorder buffer).")                              \
  X(queries_unanswered, "Queries about expired standby sessions the owner never answered.")                         \
  X(packets, "Packets this blade processed.")                                                                       \
  X(packets_dropped, "Packets dropped: no session for a non-SYN TCP packet, table full, GTP-U without tunnel.")      \
  X(packets_asymmetric_local, "Active-active: packets of a peer's session handled with the synced copy.")           \
  X(packets_forwarded, "Active-active: packets sent to the blade that owns their session.")                          \
  X(packets_returned, "Packets without a session here handed back to the manager for the next slot of their flow.")  \
  X(packets_deferred, "First packets of new sessions held until every live mirror acknowledged the create (session-pickup-defer).") \
  X(deferred_acked, "Deferred first packets released once every live mirror acknowledged the create.")              \
  X(deferred_timed_out, "Deferred first packets released at session-pickup-defer-timeout, unacknowledged.")          \
  X(deferred_unsynced, "Deferred first packets released at once: the session is not synced (pickup policy, delay).")  \
  X(deferred_full, "First packets not deferred: as many as the blade holds were already waiting.")                  \
  X(adopted_sessions, "Sessions taken over from a lost or stepping-down chassis.")                                  \
  X(relinquished_sessions, "Sessions handed to the new primary when this chassis stepped down.")                    \
  X(queries_dropped, "Queries given up because more than max-pending-queries were waiting.")                        \
  X(sessions_refused, "Sessions not created because max-sessions was reached.")                                     \
  X(gtp_no_tunnel, "GTP-U packets without a GTP-C tunnel.")                                                         \
  X(gtp_wrong_direction, "GTP-U packets against their tunnel's policy direction.")                                  \
  X(orphaned_sessions, "Sessions kept from an owner that restarted before its loss was declared.")                  \
  X(orphaned_sessions_dropped, "Orphaned sessions not taken over here and dropped.")                                \
  X(standby_expired, "Mirrored sessions whose timers ran out on this mirror (each asks the owner with a query).")   \
  X(extensions_newer, "Extensions of a newer version than this release reads, carried as they are (a rolling upgrade).")

struct BladeCounters : StreamCounters {
  // Counted by op, link or reason: name "<family>.<label>[.<link>]", see
  // kCounterFamilies.
  std::array<std::array<Counter, kFabricLinksCount>, kOps> sent;      // sent.create.m1
  std::array<std::array<Counter, kFabricLinksCount>, kOps> received;  // received.update.m2
  std::array<Counter, kOps> applied;                                  // applied.delete
  std::array<Counter, kDropReasons> dropped;                          // dropped.gap
  std::array<Counter, kSkipReasons> skipped;                          // skipped.pickup_disabled
#define BLADESYNC_COUNTER_FIELD(name, help) Counter name;
  BLADESYNC_BLADE_COUNTERS(BLADESYNC_COUNTER_FIELD)
#undef BLADESYNC_COUNTER_FIELD
};

// Every counter as (name, value), names like "sent.create.m1",
// "dropped.gap" or "frames_sent", in a fixed order.
std::vector<std::pair<std::string, uint64_t>> CounterList(const BladeCounters& c);
// Every counter's name, in CounterList's order (built once).
const std::vector<std::string>& CounterNames();
// Every counter's value, in CounterNames' order (no names built).
std::vector<uint64_t> CounterValues(const BladeCounters& c);

// How a counter becomes a Prometheus sample: a name "<prefix>.<a>[.<b>]"
// goes to `family` with labels (label_a = a, label_b = b); a one-word name
// to bladesync_<name>_total with CounterHelp(name).
struct CounterFamily {
  const char* prefix;
  const char* family;
  const char* help;
  const char* label_a;
  const char* label_b;  // nullptr: one label
};
extern const CounterFamily kCounterFamilies[5];
// What a one-word counter counts (its HELP); nullptr for a name it does not know.
const char* CounterHelp(const std::string& name);

}  // namespace bladesync
