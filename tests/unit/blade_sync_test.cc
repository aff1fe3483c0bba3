// Blade-to-blade sync on the simulator: clean runs, faults, link cuts,
// restarts, expiry and the QUERY/RECREATE protocol.
#include <gtest/gtest.h>

#include "tests/support/sim_cluster.h"

namespace bladesync::testing {
namespace {

SessionState Est(const BladeAgent& b) { return SessionState{kTcpEstablished, 0, b.TimeoutFor(kProtoTcp, kTcpEstablished)}; }

TEST(BladeSync, MirrorEqualsOwnerAfterCreatesUpdatesDeletes) {
  SimBlades c(2, 1, 1);
  BladeAgent& a = c.blade(1, 1);
  std::vector<uint32_t> ids;
  for (uint32_t i = 0; i < 5000; ++i) ids.push_back(a.CreateSession(TcpFacts(i), SessionState{kTcpSynSent, 0, 10}));
  c.RunFor(milliseconds(50));
  for (size_t i = 0; i < ids.size(); i += 2) a.ChangeState(ids[i], Est(a));
  for (size_t i = 0; i < ids.size(); i += 3) a.DeleteSession(ids[i], kDeleteClosed);
  c.RunFor(milliseconds(300));
  std::string why;
  EXPECT_TRUE(c.MirrorsMatch(&why)) << why;
  EXPECT_EQ(c.blade(2, 1).standby(1)->store().live(), a.owned().live());
  EXPECT_GT(a.counters().sent[static_cast<int>(SyncOp::kUpdate)][0].get(), 0u);
  EXPECT_TRUE(a.quiet());
}

TEST(BladeSync, ConvergesUnderDropDuplicateReorder) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    SimBlades c(2, 1, seed);
    c.net().faults().drop = 0.2;
    c.net().faults().duplicate = 0.1;
    c.net().faults().delay = 0.3;
    BladeAgent& a = c.blade(1, 1);
    std::vector<uint32_t> ids;
    for (uint32_t round = 0; round < 20; ++round) {
      for (uint32_t i = 0; i < 200; ++i) ids.push_back(a.CreateSession(TcpFacts(round * 1000 + i), SessionState{kTcpSynSent, 0, 10}));
      for (size_t i = round; i < ids.size(); i += 7) a.ChangeState(ids[i], Est(a));
      for (size_t i = round; i < ids.size(); i += 11) a.DeleteSession(ids[i], kDeleteClosed);
      c.RunFor(milliseconds(20));
    }
    c.net().faults() = SimFaults{};
    c.RunFor(seconds(2));
    std::string why;
    EXPECT_TRUE(c.MirrorsMatch(&why)) << "seed " << seed << ": " << why;
    EXPECT_GT(a.counters().frames_resent.get(), 0u) << "faults should have forced resends";
  }
}

// ZeroMQ refuses a frame when its send queue is full. The stream must hold
// that frame and everything after it back: sending later frames past it made
// gaps, NACKs and resends that filled the queue again (seen with conntrack's
// many small frames).
TEST(BladeSync, FullSendQueueHoldsBackInsteadOfMakingGaps) {
  SimBlades c(2, 1, 4);
  c.net().faults().send_queue = 3;
  c.net().faults().jitter = Nanos(0);  // in order, as on one TCP connection
  BladeAgent& a = c.blade(1, 1);
  c.RunFor(milliseconds(100));
  for (uint32_t round = 0; round < 20; ++round) {
    for (uint32_t i = 0; i < 5000; ++i) a.CreateSession(TcpFacts(round * 5000 + i), Est(a));
    c.RunFor(milliseconds(1));
  }
  c.RunFor(seconds(2));
  std::string why;
  EXPECT_TRUE(c.MirrorsMatch(&why)) << why;
  EXPECT_EQ(c.blade(2, 1).standby(1)->store().live(), 100000u);
  EXPECT_GT(a.counters().send_queue_full.get(), 0u) << "the queue should have filled";
  EXPECT_EQ(c.blade(2, 1).counters().nacks_sent.get(), 0u) << "a refused frame made a gap";
  EXPECT_EQ(a.counters().frames_resent.get(), 0u);
}

