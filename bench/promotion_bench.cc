// Promotion cost: a mirror blade holding N standby sessions adopts them
// (the work a failover does after detection). Median of 5 runs, min, max.
//
//   bazel run -c opt //bench:promotion_bench -- 1000000
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/log.h"
#include "tests/support/sim_cluster.h"

int main(int argc, char** argv) {
  using namespace bladesync;
  using namespace bladesync::testing;
  const uint32_t n = argc > 1 ? static_cast<uint32_t>(std::atoi(argv[1])) : 1'000'000;
  SetLogLevel(LogLevel::kError);
  std::vector<double> ms;
  for (int run = 0; run < 5; ++run) {
    SimBlades c(2, 1, 100 + run, [n](BladeConfig& b) {
      b.max_sessions = n * 2;
      b.change_log_capacity = std::max<uint32_t>(1u << 20, n * 2);
      b.window = 1u << 20;
    });
    BladeAgent& owner = c.blade(1, 1);
    for (uint32_t i = 0; i < n; ++i) {
      SessionFacts f;
      f.key = SessionKey::V4(0x0a000000 + i, 0xc6336401, static_cast<uint16_t>(1024 + i % 60000), 443, kProtoTcp);
      owner.CreateSession(f, SessionState{kTcpEstablished, 0, 3600});
    }
    c.RunFor(seconds(2));
    BladeAgent& mirror = c.blade(2, 1);
    if (mirror.standby(1)->store().live() != n) {
      std::fprintf(stderr, "mirror holds %zu of %u sessions\n", mirror.standby(1)->store().live(), n);
      for (auto& [name, v] : CounterList(owner.counters())) if (v) std::fprintf(stderr, "  owner %s=%lu\n", name.c_str(), v);
      for (auto& [name, v] : CounterList(mirror.counters())) if (v) std::fprintf(stderr, "  mirror %s=%lu\n", name.c_str(), v);
      return 1;
    }
    c.Kill(1, 1);
    const auto t0 = std::chrono::steady_clock::now();
    const size_t adopted = mirror.Adopt(1);
    const auto t1 = std::chrono::steady_clock::now();
    if (adopted != n) {
      std::fprintf(stderr, "adopted %zu of %u\n", adopted, n);
      return 1;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("promote %u standby sessions: median %.1f ms (min %.1f, max %.1f) over %zu runs\n", n, ms[2], ms.front(),
              ms.back(), ms.size());
  return 0;
}
