#include "conntrack/ct_mapping.h"

#include <algorithm>
#include <cstdio>

namespace bladesync {
namespace {

bool IsIcmp(uint8_t proto) { return proto == kProtoIcmp || proto == kProtoIcmp6; }
bool Unset(const IpAddr& a) { return a == IpAddr{}; }

}  // namespace

std::string KernelEntry::ToString() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, " reply %s:%u > %s:%u status 0x%x mark %u timeout %u tcp %u", reply_src.ToString().c_str(),
                reply_sport, reply_dst.ToString().c_str(), reply_dport, status, mark, timeout_s, tcp_state);
  std::string s = key.ToString() + buf;
  if (!extra.helper.empty()) s += " helper " + extra.helper;
  if (extra.has_labels()) s += " labels";
  if (!extra.seqadj_orig.empty() || !extra.seqadj_repl.empty()) s += " seqadj";
  if (!extra.expectations.empty()) s += " expectations " + std::to_string(extra.expectations.size());
  return s;
}

bool KernelEntry::snat() const {
  return !(reply_dst == key.src) || (!IsIcmp(key.proto) && reply_dport != key.sport);
}
bool KernelEntry::dnat() const {
  return !(reply_src == key.dst) || (!IsIcmp(key.proto) && reply_sport != key.dport);
}

uint8_t SessionTcpState(uint8_t k) {
  switch (k) {
    case kCtTcpSynSent:
    case kCtTcpSynSent2: return kTcpSynSent;
    case kCtTcpSynRecv: return kTcpSynRecv;
    case kCtTcpEstablished: return kTcpEstablished;
    case kCtTcpFinWait: return kTcpFinWait;
    case kCtTcpCloseWait: return kTcpCloseWait;
    case kCtTcpLastAck: return kTcpLastAck;
    case kCtTcpTimeWait: return kTcpTimeWait;
    case kCtTcpClose: return kTcpClose;
    default: return kTcpNone;
  }
}

uint8_t KernelTcpStateFor(uint8_t s) {
  switch (s) {
    case kTcpSynSent: return kCtTcpSynSent;
    case kTcpSynRecv: return kCtTcpSynRecv;
    case kTcpEstablished: return kCtTcpEstablished;
    case kTcpFinWait: return kCtTcpFinWait;
    case kTcpCloseWait: return kCtTcpCloseWait;
    case kTcpLastAck: return kCtTcpLastAck;
    case kTcpTimeWait: return kCtTcpTimeWait;
    case kTcpClose: return kCtTcpClose;
    default: return kCtTcpNone;
  }
}

uint8_t IcmpReplyType(uint8_t proto, uint8_t type) {
  if (proto == kProtoIcmp) {
    switch (type) {
      case 8: return 0;    // echo
      case 13: return 14;  // timestamp
      case 15: return 16;  // information
      case 17: return 18;  // address mask
    }
  } else if (proto == kProtoIcmp6) {
    if (type == 128) return 129;  // echo
  }
  return type;
}

// Expectations' timeouts tick like the entry's: only a new or gone
// expectation is a change.
bool SameSyncedExtras(const ConntrackExtras& a, const ConntrackExtras& b) {
  if (a.labels != b.labels || a.helper != b.helper || a.seqadj_orig != b.seqadj_orig || a.seqadj_repl != b.seqadj_repl ||
      a.expectations.size() != b.expectations.size()) {
    return false;
  }
  // As sets: a dump lists them in another order than the events told them.
  for (const CtExpectation& x : a.expectations) {
    const bool there = std::any_of(b.expectations.begin(), b.expectations.end(), [&](const CtExpectation& y) {
      CtExpectation same = x;
      same.timeout_s = y.timeout_s;
      return same == y;
    });
    if (!there) return false;
  }
  return true;
}

bool SameSyncedState(const ConntrackState& a, const ConntrackState& b) {
  return (a.status & kInstallableStatus) == (b.status & kInstallableStatus) && a.mark == b.mark &&
         a.tcp_state == b.tcp_state && a.wscale_orig == b.wscale_orig && a.wscale_repl == b.wscale_repl &&
         a.flags_orig == b.flags_orig && a.flags_repl == b.flags_repl && SameSyncedExtras(a.extra, b.extra);
}

