// A packet as the packet path sees it (PacketInfo), its wire forms in a
// PacketBatch, and the TCP state a packet moves a session to. What the
// manager (ingress), the traffic generator and the packet path share,
// without the blade.
#pragma once

#include <cstdint>
#include <span>

#include "blades/session.h"
#include "schemas/bladesync_generated.h"

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
// A PacketBatch frame from `from` (the one place one is built).
std::span<const uint8_t> BuildPacketBatch(flatbuffers::FlatBufferBuilder& fbb, const wire::Origin& from,
                                          std::span<const wire::Packet4> p4, std::span<const wire::Packet6> p6);
// Calls fn(PacketInfo) for every packet of a batch, IPv4 first.
template <typename F>
void ForEachPacket(const wire::PacketBatch& batch, F&& fn) {
  if (batch.packets4()) for (const wire::Packet4* w : *batch.packets4()) fn(FromWire(*w));
  if (batch.packets6()) for (const wire::Packet6* w : *batch.packets6()) fn(FromWire(*w));
}

// TCP state after a packet with `flags` in direction `reply`; pure.
uint8_t NextTcpState(uint8_t state, uint8_t flags, bool reply);

}  // namespace bladesync
