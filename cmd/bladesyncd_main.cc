// bladesyncd: one chassis (manager + blades), or some of its blades, per process.
//
//   bladesyncd --config examples/demo.conf --chassis 1
//   bladesyncd --chassis 1                       (reads /etc/bladesync/bladesync.conf)
//   bladesyncd --demo --chassis 1                (the embedded demo cluster, said out loud)
//   bladesyncd --config F --chassis 1 --no-blades          (manager only)
//   bladesyncd --config F --chassis 1 --slot 2 --no-manager (one blade)
//
// SIGHUP re-reads the config file; SIGTERM/SIGINT stop cleanly. Under systemd
// (Type=notify) it reports readiness, status and watchdog pings.
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <ctime>
#include <optional>
#include <cstdio>
#include <string>
#include <thread>

#include "cmd/cli_commands.h"
#include "cmd/demo.h"
#include "core/log.h"
#include "core/version.h"
#include "fabric/zap_handler.h"
#include "runtime/chassis_runtime.h"
#include "runtime/fabric_security.h"
#include "runtime/fd_limit.h"
#include "runtime/loop_watchdog.h"
#include "runtime/service_notify.h"

namespace {

constexpr const char* kDefaultConfig = "/etc/bladesync/bladesync.conf";
constexpr const char* kUsage =
    "usage: bladesyncd [--config FILE | --demo] --chassis N [--slot S]... [--no-manager] [--no-blades]\n"
    "                  [--epoch E] [--metrics HOST:PORT] [--log-level debug|info|warn|error]\n"
    "       bladesyncd -h | --help | --version\n";
constexpr const char* kHelp =
    "\n"
    "Runs one chassis of a bladesync cluster: its manager and blades, or some of them.\n"
    "\n"
    "  --config FILE     the cluster config (default /etc/bladesync/bladesync.conf)\n"
    "  --demo            the embedded demo cluster instead of a config file\n"
    "  --chassis N       which chassis of the config this is\n"
    "  --slot S          run only this blade (repeatable); with --no-manager, a blade process\n"
    "  --no-manager      run no chassis manager here\n"
    "  --no-blades       run no blades here (a manager-only process)\n"
    "  --epoch E         this incarnation's epoch (default: from the wall clock)\n"
    "  --metrics H:P     serve /metrics here instead of the chassis's 'set metrics'\n"
    "  --log-level L     debug, info (default), warn or error\n"
    "\n"
    "SIGHUP reloads the config file; SIGTERM and SIGINT stop cleanly.\n"
    "Exit codes: 0 stopped cleanly, 2 usage, config or start-up error.\n";
}  // namespace

