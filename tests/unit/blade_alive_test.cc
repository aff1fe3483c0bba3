// Held up, not dead. BladeAlive: a blade whose loop is held up (a long adoption, a burst of
// frames) but whose process vouches for it (runtime/blade_beat.h) is not
// taken for dead; one that is not vouched for, or for another incarnation,
// is; and an alive does not bring a dead blade back. On the simulator: a
// paused loop is the busy blade, injected alives are its beat thread.
#include <gtest/gtest.h>

#include "tests/support/forged_frames.h"
#include "tests/support/sim_chassis_cluster.h"

namespace bladesync::testing {
namespace {

class BladeAliveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    c_.RunFor(seconds(2));
    ASSERT_EQ(c_.manager(1)->role(), HaRole::kPrimary);
    ASSERT_TRUE(Live(1));
    epoch_ = c_.blade(1, 1)->config().epoch;
    group_ = c_.blade(1, 1)->config().group_id;
  }
  bool Live(uint8_t slot) { return c_.manager(1)->blades()[slot - 1].live; }
  std::vector<uint8_t> Alive(uint32_t epoch) {
    flatbuffers::FlatBufferBuilder fbb;
    const wire::Origin from(group_, epoch, 1, 1);
    return FrameBytes(fbb, wire::Message::BladeAlive, wire::CreateBladeAlive(fbb, &from));
  }
  // Blade 1 of chassis 1 is held up for `busy`, its process vouching for
  // it every `every` meanwhile (never when zero) with this epoch.
  void HoldUp(Nanos busy, Nanos every, uint32_t epoch) {
    c_.PauseNode(1, 1);
    for (Nanos t{0}; t < busy; t += milliseconds(10)) {
      if (every > Nanos(0) && t % every == Nanos(0)) {
        c_.net().Inject(NodeId{1, 1}, NodeId{1, 0}, Link::kBackplane, Alive(epoch));
      }
      c_.RunFor(milliseconds(10));
    }
  }
  SimChassisCluster c_{2, 2, 29};
  uint32_t epoch_ = 0;
  uint32_t group_ = 0;
};

// The blade-lost time here is 5 x 100 ms: held up twice that long.
TEST_F(BladeAliveTest, AHeldUpBladeThatIsVouchedForStaysLive) {
  HoldUp(seconds(1), milliseconds(30), epoch_);
  EXPECT_TRUE(Live(1));
  EXPECT_EQ(c_.manager(1)->role(), HaRole::kPrimary);
  c_.ResumeNode(1, 1);
  c_.RunFor(milliseconds(300));
  EXPECT_TRUE(Live(1));
  EXPECT_TRUE(c_.manager(1)->blades()[0].ready);
}

TEST_F(BladeAliveTest, WithoutItsBeatsTheSameBladeIsMarkedDead) {
  HoldUp(seconds(1), Nanos(0), epoch_);
  EXPECT_FALSE(Live(1));
  c_.ResumeNode(1, 1);
  c_.RunFor(milliseconds(300));
  EXPECT_TRUE(Live(1)) << "its next status brings it back";
}

TEST_F(BladeAliveTest, BeatsForAnotherIncarnationKeepNothingLive) {
  HoldUp(seconds(1), milliseconds(30), epoch_ + 1);
  EXPECT_FALSE(Live(1));
}

TEST_F(BladeAliveTest, ABeatDoesNotBringADeadBladeBack) {
  c_.KillBlade(1, 1);
  c_.RunFor(seconds(1));
  ASSERT_FALSE(Live(1));
  for (int i = 0; i < 30; ++i) {
    c_.net().Inject(NodeId{1, 1}, NodeId{1, 0}, Link::kBackplane, Alive(epoch_));
    c_.RunFor(milliseconds(30));
  }
  EXPECT_FALSE(Live(1));
}

TEST_F(BladeAliveTest, ABeatFromThePeerChassisOrOverTheFabricIsDropped) {
  c_.PauseNode(1, 1);
  for (int i = 0; i < 34; ++i) {
    c_.net().Inject(NodeId{1, 1}, NodeId{1, 0}, Link::kM1, Alive(epoch_));  // m1: not the backplane
    c_.RunFor(milliseconds(30));
  }
  EXPECT_FALSE(Live(1));
}

// A manager held up (its process not run; tests/integration/held_up_test
// shows the false failover that this once was) still finds a peer that is
// gone meanwhile: one interval after it runs again.
TEST_F(BladeAliveTest, AManagerHeldUpStillFindsAPeerThatIsGone) {
  c_.PauseNode(2, 0);
  c_.KillChassis(1);
  c_.RunFor(milliseconds(600));
  c_.ResumeNode(2, 0);
  c_.RunFor(milliseconds(500));
  EXPECT_NE(c_.manager(2)->role(), HaRole::kSecondary);
  EXPECT_EQ(c_.manager(2)->failovers(), 1u);
}

}  // namespace
}  // namespace bladesync::testing
