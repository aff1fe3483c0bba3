// The promises P1-P6 of DESIGN.md, checked with rapidcheck/state on whole
// chassis (managers and blades) on the simulator.
//
// Commands are traffic (create, establish, delete, idle expiry by advancing
// time), faults (drop/duplicate/delay, link cuts, glitches of both links and
// pauses shorter than two heartbeats, clock skew, malformed frames, an M1+M2
// partition longer than the detection time), failover (kill -9 of the
// chassis that processes traffic or of one of its blades, restart with a new
// epoch after or before its loss was declared, `execute ha failover`) and
// quiesce. The model below is the test's
// own record of what traffic did; after each quiesce every chassis is
// checked against it:
//   P1 convergence: every mirror equals its owner, every blade ready;
//   P2 no acknowledged session lost: each live session is owned, in its
//      latest acknowledged state, by a chassis that processes traffic;
//   P3 no resurrection: a deleted or idle-expired session is nowhere;
//   P4 exactly one chassis processes traffic, and faults within the budget
//      (glitches, pauses under the loss threshold) never move it;
//   P5 bounded memory: change logs drained, tables no larger than the
//      sessions the model has seen;
//   P6 hostile frames are counted and dropped, and change nothing above.
// Each case runs twice: the event-trace hashes must be equal (replay).
// tools/soak.sh runs batches with fresh seeds for a bounded time and sums
// the counts each batch prints.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/detail/TestListenerAdapter.h>
#include <rapidcheck/detail/Configuration.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <chrono>
#include <initializer_list>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "core/hash.h"
#include "tests/support/broken_blades.h"
#include "tests/support/forged_frames.h"
#include "tests/support/sim_chassis_cluster.h"

namespace bladesync::testing {
namespace {

// A broken variant of the cluster (its teeth), or none.
using Variant = Broken;

// ---- the model: what traffic did, independent of the code under test ----
struct MSession {
  bool udp = false;
  uint8_t state = kTcpSynSent;
  bool deleted = false;
  int64_t expires_ms = -1;  // short-lived: dead after this (virtual ms)
  int establishes = 0;      // state changes: each an update, and a restart of the timers
};
struct Model {
  int chassis = 2;
  int slots = 1;    // blades per chassis
  int workers = 1;  // blade-workers: the nodes are slots x workers worker slots
  uint64_t seed = 1;
  int nodes() const { return slots * workers; }
  std::map<uint32_t, MSession> sessions;
  std::set<int> alive;
  bool settled = false;
  int64_t now_ms = 0;
  int64_t last_kill_ms = -100000;
  size_t max_live = 0;

  bool live(uint32_t k) const {
    auto it = sessions.find(k);
    return it != sessions.end() && !it->second.deleted && (it->second.expires_ms < 0 || it->second.expires_ms > now_ms);
  }
};

// Counts of what a run exercised (the soak report).
struct Stats {
  std::map<std::string, uint64_t> commands;
  uint64_t cases = 0;
  void Add(const Stats& o) {
    for (auto& [k, v] : o.commands) commands[k] += v;
    cases += o.cases;
  }
};

// ---- the system under test --------------------------------------------
struct Sut {
  Sut(const Model& m, Variant v)
      : c(m.chassis, m.slots, m.seed,
          SimClusterOptions{.blade = [](BladeConfig& b) { b.max_batch = 64; },
                            .make_blade = v.BladeMaker(),
                            .make_manager = v.ManagerMaker(),
                            .workers = m.workers}) {
    c.RunFor(seconds(2));  // hello-holddown, election, first syncs
  }
  SimChassisCluster c;
  std::set<uint32_t> uncertain;   // changed after the last acknowledgement, then their owner died
  // When each short-lived session's timer ends on the cluster's own clock.
  // The model's clock is a command-by-command estimate (a glitch waits for
  // the links to settle, an adversary for its frames) and may lag the
  // cluster's by seconds: expiry is judged on the cluster's clock (the
  // soak's first loss: three glitches, then a 2 s session "not owned").
  std::map<uint32_t, int64_t> expires_ms;
  int64_t NowMs() { return std::chrono::duration_cast<std::chrono::milliseconds>(c.sched().now()).count(); }
  // Ended on the cluster's clock (never, for a long-lived session).
  bool Ended(uint32_t k) {
    auto it = expires_ms.find(k);
    return it != expires_ms.end() && it->second <= NowMs();
  }
  std::string violation;          // first broken promise, with the command
  std::vector<std::string> violations;  // every promise a check found broken (teeth look for theirs)
  Stats stats;
  std::set<std::tuple<int, int, int>> cuts;
  bool attacked = false;  // an Adversary ran: mirrors may have had to ask for a bulk sync in doubt

