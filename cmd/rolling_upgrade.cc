#include "cmd/rolling_upgrade.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "runtime/control_server.h"

namespace bladesync {
namespace {

namespace pt = boost::property_tree;
// Seconds on the monotonic clock (core/clock.h).
double Now() { return static_cast<double>(MonotonicNow().count()) / 1e9; }

// What the driver reads of a chassis's status: only fields release 0.2.0
// already reports, since the chassis it starts on runs the old release.
struct PeerState {
  int chassis = 0;
  bool alive = false, ready = false;
  std::string role, version;
  double uptime_s = -1;  // -1: not known (lost)
};
struct ChassisState {
  int chassis = 0;
  std::string mode, role, version;
  double uptime_s = -1;  // -1: not reported (release 0.2.0)
  bool ready = false;
  uint64_t owned = 0;  // sessions its live blades own
  std::vector<PeerState> peers;
  std::vector<std::pair<int, bool>> mirrors;  // (owner, every live blade holds it in sync or adopted)
  const PeerState* Peer(int c) const {
    for (const PeerState& p : peers)
      if (p.chassis == c) return &p;
    return nullptr;
  }
  bool InSyncWith(int owner) const {
    for (const auto& [o, ok] : mirrors)
      if (o == owner) return ok;
    return false;
  }
};

class Driver {
 public:
  explicit Driver(const UpgradeOptions& o) : o_(o), start_(Now()) {}

  int Run() {
    std::optional<ChassisState> s = Read();
    if (!s) return Fail(3, "the chassis does not answer on " + o_.endpoint + ": " + last_error_);
    if (s->mode != "a-p") return Fail(1, "execute ha upgrade drives an active-passive cluster (this one is " + s->mode + ")");
    if (s->role != "primary") return Fail(1, "run it on the primary (this chassis is " + s->role + ")");
    const int self = s->chassis;
    std::vector<int> others;
    for (const PeerState& p : s->peers) {
      if (!p.alive) return Fail(1, "peer chassis " + std::to_string(p.chassis) + " is lost: bring it back first");
      others.push_back(p.chassis);
    }
    if (others.empty()) return Fail(1, "this chassis has no peer: nothing takes its traffic while it restarts");
    Say("chassis " + std::to_string(self) + " is primary; upgrading chassis " + List(others) +
        " first, then handing over, then chassis " + std::to_string(self));
    for (int c : others) {
      if (!RestartPeer(c)) return 1;
    }
    // The handover: this chassis asks to step down, and the cluster moves the
    // role once a successor holds every stream of it.
    if (!Control("execute ha failover set")) return Fail(1, "execute ha failover set was refused: " + last_error_);
    Say("asked chassis " + std::to_string(self) + " to step down (execute ha failover set)");
    int successor = 0;
    if (!WaitFor("a peer to take the primary role and this chassis to hand its sessions over", [&](const ChassisState& st) {
          if (st.role != "secondary" || st.owned != 0) return false;
          for (const PeerState& p : st.peers)
            if (p.alive && p.role == "primary") successor = p.chassis;
          return successor != 0;
        })) {
      Control("execute ha failover unset");
      return Fail(1, "the handover did not happen (manual failover unset again); every chassis but this one is upgraded");
    }
    Say("chassis " + std::to_string(successor) + " is primary; chassis " + std::to_string(self) + " owns nothing now");
    const double asked = Now();
    if (!Restart(self)) return 1;
    auto since = [&] { return Now() - asked; };
    if (!WaitFor("chassis " + std::to_string(self) + " to come back in sync (secondary to chassis " +
                     std::to_string(successor) + ", or primary again with override)",
                 [&](const ChassisState& st) {
                   // Younger than the restart; a release that does not say
                   // its age (0.2.0) is taken at the restart command's word
                   // that it returned once the old daemon stopped.
                   const bool restarted = st.uptime_s < 0 || st.uptime_s <= since();
                   if (!restarted || !st.ready) return false;
                   for (const PeerState& p : st.peers)
                     if (!p.alive || !p.ready) return false;
                   if (st.role == "secondary") {
                     const PeerState* p = st.Peer(successor);
                     return p && p->role == "primary" && st.InSyncWith(successor);
                   }
                   // With override enable it took the role back (a second
                   // handover): done once the others are its secondaries.
                   if (st.role != "primary") return false;
                   for (const PeerState& p : st.peers)
                     if (p.role != "secondary") return false;
                   return true;
                 })) {
      return Fail(1, "chassis " + std::to_string(self) + " did not come back in sync");
    }
    std::optional<ChassisState> end = Read();
    if (!end) return Fail(3, "the chassis does not answer: " + last_error_);
    std::string versions = "chassis " + std::to_string(self) + " " + (end->version.empty() ? "?" : end->version);
    bool mixed = false;
    for (const PeerState& p : end->peers) {
      versions += ", chassis " + std::to_string(p.chassis) + " " + p.version;
      mixed |= p.version != end->version;
    }
    if (mixed) return Fail(1, "done, but the versions still differ: " + versions);
    int primary = end->role == "primary" ? self : 0;
    for (const PeerState& p : end->peers)
      if (p.role == "primary") primary = p.chassis;
    Say("done: " + versions + "; chassis " + std::to_string(primary) + " is primary");
    return 0;
  }

