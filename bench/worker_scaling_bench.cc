// Sync throughput of a blade pair with W workers per blade (blade-workers),
// owner and mirror in separate processes, over ZeroMQ TCP on loopback.
//
//   bazel run -c opt //bench:worker_scaling_bench -- [sessions] [runs] [workers...]
//
// Each run forks an owner process (chassis 1) and a mirror process (chassis
// 2), each with W workers: W blade threads with their own BladeAgent and
// ZmqTransport, worker w of the owner streaming to worker w of the mirror,
// as bladesyncd runs them. Each process has one ZeroMQ I/O thread of its
// own. Nothing is pinned: the kernel's scheduler shares the machine's cores
// among both processes' threads, as it would two daemons on one host.
// Every owner worker creates sessions/W sessions in bursts of 1024, as
// bladesyncd's event path hands them over (RunInBursts); the clock runs
// from the start signal until the mirror process holds them all, in sync.
// CPU: both processes' CPU time over that interval, per delta. The worker
// counts alternate run by run (side by side on the same noisy machine).
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/zmq_pair.h"
#include "core/log.h"

namespace bladesync {
namespace {

// Lines over a pipe between the parent and a child.
void WriteLine(int fd, const std::string& s) {
  const std::string l = s + "\n";
  if (write(fd, l.data(), l.size()) != static_cast<ssize_t>(l.size())) std::abort();
}
std::string ReadLine(int fd) {
  std::string s;
  char c;
  while (read(fd, &c, 1) == 1 && c != '\n') s += c;
  return s;
}

int64_t MonotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One process's blade with W workers. Protocol with the parent: the child
// writes its workers' endpoints; reads the peer's; writes "ready" once every
// stream is up; reads "go"; the owner creates and writes "t0 <ns>", the
// mirror writes "t1 <ns>" when it holds everything; both read "stop" and
// write "cpu <seconds since go>".
void RunChild(uint8_t chassis, int workers, uint32_t per_worker, bool reserve, int in, int out) {
  SetLogLevel(LogLevel::kError);
  FabricContext ctx{1};
  MapBook book;
  std::vector<std::unique_ptr<NodeThread>> threads;
  std::vector<std::unique_ptr<ZmqTransport>> transports;
  std::vector<std::unique_ptr<BladeAgent>> agents;
  ZmqOptions zo;
  zo.send_hwm = 100000;
  zo.recv_hwm = 100000;
  for (int w = 0; w < workers; ++w) {
    const uint8_t slot = static_cast<uint8_t>(w + 1);
    book.map_[{chassis, slot, 0}] = "tcp://127.0.0.1:0";
    threads.push_back(std::make_unique<NodeThread>("worker" + std::to_string(w)));
    transports.push_back(
        std::make_unique<ZmqTransport>(ctx, threads.back()->loop(), NodeId{chassis, slot}, book, CurveKeys{}, zo));
    if (!transports.back()->Bind().ok()) std::abort();
    WriteLine(out, std::to_string(slot) + " " + transports.back()->bound_endpoint(Link::kM1));
  }
  const uint8_t peer = chassis == 1 ? 2 : 1;
  for (int w = 0; w < workers; ++w) {
    const std::string l = ReadLine(in);
    const size_t sp = l.find(' ');
    book.map_[{peer, std::stoi(l.substr(0, sp)), 0}] = l.substr(sp + 1);
  }
  for (int w = 0; w < workers; ++w) {
    BladeConfig c;
    c.chassis = chassis;
    c.slot = static_cast<uint8_t>(w + 1);
    c.peers = {1, 2};
    c.pickup.session_pickup = true;
    c.max_sessions = per_worker * 2;
    c.change_log_capacity = per_worker * 4;
    c.window = 1u << 18;
    c.hb_interval = milliseconds(200);
    c.table_reserve = reserve ? per_worker : 0;
    agents.push_back(std::make_unique<BladeAgent>(c, threads[w]->loop(), *transports[w]));
    agents.back()->Start();
    threads[w]->Start();
  }
  // Every stream up: each mirror has heard its owner (the opening bulk sync).
  auto all = [&](auto&& pred) {
    for (int w = 0; w < workers; ++w) {
      if (!threads[w]->Call([&] { return pred(*agents[w]); })) return false;
    }
    return true;
  };
  while (!all([&](BladeAgent& a) { return a.standby(peer) && a.standby(peer)->in_sync() && a.ready(); })) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  WriteLine(out, "ready");
  if (ReadLine(in) != "go") std::abort();
  const double cpu0 = ProcessCpuSeconds();
  if (chassis == 1) {
    WriteLine(out, "t0 " + std::to_string(MonotonicNs()));
    for (int w = 0; w < workers; ++w) {
      BladeAgent& a = *agents[w];
      const uint32_t base = static_cast<uint32_t>(w) * per_worker, end = base + per_worker;
      RunInBursts(
          threads[w]->loop(), a, base, end,
          [&a, end](uint32_t i) {
            if (i + 8 < end) a.owned().Prefetch(BenchSession(i + 8).key);
            a.CreateSession(BenchSession(i), SessionState{kTcpSynSent, 0, 3600});
          },
          [] {});
    }
  } else {
    while (!all([&](BladeAgent& a) {
      const StandbyTable* so = a.standby(1);
      return so->in_sync() && so->store().live() >= per_worker;
    })) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    WriteLine(out, "t1 " + std::to_string(MonotonicNs()));
  }
  if (ReadLine(in) != "stop") std::abort();
  WriteLine(out, "cpu " + std::to_string(ProcessCpuSeconds() - cpu0));
  for (int w = 0; w < workers; ++w) {
    threads[w]->Call([&] {
      agents[w].reset();
      transports[w]->Close();
    });
    threads[w]->Stop();
  }
  std::_Exit(0);
}

struct Child {
  pid_t pid;
  int to, from;
};

Child Fork(uint8_t chassis, int workers, uint32_t per_worker, bool reserve) {
  int down[2], up[2];
  if (pipe(down) != 0 || pipe(up) != 0) std::abort();
  const pid_t pid = fork();
  if (pid == 0) {
    close(down[1]);
    close(up[0]);
    RunChild(chassis, workers, per_worker, reserve, down[0], up[1]);
  }
  close(down[0]);
  close(up[1]);
  return {pid, down[1], up[0]};
}

struct Run {
  double seconds, cpu_seconds;
};

Run RunOnce(uint32_t n, int workers, bool reserve) {
  const uint32_t per = n / static_cast<uint32_t>(workers);
  Child owner = Fork(1, workers, per, reserve), mirror = Fork(2, workers, per, reserve);
  std::vector<std::string> oe, me;
  for (int w = 0; w < workers; ++w) oe.push_back(ReadLine(owner.from));
  for (int w = 0; w < workers; ++w) me.push_back(ReadLine(mirror.from));
  for (const std::string& l : me) WriteLine(owner.to, l);
  for (const std::string& l : oe) WriteLine(mirror.to, l);
  if (ReadLine(owner.from) != "ready" || ReadLine(mirror.from) != "ready") std::abort();
  WriteLine(mirror.to, "go");
  WriteLine(owner.to, "go");
  const std::string t0 = ReadLine(owner.from), t1 = ReadLine(mirror.from);
  WriteLine(owner.to, "stop");
  WriteLine(mirror.to, "stop");
  const std::string c0 = ReadLine(owner.from), c1 = ReadLine(mirror.from);
  waitpid(owner.pid, nullptr, 0);
  waitpid(mirror.pid, nullptr, 0);
  for (int fd : {owner.to, owner.from, mirror.to, mirror.from}) close(fd);
  const double s = (std::stoll(t1.substr(3)) - std::stoll(t0.substr(3))) / 1e9;
  return {s, std::stod(c0.substr(4)) + std::stod(c1.substr(4))};
}

}  // namespace
}  // namespace bladesync

