// Bulk sync: the owner blade holds N sessions (1,000,000 by default); the
// mirror blade is replaced by a fresh one (a new process in the same slot),
// which asks for a bulk sync; the clock runs from the new blade's start until
// it holds all N and is in sync. Replacements are a link-loss interval
// apart (1.2 s here), as the owner allows one mirror-asked resync per
// interval. Real ZeroMQ TCP on 127.0.0.1, each blade on its own thread. The anchor, in the same run: raw ZeroMQ moving the same
// number of frames of the same size.
//
//   bazel run -c opt //bench:bulk_sync_bench -- [sessions] [runs]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "bench/raw_zmq.h"
#include "bench/zmq_pair.h"
#include "core/log.h"

int main(int argc, char** argv) {
  using namespace bladesync;
  SetLogLevel(LogLevel::kError);
  const uint32_t n = argc > 1 ? static_cast<uint32_t>(std::atoi(argv[1])) : 1'000'000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  ZmqBladePair p(n);
  p.OnOwner([&] {
    for (uint32_t i = 0; i < n; ++i) p.owner().CreateSession(BenchSession(i), SessionState{kTcpEstablished, 0, 3600});
    p.owner().Flush();
  });
  p.WaitMirror(n);
  std::vector<double> ms, raw_ms, cpu_us;
  double bytes_per_session = 0;
  for (int r = 0; r < runs; ++r) {
    const uint64_t frames0 = p.OnOwner([&] { return p.owner().counters().frames_sent.get(); });
    const uint64_t bytes0 = p.OnOwner([&] { return p.owner().counters().bytes_sent.get(); });
    // An owner restarts a stream at a mirror's ask at most once per
    // link-loss interval (so forged asks cannot keep it resyncing): a blade
    // replaced again sooner than that would time the wait, not the sync.
    std::this_thread::sleep_for(p.link_lost_after() + std::chrono::milliseconds(100));
    const double cpu0 = ProcessCpuSeconds();
    const auto t0 = p.ReplaceMirror();
    p.WaitMirror(n);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    cpu_us.push_back(1e6 * (ProcessCpuSeconds() - cpu0) / n);
    const uint64_t frames = p.OnOwner([&] { return p.owner().counters().frames_sent.get(); }) - frames0;
    const uint64_t bytes = p.OnOwner([&] { return p.owner().counters().bytes_sent.get(); }) - bytes0;
    bytes_per_session = static_cast<double>(bytes) / n;
    raw_ms.push_back(1e3 * RawZmqSeconds(frames, bytes / std::max<uint64_t>(frames, 1)));
  }
  const Spread s = SpreadOf(ms), raw = SpreadOf(raw_ms), cpu = SpreadOf(cpu_us);
  std::printf("bulk sync of %u sessions, %d runs: %.1f ms (min %.1f, max %.1f); raw ZeroMQ, same frames %.1f ms "
              "(min %.1f, max %.1f); %.1f wire bytes/session; CPU %.3f us/session both ends (min %.3f, max %.3f)\n",
              n, runs, s.median, s.min, s.max, raw.median, raw.min, raw.max, bytes_per_session, cpu.median, cpu.min,
              cpu.max);
  return 0;
}
