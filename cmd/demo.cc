#include "cmd/demo.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>

#include "cmd/demo_config.h"
#include "cmd/takeover_watch.h"
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
        const uint8_t owner_chassis = owner->chassis();
        MirrorCheck c{owner_chassis, mirror->chassis(), slot, n, d, 0, 0, false};
        mirror->OnBlade(slot, [&](BladeAgent& b) {
          const StandbyTable* so = b.standby(owner_chassis);
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

// The cluster as the demo runs it: the traffic source's poller thread asks
// who processes traffic while the demo crashes and restarts a chassis.
class DemoCluster {
 public:
  DemoCluster(const ClusterConfig& cfg, FabricContext& ctx, ZapHandler* zap) : cfg_(cfg), ctx_(ctx), zap_(zap) {}
  ~DemoCluster() { StopAll(); }

  Status Start(uint8_t chassis) {
    RuntimeOptions ro;
    ro.thread_prefix = "c" + std::to_string(chassis) + "/";
    auto rt = std::make_unique<ChassisRuntime>(cfg_, chassis, ro, ctx_);
    rt->set_zap(zap_);
    if (Status s = rt->Start(); !s.ok()) return s;
    std::lock_guard<std::mutex> lock(mu_);
    rts_.push_back(std::move(rt));
    return Status::Ok();
  }
  // As kill -9 would: its sockets close at once and nothing more is sent.
  // `silenced` runs then, before the rest of the chassis stops.
  void Crash(uint8_t chassis, const std::function<void()>& silenced) {
    std::unique_ptr<ChassisRuntime> victim;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = rts_.begin(); it != rts_.end(); ++it) {
        if ((*it)->chassis() == chassis) {
          victim = std::move(*it);
          rts_.erase(it);
          break;
        }
      }
    }
    if (!victim) return;
    victim->Crash();
    silenced();
    victim->Stop();
  }
  void StopAll() {
    std::vector<std::unique_ptr<ChassisRuntime>> all;
    {
      std::lock_guard<std::mutex> lock(mu_);
      all.swap(rts_);
    }
    for (auto& rt : all) rt->Stop();
  }
  std::vector<uint8_t> ProcessingTraffic() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<uint8_t> t;
    for (auto& rt : rts_)
      if (rt->State().processes_traffic) t.push_back(rt->chassis());
    return t;
  }
  // Only the demo's own thread changes the set, so it may use it unlocked.
  std::vector<std::unique_ptr<ChassisRuntime>>& runtimes() { return rts_; }

 private:
  const ClusterConfig& cfg_;
  FabricContext& ctx_;
  ZapHandler* zap_;
  std::mutex mu_;
  std::vector<std::unique_ptr<ChassisRuntime>> rts_;
};

struct SessionTotals {
  uint64_t owned = 0, standby = 0, lag_sum = 0, lag_n = 0;
};

SessionTotals Totals(std::vector<std::unique_ptr<ChassisRuntime>>& rts) {
  SessionTotals t;
  for (auto& rt : rts) {
    for (uint8_t s : rt->slots()) {
      rt->OnBlade(s, [&](BladeAgent& b) {
        t.owned += b.owned().live();
        for (uint8_t peer : b.config().peers) {
          if (const StandbyTable* so = b.standby(peer)) {
            t.standby += so->store().live();
            t.lag_sum += so->lag_sum_ns();
            t.lag_n += so->lag_batches();
          }
        }
        return 0;
      });
    }
  }
  return t;
}

