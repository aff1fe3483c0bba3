// SimChassisCluster: whole chassis on the simulator, each a chassis manager
// (node slot 0) and its blades, with M1, M2 and the backplanes on the
// in-memory network, all on one seeded scheduler. Same manager, blade and
// fabric code as bladesyncd; only the loop and the transport are simulated.
//
//   SimChassisCluster c(/*chassis=*/2, /*slots=*/2, /*seed=*/7);
//   c.RunFor(seconds(1));                 // hello-holddown, election
//   uint8_t p = c.TrafficChassis();       // the one that processes traffic
//   c.KillChassis(p); c.RunFor(seconds(1));
//
// With several workers per blade (options.workers) the nodes of a chassis
// are its worker slots (fabric/transport.h: WorkerSlots): blade(c, s) and
// slots() speak of worker slots, KillBlade of a whole blade.
#pragma once

#include <algorithm>
#include <map>
#include <memory>

#include "manager/chassis_manager.h"
#include "tests/support/sim_cluster.h"

namespace bladesync::testing {

// Makes a manager; tests put in a broken one (tests/support/broken_blades.h).
using MakeManager = std::function<std::unique_ptr<ChassisManager>(const ManagerConfig&, EventLoop&, Transport&)>;

struct SimClusterOptions {
  std::function<void(BladeConfig&)> blade;      // tweak each blade's config
  std::function<void(ManagerConfig&)> manager;  // tweak each manager's config
  MakeBlade make_blade;                         // default: the production BladeAgent
  MakeManager make_manager;                     // default: the production ChassisManager
  int workers = 1;                              // blade-workers: each blade's workers are nodes of their own
};

class SimChassisCluster {
 public:
  SimChassisCluster(int n_chassis, int n_slots, uint64_t seed, SimClusterOptions opt = {})
      : net_(sched_, seed), n_chassis_(n_chassis), n_blades_(n_slots), n_slots_(n_slots * std::max(opt.workers, 1)),
        opt_(std::move(opt)) {
    if (!std::getenv("BLADESYNC_TEST_LOG")) SetLogLevel(LogLevel::kError);
    for (int c = 1; c <= n_chassis; ++c) {
      for (int s = 0; s <= n_slots_; ++s) {
        auto& n = nodes_[{c, s}];
        n.loop = std::make_unique<SimEventLoop>(sched_);
        n.transport = &net_.AddNode(NodeId{static_cast<uint8_t>(c), static_cast<uint8_t>(s)}, *n.loop);
      }
    }
    for (int c = 1; c <= n_chassis; ++c) StartChassis(static_cast<uint8_t>(c), 1);
  }

  // kill -9 of every process of the chassis: state, timers and frames in flight to it are gone.
  void KillChassis(uint8_t c) {
    for (int s = 0; s <= n_slots_; ++s) {
      auto& n = nodes_[{c, s}];
      n.loop->Kill();
      net_.SetDown(NodeId{c, static_cast<uint8_t>(s)}, true);
      n.agent.reset();
      n.manager.reset();
    }
    alive_[c] = false;
  }
  // One blade dies (kill -9 of its process, or the board), all its workers
  // with it; the chassis runs on degraded until it is restarted whole
  // (blades share their chassis' epoch). `blade`: the blade's slot.
  void KillBlade(uint8_t c, uint8_t blade) {
    const WorkerSlots ws{workers()};
    for (int w = 0; w < ws.workers; ++w) KillWorker(c, ws.Of(blade, w));
  }
  // One worker dies (its thread), the blade's others run on.
  void KillWorker(uint8_t c, uint8_t worker_slot) {
    auto& n = nodes_[{c, worker_slot}];
    n.loop->Kill();
    net_.SetDown(NodeId{c, worker_slot}, true);
    n.agent.reset();
  }
  // A dead blade comes back on its own (a replaced board, a blade process
  // restarted) with an epoch of its own: empty, it takes bulk syncs.
  void RestartBlade(uint8_t c, uint8_t s, uint32_t epoch) {
    auto& n = nodes_[{c, s}];
    if (n.loop) retired_loops_.push_back(std::move(n.loop));
    n.loop = std::make_unique<SimEventLoop>(sched_, skew_[c]);
    n.transport = &net_.AddNode(NodeId{c, s}, *n.loop);
    net_.SetDown(NodeId{c, s}, false);
    StartBlade(c, s, epoch);
  }
  // A fresh start with a new epoch (empty tables, bulk sync from the peers).
  void RestartChassis(uint8_t c) {
    for (int s = 0; s <= n_slots_; ++s) {
      auto& n = nodes_[{c, s}];
      // The old loop's events may still be queued (dropped by generation):
      // it outlives them, retired rather than freed.
      if (n.loop) retired_loops_.push_back(std::move(n.loop));
      n.loop = std::make_unique<SimEventLoop>(sched_, skew_[c]);
      n.transport = &net_.AddNode(NodeId{c, static_cast<uint8_t>(s)}, *n.loop);
      net_.SetDown(NodeId{c, static_cast<uint8_t>(s)}, false);
    }
    StartChassis(c, ++epoch_[c]);
  }
  // SIGSTOP / SIGCONT of the whole chassis.
  void PauseChassis(uint8_t c) {
    for (int s = 0; s <= n_slots_; ++s) nodes_[{c, s}].loop->Pause();
  }
  void ResumeChassis(uint8_t c) {
    for (int s = 0; s <= n_slots_; ++s) nodes_[{c, s}].loop->Resume();
  }
  bool paused(uint8_t c) { return nodes_[{c, 0}].loop->paused(); }
  // One node's loop held up (a blade busy with a long piece of work, a
  // manager whose process was not run), not dead. Slot 0 is the manager.
  void PauseNode(uint8_t c, uint8_t s) { nodes_[{c, s}].loop->Pause(); }
  void ResumeNode(uint8_t c, uint8_t s) { nodes_[{c, s}].loop->Resume(); }
  // The chassis's wall clock runs this far ahead (NTP-style offsets, lag).
  void SetSkew(uint8_t c, Nanos skew) {
    skew_[c] = skew;
    for (int s = 0; s <= n_slots_; ++s) nodes_[{c, s}].loop->set_wall_skew(skew);
  }

