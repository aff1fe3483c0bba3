#include "blades/blade_counters.h"

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
  return out;
}

std::vector<uint64_t> CounterValues(const BladeCounters& c) {
  std::vector<uint64_t> v;
  for (auto& [n, x] : CounterList(c)) v.push_back(x);
  return v;
}

}  // namespace bladesync
