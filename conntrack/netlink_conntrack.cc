#include "conntrack/netlink_conntrack.h"

#include "conntrack/ct_mapping.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

namespace bladesync {
namespace {

// Netlink request numbers: distinct per request of this process (the
// kernel echoes them; nothing else reads them).
uint32_t NextRequestSeq() {
  static std::atomic<uint32_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

struct CtDeleter {
  void operator()(nf_conntrack* ct) const { nfct_destroy(ct); }
};
using CtPtr = std::unique_ptr<nf_conntrack, CtDeleter>;

bool IsIcmp(uint8_t proto) { return proto == kProtoIcmp || proto == kProtoIcmp6; }

IpAddr V4Net(uint32_t net) { return IpAddr::V4(ntohl(net)); }
IpAddr V6Bytes(const void* p) {
  IpAddr a;
  std::memcpy(a.b.data(), p, 16);
  return a;
}

// One direction's tuple: of a conntrack object (an expectation's parts are
// conntrack objects with the original tuple set) or of a parsed message.
struct Tuple {
  IpAddr src, dst;
  uint16_t sport = 0, dport = 0, icmp_id = 0;
  uint8_t proto = 0, icmp_type = 0, icmp_code = 0;
};
Tuple OrigTuple(const nf_conntrack* ct) {
  Tuple t;
  const bool v4 = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO) == AF_INET;
  t.proto = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);
  if (v4) {
    t.src = V4Net(nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC));
    t.dst = V4Net(nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST));
  } else {
    t.src = V6Bytes(nfct_get_attr(ct, ATTR_ORIG_IPV6_SRC));
    t.dst = V6Bytes(nfct_get_attr(ct, ATTR_ORIG_IPV6_DST));
  }
  t.sport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
  t.dport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
  return t;
}

void SetOrigTuple(nf_conntrack* ct, const IpAddr& src, const IpAddr& dst, uint16_t sport, uint16_t dport,
                  uint8_t proto, bool v4) {
  nfct_set_attr_u8(ct, ATTR_ORIG_L3PROTO, v4 ? AF_INET : AF_INET6);
  nfct_set_attr_u8(ct, ATTR_ORIG_L4PROTO, proto);
  if (v4) {
    nfct_set_attr_u32(ct, ATTR_ORIG_IPV4_SRC, htonl(src.v4()));
    nfct_set_attr_u32(ct, ATTR_ORIG_IPV4_DST, htonl(dst.v4()));
  } else {
    nfct_set_attr(ct, ATTR_ORIG_IPV6_SRC, src.b.data());
    nfct_set_attr(ct, ATTR_ORIG_IPV6_DST, dst.b.data());
  }
  nfct_set_attr_u16(ct, ATTR_ORIG_PORT_SRC, htons(sport));
  nfct_set_attr_u16(ct, ATTR_ORIG_PORT_DST, htons(dport));
}

bool AllZero(const IpAddr& a, bool v4) { return v4 ? a.v4() == 0 : a == IpAddr{}; }

// CtNatFn's names, as the kernel registers them (nf_ct_helper_expectfn).
constexpr const char* kNatFnNames[] = {"", "nat-follow-master", "sip", "Q.931", "callforwarding"};
static_assert(std::size(kNatFnNames) == kNatFnLast + 1);
uint8_t NatFnOf(const char* name) {
  for (uint8_t i = 1; i <= kNatFnLast; ++i)
    if (std::strcmp(name, kNatFnNames[i]) == 0) return i;
  return kNatFnNone;
}

KernelExpectation FromNfexp(const nf_expect* exp) {
  KernelExpectation k;
  const auto* master = static_cast<const nf_conntrack*>(nfexp_get_attr(exp, ATTR_EXP_MASTER));
  const auto* expected = static_cast<const nf_conntrack*>(nfexp_get_attr(exp, ATTR_EXP_EXPECTED));
  const auto* mask = static_cast<const nf_conntrack*>(nfexp_get_attr(exp, ATTR_EXP_MASK));
  const Tuple m = OrigTuple(master);
  k.master.src = m.src;
  k.master.dst = m.dst;
  k.master.sport = m.sport;
  k.master.dport = m.dport;
  k.master.proto = m.proto;
  if (nfexp_attr_is_set(exp, ATTR_EXP_ZONE) > 0) k.master.zone = nfexp_get_attr_u16(exp, ATTR_EXP_ZONE);
  if (nfexp_attr_is_set(exp, ATTR_EXP_HELPER_NAME) > 0) {
    k.helper = static_cast<const char*>(nfexp_get_attr(exp, ATTR_EXP_HELPER_NAME));
  }
  const Tuple t = OrigTuple(expected), mk = OrigTuple(mask);
  const bool v4 = t.dst.is_v4();
  CtExpectation& x = k.exp;
  x.proto = t.proto;
  x.any_src = AllZero(mk.src, v4);
  x.any_sport = mk.sport == 0;
  x.src = x.any_src ? (v4 ? IpAddr::V4(0) : IpAddr{}) : t.src;
  x.sport = x.any_sport ? 0 : t.sport;
  x.dst = t.dst;
  x.dport = t.dport;
  if (nfexp_attr_is_set(exp, ATTR_EXP_TIMEOUT) > 0) x.timeout_s = nfexp_get_attr_u32(exp, ATTR_EXP_TIMEOUT);
  if (nfexp_attr_is_set(exp, ATTR_EXP_FLAGS) > 0) x.flags = static_cast<uint8_t>(nfexp_get_attr_u32(exp, ATTR_EXP_FLAGS));
  if (nfexp_attr_is_set(exp, ATTR_EXP_CLASS) > 0) x.klass = static_cast<uint8_t>(nfexp_get_attr_u32(exp, ATTR_EXP_CLASS));
  if (nfexp_attr_is_set(exp, ATTR_EXP_FN) > 0) x.nat_fn = NatFnOf(static_cast<const char*>(nfexp_get_attr(exp, ATTR_EXP_FN)));
  if (nfexp_attr_is_set(exp, ATTR_EXP_NAT_TUPLE) > 0) {
    const Tuple n = OrigTuple(static_cast<const nf_conntrack*>(nfexp_get_attr(exp, ATTR_EXP_NAT_TUPLE)));
    x.nat = true;
    x.nat_dir = nfexp_attr_is_set(exp, ATTR_EXP_NAT_DIR) > 0 ? nfexp_get_attr_u8(exp, ATTR_EXP_NAT_DIR) : 0;
    x.nat_addr = n.src;
    x.nat_port = n.sport;
  }
  return k;
}

