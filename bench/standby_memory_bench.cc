// Memory per standby session: what a mirror blade's heap grows by to hold N
// sessions of one owner, measured as resident memory (VmRSS: the tables are
// mapped and committed by MapHugePages, the rest comes from malloc), at
// 1,000,000 and 10,000,000 sessions. Two ways in:
//   live:     the mirror follows the owner's creates as they happen, and
//   bulk sync: a fresh mirror blade receives the owner's bulk sync.
// Owner and mirror run on the simulator in one process. For the bulk sync the
// owner's tables are built and the old mirror freed before the first reading,
// so the difference in resident memory is the new mirror's. For the live path the
// owner's frames wait in the simulated network and are freed as the mirror
// grows, so only the store's own count (capacity of its slab and index) is
// reported there.
//
//   bazel run -c opt //bench:standby_memory_bench -- [sessions...]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/log.h"
#include "tests/support/sim_cluster.h"

namespace {

// Resident bytes of this process (/proc/self/statm, second field, in pages).
double ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0;
  if (!f || std::fscanf(f, "%lu %lu", &size, &resident) != 2) std::abort();
  std::fclose(f);
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

}  // namespace

int main(int argc, char** argv) {
  using namespace bladesync;
  using namespace bladesync::testing;
  SetLogLevel(LogLevel::kError);
  std::vector<uint32_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(static_cast<uint32_t>(std::atoll(argv[i])));
  if (sizes.empty()) sizes = {1'000'000, 10'000'000};
  for (uint32_t n : sizes) {
    SimBlades c(2, 1, 7, [n](BladeConfig& b) {
      b.max_sessions = n + n / 4;
      b.change_log_capacity = n + n / 4;
      b.window = 1u << 20;
    });
    c.RunFor(seconds(1));  // the opening (empty) bulk syncs
    BladeAgent& owner = c.blade(1, 1);
    for (uint32_t i = 0; i < n; ++i) {
      SessionFacts f;
      f.key = SessionKey::V4(0x0a000000 + i, 0xc6336401, static_cast<uint16_t>(1024 + i % 60000), 443, kProtoTcp);
      owner.CreateSession(f, SessionState{kTcpEstablished, 0, 3600});
    }
    auto synced = [&] {
      const StandbyTable* s = c.blade(2, 1).standby(1);
      return s->in_sync() && s->store().live() == n;
    };
    auto sync = [&](const char* how) {
      for (int i = 0; i < 600 && !synced(); ++i) c.RunFor(seconds(1));
      if (!synced()) {
        std::fprintf(stderr, "%s: mirror holds %zu of %u\n", how, c.blade(2, 1).standby(1)->store().live(), n);
        std::exit(1);
      }
    };
    sync("live");
    const double live_store = c.blade(2, 1).standby(1)->store().MemoryBytes();
    c.Kill(2, 1);
    c.Revive(2, 1, 2);  // frees the old mirror: a fresh process in the slot
    const double snap0 = ResidentBytes();
    sync("bulk sync");
    const double snap1 = ResidentBytes();
    const double snap_store = c.blade(2, 1).standby(1)->store().MemoryBytes();
    std::printf("%u standby sessions: bulk sync %.1f bytes/session resident (store's own count %.1f); "
                "grown live %.1f bytes/session (store's own count)\n",
                n, (snap1 - snap0) / n, snap_store / n, live_store / n);
  }
  return 0;
}