// The sender's keep-alive goes on both links; the copy on the idle link
// overtakes frames still queued on the busy one. That is no gap: on a
// clean run the live conntrack sync NACKed and resent a frame of ~500
// entries this way once or twice per 100k, and nacks_sent counted it.
TEST(BladeSync, AKeepAliveOvertakingDataOnTheOtherLinkIsNoGap) {
  SimBlades c(2, 1, 7);
  c.net().faults().jitter = Nanos(0);
  c.net().faults().link_latency[static_cast<int>(Link::kM1)] = milliseconds(10);  // a queue on M1
  BladeAgent& a = c.blade(1, 1);
  c.RunFor(milliseconds(300));
  for (uint32_t round = 0; round < 200; ++round) {
    for (uint32_t i = 0; i < 50; ++i) a.CreateSession(TcpFacts(round * 50 + i), Est(a));
    c.RunFor(milliseconds(5));
  }
  c.RunFor(seconds(1));
  std::string why;
  EXPECT_TRUE(c.MirrorsMatch(&why)) << why;
  EXPECT_GT(a.counters().keepalives_sent.get(), 6u) << "keep-alives should have gone during the sync";
  EXPECT_EQ(c.blade(2, 1).counters().nacks_sent.get(), 0u);
  EXPECT_EQ(a.counters().frames_resent.get(), 0u);
}

// A gap that only the other link's keep-alive shows is still NACKed, once
// it stayed open longer than the other link's queue would explain.
TEST(BladeSync, AGapOnlyTheOtherLinkShowsIsNackedAfterAWhile) {
  SimBlades c(2, 1, 8);
  c.net().faults().jitter = Nanos(0);
  BladeAgent& a = c.blade(1, 1);
  for (uint32_t i = 0; i < 100; ++i) a.CreateSession(TcpFacts(i), Est(a));
  c.RunFor(milliseconds(300));
  const uint64_t nacks = c.blade(2, 1).counters().nacks_sent.get();
  c.net().faults().drop = 1.0;  // the next frames are lost, keep-alives too
  for (uint32_t i = 100; i < 200; ++i) a.CreateSession(TcpFacts(i), Est(a));
  c.RunFor(milliseconds(5));
  c.net().faults().drop = 0.0;
  c.net().Cut(1, 2, Link::kM1);  // only M2's keep-alive gets through
  c.RunFor(milliseconds(450));
  std::string why;
  EXPECT_TRUE(c.MirrorsMatch(&why)) << why;
  EXPECT_GT(c.blade(2, 1).counters().nacks_sent.get(), nacks);
}

TEST(BladeSync, SyncMovesToM2WhenM1IsCutAndBack) {
  SimBlades c(2, 1, 3);
  BladeAgent& a = c.blade(1, 1);
  for (uint32_t i = 0; i < 1000; ++i) a.CreateSession(TcpFacts(i), Est(a));
  c.RunFor(milliseconds(100));
  c.net().Cut(1, 2, Link::kM1);
  for (uint32_t i = 1000; i < 2000; ++i) a.CreateSession(TcpFacts(i), Est(a));
  c.RunFor(seconds(1));
  EXPECT_EQ(a.outbound(2)->active_link(), Link::kM2);
  std::string why;
  EXPECT_TRUE(c.MirrorsMatch(&why)) << why;
  EXPECT_GT(a.counters().sent[static_cast<int>(SyncOp::kCreate)][1].get(), 0u);
  c.net().Restore(1, 2, Link::kM1);
  c.RunFor(seconds(1));
  EXPECT_EQ(a.outbound(2)->active_link(), Link::kM1);
  for (uint32_t i = 2000; i < 2100; ++i) a.CreateSession(TcpFacts(i), Est(a));
  c.RunFor(milliseconds(200));
  EXPECT_TRUE(c.MirrorsMatch(&why)) << why;
  // Exactly once: each applied create counted once per session.
  EXPECT_EQ(c.blade(2, 1).counters().applied[static_cast<int>(SyncOp::kCreate)].get() +
                c.blade(2, 1).counters().applied[static_cast<int>(SyncOp::kBulkSync)].get(),
            2100u);
}