struct ExpDeleter {
  void operator()(nf_expect* x) const { nfexp_destroy(x); }
};
using ExpPtr = std::unique_ptr<nf_expect, ExpDeleter>;

// An expectation of the entry `master` (its original tuple and zone).
ExpPtr ToNfexp(const KernelEntry& master, const CtExpectation& x) {
  ExpPtr exp(nfexp_new());
  const bool v4 = master.key.is_v4();
  CtPtr m(nfct_new()), t(nfct_new()), mk(nfct_new());
  SetOrigTuple(m.get(), master.key.src, master.key.dst, master.key.sport, master.key.dport, master.key.proto, v4);
  SetOrigTuple(t.get(), x.src, x.dst, x.sport, x.dport, x.proto, v4);
  const IpAddr ones = v4 ? IpAddr::V4(0xffffffff) : IpAddr::V6(~0ull, ~0ull);
  const IpAddr none = v4 ? IpAddr::V4(0) : IpAddr{};
  SetOrigTuple(mk.get(), x.any_src ? none : ones, ones, x.any_sport ? 0 : 0xffff, 0xffff, x.proto, v4);
  nfexp_set_attr(exp.get(), ATTR_EXP_MASTER, m.get());
  nfexp_set_attr(exp.get(), ATTR_EXP_EXPECTED, t.get());
  nfexp_set_attr(exp.get(), ATTR_EXP_MASK, mk.get());
  nfexp_set_attr_u32(exp.get(), ATTR_EXP_TIMEOUT, x.timeout_s ? x.timeout_s : 1);
  if (master.key.zone) nfexp_set_attr_u16(exp.get(), ATTR_EXP_ZONE, master.key.zone);
  if (x.flags) nfexp_set_attr_u32(exp.get(), ATTR_EXP_FLAGS, x.flags);
  return exp;
}

// What nfexp_nlmsg_build leaves out (libnetfilter_conntrack's netlink
// builder writes no class, NAT or function): appended with libmnl.
void PutExpectationExtras(nlmsghdr* nlh, const KernelEntry& master, const CtExpectation& x) {
  const bool v4 = master.key.is_v4();
  if (x.nat) {
    nlattr* nat = mnl_attr_nest_start(nlh, CTA_EXPECT_NAT);
    mnl_attr_put_u32(nlh, CTA_EXPECT_NAT_DIR, htonl(x.nat_dir));
    nlattr* tuple = mnl_attr_nest_start(nlh, CTA_EXPECT_NAT_TUPLE);
    nlattr* ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
    if (v4) {
      mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, htonl(x.nat_addr.v4()));
      mnl_attr_put_u32(nlh, CTA_IP_V4_DST, 0);
    } else {
      const IpAddr none{};
      mnl_attr_put(nlh, CTA_IP_V6_SRC, 16, x.nat_addr.b.data());
      mnl_attr_put(nlh, CTA_IP_V6_DST, 16, none.b.data());
    }
    mnl_attr_nest_end(nlh, ip);
    nlattr* proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
    mnl_attr_put_u8(nlh, CTA_PROTO_NUM, x.proto);
    mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(x.nat_port));
    mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, 0);
    mnl_attr_nest_end(nlh, proto);
    mnl_attr_nest_end(nlh, tuple);
    mnl_attr_nest_end(nlh, nat);
    if (x.nat_fn) mnl_attr_put_strz(nlh, CTA_EXPECT_FN, kNatFnNames[x.nat_fn]);
  }
  // The kernel takes a class only with a helper, which it then also gives
  // the expected connection (what conntrackd's ExpectationSync does): for
  // SIP's media, whose classes each have their own limit. Class 0 (FTP's
  // only one, SIP's signalling) goes without.
  if (x.klass && !master.extra.helper.empty()) {
    mnl_attr_put_strz(nlh, CTA_EXPECT_HELP_NAME, master.extra.helper.c_str());
    mnl_attr_put_u32(nlh, CTA_EXPECT_CLASS, htonl(x.klass));
  }
}

