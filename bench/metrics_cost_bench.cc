// The cost of metrics on sync throughput: one blade pair in one process
// (simulated network, no ZeroMQ), 1M creates synced end to end, with the
// sync-lag histograms off and on, alternating, 5 runs each. The counters
// are part of the sync machinery and always on.
//
//   bazel run -c opt //bench:metrics_cost_bench
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "core/log.h"
#include "tests/support/sim_cluster.h"

namespace {
double RunOnce(bool metrics, uint32_t n) {
  using namespace bladesync;
  using namespace bladesync::testing;
  SimBlades c(2, 1, 7, [&](BladeConfig& b) {
    b.metrics = metrics;
    b.max_sessions = n * 2;
    b.change_log_capacity = n * 2;
    b.window = 1u << 20;
  });
  c.net().faults().jitter = Nanos(0);
  BladeAgent& owner = c.blade(1, 1);
  const auto t0 = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < n; ++i) {
    SessionFacts f;
    f.key = SessionKey::V4(0x0a000000 + i, 0xc6336401, static_cast<uint16_t>(1024 + i % 60000), 443, kProtoTcp);
    owner.CreateSession(f, SessionState{kTcpEstablished, 0, 3600});
  }
  while (c.blade(2, 1).standby(1)->store().live() < n) c.RunFor(milliseconds(1));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return n / s;
}
}  // namespace

int main() {
  bladesync::SetLogLevel(bladesync::LogLevel::kError);
  const uint32_t n = 1'000'000;
  std::vector<double> off, on;
  for (int r = 0; r < 5; ++r) {
    off.push_back(RunOnce(false, n));
    on.push_back(RunOnce(true, n));
  }
  std::sort(off.begin(), off.end());
  std::sort(on.begin(), on.end());
  std::printf("sync throughput, 1M creates, blade pair in one process:\n");
  std::printf("  metrics off: median %.2f M deltas/s (min %.2f, max %.2f)\n", off[2] / 1e6, off[0] / 1e6, off[4] / 1e6);
  std::printf("  metrics on:  median %.2f M deltas/s (min %.2f, max %.2f)\n", on[2] / 1e6, on[0] / 1e6, on[4] / 1e6);
  std::printf("  cost of metrics: %.1f%% of throughput (median vs median)\n", 100.0 * (off[2] - on[2]) / off[2]);
  return 0;
}
