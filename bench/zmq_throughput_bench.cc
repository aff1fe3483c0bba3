// Sync throughput of one blade pair over real ZeroMQ TCP on loopback, and the
// raw ZeroMQ ceiling for the same bytes and message sizes, in the same run.
//
//   bazel run -c opt //bench:zmq_throughput_bench -- [sessions] [runs] [limit]
//
// (`limit` runs the single-core limit loops alone, e.g. for a profile)
//
// bladesync: the owner creates N sessions (or a create/update/delete mix)
// in bursts of 1024, going back to its loop between them as bladesyncd does;
// the clock stops when the mirror has applied the last one. Each workload
// runs with tables grown on demand (the default) and with
// session-table-reserve set to N on both blades (a blade sized for its load:
// the steady state, without the one-off cost of doubling the tables). CPU seconds of
// the whole process (both blades, ZeroMQ's threads) per delta. Raw: PUSH/PULL
// of as many messages of the same size as the frames bladesync sent. Limit:
// the same deltas applied to one table in memory in one loop (no transport),
// the physical ceiling sync is reported as a share of.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <vector>

#include "bench/raw_zmq.h"
#include "bench/zmq_pair.h"
#include "core/log.h"
#include "core/page_supply.h"

namespace bladesync {
namespace {

struct PairResult {
  double seconds;
  double cpu_seconds;  // both blades and ZeroMQ's I/O threads
  uint64_t frames;
  uint64_t bytes;
};

// The data path works through a burst of packets as a packet path does
// (PacketPath::ProcessBatch): the index slot of the key a few packets ahead
// is loaded while this one's session is created.
constexpr uint32_t kPrefetchAhead = 8;

PairResult RunPair(uint32_t n, bool mix, bool reserve) {
  ZmqBladePair p(n, [&](BladeConfig& c) { c.table_reserve = reserve ? n : 0; });
  BladeAgent& a = p.owner();
  const uint64_t frames0 = p.OnOwner([&] { return a.counters().frames_sent.get(); });
  const uint64_t bytes0 = p.OnOwner([&] { return a.counters().bytes_sent.get(); });
  const double cpu0 = ProcessCpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  // The owner works in bursts as bladesyncd's does (RunInBursts).
  std::promise<void> done;
  RunInBursts(
      p.owner_loop(), a, 0, n,
      [&](uint32_t i) {
        if (i + kPrefetchAhead < n) a.owned().Prefetch(BenchSession(i + kPrefetchAhead).key);
        const uint32_t id = a.CreateSession(BenchSession(i), SessionState{kTcpSynSent, 0, 3600});
        if (mix && i % 3 == 1) a.ChangeState(id, SessionState{kTcpEstablished, 0, 3600});
        if (mix && i % 3 == 2) a.DeleteSession(id, kDeleteClosed);
      },
      [&] { done.set_value(); });
  done.get_future().wait();
  p.WaitMirror(mix ? n - n / 3 : n);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = ProcessCpuSeconds() - cpu0;
  return PairResult{s, cpu, p.OnOwner([&] { return a.counters().frames_sent.get(); }) - frames0,
                    p.OnOwner([&] { return a.counters().bytes_sent.get(); }) - bytes0};
}

// The single-core limit the issue measures sync against: the same deltas
// applied to the same kind of table (a mirror's SessionStore, grown or
// reserved alike) in one loop, with no transport, no encoding and no
// second table: the fastest a mirror could take them on one core.
double LimitSeconds(uint32_t n, bool mix, bool reserve) {
  SessionStore store(kLive);
  if (reserve) store.Reserve(n);
  const auto t0 = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < n; ++i) {
    if (i + kPrefetchAhead < n) store.Prefetch(BenchSession(i + kPrefetchAhead).key);
    const SessionKey key = BenchSession(i).key;
    store.EnsureSlot(i);
    store.Mutate(i, [&](SessionRecord& r) {
      r.key = key;
      r.version = 3 * uint64_t{i} + 1;
      r.set_state(SessionState{kTcpSynSent, 0, 3600});
      r.expires_ds = 36000;
      r.bits = kUsed | kLive;
    });
    if (mix && i % 3 == 1) {
      store.Mutate(i, [&](SessionRecord& r) {
        ++r.version;
        r.set_state(SessionState{kTcpEstablished, 0, 3600});
      });
    }
    if (mix && i % 3 == 2) {
      store.Mutate(i, [&](SessionRecord& r) {
        ++r.version;
        r.bits = kUsed | kOwnerDeleted;
      });
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (store.live() != (mix ? n - n / 3 : n)) std::abort();  // the loop did the work it claims
  return s;
}

}  // namespace
}  // namespace bladesync

int main(int argc, char** argv) {
  using namespace bladesync;
  SetLogLevel(LogLevel::kError);
  const uint32_t n = argc > 1 ? static_cast<uint32_t>(std::atoi(argv[1])) : 1'000'000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  if (argc > 3 && std::string(argv[3]) == "limit") {
    for (bool mix : {false, true}) {
      for (bool reserve : {false, true}) {
        std::vector<double> rate;
        for (int r = 0; r < runs; ++r) rate.push_back(n / LimitSeconds(n, mix, reserve));
        const Spread s = SpreadOf(rate);
        std::printf("%s, tables %s: single-core limit %.2f M/s (min %.2f, max %.2f); table memory faulted in ahead: "
                    "%llu taken ready, %llu not ready\n",
                    mix ? "create/update/delete mix" : "creates only", reserve ? "reserved" : "grown", s.median / 1e6,
                    s.min / 1e6, s.max / 1e6, static_cast<unsigned long long>(PageSupply::Get().taken()),
                    static_cast<unsigned long long>(PageSupply::Get().missed()));
      }
    }
    return 0;
  }
  for (bool mix : {false, true}) {
   for (bool reserve : {false, true}) {
    std::vector<double> sync_rate, raw_rate, ratio, cpu_us, limit_rate, share;
    double bytes_per_delta = 0;
    for (int r = 0; r < runs; ++r) {
      const PairResult p = RunPair(n, mix, reserve);
      const uint64_t frames = std::max<uint64_t>(p.frames, 1);
      const double raw_s = RawZmqSeconds(frames, p.bytes / frames);
      sync_rate.push_back(n / p.seconds);
      raw_rate.push_back(n / raw_s);  // the same bytes in the same number of messages
      ratio.push_back(raw_s / p.seconds);
      cpu_us.push_back(1e6 * p.cpu_seconds / n);
      limit_rate.push_back(n / LimitSeconds(n, mix, reserve));
      share.push_back(sync_rate.back() / limit_rate.back());
      bytes_per_delta = static_cast<double>(p.bytes) / n;
    }
    const Spread rate = SpreadOf(sync_rate), raw = SpreadOf(raw_rate), r = SpreadOf(ratio), cpu = SpreadOf(cpu_us);
    const Spread limit = SpreadOf(limit_rate), sh = SpreadOf(share);
    std::printf("%s, tables %s, %u deltas, %d runs: bladesync %.2f M deltas/s (min %.2f, max %.2f); raw ZeroMQ, same bytes "
                "%.2f M/s (min %.2f, max %.2f); bladesync/raw %.0f%% (min %.0f%%, max %.0f%%); %.1f wire bytes/delta; "
                "CPU %.3f us/delta both ends (min %.3f, max %.3f)\n",
                mix ? "create/update/delete mix" : "creates only", reserve ? "reserved" : "grown", n, runs, rate.median / 1e6, rate.min / 1e6,
                rate.max / 1e6, raw.median / 1e6, raw.min / 1e6, raw.max / 1e6, 100 * r.median, 100 * r.min,
                100 * r.max, bytes_per_delta, cpu.median, cpu.min, cpu.max);
    std::printf("%s, tables %s: single-core limit (the same deltas into one table in memory) %.2f M/s (min %.2f, "
                "max %.2f); bladesync/limit %.0f%% (min %.0f%%, max %.0f%%)\n",
                mix ? "create/update/delete mix" : "creates only", reserve ? "reserved" : "grown", limit.median / 1e6,
                limit.min / 1e6, limit.max / 1e6, 100 * sh.median, 100 * sh.min, 100 * sh.max);
   }
  }
  return 0;
}