// with_nat false: no NAT attributes (the kernel refuses them on an update of
// an entry that exists; its NAT is set for good at creation).
CtPtr ToNfct(const KernelEntry& e, bool liberal, bool with_nat = true) {
  CtPtr ct(nfct_new());
  const uint8_t proto = e.key.proto;
  const bool v4 = e.key.is_v4();
  nfct_set_attr_u8(ct.get(), ATTR_ORIG_L3PROTO, v4 ? AF_INET : AF_INET6);
  nfct_set_attr_u8(ct.get(), ATTR_REPL_L3PROTO, v4 ? AF_INET : AF_INET6);
  nfct_set_attr_u8(ct.get(), ATTR_ORIG_L4PROTO, proto);
  nfct_set_attr_u8(ct.get(), ATTR_REPL_L4PROTO, proto);
  // With NAT the reply tuple goes in untranslated and the kernel applies the
  // SNAT/DNAT below to it: that sets the NAT status bits packets are
  // translated by (a translated reply tuple alone would not).
  const bool snat = (e.status & kIpsSrcNat) || e.snat();
  const bool dnat = (e.status & kIpsDstNat) || e.dnat();
  const IpAddr& rsrc = (snat || dnat) ? e.key.dst : e.reply_src;
  const IpAddr& rdst = (snat || dnat) ? e.key.src : e.reply_dst;
  const uint16_t rsport = (snat || dnat) ? e.key.dport : e.reply_sport;
  const uint16_t rdport = (snat || dnat) ? e.key.sport : e.reply_dport;
  if (v4) {
    nfct_set_attr_u32(ct.get(), ATTR_ORIG_IPV4_SRC, htonl(e.key.src.v4()));
    nfct_set_attr_u32(ct.get(), ATTR_ORIG_IPV4_DST, htonl(e.key.dst.v4()));
    nfct_set_attr_u32(ct.get(), ATTR_REPL_IPV4_SRC, htonl(rsrc.v4()));
    nfct_set_attr_u32(ct.get(), ATTR_REPL_IPV4_DST, htonl(rdst.v4()));
  } else {
    nfct_set_attr(ct.get(), ATTR_ORIG_IPV6_SRC, e.key.src.b.data());
    nfct_set_attr(ct.get(), ATTR_ORIG_IPV6_DST, e.key.dst.b.data());
    nfct_set_attr(ct.get(), ATTR_REPL_IPV6_SRC, rsrc.b.data());
    nfct_set_attr(ct.get(), ATTR_REPL_IPV6_DST, rdst.b.data());
  }
  if (IsIcmp(proto)) {
    nfct_set_attr_u8(ct.get(), ATTR_ICMP_TYPE, static_cast<uint8_t>(e.key.dport >> 8));
    nfct_set_attr_u8(ct.get(), ATTR_ICMP_CODE, static_cast<uint8_t>(e.key.dport));
    nfct_set_attr_u16(ct.get(), ATTR_ICMP_ID, htons(e.key.sport));
  } else {
    nfct_set_attr_u16(ct.get(), ATTR_ORIG_PORT_SRC, htons(e.key.sport));
    nfct_set_attr_u16(ct.get(), ATTR_ORIG_PORT_DST, htons(e.key.dport));
    nfct_set_attr_u16(ct.get(), ATTR_REPL_PORT_SRC, htons(rsport));
    nfct_set_attr_u16(ct.get(), ATTR_REPL_PORT_DST, htons(rdport));
  }
  if (snat && with_nat) {
    if (v4) nfct_set_attr_u32(ct.get(), ATTR_SNAT_IPV4, htonl(e.reply_dst.v4()));
    else nfct_set_attr(ct.get(), ATTR_SNAT_IPV6, e.reply_dst.b.data());
    if (!IsIcmp(proto)) nfct_set_attr_u16(ct.get(), ATTR_SNAT_PORT, htons(e.reply_dport));
  }
  if (dnat && with_nat) {
    if (v4) nfct_set_attr_u32(ct.get(), ATTR_DNAT_IPV4, htonl(e.reply_src.v4()));
    else nfct_set_attr(ct.get(), ATTR_DNAT_IPV6, e.reply_src.b.data());
    if (!IsIcmp(proto)) nfct_set_attr_u16(ct.get(), ATTR_DNAT_PORT, htons(e.reply_sport));
  }
  if (e.key.zone) nfct_set_attr_u16(ct.get(), ATTR_ZONE, e.key.zone);
  nfct_set_attr_u32(ct.get(), ATTR_STATUS, e.status & (kIpsSeenReply | kIpsAssured | kIpsFixedTimeout));
  if (e.mark) nfct_set_attr_u32(ct.get(), ATTR_MARK, e.mark);
  nfct_set_attr_u32(ct.get(), ATTR_TIMEOUT, e.timeout_s ? e.timeout_s : 1);
  if (proto == kProtoTcp) {
    nfct_set_attr_u8(ct.get(), ATTR_TCP_STATE, e.tcp_state);
    uint8_t fo = e.flags_orig, fr = e.flags_repl;
    if (liberal) {
      fo |= kCtTcpBeLiberal;
      fr |= kCtTcpBeLiberal;
    }
    nfct_set_attr_u8(ct.get(), ATTR_TCP_FLAGS_ORIG, fo);
    nfct_set_attr_u8(ct.get(), ATTR_TCP_MASK_ORIG, fo);
    nfct_set_attr_u8(ct.get(), ATTR_TCP_FLAGS_REPL, fr);
    nfct_set_attr_u8(ct.get(), ATTR_TCP_MASK_REPL, fr);
    if ((fo & kCtTcpWindowScale) && (fr & kCtTcpWindowScale)) {
      nfct_set_attr_u8(ct.get(), ATTR_TCP_WSCALE_ORIG, e.wscale_orig);
      nfct_set_attr_u8(ct.get(), ATTR_TCP_WSCALE_REPL, e.wscale_repl);
    }
  }
  const ConntrackExtras& x = e.extra;
  if (x.has_labels()) {
    nfct_bitmask* bits = nfct_bitmask_new(127);
    for (unsigned i = 0; i < 128; ++i) {
      if (x.labels[i / 8] & (1u << (i % 8))) nfct_bitmask_set_bit(bits, i);
    }
    nfct_set_attr(ct.get(), ATTR_CONNLABELS, bits);  // the entry owns it now
  }
  if (!x.helper.empty()) nfct_set_attr(ct.get(), ATTR_HELPER_NAME, x.helper.c_str());
  auto seqadj = [&](const CtSeqAdj& a, nf_conntrack_attr pos, nf_conntrack_attr before, nf_conntrack_attr after) {
    if (a.empty()) return;
    nfct_set_attr_u32(ct.get(), pos, a.correction_pos);
    nfct_set_attr_u32(ct.get(), before, a.offset_before);
    nfct_set_attr_u32(ct.get(), after, a.offset_after);
  };
  seqadj(x.seqadj_orig, ATTR_ORIG_NAT_SEQ_CORRECTION_POS, ATTR_ORIG_NAT_SEQ_OFFSET_BEFORE, ATTR_ORIG_NAT_SEQ_OFFSET_AFTER);
  seqadj(x.seqadj_repl, ATTR_REPL_NAT_SEQ_CORRECTION_POS, ATTR_REPL_NAT_SEQ_OFFSET_BEFORE, ATTR_REPL_NAT_SEQ_OFFSET_AFTER);
  return ct;
}

struct MnlDeleter {
  void operator()(mnl_socket* s) const { mnl_socket_close(s); }
};
using MnlPtr = std::unique_ptr<mnl_socket, MnlDeleter>;

Result<MnlPtr> OpenBound(unsigned groups) {
  MnlPtr nl(mnl_socket_open(NETLINK_NETFILTER));
  if (!nl) return Unavailable(std::string("netlink (conntrack): ") + std::strerror(errno));
  if (mnl_socket_bind(nl.get(), groups, MNL_SOCKET_AUTOPID) < 0) {
    return Unavailable(std::string("netlink bind (conntrack): ") + std::strerror(errno));
  }
  return nl;
}

