// ConntrackSource against the running kernel, in a network namespace of the
// test's own: a blade takes the kernel's table at start (dump), follows
// new entries and destroys by events, and the resync-interval dump finds
// nothing to repair when no event was lost (and repairs what was: entries
// made while its events were not read are found by the next dump too).
// Skipped with a message where the kernel has no conntrack or we are not root.

#include <gtest/gtest.h>

#include "blades/blade_agent.h"
#include "conntrack/conntrack_source.h"
#include "conntrack/netlink_conntrack.h"
#include "tests/support/kernel_entries.h"
#include "tests/support/kernel_namespace.h"

namespace bladesync {
namespace {

// The blade's own fabric is not under test: frames go nowhere.
class NoFabric : public Transport {
 public:
  SendResult Send(NodeId, Link, std::span<const uint8_t>) override { return SendResult::kSent; }
  void SetReceiver(Receiver) override {}
};

class ConntrackSourceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { why_not_ = new std::string(testing::EnterConntrackNamespace()); }
  void SetUp() override {
    if (!why_not_->empty()) GTEST_SKIP() << "SKIPPED: " << *why_not_;
    ASSERT_TRUE(FlushConntrack().ok());
    BladeConfig b;
    b.chassis = 1;
    b.slot = 1;
    b.pickup.session_pickup = true;
    b.pickup.connectionless = true;
    agent_ = std::make_unique<BladeAgent>(b, loop_, fabric_);
    agent_->Start();
    blade_ = std::make_unique<api::Blade>(*agent_);
  }
  void TearDown() override {
    source_.reset();
    blade_.reset();
    agent_.reset();
  }
  void StartSource(uint32_t resync_interval_s) {
    ConntrackOptions o;
    o.enabled = true;
    o.resync_interval_s = resync_interval_s;
    source_ = std::make_unique<ConntrackSource>(loop_, *blade_, o, std::vector<IpAddr>{});
    ASSERT_TRUE(source_->Start().ok());
  }
  // Runs the loop until the blade owns n sessions or 3 s passed.
  size_t OwnedAfter(size_t n) {
    for (int i = 0; i < 300 && agent_->owned().live() != n; ++i) loop_.RunFor(milliseconds(10));
    return agent_->owned().live();
  }

  static std::string* why_not_;
  AsioEventLoop loop_;
  NoFabric fabric_;
  std::unique_ptr<BladeAgent> agent_;
  std::unique_ptr<api::Blade> blade_;
  std::unique_ptr<ConntrackSource> source_;
};
std::string* ConntrackSourceTest::why_not_ = nullptr;

TEST_F(ConntrackSourceTest, TheTableAtStartThenEventsThenAResyncWithNothingToRepair) {
  const std::vector<KernelEntry> before = {testing::Tcp(1), testing::Tcp(2), testing::UdpSnat()};
  ASSERT_EQ(InstallConntrack(before, {}).installed, before.size());
  StartSource(/*resync_interval_s=*/1);
  EXPECT_EQ(OwnedAfter(3), 3u) << "the dump at start";
  const std::vector<KernelEntry> more = {testing::Tcp(3), testing::IcmpEcho()};
  ASSERT_EQ(InstallConntrack(more, {}).installed, more.size());
  EXPECT_EQ(OwnedAfter(5), 5u) << "new entries by events";
  EXPECT_GE(source_->counters().events_new.get(), 2u);
  ASSERT_TRUE(FlushConntrack().ok());
  EXPECT_EQ(OwnedAfter(0), 0u) << "destroys (by events, or by a dump that came first)";
  // A quiet table: the next resync-interval dumps find nothing to repair.
  const ConntrackCounters& k = source_->counters();
  const uint64_t resyncs = k.resyncs.get(), created = k.resync_created.get(), deleted = k.resync_deleted.get();
  ASSERT_TRUE(InstallConntrack(more, {}).installed == more.size());
  EXPECT_EQ(OwnedAfter(2), 2u);
  loop_.RunFor(milliseconds(2200));
  EXPECT_GE(k.resyncs.get(), resyncs + 2) << "a dump every resync-interval";
  EXPECT_EQ(k.resync_created.get(), created) << "no event was lost: nothing to add";
  EXPECT_EQ(k.resync_deleted.get(), deleted) << "nothing to remove";
}

TEST_F(ConntrackSourceTest, EntriesWhoseEventsWereNeverReadAreFoundByTheNextDump) {
  StartSource(/*resync_interval_s=*/1);
  EXPECT_EQ(OwnedAfter(0), 0u);
  // Entries made and the event socket closed before the loop reads it: the
  // blade never sees their events (as after an overrun), only the dump does.
  source_.reset();
  const std::vector<KernelEntry> missed = {testing::Tcp(7), testing::Tcp(8)};
  ASSERT_EQ(InstallConntrack(missed, {}).installed, missed.size());
  StartSource(/*resync_interval_s=*/1);
  EXPECT_EQ(OwnedAfter(2), 2u) << "the dump at start repairs what the events missed";
}

}  // namespace
}  // namespace bladesync