TEST(BladeSync, RestartedMirrorGetsBulkSync) {
  SimBlades c(2, 1, 4);
  BladeAgent& a = c.blade(1, 1);
  for (uint32_t i = 0; i < 3000; ++i) a.CreateSession(TcpFacts(i), Est(a));
  c.RunFor(milliseconds(100));
  c.Kill(2, 1);
  for (uint32_t i = 3000; i < 3500; ++i) a.CreateSession(TcpFacts(i), Est(a));
  c.RunFor(milliseconds(100));
  c.Revive(2, 1, 2);
  c.RunFor(seconds(1));
  std::string why;
  EXPECT_TRUE(c.MirrorsMatch(&why)) << why;
  EXPECT_TRUE(c.blade(2, 1).ready());
  EXPECT_GE(a.counters().bulk_syncs_started.get(), 2u);
}

TEST(BladeSync, RestartedOwnerNewEpochReplacesOldTable) {
  SimBlades c(2, 1, 5);
  for (uint32_t i = 0; i < 100; ++i) c.blade(1, 1).CreateSession(TcpFacts(i), Est(c.blade(1, 1)));
  c.RunFor(milliseconds(300));
  EXPECT_EQ(c.blade(2, 1).standby(1)->store().live(), 100u);
  c.Kill(1, 1);
  c.Revive(1, 1, 2);
  BladeAgent& a = c.blade(1, 1);
  for (uint32_t i = 0; i < 10; ++i) a.CreateSession(TcpFacts(5000 + i), Est(a));
  c.RunFor(seconds(1));
  std::string why;
  EXPECT_TRUE(c.MirrorsMatch(&why)) << why;
  EXPECT_EQ(c.blade(2, 1).standby(1)->epoch(), 2u);
  EXPECT_EQ(c.blade(2, 1).standby(1)->store().live(), 10u);
}

TEST(BladeSync, OwnerExpirySendsDelete) {
  SimBlades c(2, 1, 6);
  BladeAgent& a = c.blade(1, 1);
  for (uint32_t i = 0; i < 100; ++i) a.CreateSession(TcpFacts(i), SessionState{kTcpSynSent, 0, 2});
  c.RunFor(milliseconds(200));
  EXPECT_EQ(c.blade(2, 1).standby(1)->store().live(), 100u);
  c.RunFor(seconds(4));
  EXPECT_EQ(a.owned().live(), 0u);
  EXPECT_EQ(c.blade(2, 1).standby(1)->store().live(), 0u);
  EXPECT_TRUE(c.MirrorsMatch());
}

