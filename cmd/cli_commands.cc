#include "cmd/cli_commands.h"

#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <tuple>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <zmq.hpp>

#include "cmd/conntrack_tool.h"
#include "cmd/demo.h"
#include "core/asio_event_loop.h"
#include "core/log.h"
#include "fabric/zmq_transport.h"
#include "runtime/chassis_runtime.h"
#include "runtime/control_server.h"
#include "runtime/fabric_security.h"
#include "runtime/traffic_source.h"

namespace bladesync {
namespace {

constexpr const char* kUsage = R"(usage: bladesync <command> [options]

  demo [--config F] [--duration S] [--rate N] [-v]
        run a whole cluster on this machine (the embedded demo config by
        default), send traffic, and check every mirror against its owner
  traffic --config F [--duration S] [--rate N]
        the traffic generator as its own process: it sends to whichever
        chassis processes traffic, asking the managers' control sockets
  get system ha status                      roles, blades, links, sync state
  diagnose sys session sync                 sync counters per blade and link
  diagnose sys session list [src A] [dst A] [sport N] [dport N] [proto P] [slot N] [owned|standby] [max N]
                                            sessions, owned and standby, filtered
  execute ha failover set|unset             make this chassis step down / undo
  diagnose sys ha monitor <intf> down|up|auto
                                            force a monitored interface's state (auto: the system's)
        these talk to a running chassis:  --chassis N [--config F] or --connect SOCKET
        add --json for machine-readable output
  keygen [--out PREFIX]                     a CURVE key pair for one chassis
  check-config F                            parse and check a config file
  conntrack dump|count|install N|flush      this namespace's kernel conntrack table
)";

struct Flags {
  std::string config, connect, out;
  int chassis = 1, duration = -1, rate = -1;
  bool json = false, verbose = false;
  std::vector<std::string> words;
};

bool ParseFlags(const std::vector<std::string>& args, Flags* f, std::string* err) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) {
        *err = a + " needs a value";
        return false;
      }
      *out = args[++i];
      return true;
    };
    auto int_value = [&](int* out) {
      std::string v;
      if (!value(&v)) return false;
      try {
        *out = std::stoi(v);
      } catch (...) {
        *err = a + " needs a number, not '" + v + "'";
        return false;
      }
      return true;
    };
    if (a == "--config") { if (!value(&f->config)) return false; }
    else if (a == "--connect") { if (!value(&f->connect)) return false; }
    else if (a == "--out") { if (!value(&f->out)) return false; }
    else if (a == "--chassis") { if (!int_value(&f->chassis)) return false; }
    else if (a == "--duration") { if (!int_value(&f->duration)) return false; }
    else if (a == "--rate") { if (!int_value(&f->rate)) return false; }
    else if (a == "--json") f->json = true;
    else if (a == "-v" || a == "--verbose") f->verbose = true;
    else if (a.rfind("--", 0) == 0) { *err = "unknown option " + a; return false; }
    else f->words.push_back(a);
  }
  return true;
}

int Control(const Flags& f) {
  std::string endpoint = f.connect;
  if (endpoint.empty()) {
    Result<ClusterConfig> cfg = LoadConfigOrDemo(f.config);
    if (!cfg.ok()) {
      std::fprintf(stderr, "bladesync: %s\n(to reach a running chassis anyway: --connect <its control socket path>)\n",
                   cfg.status().message().c_str());
      return 2;
    }
    const ChassisConfig* c = cfg->FindChassis(static_cast<uint8_t>(f.chassis));
    if (!c || c->control.empty()) {
      std::fprintf(stderr, "bladesync: chassis %d has no 'set control' socket in %s\n", f.chassis, cfg->source.c_str());
      return 2;
    }
    endpoint = c->control;
  }
  std::string command = f.json ? "json" : "text";
  for (const std::string& w : f.words) command += " " + w;
  Result<std::string> reply = ControlRequest(endpoint, command, 3000);
  if (!reply.ok()) {
    std::fprintf(stderr, "bladesync: %s\n", reply.status().message().c_str());
    return 3;
  }
  std::fwrite(reply->data(), 1, reply->size(), stdout);
  if (f.json) std::fputc('\n', stdout);
  // An error reply: {"error":...} in JSON, "error: ..." or a usage line in text.
  const bool error = reply->rfind("{\"error\":", 0) == 0 || reply->rfind("error:", 0) == 0 ||
                     reply->rfind("usage:", 0) == 0;
  return error ? 4 : 0;
}

volatile std::sig_atomic_t g_stop = 0;

