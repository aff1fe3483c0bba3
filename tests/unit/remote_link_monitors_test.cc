// Remote link failover (config system link-monitor, pingserver-*): servers
// go down after failtime unanswered probes and come back after
// recoverytime answered ones; a monitor fails when all its servers are
// down; the score against pingserver-failover-threshold; and the
// pingserver-flip-timeout hold-down against a flapping server.
#include "netif/remote_link_monitors.h"

#include <gtest/gtest.h>

#include <set>

#include "sim/sim_event_loop.h"

namespace bladesync::testing {
namespace {

// Answers every probe 1 ms later unless the server is switched off.
class FakeProber : public Prober {
 public:
  explicit FakeProber(EventLoop& loop) : loop_(loop) {}
  Status Send(size_t monitor, const std::string& device, const IpAddr& server, uint16_t seq) override {
    ++sent;
    if (fail_send) return Unavailable("no route");
    if (silent.count(server.ToString())) return Status::Ok();
    timers_.push_back(loop_.CreateTimer([this, monitor, server, seq] {
      if (monitors) monitors->OnReply(monitor, server, seq);
    }));
    timers_.back()->Arm(milliseconds(1));
    return Status::Ok();
  }
  RemoteLinkMonitors* monitors = nullptr;
  std::set<std::string> silent;
  bool fail_send = false;
  int sent = 0;

