// The chassis managers' handover, scenario by scenario on the simulator
// (two chassis x two blades, no random loss): what the whole-cluster
// property suite explores at random, here as named cases that read like the
// README's promises.
#include <gtest/gtest.h>

#include "tests/support/broken_blades.h"
#include "tests/support/sim_chassis_cluster.h"

namespace bladesync::testing {
namespace {

constexpr int kSessions = 40;

SessionKey KeyOf(int i) { return SessionKey::V4(0x0a000000 + i, 0xc6336401, static_cast<uint16_t>(2000 + i), 443, kProtoTcp); }

// kSessions on the traffic chassis (*old), spread over its first `slots`
// blades and synced to the other chassis.
void CreateSessionsOnTheTrafficChassis(SimChassisCluster& c, uint8_t* old, int slots = 2) {
  c.RunFor(seconds(2));
  const std::vector<uint8_t> t = c.TrafficChassis();
  ASSERT_EQ(t.size(), 1u);
  *old = t[0];
  for (int i = 0; i < kSessions; ++i) {
    SessionFacts f;
    f.key = KeyOf(i);
    c.blade(*old, static_cast<uint8_t>(1 + i % slots))->CreateSession(f, SessionState{kTcpEstablished, 0, 3600});
  }
  c.RunFor(seconds(1));
}

class Handover : public ::testing::Test {
 protected:
  Handover() : c_(2, 2, 11) { c_.RunFor(seconds(2)); }

  uint8_t Traffic() {
    std::vector<uint8_t> t = c_.TrafficChassis();
    EXPECT_EQ(t.size(), 1u) << "exactly one chassis processes traffic";
    return t.empty() ? 0 : t[0];
  }
  // Sessions on the traffic chassis, synced to the other before the fault;
  // returns that chassis.
  uint8_t CreateSessions() {
    const uint8_t t = Traffic();
    for (int i = 0; i < kSessions; ++i) {
      SessionFacts f;
      f.key = KeyOf(i);
      c_.blade(t, static_cast<uint8_t>(1 + i % 2))->CreateSession(f, SessionState{kTcpEstablished, 0, 3600});
    }
    c_.RunFor(seconds(1));
    return t;
  }
  static uint8_t Other(uint8_t chassis) { return chassis == 1 ? 2 : 1; }
  // Every session owned exactly once, by the chassis that processes traffic,
  // and every mirror equal to its owner.
  void ExpectOwnedOnceBy(uint8_t chassis, int sessions = kSessions) {
    for (int i = 0; i < sessions; ++i) {
      int owners = 0;
      for (uint8_t x = 1; x <= 2; ++x) {
        if (!c_.alive(x)) continue;
        for (uint8_t s = 1; s <= 2; ++s) {
          BladeAgent* b = c_.blade(x, s);
          if (b && b->owned().Find(KeyOf(i))) {
            ++owners;
            EXPECT_EQ(x, chassis) << "session " << i << " owned by chassis " << int(x);
          }
        }
      }
      EXPECT_EQ(owners, 1) << "session " << i;
    }
    std::string why;
    EXPECT_TRUE(c_.MirrorsMatch(&why)) << why;
  }