int Traffic(const Flags& f) {
  Result<ClusterConfig> loaded = LoadConfigOrDemo(f.config);
  if (!loaded.ok()) {
    std::fprintf(stderr, "bladesync traffic: %s\n", loaded.status().message().c_str());
    return 2;
  }
  ClusterConfig cfg = std::move(loaded).value();
  if (f.duration >= 0) cfg.traffic.duration_s = static_cast<uint32_t>(f.duration);
  if (f.rate >= 0) cfg.traffic.rate = static_cast<uint32_t>(f.rate);
  zmq::context_t ctx(1);
  // Who processes traffic, as the managers say (asked on the source's poller thread).
  TrafficSource source(cfg, ctx, [&cfg] {
    std::vector<uint8_t> t;
    for (const ChassisConfig& c : cfg.chassis) {
      if (c.control.empty()) continue;
      Result<std::string> r = ControlRequest(c.control, "json get system ha status", 200);
      if (r.ok() && r->find("\"processes_traffic\":true") != std::string::npos) t.push_back(c.id);
    }
    return t;
  });
  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  if (Status s = source.Start(); !s.ok()) {
    std::fprintf(stderr, "bladesync traffic: %s\n", s.message().c_str());
    return 2;
  }
  const int limit_s = static_cast<int>(cfg.traffic.duration_s) + 2 * static_cast<int>(cfg.traffic.mean_lifetime_ms / 1000) + 3;
  AsioEventLoop driver;  // the progress line's clock
  for (int sec = 1; sec <= limit_s && !source.finished() && !g_stop; ++sec) {
    driver.RunFor(seconds(1));
    std::printf("[%3ds] flows %llu packets %llu unroutable %llu\n", sec,
                static_cast<unsigned long long>(source.flows_started()),
                static_cast<unsigned long long>(source.packets_sent()),
                static_cast<unsigned long long>(source.packets_unroutable()));
    std::fflush(stdout);
  }
  source.Stop();
  std::printf("traffic done: %llu flows, %llu packets\n", static_cast<unsigned long long>(source.flows_started()),
              static_cast<unsigned long long>(source.packets_sent()));
  return 0;
}

// Writes `text` to a new file (never over an existing one) with `mode`.
Status WriteNewFile(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return InvalidArgument(path + " exists: not overwriting a key (remove it first)");
    return Unavailable("cannot create " + path + ": " + std::strerror(errno));
  }
  const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool closed = close(fd) == 0;
  if (!ok || !closed) return Unavailable("cannot write " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

int Keygen(const Flags& f) {
  Result<CurveKeyPair> kp = GenerateCurveKeyPair();
  // A key that begins with '@' would read as "load from this file" in the config.
  while (kp.ok() && (kp->secret_key[0] == '@' || kp->public_key[0] == '@')) kp = GenerateCurveKeyPair();
  if (!kp.ok()) {
    std::fprintf(stderr, "bladesync keygen: %s\n", kp.status().message().c_str());
    return 2;
  }
  if (f.out.empty()) {
    std::printf("public-key %s\nprivate-key %s\n", kp->public_key.c_str(), kp->secret_key.c_str());
    return 0;
  }
  // The private key is its owner's only, whatever the umask.
  for (const auto& [path, text, mode] : {std::tuple{f.out + ".key", kp->secret_key + "\n", mode_t{0600}},
                                         std::tuple{f.out + ".pub", kp->public_key + "\n", mode_t{0644}}}) {
    if (Status s = WriteNewFile(path, text, mode); !s.ok()) {
      std::fprintf(stderr, "bladesync keygen: %s\n", s.message().c_str());
      if (path.size() > 4 && path.substr(path.size() - 4) == ".pub") unlink((f.out + ".key").c_str());
      return 1;
    }
  }
  std::printf("wrote %s.pub and %s.key (0600)\nin the config: set public-key \"%s\" / set private-key \"@%s.key\"\n",
              f.out.c_str(), f.out.c_str(), kp->public_key.c_str(), f.out.c_str());
  return 0;
}

}  // namespace

int RunCli(const std::vector<std::string>& args) {
  Flags f;
  std::string err;
  if (!ParseFlags(args, &f, &err)) {
    std::fprintf(stderr, "bladesync: %s\n%s", err.c_str(), kUsage);
    return 2;
  }
  if (f.words.empty() || f.words[0] == "help" || f.words[0] == "-h") {
    std::fputs(kUsage, f.words.empty() ? stderr : stdout);
    return f.words.empty() ? 2 : 0;
  }
  const std::string& cmd = f.words[0];
  if (cmd == "demo") {
    DemoOptions d;
    d.config_path = f.config;
    d.duration_s = f.duration;
    d.rate = f.rate;
    d.verbose = f.verbose;
    return RunDemo(d);
  }
  if (cmd == "traffic") return Traffic(f);
  if (cmd == "keygen") return Keygen(f);
  if (cmd == "conntrack") return ConntrackTool(f.words, f.json);
  if (cmd == "check-config") {
    if (f.words.size() != 2) {
      std::fprintf(stderr, "usage: bladesync check-config FILE\n");
      return 2;
    }
    Result<ClusterConfig> c = LoadClusterConfigFile(f.words[1]);
    if (!c.ok()) {
      std::fprintf(stderr, "%s\n", c.status().message().c_str());
      return 1;
    }
    std::printf("%s: ok (%zu chassis x %d slots, session-pickup %s, authentication %s)\n", f.words[1].c_str(),
                c->chassis.size(), c->slots, c->pickup.session_pickup ? "enable" : "disable",
                FabricAuthName(c->fabric_auth()));
    for (const std::string& w : FabricWarnings(c.value())) std::fprintf(stderr, "warning: %s\n", w.c_str());
    if (c->fabric_auth() == ClusterConfig::FabricAuth::kOff) {
      std::fprintf(stderr, "warning: %s: the fabric is unauthenticated (%s)\n", f.words[1].c_str(),
                   c->authentication ? "loopback only; add 'set password'" : "'set authentication disable'");
    }
    return 0;
  }
  if (cmd == "get" || cmd == "diagnose" || cmd == "execute") return Control(f);
  std::fprintf(stderr, "bladesync: unknown command '%s'\n%s", cmd.c_str(), kUsage);
  return 2;
}

}  // namespace bladesync