// An idle blade sleeps until its next keep-alive, status or link deadline
// instead of ticking every ack-delay (500 wake-ups a second were most of
// what an idle chassis cost, issue 22), and a change made while it sleeps
// is on the mirror and acknowledged as fast as when it ticked.
TEST(BladeSync, AnIdleBladeSleepsAndAChangeWakesIt) {
  SimBlades c(2, 1, 7);
  c.RunFor(seconds(2));  // the start-up's bulk syncs are done
  const uint64_t before = c.sched().events_run();
  c.RunFor(seconds(10));
  const uint64_t events = c.sched().events_run() - before;
  // Two blades, 10 s: ticking every 2 ms alone was 10,000 events. Asleep,
  // each has keep-alives on two links every 100 ms, a status every 133 ms
  // and the deliveries of all of them: about 60 a second.
  EXPECT_LT(events, 2u * 10 * 150) << "an idle blade still ticks";
  EXPECT_GT(events, 2u * 10 * 20) << "an idle blade stopped its keep-alives";
  EXPECT_EQ(c.blade(1, 1).outbound(2)->active_link(), Link::kM1);
  EXPECT_EQ(c.blade(2, 1).counters().link_switches.get(), 0u) << "a sleeping blade let its links look lost";

  BladeAgent& a = c.blade(1, 1);
  c.RunFor(milliseconds(37));  // between two deadlines
  // The first frame is acked as it lands (the mirror's last ack is old);
  // the second, within ack-delay, is acked by the mirror's tick, which a
  // sleeping mirror must bring forward.
  a.CreateSession(TcpFacts(1), Est(a));
  c.RunFor(milliseconds(1));
  a.CreateSession(TcpFacts(2), Est(a));
  c.RunFor(milliseconds(4));
  EXPECT_EQ(c.blade(2, 1).standby(1)->store().live(), 2u) << "the change waited for the next deadline";
  EXPECT_TRUE(a.outbound(2)->idle()) << "its ack waited for the next deadline";
  std::string why;
  EXPECT_TRUE(c.MirrorsMatch(&why)) << why;
}

// A blade whose peer died sleeps too: its frames to the peer stay in
// flight (no ack will come) and are resent a resend timeout apart, not
// looked at every 2 ms; the peer back, it is caught up.
TEST(BladeSync, ABladeWhosePeerDiedSleeps) {
  SimBlades c(2, 1, 9);
  BladeAgent& a = c.blade(1, 1);
  c.RunFor(seconds(1));
  c.Kill(2, 1);
  for (uint32_t i = 0; i < 100; ++i) a.CreateSession(TcpFacts(i), Est(a));
  c.RunFor(seconds(2));  // both links are lost after 300 ms
  ASSERT_FALSE(a.outbound(2)->idle()) << "nothing in flight: the case tests nothing";
  const uint64_t before = c.sched().events_run();
  c.RunFor(seconds(5));
  // Ticking every 2 ms was 2,500 events; a resend every 50 ms and the
  // keep-alives are about 60 a second.
  EXPECT_LT(c.sched().events_run() - before, 5u * 200) << "a blade with a dead peer still ticks every 2 ms";
  c.Revive(2, 1, 2);
  c.RunFor(seconds(2));
  std::string why;
  EXPECT_TRUE(c.MirrorsMatch(&why)) << why;
}

// Idle, a blade pair sends what link detection needs and no more (issue
// 22): keep-alives so that three may be missed per link-loss window, no acks (each
// side's keep-alives feed the one link monitor both streams share), and a
// cut link is still found on both sides and sync moves to M2.
TEST(BladeSync, IdleStreamsSendOnlyWhatDetectionNeeds) {
  SimBlades c(2, 1, 8, [](BladeConfig& cfg) { cfg.hb_lost_threshold = 6; });  // links lost after 600 ms
  BladeAgent& a = c.blade(1, 1);
  BladeAgent& b = c.blade(2, 1);
  c.RunFor(seconds(2));
  const uint64_t keepalives = a.counters().keepalives_sent.get();
  const uint64_t acks = b.counters().acks_sent.get();
  c.RunFor(seconds(10));
  // One every 167 ms ((600 - 100) / 3: three may be missed with an
  // interval to spare) on each of two links, not one every 100 ms.
  EXPECT_NEAR(static_cast<double>(a.counters().keepalives_sent.get() - keepalives), 120.0, 4.0);
  EXPECT_EQ(b.counters().acks_sent.get(), acks) << "an idle mirror acked keep-alives";

  c.net().Cut(1, 2, Link::kM1);
  c.net().Cut(2, 1, Link::kM1);
  c.RunFor(seconds(1));
  EXPECT_EQ(a.outbound(2)->active_link(), Link::kM2);
  EXPECT_EQ(b.outbound(1)->active_link(), Link::kM2);
  a.CreateSession(TcpFacts(1), Est(a));
  c.RunFor(milliseconds(20));
  EXPECT_EQ(b.standby(1)->store().live(), 1u);
  EXPECT_TRUE(a.outbound(2)->idle()) << "acked on M2";
  c.net().Restore(1, 2, Link::kM1);
  c.net().Restore(2, 1, Link::kM1);
  c.RunFor(seconds(1));
  EXPECT_EQ(a.outbound(2)->active_link(), Link::kM1);
  EXPECT_EQ(b.outbound(1)->active_link(), Link::kM1);
}