  SimChassisCluster c_;
};

TEST_F(Handover, AChassisRestartedBeforeItsLossWasDeclaredIsTakenOver) {
  const uint8_t old = CreateSessions();
  const uint8_t peer = Other(old);
  c_.KillChassis(old);
  c_.RunFor(milliseconds(50));  // far below hb-interval x hb-lost-threshold (300 ms)
  c_.RestartChassis(old);
  c_.RunFor(seconds(3));
  EXPECT_EQ(c_.manager(peer)->peer_restarts(), 1u);
  ASSERT_EQ(Traffic(), peer);
  ExpectOwnedOnceBy(peer);
  uint64_t orphaned = 0;
  for (uint8_t s = 1; s <= 2; ++s) orphaned += c_.blade(peer, s)->counters().orphaned_sessions.get();
  EXPECT_EQ(orphaned, static_cast<uint64_t>(kSessions)) << "the old incarnation's tables were kept for the takeover";
}

// hb-interval-in-milliseconds 10ms, hb-interval 1, hb-lost-threshold 3:
// the loss is declared 32.5 ms after the last heartbeat, and the survivor
// owns every session well inside 50 ms of the kill (at 100 ms units it
// would not even have noticed yet).
TEST(FastHeartbeats, TenMillisecondHeartbeatsTakeOverWithin50ms) {
  SimClusterOptions opt;
  opt.manager = [](ManagerConfig& m) { m.hb_interval = milliseconds(10); };
  opt.blade = [](BladeConfig& b) { b.hb_interval = milliseconds(10); };
  SimChassisCluster c(2, 2, 11, opt);
  uint8_t old = 0;
  ASSERT_NO_FATAL_FAILURE(CreateSessionsOnTheTrafficChassis(c, &old));
  const uint8_t peer = old == 1 ? 2 : 1;
  c.RunFor(seconds(10));  // a quiet spell: no false failover at 10 ms
  ASSERT_EQ(c.TrafficChassis(), std::vector<uint8_t>{old});
  EXPECT_EQ(c.manager(peer)->failovers(), 0u);
  c.KillChassis(old);
  c.RunFor(milliseconds(30));
  EXPECT_EQ(c.manager(peer)->role(), HaRole::kSecondary) << "lost before hb-interval x hb-lost-threshold";
  c.RunFor(milliseconds(15));
  ASSERT_EQ(c.TrafficChassis(), std::vector<uint8_t>{peer});
  int owned = 0;
  for (int i = 0; i < kSessions; ++i) {
    for (uint8_t s = 1; s <= 2; ++s) owned += c.blade(peer, s)->owned().Find(KeyOf(i)).has_value();
  }
  EXPECT_EQ(owned, kSessions) << "every session adopted 45 ms after the kill";
  EXPECT_LE(c.manager(peer)->last_failover_duration(), milliseconds(50));
}

// Found by the conntrackd comparison: a backup restarts, resyncs from the
// primary during its hello-holddown, and the primary dies before the
// holddown ends. The backup leaves the hello state alone, and what it
// resynced is the only copy of the primary's sessions.
TEST_F(Handover, ARestartedBackupTakesOverWhenThePrimaryDiesDuringItsHoldDown) {
  const uint8_t primary = CreateSessions();
  const uint8_t backup = Other(primary);
  c_.KillChassis(backup);
  c_.RunFor(milliseconds(500));
  c_.RestartChassis(backup);
  c_.RunFor(milliseconds(100));  // resynced, still in the hello state (500 ms here)
  uint64_t held = 0;
  for (uint8_t s = 1; s <= 2; ++s) held += c_.blade(backup, s)->standby(primary)->store().live();
  ASSERT_EQ(held, static_cast<uint64_t>(kSessions)) << "the restarted backup resynced";
  ASSERT_EQ(c_.manager(backup)->role(), HaRole::kUnknown);
  c_.KillChassis(primary);  // its loss is declared before the hello state ends
  c_.RunFor(seconds(3));
  ASSERT_EQ(Traffic(), backup);
  ExpectOwnedOnceBy(backup);
}

TEST_F(Handover, ManualFailoverHandsOverOnlyWhatTheNewPrimaryHolds) {
  const uint8_t old = CreateSessions();
  const uint8_t peer = Other(old);
  c_.manager(old)->SetManualFailover(true);
  c_.RunFor(seconds(1));
  c_.manager(old)->SetManualFailover(false);
  c_.RunFor(seconds(1));
  ASSERT_EQ(Traffic(), peer);
  ExpectOwnedOnceBy(peer);
}

// M1 cut a moment before a manual failover: the deletes the old primary
// sent went out on M1 and are lost there until its blades notice and
// resend on M2. The new primary adopted its mirrors as they were, and the
// deleted sessions came back (the soak, 2722c5a). Now the old primary's
// streams are fenced when it steps down, and the new one adopts once its
// mirrors hold everything up to the fence.
TEST_F(Handover, AFailoverRightAfterAnM1CutKeepsTheDeletesInFlight) {
  const uint8_t old = CreateSessions();
  const uint8_t peer = Other(old);
  c_.net().Cut(1, 2, Link::kM1);
  constexpr int kDeleted = 10;
  for (int i = 0; i < kDeleted; ++i) {
    BladeAgent* b = c_.blade(old, static_cast<uint8_t>(1 + i % 2));
    auto id = b->Lookup(KeyOf(i));
    ASSERT_TRUE(id);
    b->DeleteSession(*id, kDeleteClosed);
  }
  c_.manager(old)->SetManualFailover(true);
  c_.RunFor(seconds(1));
  c_.manager(old)->SetManualFailover(false);
  c_.RunFor(seconds(2));
  ASSERT_EQ(Traffic(), peer);
  for (int i = 0; i < kDeleted; ++i) {
    for (uint8_t x = 1; x <= 2; ++x) {
      for (uint8_t s = 1; s <= 2; ++s) {
        BladeAgent* b = c_.blade(x, s);
        EXPECT_FALSE(b->owned().Find(KeyOf(i))) << "deleted session " << i << " owned by chassis " << int(x);
        for (uint8_t o = 1; o <= 2; ++o) {
          if (o != x && b->standby(o)) EXPECT_FALSE(b->standby(o)->store().Find(KeyOf(i))) << "deleted session " << i;
        }
      }
    }
  }
  for (int i = kDeleted; i < kSessions; ++i) {
    int owners = 0;
    for (uint8_t s = 1; s <= 2; ++s) owners += c_.blade(peer, s)->owned().Find(KeyOf(i)).has_value();
    EXPECT_EQ(owners, 1) << "session " << i;
  }
  EXPECT_EQ(c_.manager(peer)->handovers_unfenced(), 0u) << "the fence was passed, not waited out";
}

// The same with creates, and the old primary told to relinquish while its
// creates were still lost on M1: a resend is rebuilt from the table as it
// is, which then held nothing, and the new primary adopted without them
// (the soak, 1e89275). Now a relinquish waits for the mirrors' acks.
TEST_F(Handover, AFailoverRightAfterAnM1CutKeepsTheCreatesInFlight) {
  const uint8_t old = Traffic();
  const uint8_t peer = Other(old);
  c_.net().Cut(1, 2, Link::kM1);
  for (int i = 0; i < kSessions; ++i) {
    SessionFacts f;
    f.key = KeyOf(i);
    c_.blade(old, static_cast<uint8_t>(1 + i % 2))->CreateSession(f, SessionState{kTcpEstablished, 0, 3600});
  }
  c_.RunFor(milliseconds(5));  // sent, on M1
  c_.manager(old)->SetManualFailover(true);
  c_.RunFor(seconds(1));
  c_.manager(old)->SetManualFailover(false);
  c_.RunFor(seconds(2));
  ASSERT_EQ(Traffic(), peer);
  ExpectOwnedOnceBy(peer);
}

// The role comes back before the new primary adopted (it waits for a fence
// that does not come): the old primary must still have its sessions. It
// gave them up once the new one was primary and held its streams, and when
// the role came back nobody owned them (the review of a36cda3). Now it
// gives them up only once the new primary's heartbeat says it adopted them.
TEST(HandoverWithoutFences, TheRoleComingBackBeforeTheAdoptionLosesNothing) {
  SimChassisCluster c(2, 2, 11, {.make_blade = Broken{.never_fence = true}.BladeMaker()});
  uint8_t old = 0;
  CreateSessionsOnTheTrafficChassis(c, &old);
  const uint8_t peer = old == 1 ? 2 : 1;
  c.manager(old)->SetManualFailover(true);
  for (int ms = 0; ms < 1000 && c.manager(peer)->role() != HaRole::kPrimary; ++ms) c.RunFor(milliseconds(1));
  ASSERT_EQ(c.manager(peer)->role(), HaRole::kPrimary);
  c.RunFor(milliseconds(250));  // the old primary heard it: before, it relinquished here
  ASSERT_EQ(c.blade(peer, 1)->owned().live(), 0u) << "adopted already: the case needs the fence still out";
  c.manager(old)->SetManualFailover(false);
  c.manager(peer)->SetManualFailover(true);  // the role goes back before the adoption
  c.RunFor(seconds(2));
  c.manager(peer)->SetManualFailover(false);
  c.RunFor(seconds(2));
  const std::vector<uint8_t> t = c.TrafficChassis();
  ASSERT_EQ(t, std::vector<uint8_t>{old});
  for (int i = 0; i < kSessions; ++i) {
    int owners = 0;
    for (uint8_t x = 1; x <= 2; ++x)
      for (uint8_t s = 1; s <= 2; ++s) owners += c.blade(x, s)->owned().Find(KeyOf(i)).has_value();
    EXPECT_EQ(owners, 1) << "session " << i;
  }
}

TEST_F(Handover, TwoPrimariesAfterAPartitionMergeWithoutLoss) {
  const uint8_t old = CreateSessions();
  const uint8_t peer = Other(old);
  for (Link l : {Link::kM1, Link::kM2}) c_.net().Cut(1, 2, l);
  c_.RunFor(seconds(1));
  EXPECT_FALSE(c_.manager(old)->peers().at(peer).alive) << "the partition is reported";
  EXPECT_EQ(c_.TrafficChassis().size(), 2u) << "without a check address both sides take the role (FGCP)";
  // Traffic reaches the side that took over too: sessions only it has.
  for (int i = kSessions; i < 2 * kSessions; ++i) {
    SessionFacts f;
    f.key = KeyOf(i);
    c_.blade(peer, static_cast<uint8_t>(1 + i % 2))->CreateSession(f, SessionState{kTcpEstablished, 0, 3600});
  }
  for (Link l : {Link::kM1, Link::kM2}) c_.net().Restore(1, 2, l);
  c_.RunFor(seconds(3));
  const uint8_t now = Traffic();
  ASSERT_NE(now, 0);
  ExpectOwnedOnceBy(now, 2 * kSessions);  // the loser handed its own over too
}

TEST_F(Handover, LosingABladeMovesTheRoleAndTheBladesSessions) {
  const uint8_t old = CreateSessions();
  const uint8_t peer = Other(old);
  c_.KillBlade(old, 2);
  c_.RunFor(seconds(2));
  ASSERT_EQ(Traffic(), peer) << "fewer live blades loses the election";
  // The dead blade's sessions were adopted by the peer's blade in its slot.
  for (int i = 1; i < kSessions; i += 2) EXPECT_TRUE(c_.blade(peer, 2)->owned().Find(KeyOf(i))) << "session " << i;
  for (int i = 0; i < kSessions; i += 2) EXPECT_TRUE(c_.blade(peer, 1)->owned().Find(KeyOf(i))) << "session " << i;
  EXPECT_EQ(c_.blade(old, 1)->owned().live(), 0u) << "the old primary handed over once the new one held its sessions";
  // The dead blade fences nothing: its stream went quiet, which is as good
  // (waiting it out kept the traffic from the new primary for a second).
  EXPECT_EQ(c_.manager(peer)->handovers_unfenced(), 0u);
}

// Issue 17 point 4: after `execute ha failover set` on one chassis, the one
// that takes over reported its uptime as the failover's duration (nothing
// on it had marked a start).
TEST_F(Handover, ThePeerOfAManualFailoverReportsItsOwnTakeoverTime) {
  c_.RunFor(seconds(30));  // an uptime that would show
  const uint8_t old = CreateSessions();
  const uint8_t peer = Other(old);
  c_.manager(old)->SetManualFailover(true);
  c_.RunFor(seconds(2));
  ASSERT_EQ(Traffic(), peer);
  const Nanos took = c_.manager(peer)->last_failover_duration();
  EXPECT_GT(took, Nanos(0));
  EXPECT_LT(took, seconds(2)) << "reported " << took.count() / 1000000 << " ms";
}

// A command that changed nothing (a monitor forced back to auto, a manual
// failover unset) is no start for a takeover that comes later: the peer of
// a manual failover ten seconds after one reports its own takeover time.
TEST_F(Handover, AnEarlierCommandThatChangedNothingIsNoStartForALaterTakeover) {
  const uint8_t old = CreateSessions();
  const uint8_t peer = Other(old);
  c_.manager(peer)->Reevaluate();              // diagnose sys ha monitor ... auto: nothing moves
  c_.manager(peer)->SetManualFailover(false);  // execute ha failover unset: nothing to undo
  c_.RunFor(seconds(10));
  c_.manager(old)->SetManualFailover(true);
  c_.RunFor(seconds(2));
  ASSERT_EQ(Traffic(), peer);
  const Nanos took = c_.manager(peer)->last_failover_duration();
  EXPECT_GT(took, Nanos(0));
  EXPECT_LT(took, milliseconds(500)) << "reported " << took.count() / 1000000 << " ms";
  // Nor is a takeover a start for the next one.
  c_.RunFor(seconds(5));
  c_.manager(old)->SetManualFailover(false);
  c_.manager(peer)->SetManualFailover(true);
  c_.RunFor(seconds(2));
  ASSERT_EQ(Traffic(), old);
  EXPECT_LT(c_.manager(old)->last_failover_duration(), milliseconds(500));
}

// Blades run as processes of their own (bladesyncd --slot N --no-manager)
// each start their own incarnation, a decisecond or more apart from the
// manager's. The handover must follow each blade's stream, not the manager's
// epoch (found when the integration test's processes started a little
// apart: the demoted chassis never relinquished).
TEST(HandoverSplitProcesses, LosingABladeHandsOverWhenEachBladeHasItsOwnEpoch) {
  SimClusterOptions opt;
  opt.blade = [](BladeConfig& b) { b.epoch = b.epoch * 100 + b.slot; };
  SimChassisCluster c(2, 2, 12, opt);
  uint8_t old = 0;
  ASSERT_NO_FATAL_FAILURE(CreateSessionsOnTheTrafficChassis(c, &old));
  const uint8_t peer = old == 1 ? 2 : 1;
  c.KillBlade(old, 2);
  c.RunFor(seconds(3));
  ASSERT_EQ(c.TrafficChassis(), std::vector<uint8_t>{peer});
  for (int i = 0; i < kSessions; ++i) {
    EXPECT_TRUE(c.blade(peer, static_cast<uint8_t>(1 + i % 2))->owned().Find(KeyOf(i))) << "session " << i;
  }
  EXPECT_EQ(c.blade(old, 1)->owned().live(), 0u) << "the old primary hands over once the new one holds its sessions";
}

// Commands are resent until the blade applies them: the Adopt commands of a
// takeover crossing a backplane that loses 60% of its frames still reach
// every blade, and every blade adopts exactly what it mirrored.
TEST_F(Handover, TakeoverCommandsAreResentUntilEveryBladeApplies) {
  const uint8_t old = CreateSessions();
  const uint8_t peer = Other(old);
  std::vector<size_t> mirrored;
  for (uint8_t s = 1; s <= 2; ++s) mirrored.push_back(c_.blade(peer, s)->standby(old)->store().live());
  c_.KillChassis(old);
  c_.net().faults().drop = 0.6;  // the only fabric link left leads to the dead chassis
  c_.net().faults().faults_on_backplane = true;
  c_.RunFor(seconds(3));
  c_.net().faults() = SimFaults{};
  c_.RunFor(seconds(1));
  ASSERT_EQ(Traffic(), peer);
  for (uint8_t s = 1; s <= 2; ++s) {
    EXPECT_EQ(c_.blade(peer, s)->counters().adopted_sessions.get(), mirrored[s - 1]) << "slot " << int(s);
  }
  EXPECT_GT(c_.net().dropped(), 0u) << "the backplane lost frames";
}

// Three chassis x one blade: the primary, with kSessions synced, restarts
// 50 ms after it stopped (far below the detection time); *old is it.
void RestartThePrimaryBeforeItsLossIsDeclared(SimChassisCluster& c, uint8_t* old) {
  ASSERT_NO_FATAL_FAILURE(CreateSessionsOnTheTrafficChassis(c, old, 1));
  c.KillChassis(*old);
  c.RunFor(milliseconds(50));
  c.RestartChassis(*old);
}

// Found by the soak (4 chassis): the primary restarted before its loss was
// declared, and the chassis next in line counted itself not ready while it
// bulk-synced the new incarnation's (empty) table. The survivors disagreed
// on who comes next, nobody took over, and the new incarnation won the
// election with nothing. What a takeover needs is the previous incarnation's
// complete table, which the mirror keeps: holding it is being ready.
TEST(Orphans, AMirrorHoldingACompleteOrphanStaysReady) {
  // Whether a survivor is ever caught between the two incarnations depends
  // on how the network reorders frames (a few seeds in twenty do): several
  // seeds, so a change that shifts the random draws does not make the case
  // test nothing. It stops once three steps were caught.
  int unsynced_steps = 0;
  for (uint64_t seed = 20; seed < 40 && unsynced_steps < 3; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    SimChassisCluster c(3, 1, seed);
    uint8_t old = 0;
    ASSERT_NO_FATAL_FAILURE(RestartThePrimaryBeforeItsLossIsDeclared(c, &old));
    // The new incarnation's bulk sync is held back: its blade's frames to the
    // survivors' blades are late (reordered) while the managers talk freely.
    c.net().faults().delay = 1.0;
    for (int ms = 0; ms < 400; ++ms) {
      c.RunFor(milliseconds(1));
      for (uint8_t x = 1; x <= 3; ++x) {
        if (x == old) continue;
        const StandbyTable* so = c.blade(x, 1)->standby(old);
        ASSERT_NE(so, nullptr);
        if (so->in_sync() || so->adoptable().live() != static_cast<size_t>(kSessions)) continue;
        ++unsynced_steps;
        EXPECT_TRUE(c.blade(x, 1)->ready()) << "chassis " << int(x) << " at " << ms << " ms after the restart";
      }
    }
    c.net().faults().delay = 0.0;
    c.RunFor(seconds(3));
    const std::vector<uint8_t> now = c.TrafficChassis();
    ASSERT_EQ(now.size(), 1u);
    int owners = 0;
    for (int i = 0; i < kSessions; ++i) {
      for (uint8_t x = 1; x <= 3; ++x) owners += c.blade(x, 1)->owned().Find(KeyOf(i)).has_value();
    }
    EXPECT_EQ(owners, kSessions) << "every session of the restarted primary owned once";
  }
  EXPECT_GE(unsynced_steps, 3) << "survivors were hardly ever between the two incarnations: the case tests little";
}

// Orphans nobody adopts are dropped after max(2 s, 4 x the detection time):
// three chassis, the primary restarts before its loss is declared; one
// survivor takes over, the other keeps the old incarnation's copies only
// for that while, then drops them.
TEST(Orphans, ThoseNobodyAdoptsAreDroppedAfterTheirDelay) {
  SimChassisCluster c(3, 1, 17);
  uint8_t old = 0;
  ASSERT_NO_FATAL_FAILURE(RestartThePrimaryBeforeItsLossIsDeclared(c, &old));
  c.RunFor(milliseconds(1500));  // past the takeover, short of the 2 s delay
  const std::vector<uint8_t> now = c.TrafficChassis();
  ASSERT_EQ(now.size(), 1u);
  ASSERT_NE(now[0], old);
  uint8_t bystander = 0;
  for (uint8_t x = 1; x <= 3; ++x)
    if (x != old && x != now[0]) bystander = x;
  const BladeCounters& k = c.blade(bystander, 1)->counters();
  EXPECT_EQ(k.orphaned_sessions.get(), static_cast<uint64_t>(kSessions)) << "kept for the takeover";
  EXPECT_EQ(k.orphaned_sessions_dropped.get(), 0u) << "dropped before the delay";
  c.RunFor(seconds(2));
  EXPECT_EQ(k.orphaned_sessions_dropped.get(), static_cast<uint64_t>(kSessions)) << "kept past the delay";
  std::string why;
  EXPECT_TRUE(c.MirrorsMatch(&why)) << why;
}

}  // namespace
}  // namespace bladesync::testing