  void Fail(const std::string& what) {
    if (violation.empty()) violation = what;
    if (violations.size() < 32) violations.push_back(what);
  }
  uint8_t Traffic() {
    std::vector<uint8_t> t = c.TrafficChassis();
    if (t.size() != 1) {
      Fail("P4: " + std::to_string(t.size()) + " chassis process traffic");
      return t.empty() ? 0 : t[0];
    }
    return t[0];
  }
  // Where traffic about session k goes now. Random loss heavy enough to
  // lose hb-lost-threshold heartbeats on every link makes a secondary take
  // over while the primary runs (FGCP does the same): beyond the budget, as
  // in SettledTraffic. While that split lasts traffic has no one place to
  // go: k is no longer promised (uncertain, counted) instead of P4 failing.
  // Timers run in deciseconds from the decisecond a session was born in, so
  // one ends up to 100 ms before the model's millisecond count says: a
  // session touched that close to its end may be gone, and is no longer
  // promised either way (counted).
  bool AtItsEnd(const Model& m, uint32_t k) {
    auto it = expires_ms.find(k);
    if (it == expires_ms.end() || NowMs() + 100 < it->second) return false;
    stats.commands["skipped.touched_at_its_end"]++;
    uncertain.insert(k);
    return true;
  }
  uint8_t TrafficFor(uint32_t k) {
    if (c.net().faults().drop > 0 && c.TrafficChassis().size() > 1) {
      stats.commands["split_under_loss"]++;
      uncertain.insert(k);
      return 0;
    }
    return Traffic();
  }
  static uint8_t SlotOf(const Model& m, uint32_t k) { return static_cast<uint8_t>(1 + k % m.nodes()); }
  static SessionKey KeyOf(uint32_t k, bool udp) {
    return SessionKey::V4(0x0a000000 + k, 0xc6336401, static_cast<uint16_t>(1024 + k), udp ? 53 : 443,
                          udp ? kProtoUdp : kProtoTcp);
  }
  // Every owner blade of the traffic chassis has nothing unacknowledged.
  bool WaitQuiet(uint8_t t, const Model& m, Nanos budget) {
    c.RunFor(milliseconds(5));  // changes are flushed at the end of their loop turn
    for (Nanos spent{0}; spent < budget; spent += milliseconds(50)) {
      bool quiet = true;
      for (int s = 1; s <= m.nodes(); ++s) {
        BladeAgent* b = c.blade(t, static_cast<uint8_t>(s));
        for (int p = 1; p <= m.chassis; ++p) {  // acknowledged by every live mirror
          if (p != t && c.alive(static_cast<uint8_t>(p))) quiet &= b->outbound(static_cast<uint8_t>(p))->idle();
        }
      }
      if (quiet) return true;
      c.RunFor(milliseconds(50));
    }
    return false;
  }
  // What ends on the traffic chassis: everything acknowledged by the live
  // mirrors, or else every session is marked as possibly lost (P2 covers
  // acknowledged sessions only).
  void SettleBeforeFailover(uint8_t t, const Model& m) {
    if (!WaitQuiet(t, m, seconds(3))) {
      for (auto& [k, x] : m.sessions) uncertain.insert(k);
    }
  }
  // The traffic chassis, settled as above (0 when none processes traffic).
  uint8_t SettledTraffic(const Model& m) {
    // Random loss heavy enough to lose hb-lost-threshold heartbeats on both
    // links makes a secondary take over while the primary still runs (FGCP
    // does the same): beyond the budget. Heal that before judging P4 and
    // failing over; the loss comes back afterwards.
    if (c.net().faults().drop > 0 && c.TrafficChassis().size() != 1) {
      stats.commands["loss_split_healed"]++;
      WithoutRandomLoss([&] { c.RunFor(seconds(5)); });
    }
    const uint8_t t = Traffic();
    if (t) SettleBeforeFailover(t, m);
    return t;
  }
  // Runs fn on a network without random loss, then puts the loss back: the
  // fault budget for takeovers, restarts and glitches.
  template <typename F>
  void WithoutRandomLoss(F&& fn) {
    const SimFaults saved = c.net().faults();
    c.net().faults() = SimFaults{};
    fn();
    c.net().faults() = saved;
  }
  uint64_t MalformedDrops(uint8_t chassis, int slots) {
    uint64_t n = 0;
    for (int sl = 1; sl <= slots; ++sl) n += c.blade(chassis, static_cast<uint8_t>(sl))->counters().dropped[0].get();
    return n;
  }
  uint64_t Failovers() {
    uint64_t n = 0;
    for (int x = 1; x <= c.chassis(); ++x)
      if (c.alive(static_cast<uint8_t>(x))) n += c.manager(static_cast<uint8_t>(x))->failovers();
    return n;
  }
};

using Cmd = rc::state::Command<Model, Sut>;

struct Create : Cmd {
  uint32_t key = *rc::gen::inRange<uint32_t>(0, 400);
  bool udp = *rc::gen::element(false, false, true);
  bool short_lived = *rc::gen::element(false, false, false, true);
  void checkPreconditions(const Model& m) const override { RC_PRE(m.settled && !m.sessions.count(key)); }
  void apply(Model& m) const override {
    MSession s;
    s.udp = udp;
    s.state = udp ? kUnreplied : kTcpSynSent;
    if (short_lived) s.expires_ms = m.now_ms + 2000;
    m.sessions[key] = s;
    size_t live = 0;
    for (auto& [k, x] : m.sessions) live += m.live(k);
    m.max_live = std::max(m.max_live, live);
  }
  void run(const Model& m, Sut& s) const override {
    s.stats.commands["create"]++;
    if (short_lived) s.expires_ms[key] = s.NowMs() + 2000;  // even if no chassis takes it
    const uint8_t t = s.TrafficFor(key);
    if (!t) return;
    SessionFacts f;
    f.key = Sut::KeyOf(key, udp);
    s.c.blade(t, Sut::SlotOf(m, key))->CreateSession(f, SessionState{udp ? uint8_t(kUnreplied) : uint8_t(kTcpSynSent), 0,
                                                                      short_lived ? 2u : 3600u});
  }
  void show(std::ostream& os) const override { os << "Create(" << key << (udp ? ", udp" : "") << (short_lived ? ", 2s" : "") << ")"; }
};

// A live session of the model (traffic acts on sessions that exist).
uint32_t PickLive(const Model& m) {
  std::vector<uint32_t> live;
  for (auto& [k, x] : m.sessions)
    if (m.live(k)) live.push_back(k);
  return live.empty() ? 0 : *rc::gen::elementOf(live);
}

struct Establish : Cmd {
  uint32_t key;
  explicit Establish(const Model& m) : key(PickLive(m)) {}
  void checkPreconditions(const Model& m) const override { RC_PRE(m.settled && m.live(key)); }
  void apply(Model& m) const override {
    MSession& ms = m.sessions[key];
    ms.state = ms.udp ? kReplied : kTcpEstablished;
    ++ms.establishes;
    if (ms.expires_ms >= 0) ms.expires_ms = m.now_ms + 2000;  // a state change restarts the idle timer
  }
  void run(const Model& m, Sut& s) const override {
    s.stats.commands["establish"]++;
    const uint8_t t = s.TrafficFor(key);
    if (!t || s.uncertain.count(key) || s.AtItsEnd(m, key)) return;
    const MSession& ms = m.sessions.at(key);
    BladeAgent* b = s.c.blade(t, Sut::SlotOf(m, key));
    auto id = b->Lookup(Sut::KeyOf(key, ms.udp));
    if (!id) return s.Fail("P2: live session " + std::to_string(key) + " is not owned by the traffic chassis");
    b->ChangeState(*id, SessionState{ms.udp ? uint8_t(kReplied) : uint8_t(kTcpEstablished), 0, b->owned().rec(*id).timeout_s});
    if (s.expires_ms.count(key)) s.expires_ms[key] = s.NowMs() + 2000;  // the idle timer restarts
  }
  void show(std::ostream& os) const override { os << "Establish(" << key << ")"; }
};

struct Delete : Cmd {
  uint32_t key;
  explicit Delete(const Model& m) : key(PickLive(m)) {}
  void checkPreconditions(const Model& m) const override { RC_PRE(m.settled && m.live(key)); }
  void apply(Model& m) const override { m.sessions[key].deleted = true; }
  void run(const Model& m, Sut& s) const override {
    s.stats.commands["delete"]++;
    const uint8_t t = s.TrafficFor(key);
    if (!t || s.uncertain.count(key) || s.AtItsEnd(m, key)) return;
    BladeAgent* b = s.c.blade(t, Sut::SlotOf(m, key));
    if (auto id = b->Lookup(Sut::KeyOf(key, m.sessions.at(key).udp))) b->DeleteSession(*id, kDeleteClosed);
  }
  void show(std::ostream& os) const override { os << "Delete(" << key << ")"; }
};

struct Advance : Cmd {
  int ms = *rc::gen::inRange(10, 1500);
  void apply(Model& m) const override { m.now_ms += ms; }
  void run(const Model&, Sut& s) const override {
    s.stats.commands["advance"]++;
    s.c.RunFor(milliseconds(ms));
  }
  void show(std::ostream& os) const override { os << "Advance(" << ms << "ms)"; }
};

struct Faults : Cmd {
  double drop = *rc::gen::element(0.0, 0.02, 0.1, 0.3);
  double dup = *rc::gen::element(0.0, 0.05, 0.2);
  double delay = *rc::gen::element(0.0, 0.1, 0.5);
  int send_queue = *rc::gen::element(0, 0, 2, 8);  // frames per peer link before Send refuses (ZeroMQ's HWM)
  void run(const Model&, Sut& s) const override {
    s.stats.commands["fault.net"]++;
    if (send_queue) s.stats.commands["fault.send_queue"]++;
    s.c.net().faults().drop = drop;
    s.c.net().faults().duplicate = dup;
    s.c.net().faults().delay = delay;
    s.c.net().faults().send_queue = send_queue;
  }
  void show(std::ostream& os) const override {
    os << "Faults(drop " << drop << ", dup " << dup << ", delay " << delay << ", send queue " << send_queue << ")";
  }
};

struct CutLink : Cmd {
  int a = *rc::gen::inRange(1, 5), b = *rc::gen::inRange(1, 5);
  Link link = *rc::gen::element(Link::kM1, Link::kM2);
  void checkPreconditions(const Model& m) const override { RC_PRE(a <= m.chassis && b <= m.chassis && a != b); }
  void run(const Model&, Sut& s) const override {
    s.stats.commands[link == Link::kM1 ? "fault.cut_m1" : "fault.cut_m2"]++;
    // One link at a time: both down for longer than the budget is a partition.
    const Link other = link == Link::kM1 ? Link::kM2 : Link::kM1;
    if (s.c.net().is_cut(static_cast<uint8_t>(a), static_cast<uint8_t>(b), other)) {
      s.c.net().Restore(static_cast<uint8_t>(a), static_cast<uint8_t>(b), other);
    }
    s.c.net().Cut(static_cast<uint8_t>(a), static_cast<uint8_t>(b), link);
  }
  void show(std::ostream& os) const override { os << "Cut(" << a << "-" << b << " " << LinkName(link) << ")"; }
};

// Both links down for less than hb-interval x hb-lost-threshold (300 ms), or
// the whole chassis paused as long: inside the budget, nothing may move.
struct Glitch : Cmd {
  int a = *rc::gen::inRange(1, 5), b = *rc::gen::inRange(1, 5);
  int ms = *rc::gen::inRange(20, 200);
  bool pause = *rc::gen::arbitrary<bool>();
  void checkPreconditions(const Model& m) const override {
    RC_PRE(m.settled && a <= m.chassis && b <= m.chassis && a != b && m.alive.count(a) && m.alive.count(b));
  }
  void apply(Model& m) const override { m.now_ms += 250 + ms + 400; }
  void run(const Model&, Sut& s) const override {
    s.stats.commands[pause ? "fault.pause" : "fault.glitch_m1_m2"]++;
    // The budget is this glitch alone: random loss on top of it (30% of
    // heartbeats on both links) can take a peer out legitimately.
    s.WithoutRandomLoss([&] {
      // Every peer hears every other first: silence left by the random loss
      // before it plus the glitch would add up past the budget.
      s.c.RunFor(milliseconds(250));
      const uint8_t before = s.Traffic();
      const uint64_t failovers = s.Failovers();
      const uint8_t x = static_cast<uint8_t>(a), y = static_cast<uint8_t>(b);
      if (pause) {
        s.c.PauseChassis(x);
        s.c.RunFor(milliseconds(ms));
        s.c.ResumeChassis(x);
      } else {
        for (Link l : {Link::kM1, Link::kM2}) s.c.net().Cut(x, y, l);
        s.c.RunFor(milliseconds(ms));
        for (Link l : {Link::kM1, Link::kM2}) s.c.net().Restore(x, y, l);
      }
      s.c.RunFor(milliseconds(400));
      if (s.Traffic() != before || s.Failovers() != failovers) {
        s.Fail("P4: a fault within the budget (" + std::to_string(ms) + " ms) moved the traffic or counted a failover");
      }
    });
  }
  void show(std::ostream& os) const override { os << (pause ? "Pause(" : "Glitch(") << a << "-" << b << ", " << ms << "ms)"; }
};

struct Skew : Cmd {
  int chassis = *rc::gen::inRange(1, 5);
  int ms = *rc::gen::inRange(-2000, 2000);
  void checkPreconditions(const Model& m) const override { RC_PRE(chassis <= m.chassis && m.alive.count(chassis)); }
  void run(const Model&, Sut& s) const override {
    s.stats.commands["fault.clock_skew"]++;
    s.c.SetSkew(static_cast<uint8_t>(chassis), milliseconds(ms));
  }
  void show(std::ostream& os) const override { os << "Skew(" << chassis << ", " << ms << "ms)"; }
};

struct Hostile : Cmd {
  int chassis = *rc::gen::inRange(1, 5);
  uint64_t salt = *rc::gen::arbitrary<uint64_t>();
  void checkPreconditions(const Model& m) const override { RC_PRE(chassis <= m.chassis && m.alive.count(chassis)); }
  void apply(Model& m) const override { m.now_ms += 20; }
  void run(const Model& m, Sut& s) const override {
    const uint8_t to = static_cast<uint8_t>(chassis);
    if (!s.c.alive(to)) return;
    s.stats.commands["fault.malformed"]++;
    uint64_t x = salt;
    const uint64_t before = s.MalformedDrops(to, m.nodes());
    const uint64_t manager_before = s.c.manager(to)->dropped(DropReason::kMalformed);
    const uint8_t from = static_cast<uint8_t>(1 + (chassis % m.chassis));
    int open_links = 0;  // a frame on a cut link never arrives; the rest all must be counted
    for (Link l : {Link::kM1, Link::kM2}) open_links += !s.c.net().is_cut(from, to, l);
    for (int i = 0; i < 8; ++i) {
      x = SplitMix64(x + 0x9e3779b97f4a7c15ull);
      std::vector<uint8_t> junk(16 + x % 300);
      for (size_t j = 0; j < junk.size(); ++j) junk[j] = static_cast<uint8_t>(SplitMix64(x + j));
      if (i % 2) std::copy_n("BSY1", 4, junk.begin() + 4);  // our identifier, junk around it
      for (Link l : {Link::kM1, Link::kM2}) {  // one of them may be cut
        s.c.net().Inject(NodeId{from, 1}, NodeId{to, static_cast<uint8_t>(1 + i % m.nodes())}, l, junk);
        s.c.net().Inject(NodeId{from, 0}, NodeId{to, 0}, l, junk);
      }
    }
    s.c.RunFor(milliseconds(20));
    // Every one of them, at the blades and at the manager (8 each per open link).
    s.stats.commands["judged.p6_frames"] += 16u * open_links;
    const uint64_t blades = s.MalformedDrops(to, m.nodes()) - before;
    const uint64_t manager = s.c.manager(to)->dropped(DropReason::kMalformed) - manager_before;
    if (blades != 8u * open_links || manager != 8u * open_links) {
      s.Fail("P6: malformed frames were not counted as dropped (" + std::to_string(blades) + " at the blades, " +
             std::to_string(manager) + " at the manager, of " + std::to_string(8 * open_links) + " each)");
    }
  }
  void show(std::ostream& os) const override { os << "Hostile(to " << chassis << ")"; }
};

// An attacker on M1/M2 (no key: sync is unauthenticated here) sends forged
// frames of every kind, with extreme numbers and with numbers aimed at what
// the chassis follow right now: epochs (0, 2^32-1, the next one, one bit
// flipped), sequence numbers (the mirror's next, just past it, 2^64-1; at
// the current epoch only behind the live position or absurd, since a frame
// at it is the owner's to anyone without a key),
// request ids, sizes, claiming chassis that are up. A quarter of its frames
// go to the backplane, keyed as a TCP backplane is: it holds the network's
// key or another chassis's and sends commands and blade status as this
// chassis's own. Traffic waits for the next quiesce, which requires
// P1-P6 once the adversary has stopped: nothing it claimed may lock out the
// genuine peer, lose a session or make a second primary.
struct Adversary : Cmd {
  int chassis = *rc::gen::inRange(1, 5);
  int frames = *rc::gen::inRange(1, 24);
  uint64_t salt = *rc::gen::arbitrary<uint64_t>();
  void checkPreconditions(const Model& m) const override { RC_PRE(chassis <= m.chassis && m.alive.count(chassis)); }
  void apply(Model& m) const override { m.settled = false; }
  void run(const Model& m, Sut& s) const override {
    const uint8_t to = static_cast<uint8_t>(chassis);
    if (!s.c.alive(to)) return;
    s.stats.commands["fault.adversary"]++;
    s.attacked = true;
    uint64_t x = salt;
    auto pick = [&](uint64_t n) {
      x = SplitMix64(x + 0x9e3779b97f4a7c15ull);
      return x % n;
    };
    for (int i = 0; i < frames; ++i) {
      const uint8_t slot = static_cast<uint8_t>(1 + pick(m.nodes()));
      // It claims a chassis that is up (the target itself too): one that is
      // down an attacker without a key can impersonate whole, heartbeats and
      // streams, which only authentication (CURVE) stops.
      uint8_t from = static_cast<uint8_t>(1 + pick(m.chassis));
      if (!s.c.alive(from)) from = to;
      BladeAgent* b = s.c.blade(to, slot);
      const StandbyTable* so = b ? b->standby(from) : nullptr;
      const uint32_t cur = so ? so->epoch() : 1;
      const uint32_t epochs[] = {0, 1, cur, cur + 1, 0xffffffffu, cur ^ (1u << pick(32))};
      const uint32_t epoch = epochs[pick(6)];
      const uint64_t next = so ? so->next_seq() : 1;
      const uint64_t seqs[] = {0, next, next + 1, next + 1000, 1ull << 63, ~0ull};
      uint64_t seq = seqs[pick(6)];
      // At the owner's own epoch, a frame at or just ahead of the mirror's
      // live position can take the place of the owner's next one: to anyone
      // without a key it is the owner's, and only authentication stops it
      // (README, threat model). The soak found it (a forged BulkSyncBegin made
      // a chassis unready and the role moved; forged creates were adopted:
      // P5). This attacker knows the epoch, not the live position.
      if (epoch == cur && seq >= next && seq < next + 100000) seq = next > 64 ? next - 64 : 0;
      const uint32_t counts[] = {0, 1, 64, 100000, 0xffffffffu};
      const uint32_t count = counts[pick(5)];
      const uint8_t flags = static_cast<uint8_t>(pick(16));
      const wire::Origin blade(1, epoch, from, slot), manager(1, epoch, from, 0);
      const wire::Origin own_manager(1, epoch, to, 0);
      const uint64_t ids[] = {0, 1, ~0ull, (uint64_t{epoch} << 32) + 1, (uint64_t{epoch} << 32) + (1ull << 31)};
      std::vector<uint8_t> f;
      bool to_manager = false;
      switch (pick(9)) {
        case 0: f = ForgedEmptyBulkSync(blade, to, seq); break;
        case 1: f = ForgedBatch(blade, to, seq, std::max<uint32_t>(count, 1), flags & 3, 1 + pick(8),
                                static_cast<uint32_t>(pick(2) ? pick(64) : 4194303), count); break;
        case 2: f = ForgedBatch(blade, to, seq, 0, flags); break;  // a keep-alive
        case 3: f = ForgedAck(wire::Origin(1, epoch, from, slot), to, pick(2) ? cur : epoch, seq, flags & 1, pick(2) ? 0 : seq,
                              pick(2) ? 0 : seq + count); break;
        case 4: f = ForgedCommand(pick(2) ? own_manager : manager,
                                  static_cast<wire::CommandKind>(pick(5)), from, ids[pick(5)]); break;
        case 5: f = ForgedSyns(pick(2) ? own_manager : blade, 1 + static_cast<uint32_t>(pick(200)), static_cast<uint32_t>(pick(1000))); break;
        case 6: f = ForgedHeartbeat(manager, static_cast<wire::Role>(pick(4)), seq, static_cast<uint8_t>(pick(256)),
                                    static_cast<uint8_t>(pick(256)), pick(2)); to_manager = true; break;
        case 7: f = ForgedBladeStatus(wire::Origin(1, epoch, to, slot), pick(2), ids[pick(5)]); to_manager = true; break;
        default: f = ForgedHeartbeat(wire::Origin(1, cur ^ (1u << pick(32)), from, 0), wire::Role::Secondary, 1, 0, 0);
                 to_manager = true; break;
      }
      Link link = pick(2) ? Link::kM1 : Link::kM2;
      int key_of = -1;
      if (pick(4) == 0) {
        // On the backplane, keyed (a TCP backplane under CURVE): the
        // attacker holds the network's key or another chassis's, never this
        // chassis's, and claims to be this chassis's manager or a blade.
        link = Link::kBackplane;
        key_of = pick(2) ? 0 : (to % m.chassis) + 1;
        if (pick(2)) {
          f = ForgedCommand(own_manager, static_cast<wire::CommandKind>(pick(5)), from, ids[pick(5)]);
          to_manager = false;
        } else {
          f = ForgedBladeStatus(wire::Origin(1, epoch, to, slot), pick(2), ids[pick(5)]);
          to_manager = true;
        }
      }
      s.c.net().Inject(NodeId{9, 9}, NodeId{to, to_manager ? uint8_t(0) : slot}, link, f, key_of);
      s.c.RunFor(milliseconds(pick(30)));
    }
    s.c.RunFor(milliseconds(20));
  }
  void show(std::ostream& os) const override {
    os << "Adversary(to " << chassis << ", " << frames << " frames, salt " << salt << ")";
  }
};

// kill -9 of a whole chassis: the lowest one alive, in the model and in the
// system under test alike (so later commands aim at chassis both agree are
// up). That is the traffic chassis until a takeover moved the role (counted
// as failover.kill), another one after (fault.kill_other).
struct KillTraffic : Cmd {
  void checkPreconditions(const Model& m) const override { RC_PRE(m.settled && m.alive.size() >= 2); }
  void apply(Model& m) const override {
    m.alive.erase(*m.alive.begin());
    m.settled = false;
    m.now_ms += 1500;
    m.last_kill_ms = m.now_ms;
  }
  void run(const Model& m, Sut& s) const override {
    const uint8_t victim = static_cast<uint8_t>(*m.alive.begin());
    const uint8_t t = s.SettledTraffic(m);
    if (!s.c.alive(victim)) return s.Fail("the model and the cluster disagree: chassis " + std::to_string(victim) + " is down");
    s.stats.commands[victim == t ? "failover.kill" : "fault.kill_other"]++;
    // The budget: a takeover on a network without random loss (heavy loss
    // between the survivors while they take over is beyond what is promised).
    s.WithoutRandomLoss([&] {
      s.c.KillChassis(victim);
      s.c.RunFor(milliseconds(1500));
    });
  }
  void show(std::ostream& os) const override { os << "KillLowestChassis"; }
};

struct Restart : Cmd {
  // A dead chassis back after its loss was declared (FastRestart covers a
  // restart before it was).
  void checkPreconditions(const Model& m) const override {
    RC_PRE(static_cast<int>(m.alive.size()) < m.chassis && m.now_ms - m.last_kill_ms >= 1000);
  }
  void apply(Model& m) const override {
    for (int x = 1; x <= m.chassis; ++x)
      if (!m.alive.count(x)) {
        m.alive.insert(x);
        break;
      }
    m.settled = false;
    m.now_ms += 2000;
  }
  void run(const Model& m, Sut& s) const override {
    int back = 0;
    for (int x = 1; x <= m.chassis && !back; ++x)
      if (!m.alive.count(x)) back = x;  // the one the model brings back
    if (s.c.alive(static_cast<uint8_t>(back))) return s.Fail("the model and the cluster disagree: chassis " + std::to_string(back) + " is up");
    s.stats.commands["failover.restart"]++;
    // Inside the budget: the restarted chassis hears its peers during
    // hello-holddown (under heavy loss it may not, and claim the role).
    s.WithoutRandomLoss([&] {
      s.c.RestartChassis(static_cast<uint8_t>(back));
      s.c.RunFor(seconds(2));
    });
  }
  void show(std::ostream& os) const override { os << "RestartDeadChassis"; }
};

// kill -9 and restart faster than the peers can declare the loss
// (hb-interval x hb-lost-threshold = 300 ms here): the new incarnation's
// heartbeat is how they learn it died. The traffic chassis or another one.
struct FastRestart : Cmd {
  int down_ms = *rc::gen::inRange(10, 280);
  bool traffic = *rc::gen::arbitrary<bool>();
  void checkPreconditions(const Model& m) const override { RC_PRE(m.settled && m.alive.size() >= 2); }
  void apply(Model& m) const override {
    m.settled = false;
    m.now_ms += down_ms + 2500;
  }
  void run(const Model& m, Sut& s) const override {
    const uint8_t t = s.SettledTraffic(m);
    if (!t) return;
    s.stats.commands[traffic ? "failover.fast_restart" : "fault.fast_restart_other"]++;
    uint8_t victim = t;
    if (!traffic) {
      for (int x = 1; x <= m.chassis; ++x)
        if (x != t && s.c.alive(static_cast<uint8_t>(x))) victim = static_cast<uint8_t>(x);
    }
    s.WithoutRandomLoss([&] {
      s.c.KillChassis(victim);
      s.c.RunFor(milliseconds(down_ms));
      s.c.RestartChassis(victim);
      s.c.RunFor(milliseconds(2500));
    });
  }
  void show(std::ostream& os) const override {
    os << "FastRestart(" << (traffic ? "traffic chassis" : "another chassis") << ", down " << down_ms << " ms)";
  }
};

// M1 and M2 between the traffic chassis and all others down for longer than
// the detection time, no check address: the others elect a primary that
// adopts, so two chassis are primary until the links heal (beyond the
// budget: no traffic meanwhile). Then one steps down only once the other
// holds its sessions, and the other adopts them: nothing acknowledged is lost.
struct Partition : Cmd {
  int ms = *rc::gen::inRange(400, 1500);
  void checkPreconditions(const Model& m) const override { RC_PRE(m.settled && m.alive.size() >= 2); }
  void apply(Model& m) const override {
    m.settled = false;
    m.now_ms += ms + 3000;
  }
  void run(const Model& m, Sut& s) const override {
    const uint8_t t = s.SettledTraffic(m);
    if (!t) return;
    s.stats.commands["fault.partition"]++;
    s.WithoutRandomLoss([&] {
      std::vector<std::pair<uint8_t, Link>> cut;
      for (int x = 1; x <= m.chassis; ++x) {
        for (Link l : {Link::kM1, Link::kM2}) {
          if (x == t || s.c.net().is_cut(t, static_cast<uint8_t>(x), l)) continue;
          s.c.net().Cut(t, static_cast<uint8_t>(x), l);
          cut.emplace_back(static_cast<uint8_t>(x), l);
        }
      }
      s.c.RunFor(milliseconds(ms));
      // Beyond the budget the system must say so, not lie: each side
      // reports the other lost (a takeover follows, as in FGCP).
      for (int x = 1; x <= m.chassis; ++x) {
        const uint8_t y = static_cast<uint8_t>(x);
        if (y == t || !s.c.alive(y)) continue;
        if (s.c.manager(t)->peers().at(y).alive || s.c.manager(y)->peers().at(t).alive) {
          s.Fail("a partition of M1 and M2 (" + std::to_string(ms) + " ms) is not reported: a peer still shows alive");
        }
      }
      for (auto& [x, l] : cut) s.c.net().Restore(t, x, l);
      s.c.RunFor(milliseconds(3000));
    });
  }
  void show(std::ostream& os) const override { os << "Partition(" << ms << " ms)"; }
};

// A blade of the traffic chassis dies: its chassis has fewer live blades
// than a peer, so the role moves (the peer's same-slot blade holds the dead
// blade's sessions); then the operator restarts the degraded chassis.
struct KillBlade : Cmd {
  int slot = *rc::gen::inRange(1, 3);
  void checkPreconditions(const Model& m) const override {
    RC_PRE(m.settled && m.alive.size() >= 2 && slot <= m.slots);
  }
  void apply(Model& m) const override {
    m.settled = false;
    m.now_ms += 2000 + 2500;
  }
  void run(const Model& m, Sut& s) const override {
    const uint8_t t = s.SettledTraffic(m);
    if (!t) return;
    s.stats.commands["failover.kill_blade"]++;
    s.WithoutRandomLoss([&] {
      s.c.KillBlade(t, static_cast<uint8_t>(slot));
      s.c.RunFor(milliseconds(2000));  // blade loss (5 reports), election, handover
      std::vector<uint8_t> now = s.c.TrafficChassis();
      if (now.size() != 1 || now[0] == t) {
        s.Fail("P4: after losing a blade, chassis " + std::to_string(t) + " still holds the traffic (" +
               std::to_string(now.size()) + " chassis process it)");
      }
      s.c.KillChassis(t);
      s.c.RestartChassis(t);
      s.c.RunFor(milliseconds(2500));
    });
  }
  void show(std::ostream& os) const override { os << "KillBlade(traffic chassis, slot " << slot << ")"; }
};

struct ManualFailover : Cmd {
  void checkPreconditions(const Model& m) const override { RC_PRE(m.settled && m.alive.size() >= 2); }
  void apply(Model& m) const override { m.settled = false; }
  void run(const Model& m, Sut& s) const override {
    // The old owner gives up its table when the role moves.
    const uint8_t t = s.SettledTraffic(m);
    if (!t) return;
    s.stats.commands["failover.manual"]++;
    s.WithoutRandomLoss([&] {
      s.c.manager(t)->SetManualFailover(true);
      s.c.RunFor(seconds(1));
      // The role has moved (execute ha failover set 1) when another chassis
      // is as good a candidate but for priority: every blade live, as ours
      // (a chassis with a dead blade loses on live blades, not priority).
      if (AllBladesLive(m, s, t) && OtherFullChassis(m, s, t)) {
        ++s.stats.commands["judged.manual_failover"];
        const std::vector<uint8_t> now = s.c.TrafficChassis();
        if (std::find(now.begin(), now.end(), t) != now.end()) {
          s.Fail("manual failover: chassis " + std::to_string(t) + " still processes traffic 1 s after it was set");
        }
      }
      s.c.manager(t)->SetManualFailover(false);
    });
  }
  static bool AllBladesLive(const Model& m, Sut& s, uint8_t x) {
    ChassisManager* mgr = s.c.manager(x);
    if (!mgr) return false;
    for (const auto& b : mgr->blades()) {
      if (!b.live || !b.ready) return false;
    }
    return static_cast<int>(mgr->blades().size()) == m.nodes();
  }
  static bool OtherFullChassis(const Model& m, Sut& s, uint8_t t) {
    for (int x = 1; x <= m.chassis; ++x) {
      const uint8_t c = static_cast<uint8_t>(x);
      if (c != t && s.c.alive(c) && !s.c.paused(c) && AllBladesLive(m, s, c)) return true;
    }
    return false;
  }
  void show(std::ostream& os) const override { os << "ExecuteHaFailover"; }
};

struct Quiesce : Cmd {
  void apply(Model& m) const override {
    m.settled = true;
    m.now_ms += 5000;
  }
  void run(const Model& m0, Sut& s) const override {
    s.stats.commands["quiesce"]++;
    Model m = m0;
    apply(m);
    for (int x = 1; x <= m.chassis; ++x) {
      if (s.c.alive(static_cast<uint8_t>(x)) && s.c.paused(static_cast<uint8_t>(x))) s.c.ResumeChassis(static_cast<uint8_t>(x));
      for (int y = x + 1; y <= m.chassis; ++y)
        for (Link l : {Link::kM1, Link::kM2}) s.c.net().Restore(static_cast<uint8_t>(x), static_cast<uint8_t>(y), l);
    }
    s.c.net().faults() = SimFaults{};
    s.c.RunFor(seconds(5));
    Check(m, s);
  }
  static void Check(const Model& m, Sut& s) {
    const uint8_t t = s.Traffic();  // P4
    if (!t) return;
    ++s.stats.commands["judged.p4_quiesces"];
    std::vector<uint8_t> alive;
    for (int x = 1; x <= m.chassis; ++x)
      if (s.c.alive(static_cast<uint8_t>(x))) alive.push_back(static_cast<uint8_t>(x));
    std::string why;
    for (uint8_t o : alive) {
      for (int sl = 1; sl <= m.nodes(); ++sl) {
        BladeAgent* owner = s.c.blade(o, static_cast<uint8_t>(sl));
        if (!owner->ready()) {
          s.Fail("P1: chassis " + std::to_string(o) + " slot " + std::to_string(sl) + " is not ready");
          continue;
        }
        // P5: nothing unacknowledged is kept, tables bounded by what was seen.
        // (Towards a dead mirror the log waits, bounded, for it to return:
        // per session its create, an update per state change and its
        // delete, and a RECREATE for each live mirror whose copy expired
        // first (its timer ticks on its own decisecond) and asked, at most
        // once per start of the owner's timer; those went to that mirror
        // alone but wait behind the dead one's place.)
        ++s.stats.commands["judged.p5_blades"];
        const bool all_alive = static_cast<int>(alive.size()) == m.chassis;
        const size_t live_mirrors = alive.size() - 1;
        size_t bound = 1;
        for (const auto& [k, ms] : m.sessions) {
          const size_t timer_starts = 1 + static_cast<size_t>(ms.establishes);
          bound += 1 + static_cast<size_t>(ms.establishes) + 1 + live_mirrors * timer_starts;
        }
        if (all_alive) bound = 0;
        if (owner->change_log_entries() > bound) {
          s.Fail("P5: change log of chassis " + std::to_string(o) + " holds " +
                 std::to_string(owner->change_log_entries()) + " entries (bound " + std::to_string(bound) + ")");
        }
        if (owner->owned().live() > m.max_live + s.uncertain.size()) {
          s.Fail("P5: more owned sessions than traffic created");
        }
        for (uint8_t mi : alive) {
          if (mi == o) continue;
          const StandbyTable* so = s.c.blade(mi, static_cast<uint8_t>(sl))->standby(o);
          ++s.stats.commands["judged.p1_mirrors"];
          if (!so || so->store().digest() != owner->owned().digest() || so->store().live() != owner->owned().counted()) {
            s.Fail("P1: chassis " + std::to_string(mi) + " slot " + std::to_string(sl) + " mirrors " +
                   std::to_string(so ? so->store().live() : 0) + " of chassis " + std::to_string(o) + "'s " +
                   std::to_string(owner->owned().counted()) + " sessions");
          }
        }
      }
    }
    // The self-healing that resyncs a mirror whose stream contradicts its
    // owner (or whose table differs from the owner's idle summary) is for
    // hostile input: in a case without one, the protocol alone must have
    // kept every mirror right (P1), so a bulk sync in doubt is a violation.
    if (!s.attacked) {
      for (uint8_t o : alive) {
        for (int sl = 1; sl <= m.nodes(); ++sl) {
          if (s.c.blade(o, static_cast<uint8_t>(sl))->counters().bulk_syncs_in_doubt.get() > 0) {
            s.Fail("P1: chassis " + std::to_string(o) + " slot " + std::to_string(sl) +
                   " resynced in doubt with no adversary (its stream disagreed with its owner)");
          }
        }
      }
    }
    for (auto& [k, ms] : m.sessions) {
      if (s.uncertain.count(k)) {
        ++s.stats.commands["skipped.uncertain_sessions"];
        continue;
      }
      const SessionKey key = Sut::KeyOf(k, ms.udp);
      const uint8_t slot = Sut::SlotOf(m, k);
      int owners = 0;
      bool anywhere = false;
      for (uint8_t o : alive) {
        BladeAgent* b = s.c.blade(o, slot);
        if (auto id = b->owned().Find(key)) {
          ++owners;
          anywhere = true;
          if (!ms.deleted && !s.Ended(k) && o == t && b->owned().rec(*id).proto_state != ms.state) {
            s.Fail("P2: session " + std::to_string(k) + " is in state " + std::to_string(b->owned().rec(*id).proto_state) +
                   ", acknowledged " + std::to_string(ms.state));
          }
        }
        for (uint8_t p : alive)
          if (p != o && b->standby(p) && b->standby(p)->store().Find(key)) anywhere = true;
      }
      // Expiry on the cluster's clock (Sut::expires_ms).
      auto exp = s.expires_ms.find(k);
      const int64_t now = s.NowMs();
      const bool expiring = exp != s.expires_ms.end() && !ms.deleted && now - exp->second < 3000 && now > exp->second - 3000;
      if (expiring) {  // its timer may or may not have run out by now
        ++s.stats.commands["skipped.expiring_sessions"];
        continue;
      }
      const bool live = !ms.deleted && !s.Ended(k);
      if (live) {
        ++s.stats.commands["judged.p2_sessions"];
        if (owners != 1) s.Fail("P2/P4: live session " + std::to_string(k) + " has " + std::to_string(owners) + " owners");
      } else {
        ++s.stats.commands["judged.p3_sessions"];
        if (anywhere) s.Fail("P3: session " + std::to_string(k) + " came back after it ended");
      }
    }
  }
  void show(std::ostream& os) const override { os << "Quiesce"; }
};

// Every chassis alive and settled: where each case starts.
Model StartingModel(int chassis, int slots, uint64_t seed) {
  Model m;
  m.chassis = chassis;
  m.slots = slots;
  m.seed = seed;
  for (int x = 1; x <= m.chassis; ++x) m.alive.insert(x);
  m.settled = true;
  return m;
}

// blade-workers of every case: a parameter of the suite, not drawn (the
// reproduce strings of one worker stay valid).
int case_workers = 1;

Model InitialModel() {
  // Drawn in this order (reproduce strings depend on it).
  const int chassis = *rc::gen::inRange(2, 5);
  const int slots = *rc::gen::inRange(1, 3);
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  Model m = StartingModel(chassis, slots, seed);
  m.workers = case_workers;
  return m;
}

auto CommandGen() {
  return rc::state::gen::execOneOfWithArgs<Create, Create, Create, Establish, Delete, Advance, Faults, CutLink, Glitch, Skew,
                                           Hostile, Adversary, KillTraffic, Restart, FastRestart, Partition, KillBlade, ManualFailover, Quiesce, Quiesce>();
}

struct CaseResult {
  std::string violation;
  std::vector<std::string> violations;
  uint64_t trace;
  Stats stats;
};

// What the surviving processes counted, summed as "seen.<counter>": the
// replayed regressions check that their case still takes the path it was
// found on (a schedule that drifted would pass without testing anything).
void SumCounters(const Model& m, Sut& s) {
  auto add = [&](const std::string& name, uint64_t n) {
    if (n) s.stats.commands["seen." + name] += n;
  };
  for (int x = 1; x <= m.chassis; ++x) {
    const uint8_t c = static_cast<uint8_t>(x);
    if (!s.c.alive(c)) continue;
    if (ChassisManager* mg = s.c.manager(c)) {
      add("failovers", mg->failovers());
      add("peer_restarts", mg->peer_restarts());
      add("blade_restarts", mg->blade_restarts());
      add("handovers_unfenced", mg->handovers_unfenced());
      add("split_brains_averted", mg->split_brains_averted());
      for (int r = 0; r < kDropReasons; ++r) {
        add(std::string("manager_dropped.") + DropReasonName(static_cast<DropReason>(r)), mg->dropped(static_cast<DropReason>(r)));
      }
    }
    for (int sl = 1; sl <= m.nodes(); ++sl) {
      BladeAgent* b = s.c.blade(c, static_cast<uint8_t>(sl));
      if (!b) continue;
      for (const auto& [name, n] : CounterList(b->counters())) {
        if (name.rfind("dropped.", 0) == 0 || name == "orphaned_sessions" || name == "orphaned_sessions_dropped" ||
            name == "adopted_sessions" || name == "relinquished_sessions" || name == "bulk_syncs_in_doubt") {
          add("blade_" + name, n);
        }
      }
    }
  }
}

CaseResult RunCase(const Model& m0, const rc::state::Commands<Cmd>& cmds, Variant v) {
  Sut s(m0, v);
  Model m = m0;
  const bool log = std::getenv("BLADESYNC_TEST_LOG") != nullptr;  // mark each command in the log
  for (const auto& cmd : cmds) {
    if (log) {
      std::ostringstream o;
      cmd->show(o);
      std::fprintf(stderr, "==== %s at %.3f s\n", o.str().c_str(), ToSeconds(s.c.sched().now()));
    }
    cmd->run(m, s);
    cmd->apply(m);
  }
  Quiesce().run(m, s);  // the final quiesce
  s.stats.cases = 1;
  SumCounters(m, s);
  // Cases whose quiesces judged P2 (P3) on at least one session: the floors below.
  if (s.stats.commands["judged.p2_sessions"]) s.stats.commands["cases.judged_p2"] = 1;
  if (s.stats.commands["judged.p3_sessions"]) s.stats.commands["cases.judged_p3"] = 1;
  if (s.stats.commands["judged.p1_mirrors"]) s.stats.commands["cases.judged_p1"] = 1;
  if (s.stats.commands["judged.p4_quiesces"]) s.stats.commands["cases.judged_p4"] = 1;
  if (s.stats.commands["judged.p5_blades"]) s.stats.commands["cases.judged_p5"] = 1;
  if (s.stats.commands["judged.p6_frames"]) s.stats.commands["cases.judged_p6"] = 1;
  for (const auto& [name, n] : s.stats.commands) {
    if (name.rfind("failover.", 0) == 0 && n) s.stats.commands["cases.with_failover"] = 1;
  }
  return {s.violation, s.violations, s.c.sched().trace_hash(), s.stats};
}

std::string Describe(const rc::state::Commands<Cmd>& cmds) {
  std::ostringstream o;
  for (auto& c : cmds) {
    c->show(o);
    o << "; ";
  }
  return o.str();
}

std::vector<std::string> last_violations;  // of the latest case (teeth look for their promise)
Stats last_stats;                          // of the latest case (replays look for their path)

// One property case: run, check, run again, compare the traces.
void Case(Variant v, Stats* stats = nullptr) {
  const Model m0 = InitialModel();
  const auto cmds = *rc::state::gen::commands(m0, CommandGen());
  const CaseResult a = RunCase(m0, cmds, v);
  RC_TAG(m0.chassis, "chassis");
  if (stats) stats->Add(a.stats);
  last_violations = a.violations;
  last_stats = a.stats;
  // BLADESYNC_FIND_PATH=a,b,...: a case whose stats have each of them fails
  // on purpose, so RapidCheck shrinks it and prints its reproduce string
  // (finding a replay again when one no longer takes its path).
  if (const char* want = std::getenv("BLADESYNC_FIND_PATH")) {
    std::stringstream list(want);
    bool all = true;
    for (std::string step; std::getline(list, step, ',');) all = all && a.stats.commands.count(step) && a.stats.commands.at(step) > 0;
    if (all && a.violation.empty()) RC_FAIL(std::string("path found: ") + want);
  }
  if (!a.violation.empty()) {
    RC_FAIL(a.violation + "\n  " + std::to_string(m0.chassis) + " chassis x " + std::to_string(m0.slots) +
            " slots x " + std::to_string(m0.workers) + " workers, simulator seed " + std::to_string(m0.seed) + "\n  commands: " + Describe(cmds) +
            "\n  replay: bazel-bin/tests/property/cluster_stateful_test with the RC_PARAMS=\"reproduce=...\" line printed at the end");
  }
  const CaseResult b = RunCase(m0, cmds, v);
  RC_ASSERT(a.trace == b.trace);
}

TEST(ClusterStateful, PromisesHoldUnderTrafficFaultsAndFailovers) {
  Stats stats;
  const bool ok = rc::check("P1-P6 on whole chassis", [&] { Case(Variant{}, &stats); });
  std::printf("cluster_stateful: %llu cases\n", static_cast<unsigned long long>(stats.cases));
  for (auto& [k, n] : stats.commands) std::printf("  %-26s %llu\n", k.c_str(), static_cast<unsigned long long>(n));
  ASSERT_TRUE(ok);
  // Promises judged on nothing prove nothing. Every case creates sessions
  // and ends with a quiesce, so most judge P2; P3 needs a session that
  // ended (a Delete, or a 2 s session outlived), so fewer do. Faults that
  // leave everything uncertain (a traffic chassis never quiet) must not
  // become the rule.
  const uint64_t p2 = stats.commands["cases.judged_p2"], p3 = stats.commands["cases.judged_p3"];
  EXPECT_GE(p2 * 2, stats.cases) << "P2 judged in only " << p2 << " of " << stats.cases << " cases";
  EXPECT_GE(p3 * 5, stats.cases) << "P3 judged in only " << p3 << " of " << stats.cases << " cases";
  EXPECT_LE(stats.commands["skipped.uncertain_sessions"], stats.commands["judged.p2_sessions"])
      << "more sessions skipped as uncertain than judged";
  // Every case ends with a quiesce that judges P4 (one chassis processes
  // traffic) and P5 (bounded queues and tables) unless no chassis processes
  // traffic, which fails P4 itself; P1 (a mirror against its owner) unless
  // kills left one chassis alone (about 6 cases in 100). P6 needs a Hostile
  // command (one in twenty), and a failover one of five kinds: a case has
  // about forty commands, so most cases have both. Floors well below the
  // usual rates, so a fresh seed's batch does not fail by chance.
  for (const char* p : {"cases.judged_p4", "cases.judged_p5"}) {
    EXPECT_GE(stats.commands[p] * 10, stats.cases * 9) << p << ": " << stats.commands[p] << " of " << stats.cases;
  }
  EXPECT_GE(stats.commands["cases.judged_p1"] * 4, stats.cases * 3)
      << "P1 judged in only " << stats.commands["cases.judged_p1"] << " of " << stats.cases << " cases";
  for (const char* p : {"cases.judged_p6", "cases.with_failover"}) {
    EXPECT_GE(stats.commands[p] * 2, stats.cases) << p << ": " << stats.commands[p] << " of " << stats.cases;
  }
  // A manual failover is judged (the role moved) when both chassis are whole.
  EXPECT_GE(stats.commands["judged.manual_failover"] * 4, stats.commands["failover.manual"])
      << "manual failovers judged: " << stats.commands["judged.manual_failover"] << " of "
      << stats.commands["failover.manual"];
}

// Blades with several workers (blade-workers): each worker is a fabric node
// of its own that owns a shard and mirrors the same worker of the peers'
// blade in its slot; KillBlade takes every worker of the blade at once.
// The same promises, fewer cases (a case at 16 workers runs up to 128
// blade loops), the seed of RC_PARAMS.
void CheckWithWorkers(int workers, int cases) {
  rc::detail::TestParams params = rc::detail::configuration().testParams;
  params.maxSuccess = cases;
  rc::detail::TestMetadata md;
  md.id = md.description = "P1-P6 with " + std::to_string(workers) + " workers per blade";
  Stats stats;
  case_workers = workers;
  rc::detail::TestListenerAdapter quiet;
  const rc::detail::TestResult r =
      rc::detail::checkTestable([&] { Case(Variant{}, &stats); }, md, params, quiet);
  case_workers = 1;
  std::printf("%d workers per blade: %llu cases\n", workers, static_cast<unsigned long long>(stats.cases));
  for (auto& [k, n] : stats.commands) std::printf("  %-26s %llu\n", k.c_str(), static_cast<unsigned long long>(n));
  rc::detail::FailureResult failure;
  if (r.match(failure)) {
    rc::detail::Configuration replay;
    replay.reproduce[md.id] = failure.reproduce;
    ADD_FAILURE() << failure.description << "\n  replay (workers " << workers
                  << "): RC_PARAMS=\"" << rc::detail::configToMinimalString(replay) << "\"";
  }
  rc::detail::SuccessResult success;
  ASSERT_TRUE(r.match(success) || r.match(failure)) << "the check did not run";
  EXPECT_GE(stats.cases, static_cast<uint64_t>(cases));
  // Judged on something: mirrors against owners, sessions after faults,
  // and blades lost whole.
  EXPECT_GE(stats.commands["cases.judged_p1"] * 2, stats.cases) << "P1 judged in " << stats.commands["cases.judged_p1"];
  EXPECT_GE(stats.commands["cases.judged_p2"] * 2, stats.cases) << "P2 judged in " << stats.commands["cases.judged_p2"];
  EXPECT_GT(stats.commands["failover.kill_blade"], 0u) << "no blade was lost whole";
}

TEST(ClusterStatefulWorkers, PromisesHoldWithTwoWorkersPerBlade) { CheckWithWorkers(2, 60); }
TEST(ClusterStatefulWorkers, PromisesHoldWithSixteenWorkersPerBlade) { CheckWithWorkers(16, 20); }

// A TCP Create of `key`, for cases built command by command (inside
// InGeneratorContext: its other fields draw from the generators).
std::shared_ptr<Create> TcpCreate(uint32_t key, bool short_lived) {
  auto create = std::make_shared<Create>();
  create->key = key;
  create->udp = false;
  create->short_lived = short_lived;
  return create;
}

// Runs body once where RapidCheck's generators work (the commands draw
// their fields from them), for cases built command by command.
void InGeneratorContext(const std::function<void()>& body) {
  rc::detail::TestParams params;
  params.maxSuccess = 1;
  rc::detail::TestMetadata md;
  md.id = md.description = "a case built by hand";
  rc::detail::TestListenerAdapter quiet;
  rc::detail::checkTestable([&] { body(); }, md, params, quiet);
}

// Named regressions: cases the soak found with fresh seeds, replayed from
// RapidCheck's reproduce strings. A change to the commands' generators can
// make a string replay another case: the test then fails ("Unable to
// reproduce") and the case is to be found again with its new string. A
// change to the cluster's timing can make the same commands take another
// path, which would pass without testing anything: each replay names what
// its case must still have done or seen (`path`: stats and "seen."
// counters of SumCounters, each above zero).
void ExpectReplayHolds(const char* reproduce, const char* what, std::initializer_list<const char*> path) {
  const rc::detail::Configuration cfg = rc::detail::configFromString(std::string("reproduce=") + reproduce);
  rc::detail::TestMetadata md;
  md.id = md.description = "P1-P6 on whole chassis";
  rc::detail::TestListenerAdapter quiet;
  const rc::detail::TestResult r =
      rc::detail::checkTestable([] { Case(Variant{}); }, md, cfg.testParams, quiet, cfg.reproduce);
  // RapidCheck reports a reproduce that no longer fails as an error of its
  // own, with this description: the case holds now. A real failure comes
  // back as a FailureResult with the broken promise.
  rc::detail::Error replayed;
  rc::detail::FailureResult failure;
  if (r.match(failure)) ADD_FAILURE() << what << ": " << failure.description;
  ASSERT_TRUE(r.match(replayed)) << what << ": the replay did not run as a reproduction";
  EXPECT_EQ(replayed.description, "Reproduced result is not a failure") << what;
  for (const char* step : path) {
    EXPECT_GT(last_stats.commands[step], 0u) << what << ": the replay no longer took its path (no " << step << ")";
  }
}
// P2/P4 (0 owners): 3 chassis; the primary adopted only from a peer it had
// seen as primary (fixed: heartbeats say handing_over).
TEST(ClusterStatefulRegressions, APrimaryAdoptsFromAPeerHandingOver) {
  ExpectReplayHolds("BYBUx0CU2AybuBydo9GblByYoF2czl2c0rvUSqwqSoHlj9co5iy+0tHM5LNqdxXA8dxJmPHK35JQAcgRAAAAIEAAbMxDQABL",
                    "handing_over",
                    {"seen.failovers", "seen.blade_adopted_sessions"});
}
// P2/P4 (0 owners): the primary restarted fast, the promoted chassis adopted
// from the one it had expected instead (fixed: it adopts the primary it lost).
TEST(ClusterStatefulRegressions, ThePromotedChassisAdoptsThePrimaryItLost) {
  ExpectReplayHolds("BYBUx0CU2AybuBydo9GblByYoF2czl2c2d7lfy5xM3NYfY_1X77kRSWcWwQnjib6sscG5f2bH1EgACBATIFAAAgCBYjHjUyWjQyUYB",
                    "lost primary",
                    {"seen.peer_restarts", "seen.blade_orphaned_sessions", "seen.blade_adopted_sessions"});
}
// P2/P4 (0 owners): a forged heartbeat numbered 0 passed for newer than
// anything, reset the peer's sequence so its own heartbeats looked like jumps
// ahead, and the roles went astray (fixed: a heartbeat numbered 0 is dropped).
TEST(ClusterStatefulRegressions, AHeartbeatNumberedZeroIsDropped) {
  ExpectReplayHolds("BYBUx0CU2AybuBydo9GblByYoF2czl2cT4phTbPF5LDXNHGIaWNX0Few0Y75ayieiu16Vx6WnVHgACIgACIgAGAA5QFAAAwBAgYAJYgBJoA",
                    "heartbeat seq 0",
                    {"fault.adversary", "seen.manager_dropped.implausible"});
}
// P5: a forged frame at the owner's epoch and live position (what only
// authentication stops; the unauthenticated adversary aims behind it now).
TEST(ClusterStatefulRegressions, TheUnkeyedAdversaryDoesNotHitTheLivePosition) {
  ExpectReplayHolds("BYBUx0CU2AybuBydo9GblByYoF2czl2c7rWybvaoeLwCvI1gwo_GCg5NMxNRRFFlGu2Bie6aExFIAYQRAAAAIAAAUQQBEEjT",
                    "adversary at the live position",
                    {"fault.adversary", "seen.blade_dropped.implausible"});
}
// P4 (2 process traffic): 30% loss on every link lost three heartbeats in
// a row, a secondary took over while the primary ran, and a Create judged P4
// in the middle of that split (fixed in the suite: random loss that splits
// the cluster is beyond the budget, as SettledTraffic already said; what
// traffic touches meanwhile is uncertain, and counted). Built by hand: its
// reproduce string no longer split the cluster (2,000 fresh cases did not
// either), so the replay passed without judging anything. Fails P4 with the
// split check taken out of Sut::TrafficFor.
TEST(ClusterStatefulRegressions, ASplitUnderHeavyRandomLossIsBeyondTheBudget) {
  std::string violation = "not run";
  uint64_t splits = 0;
  InGeneratorContext([&] {
    Model m = StartingModel(2, 1, 0);
    Sut s(m, Variant{});
    s.c.RunFor(seconds(3));
    s.c.net().faults().drop = 0.6;  // heartbeats lost on both links, three in a row now and then
    for (int i = 0; i < 600 && s.c.TrafficChassis().size() < 2; ++i) s.c.RunFor(milliseconds(50));
    ASSERT_EQ(s.c.TrafficChassis().size(), 2u) << "no split in 30 s of 60% loss";
    auto create = TcpCreate(0, false);
    create->run(m, s);
    create->apply(m);
    Quiesce().run(m, s);
    violation = s.violation;
    splits = s.stats.commands["split_under_loss"];
  });
  EXPECT_EQ(violation, "");
  EXPECT_EQ(splits, 1u) << "the create did not land in the split";
}
// P2 (not owned): a 2 s session established 1990 ms after its birth had
// ended on its decisecond timer, which started from the decisecond it was
// born in (fixed in the suite: a session touched within 100 ms of its end
// is no longer promised, and counted).
TEST(ClusterStatefulRegressions, ASessionTouchedAtItsEndIsNotPromised) {
  ExpectReplayHolds("BYBUx0CU2AybuBydo9GblByYoF2czl2cOnCzdiSfdYkrIN+p2R49bY2gIpCOy2OKR43L4lCx_nOgACIgACIgAKAA6UFAAAgCAAg5B0BGT8wDWgB",
                    "touched at its end",
                    {"skipped.touched_at_its_end"});
}

// P2/P4 (0 owners), 4 chassis: the primary restarted before its loss was
// declared; the chassis next in line was bulk-syncing the new incarnation
// and counted itself not ready, the survivors disagreed on who comes next,
// and the new incarnation won with empty tables while the old one's sessions
// sat unadopted as orphans (fixed: a complete orphan keeps a mirror ready).
TEST(ClusterStatefulRegressions, ARestartedPrimarysSuccessorStaysReadyOnItsOrphans) {
  ExpectReplayHolds("BYBUx0CU2AybuBydo9GblByYoF2czl2c5WVgDypj7MJHDSWDf3ELFp5YA_s6U9EJkEiiebdn_XAgACICAkBWAAAAAA",
                    "successor unready on orphans",
                    {"seen.peer_restarts", "seen.blade_orphaned_sessions", "seen.blade_adopted_sessions"});
}

// P2/P4 (0 owners), 3 chassis x 2 blades: the primary restarted before its
// loss was declared. At the moment the survivors noticed, the one next in
// line was briefly not ready (its second blade bulk-synced the new
// incarnation's empty table), so neither took the role; the new incarnation
// was a candidate at once, won on priority with empty tables, and the old
// one's sessions were dropped unadopted (fixed: the lost primary's new
// incarnation stands aside while a survivor may still take over).
TEST(ClusterStatefulRegressions, TheLostPrimarysNewIncarnationStandsAside) {
  ExpectReplayHolds("BYBUx0CU2AybuBydo9GblByYoF2czl2c6SxK94yxYTWtHGiRN7U3EnuNLywo52K4w_pVP87OQcLgACIgACBAoMEAAAQICALB9HwvBAbAhGwkBQYA4hXe7tXf91nhBAZA8Gg3B8bAeHghB8cA+GA0BYYAWHghB8bA9Gw3BYeA",
                    "new incarnation stands aside",
                    {"seen.peer_restarts", "seen.blade_orphaned_sessions", "seen.blade_adopted_sessions"});
}

// Found by the soak at 2722c5a (2 chassis x 1 slot: a failover, create,
// cut M1, delete, two forged frames): session 0 came back after it ended.
// A forged frame put the primary's mirror in doubt; its blade reported
// being unready at once, the role moved, and the new primary adopted its
// mirror while the delete was still lost on the cut M1 (fixed: a handover
// waits for the old primary's fence; fails with the adoption made at once).
TEST(ClusterStatefulRegressions, ASessionEndedDuringAFailoverStaysEnded) {
  ExpectReplayHolds("BYBUx0CU2AybuBydo9GblByYoF2czl2cxNOeL70_AAQcjj3yO9PAAE344tsT_DAAxNOeL70_AAAgACIgACIgACCA+0DAAAQCAcFOsACHe0RH",
                    "ended session stays ended",
                    {"seen.blade_bulk_syncs_in_doubt", "seen.failovers"});
}

// Found by the soak at 1e89275 (2 chassis x 1 slot: cut M1, create, forged
// frames): the role moved while the create was lost on M1, the old primary
// relinquished before it was acknowledged, its resend was rebuilt from an
// empty table, and the new primary adopted nothing (fixed: a relinquish
// waits for the mirrors' acks). The string of the day no longer moved the
// role; this one (found with BLADESYNC_FIND_PATH) cuts M1, creates, fails
// over by hand and relinquishes. The wait is no longer what holds it: the
// new primary adopts only after the old one's fence, which comes after
// everything it sent (this case, Handover.AFailoverRightAfterAnM1Cut... and
// 3,000 fresh cases pass with the wait taken out). Kept as the scenario's
// replay.
TEST(ClusterStatefulRegressions, ARelinquishWaitsForWhatIsStillInFlight) {
  ExpectReplayHolds("BYBUx0CU2AybuBydo9GblByYoF2czl2c3BmEIBpou5nAx2YtZ261nCWdOXM2jkmTYaSSMmo8jHGgACIBAgxVAAAALEQ_BEFKUsgCLwADMA",
                    "relinquish waits for acks",
                    {"fault.cut_m1", "create", "failover.manual", "seen.blade_relinquished_sessions"});
}


// Point 10 of issue 23, the soak's first loss: 2 chassis x 1 slot,
// Create(0, 2s); Glitch(1-2, 20ms) x3; Establish(0) -> "P2: live session 0
// is not owned by the traffic chassis". Each glitch spent 670 ms of the
// cluster's time and the model counted 270: the model thought the session
// 810 ms old when the cluster had ended it. Glitches are counted right now,
// but a model clock is an estimate (adversaries, manual failovers and
// quiesces wait as long as the cluster needs), so expiry is judged on the
// cluster's clock (Sut::expires_ms). Here the cluster runs 2.1 s past the
// model outright; before the fix the Establish failed P2 and the quiesce
// P2/P4 (0 owners). (Built by hand: the generators changed since, so the
// reproduce string of the day no longer replays.)
TEST(ClusterStatefulRegressions, ExpiryIsJudgedOnTheClustersClock) {
  std::string violation = "not run";
  InGeneratorContext([&] {
    Model m = StartingModel(2, 1, 0);
    Sut s(m, Variant{});
    auto create = TcpCreate(0, true);
    create->run(m, s);
    create->apply(m);
    s.c.RunFor(milliseconds(2100));  // the cluster's clock only
    auto establish = std::make_shared<Establish>(m);
    establish->key = 0;
    establish->run(m, s);
    establish->apply(m);
    Quiesce().run(m, s);
    violation = s.violation;
  });
  EXPECT_EQ(violation, "");
}

// The soak after the fix above, 22,400 green cases in, then P2/P4 "live
// session 0 has 0 owners" on 4 chassis x 1 slot (shrunk; built by hand so
// it replays whatever the generators become): a partition made chassis 3
// adopt chassis 2's sessions; the heal gave them back to chassis 2; the
// restart of chassis 1 moved the role to chassis 3 again and chassis 2
// handed over, but chassis 3 did not adopt, remembering it had adopted
// that incarnation of chassis 2 once already (fixed: a peer seen as primary
// again owns again, so an earlier adoption from it no longer counts).
TEST(ClusterStatefulRegressions, APeerThatOwnsAgainIsAdoptedAgainWhenItStepsDown) {
  std::string violation = "not run";
  InGeneratorContext([&] {
    Model m = StartingModel(4, 1, 0);
    rc::state::Commands<Cmd> cmds;
    cmds.push_back(TcpCreate(0, false));
    auto kill_blade = std::make_shared<KillBlade>();
    kill_blade->slot = 1;
    cmds.push_back(kill_blade);
    cmds.push_back(std::make_shared<Quiesce>());
    cmds.push_back(std::make_shared<KillTraffic>());
    cmds.push_back(std::make_shared<Quiesce>());
    auto partition = std::make_shared<Partition>();
    partition->ms = 400;
    cmds.push_back(partition);
    for (auto [a, b] : {std::pair{4, 1}, std::pair{1, 2}}) {
      auto cut = std::make_shared<CutLink>();
      cut->a = a;
      cut->b = b;
      cut->link = Link::kM1;
      cmds.push_back(cut);
    }
    cmds.push_back(std::make_shared<Restart>());
    Model after = m;
    for (const auto& c : cmds) {  // the case as the generator would have made it
      c->checkPreconditions(after);
      c->apply(after);
    }
    violation = RunCase(m, cmds, Variant{}).violation;
  });
  EXPECT_EQ(violation, "");
}

// Teeth: each broken variant must be caught, or the suite proves nothing,
// and caught by the check of the promise it breaks. A case where another
// promise broke is counted and passed over (the search goes on); a failure
// that is no broken promise at all (the replay's trace check, an
// exception) fails the tooth. Once caught, shrinking is skipped: every
// later case fails at once, so the check ends in seconds.
void ExpectCaught(Variant v, const char* name, const std::string& promise, int cases = 100) {
  bool caught = false;
  std::map<std::string, int> other;  // other promises broken on the way, by their first words
  rc::detail::TestMetadata md;
  md.id = md.description = std::string("broken variant: ") + name;
  rc::detail::TestParams params = rc::detail::configuration().testParams;  // the seed CI pins
  params.maxSuccess = cases;
  const rc::detail::TestResult result = rc::detail::checkTestable([&] {
    if (caught) RC_FAIL("caught (shrinking skipped)");
    last_violations.clear();
    try {
      Case(v);
    } catch (...) {
      // A violation's tag names the promises it breaks ("P2/P4: ..."): this one among them?
      bool mine = false;
      for (const std::string& x : last_violations) {
        const std::string tag = "/" + x.substr(0, x.find(':')) + "/";
        mine |= tag.find("/" + promise + "/") != std::string::npos;
      }
      if (mine) {
        if (!caught) std::printf("%s caught by %s: %s\n", name, promise.c_str(), last_violations.front().c_str());
        caught = true;
        throw;
      }
      if (last_violations.empty()) throw;  // a discard goes on; anything else fails the tooth below
      other[last_violations.front().substr(0, last_violations.front().find(':'))]++;
    }
  }, md, params);
  rc::detail::SuccessResult success;
  const bool survived = result.match(success);
  std::string others;
  for (auto& [p, n] : other) others += " " + p + " x" + std::to_string(n);
  EXPECT_TRUE(caught) << "the cluster suite did not catch " << name << " by " << promise
                      << (others.empty() ? "" : "; other promises broke instead:" + others);
  EXPECT_FALSE(survived);
}
TEST(ClusterStatefulTeeth, CatchesAckBeforeApply) { ExpectCaught(Variant{.ack_unapplied = true}, "ack_unapplied", "P1"); }
TEST(ClusterStatefulTeeth, CatchesDroppedRetransmitsAfterALinkSwitch) {
  // Only what is in flight when a link is cut goes missing, and the mirror's
  // stream then contradicts its owner (P1): a case in a hundred or two shows
  // it, so this tooth runs up to 500 cases (it stops at the first).
  ExpectCaught(Variant{.drop_retransmit_on_link_switch = true}, "drop_retransmit_on_link_switch", "P1", 500);
}
TEST(ClusterStatefulTeeth, CatchesPromotionBeforeThePeerIsLost) {
  ExpectCaught(Variant{.promote_early = true}, "promote_early", "P4");
}
TEST(ClusterStatefulTeeth, CatchesAResendQueueHeldAfterAcks) {
  ExpectCaught(Variant{.trim_log_when_full = true}, "trim_log_when_full", "P5");
}
TEST(ClusterStatefulTeeth, CatchesUncountedMalformedFrames) {
  ExpectCaught(Variant{.uncounted_malformed = true}, "uncounted_malformed", "P6");
}
TEST(ClusterStatefulTeeth, CatchesASessionKeptAfterItsDelete) {
  ExpectCaught(Variant{.keep_deleted = true}, "keep_deleted", "P3");
}

}  // namespace
}  // namespace bladesync::testing
