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
    case DropReason::kCount: break;
  }
  return "?";
}

}  // namespace bladesync
