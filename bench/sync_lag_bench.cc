// Sync lag at fixed offered rates: the owner blade creates sessions at 10k,
// 100k and 1M deltas/s for a fixed time; each delta's lag runs from the time
// it was due (not when the owner got round to it, so a stalled owner counts)
// to when the mirror blade had applied the frame carrying it. Both blades run
// on their own threads over real ZeroMQ TCP on 127.0.0.1 in one process, so
// both ends read the same clock. The anchor, in the same run: raw ZeroMQ
// PUSH/PULL one-way latency for messages of the frames' size at the frames'
// rate. Each rate runs twice: tables grown on demand (the default) and
// sized at start with session-table-reserve (the number of sessions the run
// creates), so the cost of growing a table shows on its own.
//
//   bazel run -c opt //bench:sync_lag_bench -- [seconds per run] [runs] [rate/s] [grown|reserved]
//
// (a rate and a table kind run that row alone, e.g. for a profile)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/raw_zmq.h"
#include "bench/zmq_pair.h"
#include "core/log.h"

namespace bladesync {
namespace {

using Clock = std::chrono::steady_clock;

struct Percentiles {
  double p50_ms, p99_ms, p999_ms;
};

Percentiles PercentilesOf(std::vector<int64_t> ns) {
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) { return ns[std::min(ns.size() - 1, static_cast<size_t>(q * ns.size()))] / 1e6; };
  return {at(0.50), at(0.99), at(0.999)};
}

struct LagRun {
  Percentiles bladesync, raw;
};

// Creates sessions on the owner's loop as they fall due, every 100 us.
class Pacer {
 public:
  Pacer(ZmqBladePair& p, double per_second, uint32_t total) : p_(p), rate_(per_second), total_(total) {
    timer_ = p_.owner_loop().CreateTimer([this] { Step(); });
  }
  void Start(Clock::time_point t0) {
    t0_ = t0;
    Step();
  }
  void Stop() { timer_.reset(); }

 private:
  void Step() {
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0_).count();
    const uint32_t due = std::min<uint32_t>(total_, static_cast<uint32_t>(elapsed * rate_) + 1);
    for (; done_ < due; ++done_) p_.owner().CreateSession(BenchSession(done_), SessionState{kTcpSynSent, 0, 3600});
    if (done_ < total_) timer_->Arm(std::chrono::microseconds(100));
  }
  ZmqBladePair& p_;
  double rate_;
  uint32_t total_;
  uint32_t done_ = 0;
  Clock::time_point t0_;
  std::unique_ptr<Timer> timer_;
};

LagRun RunAtRate(double per_second, double seconds_per_run, bool reserve) {
  const uint32_t total = static_cast<uint32_t>(per_second * seconds_per_run);
  ZmqBladePair p(total, [&](BladeConfig& c) { c.table_reserve = reserve ? total : 0; });
  std::vector<int64_t> applied_at(total, -1);  // steady ns, written on the mirror's thread
  uint64_t base_seq = 0;
  p.OnMirror([&] {
    p.mirror().set_apply_observer([&](uint8_t, uint64_t first, uint32_t count, bool begin) {
      if (begin) return;
      if (base_seq == 0) base_seq = first;  // the first live frame carries session 0
      const int64_t now = Clock::now().time_since_epoch().count();
      for (uint64_t s = first; s < first + count; ++s) {
        if (s >= base_seq && s - base_seq < total) applied_at[s - base_seq] = now;
      }
    });
  });
  const uint64_t frames0 = p.OnOwner([&] { return p.owner().counters().frames_sent.get(); });
  const uint64_t bytes0 = p.OnOwner([&] { return p.owner().counters().bytes_sent.get(); });
  Pacer pacer(p, per_second, total);
  const Clock::time_point t0 = Clock::now();
  p.OnOwner([&] { pacer.Start(t0); });
  const auto deadline = t0 + std::chrono::duration<double>(seconds_per_run * 10 + 10);
  while (p.MirrorLive() < total && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  p.OnOwner([&] { pacer.Stop(); });
  p.OnMirror([&] { p.mirror().set_apply_observer(nullptr); });
  if (p.MirrorLive() < total) {
    std::fprintf(stderr, "mirror holds %zu of %u sessions after %.1f s\n", p.MirrorLive(), total, took);
    std::exit(1);
  }
  std::vector<int64_t> lag(total);
  const int64_t start = t0.time_since_epoch().count();
  for (uint32_t i = 0; i < total; ++i) {
    if (applied_at[i] < 0) {
      std::fprintf(stderr, "delta %u never seen applied\n", i);
      std::exit(1);
    }
    lag[i] = std::max<int64_t>(0, applied_at[i] - (start + static_cast<int64_t>(1e9 * i / per_second)));
  }
  const uint64_t frames = std::max<uint64_t>(1, p.OnOwner([&] { return p.owner().counters().frames_sent.get(); }) - frames0);
  const uint64_t bytes = p.OnOwner([&] { return p.owner().counters().bytes_sent.get(); }) - bytes0;
  LagRun r;
  r.bladesync = PercentilesOf(std::move(lag));
  r.raw = PercentilesOf(RawZmqPacedLatencies(frames, bytes / frames, frames / seconds_per_run));
  return r;
}

}  // namespace
}  // namespace bladesync

int main(int argc, char** argv) {
  using namespace bladesync;
  SetLogLevel(LogLevel::kError);
  const double seconds_per_run = argc > 1 ? std::atof(argv[1]) : 2.0;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  const double only_rate = argc > 3 ? std::atof(argv[3]) : 0;
  const std::string only_tables = argc > 4 ? argv[4] : "";
  for (double rate : {10e3, 100e3, 1e6}) {
   if (only_rate > 0 && rate != only_rate) continue;
   for (bool reserve : {false, true}) {
    if (!only_tables.empty() && only_tables != (reserve ? "reserved" : "grown")) continue;
    std::vector<double> p50, p99, p999, raw50, raw99, raw999;
    for (int r = 0; r < runs; ++r) {
      const LagRun run = RunAtRate(rate, seconds_per_run, reserve);
      p50.push_back(run.bladesync.p50_ms);
      p99.push_back(run.bladesync.p99_ms);
      p999.push_back(run.bladesync.p999_ms);
      raw50.push_back(run.raw.p50_ms);
      raw99.push_back(run.raw.p99_ms);
      raw999.push_back(run.raw.p999_ms);
    }
    auto show = [](const char* what, const std::vector<double>& v) {
      const Spread s = SpreadOf(v);
      std::printf("  %s %.3f ms (min %.3f, max %.3f)", what, s.median, s.min, s.max);
    };
    std::printf("%.0fk deltas/s, %.0f s x %d runs, %s:\n bladesync", rate / 1e3, seconds_per_run, runs,
                reserve ? "session-table-reserve = sessions created" : "tables grown on demand");
    show("p50", p50);
    show("p99", p99);
    show("p999", p999);
    std::printf("\n raw ZeroMQ, same frames");
    show("p50", raw50);
    show("p99", raw99);
    show("p999", raw999);
    std::printf("\n");
   }
  }
  return 0;
}