nlmsghdr* PutHeader(void* buf, uint8_t subsys, uint16_t msg, uint16_t flags, uint32_t seq, uint8_t family) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = static_cast<uint16_t>((subsys << 8) | msg);
  nlh->nlmsg_flags = flags;
  nlh->nlmsg_seq = seq;
  auto* nfh = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfh->nfgen_family = family;
  nfh->version = NFNETLINK_V0;
  nfh->res_id = 0;
  return nlh;
}

nlmsghdr* PutCtHeader(void* buf, uint16_t msg, uint16_t flags, uint32_t seq, uint8_t family) {
  return PutHeader(buf, NFNL_SUBSYS_CTNETLINK, msg, flags, seq, family);
}

// libmnl's attribute accessors, inline: each was a call through the PLT
// to do one load, for every attribute of every event (3% of the live sync's
// blade-thread samples). The walk below has checked each attribute's
// length against what is left of the message.
inline uint16_t AttrType(const nlattr* a) { return a->nla_type & NLA_TYPE_MASK; }
inline const void* AttrPayload(const nlattr* a) { return reinterpret_cast<const char*>(a) + MNL_ATTR_HDRLEN; }
inline uint16_t AttrPayloadLen(const nlattr* a) { return static_cast<uint16_t>(a->nla_len - MNL_ATTR_HDRLEN); }
template <typename T>
T AttrValue(const nlattr* a) {
  T v{};
  std::memcpy(&v, AttrPayload(a), std::min<size_t>(sizeof v, AttrPayloadLen(a)));
  return v;
}
inline uint8_t AttrU8(const nlattr* a) { return AttrValue<uint8_t>(a); }
inline uint16_t AttrU16(const nlattr* a) { return AttrValue<uint16_t>(a); }
inline uint32_t AttrU32(const nlattr* a) { return AttrValue<uint32_t>(a); }

// Each attribute of a message (after its nfgenmsg) or of a nest, in one
// pass: fn(type, attr). No table of pointers per level (a 512-byte table
// zeroed for each of nine levels cost more than the parse itself).
template <typename F>
void ForEachAttrIn(const void* begin, const void* end, F&& fn) {
  // mnl_attr_ok and mnl_attr_next, inline: a library call each cost more
  // than what they do, for every attribute of every event.
  const char* at = static_cast<const char*>(begin);
  const char* const stop = static_cast<const char*>(end);
  while (stop - at >= static_cast<ptrdiff_t>(sizeof(nlattr))) {
    const auto* a = reinterpret_cast<const nlattr*>(at);
    if (a->nla_len < sizeof(nlattr) || a->nla_len > stop - at) return;
    fn(AttrType(a), a);
    at += MNL_ALIGN(a->nla_len);
  }
}
template <typename F>
void ForEachAttr(const nlmsghdr* nlh, F&& fn) {
  ForEachAttrIn(mnl_nlmsg_get_payload_offset(nlh, sizeof(nfgenmsg)), mnl_nlmsg_get_payload_tail(nlh), fn);
}
template <typename F>
void ForEachNested(const nlattr* nest, F&& fn) {
  ForEachAttrIn(AttrPayload(nest), static_cast<const char*>(AttrPayload(nest)) + AttrPayloadLen(nest), fn);
}

// A conntrack message parsed with libmnl straight into a KernelEntry: the
// event path's hot spot (libnetfilter_conntrack's object, its allocation and
// its accessors cost more than the parse). Expectations, rare, still go
// through libnetfilter_conntrack (FromNfexp).
class CtParser {
 public:
  // False for a message that is not a whole conntrack entry.
  static bool Parse(const nlmsghdr* nlh, KernelEntry& e) {
    const auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
    const bool v6 = nfg->nfgen_family == AF_INET6;
    const nlattr *orig_attr = nullptr, *repl_attr = nullptr;
    ConntrackExtras& x = e.extra;
    e.parts = 0;
    ForEachAttr(nlh, [&](uint16_t type, const nlattr* a) {
      switch (type) {
        case CTA_TUPLE_ORIG: orig_attr = a; break;
        case CTA_TUPLE_REPLY: repl_attr = a; break;
        case CTA_ZONE: e.key.zone = ntohs(AttrU16(a)); break;
        case CTA_STATUS: e.status = ntohl(AttrU32(a)); break;
        case CTA_MARK: e.mark = ntohl(AttrU32(a)); break;
        case CTA_TIMEOUT: e.timeout_s = ntohl(AttrU32(a)); break;
        case CTA_PROTOINFO:
          ParseProtoInfo(a, e);
          e.parts |= KernelEntry::kProtoInfo;
          break;
        case CTA_LABELS: {
          e.parts |= KernelEntry::kLabels;
          const size_t n = std::min<size_t>(AttrPayloadLen(a), x.labels.size());
          std::memcpy(x.labels.data(), AttrPayload(a), n);  // bit i: byte i/8 (little endian)
          break;
        }
        case CTA_HELP:
          ForEachNested(a, [&](uint16_t k, const nlattr* h) {
            if (k != CTA_HELP_NAME) return;
            const char* name = mnl_attr_get_str(h);
            x.helper.assign(name, std::min<size_t>(strnlen(name, AttrPayloadLen(h)), 15));
          });
          break;
        case CTA_SEQ_ADJ_ORIG:
          ParseSeqAdj(a, x.seqadj_orig);
          e.parts |= KernelEntry::kSeqAdjOrig;
          break;
        case CTA_SEQ_ADJ_REPLY:
          ParseSeqAdj(a, x.seqadj_repl);
          e.parts |= KernelEntry::kSeqAdjRepl;
          break;
        default: break;
      }
    });
    Tuple orig, repl;
    if (!orig_attr || !ParseTuple(orig_attr, v6, orig)) return false;
    if (repl_attr && !ParseTuple(repl_attr, v6, repl)) return false;
    e.key.proto = orig.proto;
    e.key.src = orig.src;
    e.key.dst = orig.dst;
    e.reply_src = repl.src;
    e.reply_dst = repl.dst;
    if (IsIcmp(orig.proto)) {
      e.key.sport = e.reply_sport = orig.icmp_id;
      e.key.dport = static_cast<uint16_t>((orig.icmp_type << 8) | orig.icmp_code);
      e.reply_dport = static_cast<uint16_t>((IcmpReplyType(orig.proto, orig.icmp_type) << 8) | orig.icmp_code);
    } else {
      e.key.sport = orig.sport;
      e.key.dport = orig.dport;
      e.reply_sport = repl.sport;
      e.reply_dport = repl.dport;
    }
    return true;
  }