 private:
  EventLoop& loop_;
  std::vector<std::unique_ptr<Timer>> timers_;
};

IpAddr Ip(const char* s) { return *IpAddr::Parse(s); }

RemoteLinkMonitorOptions::Monitor Mon(const std::string& name, std::vector<IpAddr> servers, uint32_t prio, bool counted) {
  RemoteLinkMonitorOptions::Monitor m;
  m.name = name;
  m.srcintf = name;
  m.device = name;
  m.servers = std::move(servers);
  m.interval = milliseconds(100);
  m.failtime = 3;
  m.recoverytime = 2;
  m.ha_priority = prio;
  m.counted = counted;
  return m;
}

class LinkMonitors : public ::testing::Test {
 protected:
  LinkMonitors() : loop_(sched_), prober_(loop_) {}
  void Make(RemoteLinkMonitorOptions o) {
    m_ = std::make_unique<RemoteLinkMonitors>(std::move(o), loop_, prober_, [this] { ++changes_; });
    prober_.monitors = m_.get();
    m_->Start();
  }
  SimScheduler sched_;
  SimEventLoop loop_;
  FakeProber prober_;
  std::unique_ptr<RemoteLinkMonitors> m_;
  int changes_ = 0;
};

TEST_F(LinkMonitors, AServerIsDownAfterFailtimeMissedProbesAndUpAfterRecoverytime) {
  RemoteLinkMonitorOptions o;
  o.monitors.push_back(Mon("wan", {Ip("192.0.2.1")}, 1, true));
  Make(o);
  sched_.RunFor(seconds(1));
  EXPECT_FALSE(m_->failed());
  prober_.silent.insert("192.0.2.1");
  sched_.RunFor(milliseconds(350));  // at most two probes judged missed: not yet
  EXPECT_FALSE(m_->failed());
  EXPECT_TRUE(m_->states()[0].servers[0].up);
  EXPECT_EQ(m_->states()[0].servers[0].missed, 2u);
  sched_.RunFor(milliseconds(100));  // the third
  EXPECT_FALSE(m_->states()[0].servers[0].up);
  EXPECT_TRUE(m_->states()[0].failed);
  EXPECT_TRUE(m_->failed()) << "threshold 0: any failed monitor fails over";
  EXPECT_EQ(m_->score(), 1u);
  EXPECT_EQ(changes_, 1);
  // Answering again: recoverytime 2 answered probes bring the server back.
  prober_.silent.clear();
  sched_.RunFor(milliseconds(100));
  EXPECT_FALSE(m_->states()[0].servers[0].up);
  sched_.RunFor(milliseconds(100));
  EXPECT_TRUE(m_->states()[0].servers[0].up);
  EXPECT_FALSE(m_->states()[0].failed);
  EXPECT_TRUE(m_->failed()) << "pingserver-flip-timeout holds the failure";
}

TEST_F(LinkMonitors, AMonitorFailsOnlyWhenEveryServerIsDown) {
  RemoteLinkMonitorOptions o;
  o.monitors.push_back(Mon("wan", {Ip("192.0.2.1"), Ip("198.51.100.1")}, 1, true));
  Make(o);
  prober_.silent.insert("192.0.2.1");
  sched_.RunFor(seconds(2));
  EXPECT_FALSE(m_->states()[0].servers[0].up);
  EXPECT_TRUE(m_->states()[0].servers[1].up);
  EXPECT_FALSE(m_->states()[0].failed);
  EXPECT_FALSE(m_->failed());
  prober_.silent.insert("198.51.100.1");
  sched_.RunFor(seconds(1));
  EXPECT_TRUE(m_->failed());
}

TEST_F(LinkMonitors, TheScoreMustReachTheThresholdAndOnlyCountedMonitorsCount) {
  RemoteLinkMonitorOptions o;
  o.monitors.push_back(Mon("a", {Ip("192.0.2.1")}, 5, true));
  o.monitors.push_back(Mon("b", {Ip("192.0.2.2")}, 5, true));
  o.monitors.push_back(Mon("c", {Ip("192.0.2.3")}, 50, false));  // not a pingserver-monitor-interface
  o.failover_threshold = 10;
  Make(o);
  prober_.silent = {"192.0.2.1", "192.0.2.3"};
  sched_.RunFor(seconds(1));
  EXPECT_EQ(m_->score(), 5u);
  EXPECT_FALSE(m_->failed()) << "5 is below pingserver-failover-threshold 10";
  prober_.silent.insert("192.0.2.2");
  sched_.RunFor(seconds(1));
  EXPECT_EQ(m_->score(), 10u);
  EXPECT_TRUE(m_->failed());
}

TEST_F(LinkMonitors, AFlappingServerMovesTheRoleAtMostOncePerFlipTimeout) {
  RemoteLinkMonitorOptions o;
  o.monitors.push_back(Mon("wan", {Ip("192.0.2.1")}, 1, true));
  o.flip_timeout = std::chrono::minutes(6);
  Make(o);
  sched_.RunFor(seconds(1));
  // Down 1 s, up 1 s, for two minutes.
  for (int i = 0; i < 60; ++i) {
    prober_.silent.insert("192.0.2.1");
    sched_.RunFor(seconds(1));
    prober_.silent.clear();
    sched_.RunFor(seconds(1));
  }
  EXPECT_TRUE(m_->failed()) << "recovered within pingserver-flip-timeout";
  EXPECT_EQ(changes_, 1) << "the advertised state flapped";
  EXPECT_GT(m_->hold_down_until(), sched_.now());
  // Answering steadily, it counts as recovered once the flip timeout is over.
  sched_.RunFor(std::chrono::minutes(5));
  EXPECT_FALSE(m_->failed());
  EXPECT_EQ(changes_, 2);
}

TEST_F(LinkMonitors, ProbesThatCannotBeSentCountAsUnansweredAndAreCounted) {
  RemoteLinkMonitorOptions o;
  o.monitors.push_back(Mon("wan", {Ip("192.0.2.1")}, 1, true));
  Make(o);
  prober_.fail_send = true;
  sched_.RunFor(seconds(1));
  EXPECT_TRUE(m_->failed());
  EXPECT_GT(m_->send_errors(), 3u);
}

TEST_F(LinkMonitors, ALateReplyIsNotCountedForTheNextRound) {
  RemoteLinkMonitorOptions o;
  o.monitors.push_back(Mon("wan", {Ip("192.0.2.1")}, 1, true));
  Make(o);
  prober_.silent.insert("192.0.2.1");
  sched_.RunFor(seconds(1));
  ASSERT_TRUE(m_->failed());
  const uint64_t received = m_->states()[0].servers[0].received;
  // Replies for old sequence numbers arrive: the server stays down.
  for (uint16_t seq = 1; seq < 5; ++seq) {
    for (int k = 0; k < 3; ++k) m_->OnReply(0, Ip("192.0.2.1"), seq);
  }
  // So does a reply from another address with the current number.
  for (int k = 0; k < 3; ++k) m_->OnReply(0, Ip("192.0.2.99"), m_->states()[0].seq);
  EXPECT_EQ(m_->states()[0].servers[0].received, received);
  EXPECT_FALSE(m_->states()[0].servers[0].up);
}

}  // namespace
}  // namespace bladesync::testing