// Found by the soak: the owner's sweep expired a session, and a keep-alive
// sent in the same loop turn, before the DELETE reached the change log,
// summarized the table without it. Sent on M1 and M2 and duplicated on the
// way, one such summary looked like three in a row and put an honest
// mirror in doubt (a needless bulk sync). Here deletes land at the start
// of loop turns across every phase of the keep-alive timer (one of them
// shares its turn), every frame arrives twice and in order: no summary
// may contradict the stream.
TEST(BladeSync, AChangeIsOnTheStreamBeforeAnySummaryCountsIt) {
  SimBlades c(2, 1, 3);
  c.net().faults().duplicate = 1.0;
  c.net().faults().jitter = Nanos(0);
  BladeAgent& a = c.blade(1, 1);
  std::vector<uint32_t> ids;
  for (uint32_t i = 0; i < 60; ++i) ids.push_back(a.CreateSession(TcpFacts(i), Est(a)));
  c.RunFor(milliseconds(500));
  // 14 ms apart (even, and prime to the 100 ms keep-alive interval in 2 ms
  // ticks): every tick phase of the keep-alive is hit once. Scheduled now,
  // each runs before the tick due at the same instant.
  const Nanos base = c.sched().now() + milliseconds(100);
  int shared_turns = 0;  // deletes whose loop turn also sent a keep-alive
  for (size_t k = 0; k < ids.size(); ++k) {
    const Nanos at = base + milliseconds(14) * static_cast<int64_t>(k);
    auto keepalives = std::make_shared<uint64_t>();
    c.sched().ScheduleAt(at, nullptr, [&a, id = ids[k], keepalives] {
      *keepalives = a.counters().keepalives_sent.get();
      a.DeleteSession(id, kDeleteClosed);
    });
    c.sched().ScheduleAt(at + Nanos(1), nullptr, [&a, &shared_turns, keepalives] {
      shared_turns += a.counters().keepalives_sent.get() > *keepalives;
    });
  }
  c.RunFor(seconds(2));
  ASSERT_GE(shared_turns, 1) << "no delete shared its turn with a keep-alive: the case tests nothing";
  EXPECT_EQ(a.owned().live(), 0u);
  EXPECT_EQ(c.blade(2, 1).counters().bulk_syncs_in_doubt.get(), 0u) << "a summary contradicted the stream";
  std::string why;
  EXPECT_TRUE(c.MirrorsMatch(&why)) << why;
}

TEST(BladeSync, MirrorExpiryQueriesAndOwnerRecreates) {
  SimBlades c(2, 1, 7);
  BladeAgent& a = c.blade(1, 1);
  std::vector<uint32_t> ids;
  for (uint32_t i = 0; i < 50; ++i) ids.push_back(a.CreateSession(TcpFacts(i), SessionState{kTcpEstablished, 0, 3}));
  c.RunFor(milliseconds(200));
  // Packets keep the owner's sessions alive; the mirror sees none of them.
  for (int step = 0; step < 40; ++step) {
    for (uint32_t id : ids) a.Refresh(id);
    c.RunFor(milliseconds(100));
  }
  const BladeCounters& m = c.blade(2, 1).counters();
  EXPECT_GT(m.sent[static_cast<int>(SyncOp::kQuery)][0].get(), 0u);
  EXPECT_GT(m.applied[static_cast<int>(SyncOp::kRecreate)].get(), 0u);
  // Not every mirror copy is there at every instant (expired, then
  // recreated), but once the last queries are answered (well before the
  // owner's 3 s timers run out) the tables agree: all 50, same digest.
  c.RunFor(seconds(1));
  EXPECT_EQ(a.owned().live(), 50u);
  EXPECT_EQ(c.blade(2, 1).standby(1)->store().live(), 50u);
  std::string why;
  EXPECT_TRUE(c.MirrorsMatch(&why)) << why;
}

