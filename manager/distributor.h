// Distributor: which blade (slot) processes a packet, FortiGate-6000/7000 style.
//
// dp-load-distribution-method picks the fields hashed; every method is
// symmetric because the flow is first oriented without state (the endpoint
// with the lower port is the server side, ties broken by address), so a
// reply lands on the same slot as its request. The hash has no per-chassis
// seed: the same flow maps to the same slot on every chassis, which is what
// makes blade k of every chassis a mirror group. Flow rules (config
// load-balance flow-rule) are checked first, in priority order, against both
// directions of the packet.
//
// A blade with several workers (blade-workers) splits its flows among them
// by a second hash of the method's fields (both addresses for to-master and
// a flow rule's slot), also symmetric and the same on every chassis, so
// flows kept together on a blade stay together on a worker and worker w of
// blade k of every chassis is a mirror group; the
// slots below are then worker slots (fabric/transport.h: WorkerSlots), and
// a flow's home is a worker of its home blade.
//
// A slot whose blade is down takes nothing: each flow ranks every slot, its
// home slot (the hash, or a rule's target) first and the others by a
// rendezvous hash of the flow, and goes to the first live slot of its
// ranking. Only the down slot's flows move, spread over the others, and
// every chassis decides the same for the same live slots. A packet that
// finds no session where it went can try the next live slot of its ranking
// (`after`): where its session was made while its home slot was down.
//
//   Distributor d(options, /*slots=*/4, /*workers=*/2);
//   Verdict v = d.Classify(key, /*srcintf=*/3, /*dstintf=*/0, live);
//   if (v.action == Verdict::kForward && v.slot) send to v.slot;
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "blades/pickup_policy.h"
#include "blades/session.h"
#include "fabric/transport.h"

namespace bladesync {

enum class DistributionMethod : uint8_t {
  kToMaster,
  kSrcIp,
  kDstIp,
  kSrcDstIp,
  kSrcIpSport,
  kDstIpDport,
  kSrcDstIpSportDport,
  kDerived,  // dp-icmp-distribution-method only: use the main method
};
const char* DistributionMethodName(DistributionMethod m);
std::optional<DistributionMethod> ParseDistributionMethod(const std::string& s);

struct FlowRule {
  uint32_t id = 0;
  bool enabled = true;
  int priority = 5;                 // lower value wins; ties by id
  std::vector<uint8_t> src_interface;
  uint8_t protocol = 0;             // 0 = any
  std::optional<AddrPrefix> src_addr;
  std::optional<AddrPrefix> dst_addr;
  PortRange src_port;
  PortRange dst_port;
  enum class Action : uint8_t { kForward, kDrop } action = Action::kForward;
  // forward-slot: master, load-balance, or a slot number.
  enum class Target : uint8_t { kMaster, kLoadBalance, kSlot } target = Target::kMaster;
  uint8_t slot = 0;
};

struct DistributionOptions {
  DistributionMethod method = DistributionMethod::kSrcDstIpSportDport;
  DistributionMethod icmp_method = DistributionMethod::kDerived;
  uint8_t master_slot = 1;
  std::vector<FlowRule> flow_rules;
};

// Worker slots that take packets: bit s - 1 for worker slot s (at most 64).
using SlotMask = uint64_t;
inline constexpr SlotMask kAllSlots = ~SlotMask{0};
inline constexpr SlotMask SlotBit(uint8_t slot) { return SlotMask{1} << (slot - 1); }

struct Verdict {
  enum Action : uint8_t { kForward, kDrop } action = kForward;
  uint8_t slot = 0;  // 0: no live slot is left for this flow
  uint8_t home = 0;  // where it goes while every slot is live
  int rule = -1;     // id of the flow rule that decided, or -1
  DistributionMethod method = DistributionMethod::kSrcDstIpSportDport;  // whose hash ranks its slots (Ranking)
};

class Distributor {
 public:
  // `slots` blades of `workers` workers each.
  Distributor(DistributionOptions options, int slots, int workers = 1);
  // `after`: a slot this packet already tried (0: none); the verdict's slot
  // is then the next live one of the flow's ranking, or 0 past the last.
  Verdict Classify(const SessionKey& key, uint8_t srcintf = 0, uint8_t dstintf = 0, SlotMask live = kAllSlots,
                   uint8_t after = 0) const;
  // The load-balancing hash alone (no rules): the worker slot, 1..slots x workers.
  uint8_t HashSlot(const SessionKey& key, DistributionMethod method) const;
  // The flow's worker among a blade's: its worker slot in blade slot `blade`,
  // by the fields `method` hashes (to-master: both addresses).
  uint8_t WorkerSlotIn(uint8_t blade, const SessionKey& key, DistributionMethod method) const;
  // The flow's slots in the order it takes them: home first.
  std::vector<uint8_t> Ranking(const SessionKey& key, uint8_t home, DistributionMethod method) const;
  int slots() const { return slots_; }
  int workers() const { return ws_.workers; }

 private:
  bool Matches(const FlowRule& r, const SessionKey& k, uint8_t intf) const;
  uint64_t FlowHash(const SessionKey& key, DistributionMethod method) const;
  uint8_t Pick(const SessionKey& key, uint8_t home, DistributionMethod method, SlotMask live, uint8_t after) const;
  DistributionOptions opt_;
  int slots_;  // blades
  WorkerSlots ws_;
};

}  // namespace bladesync
