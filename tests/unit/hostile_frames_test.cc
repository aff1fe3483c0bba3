// Every kind of frame the fabric must refuse: dropped, counted, and the
// state already synced is not harmed.
#include <gtest/gtest.h>

#include "blades/delta_codec.h"
#include "tests/support/sim_cluster.h"

namespace bladesync::testing {
namespace {

class HostileFrames : public ::testing::Test {
 protected:
  void SetUp() override {
    c_ = std::make_unique<SimBlades>(2, 1, 41);
    c_->net().set_tap([this](NodeId from, NodeId to, Link, std::span<const uint8_t> b) {
      if (from == NodeId{1, 1} && to == NodeId{2, 1} && b.size() > 200) captured_.emplace_back(b.begin(), b.end());
    });
    BladeAgent& a = c_->blade(1, 1);
    for (uint32_t i = 0; i < 500; ++i) a.CreateSession(TcpFacts(i), SessionState{kTcpEstablished, 0, 3600});
    c_->RunFor(milliseconds(200));
    ASSERT_TRUE(c_->MirrorsMatch());
    digest_ = mirror().standby(1)->store().digest();
    ASSERT_FALSE(captured_.empty());
  }
  BladeAgent& mirror() { return c_->blade(2, 1); }
  uint64_t dropped(DropReason r) { return mirror().counters().dropped[static_cast<int>(r)].get(); }
  // A well-formed batch with one create, from `origin`, for `dest_chassis`.
  std::vector<uint8_t> Batch(wire::Origin origin, uint8_t dest_chassis, uint64_t seq) {
    DeltaEncoder enc;
    enc.Reset();
    SessionRecord r;
    r.key = SessionKey::V4(0x01020304, 0x05060708, 1, 2, kProtoTcp);
    r.version = 1ull << 40;
    r.timeout_s = 3600;
    enc.AddCreate(999, r, nullptr, false);
    BatchHeader h;
    h.from = origin;
    h.first_seq = seq;
    h.seq_count = 1;
    h.dest_chassis = dest_chassis;
    std::span<const uint8_t> b = enc.FinishBatch(h);
    return {b.begin(), b.end()};
  }
  void Deliver(const std::vector<uint8_t>& bytes, int authenticated = -1) {
    mirror().OnFrame(FrameMeta{Link::kM1, authenticated}, bytes);
  }
  void ExpectUnharmed() {
    EXPECT_EQ(mirror().standby(1)->store().digest(), digest_);
    EXPECT_EQ(mirror().standby(1)->store().live(), 500u);
    c_->RunFor(milliseconds(100));
    EXPECT_TRUE(c_->MirrorsMatch());
  }
  wire::Origin Owner() { return wire::Origin(1, mirror().standby(1)->epoch(), 1, 1); }

