// Dead blades in active-active, as a property (issue 20): random sequences
// of flows opened through random chassis, blade deaths (the same slot on
// several chassis too), returns and data, on two or three chassis of two to
// four slots, and blades that only go silent for a while (a stall) and
// come back. The model is the test's own record of each flow's fate:
//   - no flow is dropped for lack of a live slot: every flow opened through
//     a chassis with a live blade gets a session;
//   - no acknowledged session of a dead blade is lost while another chassis
//     has a live blade of its slot: its data goes on, through whichever
//     chassis it entered, with no packet dropped and none without a session;
//   - a session whose blade died with no live blade of its slot anywhere is
//     gone (the model stops sending for it);
//   - every promised session has exactly one owner.
// Each case runs twice from its seed: the outcomes must be equal (replay).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/detail/Configuration.h>
#include <rapidcheck/detail/TestListenerAdapter.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <memory>
#include <sstream>
#include <vector>

#include "blades/packet_path.h"
#include "tests/support/sim_chassis_cluster.h"

namespace bladesync::testing {
namespace {

struct Op {
  enum Kind : uint8_t { kOpen, kData, kKill, kRestart, kBlip } kind = kOpen;
  uint8_t chassis = 1;
  uint8_t slot = 1;
  uint8_t n = 1;
};

std::ostream& operator<<(std::ostream& os, const Op& o) {
  static const char* kNames[] = {"Open", "Data", "KillBlade", "RestartBlade", "SilentBlade"};
  return os << kNames[o.kind] << "(chassis " << int(o.chassis) << ", slot " << int(o.slot) << ", n " << int(o.n) << ")";
}

rc::Gen<Op> GenOp(int chassis, int slots) {
  return rc::gen::apply(
      [](uint8_t kind, uint8_t c, uint8_t s, uint8_t n) { return Op{static_cast<Op::Kind>(kind), c, s, n}; },
      rc::gen::weightedElement<uint8_t>({{3, Op::kOpen}, {3, Op::kData}, {2, Op::kKill}, {2, Op::kRestart}, {1, Op::kBlip}}),
      rc::gen::inRange<uint8_t>(1, static_cast<uint8_t>(chassis + 1)),
      rc::gen::inRange<uint8_t>(1, static_cast<uint8_t>(slots + 1)), rc::gen::inRange<uint8_t>(5, 40));
}

struct Flow {
  SessionKey key;
  uint8_t entry = 0;  // the chassis its packets enter (an upstream ECMP pins it)
  bool promised = true;
};

class Run {
 public:
  // `workers` per blade (blade-workers): ops name blades; each blade's
  // workers die, stall and come back together, as the blade's process.
  Run(int chassis, int slots, uint64_t seed, int workers = 1)
      : chassis_(chassis), slots_(slots * workers), ws_{workers}, c_(chassis, slots, seed, Options(workers)) {
    c_.RunFor(seconds(2));
    for (int ch = 1; ch <= chassis; ++ch) Wire(static_cast<uint8_t>(ch));
  }

  // Runs the ops; returns the first broken promise ("" if none) and a trace.
  std::string Apply(const std::vector<Op>& ops, std::string* trace) {
    for (const Op& op : ops) {
      std::ostringstream line;
      line << op;
      switch (op.kind) {
        case Op::kOpen: Open(op); break;
        case Op::kData: Data(); break;
        case Op::kKill: Kill(op.chassis, op.slot); break;
        case Op::kRestart: Restart(op.chassis, op.slot); break;
        case Op::kBlip: Blip(op.chassis, op.slot); break;
      }
      if (!failure_.empty()) return line.str() + ": " + failure_;
      *trace += line.str() + "; ";
    }
    Data();
    return failure_;
  }
  uint64_t Summary() {
    uint64_t h = 0;
    for (const Flow& f : flows_) h = h * 31 + f.promised;
    for (int ch = 1; ch <= chassis_; ++ch) h = h * 131 + c_.manager(static_cast<uint8_t>(ch))->ingress_to_peer();
    return h;
  }
  size_t promised() const {
    size_t n = 0;
    for (const Flow& f : flows_) n += f.promised;
    return n;
  }
  uint64_t takeovers() {
    uint64_t n = 0;
    for (int ch = 1; ch <= chassis_; ++ch) n += c_.manager(static_cast<uint8_t>(ch))->blade_takeovers();
    return n;
  }

