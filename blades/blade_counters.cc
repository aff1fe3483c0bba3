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
#define BLADESYNC_COUNTER_VALUE(name, help) out.emplace_back(#name, c.name.get());
  BLADESYNC_BLADE_COUNTERS(BLADESYNC_COUNTER_VALUE)
  BLADESYNC_STREAM_COUNTERS(BLADESYNC_COUNTER_VALUE)
#undef BLADESYNC_COUNTER_VALUE
  return out;
}

const std::vector<std::string>& CounterNames() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> n;
    for (auto& [name, v] : CounterList(BladeCounters{})) n.push_back(name);
    return n;
  }();
  return kNames;
}

const CounterFamily kCounterFamilies[5] = {
    {"sent", "bladesync_deltas_sent_total", "Deltas sent by op and link (queries go mirror to owner).", "op", "link"},
    {"received", "bladesync_deltas_received_total", "Deltas received by op and link.", "op", "link"},
    {"applied", "bladesync_deltas_applied_total", "Deltas applied to standby tables, by op.", "op", nullptr},
    {"dropped", "bladesync_dropped_total", "Frames or deltas dropped, by reason.", "reason", nullptr},
    {"skipped", "bladesync_sessions_skipped_total", "Sessions not synced, by pickup-policy reason.", "reason", nullptr},
};

const char* CounterHelp(const std::string& name) {
  static const std::map<std::string, const char*> kHelp = {
#define BLADESYNC_COUNTER_HELP(name, help) {#name, help},
      BLADESYNC_BLADE_COUNTERS(BLADESYNC_COUNTER_HELP) BLADESYNC_STREAM_COUNTERS(BLADESYNC_COUNTER_HELP)
#undef BLADESYNC_COUNTER_HELP
  };
  auto it = kHelp.find(name);
  return it == kHelp.end() ? nullptr : it->second;
}

}  // namespace bladesync