MappedSession SessionFromKernel(const KernelEntry& e, uint32_t min_timeout_s) {
  MappedSession m;
  m.facts.key = e.key;
  uint16_t flags = WithApp(0, AppKind::kLinuxConntrack);
  if (e.status & kIpsExpected) flags |= kFlagExpectation;
  const bool snat = e.snat(), dnat = e.dnat();
  if (snat || dnat) {
    NatInfo n;
    if (snat) {
      n.snat_ip = e.reply_dst;
      n.snat_port = e.reply_dport;
    }
    if (dnat) {
      n.dnat_ip = e.reply_src;
      n.dnat_port = e.reply_sport;
    }
    m.nat = n;
    flags |= kFlagNat;
  }
  m.facts.flags = flags;
  m.state.flags = flags;
  if (e.key.proto == kProtoTcp) {
    m.state.proto_state = SessionTcpState(e.tcp_state);
  } else {
    m.state.proto_state = (e.status & kIpsSeenReply) ? kReplied : kUnreplied;
  }
  m.state.timeout_s = std::max(e.timeout_s, min_timeout_s);
  m.ct = ConntrackState{e.status,     e.mark,        e.timeout_s,  e.tcp_state, e.wscale_orig,
                        e.wscale_repl, e.flags_orig, e.flags_repl, e.extra};
  return m;
}

bool KnownHelper(const std::string& name, uint8_t master_proto, bool v6) {
  // The kernel's helpers, the protocol of the connections they watch, and
  // whether they watch IPv6 at all.
  static const struct {
    const char* name;
    uint8_t proto;  // 0: TCP or UDP
    bool v6;
  } kHelpers[] = {{"ftp", kProtoTcp, true},         {"sane", kProtoTcp, true},  {"Q.931", kProtoTcp, true},
                  {"H.245", kProtoTcp, true},       {"RAS", kProtoUdp, true},   {"tftp", kProtoUdp, true},
                  {"amanda", kProtoUdp, true},      {"sip", 0, true},           {"irc", kProtoTcp, false},
                  {"pptp", kProtoTcp, false},       {"snmp", kProtoUdp, false}, {"snmp_trap", kProtoUdp, false},
                  {"netbios-ns", kProtoUdp, false}};
  for (const auto& h : kHelpers) {
    if (name != h.name) continue;
    if (v6 && !h.v6) return false;
    return h.proto ? master_proto == h.proto : (master_proto == kProtoTcp || master_proto == kProtoUdp);
  }
  return false;
}

namespace {
// The helpers whose NAT modules set each function (nf_nat_ftp, _irc, _tftp
// and _amanda: nat-follow-master; nf_nat_sip: sip; nf_nat_h323: the rest).
bool NatFnOfHelper(uint8_t fn, const std::string& helper) {
  switch (fn) {
    case kNatFnFollowMaster: return helper == "ftp" || helper == "irc" || helper == "tftp" || helper == "amanda";
    case kNatFnSip: return helper == "sip";
    case kNatFnQ931:
    case kNatFnCallForwarding: return helper == "Q.931" || helper == "H.245" || helper == "RAS";
    default: return false;
  }
}
}  // namespace

bool PlausibleExpectation(const KernelEntry& m, const CtExpectation& x) {
  if (x.proto != kProtoTcp && x.proto != kProtoUdp && x.proto != kProtoSctp) return false;
  auto endpoint = [&](const IpAddr& a) { return a == m.key.src || a == m.key.dst || a == m.reply_src || a == m.reply_dst; };
  if (!endpoint(x.dst)) return false;
  if (!x.any_src && !endpoint(x.src)) return false;
  // nf_nat_ftp leaves the address unset: nat-follow-master takes the
  // master's; every other function translates to it.
  const bool unset = Unset(x.nat_addr) || x.nat_addr == IpAddr::V4(0);
  if (x.nat && !endpoint(x.nat_addr) && !(unset && x.nat_fn == kNatFnFollowMaster)) return false;
  // A NAT function needs a NAT port, and only its own helpers use it.
  if (x.nat_fn && (!x.nat || !NatFnOfHelper(x.nat_fn, m.extra.helper))) return false;
  // Only SIP's helper has classes beyond 0 (signalling, audio, video, image).
  if (x.klass > (m.extra.helper == "sip" ? kSipExpectClassMax : 0)) return false;
  return x.dport != 0;
}