int main(int argc, char** argv) {
  using namespace bladesync;
  std::string config_path, level = "info";
  bool demo = false;
  int chassis = 0;
  RuntimeOptions opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bladesyncd: %s needs a value\n%s", a.c_str(), kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    auto number = [&](long lo, long hi) {
      const std::string v = next();
      std::optional<long> n = ParseWholeNumber(v, lo, hi);
      if (!n) {
        std::fprintf(stderr, "bladesyncd: %s needs a whole number from %ld to %ld, not '%s'\n", a.c_str(), lo, hi,
                     v.c_str());
        std::exit(2);
      }
      return *n;
    };
    if (a == "-h" || a == "--help") {
      std::printf("%s%s", kUsage, kHelp);
      return 0;
    } else if (a == "--version") {
      std::printf("bladesyncd %s (commit %s)\n", kVersion, kCommit);
      return 0;
    } else if (a == "--config") config_path = next();
    else if (a == "--demo") demo = true;
    else if (a == "--chassis") chassis = static_cast<int>(number(1, 255));
    else if (a == "--slot") { opt.slots.push_back(static_cast<uint8_t>(number(1, 255))); opt.all_slots = false; }
    else if (a == "--no-manager") opt.run_manager = false;
    else if (a == "--no-blades") opt.all_slots = false;
    else if (a == "--epoch") opt.epoch = static_cast<uint32_t>(number(1, 4294967295L));
    else if (a == "--metrics") opt.metrics = next();
    else if (a == "--log-level") level = next();
    else { std::fprintf(stderr, "bladesyncd: unknown option %s\n%s", a.c_str(), kUsage); return 2; }
  }
  if (chassis < 1) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  // Never a demo cluster by accident: a daemon started without a config file
  // reads the packaged default, or says why it cannot.
  if (demo && !config_path.empty()) {
    std::fprintf(stderr, "bladesyncd: --demo and --config exclude each other\n");
    return 2;
  }
  if (!demo && config_path.empty()) {
    if (access(kDefaultConfig, R_OK) != 0) {
      std::fprintf(stderr, "bladesyncd: no --config given and %s cannot be read; --demo runs the embedded demo cluster\n",
                   kDefaultConfig);
      return 2;
    }
    config_path = kDefaultConfig;
  }
  std::optional<LogLevel> log_level = ParseLogLevel(level);
  if (!log_level) {
    std::fprintf(stderr, "bladesyncd: --log-level is one of %s, not '%s'\n", kLogLevelNames, level.c_str());
    return 2;
  }
  SetLogLevel(*log_level);
  SetLogPrefix("chassis" + std::to_string(chassis));
  if (Result<FdLimit> fds = RaiseFdLimit(); !fds.ok()) {
    BS_LOG(kWarn, "runtime") << "cannot raise the open-file limit: " << fds.status().message();
  } else if (fds->now < 4096) {
    BS_LOG(kWarn, "runtime") << "open-file limit " << fds->now << " (hard limit): raise it (LimitNOFILE=) so a flood of "
                             << "connections cannot exhaust it";
  } else if (fds->now != fds->before) {
    BS_LOG(kInfo, "runtime") << "open-file limit raised from " << fds->before << " to " << fds->now;
  }
  Result<ClusterConfig> cfg = LoadConfigOrDemo(config_path);
  if (!cfg.ok()) {
    // Through the log: stamped, and with its priority under the journal
    // (journalctl -p err shows why the daemon did not start).
    BS_LOG(kError, "config") << cfg.status().message();
    return 2;
  }
  // Signals are taken synchronously by the main thread (sigwait below); every
  // other thread inherits the mask, so none of them is interrupted.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  FabricContext ctx(2);
  NodeThread zap_thread("zap");
  Result<std::unique_ptr<ZapHandler>> started = StartFabricSecurity(cfg.value(), ctx, zap_thread.loop());
  if (!started.ok()) {
    BS_LOG(kError, "fabric") << started.status().message();
    return 2;
  }
  std::unique_ptr<ZapHandler> zap = std::move(started).value();
  if (zap) zap_thread.Start();
  ChassisRuntime rt(cfg.value(), static_cast<uint8_t>(chassis), opt, ctx);
  rt.set_zap(zap.get());
  // The ZAP handler's sockets belong to its thread: closed there, before the
  // context goes, on every way out.
  auto stop = [&] {
    rt.Stop();
    if (zap) {
      zap_thread.Call([&] { zap->Close(); });
      zap_thread.Stop();
    }
  };
  if (Status s = rt.Start(); !s.ok()) {
    BS_LOG(kError, "runtime") << "cannot start: " << s.message();
    stop();
    return 2;
  }
  // The main thread waits for signals and, between them, speaks systemd's
  // service protocol: READY=1 once the first bulk sync settled, STATUS= with
  // the role, WATCHDOG=1 only while every event loop turns.
  ServiceNotifier notifier;
  const Nanos watchdog = notifier.watchdog_interval();
  // A loop stuck for half the watchdog time stops the pings, so systemd
  // restarts us within WatchdogSec of the hang.
  LoopWatchdog loops(rt.loops(), watchdog > Nanos(0) ? watchdog / 2 : seconds(5));
  const Nanos tick = watchdog > Nanos(0) ? std::min<Nanos>(milliseconds(250), watchdog / 4) : milliseconds(250);
  bool ready = false;
  for (;;) {
    const timespec ts{static_cast<time_t>(tick.count() / 1000000000), static_cast<long>(tick.count() % 1000000000)};
    const int sig = sigtimedwait(&signals, nullptr, &ts);
    if (sig < 0) {  // the tick (or EINTR)
      if (!ready && rt.Settled()) {
        ready = true;
        notifier.Ready(rt.ServiceStatus());
      } else if (ready) {
        notifier.Status(rt.ServiceStatus());
      }
      loops.Probe();
      if (watchdog > Nanos(0)) {
        std::string stuck;
        if (loops.AllTurning(&stuck)) {
          notifier.WatchdogPing();
        } else {
          notifier.WatchdogWithheld(stuck);
        }
      }
      continue;
    }
    if (sig != SIGHUP) break;
    if (config_path.empty()) {
      BS_LOG(kWarn, "config") << "SIGHUP: running the embedded demo config; nothing to reload";
      continue;
    }
    notifier.Reloading();
    (void)rt.Reload(config_path);  // errors are logged and counted; the running config stays
    notifier.Reloaded(rt.ServiceStatus());
  }
  notifier.Stopping();
  BS_LOG(kInfo, "runtime") << "stopping";
  stop();
  return 0;
}