 private:
  static bool ParseTuple(const nlattr* nest, bool v6, Tuple& t) {
    bool src = false, dst = false, proto = false;
    uint16_t icmp_id = 0, icmp6_id = 0;
    uint8_t icmp_type = 0, icmp_code = 0, icmp6_type = 0, icmp6_code = 0;
    ForEachNested(nest, [&](uint16_t type, const nlattr* a) {
      if (type == CTA_TUPLE_IP) {
        ForEachNested(a, [&](uint16_t k, const nlattr* ip) {
          if (v6 && (k == CTA_IP_V6_SRC || k == CTA_IP_V6_DST) && AttrPayloadLen(ip) >= 16) {
            (k == CTA_IP_V6_SRC ? t.src : t.dst) = V6Bytes(AttrPayload(ip));
            (k == CTA_IP_V6_SRC ? src : dst) = true;
          } else if (!v6 && (k == CTA_IP_V4_SRC || k == CTA_IP_V4_DST) && AttrPayloadLen(ip) >= 4) {
            (k == CTA_IP_V4_SRC ? t.src : t.dst) = V4Net(AttrU32(ip));
            (k == CTA_IP_V4_SRC ? src : dst) = true;
          }
        });
      } else if (type == CTA_TUPLE_PROTO) {
        ForEachNested(a, [&](uint16_t k, const nlattr* p) {
          switch (k) {
            case CTA_PROTO_NUM: t.proto = AttrU8(p); proto = true; break;
            case CTA_PROTO_SRC_PORT: t.sport = ntohs(AttrU16(p)); break;
            case CTA_PROTO_DST_PORT: t.dport = ntohs(AttrU16(p)); break;
            case CTA_PROTO_ICMP_ID: icmp_id = ntohs(AttrU16(p)); break;
            case CTA_PROTO_ICMP_TYPE: icmp_type = AttrU8(p); break;
            case CTA_PROTO_ICMP_CODE: icmp_code = AttrU8(p); break;
            case CTA_PROTO_ICMPV6_ID: icmp6_id = ntohs(AttrU16(p)); break;
            case CTA_PROTO_ICMPV6_TYPE: icmp6_type = AttrU8(p); break;
            case CTA_PROTO_ICMPV6_CODE: icmp6_code = AttrU8(p); break;
            default: break;
          }
        });
      }
    });
    if (t.proto == kProtoIcmp) {
      t.icmp_id = icmp_id;
      t.icmp_type = icmp_type;
      t.icmp_code = icmp_code;
    } else if (t.proto == kProtoIcmp6) {
      t.icmp_id = icmp6_id;
      t.icmp_type = icmp6_type;
      t.icmp_code = icmp6_code;
    }
    return src && dst && proto;
  }
  // TCP's state, window scales and flags (other protocols' are left as zero).
  static void ParseProtoInfo(const nlattr* nest, KernelEntry& e) {
    ForEachNested(nest, [&](uint16_t type, const nlattr* tcp) {
      if (type != CTA_PROTOINFO_TCP) return;
      ForEachNested(tcp, [&](uint16_t k, const nlattr* a) {
        switch (k) {
          case CTA_PROTOINFO_TCP_STATE: e.tcp_state = AttrU8(a); break;
          case CTA_PROTOINFO_TCP_WSCALE_ORIGINAL: e.wscale_orig = AttrU8(a); break;
          case CTA_PROTOINFO_TCP_WSCALE_REPLY: e.wscale_repl = AttrU8(a); break;
          // struct nf_ct_tcp_flags { __u8 flags; __u8 mask; }
          case CTA_PROTOINFO_TCP_FLAGS_ORIGINAL:
            if (AttrPayloadLen(a) >= 1) e.flags_orig = *static_cast<const uint8_t*>(AttrPayload(a));
            break;
          case CTA_PROTOINFO_TCP_FLAGS_REPLY:
            if (AttrPayloadLen(a) >= 1) e.flags_repl = *static_cast<const uint8_t*>(AttrPayload(a));
            break;
          default: break;
        }
      });
    });
  }
  static void ParseSeqAdj(const nlattr* nest, CtSeqAdj& adj) {
    ForEachNested(nest, [&](uint16_t k, const nlattr* a) {
      switch (k) {
        case CTA_SEQADJ_CORRECTION_POS: adj.correction_pos = ntohl(AttrU32(a)); break;
        case CTA_SEQADJ_OFFSET_BEFORE: adj.offset_before = ntohl(AttrU32(a)); break;
        case CTA_SEQADJ_OFFSET_AFTER: adj.offset_after = ntohl(AttrU32(a)); break;
        default: break;
      }
    });
  }
};

struct ParseCtx {
  const std::function<void(const KernelEntry&)>* entry_fn = nullptr;
  const CtEventSocket::Handler* event_fn = nullptr;
  const std::function<void(const KernelExpectation&)>* exp_fn = nullptr;
  const CtEventSocket::ExpectationHandler* exp_event_fn = nullptr;
  // Events: entries parsed and not yet given to event_fn (parsed[0, pending)).
  std::vector<std::pair<CtEvent, KernelEntry>>* parsed = nullptr;
  size_t pending = 0;
  const CtEventSocket::AheadHandler* ahead = nullptr;
  size_t count = 0;

  // Gives the entries parsed so far to `ahead`, then to event_fn.
  void Deliver() {
    if (ahead) {
      for (size_t i = 0; i < pending; ++i) (*ahead)((*parsed)[i].second);
    }
    for (size_t i = 0; i < pending; ++i) (*event_fn)((*parsed)[i].first, (*parsed)[i].second);
    pending = 0;
  }
};

