#include "manager/distributor.h"

#include "core/hash.h"

#include <algorithm>

namespace bladesync {

const char* DistributionMethodName(DistributionMethod m) {
  switch (m) {
    case DistributionMethod::kToMaster: return "to-master";
    case DistributionMethod::kSrcIp: return "src-ip";
    case DistributionMethod::kDstIp: return "dst-ip";
    case DistributionMethod::kSrcDstIp: return "src-dst-ip";
    case DistributionMethod::kSrcIpSport: return "src-ip-sport";
    case DistributionMethod::kDstIpDport: return "dst-ip-dport";
    case DistributionMethod::kSrcDstIpSportDport: return "src-dst-ip-sport-dport";
    case DistributionMethod::kDerived: return "derived";
  }
  return "?";
}

std::optional<DistributionMethod> ParseDistributionMethod(const std::string& s) {
  for (auto m : {DistributionMethod::kToMaster, DistributionMethod::kSrcIp, DistributionMethod::kDstIp,
                 DistributionMethod::kSrcDstIp, DistributionMethod::kSrcIpSport, DistributionMethod::kDstIpDport,
                 DistributionMethod::kSrcDstIpSportDport, DistributionMethod::kDerived}) {
    if (s == DistributionMethodName(m)) return m;
  }
  return std::nullopt;
}

Distributor::Distributor(DistributionOptions options, int slots, int workers)
    : opt_(std::move(options)), slots_(slots), ws_{std::max(workers, 1)} {
  std::stable_sort(opt_.flow_rules.begin(), opt_.flow_rules.end(), [](const FlowRule& a, const FlowRule& b) {
    return a.priority != b.priority ? a.priority < b.priority : a.id < b.id;
  });
}

namespace {
inline uint64_t AddrHash(const IpAddr& a) { return Fmix64(a.hi() ^ Fmix64(a.lo())); }

// The flow's client and server ends, the same for both directions.
struct Oriented {
  const IpAddr* client;
  uint16_t client_port;
  const IpAddr* server;
  uint16_t server_port;
};
Oriented Orient(const SessionKey& k) {
  const bool src_is_server = k.sport < k.dport || (k.sport == k.dport && k.dst < k.src);
  if (src_is_server) return {&k.dst, k.dport, &k.src, k.sport};
  return {&k.src, k.sport, &k.dst, k.dport};
}
}  // namespace

uint8_t Distributor::HashSlot(const SessionKey& key, DistributionMethod method) const {
  uint8_t blade = 1;
  if (slots_ > 1 && (method == DistributionMethod::kToMaster || method == DistributionMethod::kDerived)) {
    blade = opt_.master_slot;
  } else if (slots_ > 1) {
    blade = static_cast<uint8_t>(1 + FlowHash(key, method) % static_cast<uint64_t>(slots_));
  }
  return WorkerSlotIn(blade, key, method);
}

uint8_t Distributor::WorkerSlotIn(uint8_t blade, const SessionKey& key, DistributionMethod method) const {
  if (ws_.workers <= 1) return blade;
  // The method's own fields, so flows it keeps together on a blade stay
  // together on a worker; to-master (and a rule's master or slot) and
  // src-dst-ip by both addresses counted alike, unoriented: a GTP tunnel's
  // user plane (equal ports) orients by address where its control plane
  // orients by port.
  uint64_t h = 0;
  if (method == DistributionMethod::kToMaster || method == DistributionMethod::kDerived ||
      method == DistributionMethod::kSrcDstIp) {
    h = Fmix64(AddrHash(key.src) + AddrHash(key.dst));
  } else {
    h = Fmix64(FlowHash(key, method) ^ 0xc2b2ae3d27d4eb4fULL);
  }
  return ws_.Of(blade, static_cast<int>(h % static_cast<uint64_t>(ws_.workers)));
}

// The method's fields hashed, the same for both directions. to-master ranks
// the other slots by the whole flow (its home is the master).
uint64_t Distributor::FlowHash(const SessionKey& key, DistributionMethod method) const {
  const Oriented o = Orient(key);
  uint64_t h = 0;
  switch (method) {
    case DistributionMethod::kToMaster:
    case DistributionMethod::kDerived:
      return FlowHash(key, DistributionMethod::kSrcDstIpSportDport);
    case DistributionMethod::kSrcIp: h = AddrHash(*o.client); break;
    case DistributionMethod::kDstIp: h = AddrHash(*o.server); break;
    case DistributionMethod::kSrcDstIp: h = Fmix64(AddrHash(*o.client) ^ (AddrHash(*o.server) * 31)); break;
    case DistributionMethod::kSrcIpSport: h = Fmix64(AddrHash(*o.client) ^ o.client_port); break;
    case DistributionMethod::kDstIpDport: h = Fmix64(AddrHash(*o.server) ^ o.server_port); break;
    case DistributionMethod::kSrcDstIpSportDport:
      h = Fmix64(AddrHash(*o.client) ^ (AddrHash(*o.server) * 31) ^ (uint64_t{o.client_port} << 16 | o.server_port) ^
              (uint64_t{key.proto} << 40));
      break;
  }
  return h;
}

std::vector<uint8_t> Distributor::Ranking(const SessionKey& key, uint8_t home, DistributionMethod method) const {
  // Rendezvous (highest random weight): each other slot's weight is a hash of
  // the flow and the slot, so a slot going down moves only its own flows.
  const uint64_t h = FlowHash(key, method);
  std::vector<std::pair<uint64_t, uint8_t>> others;
  for (int s = 1; s <= slots_ * ws_.workers; ++s) {
    if (s != home) others.emplace_back(Fmix64(h ^ (0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(s))), static_cast<uint8_t>(s));
  }
  std::sort(others.begin(), others.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<uint8_t> r{home};
  for (const auto& [w, s] : others) r.push_back(s);
  return r;
}

uint8_t Distributor::Pick(const SessionKey& key, uint8_t home, DistributionMethod method, SlotMask live,
                          uint8_t after) const {
  if (after == 0 && (live & SlotBit(home))) return home;  // every packet while its home is up
  const std::vector<uint8_t> r = Ranking(key, home, method);
  size_t i = 0;
  if (after) {
    while (i < r.size() && r[i] != after) ++i;
    ++i;
  }
  for (; i < r.size(); ++i) {
    if (live & SlotBit(r[i])) return r[i];
  }
  return 0;
}

bool Distributor::Matches(const FlowRule& r, const SessionKey& k, uint8_t intf) const {
  if (!r.enabled) return false;
  if (!r.src_interface.empty() &&
      std::find(r.src_interface.begin(), r.src_interface.end(), intf) == r.src_interface.end()) {
    return false;
  }
  if (r.protocol && r.protocol != k.proto) return false;
  if (r.src_addr && !r.src_addr->Contains(k.src)) return false;
  if (r.dst_addr && !r.dst_addr->Contains(k.dst)) return false;
  return r.src_port.Contains(k.sport) && r.dst_port.Contains(k.dport);
}

Verdict Distributor::Classify(const SessionKey& key, uint8_t srcintf, uint8_t dstintf, SlotMask live,
                              uint8_t after) const {
  const SessionKey rev = key.Reversed();
  for (const FlowRule& r : opt_.flow_rules) {
    // A rule written for one direction also catches the reply, which
    // arrives on the other interface.
    if (!Matches(r, key, srcintf) && !Matches(r, rev, dstintf)) continue;
    Verdict v;
    v.rule = static_cast<int>(r.id);
    if (r.action == FlowRule::Action::kDrop) {
      v.action = Verdict::kDrop;
      return v;
    }
    switch (r.target) {
      case FlowRule::Target::kMaster: v.home = WorkerSlotIn(opt_.master_slot, key, DistributionMethod::kToMaster); break;
      case FlowRule::Target::kSlot: v.home = WorkerSlotIn(r.slot, key, DistributionMethod::kToMaster); break;
      case FlowRule::Target::kLoadBalance: v.home = HashSlot(key, opt_.method); break;
    }
    v.method = opt_.method;
    v.slot = Pick(key, v.home, opt_.method, live, after);
    return v;
  }
  const bool icmp = key.proto == kProtoIcmp || key.proto == kProtoIcmp6;
  DistributionMethod m = opt_.method;
  if (icmp && opt_.icmp_method != DistributionMethod::kDerived) m = opt_.icmp_method;
  Verdict v{Verdict::kForward, 0, HashSlot(key, m), -1, m};
  v.slot = Pick(key, v.home, m, live, after);
  return v;
}

}  // namespace bladesync
