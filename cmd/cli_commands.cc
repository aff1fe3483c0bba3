#include "cmd/cli_commands.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "cmd/conntrack_tool.h"
#include "cmd/demo.h"
#include "cmd/rolling_upgrade.h"
#include "core/asio_event_loop.h"
#include "core/json.h"
#include "core/log.h"
#include "core/version.h"
#include "fabric/zmq_transport.h"
#include "netif/linux_interfaces.h"
#include "runtime/address_book.h"
#include "runtime/chassis_runtime.h"
#include "runtime/control_server.h"
#include "runtime/fabric_security.h"
#include "runtime/traffic_source.h"

namespace bladesync {

std::optional<long> ParseWholeNumber(const std::string& v, long lo, long hi) {
  size_t used = 0;
  try {
    const long n = std::stol(v, &used);
    if (used == v.size() && n >= lo && n <= hi) return n;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

namespace {

constexpr const char* kInstalledConfig = "/etc/bladesync/bladesync.conf";

constexpr const char* kUsage = R"(usage: bladesync <command> [options]

  demo [--config F] [--duration S] [--rate N] [--no-failover] [-v]
        run a whole cluster on this machine (the embedded demo config by
        default), send traffic, crash the primary halfway, count what the
        survivor picked up, and check every mirror against its owner
  traffic --config F [--duration S] [--rate N] [--max-unroutable PERCENT]
        the traffic generator as its own process: it sends to whichever
        chassis processes traffic, asking the managers' control sockets;
        exits 1 when nothing was delivered or more than PERCENT (default 1)
        of the packets found no chassis to take them
  get system ha status                      roles, blades, links, sync state
  diagnose sys session sync                 sync counters per blade and link
  diagnose sys session list [src A] [dst A] [sport N] [dport N] [proto P] [slot N] [worker N] [owned|standby] [max N]
                                            sessions, owned and standby, filtered
  execute ha failover set|unset             make this chassis step down / undo
  execute ha upgrade --restart-command CMD [--timeout S]
                                            a rolling upgrade from the primary: CMD (run by sh, {chassis}
                                            replaced) restarts a chassis on the new release; secondaries
                                            first, each back in sync, then a handover, then this chassis
  diagnose sys ha monitor <intf> down|up|auto
                                            force a monitored interface's state (auto: the system's)
  diagnose sys ha checksum show|cluster     config checksums per section: this chassis / every chassis
  diagnose sys ha reset-uptime              this chassis's age starts again: a new election
  diagnose sys link-monitor status          remote link monitors: servers, state, score
        these talk to a running chassis:  --chassis N [--config F] or --connect SOCKET
        (F: /etc/bladesync/bladesync.conf when it exists, else the demo's)
        add --json for machine-readable output
  keygen [--out PREFIX [--force]]           a CURVE key pair for one chassis (--force: over existing files)
  check-config F [--chassis N]              parse and check a config file; with --chassis,
                                            also that chassis N's addresses are this host's
  release --config F --chassis N            drop what chassis N's daemon held on this host (cluster and
                                            traffic addresses, the virtual MAC): systemd's ExecStopPost
  conntrack dump|count|expect|install N|flush
                                            this namespace's kernel conntrack table and expectations
  -h, --help, help                          this text
  --version                                 the release
exit codes: 0 ok, 1 the command ran and failed (check, traffic, keygen),
            2 usage or config error, 3 no chassis answers, 4 the chassis refused
)";

struct Flags {
  std::string config, connect, out, restart_command;
  int chassis = 1, duration = -1, rate = -1, timeout = 300;
  double max_unroutable_percent = 1.0;
  bool json = false, verbose = false, help = false, version = false;
  bool chassis_given = false, no_failover = false, force = false, out_given = false;
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
      const std::optional<long> n = ParseWholeNumber(v, 0, 1000000000);
      if (!n) {
        *err = a + " needs a whole number from 0, not '" + v + "'";
        return false;
      }
      *out = static_cast<int>(*n);
      return true;
    };
    auto percent_value = [&](double* out) {
      std::string v;
      if (!value(&v)) return false;
      size_t used = 0;
      try {
        *out = std::stod(v, &used);
        if (used != v.size() || !(*out >= 0 && *out <= 100)) throw std::out_of_range(v);
      } catch (...) {
        *err = a + " needs a percentage from 0 to 100, not '" + v + "'";
        return false;
      }
      return true;
    };
    if (a == "--config") { if (!value(&f->config)) return false; }
    else if (a == "--connect") { if (!value(&f->connect)) return false; }
    else if (a == "--out") {
      if (!value(&f->out)) return false;
      if (f->out.empty()) { *err = "--out needs a file prefix, not ''"; return false; }
      f->out_given = true;
    }
    else if (a == "--force") f->force = true;
    else if (a == "--chassis") { if (!int_value(&f->chassis)) return false; f->chassis_given = true; }
    else if (a == "--duration") { if (!int_value(&f->duration)) return false; }
    else if (a == "--rate") { if (!int_value(&f->rate)) return false; }
    else if (a == "--restart-command") { if (!value(&f->restart_command)) return false; }
    else if (a == "--timeout") { if (!int_value(&f->timeout)) return false; }
    else if (a == "--max-unroutable") { if (!percent_value(&f->max_unroutable_percent)) return false; }
    else if (a == "--json") f->json = true;
    else if (a == "--no-failover") f->no_failover = true;
    else if (a == "-h" || a == "--help") f->help = true;
    else if (a == "--version") f->version = true;
    else if (a == "-v" || a == "--verbose") f->verbose = true;
    else if (a.rfind("--", 0) == 0) { *err = "unknown option " + a; return false; }
    else f->words.push_back(a);
  }
  return true;
}

