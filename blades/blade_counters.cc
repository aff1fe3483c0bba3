#include "blades/blade_counters.h"

#include <map>

namespace bladesync {

const char* SyncOpName(SyncOp op) {
  switch (op) {
    case SyncOp::kCreate: return "create";
    case SyncOp::kUpdate: return "update";
    case SyncOp::kDelete: return "delete";
    case SyncOp::kQuery: return "query";
    case SyncOp::kRecreate: return "recreate";
    case SyncOp::kSnapshot: return "snapshot";
    case SyncOp::kCount: break;
  }
  return "?";
}

const char* DropReasonName(DropReason r) {
  switch (r) {
    case DropReason::kMalformed: return "malformed";
    case DropReason::kWrongCluster: return "wrong_cluster";
    case DropReason::kWrongSlot: return "wrong_slot";
    case DropReason::kWrongChassis: return "wrong_chassis";
    case DropReason::kUnauthenticated: return "unauthenticated";
    case DropReason::kOldEpoch: return "old_epoch";
    case DropReason::kDuplicate: return "duplicate";
    case DropReason::kGap: return "gap";
    case DropReason::kNotSynced: return "not_synced";
    case DropReason::kStale: return "stale";
    case DropReason::kStaleRecreate: return "stale_recreate";
    case DropReason::kUnknownSession: return "unknown_session";
    case DropReason::kBadExtension: return "bad_extension";
    case DropReason::kWrongLink: return "wrong_link";
    case DropReason::kWrongSender: return "wrong_sender";
    case DropReason::kImplausible: return "implausible";
    case DropReason::kUnconfirmedEpoch: return "unconfirmed_epoch";
    case DropReason::kCount: break;
  }
  return "?";
}

std::vector<std::pair<std::string, uint64_t>> CounterList(const BladeCounters& c) {
  std::vector<std::pair<std::string, uint64_t>> out;
  static const char* kLinks[] = {"m1", "m2"};
  for (int op = 0; op < kOps; ++op) {
    for (int l = 0; l < kFabricLinks; ++l) {
      out.emplace_back(std::string("sent.") + SyncOpName(static_cast<SyncOp>(op)) + "." + kLinks[l], c.sent[op][l].get());
    }
  }
  for (int op = 0; op < kOps; ++op) {
    for (int l = 0; l < kFabricLinks; ++l) {
      out.emplace_back(std::string("received.") + SyncOpName(static_cast<SyncOp>(op)) + "." + kLinks[l],
                       c.received[op][l].get());
    }
  }
  for (int op = 0; op < kOps; ++op) {
    out.emplace_back(std::string("applied.") + SyncOpName(static_cast<SyncOp>(op)), c.applied[op].get());
  }
  for (int r = 0; r < kDropReasons; ++r) {
    out.emplace_back(std::string("dropped.") + DropReasonName(static_cast<DropReason>(r)), c.dropped[r].get());
  }
  for (int r = 1; r < kSkipReasons; ++r) {
    out.emplace_back(std::string("skipped.") + SkipReasonName(static_cast<SkipReason>(r)), c.skipped[r].get());
  }
  auto add = [&](const char* n, const Counter& v) { out.emplace_back(n, v.get()); };
  add("synced_sessions", c.synced_sessions_total);
  add("frames_sent", c.frames_sent);
  add("frames_resent", c.frames_resent);
  add("bytes_sent", c.bytes_sent);
  add("frames_received", c.frames_received);
  add("bytes_received", c.bytes_received);
  add("keepalives_sent", c.keepalives_sent);
  add("nacks_sent", c.nacks_sent);
  add("nacks_received", c.nacks_received);
  add("frames_reordered", c.frames_reordered);
  add("acks_sent", c.acks_sent);
  add("acks_received", c.acks_received);
  add("bulk_syncs_started", c.bulk_syncs_started);
  add("bulk_syncs_received", c.bulk_syncs_received);
  add("resync_overflow", c.resync_overflow);
  add("resyncs_in_doubt", c.resyncs_in_doubt);
  add("sync_requests_deferred", c.sync_requests_deferred);
  add("bulk_sync_timeouts", c.bulk_sync_timeouts);
  add("bulk_sync_abandoned", c.bulk_sync_abandoned);
  add("send_queue_full", c.send_queue_full);
  add("link_switches", c.link_switches);
  add("queries_unanswered", c.queries_unanswered);
  add("packets", c.packets);
  add("packets_dropped", c.packets_dropped);
  add("packets_asymmetric_local", c.packets_asymmetric_local);
  add("packets_forwarded", c.packets_forwarded);
  add("adopted_sessions", c.adopted_sessions);
  add("relinquished_sessions", c.relinquished_sessions);
  add("queries_dropped", c.queries_dropped);
  add("sessions_refused", c.sessions_refused);
  add("gtp_no_tunnel", c.gtp_no_tunnel);
  add("gtp_wrong_direction", c.gtp_wrong_direction);
  add("orphaned_sessions", c.orphaned_sessions);
  add("orphaned_sessions_dropped", c.orphaned_sessions_dropped);
  add("standby_expired", c.standby_expired);
  return out;
}

const char* CounterHelp(const std::string& name) {
  static const std::map<std::string, const char*> kHelp = {
      {"synced_sessions", "Sessions that became synced (eligible for pickup), as owner or by adoption."},
      {"frames_sent", "Sync frames sent to mirrors, first transmissions."},
      {"frames_resent", "Sync frames sent again after a NACK or a missing ack."},
      {"bytes_sent", "Bytes of sync frames sent."},
      {"frames_received", "Sync frames received from owners and mirrors."},
      {"bytes_received", "Bytes of sync frames received."},
      {"keepalives_sent", "Keepalives sent on an idle stream so the mirror knows it is current."},
      {"nacks_sent", "Gaps this mirror asked the owner to resend."},
      {"nacks_received", "Resend requests this owner received from mirrors."},
      {"frames_reordered", "Frames that arrived ahead of a gap and waited in the reorder buffer."},
      {"acks_sent", "Acknowledgements this mirror sent."},
      {"acks_received", "Acknowledgements this owner received."},
      {"bulk_syncs_started", "Snapshots (bulk syncs) this blade sent as owner."},
      {"bulk_syncs_received", "Snapshots this blade completed as mirror."},
      {"resync_overflow", "Bulk resyncs forced by a limit (resend queue, reorder buffer)."},
      {"resyncs_in_doubt", "Streams whose numbers contradicted each other, resynced from a snapshot."},
      {"sync_requests_deferred", "Snapshot requests that waited for the rate limit."},
      {"bulk_sync_timeouts", "Snapshots that took longer than bulk-sync-timeout and were asked again."},
      {"bulk_sync_abandoned", "Snapshots given up after bulk-sync-retries (ready with an incomplete table)."},
      {"send_queue_full", "Frames the transport refused (send queue full)."},
      {"link_switches", "Times a stream moved between M1 and M2."},
      {"queries_unanswered", "Queries about expired standby sessions the owner never answered."},
      {"packets", "Packets this blade processed."},
      {"packets_dropped", "Packets dropped: no session for a non-SYN TCP packet, table full, GTP-U without tunnel."},
      {"packets_asymmetric_local", "Active-active: packets of a peer's session handled with the synced copy."},
      {"packets_forwarded", "Active-active: packets sent to the blade that owns their session."},
      {"adopted_sessions", "Sessions taken over from a lost or stepping-down chassis."},
      {"relinquished_sessions", "Sessions handed to the new primary when this chassis stepped down."},
      {"queries_dropped", "Queries given up because more than max-pending-queries were waiting."},
      {"sessions_refused", "Sessions not created because max-sessions was reached."},
      {"gtp_no_tunnel", "GTP-U packets without a GTP-C tunnel."},
      {"gtp_wrong_direction", "GTP-U packets against their tunnel's policy direction."},
      {"orphaned_sessions", "Sessions kept from an owner that restarted before its loss was declared."},
      {"orphaned_sessions_dropped", "Orphaned sessions not taken over here and dropped."},
      {"standby_expired", "Mirrored sessions whose timers ran out on this mirror (each asks the owner with a query)."},
  };
  auto it = kHelp.find(name);
  return it == kHelp.end() ? nullptr : it->second;
}

std::vector<uint64_t> CounterValues(const BladeCounters& c) {
  std::vector<uint64_t> v;
  for (auto& [n, x] : CounterList(c)) v.push_back(x);
  return v;
}

}  // namespace bladesync