int OnExpMessage(const nlmsghdr* nlh, ParseCtx* c) {
  ExpPtr exp(nfexp_new());
  if (!exp || nfexp_nlmsg_parse(nlh, exp.get()) < 0) return MNL_CB_OK;
  if (nfexp_attr_is_set(exp.get(), ATTR_EXP_MASTER) <= 0 || nfexp_attr_is_set(exp.get(), ATTR_EXP_EXPECTED) <= 0 ||
      nfexp_attr_is_set(exp.get(), ATTR_EXP_MASK) <= 0) {
    return MNL_CB_OK;
  }
  const KernelExpectation k = FromNfexp(exp.get());
  ++c->count;
  if (c->exp_fn) {
    (*c->exp_fn)(k);
  } else if (c->exp_event_fn) {
    if (c->pending) c->Deliver();  // its master's events first
    const uint16_t type = nlh->nlmsg_type & 0xff;
    (*c->exp_event_fn)(type == IPCTNL_MSG_EXP_DELETE ? CtEvent::kDestroy : CtEvent::kNew, k);
  }
  return MNL_CB_OK;
}

int OnCtMessage(const nlmsghdr* nlh, void* data) {
  auto* c = static_cast<ParseCtx*>(data);
  if ((nlh->nlmsg_type >> 8) == NFNL_SUBSYS_CTNETLINK_EXP) return OnExpMessage(nlh, c);
  if (c->entry_fn) {
    KernelEntry e;
    if (!CtParser::Parse(nlh, e)) return MNL_CB_OK;  // not a conntrack entry: skip it
    ++c->count;
    e.parts = KernelEntry::kAllParts;  // a dump has every part an entry has
    (*c->entry_fn)(e);
  } else if (c->event_fn) {
    if (c->pending == c->parsed->size()) c->parsed->emplace_back();
    auto& [kind, e] = (*c->parsed)[c->pending];
    e = KernelEntry{};
    if (!CtParser::Parse(nlh, e)) return MNL_CB_OK;  // not a conntrack entry: skip it
    ++c->count;
    ++c->pending;
    const uint16_t type = nlh->nlmsg_type & 0xff;
    kind = CtEvent::kUpdate;
    if (type == IPCTNL_MSG_CT_DELETE) kind = CtEvent::kDestroy;
    else if (nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL)) kind = CtEvent::kNew;
  }
  return MNL_CB_OK;
}

}  // namespace

CtEventSocket::~CtEventSocket() {
  if (nl_) mnl_socket_close(nl_);
}

Status CtEventSocket::Open(size_t buffer_bytes) {
  Result<MnlPtr> nl = OpenBound(NF_NETLINK_CONNTRACK_NEW | NF_NETLINK_CONNTRACK_UPDATE | NF_NETLINK_CONNTRACK_DESTROY |
                                NF_NETLINK_CONNTRACK_EXP_NEW | NF_NETLINK_CONNTRACK_EXP_DESTROY);
  if (!nl.ok()) return nl.status();
  nl_ = nl.value().release();
  const int fd = mnl_socket_get_fd(nl_);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  int size = static_cast<int>(buffer_bytes);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  buffer_bytes_ = buffer_bytes;
  return Status::Ok();
}

int CtEventSocket::fd() const { return nl_ ? mnl_socket_get_fd(nl_) : -1; }