 private:
  static SimClusterOptions Options(int workers) {
    SimClusterOptions o;
    o.workers = workers;
    o.blade = [](BladeConfig& b) { b.pickup.mode = HaMode::kActiveActive; };
    o.manager = [](ManagerConfig& m) { m.mode = HaMode::kActiveActive; };
    return o;
  }
  void Wire(uint8_t ch) {
    for (int s = 1; s <= slots_; ++s) {
      BladeAgent* b = c_.blade(ch, static_cast<uint8_t>(s));
      if (!b) continue;
      auto& p = paths_[{ch, s}];
      p = std::make_unique<PacketPath>(*b);
      PacketPath* path = p.get();
      b->set_packet_handler([path](const wire::PacketBatch& pb, bool fwd) { path->ProcessBatch(pb, fwd); });
    }
  }
  // Blade s of chassis ch (its workers live and die together).
  bool Live(uint8_t ch, uint8_t s) { return c_.blade(ch, ws_.Of(s, 0)) != nullptr; }
  bool AnyLive(uint8_t ch) {
    for (int s = 1; s <= slots_; ++s)
      if (c_.blade(ch, static_cast<uint8_t>(s))) return true;
    return false;
  }
  void Send(uint8_t entry, const SessionKey& k, uint8_t flags, bool reply) {
    c_.manager(entry)->Ingress(PacketInfo{reply ? k.Reversed() : k, flags, 0, uint8_t(reply ? 2 : 1), uint8_t(reply ? 1 : 2)});
  }
  // Where flow f's session is owned now: (chassis, worker slot), or (0, 0).
  std::pair<uint8_t, uint8_t> Holder(const SessionKey& k) {
    for (int ch = 1; ch <= chassis_; ++ch) {
      for (int s = 1; s <= slots_; ++s) {
        BladeAgent* b = c_.blade(static_cast<uint8_t>(ch), static_cast<uint8_t>(s));
        if (b && b->owned().Find(k)) return {static_cast<uint8_t>(ch), static_cast<uint8_t>(s)};
      }
    }
    return {0, 0};
  }
  uint64_t Drops() {
    uint64_t n = 0;
    for (int ch = 1; ch <= chassis_; ++ch) {
      n += c_.manager(static_cast<uint8_t>(ch))->ingress_dropped();
      for (int s = 1; s <= slots_; ++s) {
        if (BladeAgent* b = c_.blade(static_cast<uint8_t>(ch), static_cast<uint8_t>(s))) n += b->counters().packets_dropped.get();
      }
    }
    return n;
  }
  void Open(const Op& op) {
    if (!AnyLive(op.chassis)) return;  // nothing here to take it: an ECMP switch would not send it here
    const size_t first = flows_.size();
    for (int i = 0; i < op.n; ++i) {
      const uint32_t id = next_++;
      flows_.push_back(Flow{SessionKey::V4(0x0a000000 + id, 0xc6336401, static_cast<uint16_t>(20000 + id % 40000), 443, kProtoTcp),
                            op.chassis, true});
    }
    for (uint8_t flags : {uint8_t(kTcpSyn), uint8_t(kTcpSyn | kTcpAck), uint8_t(kTcpAck)}) {
      for (size_t i = first; i < flows_.size(); ++i) Send(op.chassis, flows_[i].key, flags, flags == (kTcpSyn | kTcpAck));
      c_.RunFor(milliseconds(5));
    }
    c_.RunFor(milliseconds(300));  // synced and acknowledged by every live mirror
    for (size_t i = first; i < flows_.size(); ++i) {
      if (Holder(flows_[i].key).first == 0) {
        failure_ = "flow " + flows_[i].key.ToString() + " opened through chassis " + std::to_string(op.chassis) +
                   " (a live blade there) has no session anywhere";
        return;
      }
    }
  }
  void Data() {
    const uint64_t before = Drops();
    for (Flow& f : flows_) {
      if (!f.promised) continue;
      // A chassis not ready for traffic gets none (upstream ECMP moves the flow).
      for (int o = 0; o < chassis_ && !c_.manager(f.entry)->TrafficReady(); ++o) f.entry = static_cast<uint8_t>(f.entry % chassis_ + 1);
      Send(f.entry, f.key, kTcpAck | kTcpPsh, false);
    }
    c_.RunFor(milliseconds(30));
    if (const uint64_t after = Drops(); after != before) {
      failure_ = std::to_string(after - before) + " packets of promised flows dropped or found no session";
    }
    for (const Flow& f : flows_) {
      if (f.promised && Owners(f.key) != 1) {
        failure_ = "flow " + f.key.ToString() + " has " + std::to_string(Owners(f.key)) + " owners";
        return;
      }
    }
  }
  int Owners(const SessionKey& k) {
    int n = 0;
    for (int ch = 1; ch <= chassis_; ++ch) {
      for (int s = 1; s <= slots_; ++s) {
        BladeAgent* b = c_.blade(static_cast<uint8_t>(ch), static_cast<uint8_t>(s));
        n += b && b->owned().Find(k);
      }
    }
    return n;
  }
  void Kill(uint8_t ch, uint8_t s) {
    if (!Live(ch, s)) return;
    // A dead blade drops what was in flight to it: the model sends nothing
    // now, so nothing is.
    for (Flow& f : flows_) {
      const auto [hc, hs] = Holder(f.key);
      if (!f.promised || hc != ch || ws_.BladeOf(hs) != s) continue;
      bool mirrored = false;
      for (int o = 1; o <= chassis_; ++o) mirrored |= o != ch && Live(static_cast<uint8_t>(o), s);
      f.promised = mirrored;  // else its session died with the blade
    }
    c_.KillBlade(ch, s);
    c_.RunFor(milliseconds(1500));  // marked dead, heard in heartbeats, taken over
  }
  // A blade goes silent long enough to be taken for dead, then comes back
  // with its table (a stall): whether or not a peer took its sessions over
  // meanwhile, every one of them is still promised, with one owner.
  void Blip(uint8_t ch, uint8_t s) {
    if (!Live(ch, s)) return;
    for (int w = 0; w < ws_.workers; ++w) c_.net().SetDown(NodeId{ch, ws_.Of(s, w)}, true);
    c_.RunFor(milliseconds(1500));
    for (int w = 0; w < ws_.workers; ++w) c_.net().SetDown(NodeId{ch, ws_.Of(s, w)}, false);
    c_.RunFor(milliseconds(3000));
  }
  void Restart(uint8_t ch, uint8_t s) {
    if (Live(ch, s)) return;
    ++epoch_;  // the blade's process: one epoch for its workers
    for (int w = 0; w < ws_.workers; ++w) c_.RestartBlade(ch, ws_.Of(s, w), epoch_);
    Wire(ch);
    c_.RunFor(milliseconds(1500));  // reports, bulk syncs from every owner
  }

