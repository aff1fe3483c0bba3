// What session-pickup-defer adds to a new session's first packet: the time
// from the session's create on the owner blade to the release of its first
// packet (every live mirror acknowledged the create), at fixed rates of new
// sessions. Owner and mirror blades on their own threads over real ZeroMQ
// TCP on 127.0.0.1 in one process, so both read one clock; defer-timeout is
// 1000 ms here so no release is the bound's. The anchor, in the same run:
// raw ZeroMQ round trips (PUSH/PULL there and back) of the frames' size.
//
//   bazel run -c opt //bench:defer_delay_bench -- [seconds per run] [runs]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bench/raw_zmq.h"
#include "bench/zmq_pair.h"
#include "core/log.h"

namespace bladesync {
namespace {

using Clock = std::chrono::steady_clock;

struct Held {
  double p50_ms, p99_ms;
  uint64_t timed_out;
};

// Creates sessions at `per_second` on the owner's loop, each deferred; the
// hold is from its create to its release.
Held RunAtRate(double per_second, double seconds_per_run) {
  const uint32_t total = static_cast<uint32_t>(per_second * seconds_per_run);
  ZmqBladePair p(total, [](BladeConfig& c) {
    c.pickup.mode = HaMode::kActiveActive;
    c.pickup.defer = true;
  });
  std::vector<int64_t> held(total, -1);
  uint32_t done = 0;
  const Clock::time_point t0 = Clock::now();
  std::unique_ptr<Timer> timer;
  std::function<void()> step = [&] {
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    const uint32_t due = std::min<uint32_t>(total, static_cast<uint32_t>(elapsed * per_second) + 1);
    for (; done < due; ++done) {
      const uint32_t i = done;
      const Clock::time_point created = Clock::now();
      const uint32_t id = p.owner().CreateSession(BenchSession(i), SessionState{kTcpSynSent, 0, 3600});
      p.owner().DeferUntilSynced(id, std::chrono::seconds(1), [&held, i, created](bool) {
        held[i] = (Clock::now() - created).count();
      });
    }
    if (done < total) timer->Arm(std::chrono::microseconds(100));
  };
  p.OnOwner([&] {
    timer = p.owner_loop().CreateTimer([&] { step(); });
    step();
  });
  const auto deadline = t0 + std::chrono::duration<double>(seconds_per_run * 10 + 10);
  auto released = [&] { return p.OnOwner([&] { return std::count_if(held.begin(), held.end(), [](int64_t h) { return h >= 0; }); }); };
  while (released() < total && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const uint64_t timed_out = p.OnOwner([&] {
    timer.reset();
    return p.owner().counters().deferred_timed_out.get();
  });
  if (released() < total) {
    std::fprintf(stderr, "%ld of %u first packets released\n", static_cast<long>(released()), total);
    std::exit(1);
  }
  std::sort(held.begin(), held.end());
  auto at = [&](double q) { return held[std::min<size_t>(held.size() - 1, static_cast<size_t>(q * held.size()))] / 1e6; };
  return {at(0.50), at(0.99), timed_out};
}

}  // namespace
}  // namespace bladesync

int main(int argc, char** argv) {
  using namespace bladesync;
  SetLogLevel(LogLevel::kError);
  const double seconds_per_run = argc > 1 ? std::atof(argv[1]) : 2.0;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  for (double rate : {1e3, 10e3, 100e3}) {
    std::vector<double> p50, p99, raw50, raw99;
    uint64_t timed_out = 0;
    for (int r = 0; r < runs; ++r) {
      const Held h = RunAtRate(rate, seconds_per_run);
      p50.push_back(h.p50_ms);
      p99.push_back(h.p99_ms);
      timed_out += h.timed_out;
      // A round trip of raw ZeroMQ: one-way latencies of create-sized frames, twice.
      std::vector<int64_t> one_way = RawZmqPacedLatencies(static_cast<uint64_t>(rate * seconds_per_run), 64, rate);
      std::sort(one_way.begin(), one_way.end());
      raw50.push_back(2 * one_way[one_way.size() / 2] / 1e6);
      raw99.push_back(2 * one_way[std::min(one_way.size() - 1, one_way.size() * 99 / 100)] / 1e6);
    }
    auto show = [](const char* what, const std::vector<double>& v) {
      const Spread s = SpreadOf(v);
      std::printf("  %s %.3f ms (min %.3f, max %.3f)", what, s.median, s.min, s.max);
    };
    std::printf("%.0fk new sessions/s, %.0f s x %d runs, first packet held:", rate / 1e3, seconds_per_run, runs);
    show("p50", p50);
    show("p99", p99);
    std::printf("  (released at the bound: %llu)\n raw ZeroMQ round trip, create-sized", static_cast<unsigned long long>(timed_out));
    show("p50", raw50);
    show("p99", raw99);
    std::printf("\n");
  }
  return 0;
}
