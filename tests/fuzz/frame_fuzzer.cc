// libFuzzer target: arbitrary bytes as frames from a peer, into a mirror
// blade (verify, decode, apply, ack, query), with its timers running. After
// every input the standby store must be consistent; nothing may crash.
//
//   bazel build --config=fuzz //tests/fuzz:frame_fuzzer
//   bazel-bin/tests/fuzz/frame_fuzzer tests/fuzz/corpus -max_total_time=60
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "blades/blade_agent.h"
#include "core/log.h"
#include "sim/sim_event_loop.h"
#include "sim/sim_network.h"

namespace bladesync {
namespace {

struct Harness {
  Harness() : net(sched, 1), loop(sched), transport(net.AddNode(NodeId{2, 1}, loop)) {
    BladeConfig cfg;
    cfg.group_id = 7;
    cfg.chassis = 2;
    cfg.slot = 1;
    cfg.peers = {1, 2, 3};
    cfg.pickup.session_pickup = true;
    cfg.pickup.connectionless = true;
    cfg.max_sessions = 1 << 16;  // keep the fuzzer's memory bounded
    cfg.change_log_capacity = 1 << 12;
    agent = std::make_unique<BladeAgent>(cfg, loop, transport);
    agent->Start();
  }
  SimScheduler sched;
  SimNetwork net;
  SimEventLoop loop;
  SimTransport& transport;
  std::unique_ptr<BladeAgent> agent;
};

Harness* g_harness = nullptr;
uint64_t g_inputs = 0;

}  // namespace
}  // namespace bladesync

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bladesync;
  if (!g_harness || ++g_inputs % 5000 == 0) {  // fresh state now and then
    SetLogLevel(LogLevel::kError);
    delete g_harness;
    g_harness = new Harness();
  }
  // The first byte picks the link and who the transport says sent it.
  const uint8_t sel = size ? data[0] : 0;
  FrameMeta meta{(sel & 1) ? Link::kM2 : Link::kM1, (sel & 2) ? static_cast<int>(1 + (sel >> 2) % 3) : -1};
  g_harness->agent->OnFrame(meta, std::span<const uint8_t>(data + (size ? 1 : 0), size ? size - 1 : 0));
  g_harness->sched.RunFor(milliseconds(3));  // acks, queries, sweeps
  for (uint8_t owner : {1, 3}) {
    const StandbyTable* so = g_harness->agent->standby(owner);
    const std::string bad = so->store().CheckConsistency();
    if (!bad.empty()) {
      std::fprintf(stderr, "standby store of chassis %d inconsistent: %s\n", owner, bad.c_str());
      std::abort();
    }
  }
  return 0;
}