  bool alive(uint8_t c) const { return alive_.at(c); }
  ChassisManager* manager(uint8_t c) { return nodes_.at({c, 0}).manager.get(); }
  BladeAgent* blade(uint8_t c, uint8_t s) { return nodes_.at({c, s}).agent.get(); }
  // Every live blade's mirror of every live owner blade (same slot, other
  // live chassis) equals what the owner synced.
  bool MirrorsMatch(std::string* why = nullptr) {
    return MirrorsMatchAcross(
        n_chassis_, n_slots_,
        [&](int c, int s) { return alive_[c] ? blade(static_cast<uint8_t>(c), static_cast<uint8_t>(s)) : nullptr; }, why);
  }
  SimNetwork& net() { return net_; }
  SimScheduler& sched() { return sched_; }
  void RunFor(Nanos d) { sched_.RunFor(d); }
  int chassis() const { return n_chassis_; }
  int slots() const { return n_slots_; }  // worker slots: blades x workers
  int blades() const { return n_blades_; }
  int workers() const { return std::max(opt_.workers, 1); }

  // The live chassis that process traffic (exactly one when healthy).
  std::vector<uint8_t> TrafficChassis() {
    std::vector<uint8_t> v;
    for (int c = 1; c <= n_chassis_; ++c) {
      auto* m = manager(static_cast<uint8_t>(c));
      if (alive_[c] && m && !paused(static_cast<uint8_t>(c)) && m->processes_traffic()) v.push_back(static_cast<uint8_t>(c));
    }
    return v;
  }

 private:
  void StartChassis(uint8_t c, uint32_t epoch) {
    epoch_[c] = epoch;
    alive_[c] = true;
    for (int s = 1; s <= n_slots_; ++s) StartBlade(c, static_cast<uint8_t>(s), epoch);
    auto& m = nodes_[{c, 0}];
    ManagerConfig mc;
    mc.group_id = 1;  // as TestBladeConfig
    mc.chassis = c;
    mc.epoch = epoch;
    mc.slots = n_blades_;
    mc.workers = workers();
    mc.priority = static_cast<uint8_t>(250 - 10 * c);
    mc.serial = "SIM" + std::to_string(c);
    for (int p = 1; p <= n_chassis_; ++p) mc.peers.push_back(static_cast<uint8_t>(p));
    mc.hb_interval = milliseconds(100);
    mc.hb_lost_threshold = 3;
    mc.blade_hb_lost_threshold = 5;
    mc.hello_holddown = milliseconds(500);
    mc.uptime_margin = seconds(300);
    mc.monitored_up = [] { return 0; };
    if (opt_.manager) opt_.manager(mc);
    m.manager = opt_.make_manager ? opt_.make_manager(mc, *m.loop, *m.transport)
                                  : std::make_unique<ChassisManager>(mc, *m.loop, *m.transport);
    m.manager->Start();
  }

  void StartBlade(uint8_t c, uint8_t s, uint32_t epoch) {
    auto& n = nodes_[{c, s}];
    BladeConfig cfg = TestBladeConfig(c, s, n_chassis_);
    cfg.epoch = epoch;
    cfg.bulk_sync_timeout = seconds(5);
    if (opt_.blade) opt_.blade(cfg);
    n.agent = opt_.make_blade ? opt_.make_blade(cfg, *n.loop, *n.transport)
                              : std::make_unique<BladeAgent>(cfg, *n.loop, *n.transport);
    n.agent->Start();
  }

  struct Node {
    std::unique_ptr<SimEventLoop> loop;
    SimTransport* transport = nullptr;
    std::unique_ptr<BladeAgent> agent;
    std::unique_ptr<ChassisManager> manager;
  };
  SimScheduler sched_;
  std::vector<std::unique_ptr<SimEventLoop>> retired_loops_;
  SimNetwork net_;
  int n_chassis_, n_blades_, n_slots_;
  SimClusterOptions opt_;
  std::map<std::pair<int, int>, Node> nodes_;
  std::map<int, bool> alive_;
  std::map<int, uint32_t> epoch_;
  std::map<int, Nanos> skew_;
};

}  // namespace bladesync::testing