TEST(BladeSync, HostileBytesAreCountedAndHarmless) {
  SimBlades c(2, 1, 8);
  BladeAgent& a = c.blade(1, 1);
  for (uint32_t i = 0; i < 100; ++i) a.CreateSession(TcpFacts(i), Est(a));
  c.RunFor(milliseconds(100));
  std::mt19937_64 rng(9);
  for (int i = 0; i < 200; ++i) {
    std::vector<uint8_t> junk(1 + rng() % 300);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    if (i % 2 == 0 && junk.size() > 8) std::memcpy(junk.data() + 4, "BSY1", 4);
    c.net().Inject(NodeId{1, 1}, NodeId{2, 1}, Link::kM1, junk);
  }
  c.RunFor(milliseconds(100));
  EXPECT_EQ(c.blade(2, 1).counters().dropped[static_cast<int>(DropReason::kMalformed)].get(), 200u);
  EXPECT_TRUE(c.MirrorsMatch());
}

}  // namespace
}  // namespace bladesync::testing

namespace bladesync::testing {
namespace {

// A bulk sync that stalls is asked for again, a bounded number of times, and
// the blade is not ready (so its chassis takes no traffic) until it is done
// or given up.
TEST(BulkSync, NotReadyUntilDoneThenRetriesThenGivesUp) {
  SimBlades c(2, 1, 51, [](BladeConfig& b) {
    b.bulk_sync_timeout = milliseconds(500);
    b.bulk_sync_retries = 2;
    b.max_batch = 16;
    b.window = 64;  // a slow bulk sync: little in flight at once
  });
  BladeAgent& a = c.blade(1, 1);
  for (uint32_t i = 0; i < 3000; ++i) a.CreateSession(TcpFacts(i), SessionState{kTcpEstablished, 0, 3600});
  c.RunFor(milliseconds(300));
  c.Kill(2, 1);
  c.Revive(2, 1, 2);
  c.RunFor(milliseconds(20));
  EXPECT_FALSE(c.blade(2, 1).ready()) << "bulk-syncing: not ready";
  // Both links die in the middle of the bulk sync: it can never finish.
  c.net().Cut(1, 2, Link::kM1);
  c.net().Cut(1, 2, Link::kM2);
  c.RunFor(milliseconds(1200));
  EXPECT_FALSE(c.blade(2, 1).ready());
  EXPECT_GE(c.blade(2, 1).counters().bulk_sync_timeouts.get(), 1u);
  c.RunFor(seconds(2));
  EXPECT_EQ(c.blade(2, 1).counters().bulk_sync_timeouts.get(), 2u) << "bounded retries";
  EXPECT_EQ(c.blade(2, 1).counters().bulk_sync_abandoned.get(), 1u);
  EXPECT_TRUE(c.blade(2, 1).ready()) << "stops waiting after the last retry";
  // Links back: a later bulk sync completes and the table converges.
  c.net().Restore(1, 2, Link::kM1);
  c.net().Restore(1, 2, Link::kM2);
  c.RunFor(seconds(3));
  std::string why;
  EXPECT_TRUE(c.MirrorsMatch(&why)) << why;
  EXPECT_TRUE(c.blade(2, 1).standby(1)->in_sync());
}

}  // namespace
}  // namespace bladesync::testing