std::optional<KernelEntry> KernelFromSession(const SessionRecord& r, const NatInfo* nat,
                                             const ExtensionList* extensions, size_t* implausible) {
  const uint8_t proto = r.key.proto;
  if (proto != kProtoTcp && proto != kProtoUdp && !IsIcmp(proto) && proto != kProtoSctp && proto != kProtoGre) {
    return std::nullopt;
  }
  KernelEntry e;
  e.key = r.key;
  e.reply_src = r.key.dst;
  e.reply_dst = r.key.src;
  if (IsIcmp(proto)) {
    const uint8_t type = static_cast<uint8_t>(r.key.dport >> 8);
    e.reply_sport = r.key.sport;
    e.reply_dport = static_cast<uint16_t>((IcmpReplyType(proto, type) << 8) | (r.key.dport & 0xff));
  } else {
    e.reply_sport = r.key.dport;
    e.reply_dport = r.key.sport;
  }
  if (nat) {
    if (!Unset(nat->snat_ip)) {
      e.reply_dst = nat->snat_ip;
      if (!IsIcmp(proto)) e.reply_dport = nat->snat_port;
      e.status |= kIpsSrcNat;
    }
    if (!Unset(nat->dnat_ip)) {
      e.reply_src = nat->dnat_ip;
      if (!IsIcmp(proto)) e.reply_sport = nat->dnat_port;
      e.status |= kIpsDstNat;
    }
  }
  std::optional<ConntrackState> ct;
  if (extensions) {
    for (const Extension& x : *extensions) {
      if (x.type != static_cast<uint16_t>(ExtensionType::kConntrack)) continue;
      // State we cannot read is not replaced by made-up defaults.
      if (!(ct = DecodeConntrack(x))) return std::nullopt;
      break;
    }
  }
  // A kernel session always has its state: one without (dropped on the way
  // as malformed) is not installed with made-up defaults.
  if (!ct && AppOf(r.flags) == AppKind::kLinuxConntrack) return std::nullopt;
  if (ct) {
    e.status = ct->status;
    e.mark = ct->mark;
    e.timeout_s = ct->timeout_s;
    e.tcp_state = ct->tcp_state;
    e.wscale_orig = ct->wscale_orig;
    e.wscale_repl = ct->wscale_repl;
    e.flags_orig = ct->flags_orig;
    e.flags_repl = ct->flags_repl;
    e.extra = std::move(ct->extra);
    size_t kept = 0, dropped = 0;
    if (!e.extra.helper.empty() && !KnownHelper(e.extra.helper, proto, !e.key.is_v4())) {
      e.extra.helper.clear();  // the entry goes in without it
      ++dropped;
    }
    std::erase_if(e.extra.expectations, [&](CtExpectation& x) {
      // A helper's expectation (one without is the kernel's userspace kind).
      if (e.extra.helper.empty() || !PlausibleExpectation(e, x) || kept >= kMaxExpectations) return ++dropped, true;
      // Not for ever, and not past what a helper itself gives one.
      if (e.extra.helper != "sip") x.flags &= static_cast<uint8_t>(~kExpectPermanent);
      x.flags &= static_cast<uint8_t>(kExpectPermanent | kExpectInactive);
      x.timeout_s = std::min(x.timeout_s, kMaxExpectationTimeoutS);
      return ++kept, false;
    });
    if (implausible) *implausible += dropped;
  } else {
    // A session the data path (not a kernel) created: assume a flow that has
    // seen both directions, and let the kernel's window tracking pick it up.
    const bool replied = proto == kProtoTcp ? r.proto_state == kTcpEstablished : r.proto_state == kReplied;
    if (replied) e.status |= kIpsSeenReply | kIpsAssured;
    e.timeout_s = r.timeout_s;
    if (proto == kProtoTcp) {
      e.tcp_state = KernelTcpStateFor(r.proto_state);
      e.flags_orig = e.flags_repl = kCtTcpSackPerm;
    }
  }
  if (e.timeout_s == 0) e.timeout_s = 1;
  return e;
}

}  // namespace bladesync
