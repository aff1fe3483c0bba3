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
    case SyncOp::kBulkSync: return "bulk_sync";
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
    case DropReason::kIncompatibleSchema: return "incompatible_schema";
    case DropReason::kCount: break;
  }
  return "?";
}

namespace {
// Every counter in the one declared order, as fn(prefix, a, b, counter):
// its name is "prefix.a.b", "prefix.a" (b null) or "a" (prefix null).
template <typename F>
void Walk(const BladeCounters& c, F&& fn) {
  static const char* kLinks[] = {"m1", "m2"};
  for (int op = 0; op < kOps; ++op) {
    for (int l = 0; l < kFabricLinks; ++l) fn("sent", SyncOpName(static_cast<SyncOp>(op)), kLinks[l], c.sent[op][l]);
  }
  for (int op = 0; op < kOps; ++op) {
    for (int l = 0; l < kFabricLinks; ++l) {
      fn("received", SyncOpName(static_cast<SyncOp>(op)), kLinks[l], c.received[op][l]);
    }
  }
  for (int op = 0; op < kOps; ++op) fn("applied", SyncOpName(static_cast<SyncOp>(op)), nullptr, c.applied[op]);
  for (int r = 0; r < kDropReasons; ++r) fn("dropped", DropReasonName(static_cast<DropReason>(r)), nullptr, c.dropped[r]);
  for (int r = 1; r < kSkipReasons; ++r) fn("skipped", SkipReasonName(static_cast<SkipReason>(r)), nullptr, c.skipped[r]);
#define BLADESYNC_COUNTER_VISIT(name, help) fn(nullptr, #name, nullptr, c.name);
  BLADESYNC_BLADE_COUNTERS(BLADESYNC_COUNTER_VISIT)
  BLADESYNC_STREAM_COUNTERS(BLADESYNC_COUNTER_VISIT)
#undef BLADESYNC_COUNTER_VISIT
}
}  // namespace

const std::vector<std::string>& CounterNames() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> n;
    Walk(BladeCounters{}, [&](const char* prefix, const char* a, const char* b, const Counter&) {
      std::string name = prefix ? std::string(prefix) + "." + a : std::string(a);
      if (b) name += std::string(".") + b;
      n.push_back(std::move(name));
    });
    return n;
  }();
  return kNames;
}

std::vector<uint64_t> CounterValues(const BladeCounters& c) {
  std::vector<uint64_t> v;
  v.reserve(CounterNames().size());
  Walk(c, [&](const char*, const char*, const char*, const Counter& x) { v.push_back(x.get()); });
  return v;
}

std::vector<std::pair<std::string, uint64_t>> CounterList(const BladeCounters& c) {
  const std::vector<std::string>& names = CounterNames();
  const std::vector<uint64_t> values = CounterValues(c);
  std::vector<std::pair<std::string, uint64_t>> out;
  out.reserve(names.size());
  for (size_t i = 0; i < names.size(); ++i) out.emplace_back(names[i], values[i]);
  return out;
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
