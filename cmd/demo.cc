#include "cmd/demo.h"

#include <cstdio>
#include <memory>
#include <zmq.hpp>

#include "cmd/demo_config.h"
#include "core/asio_event_loop.h"
#include "core/log.h"
#include "fabric/zap_handler.h"
#include "runtime/chassis_runtime.h"
#include "runtime/fabric_security.h"
#include "runtime/traffic_source.h"

namespace bladesync {

Result<ClusterConfig> LoadConfigOrDemo(const std::string& path) {
  if (path.empty()) return LoadClusterConfig(kDemoConfig, "(embedded demo.conf)");
  return LoadClusterConfigFile(path);
}

namespace {

// The demo's own loop: its waits and its clock, like every other part's.
AsioEventLoop& DriverLoop() {
  static AsioEventLoop loop;
  return loop;
}
void SleepMs(int ms) { DriverLoop().RunFor(milliseconds(ms)); }

struct MirrorCheck {
  uint8_t owner, mirror, slot;
  uint64_t owner_sessions, owner_digest, mirror_sessions, mirror_digest;
  bool in_sync;
  bool match() const { return in_sync && owner_sessions == mirror_sessions && owner_digest == mirror_digest; }
};

std::vector<MirrorCheck> CheckMirrors(std::vector<std::unique_ptr<ChassisRuntime>>& rts, int slots) {
  std::vector<MirrorCheck> out;
  for (auto& owner : rts) {
    for (int s = 1; s <= slots; ++s) {
      const uint8_t slot = static_cast<uint8_t>(s);
      auto [n, d] = owner->OnBlade(slot, [](BladeAgent& b) {
        return std::pair<uint64_t, uint64_t>(b.owned().counted(), b.owned().digest());
      });
      for (auto& mirror : rts) {
        if (mirror == owner) continue;
        const uint8_t origin = owner->chassis();
        MirrorCheck c{origin, mirror->chassis(), slot, n, d, 0, 0, false};
        mirror->OnBlade(slot, [&](BladeAgent& b) {
          const StandbyOrigin* so = b.standby(origin);
          c.mirror_sessions = so->store().live();
          c.mirror_digest = so->store().digest();
          c.in_sync = so->in_sync();
          return 0;
        });
        out.push_back(c);
      }
    }
  }
  return out;
}

}  // namespace

int RunDemo(const DemoOptions& opt) {
  Result<ClusterConfig> loaded = LoadConfigOrDemo(opt.config_path);
  if (!loaded.ok()) {
    std::fprintf(stderr, "bladesync demo: %s\n", loaded.status().message().c_str());
    return 2;
  }
  ClusterConfig cfg = std::move(loaded).value();
  if (opt.duration_s >= 0) cfg.traffic.duration_s = static_cast<uint32_t>(opt.duration_s);
  if (opt.rate >= 0) cfg.traffic.rate = static_cast<uint32_t>(opt.rate);
  SetLogLevel(opt.verbose ? LogLevel::kInfo : LogLevel::kWarn);

  std::printf("bladesync demo: %zu chassis x %d blades, %s, session-pickup %s, traffic %u flows/s for %u s (%s)\n",
              cfg.chassis.size(), cfg.slots, cfg.mode == HaMode::kActiveActive ? "active-active" : "active-passive",
              cfg.pickup.session_pickup ? "enable" : "disable", cfg.traffic.rate, cfg.traffic.duration_s,
              cfg.source.c_str());
  std::fflush(stdout);

  zmq::context_t ctx(2);
  std::unique_ptr<NodeThread> zap_thread;
  zap_thread = std::make_unique<NodeThread>("zap");
  Result<std::unique_ptr<ZapHandler>> started = StartFabricSecurity(cfg, ctx, zap_thread->loop(), /*warn=*/false);
  if (!started.ok()) {
    std::fprintf(stderr, "bladesync demo: %s\n", started.status().message().c_str());
    return 2;
  }
  std::unique_ptr<ZapHandler> zap = std::move(started).value();
  if (zap) zap_thread->Start();
  std::vector<std::unique_ptr<ChassisRuntime>> rts;
  for (const ChassisConfig& c : cfg.chassis) {
    RuntimeOptions ro;
    ro.thread_prefix = "c" + std::to_string(c.id) + "/";
    rts.push_back(std::make_unique<ChassisRuntime>(cfg, c.id, ro, ctx));
    rts.back()->set_zap(zap.get());
    if (Status s = rts.back()->Start(); !s.ok()) {
      std::fprintf(stderr, "bladesync demo: %s\n", s.message().c_str());
      for (auto& rt : rts) rt->Stop();
      return 2;
    }
  }
  int rc = 1;
  {
    // Wait (bounded) for every blade to report and a primary to be elected.
    bool settled = false;
    for (int i = 0; i < 100 && !settled; ++i) {
      SleepMs(100);
      int primaries = 0, blades = 0;
      for (auto& rt : rts) {
        ChassisSnapshot s = rt->Snapshot();
        primaries += s.role == HaRole::kPrimary;
        blades += s.live_blades;
      }
      settled = primaries == 1 && blades == cfg.slots * static_cast<int>(rts.size());
    }
    if (!settled) std::printf("warning: the cluster did not settle within 10 s; running anyway\n");
    for (auto& rt : rts) {
      ChassisSnapshot s = rt->Snapshot();
      std::printf("chassis %d: %s, %d blades live\n", rt->chassis(), HaRoleName(s.role), s.live_blades);
    }
    TrafficSource source(cfg, ctx, [&rts] {
      std::vector<uint8_t> t;
      for (auto& rt : rts)
        if (rt->Snapshot().processes_traffic) t.push_back(rt->chassis());
      return t;
    });
    if (Status s = source.Start(); !s.ok()) {
      std::fprintf(stderr, "bladesync demo: traffic: %s\n", s.message().c_str());
      for (auto& rt : rts) rt->Stop();
      return 2;
    }
    const Nanos t0 = DriverLoop().Now();
    const int traffic_limit_s = static_cast<int>(cfg.traffic.duration_s) + 2 * static_cast<int>(cfg.traffic.mean_lifetime_ms / 1000) + 3;
    uint64_t lag_sum_prev = 0, lag_n_prev = 0;
    for (int sec = 1; sec <= traffic_limit_s && !source.finished(); ++sec) {
      SleepMs(1000);
      uint64_t owned = 0, standby = 0, lag_sum = 0, lag_n = 0;
      for (auto& rt : rts) {
        for (uint8_t s : rt->slots()) {
          rt->OnBlade(s, [&](BladeAgent& b) {
            owned += b.owned().live();
            for (auto& other : rts) {
              if (const StandbyOrigin* so = b.standby(other->chassis())) {
                standby += so->store().live();
                lag_sum += so->lag_sum_ns();
                lag_n += so->lag_batches();
              }
            }
            return 0;
          });
        }
      }
      const double lag_ms = lag_n > lag_n_prev ? static_cast<double>(lag_sum - lag_sum_prev) / static_cast<double>(lag_n - lag_n_prev) / 1e6 : 0.0;
      lag_sum_prev = lag_sum;
      lag_n_prev = lag_n;
      std::printf("[%3ds] flows %-8llu packets %-9llu sessions owned %-8llu standby %-8llu sync lag (mean) %.3f ms\n",
                  sec, static_cast<unsigned long long>(source.flows_started()),
                  static_cast<unsigned long long>(source.packets_sent()), static_cast<unsigned long long>(owned),
                  static_cast<unsigned long long>(standby), lag_ms);
      std::fflush(stdout);
    }
    source.Stop();
    const double ran = ToSeconds(DriverLoop().Now() - t0);
    std::printf("traffic stopped after %.1f s (%llu flows, %llu packets); waiting for the mirrors to converge...\n", ran,
                static_cast<unsigned long long>(source.flows_started()),
                static_cast<unsigned long long>(source.packets_sent()));
    std::fflush(stdout);

    std::vector<MirrorCheck> checks;
    bool all = false;
    for (int i = 0; i < opt.converge_timeout_s * 10 && !all; ++i) {
      SleepMs(100);
      checks = CheckMirrors(rts, cfg.slots);
      all = std::all_of(checks.begin(), checks.end(), [](const MirrorCheck& c) { return c.match(); });
    }
    std::printf("\n%-6s %-5s %-12s %-10s %-10s %-12s %s\n", "owner", "slot", "owner synced", "mirror", "mirror has",
                "digest", "match");
    uint64_t total = 0;
    for (const MirrorCheck& c : checks) {
      total += c.owner_sessions;
      char digest[20];
      std::snprintf(digest, sizeof(digest), "%08llx", static_cast<unsigned long long>(c.owner_digest >> 32));
      std::printf("%-6d %-5d %-12llu chassis %-2d %-10llu %-12s %s\n", c.owner, c.slot,
                  static_cast<unsigned long long>(c.owner_sessions), c.mirror,
                  static_cast<unsigned long long>(c.mirror_sessions), digest,
                  c.match() ? "yes" : (c.in_sync ? "NO" : "NO (not in sync)"));
    }
    // Per-blade session counts on every chassis.
    std::printf("\n%-8s %-5s %-8s %s\n", "chassis", "slot", "owned", "standby (by owner chassis)");
    for (auto& rt : rts) {
      for (uint8_t s : rt->slots()) {
        std::string line = rt->OnBlade(s, [&](BladeAgent& b) {
          std::string l = std::to_string(b.owned().live());
          std::string sb;
          for (auto& other : rts) {
            if (const StandbyOrigin* so = b.standby(other->chassis())) {
              sb += " chassis" + std::to_string(other->chassis()) + "=" + std::to_string(so->store().live());
            }
          }
          return l + "|" + sb;
        });
        const auto bar = line.find('|');
        std::printf("%-8d %-5d %-8s%s\n", rt->chassis(), s, line.substr(0, bar).c_str(), line.substr(bar + 1).c_str());
      }
    }
    if (all && total > 0) {
      std::printf("\nresult: every mirror matches its owner (%zu mirror tables, %llu synced sessions)\n", checks.size(),
                  static_cast<unsigned long long>(total));
      rc = 0;
    } else if (total == 0) {
      std::printf("\nresult: FAILED: no session was synced (is session-pickup enabled and traffic running?)\n");
    } else {
      std::printf("\nresult: FAILED: some mirrors do not match their owner after %d s\n", opt.converge_timeout_s);
    }
  }
  for (auto& rt : rts) rt->Stop();
  if (zap_thread) {
    zap_thread->Call([&] { zap->Close(); });
    zap_thread->Stop();
  }
  return rc;
}

}  // namespace bladesync