 private:
  // A secondary: restarted by the command, back (a new uptime), ready and
  // holding this chassis's streams again.
  bool RestartPeer(int c) {
    const std::optional<ChassisState> before = Read();
    const std::string was = before && before->Peer(c) ? before->Peer(c)->version : "?";
    const double asked = Now();
    if (!Restart(c)) return false;
    auto since = [&] { return Now() - asked; };
    if (!WaitFor("chassis " + std::to_string(c) + " to come back and take a bulk sync", [&](const ChassisState& st) {
          const PeerState* p = st.Peer(c);
          // Back: heard again, younger than the restart. In sync: ready (its
          // bulk syncs done) and a secondary; the handover later checks again
          // that it holds every stream before it moves the role.
          return p && p->alive && p->uptime_s >= 0 && p->uptime_s <= since() && p->ready && p->role == "secondary" &&
                 st.role == "primary";
        })) {
      Fail(1, "chassis " + std::to_string(c) + " did not come back in sync (this chassis is still primary)");
      return false;
    }
    const std::optional<ChassisState> after = Read();
    Say("chassis " + std::to_string(c) + " is back: " + was + " -> " +
        (after && after->Peer(c) ? after->Peer(c)->version : std::string("?")));
    return true;
  }

  // Runs the restart command in a process group of its own, its output the
  // operator's: a daemon it leaves in the background does not hold it up,
  // and one that hangs is killed with everything it started.
  bool Restart(int c) {
    std::string cmd = o_.restart_command;
    for (size_t at; (at = cmd.find("{chassis}")) != std::string::npos;) cmd.replace(at, 9, std::to_string(c));
    Say("restarting chassis " + std::to_string(c) + ": " + cmd);
    std::fflush(stdout);
    const std::string script = "BLADESYNC_CHASSIS=" + std::to_string(c) + "; export BLADESYNC_CHASSIS; " + cmd;
    const pid_t pid = fork();
    if (pid < 0) return Fail(1, std::string("fork: ") + std::strerror(errno)), false;
    if (pid == 0) {
      setpgid(0, 0);
      const int null = open("/dev/null", O_RDONLY);
      if (null >= 0) dup2(null, 0);
      execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    setpgid(pid, pid);
    const double deadline = Now() + o_.timeout_s;
    int status = 0;
    pid_t done = 0;
    while ((done = waitpid(pid, &status, WNOHANG)) == 0 && Now() < deadline) usleep(20000);
    const std::string what = "the restart command for chassis " + std::to_string(c) + " (" + cmd + ")";
    if (done == 0) {
      kill(-pid, SIGKILL);  // the shell and whatever it started
      waitpid(pid, &status, 0);
      return Fail(1, what + " did not finish within " + std::to_string(o_.timeout_s) + " s: killed with what it started"), false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return Fail(1, what + (WIFEXITED(status) ? " exited " + std::to_string(WEXITSTATUS(status)) : std::string(" was killed"))),
             false;
    }
    return true;
  }

  bool WaitFor(const std::string& what, const std::function<bool(const ChassisState&)>& done) {
    const double deadline = Now() + o_.timeout_s;
    Say("waiting for " + what);
    while (Now() < deadline) {
      if (std::optional<ChassisState> s = Read(); s && done(*s)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    Say("timed out after " + std::to_string(o_.timeout_s) + " s waiting for " + what +
        (last_error_.empty() ? "" : " (last: " + last_error_ + ")"));
    return false;
  }

  bool Control(const std::string& words) {
    Result<std::string> r = ControlRequest(o_.endpoint, "json " + words, 3000);
    if (!r.ok()) {
      last_error_ = r.status().message();
      return false;
    }
    if (r->rfind("{\"error\":", 0) == 0) {
      last_error_ = r.value();
      return false;
    }
    return true;
  }

  std::optional<ChassisState> Read() {
    Result<std::string> r = ControlRequest(o_.endpoint, "json get system ha status", 3000);
    if (!r.ok()) {
      last_error_ = r.status().message();
      return std::nullopt;
    }
    try {
      std::istringstream in(r.value());
      pt::ptree t;
      pt::read_json(in, t);
      ChassisState s;
      s.chassis = t.get<int>("chassis");
      s.mode = t.get<std::string>("mode");
      s.role = t.get<std::string>("role");
      s.ready = t.get<bool>("ready");
      s.version = t.get<std::string>("version", "");
      s.uptime_s = t.get<double>("uptime_s", -1);
      std::map<int, bool> mirrors;
      for (const auto& [_, b] : t.get_child("blades")) {
        if (!b.get<bool>("live")) continue;
        s.owned += b.get<uint64_t>("owned");
        std::map<int, bool> held;
        for (const auto& [__, m] : b.get_child("standby")) {
          held[m.get<int>("owner")] = m.get<bool>("in_sync") || m.get<bool>("adopted");
        }
        for (const auto& [__, p] : t.get_child("peers")) {
          const int o = p.get<int>("chassis");
          const bool ok = held.count(o) && held[o];
          mirrors[o] = mirrors.count(o) ? mirrors[o] && ok : ok;
        }
      }
      s.mirrors.assign(mirrors.begin(), mirrors.end());
      for (const auto& [_, p] : t.get_child("peers")) {
        PeerState ps;
        ps.chassis = p.get<int>("chassis");
        ps.alive = p.get<bool>("alive");
        ps.role = p.get<std::string>("role");
        ps.ready = p.get<bool>("ready");
        ps.version = p.get<std::string>("version", "");
        ps.uptime_s = p.get<double>("uptime_s", -1);
        s.peers.push_back(ps);
      }
      last_error_.clear();
      return s;
    } catch (const std::exception& e) {
      last_error_ = std::string("unreadable status: ") + e.what();
      return std::nullopt;
    }
  }

  void Say(const std::string& what) {
    std::printf("[%6.1fs] %s\n", Now() - start_, what.c_str());
    std::fflush(stdout);
  }
  int Fail(int code, const std::string& why) {
    std::fprintf(stderr, "bladesync execute ha upgrade: %s\n", why.c_str());
    return code;
  }
  static std::string List(const std::vector<int>& v) {
    std::string s;
    for (int c : v) s += (s.empty() ? "" : ", ") + std::to_string(c);
    return s;
  }

  const UpgradeOptions& o_;
  const double start_;
  std::string last_error_;
};

}  // namespace

int RollingUpgrade(const UpgradeOptions& o) { return Driver(o).Run(); }

}  // namespace bladesync
