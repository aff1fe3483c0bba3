// The benchmarks' blade pair: an owner blade (chassis 1) and a mirror blade
// (chassis 2, same slot), each on its own thread with its real ZmqTransport
// over TCP on 127.0.0.1, as bladesyncd runs them.
//
//   ZmqBladePair p(1'000'000);
//   p.OnOwner([&] { p.owner().CreateSession(...); });
//   size_t held = p.OnMirror([&] { return p.mirror().standby(1)->store().live(); });
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <tuple>
#include <zmq.hpp>

#include "blades/blade_agent.h"
#include "fabric/zmq_transport.h"
#include "runtime/node_thread.h"

namespace bladesync {

class MapBook : public AddressBook {
 public:
  std::optional<std::string> Endpoint(NodeId n, Link l) const override {
    auto it = map_.find({n.chassis, n.slot, static_cast<int>(l)});
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }
  std::map<std::tuple<int, int, int>, std::string> map_;
};

class ZmqBladePair {
 public:
  // `tweak` adjusts both blades' configuration (for example session-table-reserve).
  explicit ZmqBladePair(uint32_t max_sessions, std::function<void(BladeConfig&)> tweak = {})
      : owner_thread_("owner"), mirror_thread_("mirror") {
    book_.map_[{1, 1, 0}] = "tcp://127.0.0.1:0";
    book_.map_[{2, 1, 0}] = "tcp://127.0.0.1:0";
    for (BladeConfig* c : {&owner_cfg_, &mirror_cfg_}) {
      c->peers = {1, 2};
      c->pickup.session_pickup = true;
      c->max_sessions = max_sessions * 2;
      c->change_log_capacity = max_sessions * 4;
      c->window = 1u << 18;
      c->hb_interval = milliseconds(200);
      if (tweak) tweak(*c);
    }
    owner_cfg_.chassis = 1;
    mirror_cfg_.chassis = 2;
    ZmqOptions zo;
    zo.send_hwm = 100000;
    zo.recv_hwm = 100000;
    owner_tr_ = std::make_unique<ZmqTransport>(ctx_, owner_thread_.loop(), NodeId{1, 1}, book_, CurveKeys{}, zo);
    mirror_tr_ = std::make_unique<ZmqTransport>(ctx_, mirror_thread_.loop(), NodeId{2, 1}, book_, CurveKeys{}, zo);
    if (!owner_tr_->Bind().ok() || !mirror_tr_->Bind().ok()) std::abort();
    book_.map_[{1, 1, 0}] = owner_tr_->bound_endpoint(Link::kM1);
    book_.map_[{2, 1, 0}] = mirror_tr_->bound_endpoint(Link::kM1);
    owner_ = std::make_unique<BladeAgent>(owner_cfg_, owner_thread_.loop(), *owner_tr_);
    mirror_ = std::make_unique<BladeAgent>(mirror_cfg_, mirror_thread_.loop(), *mirror_tr_);
    owner_->Start();
    mirror_->Start();
    owner_thread_.Start();
    mirror_thread_.Start();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // connections and the opening bulk syncs
  }
  ~ZmqBladePair() {
    owner_thread_.Call([&] { owner_.reset(); owner_tr_->Close(); });
    mirror_thread_.Call([&] { mirror_.reset(); mirror_tr_->Close(); });
    owner_thread_.Stop();
    mirror_thread_.Stop();
  }

  template <typename F>
  auto OnOwner(F&& fn) { return owner_thread_.Call(std::forward<F>(fn)); }
  template <typename F>
  auto OnMirror(F&& fn) { return mirror_thread_.Call(std::forward<F>(fn)); }
  BladeAgent& owner() { return *owner_; }
  BladeAgent& mirror() { return *mirror_; }
  AsioEventLoop& owner_loop() { return owner_thread_.loop(); }
  Nanos link_lost_after() const { return owner_cfg_.link_lost_after(); }

  // What the mirror holds of the owner (call from any thread).
  size_t MirrorLive() { return OnMirror([&] { return mirror_->standby(1)->store().live(); }); }
  // Polls until the mirror holds `want` sessions and is in sync.
  void WaitMirror(size_t want) {
    while (!OnMirror([&] { return mirror_->standby(1)->in_sync() && mirror_->standby(1)->store().live() >= want; })) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  // The mirror blade replaced (a new process in the same slot): a fresh agent
  // on the same transport, which asks the owner for a bulk sync. Runs on the
  // mirror's thread; the returned time is when the new agent started.
  std::chrono::steady_clock::time_point ReplaceMirror() {
    return OnMirror([&] {
      mirror_.reset();
      mirror_ = std::make_unique<BladeAgent>(mirror_cfg_, mirror_thread_.loop(), *mirror_tr_);
      const auto t0 = std::chrono::steady_clock::now();
      mirror_->Start();
      return t0;
    });
  }

 private:
  FabricContext ctx_{1};
  MapBook book_;
  NodeThread owner_thread_, mirror_thread_;
  BladeConfig owner_cfg_, mirror_cfg_;
  std::unique_ptr<ZmqTransport> owner_tr_, mirror_tr_;
  std::unique_ptr<BladeAgent> owner_, mirror_;
};

// An owner's work in bursts, as bladesyncd's owner meets it: the kernel
// event path hands it up to 1024 events a wake (conntrack_source.cc), the
// manager a packet batch of up to 512 (ingress_batch), and it goes back to
// its loop, where the stream's acks and ZeroMQ's traffic are served. Runs
// fn(i) for every i in [from, to) on `loop`, kBurst at a time, flushing
// `agent` after each burst; then `done` on the loop. (One loop
// turn for a million creates stalled the stream at its window until the
// turn ended, so owner and mirror took turns instead of overlapping.)
inline constexpr uint32_t kBurst = 1024;
template <typename F>
void RunInBursts(AsioEventLoop& loop, BladeAgent& agent, uint32_t from, uint32_t to, F fn,
                 std::function<void()> done) {
  struct Work {
    AsioEventLoop& loop;
    BladeAgent& agent;
    uint32_t to;
    F fn;
    std::function<void()> done;
    void Burst(uint32_t at, const std::shared_ptr<Work>& self) {
      const uint32_t end = std::min(to, at + kBurst);
      for (uint32_t i = at; i < end; ++i) fn(i);
      agent.Flush();
      if (end < to) {
        loop.Post([self, end] { self->Burst(end, self); });
      } else {
        done();
      }
    }
  };
  auto w = std::make_shared<Work>(Work{loop, agent, to, std::move(fn), std::move(done)});
  loop.Post([w, from] { w->Burst(from, w); });
}

// The i-th benchmark session: distinct IPv4 keys for up to 2^24 sessions.
inline SessionFacts BenchSession(uint32_t i) {
  SessionFacts f;
  f.key = SessionKey::V4(0x0a000000 + i, 0xc6336401, static_cast<uint16_t>(1024 + i % 60000), 443, kProtoTcp);
  return f;
}

// CPU seconds of this process so far (every thread: both blades and ZeroMQ's).
inline double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Median, min and max of a set of runs.
struct Spread {
  double median, min, max;
};
inline Spread SpreadOf(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

}  // namespace bladesync
