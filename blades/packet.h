// A packet's wire forms in a PacketBatch (PacketInfo itself is in
// blades/packet_info.h) and the TCP state a packet moves a session to: what
// the manager's ingress and the packet path share, without the blade.
#pragma once

#include <cstdint>
#include <span>

#include "blades/packet_info.h"
#include "blades/session.h"
#include "schemas/bladesync_generated.h"

namespace bladesync {

// One packet between the wire and the packet path (Packet4 for IPv4 keys).
PacketInfo FromWire(const wire::Packet4& w);
PacketInfo FromWire(const wire::Packet6& w);
wire::Packet4 ToWire4(const PacketInfo& p);
wire::Packet6 ToWire6(const PacketInfo& p);
// A PacketBatch frame from `from` (the one place one is built).
std::span<const uint8_t> BuildPacketBatch(flatbuffers::FlatBufferBuilder& fbb, const wire::Origin& from,
                                          std::span<const wire::Packet4> p4, std::span<const wire::Packet6> p6,
                                          bool may_return = false);
// Calls fn(PacketInfo, its wire struct) for every packet of a batch, IPv4 first.
template <typename F>
void ForEachPacket(const wire::PacketBatch& batch, F&& fn) {
  if (batch.packets4()) for (const wire::Packet4* w : *batch.packets4()) fn(FromWire(*w), *w);
  if (batch.packets6()) for (const wire::Packet6* w : *batch.packets6()) fn(FromWire(*w), *w);
}

// TCP state after a packet with `flags` in direction `reply`; pure.
uint8_t NextTcpState(uint8_t state, uint8_t flags, bool reply);

}  // namespace bladesync