// The control socket a command talks to: --connect, or the chassis's
// 'set control' in its config. 0, or the exit code (usage, config).
int ControlEndpoint(const Flags& f, std::string* out) {
  std::string& endpoint = *out;
  endpoint = f.connect;
  if (endpoint.empty()) {
    // Like bladesyncd: the installed config when there is one, else the demo's.
    std::string path = f.config;
    if (path.empty() && access(kInstalledConfig, R_OK) == 0) path = kInstalledConfig;
    Result<ClusterConfig> cfg = LoadConfigOrDemo(path);
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
  } else if (endpoint[0] != '/' && endpoint.find(':') != std::string::npos) {
    // The control socket is a Unix socket (see the README's threat model).
    std::fprintf(stderr,
                 "bladesync: --connect takes the path of a chassis's control socket ('set control' in its config), "
                 "not '%s': the control socket is a Unix socket, never TCP\n",
                 endpoint.c_str());
    return 2;
  }
  return 0;
}

int Control(const Flags& f) {
  std::string endpoint;
  if (int rc = ControlEndpoint(f, &endpoint)) return rc;
  std::string command = f.json ? "json" : "text";
  for (const std::string& w : f.words) command += " " + w;
  Result<std::string> reply = ControlRequest(endpoint, command, 3000);
  if (!reply.ok()) {
    std::fprintf(stderr, "bladesync: %s\n", reply.status().message().c_str());
    if (f.json) {  // a script reading stdout gets JSON either way
      JsonWriter j;
      j.BeginObject().Key("error").String(reply.status().message()).EndObject();
      std::printf("%s\n", j.str().c_str());
    }
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
  FabricContext ctx(1);
  // Where traffic goes, as the managers say (asked on the source's poller
  // thread): where the cluster addresses would be (traffic_ready), or, from
  // a release that does not say (0.2.0), whoever processes traffic.
  TrafficSource source(cfg, ctx, [&cfg] {
    std::vector<uint8_t> t;
    for (const ChassisConfig& c : cfg.chassis) {
      if (c.control.empty()) continue;
      Result<std::string> r = ControlRequest(c.control, "json get system ha status", 200);
      if (!r.ok()) continue;
      const bool says_ready = r->find("\"traffic_ready\":") != std::string::npos;
      if (r->find(says_ready ? "\"traffic_ready\":true" : "\"processes_traffic\":true") != std::string::npos) {
        t.push_back(c.id);
      }
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
  const uint64_t sent = source.packets_sent(), unroutable = source.packets_unroutable();
  const double unroutable_percent = sent + unroutable ? 100.0 * static_cast<double>(unroutable) / static_cast<double>(sent + unroutable) : 0.0;
  std::printf("traffic done: %llu flows, %llu packets delivered, %llu unroutable (%.2f%%)\n",
              static_cast<unsigned long long>(source.flows_started()), static_cast<unsigned long long>(sent),
              static_cast<unsigned long long>(unroutable), unroutable_percent);
  if (sent == 0) {
    if (cfg.traffic.rate == 0) {
      std::fprintf(stderr, "bladesync traffic: nothing was delivered: the rate is 0 flows/s\n");
    } else {
      std::fprintf(stderr, "bladesync traffic: nothing was delivered: no chassis answered as processing traffic "
                           "(is the cluster running, and its control sockets in %s?)\n", cfg.source.c_str());
    }
    return 1;
  }
  if (unroutable_percent > f.max_unroutable_percent) {
    std::fprintf(stderr, "bladesync traffic: %.2f%% of the packets found no chassis to take them (more than "
                         "--max-unroutable %.2f%%)\n", unroutable_percent, f.max_unroutable_percent);
    return 1;
  }
  return 0;
}

// Whether this host can bind `ip` (any port): EADDRNOTAVAIL is what the
// daemon would hit at start when the address belongs to another machine.
Status AddressIsLocal(const std::string& ip) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  if (inet_pton(AF_INET, ip.c_str(), &sa.sin_addr) != 1) return InvalidArgument(ip + " is not an IPv4 address");
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Unavailable(std::string("socket: ") + std::strerror(errno));
  const int rc = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  const int err = errno;
  close(fd);
  if (rc != 0) return Unavailable(ip + " cannot be bound on this host: " + std::strerror(err));
  return Status::Ok();
}

// After a daemon that held addresses died (kill -9, a crash): they go now,
// not when it starts again. What a start does first, and idempotent.
int Release(const Flags& f) {
  if (f.words.size() != 1 || !f.chassis_given) {
    std::fprintf(stderr, "usage: bladesync release --config F --chassis N\n");
    return 2;
  }
  const std::string path = f.config.empty() ? kInstalledConfig : f.config;
  Result<ClusterConfig> c = LoadClusterConfigFile(path);
  if (!c.ok()) {
    std::fprintf(stderr, "%s\n", c.status().message().c_str());
    return 2;
  }
  if (!c->FindChassis(static_cast<uint8_t>(f.chassis))) {
    std::fprintf(stderr, "%s: no chassis %d in 'config chassis'\n", path.c_str(), f.chassis);
    return 2;
  }
  const size_t errors = ReleaseAddresses(c.value(), static_cast<uint8_t>(f.chassis));
  if (errors) {
    std::fprintf(stderr, "release: %zu steps failed (see above)\n", errors);
    return 1;
  }
  return 0;
}

int CheckConfig(const Flags& f) {
  if (f.words.size() != 2) {
    std::fprintf(stderr, "usage: bladesync check-config FILE [--chassis N]\n");
    return 2;
  }
  Result<ClusterConfig> c = LoadClusterConfigFile(f.words[1]);
  if (!c.ok()) {
    std::fprintf(stderr, "%s\n", c.status().message().c_str());
    return 1;
  }
  if (f.chassis_given) {
    const ChassisConfig* ch = c->FindChassis(static_cast<uint8_t>(f.chassis));
    if (!ch) {
      std::fprintf(stderr, "%s: no chassis %d in 'config chassis'\n", f.words[1].c_str(), f.chassis);
      return 1;
    }
    int bad = 0;
    for (const auto& [what, ip] : {std::pair<std::string, std::string>{"m1", ch->m1}, {"m2", ch->m2},
                                   {"backplane", ch->backplane}}) {
      if (ip == "inproc") continue;
      if (Status s = AddressIsLocal(ip); !s.ok()) {
        std::fprintf(stderr, "%s: chassis %d '%s': %s\n", f.words[1].c_str(), f.chassis, what.c_str(), s.message().c_str());
        ++bad;
      }
    }
    if (!c->notify_script.empty() && access(c->notify_script.c_str(), X_OK) != 0) {
      std::fprintf(stderr, "%s:%d: option 'notify-script' in 'config system ha': %s: %s\n", f.words[1].c_str(),
                   c->notify_script_line, c->notify_script.c_str(), std::strerror(errno));
      ++bad;
    }
    // The interfaces this chassis watches or holds addresses on must be this host's.
    LinuxInterfaces host;
    auto device_missing = [&](const std::string& name, int line, const char* option, const char* block) {
      const std::string dev = c->DeviceOf(name);
      if (host.Exists(dev)) return;
      auto ic = c->interface_config.find(name);
      const int at = line ? line : (ic != c->interface_config.end() ? ic->second.line : 0);
      std::fprintf(stderr, "%s:%d: option '%s' in '%s': interface '%s' (device %s) does not exist on this host\n",
                   f.words[1].c_str(), at, option, block, name.c_str(), dev.c_str());
      ++bad;
    };
    for (const std::string& name : c->monitor) device_missing(name, c->monitor_line, "monitor", "config system ha");
    for (const InterfaceConfig* ic : c->ClusterInterfaces()) {
      device_missing(ic->name, ic->line, "ip", ("config system interface / edit " + ic->name).c_str());
    }
    for (const LinkMonitorConfig& m : c->link_monitors) {
      device_missing(m.srcintf, m.line, "srcintf", ("config system link-monitor / edit " + m.name).c_str());
    }
    if (Result<CurveKeys> keys = CurveKeysFor(c.value(), static_cast<uint8_t>(f.chassis)); !keys.ok()) {
      std::fprintf(stderr, "%s\n", keys.status().message().c_str());
      ++bad;
    }
    if (bad) return 1;
  }
  std::printf("%s: ok (%zu chassis x %d slots%s, session-pickup %s, authentication %s%s)\n", f.words[1].c_str(),
              c->chassis.size(), c->slots,
              c->blade_workers > 1 ? (" x " + std::to_string(c->blade_workers) + " workers").c_str() : "",
              c->pickup.session_pickup ? "enable" : "disable",
              FabricAuthName(c->fabric_auth()),
              f.chassis_given ? (", chassis " + std::to_string(f.chassis) + "'s addresses are this host's").c_str() : "");
  for (const std::string& w : FabricWarnings(c.value())) std::fprintf(stderr, "warning: %s\n", w.c_str());
  for (const std::string& w : ConfigWarnings(c.value())) std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (c->fabric_auth() == ClusterConfig::FabricAuth::kOff) {
    std::fprintf(stderr, "warning: %s: the fabric is unauthenticated (%s)\n", f.words[1].c_str(),
                 c->authentication ? "loopback only; add 'set password'" : "'set authentication disable'");
  }
  return 0;
}

// Writes `text` to a new file (never over an existing one) with `mode`.
Status WriteNewFile(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return InvalidArgument(path + " exists: not overwriting a key (--force replaces the pair)");
    return Unavailable("cannot create " + path + ": " + std::strerror(errno));
  }
  const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool closed = close(fd) == 0;
  if (!ok || !closed) return Unavailable("cannot write " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

int Keygen(const Flags& f) {
  Result<CurveKeyPair> kp = GenerateCurveKeyPair();
  if (!kp.ok()) {
    std::fprintf(stderr, "bladesync keygen: %s\n", kp.status().message().c_str());
    return 2;
  }
  if (f.out.empty()) {
    std::printf("public-key %s\nprivate-key %s\n", kp->public_key.c_str(), kp->secret_key.c_str());
    return 0;
  }
  if (f.force) {  // replace on purpose: the old pair goes, the new one is written as new files
    for (const std::string& path : {f.out + ".key", f.out + ".pub"}) {
      if (unlink(path.c_str()) != 0 && errno != ENOENT) {
        std::fprintf(stderr, "bladesync keygen: cannot remove %s: %s\n", path.c_str(), std::strerror(errno));
        return 1;
      }
    }
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
  char abs[PATH_MAX];
  const std::string key_path = realpath((f.out + ".key").c_str(), abs) ? std::string(abs) : f.out + ".key";
  std::printf("wrote %s.pub and %s.key (0600)\nin the config: set public-key \"%s\" / set private-key-file \"%s\"\n",
              f.out.c_str(), f.out.c_str(), kp->public_key.c_str(), key_path.c_str());
  return 0;
}

}  // namespace

int RunCli(const std::vector<std::string>& args) {
  Flags f;
  std::string err;
  if (!ParseFlags(args, &f, &err)) {
    std::fprintf(stderr, "bladesync: %s (bladesync --help lists commands and options)\n", err.c_str());
    return 2;
  }
  if (f.version) {
    std::printf("bladesync %s (commit %s)\n", kVersion, kCommit);
    return 0;
  }
  if (f.help || (!f.words.empty() && f.words[0] == "help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (f.words.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string& cmd = f.words[0];
  if (cmd == "demo") {
    DemoOptions d;
    d.config_path = f.config;
    d.duration_s = f.duration;
    d.rate = f.rate;
    d.verbose = f.verbose;
    d.failover = !f.no_failover;
    return RunDemo(d);
  }
  if (cmd == "traffic") return Traffic(f);
  if (cmd == "keygen") return Keygen(f);
  if (cmd == "conntrack") return ConntrackTool(f.words, f.json);
  if (cmd == "check-config") return CheckConfig(f);
  if (cmd == "release") return Release(f);
  if (f.words == std::vector<std::string>{"execute", "ha", "upgrade"}) {
    UpgradeOptions o;
    if (f.restart_command.empty() || f.timeout < 1) {
      std::fprintf(stderr, "usage: bladesync execute ha upgrade --restart-command CMD [--timeout S (from 1, default 300)]\n");
      return 2;
    }
    if (int rc = ControlEndpoint(f, &o.endpoint)) return rc;
    o.restart_command = f.restart_command;
    o.timeout_s = f.timeout;
    return RollingUpgrade(o);
  }
  if (cmd == "get" || cmd == "diagnose" || cmd == "execute") return Control(f);
  std::fprintf(stderr, "bladesync: unknown command '%s'\n%s", cmd.c_str(), kUsage);
  return 2;
}

}  // namespace bladesync