  int chassis_, slots_;  // slots_: worker slots
  WorkerSlots ws_;
  SimChassisCluster c_;
  std::map<std::pair<int, int>, std::unique_ptr<PacketPath>> paths_;
  std::vector<Flow> flows_;
  uint32_t next_ = 1;
  uint32_t epoch_ = 1000;
  std::string failure_;
};

void DeadBladeCase(int workers, uint64_t* takeovers = nullptr) {
  const int chassis = *rc::gen::inRange(2, 4);
  const int slots = *rc::gen::inRange(2, 5);
  const uint64_t seed = *rc::gen::inRange<uint64_t>(1, 1u << 30);
  const auto ops = *rc::gen::resize(20, rc::gen::nonEmpty(rc::gen::container<std::vector<Op>>(GenOp(chassis, slots))));
  std::string trace;
  Run run(chassis, slots, seed, workers);
  const std::string broken = run.Apply(ops, &trace);
  RC_TAG(run.takeovers() > 0 ? "takeover" : "no takeover");
  if (takeovers) *takeovers += run.takeovers();
  if (!broken.empty()) RC_FAIL(broken + "\nafter: " + trace + "\n(" + std::to_string(workers) + " workers per blade)");
  // Replay: the same seed and ops give the same outcome.
  std::string trace2;
  Run again(chassis, slots, seed, workers);
  RC_ASSERT(again.Apply(ops, &trace2).empty());
  RC_ASSERT(again.Summary() == run.Summary());
}

RC_GTEST_PROP(DeadBladeProperty, NoAcknowledgedSessionLostNoFlowWithoutASlot, ()) { DeadBladeCase(1); }

// The same with several workers per blade (blade-workers): the manager
// distributes over every worker of every blade, a dead blade takes its
// workers with it and their flows go to the other blades' workers (up to
// 4 x 16 = 64 worker slots). Fewer cases; the seed of RC_PARAMS.
void CheckWithWorkers(int workers, int cases) {
  rc::detail::TestParams params = rc::detail::configuration().testParams;
  params.maxSuccess = cases;
  rc::detail::TestMetadata md;
  md.id = md.description = "dead blades with " + std::to_string(workers) + " workers per blade";
  uint64_t takeovers = 0;
  rc::detail::TestListenerAdapter quiet;
  const rc::detail::TestResult r = rc::detail::checkTestable([&] { DeadBladeCase(workers, &takeovers); }, md, params, quiet);
  rc::detail::FailureResult failure;
  if (r.match(failure)) {
    rc::detail::Configuration replay;
    replay.reproduce[md.id] = failure.reproduce;
    ADD_FAILURE() << failure.description << "\n  replay: the case of RC_PARAMS=\"" << rc::detail::configToMinimalString(replay)
                  << "\" with " << workers << " workers per blade";
  }
  rc::detail::SuccessResult success;
  ASSERT_TRUE(r.match(success) || r.match(failure)) << "the check did not run";
  EXPECT_GT(takeovers, 0u) << "no dead blade's sessions were taken over: nothing judged";
}

TEST(DeadBladeWorkers, NoAcknowledgedSessionLostWithFourWorkersPerBlade) { CheckWithWorkers(4, 30); }
TEST(DeadBladeWorkers, NoAcknowledgedSessionLostWithSixteenWorkersPerBlade) { CheckWithWorkers(16, 10); }

}  // namespace
}  // namespace bladesync::testing