uint64_t CounterTotal(ChassisRuntime& rt, const char* name) {
  uint64_t n = 0;
  for (uint8_t s : rt.slots()) {
    n += rt.OnBlade(s, [&](BladeAgent& b) {
      for (const auto& [k, v] : CounterList(b.counters()))
        if (k == name) return v;
      return uint64_t{0};
    });
  }
  return n;
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
  // The crash comes halfway through the new flows, once there is something to lose.
  const int crash_at_s = opt.failover ? std::max(2, static_cast<int>(cfg.traffic.duration_s) / 2) : -1;

  std::printf("bladesync demo: %zu chassis x %d blades%s, %s, session-pickup %s, traffic %u flows/s for %u s, %s\n",
              cfg.chassis.size(), cfg.slots, cfg.blade_workers > 1 ? (" x " + std::to_string(cfg.blade_workers) + " workers").c_str() : "", cfg.mode == HaMode::kActiveActive ? "active-active" : "active-passive",
              cfg.pickup.session_pickup ? "enable" : "disable", cfg.traffic.rate, cfg.traffic.duration_s,
              cfg.source.c_str());
  if (opt.failover) {
    std::printf("the primary chassis crashes at %d s; the survivor must pick up every synced session\n", crash_at_s);
  }
  std::fflush(stdout);

  FabricContext ctx(2);
  NodeThread zap_thread("zap");
  Result<std::unique_ptr<ZapHandler>> started = StartFabricSecurity(cfg, ctx, zap_thread.loop(), /*warn=*/false);
  if (!started.ok()) {
    std::fprintf(stderr, "bladesync demo: %s\n", started.status().message().c_str());
    return 2;
  }
  std::unique_ptr<ZapHandler> zap = std::move(started).value();
  if (zap) zap_thread.Start();
  auto stop_zap = [&] {
    if (!zap) return;
    zap_thread.Call([&] { zap->Close(); });
    zap_thread.Stop();
  };
  DemoCluster cluster(cfg, ctx, zap.get());
  for (const ChassisConfig& c : cfg.chassis) {
    if (Status s = cluster.Start(c.id); !s.ok()) {
      std::fprintf(stderr, "bladesync demo: %s\n", s.message().c_str());
      cluster.StopAll();
      stop_zap();
      return 2;
    }
  }
  auto& rts = cluster.runtimes();
  int rc = 1;
  {
    // Wait (bounded) for every blade to report and a primary to be elected.
    bool settled = false;
    for (int i = 0; i < 100 && !settled; ++i) {
      SleepMs(100);
      int primaries = 0, blades = 0, unknown = 0;
      for (auto& rt : rts) {
        ChassisState s = rt->State();
        primaries += s.role == HaRole::kPrimary;
        unknown += s.role == HaRole::kUnknown;
        blades += s.live_blades;
      }
      settled = primaries == 1 && unknown == 0 && blades == cfg.worker_slot_count() * static_cast<int>(rts.size());
    }
    if (!settled) std::printf("warning: the cluster did not settle within 10 s; running anyway\n");
    for (auto& rt : rts) {
      ChassisState s = rt->State();
      std::printf("chassis %d: %s, %d %s live\n", rt->chassis(), HaRoleName(s.role), s.live_blades,
                  cfg.blade_workers > 1 ? "workers" : "blades");
    }
    TrafficSource source(cfg, ctx, [&cluster] { return cluster.ProcessingTraffic(); });
    if (Status s = source.Start(); !s.ok()) {
      std::fprintf(stderr, "bladesync demo: traffic: %s\n", s.message().c_str());
      cluster.StopAll();
      stop_zap();
      return 2;
    }
    const Nanos t0 = DriverLoop().Now();
    const int traffic_limit_s = static_cast<int>(cfg.traffic.duration_s) + 2 * static_cast<int>(cfg.traffic.mean_lifetime_ms / 1000) + 3;
    uint64_t lag_sum_prev = 0, lag_n_prev = 0;
    std::unique_ptr<TakeoverWatch> watch;
    uint8_t crashed = 0;
    double crash_time_s = 0;
    int restart_at_s = -1;
    bool takeover_reported = false;
    uint64_t dropped_before = 0;
    for (int sec = 1; sec <= traffic_limit_s && !source.finished(); ++sec) {
      SleepMs(1000);
      const SessionTotals t = Totals(rts);
      // A chassis that crashed or restarted takes its totals with it: no mean across that.
      const bool comparable = t.lag_n > lag_n_prev && t.lag_sum >= lag_sum_prev;
      const double lag_ms = comparable ? static_cast<double>(t.lag_sum - lag_sum_prev) / static_cast<double>(t.lag_n - lag_n_prev) / 1e6 : 0.0;
      lag_sum_prev = t.lag_sum;
      lag_n_prev = t.lag_n;
      std::printf("[%3ds] flows %-8llu packets %-9llu sessions owned %-8llu standby %-8llu sync lag (mean) %.3f ms\n",
                  sec, static_cast<unsigned long long>(source.flows_started()),
                  static_cast<unsigned long long>(source.packets_sent()), static_cast<unsigned long long>(t.owned),
                  static_cast<unsigned long long>(t.standby), lag_ms);
      if (sec == crash_at_s) {
        for (auto& rt : rts) {
          if (rt->State().role == HaRole::kPrimary) crashed = rt->chassis();
        }
        if (crashed) {
          for (auto& rt : rts) dropped_before += CounterTotal(*rt, "packets_dropped");
          crash_time_s = ToSeconds(DriverLoop().Now() - t0);
          cluster.Crash(crashed, [&] {
            const Nanos crash_time = DriverLoop().Now();
            std::printf("[%5.1fs] chassis %d (the primary) crashes: its sockets close, nothing more is sent, its manager "
                        "and blades stop\n", ToSeconds(DriverLoop().Now() - t0), crashed);
            std::fflush(stdout);
            // Frames it sent just before are still landing: once they are in
            // (loopback takes well under 100 ms, detection over a second),
            // what the survivors mirror is what was synced.
            SleepMs(100);
            watch = std::make_unique<TakeoverWatch>(crashed, crash_time);
            for (auto& rt : rts) watch->Arm(*rt);
          });
          restart_at_s = sec + 3;
        } else {
          std::printf("[%3ds] no primary to crash\n", sec);
        }
      }
      if (watch && !takeover_reported) {
        const TakeoverWatch::Outcome o = watch->outcome();
        if (o.blades_adopted == cfg.worker_slot_count()) {
          takeover_reported = true;
          std::printf("[%5.1fs] chassis %d took over after %.2f s: it picked up %llu sessions; traffic goes to it\n",
                      ToSeconds(DriverLoop().Now() - t0), o.adopter, ToSeconds(o.took),
                      static_cast<unsigned long long>(o.picked_up));
        }
      }
      if (sec == restart_at_s) {
        if (Status s = cluster.Start(crashed); s.ok()) {
          std::printf("[%5.1fs] chassis %d restarts (a new epoch): it joins as secondary and takes a bulk sync\n",
                      ToSeconds(DriverLoop().Now() - t0), crashed);
        } else {
          std::printf("[%3ds] chassis %d does not restart: %s\n", sec, crashed, s.message().c_str());
        }
      }
      std::fflush(stdout);
    }
    source.Stop();
    const double ran = ToSeconds(DriverLoop().Now() - t0);
    std::printf("traffic stopped after %.1f s (%llu flows, %llu packets, %llu found no chassis processing traffic)\n",
                ran, static_cast<unsigned long long>(source.flows_started()),
                static_cast<unsigned long long>(source.packets_sent()),
                static_cast<unsigned long long>(source.packets_unroutable()));
    if (crashed && restart_at_s > 0) {
      bool back = false;
      for (auto& rt : rts) back |= rt->chassis() == crashed;
      if (!back && cluster.Start(crashed).ok()) {
        std::printf("chassis %d restarts (a new epoch): it joins as secondary and takes a bulk sync\n", crashed);
      }
    }
    std::printf("waiting for the mirrors to converge...\n");
    std::fflush(stdout);

    std::vector<MirrorCheck> checks;
    bool all = false;
    for (int i = 0; i < opt.converge_timeout_s * 10 && !all; ++i) {
      SleepMs(100);
      checks = CheckMirrors(rts, cfg.worker_slot_count());
      all = std::all_of(checks.begin(), checks.end(), [](const MirrorCheck& c) { return c.match(); });
    }
    bool failover_ok = !opt.failover;
    if (watch) {
      const TakeoverWatch::Outcome o = watch->outcome();
      uint64_t dropped_after = 0;
      for (auto& rt : rts) dropped_after += CounterTotal(*rt, "packets_dropped");
      failover_ok = o.blades_adopted == cfg.worker_slot_count() && o.lost == 0 && o.synced > 0;
      std::printf("\n");
      if (o.blades_adopted == 0) {
        std::printf("failover at %.1f s: FAILED: no chassis took over chassis %d's sessions\n", crash_time_s, crashed);
      } else {
        std::printf("failover at %.1f s took %.2f s: %llu of %llu synced sessions picked up, %llu lost\n", crash_time_s,
                    ToSeconds(o.took), static_cast<unsigned long long>(o.picked_up),
                    static_cast<unsigned long long>(o.synced - o.ended), static_cast<unsigned long long>(o.lost));
        std::printf("  (%llu more had ended by their timers before the takeover. The new primary dropped %llu "
                    "packets of flows it never had: their SYN reached no chassis during the outage, they were born "
                    "in the last moment before the crash, they are proxy and local sessions, which do not fail "
                    "over, or GTP-U downlinks that wait for their tunnel's uplink.)\n",
                    static_cast<unsigned long long>(o.ended),
                    static_cast<unsigned long long>(dropped_after >= dropped_before ? dropped_after - dropped_before : 0));
        if (o.blades_adopted != cfg.worker_slot_count()) {
          std::printf("  FAILED: only %d of %d %s of chassis %d adopted\n", o.blades_adopted, cfg.worker_slot_count(),
                      cfg.blade_workers > 1 ? "workers" : "blades", o.adopter);
        }
      }
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
          for (uint8_t peer : b.config().peers) {
            if (const StandbyTable* so = b.standby(peer)) {
              sb += " chassis" + std::to_string(peer) + "=" + std::to_string(so->store().live());
            }
          }
          return l + "|" + sb;
        });
        const auto bar = line.find('|');
        std::printf("%-8d %-5d %-8s%s\n", rt->chassis(), s, line.substr(0, bar).c_str(), line.substr(bar + 1).c_str());
      }
    }
    if (all && total > 0 && failover_ok) {
      std::printf("\nresult: every mirror matches its owner (%zu mirror tables, %llu synced sessions)%s\n", checks.size(),
                  static_cast<unsigned long long>(total), watch ? " after the failover; no synced session lost" : "");
      rc = 0;
    } else if (!failover_ok) {
      std::printf("\nresult: FAILED: the failover lost sessions or did not complete\n");
    } else if (total == 0) {
      std::printf("\nresult: FAILED: no session was synced (is session-pickup enabled and traffic running?)\n");
    } else {
      std::printf("\nresult: FAILED: some mirrors do not match their owner after %d s\n", opt.converge_timeout_s);
    }
  }
  cluster.StopAll();
  stop_zap();
  return rc;
}

}  // namespace bladesync
