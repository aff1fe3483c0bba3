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

// An FTP control connection (the kernel's "ftp" helper) with labels, a
// sequence adjustment (as nf_nat_ftp leaves one) and the expectation of an
// active-mode data connection: the server opens it from any port to the
// client's 10.9.0.1:50000.
inline KernelEntry FtpControl() {
  KernelEntry e = Tcp(100);
  e.key.dport = e.reply_sport = 21;
  e.mark = 0;
  e.extra.helper = "ftp";
  e.extra.labels[0] = 0x08;             // bit 3
  e.extra.labels[12] = 0x10;            // bit 100
  e.extra.seqadj_orig = {1000, 5, 10};
  CtExpectation x;
  x.src = e.key.dst;
  x.dst = e.key.src;
  x.dport = 50000;
  x.proto = kProtoTcp;
  x.any_sport = true;
  x.timeout_s = 300;
  e.extra.expectations.push_back(x);
  return e;
}

// A SIP signalling flow (UDP 5060, the kernel's "sip" helper) whose INVITE
// announced audio and video: two expectations in SIP's media classes, the
// audio one translated back to the caller by nf_nat_sip's function.
inline KernelEntry SipCall() {
  KernelEntry e;
  e.key = SessionKey::V4(0x0a090001, 0x0a090002, 5060, 5060, kProtoUdp);
  e.reply_src = e.key.dst;
  e.reply_dst = e.key.src;
  e.reply_sport = e.reply_dport = 5060;
  e.status = kIpsSeenReply | kIpsAssured | kIpsConfirmed;
  e.timeout_s = 3600;
  e.extra.helper = "sip";
  CtExpectation audio;
  audio.src = e.key.dst;
  audio.dst = e.key.src;
  audio.dport = 16384;
  audio.proto = kProtoUdp;
  audio.any_sport = true;
  audio.timeout_s = 180;
  audio.klass = 1;  // SIP_EXPECT_AUDIO
  audio.nat = true;
  audio.nat_dir = 1;
  audio.nat_addr = e.key.src;
  audio.nat_port = 16384;
  audio.nat_fn = kNatFnSip;
  CtExpectation video = audio;
  video.dport = 16386;
  video.klass = 2;  // SIP_EXPECT_VIDEO
  video.nat = false;
  video.nat_dir = 0;
  video.nat_addr = IpAddr{};
  video.nat_port = 0;
  video.nat_fn = kNatFnNone;
  e.extra.expectations = {audio, video};
  return e;
}

}  // namespace bladesync::testing