bool CtEventSocket::Grow(size_t max_bytes) {
  if (!nl_ || buffer_bytes_ >= max_bytes) return false;
  buffer_bytes_ = std::min(max_bytes, buffer_bytes_ * 2);
  int size = static_cast<int>(buffer_bytes_);
  setsockopt(fd(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  return true;
}

CtEventSocket::ReadResult CtEventSocket::Read(size_t max_messages, const Handler& fn,
                                              const ExpectationHandler* expectations, const AheadHandler* ahead) {
  ReadResult r;
  if (!nl_) return r;
  // Many events per system call: one datagram each, a few hundred bytes.
  constexpr size_t kBatch = 64, kBuf = 8192;
  if (buf_.size() != kBatch * kBuf) buf_.assign(kBatch * kBuf, 0);
  iovec iov[kBatch];
  mmsghdr msgs[kBatch];
  ParseCtx ctx;
  ctx.event_fn = &fn;
  ctx.exp_event_fn = expectations;
  ctx.parsed = &parsed_;
  ctx.ahead = ahead;
  for (size_t read = 0; read < max_messages;) {
    const size_t want = std::min(kBatch, max_messages - read);
    for (size_t i = 0; i < want; ++i) {
      iov[i] = {buf_.data() + i * kBuf, kBuf};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = recvmmsg(fd(), msgs, static_cast<unsigned>(want), MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return r;
      if (errno == ENOBUFS) {
        r.overrun = true;
        ++read;
        continue;  // the socket goes on after reporting the loss
      }
      if (errno == EINTR) continue;
      r.error = errno;
      return r;
    }
    for (int i = 0; i < n; ++i) {
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
        r.overrun = true;  // an event larger than its slot: lost, so resync
        continue;
      }
      mnl_cb_run(iov[i].iov_base, msgs[i].msg_len, 0, 0, OnCtMessage, &ctx);
    }
    ctx.Deliver();
    r.events = ctx.count;
    read += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < want) return r;  // drained
  }
  r.more = true;
  return r;
}

// A dump request and its replies, read as far as the caller wants at a
// time: the one loop behind DumpConntrack, DumpExpectations and CtDumpCursor.
struct CtDumpCursor::Impl {
  MnlPtr nl;
  uint32_t seq = 0;
  unsigned portid = 0;
  std::vector<char> buf = std::vector<char>(MNL_SOCKET_BUFFER_SIZE * 4);
  const char* what = "";
  bool done = false;

  Status Start(uint8_t subsys, uint16_t msg, const char* name) {
    return Request(subsys, msg, NLM_F_REQUEST | NLM_F_DUMP, AF_UNSPEC, name, {});
  }
  // Opens the socket and sends one request; `build` adds its attributes.
  Status Request(uint8_t subsys, uint16_t msg, uint16_t flags, uint8_t family, const char* name,
                 const std::function<void(nlmsghdr*)>& build) {
    what = name;
    Result<MnlPtr> opened = OpenBound(0);
    if (!opened.ok()) return opened.status();
    nl = std::move(opened.value());
    int size = 8 << 20;
    setsockopt(mnl_socket_get_fd(nl.get()), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    seq = NextRequestSeq();
    nlmsghdr* nlh = PutHeader(buf.data(), subsys, msg, flags, seq, family);
    if (build) build(nlh);
    if (mnl_socket_sendto(nl.get(), nlh, nlh->nlmsg_len) < 0) return Failed();
    portid = mnl_socket_get_portid(nl.get());
    return Status::Ok();
  }
  // Reads until ctx has seen `max` messages or the dump ended; false once
  // it ended (*status says how).
  bool Read(ParseCtx& ctx, size_t max, Status* status) {
    if (done || !nl) return false;
    while (ctx.count < max) {
      const ssize_t n = mnl_socket_recvfrom(nl.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      const int ret =
          n < 0 ? MNL_CB_ERROR : mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, portid, OnCtMessage, &ctx);
      if (ret == MNL_CB_STOP) {
        done = true;
        return false;
      }
      if (ret < 0) {
        if (errno == EINTR) continue;
        *status = Failed();
        done = true;
        return false;
      }
    }
    return true;
  }
  Status Failed() const { return Unavailable(std::string(what) + ": " + std::strerror(errno)); }
};

namespace {

Status Dump(uint8_t subsys, uint16_t msg, ParseCtx& ctx, const char* what) {
  CtDumpCursor::Impl reader;
  Status status = reader.Start(subsys, msg, what);
  while (status.ok() && reader.Read(ctx, SIZE_MAX, &status)) {
  }
  return status;
}

}  // namespace

std::optional<KernelEntry> GetConntrack(const SessionKey& key) {
  if (key.proto != kProtoTcp && key.proto != kProtoUdp && key.proto != kProtoSctp) return std::nullopt;
  const bool v4 = key.is_v4();
  CtDumpCursor::Impl reader;
  Status status = reader.Request(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_ACK,
                                 v4 ? AF_INET : AF_INET6, "conntrack get", [&](nlmsghdr* nlh) {
                                   CtPtr ct(nfct_new());
                                   nfct_set_attr_u8(ct.get(), ATTR_ORIG_L3PROTO, v4 ? AF_INET : AF_INET6);
                                   SetOrigTuple(ct.get(), key.src, key.dst, key.sport, key.dport, key.proto, v4);
                                   if (key.zone) nfct_set_attr_u16(ct.get(), ATTR_ZONE, key.zone);
                                   nfct_nlmsg_build(nlh, ct.get());
                                 });
  if (!status.ok()) return std::nullopt;
  // On the blade's loop: a kernel that does not answer must not hold it.
  const timeval wait{0, 100 * 1000};
  setsockopt(mnl_socket_get_fd(reader.nl.get()), SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  std::optional<KernelEntry> got;
  const std::function<void(const KernelEntry&)> fn = [&](const KernelEntry& e) { got = e; };
  ParseCtx ctx;
  ctx.entry_fn = &fn;
  reader.Read(ctx, 1, &status);  // the entry (or only an error: ENOENT)
  return got;
}

CtDumpCursor::CtDumpCursor() : impl_(std::make_unique<Impl>()) {}
CtDumpCursor::~CtDumpCursor() = default;

Status CtDumpCursor::Start() { return status_ = impl_->Start(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET, "conntrack dump"); }

bool CtDumpCursor::Next(size_t max, const std::function<void(const KernelEntry&)>& fn) {
  ParseCtx ctx;
  ctx.entry_fn = &fn;
  return impl_->Read(ctx, max, &status_);
}

Status DumpConntrack(const std::function<void(const KernelEntry&)>& fn) {
  ParseCtx ctx;
  ctx.entry_fn = &fn;
  return Dump(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET, ctx, "conntrack dump");
}

Status DumpExpectations(const std::function<void(const KernelExpectation&)>& fn) {
  ParseCtx ctx;
  ctx.exp_fn = &fn;
  return Dump(NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_GET, ctx, "expectation dump");
}

InstallStats InstallConntrack(std::span<const KernelEntry> entries, const InstallOptions& opt) {
  InstallStats st;
  Result<MnlPtr> nl = OpenBound(0);
  if (!nl.ok()) {
    st.failed = entries.size();
    st.first_error = errno ? errno : EIO;
    return st;
  }
  mnl_socket* s = nl.value().get();
  const int fd = mnl_socket_get_fd(s);
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);  // acks without the request echoed
  int size = 16 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  // One sendmsg carries a whole batch: the send buffer must hold it.
  int snd = static_cast<int>(opt.batch_bytes * 2 + MNL_SOCKET_BUFFER_SIZE * 2);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof snd);
  std::vector<char> out(opt.batch_bytes + MNL_SOCKET_BUFFER_SIZE);
  std::vector<char> in(MNL_SOCKET_BUFFER_SIZE * 4);
  uint32_t seq = NextRequestSeq() << 8;

  // Sends `used` bytes holding requests first..first+count-1 and reads their
  // acknowledgements: each request's errno (0: done), whatever came back;
  // one never acknowledged (a recv error) counts as failed with that errno.
  auto exchange = [&](size_t used, uint32_t first, size_t count) {
    std::vector<int> result(count, -1);
    if (sendto(fd, out.data(), used, 0, nullptr, 0) < 0) {
      std::fill(result.begin(), result.end(), errno);
      return result;
    }
    size_t pending = count;
    while (pending > 0) {
      const ssize_t n = recv(fd, in.data(), in.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        for (int& r : result)
          if (r < 0) r = errno;
        return result;
      }
      for (auto* h = reinterpret_cast<const nlmsghdr*>(in.data()); mnl_nlmsg_ok(h, static_cast<int>(n));) {
        if (h->nlmsg_type == NLMSG_ERROR) {
          const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(h));
          const uint32_t k = err->msg.nlmsg_seq - first;  // an ack of an earlier exchange falls outside
          if (k < count && result[k] < 0) {
            result[k] = -err->error;
            --pending;
          }
        }
        int left = static_cast<int>(n) - static_cast<int>(reinterpret_cast<const char*>(h) - in.data());
        h = mnl_nlmsg_next(h, &left);
        if (left <= 0) break;
      }
    }
    return result;
  };
  const bool del = opt.op == InstallOptions::Op::kDelete;
  auto existed = [&](int err) { return err == EEXIST || (err == ENOENT && del); };

  // What an entry goes in with: all of it; without NAT attributes (an
  // update of an existing NAT entry); without a helper the kernel lacks
  // (EOPNOTSUPP) or labels it keeps none of (ENOSPC).
  struct Form {
    bool nat = true, helper = true, labels = true;
  };
  auto build = [&](size_t& used, const KernelEntry& entry, const Form& f) {
    KernelEntry e = entry;
    e.mark |= opt.mark_or;
    if (!f.helper) {
      e.extra.helper.clear();
      e.extra.expectations.clear();
    }
    if (!f.labels) e.extra.labels = {};
    CtPtr ct = ToNfct(e, opt.liberal, f.nat);
    const uint16_t flags = del ? NLM_F_REQUEST | NLM_F_ACK
                               : NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK |
                                     (opt.op == InstallOptions::Op::kCreate ? NLM_F_EXCL : 0);
    nlmsghdr* nlh = PutCtHeader(out.data() + used, del ? IPCTNL_MSG_CT_DELETE : IPCTNL_MSG_CT_NEW, flags, ++seq,
                                e.key.is_v4() ? AF_INET : AF_INET6);
    nfct_nlmsg_build(nlh, ct.get());
    used += NLMSG_ALIGN(nlh->nlmsg_len);
  };
  // The next form to try after `err`, or false: nothing left to take out.
  auto next_form = [&](const KernelEntry& e, int err, Form& f) {
    const bool has_nat = (e.status & (kIpsSrcNat | kIpsDstNat)) || e.snat() || e.dnat();
    if (del) return false;
    if (err == EOPNOTSUPP && f.nat && has_nat && opt.op == InstallOptions::Op::kCreateOrUpdate) {
      f.nat = false;
      return true;
    }
    if (err == EOPNOTSUPP && f.helper && !e.extra.helper.empty()) {
      f.helper = false;
      return true;
    }
    if (err == ENOSPC && f.labels && e.extra.has_labels()) {
      f.labels = false;
      return true;
    }
    return false;
  };

  // The expectations of the given entries, after their masters are in (the
  // kernel attaches an expectation to its master). Counted apart: an entry
  // is in even when its expectation is refused.
  // An expectation the kernel refuses for its NAT function or its class (a
  // NAT module or helper this kernel lacks) goes in again without them: a
  // RELATED data connection is worth more than its translation.
  auto install_expectations = [&](const std::vector<size_t>& masters) {
    std::vector<std::pair<size_t, CtExpectation>> todo, again;
    for (size_t k : masters) {
      for (const CtExpectation& x : entries[k].extra.expectations) todo.emplace_back(k, x);
    }
    for (bool bare : {false, true}) {
      size_t used = 0, count = 0, at = 0;
      uint32_t first = seq + 1;
      auto flush = [&] {
        if (count == 0) return;
        const std::vector<int> errs = exchange(used, first, count);
        for (size_t n = 0; n < errs.size(); ++n) {
          const int err = errs[n];
          const CtExpectation& x = todo[at + n].second;
          if (err == 0) {
            ++st.expectations_installed;
            if (bare) ++st.without_extras;
          } else if (err == EEXIST) {
            ++st.expectations_existed;
          } else if (!bare && (x.nat_fn || x.klass) && err != ENOMEM) {
            again.push_back(todo[at + n]);
          } else {
            ++st.expectations_failed;
            if (!st.first_error) st.first_error = err;
          }
        }
        at += count;
        used = count = 0;
        first = seq + 1;
      };
      for (auto& [k, x] : todo) {
        if (bare) x.nat_fn = x.klass = 0;
        if (used + MNL_SOCKET_BUFFER_SIZE > out.size()) flush();
        ExpPtr exp = ToNfexp(entries[k], x);
        const uint16_t flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK |
                               (opt.op == InstallOptions::Op::kCreate ? NLM_F_EXCL : 0);
        nlmsghdr* nlh = PutHeader(out.data() + used, NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_NEW, flags, ++seq,
                                  entries[k].key.is_v4() ? AF_INET : AF_INET6);
        nfexp_nlmsg_build(nlh, exp.get());
        PutExpectationExtras(nlh, entries[k], x);
        used += NLMSG_ALIGN(nlh->nlmsg_len);
        ++count;
      }
      flush();
      todo = std::exchange(again, {});
      if (todo.empty()) break;
    }
  };

  constexpr size_t kMaxEntryBytes = 1024;  // the largest entry message is about 440 bytes
  size_t i = 0;
  while (i < entries.size()) {
    const size_t from = i;
    size_t used = 0;
    const uint32_t first = seq + 1;
    while (i < entries.size() && used + kMaxEntryBytes + MNL_SOCKET_BUFFER_SIZE <= out.size()) build(used, entries[i++], {});
    const std::vector<int> result = exchange(used, first, i - from);
    std::vector<size_t> with_expectations;
    for (size_t k = from; k < i; ++k) {
      int err = result[k - from];
      Form form;
      bool retried = false;
      // Refused for a part it can go in without: again, one entry at a time
      // (rare: a helper or labels the kernel lacks, an update of NAT).
      while (err != 0 && !existed(err) && next_form(entries[k], err, form)) {
        size_t one = 0;
        const uint32_t again = seq + 1;
        build(one, entries[k], form);
        err = exchange(one, again, 1)[0];
        retried = true;
      }
      if (err == 0 || existed(err)) {
        (err == 0 ? st.installed : st.existed)++;
        if (retried && (!form.helper || !form.labels)) ++st.without_extras;
        if (!del && form.helper && !entries[k].extra.expectations.empty()) with_expectations.push_back(k);
      } else {
        ++st.failed;
        if (!st.first_error) st.first_error = err;
        st.failed_entries.push_back(k);
      }
    }
    if (!with_expectations.empty()) install_expectations(with_expectations);
  }
  return st;
}

Status FlushConntrack() {
  Result<MnlPtr> nl = OpenBound(0);
  if (!nl.ok()) return nl.status();
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = PutCtHeader(buf, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, 1, AF_UNSPEC);
  if (mnl_socket_sendto(nl.value().get(), nlh, nlh->nlmsg_len) < 0) return Unavailable("conntrack flush failed");
  const ssize_t n = mnl_socket_recvfrom(nl.value().get(), buf, sizeof buf);
  if (n < 0) return Unavailable("conntrack flush failed");
  return Status::Ok();
}

}  // namespace bladesync
