// The split-brain probe: a peer is alive only when its daemon answers, not
// when the kernel completes a TCP handshake for a daemon that hangs
// (issue 15 point 13: a SIGSTOPped chassis still looked alive).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "fabric/ha_password.h"
#include "runtime/node_thread.h"
#include "runtime/peer_check.h"

namespace bladesync {
namespace {

bool ProbeFrom(NodeThread& prober, PeerCheck& pc, const std::string& addr, Nanos timeout) {
  std::promise<bool> result;
  prober.loop().Post([&] { pc.Probe(2, addr, timeout, [&](bool up) { result.set_value(up); }); });
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

CheckKeys KeysOf(const HaPasswordKeys& k, uint8_t self) {
  CheckKeys c;
  c.enabled = true;
  c.self = self;
  c.secret_key = k.secret_key(self);
  c.public_key = [k](uint8_t peer) -> std::optional<std::string> { return k.public_key(peer); };
  return c;
}

// Keyed, only the peer itself can answer: someone who took its check
// address (its IP after it died, a free port) and answers as an unkeyed
// daemon would, or a chassis with another password, counts as dead; so a
// takeover cannot be stopped by faking the answer.
TEST(PeerCheck, KeyedAnswersProveThePeer) {
  Result<HaPasswordKeys> ours = HaPasswordKeys::Derive("s3cret", 7, "t");
  Result<HaPasswordKeys> theirs = HaPasswordKeys::Derive("other", 7, "t");
  ASSERT_TRUE(ours.ok() && theirs.ok());
  NodeThread peer("peer"), prober("prober");
  PeerCheck probe(prober.loop(), KeysOf(ours.value(), 1));
  prober.Start();
  peer.Start();
  const std::string addr = "127.0.0.1:27395";
  auto answers = [&](CheckKeys as) {
    auto listener = std::make_unique<PeerCheck>(peer.loop(), std::move(as));
    const bool listening = peer.Call([&] { return listener->Listen(addr).ok(); });
    const bool up = listening && ProbeFrom(prober, probe, addr, milliseconds(500));
    peer.Call([&] { listener->Close(); });
    peer.Call([&] { listener.reset(); });
    return up;
  };
  EXPECT_TRUE(answers(KeysOf(ours.value(), 2))) << "the peer itself";
  EXPECT_FALSE(answers(CheckKeys{})) << "an impostor answering as an unkeyed daemon does";
  EXPECT_FALSE(answers(KeysOf(theirs.value(), 2))) << "a chassis with another password";
  EXPECT_FALSE(answers(KeysOf(ours.value(), 3))) << "another chassis of the cluster in its place";
  prober.Call([&] { probe.Close(); });
}

}  // namespace
}  // namespace bladesync
