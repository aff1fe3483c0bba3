// PacketPath: packets to session changes on one blade.
//
// A strict tracker (like nf_conntrack_tcp_loose=0): only a SYN opens a TCP
// session, every protocol-state change is synced, and every other packet
// only restarts the session's timer. UDP and ICMP sessions open on the first
// packet and become "replied" on the first answer.
//
// Application state: a SIP session carries its call state (SipCall), a
// GTP-C session its tunnel (GtpTunnel). A GTP-U packet opens a session only
// on an existing tunnel and only in the tunnel's policy direction, which is
// what lets GTP-U flows continue after a failover (the tunnel state was
// synced, the GTP-U sessions were not). GTP-C and GTP-U of a tunnel must
// land on the same blade: use dp-load-distribution-method src-dst-ip (or a
// flow rule) for GTP traffic.
//
// Active-active: a packet of a session another chassis owns (we hold its
// synced copy) is handled here when it changes nothing; when it would
// change the session's state, or the session is inspected (the inspection
// state lives with the owner), it goes to the owning blade.
//
//   PacketPath path(blade);
//   path.Process(PacketInfo{key, kTcpSyn, attrs, /*srcintf=*/1, /*dstintf=*/2});
#pragma once

#include <cstdint>

#include "blades/blade_agent.h"
#include "blades/session.h"

namespace bladesync {

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;

inline constexpr uint16_t kGtpControlPort = 2123;
inline constexpr uint16_t kGtpUserPort = 2152;

struct PacketInfo {
  SessionKey key;        // as on the wire: a reply has src and dst swapped
  uint8_t tcp_flags = 0;
  uint16_t attrs = 0;    // session flags the policy match decided (inspection, NAT, app)
  uint8_t srcintf = 0;
  uint8_t dstintf = 0;
  uint8_t ttl = 64;
};

// One packet between the wire and the packet path (Packet4 for IPv4 keys).
PacketInfo FromWire(const wire::Packet4& w);
PacketInfo FromWire(const wire::Packet6& w);
wire::Packet4 ToWire4(const PacketInfo& p);
wire::Packet6 ToWire6(const PacketInfo& p);
// Calls fn(PacketInfo) for every packet of a batch, IPv4 first.
template <typename F>
void ForEachPacket(const wire::PacketBatch& batch, F&& fn) {
  if (batch.packets4()) for (const wire::Packet4* w : *batch.packets4()) fn(FromWire(*w));
  if (batch.packets6()) for (const wire::Packet6* w : *batch.packets6()) fn(FromWire(*w));
}

enum class PacketResult : uint8_t { kCreated, kStateChanged, kRefreshed, kDropped, kHandledWithCopy, kForwarded };

// TCP state after a packet with `flags` in direction `reply`; pure.
uint8_t NextTcpState(uint8_t state, uint8_t flags, bool reply);

class PacketPath {
 public:
  explicit PacketPath(BladeAgent& blade) : blade_(blade) {}
  // forwarded: a peer chassis's blade handed it over (active-active).
  PacketResult Process(const PacketInfo& p, bool forwarded = false);
  // Every packet of a PacketBatch from the distributor (or forwarded).
  void ProcessBatch(const wire::PacketBatch& batch, bool forwarded = false);

 private:
  BladeAgent& blade_;
};

}  // namespace bladesync