namespace bladesync::testing {
namespace {

uint64_t TraceOf(uint64_t seed) {
  SimBlades c(2, 1, seed);
  c.net().faults().drop = 0.1;
  c.net().faults().delay = 0.3;
  for (uint32_t i = 0; i < 300; ++i) c.blade(1, 1).CreateSession(TcpFacts(i), SessionState{kTcpEstablished, 0, 3600});
  c.RunFor(seconds(1));
  return c.sched().trace_hash();
}

TEST(SimDeterminism, SameSeedSameTraceOtherSeedOtherTrace) {
  EXPECT_EQ(TraceOf(11), TraceOf(11));
  EXPECT_NE(TraceOf(11), TraceOf(12));
}

}  // namespace
}  // namespace bladesync::testing

namespace bladesync::testing {
namespace {

// session-table-reserve sizes every table at start, owned and standby, at
// about 80 bytes per session (README, Table sizing); without it they start
// small and grow.
TEST(BladeSync, SessionTableReserveSizesEveryTableAtStart) {
  constexpr size_t kReserve = 200000;
  SimBlades sized(2, 1, 3, [](BladeConfig& b) { b.table_reserve = kReserve; });
  SimBlades grown(2, 1, 3);
  for (const SessionStore* t : {&sized.blade(1, 1).owned(), &sized.blade(1, 1).standby(2)->store()}) {
    const double per_session = static_cast<double>(t->MemoryBytes()) / kReserve;
    EXPECT_GE(per_session, 40.0);
    EXPECT_LE(per_session, 120.0);
  }
  EXPECT_LT(grown.blade(1, 1).owned().MemoryBytes(), kReserve * 40 / 10) << "unsized tables start small";
  // Filling the reserve does not grow the index again.
  BladeAgent& a = sized.blade(1, 1);
  const size_t before = a.owned().MemoryBytes();
  for (uint32_t i = 0; i < 100000; ++i) a.CreateSession(TcpFacts(i), SessionState{kTcpEstablished, 0, 3600});
  EXPECT_LE(a.owned().MemoryBytes(), before + before / 10);
}

}  // namespace
}  // namespace bladesync::testing

namespace bladesync::testing {
namespace {

// Chassis whose blades run different blade-workers counts (a config that
// differs, or a change rolled out one chassis at a time) do not mirror
// each other: worker slot 2 of a two-worker blade is another shard than
// slot 2 of a one-worker chassis. The mirror drops such deltas (counted,
// not in sync) instead of holding sessions it would adopt on the wrong
// blade; alike counts sync.
TEST(BladeSync, BladesOfAnotherWorkerCountAreNotMirrored) {
  for (const uint8_t mirror_workers : {uint8_t{2}, uint8_t{1}}) {
    SimBlades c(2, 1, 5, [&](BladeConfig& b) { b.workers = b.chassis == 1 ? 2 : mirror_workers; });
    c.RunFor(milliseconds(300));
    BladeAgent& a = c.blade(1, 1);
    for (uint32_t i = 0; i < 100; ++i) a.CreateSession(TcpFacts(i), SessionState{kTcpSynSent, 0, 10});
    c.RunFor(milliseconds(500));
    const StandbyTable* so = c.blade(2, 1).standby(1);
    const uint64_t dropped = c.blade(2, 1).counters().dropped[static_cast<int>(DropReason::kWrongSlot)].get();
    if (mirror_workers == 2) {
      EXPECT_EQ(so->store().live(), 100u);
      EXPECT_EQ(dropped, 0u);
    } else {
      EXPECT_EQ(so->store().live(), 0u) << "a one-worker blade mirrored a two-worker blade's worker";
      EXPECT_FALSE(so->in_sync());
      EXPECT_GT(dropped, 0u);
    }
  }
}

}  // namespace
}  // namespace bladesync::testing
