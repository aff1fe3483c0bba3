// Sync throughput of one blade pair over real ZeroMQ TCP on loopback, and the
// raw ZeroMQ ceiling for the same bytes and message sizes, in the same run.
//
//   bazel run -c opt //bench:zmq_throughput_bench -- [sessions] [runs]
//
// bladesync: the owner creates N sessions (or a create/update/delete mix);
// the clock stops when the mirror has applied the last one. Raw: PUSH/PULL
// of as many messages of the same size as the frames bladesync sent.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "blades/blade_agent.h"
#include "core/log.h"
#include "fabric/zmq_transport.h"
#include "runtime/node_thread.h"

namespace bladesync {
namespace {

class MapBook : public AddressBook {
 public:
  std::optional<std::string> Endpoint(NodeId n, Link l) const override {
    auto it = map_.find({n.chassis, n.slot, static_cast<int>(l)});
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }
  std::map<std::tuple<int, int, int>, std::string> map_;
};

struct PairResult {
  double seconds;
  uint64_t frames;
  uint64_t bytes;
};

PairResult RunPair(uint32_t n, bool mix) {
  zmq::context_t ctx(1);
  MapBook book;
  book.map_[{1, 1, 0}] = "tcp://127.0.0.1:0";
  book.map_[{2, 1, 0}] = "tcp://127.0.0.1:0";
  NodeThread ta("owner"), tb("mirror");
  BladeConfig ca, cb;
  for (BladeConfig* c : {&ca, &cb}) {
    c->peers = {1, 2};
    c->pickup.session_pickup = true;
    c->max_sessions = n * 2;
    c->resend_queue = n * 4;
    c->window = 1u << 18;
    c->hb_interval = milliseconds(200);
  }
  ca.chassis = 1;
  cb.chassis = 2;
  ZmqOptions zo;
  zo.send_hwm = 100000;
  zo.recv_hwm = 100000;
  auto tra = std::make_unique<ZmqTransport>(ctx, ta.loop(), NodeId{1, 1}, book, CurveKeys{}, zo);
  auto trb = std::make_unique<ZmqTransport>(ctx, tb.loop(), NodeId{2, 1}, book, CurveKeys{}, zo);
  if (!tra->Bind().ok() || !trb->Bind().ok()) std::abort();
  book.map_[{1, 1, 0}] = tra->bound_endpoint(Link::kM1);
  book.map_[{2, 1, 0}] = trb->bound_endpoint(Link::kM1);
  auto a = std::make_unique<BladeAgent>(ca, ta.loop(), *tra);
  auto b = std::make_unique<BladeAgent>(cb, tb.loop(), *trb);
  a->Start();
  b->Start();
  ta.Start();
  tb.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // connections and the opening snapshots
  const uint64_t frames0 = ta.Call([&] { return a->counters().frames_sent.get(); });
  const uint64_t bytes0 = ta.Call([&] { return a->counters().bytes_sent.get(); });
  const auto t0 = std::chrono::steady_clock::now();
  // The owner's loop creates sessions in chunks, letting the loop flush.
  ta.Call([&] {
    for (uint32_t i = 0; i < n; ++i) {
      SessionFacts f;
      f.key = SessionKey::V4(0x0a000000 + i, 0xc6336401, static_cast<uint16_t>(1024 + i % 60000), 443, kProtoTcp);
      const uint32_t id = a->CreateSession(f, SessionState{kTcpSynSent, 0, 3600});
      if (mix && i % 3 == 1) a->ChangeState(id, SessionState{kTcpEstablished, 0, 3600});
      if (mix && i % 3 == 2) a->DeleteSession(id, kDeleteClosed);
    }
    a->Flush();
    return 0;
  });
  const size_t want = mix ? n - n / 3 : n;
  while (tb.Call([&] { return b->standby(1)->store().live(); }) < want) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  PairResult r{s, ta.Call([&] { return a->counters().frames_sent.get(); }) - frames0,
               ta.Call([&] { return a->counters().bytes_sent.get(); }) - bytes0};
  ta.Call([&] { a.reset(); tra->Close(); return 0; });
  tb.Call([&] { b.reset(); trb->Close(); return 0; });
  ta.Stop();
  tb.Stop();
  return r;
}

// The same number of messages of the same size, PUSH -> PULL over TCP.
double RunRaw(uint64_t messages, size_t size) {
  zmq::context_t ctx(1);
  zmq::socket_t pull(ctx, zmq::socket_type::pull), push(ctx, zmq::socket_type::push);
  pull.set(zmq::sockopt::rcvhwm, 100000);
  push.set(zmq::sockopt::sndhwm, 100000);
  pull.bind("tcp://127.0.0.1:0");
  push.connect(pull.get(zmq::sockopt::last_endpoint));
  std::vector<uint8_t> buf(size, 0x5a);
  std::thread reader([&] {
    zmq::message_t m;
    for (uint64_t i = 0; i < messages; ++i) (void)pull.recv(m);
  });
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < messages; ++i) push.send(zmq::const_buffer(buf.data(), buf.size()), zmq::send_flags::none);
  reader.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  push.set(zmq::sockopt::linger, 0);
  pull.set(zmq::sockopt::linger, 0);
  return s;
}

}  // namespace
}  // namespace bladesync

int main(int argc, char** argv) {
  using namespace bladesync;
  SetLogLevel(LogLevel::kError);
  const uint32_t n = argc > 1 ? static_cast<uint32_t>(std::atoi(argv[1])) : 1'000'000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  for (bool mix : {false, true}) {
    std::vector<double> sync_rate, raw_rate, ratio;
    double bytes_per_delta = 0;
    for (int r = 0; r < runs; ++r) {
      const PairResult p = RunPair(n, mix);
      const uint64_t frames = std::max<uint64_t>(p.frames, 1);
      const double raw_s = RunRaw(frames, p.bytes / frames);
      sync_rate.push_back(n / p.seconds);
      raw_rate.push_back(n / raw_s);  // the same bytes in the same number of messages
      ratio.push_back(raw_s / p.seconds);
      bytes_per_delta = static_cast<double>(p.bytes) / n;
    }
    std::sort(sync_rate.begin(), sync_rate.end());
    std::sort(raw_rate.begin(), raw_rate.end());
    std::sort(ratio.begin(), ratio.end());
    const size_t m = sync_rate.size() / 2;
    std::printf("%s, %u deltas, %d runs: bladesync %.2f M deltas/s (min %.2f, max %.2f); raw ZeroMQ, same bytes "
                "%.2f M/s (min %.2f, max %.2f); bladesync/raw %.0f%% (min %.0f%%, max %.0f%%); %.1f wire bytes/delta\n",
                mix ? "create/update/delete mix" : "creates only", n, runs, sync_rate[m] / 1e6, sync_rate.front() / 1e6,
                sync_rate.back() / 1e6, raw_rate[m] / 1e6, raw_rate.front() / 1e6, raw_rate.back() / 1e6,
                100 * ratio[m], 100 * ratio.front(), 100 * ratio.back(), bytes_per_delta);
  }
  return 0;
}
