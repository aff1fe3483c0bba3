// The split-brain probe: a peer is alive only when its daemon answers, not
// when the kernel completes a TCP handshake for a daemon that hangs
// (issue 15 point 13: a SIGSTOPped chassis still looked alive).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "runtime/node_thread.h"
#include "runtime/peer_check.h"

namespace bladesync {
namespace {

bool ProbeFrom(NodeThread& prober, PeerCheck& pc, const std::string& addr, Nanos timeout) {
  std::promise<bool> result;
  prober.loop().Post([&] { pc.Probe(addr, timeout, [&](bool up) { result.set_value(up); }); });
  return result.get_future().get();
}

TEST(PeerCheck, AliveOnlyWhenTheDaemonsLoopAnswers) {
  NodeThread peer("peer"), prober("prober");
  PeerCheck listener(peer.loop());
  ASSERT_TRUE(listener.Listen("127.0.0.1:27397").ok());
  PeerCheck probe(prober.loop());
  peer.Start();
  prober.Start();
  EXPECT_TRUE(ProbeFrom(prober, probe, "127.0.0.1:27397", milliseconds(500)));
  // The peer's loop hangs (a stuck handler, SIGSTOP): its socket still
  // accepts in the kernel, but nobody answers.
  std::atomic<bool> release{false};
  peer.loop().Post([&] {
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  });
  EXPECT_FALSE(ProbeFrom(prober, probe, "127.0.0.1:27397", milliseconds(300))) << "a hung daemon counted as alive";
  release = true;
  EXPECT_TRUE(ProbeFrom(prober, probe, "127.0.0.1:27397", milliseconds(500))) << "alive again once it answers";
  // Nothing listens: dead.
  EXPECT_FALSE(ProbeFrom(prober, probe, "127.0.0.1:27396", milliseconds(300)));
  prober.Call([&] { probe.Close(); });
  peer.Call([&] { listener.Close(); });
}

}  // namespace
}  // namespace bladesync
