// Kernel conntrack entries the conntrack tests share: an established TCP
// flow with window scaling and a mark, UDP with source NAT in zone 3, an
// ICMP echo, and IPv6 TCP with destination NAT while closing.
#pragma once

#include "conntrack/kernel_entry.h"

namespace bladesync::testing {

inline KernelEntry Tcp(uint32_t i) {
  KernelEntry e;
  e.key = SessionKey::V4(0x0a090001, 0x0a090002, static_cast<uint16_t>(40000 + i), 5001, kProtoTcp);
  e.reply_src = e.key.dst;
  e.reply_dst = e.key.src;
  e.reply_sport = 5001;
  e.reply_dport = e.key.sport;
  e.status = kIpsSeenReply | kIpsAssured | kIpsConfirmed;
  e.mark = 0x42;
  e.timeout_s = 431999;
  e.tcp_state = kCtTcpEstablished;
  e.wscale_orig = 7;
  e.wscale_repl = 9;
  e.flags_orig = e.flags_repl = kCtTcpWindowScale | kCtTcpSackPerm;
  return e;
}

inline KernelEntry UdpSnat() {
  KernelEntry e;
  e.key = SessionKey::V4(0xc0a80105, 0x08080808, 5353, 53, kProtoUdp, /*zone=*/3);
  e.reply_src = e.key.dst;
  e.reply_dst = IpAddr::V4(0xcb007101);  // translated source 203.0.113.1:61000
  e.reply_sport = 53;
  e.reply_dport = 61000;
  e.status = kIpsSeenReply | kIpsSrcNat | kIpsSrcNatDone | kIpsConfirmed;
  e.timeout_s = 120;
  return e;
}

inline KernelEntry IcmpEcho() {
  KernelEntry e;
  e.key = SessionKey::V4(0x0a090001, 0x0a090002, /*id=*/777, /*type 8 code 0*/ 8 << 8, kProtoIcmp);
  e.reply_src = e.key.dst;
  e.reply_dst = e.key.src;
  e.reply_sport = 777;
  e.reply_dport = 0;  // echo reply, code 0
  e.status = kIpsSeenReply;
  e.timeout_s = 30;
  return e;
}

inline KernelEntry Tcp6Dnat() {
  KernelEntry e;
  e.key.src = IpAddr::V6(0x20010db800000000ull, 1);
  e.key.dst = IpAddr::V6(0x20010db800000000ull, 2);
  e.key.sport = 50000;
  e.key.dport = 80;
  e.key.proto = kProtoTcp;
  e.reply_src = IpAddr::V6(0x20010db800000001ull, 0x80);  // the real server behind the DNAT
  e.reply_dst = e.key.src;
  e.reply_sport = 8080;
  e.reply_dport = 50000;
  e.status = kIpsSeenReply | kIpsAssured | kIpsDstNat;
  e.timeout_s = 60;
  e.tcp_state = kCtTcpFinWait;
  e.flags_orig = kCtTcpSackPerm | kCtTcpCloseInit;
  return e;
}

}  // namespace bladesync::testing
