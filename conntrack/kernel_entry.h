// KernelEntry: one Linux conntrack entry as bladesync reads and writes it,
// free of libnetfilter_conntrack so the mapping and the sync logic can be
// tested without a kernel.
//
// The key is the original-direction tuple and zone. For ICMP the key's ports
// carry the echo id (sport) and type << 8 | code (dport), and the reply ports
// the same for the reply tuple.
#pragma once

#include <cstdint>
#include <string>

#include "api/session.h"

namespace bladesync {

// The kernel's TCP_CONNTRACK_* states (linux/netfilter/nf_conntrack_tcp.h).
enum KernelTcpState : uint8_t {
  kCtTcpNone = 0, kCtTcpSynSent = 1, kCtTcpSynRecv = 2, kCtTcpEstablished = 3, kCtTcpFinWait = 4,
  kCtTcpCloseWait = 5, kCtTcpLastAck = 6, kCtTcpTimeWait = 7, kCtTcpClose = 8, kCtTcpSynSent2 = 9,
};

// IPS_* status bits (linux/netfilter/nf_conntrack_common.h) that matter here.
enum KernelStatus : uint32_t {
  kIpsExpected = 1u << 0,
  kIpsSeenReply = 1u << 1,
  kIpsAssured = 1u << 2,
  kIpsConfirmed = 1u << 3,
  kIpsSrcNat = 1u << 4,
  kIpsDstNat = 1u << 5,
  kIpsSeqAdjust = 1u << 6,
  kIpsSrcNatDone = 1u << 7,
  kIpsDstNatDone = 1u << 8,
  kIpsDying = 1u << 9,
  kIpsFixedTimeout = 1u << 10,
  kIpsTemplate = 1u << 11,
  kIpsUntracked = 1u << 12,
  kIpsHelper = 1u << 13,
  kIpsOffload = 1u << 14,
  kIpsHwOffload = 1u << 15,
};
// The bits another kernel accepts in a new entry (the rest are its own).
inline constexpr uint32_t kInstallableStatus = kIpsSeenReply | kIpsAssured | kIpsSrcNat | kIpsDstNat | kIpsFixedTimeout;

// IP_CT_TCP_FLAG_* (per direction).
enum KernelTcpFlags : uint8_t {
  kCtTcpWindowScale = 0x01,
  kCtTcpSackPerm = 0x02,
  kCtTcpCloseInit = 0x04,
  kCtTcpBeLiberal = 0x08,
};

struct KernelEntry {
  SessionKey key;            // original direction (+ zone)
  IpAddr reply_src;
  IpAddr reply_dst;
  uint16_t reply_sport = 0;
  uint16_t reply_dport = 0;
  uint32_t status = 0;
  uint32_t mark = 0;
  uint32_t timeout_s = 0;
  uint8_t tcp_state = 0;
  uint8_t wscale_orig = 0;
  uint8_t wscale_repl = 0;
  uint8_t flags_orig = 0;
  uint8_t flags_repl = 0;
  // Labels, helper and sequence adjustment from the entry; expectations
  // from the kernel's expectation table (the entry is their master).
  ConntrackExtras extra;
  // The parts the message had. A dump has every part an entry has; an
  // update event only those that changed (the kernel sends TCP state,
  // labels and sequence adjustment only with their own event bits): one
  // missing there is unchanged, not gone.
  enum Part : uint8_t { kProtoInfo = 1, kLabels = 2, kSeqAdjOrig = 4, kSeqAdjRepl = 8, kAllParts = 15 };
  uint8_t parts = kAllParts;

  bool operator==(const KernelEntry&) const = default;
  std::string ToString() const;
  // Translated source / destination: the reply tuple is not the original
  // one turned around (ICMP ids are not ports and never count).
  bool snat() const;
  bool dnat() const;
};

enum class CtEvent : uint8_t { kNew, kUpdate, kDestroy };

struct SessionKeyHash {
  size_t operator()(const SessionKey& k) const { return static_cast<size_t>(k.Hash()); }
};

// An expectation as the kernel reports it: its master's original tuple
// (and zone) and what it expects.
struct KernelExpectation {
  SessionKey master;
  std::string helper;
  CtExpectation exp;
  bool operator==(const KernelExpectation&) const = default;
};

}  // namespace bladesync
