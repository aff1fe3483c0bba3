// The expiry race of the FortiOS session-sync protocol (seed 000):
//   both sides run the same timer; the mirror expires the session first,
//   deletes it and QUERYs the owner; the owner still has it and answers
//   RECREATE; then the owner's own timer expires it and it sends DELETE.
// If the RECREATE can arrive after the DELETE, the mirror ends up with a
// session the owner no longer has. The naive variant (answer outside the
// ordered stream, no version check) shows that outcome; bladesync's answer
// travels on the same ordered stream and carries the session version, so it
// cannot happen, also when the stream moves from M1 to M2 in the middle.
#include <gtest/gtest.h>

#include <algorithm>

#include "blades/delta_codec.h"
#include "tests/support/broken_blades.h"

namespace bladesync::testing {
namespace {

struct Outcome {
  size_t owner = 0;
  size_t mirror = 0;
  uint64_t recreates_applied = 0;
  uint64_t queries = 0;
  uint64_t link_switches = 0;
  size_t most_extra = 0;          // the most sessions the mirror held beyond its owner's, sampled every 10 ms
  uint64_t bulk_syncs_in_doubt = 0;  // the mirror found out from the owner's idle summary
};

Outcome RunRace(bool naive, bool cut_m1_during_recreate) {
  SimBlades c(2, 1, 21, {}, Broken{.naive_recreate = naive}.BladeMaker());
  c.net().faults().jitter = Nanos(0);
  c.net().faults().link_latency[static_cast<int>(Link::kM2)] = milliseconds(200);  // the other path is slower
  BladeAgent& owner = c.blade(1, 1);
  SessionFacts f;
  f.key = SessionKey::V4(0x0a000001, 0xc6336401, 5353, 53, kProtoUdp);
  const uint32_t id = owner.CreateSession(f, SessionState{kUnreplied, 0, 2});
  c.RunFor(milliseconds(150));
  // A packet at 150 ms: the owner's timer now ends one sweep after the mirror's.
  owner.Refresh(id);
  EXPECT_EQ(c.blade(2, 1).standby(1)->store().live(), 1u);
  c.RunFor(milliseconds(1840));  // t = 1.99 s: just before the mirror's timer
  if (cut_m1_during_recreate) {
    // Step until the owner has answered the QUERY, then cut M1 with the
    // answer still in flight.
    const auto& sent = owner.counters().sent[static_cast<int>(SyncOp::kRecreate)];
    for (int i = 0; i < 1'000'000 && sent[0].get() + sent[1].get() == 0; ++i) c.sched().RunOne();
    EXPECT_GT(sent[0].get() + sent[1].get(), 0u) << "the owner never answered the QUERY";
    c.net().Cut(1, 2, Link::kM1);
  }
  Outcome o;
  for (int i = 0; i < 100; ++i) {  // t ~ 3 s: well before the mirror's next timer
    c.RunFor(milliseconds(10));
    const size_t m = c.blade(2, 1).standby(1)->store().live(), w = owner.owned().live();
    o.most_extra = std::max(o.most_extra, m > w ? m - w : 0);
  }
  o.owner = owner.owned().live();
  o.mirror = c.blade(2, 1).standby(1)->store().live();
  o.recreates_applied = c.blade(2, 1).counters().applied[static_cast<int>(SyncOp::kRecreate)].get();
  o.queries = c.blade(2, 1).counters().sent[static_cast<int>(SyncOp::kQuery)][0].get() +
              c.blade(2, 1).counters().sent[static_cast<int>(SyncOp::kQuery)][1].get();
  o.link_switches = owner.counters().link_switches.get();
  o.bulk_syncs_in_doubt = c.blade(2, 1).counters().bulk_syncs_in_doubt.get();
  return o;
}

TEST(ExpiryRace, NaiveVariantEndsWithAnExtraSessionOnTheMirror) {
  Outcome o = RunRace(/*naive=*/true, /*cut=*/false);
  EXPECT_GE(o.queries, 1u);
  EXPECT_EQ(o.recreates_applied, 1u);
  EXPECT_EQ(o.owner, 0u);
  EXPECT_EQ(o.most_extra, 1u) << "the seed's bug: the secondary has more sessions than the primary";
  // Not for good any more: the idle owner's summaries keep saying it holds
  // nothing (a lasting difference, not a delete in flight), and the mirror
  // resyncs.
  EXPECT_GE(o.bulk_syncs_in_doubt, 1u);
  EXPECT_EQ(o.mirror, 0u);
}

TEST(ExpiryRace, OrderedVersionedAnswerCannotResurrect) {
  Outcome o = RunRace(/*naive=*/false, /*cut=*/false);
  EXPECT_GE(o.queries, 1u);
  EXPECT_EQ(o.recreates_applied, 1u);  // the same race happened: the owner did answer RECREATE
  EXPECT_EQ(o.owner, 0u);
  EXPECT_EQ(o.mirror, 0u);
  EXPECT_EQ(o.bulk_syncs_in_doubt, 0u) << "by the protocol, not by a resync";
}

TEST(ExpiryRace, OrderedAnswerSurvivesAnM1ToM2SwitchInTheMiddle) {
  Outcome o = RunRace(/*naive=*/false, /*cut=*/true);
  EXPECT_GE(o.link_switches, 1u) << "the stream should have moved to M2";
  EXPECT_EQ(o.owner, 0u);
  EXPECT_EQ(o.mirror, 0u);
}

// The version check on its own: a RECREATE at or below a DELETE the mirror
// saw is dropped and counted, even when it arrives in sequence.
TEST(ExpiryRace, StaleRecreateBelowTombstoneIsDropped) {
  SimBlades c(2, 1, 22);
  c.RunFor(milliseconds(100));
  c.Kill(1, 1);  // from here on the test speaks for the owner
  BladeAgent& mirror = c.blade(2, 1);
  const StandbyTable* so = mirror.standby(1);
  const uint32_t epoch = so->epoch();
  uint64_t seq = so->next_seq();
  ASSERT_TRUE(so->in_sync());
  DeltaEncoder enc;
  SessionRecord r;
  r.key = SessionKey::V4(0x0a000009, 0xc6336401, 4000, 53, kProtoUdp);
  r.timeout_s = 60;
  auto send = [&](auto add) {
    enc.Reset();
    add();
    BatchHeader h;
    h.from = wire::Origin(1, epoch, 1, 1);
    h.first_seq = seq;
    h.seq_count = 1;
    h.dest_chassis = 2;
    seq += 1;
    std::span<const uint8_t> b = enc.FinishBatch(h);
    mirror.OnFrame(FrameMeta{Link::kM1, -1}, b);
  };
  r.version = 5;
  send([&] { enc.AddCreate(77, r, nullptr, false); });
  EXPECT_EQ(so->store().live(), 1u);
  send([&] { enc.AddDelete(77, 10, 1); });
  EXPECT_EQ(so->store().live(), 0u);
  send([&] { enc.AddCreate(77, r, nullptr, /*recreate=*/true); });  // version 5 <= 10
  EXPECT_EQ(so->store().live(), 0u);
  EXPECT_EQ(mirror.counters().dropped[static_cast<int>(DropReason::kStaleRecreate)].get(), 1u);
  r.version = 11;  // a newer incarnation of the id is fine
  send([&] { enc.AddCreate(77, r, nullptr, false); });
  EXPECT_EQ(so->store().live(), 1u);
}

}  // namespace
}  // namespace bladesync::testing