int main(int argc, char** argv) {
  using namespace bladesync;
  const uint32_t n = argc > 1 ? static_cast<uint32_t>(std::atoi(argv[1])) : 1'000'000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  std::vector<int> counts;
  for (int i = 3; i < argc; ++i) counts.push_back(std::atoi(argv[i]));
  if (counts.empty()) counts = {1, 2};
  std::printf("worker_scaling_bench: %u creates per run, owner and mirror in separate processes, %ld cores online\n", n,
              sysconf(_SC_NPROCESSORS_ONLN));
  for (bool reserve : {false, true}) {
    std::map<int, std::vector<double>> rate, cpu;
    for (int r = 0; r < runs; ++r) {
      for (int w : counts) {
        const Run x = RunOnce(n, w, reserve);
        rate[w].push_back(n / x.seconds / 1e6);
        cpu[w].push_back(x.cpu_seconds / n * 1e6);
      }
    }
    // Cores kept busy (deltas/s x CPU per delta), run by run: what one
    // worker leaves idle is what more workers can use.
    auto busy = [&](int w) {
      std::vector<double> v;
      for (size_t i = 0; i < rate[w].size(); ++i) v.push_back(rate[w][i] * cpu[w][i]);
      return SpreadOf(v);
    };
    const double cores = static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
    for (int w : counts) {
      const Spread s = SpreadOf(rate[w]), c = SpreadOf(cpu[w]);
      std::vector<double> ratio;
      for (size_t i = 0; i < rate[w].size(); ++i) ratio.push_back(rate[w][i] / rate[counts.front()][i]);
      const Spread q = SpreadOf(ratio);
      std::printf("tables %s, %d worker%s: %.2f M deltas/s (min %.2f, max %.2f); %.2fx %d worker%s (min %.2fx, max %.2fx, "
                  "run by run); CPU %.3f us/delta both processes (min %.3f, max %.3f)\n",
                  reserve ? "reserved" : "grown", w, w == 1 ? "" : "s", s.median, s.min, s.max, q.median,
                  counts.front(), counts.front() == 1 ? "" : "s", q.min, q.max, c.median, c.min, c.max);
      const Spread b = busy(w);
      std::printf("  cores busy %.2f of %.0f (min %.2f, max %.2f)\n", b.median, cores, b.min, b.max);
    }
  }
  return 0;
}