  std::unique_ptr<SimBlades> c_;
  std::vector<std::vector<uint8_t>> captured_;
  uint64_t digest_ = 0;
};

TEST_F(HostileFrames, Oversized) {
  std::vector<uint8_t> big(4u << 20, 0);
  Deliver(big);
  EXPECT_EQ(dropped(DropReason::kMalformed), 1u);
  ExpectUnharmed();
}

TEST_F(HostileFrames, Truncated) {
  std::vector<uint8_t> f = captured_.back();
  f.resize(f.size() / 3);
  Deliver(f);
  EXPECT_EQ(dropped(DropReason::kMalformed), 1u);
  ExpectUnharmed();
}

TEST_F(HostileFrames, WrongCluster) {
  wire::Origin o = Owner();
  Deliver(Batch(wire::Origin(o.group_id() + 1, o.epoch(), 1, 1), 2, mirror().standby(1)->next_seq()));
  EXPECT_EQ(dropped(DropReason::kWrongCluster), 1u);
  ExpectUnharmed();
}

TEST_F(HostileFrames, WrongSlot) {
  wire::Origin o = Owner();
  Deliver(Batch(wire::Origin(o.group_id(), o.epoch(), 1, 2), 2, mirror().standby(1)->next_seq()));
  EXPECT_EQ(dropped(DropReason::kWrongSlot), 1u);
  ExpectUnharmed();
}

TEST_F(HostileFrames, WrongOrUnknownChassis) {
  wire::Origin o = Owner();
  Deliver(Batch(o, 3, mirror().standby(1)->next_seq()));                                   // for chassis 3
  Deliver(Batch(wire::Origin(o.group_id(), o.epoch(), 4, 1), 2, 1));                      // from chassis 4
  EXPECT_EQ(dropped(DropReason::kWrongChassis), 2u);
  ExpectUnharmed();
}

TEST_F(HostileFrames, ClaimsAnotherChassisThanItsKeyProves) {
  Deliver(Batch(Owner(), 2, mirror().standby(1)->next_seq()), /*authenticated=*/3);
  EXPECT_EQ(dropped(DropReason::kUnauthenticated), 1u);
  ExpectUnharmed();
}

TEST_F(HostileFrames, ReplayedFramesAreDuplicates) {
  const uint64_t before = dropped(DropReason::kDuplicate);
  for (const auto& f : captured_) Deliver(f);
  EXPECT_EQ(dropped(DropReason::kDuplicate) - before, captured_.size());
  ExpectUnharmed();
}

TEST_F(HostileFrames, FramesFromAnEarlierEpochAreDroppedAfterARestart) {
  c_->Kill(1, 1);
  c_->Revive(1, 1, 2);
  BladeAgent& a = c_->blade(1, 1);
  for (uint32_t i = 0; i < 500; ++i) a.CreateSession(TcpFacts(i), SessionState{kTcpEstablished, 0, 3600});
  c_->RunFor(milliseconds(300));
  ASSERT_EQ(mirror().standby(1)->epoch(), 2u);
  digest_ = mirror().standby(1)->store().digest();
  for (const auto& f : captured_) Deliver(f);  // all from epoch 1
  EXPECT_GE(dropped(DropReason::kOldEpoch), 1u);
  ExpectUnharmed();
}

TEST_F(HostileFrames, AheadOfSequenceWaitsAndIsNotApplied) {
  Deliver(Batch(Owner(), 2, mirror().standby(1)->next_seq() + 1000));
  // It waits in the bounded reorder buffer for a gap that never fills.
  EXPECT_EQ(mirror().counters().frames_reordered.get(), 1u);
  EXPECT_FALSE(mirror().standby(1)->store().Find(SessionKey::V4(0x01020304, 0x05060708, 1, 2, kProtoTcp)));
  ExpectUnharmed();
}

TEST(BoundedMemory, FullResendQueueDegradesToBulkResync) {
  SimBlades c(2, 1, 42, [](BladeConfig& b) { b.change_log_capacity = 1024; });
  BladeAgent& a = c.blade(1, 1);
  c.RunFor(milliseconds(50));
  c.net().SetDown(NodeId{2, 1}, true);  // the mirror hears nothing for a while
  for (uint32_t i = 0; i < 5000; ++i) a.CreateSession(TcpFacts(i), SessionState{kTcpEstablished, 0, 3600});
  c.RunFor(milliseconds(100));
  EXPECT_GE(a.counters().bulk_syncs_forced.get(), 1u) << "a warning and a counter, not unbounded growth";
  c.net().SetDown(NodeId{2, 1}, false);
  c.RunFor(seconds(2));
  std::string why;
  EXPECT_TRUE(c.MirrorsMatch(&why)) << why;
}

TEST(BoundedMemory, ReorderBufferIsBounded) {
  SimBlades c(2, 1, 44, [](BladeConfig& b) { b.reorder_frames = 4; });
  c.RunFor(milliseconds(100));
  c.Kill(1, 1);
  BladeAgent& m = c.blade(2, 1);
  const uint64_t next = m.standby(1)->next_seq();
  DeltaEncoder enc;
  for (uint64_t k = 1; k <= 10; ++k) {
    enc.Reset();
    BatchHeader h;
    h.from = wire::Origin(1, m.standby(1)->epoch(), 1, 1);
    h.first_seq = next + 10 * k;
    h.seq_count = 1;
    h.dest_chassis = 2;
    m.OnFrame(FrameMeta{Link::kM1, -1}, enc.FinishBatch(h));
  }
  EXPECT_EQ(m.counters().frames_reordered.get(), 4u);
  EXPECT_EQ(m.counters().dropped[static_cast<int>(DropReason::kGap)].get(), 6u);
}

TEST(BoundedMemory, OwnerRefusesSessionsBeyondMaxSessions) {
  SimBlades c(2, 1, 43, [](BladeConfig& b) { b.max_sessions = 100; });
  BladeAgent& a = c.blade(1, 1);
  int refused = 0;
  for (uint32_t i = 0; i < 150; ++i) refused += a.CreateSession(TcpFacts(i), SessionState{kTcpEstablished, 0, 3600}) == kNoSession;
  EXPECT_EQ(refused, 50);
  EXPECT_EQ(a.counters().sessions_refused.get(), 50u);
  c.RunFor(milliseconds(200));
  EXPECT_TRUE(c.MirrorsMatch());
}

}  // namespace
}  // namespace bladesync::testing
