#include "blades/packet.h"

#include "blades/delta_codec.h"

namespace bladesync {

uint8_t NextTcpState(uint8_t st, uint8_t flags, bool reply) {
  if (flags & kTcpRst) return kTcpClose;
  const bool syn = flags & kTcpSyn, ack = flags & kTcpAck, fin = flags & kTcpFin;
  switch (st) {
    case kTcpSynSent:
      if (reply && syn && ack) return kTcpSynRecv;
      return st;
    case kTcpSynRecv:
      if (!reply && ack && !syn) return fin ? kTcpFinWait : kTcpEstablished;
      return st;
    case kTcpEstablished:
      return fin ? uint8_t{kTcpFinWait} : st;
    case kTcpFinWait:
      return fin ? uint8_t{kTcpLastAck} : st;
    case kTcpLastAck:
      return (ack && !fin) ? uint8_t{kTcpTimeWait} : st;
    default:
      return st;
  }
}

PacketInfo FromWire(const wire::Packet4& w) {
  PacketInfo p;
  p.key = SessionKey::V4(w.src(), w.dst(), w.sport(), w.dport(), w.proto(), w.zone());
  p.tcp_flags = w.tcp_flags();
  p.attrs = w.attrs();
  p.srcintf = w.srcintf();
  p.dstintf = w.dstintf();
  p.ttl = w.ttl();
  return p;
}

PacketInfo FromWire(const wire::Packet6& w) {
  PacketInfo p;
  p.key.src = FromWire(w.src());
  p.key.dst = FromWire(w.dst());
  p.key.sport = w.sport();
  p.key.dport = w.dport();
  p.key.proto = w.proto();
  p.key.zone = w.zone();
  p.tcp_flags = w.tcp_flags();
  p.attrs = w.attrs();
  p.srcintf = w.srcintf();
  p.dstintf = w.dstintf();
  p.ttl = w.ttl();
  return p;
}

wire::Packet4 ToWire4(const PacketInfo& p) {
  const SessionKey& k = p.key;
  return wire::Packet4(k.src.v4(), k.dst.v4(), k.sport, k.dport, k.zone, p.attrs, k.proto, p.tcp_flags, p.srcintf,
                       p.dstintf, p.ttl);
}

wire::Packet6 ToWire6(const PacketInfo& p) {
  const SessionKey& k = p.key;
  return wire::Packet6(ToWire(k.src), ToWire(k.dst), k.sport, k.dport, k.zone, p.attrs, k.proto, p.tcp_flags, p.srcintf,
                       p.dstintf, p.ttl);
}

std::span<const uint8_t> BuildPacketBatch(flatbuffers::FlatBufferBuilder& fbb, const wire::Origin& from,
                                          std::span<const wire::Packet4> p4, std::span<const wire::Packet6> p6,
                                          bool may_return) {
  fbb.Clear();
  auto v4 = p4.empty() ? 0 : fbb.CreateVectorOfStructs(p4.data(), p4.size());
  auto v6 = p6.empty() ? 0 : fbb.CreateVectorOfStructs(p6.data(), p6.size());
  wire::PacketBatchBuilder b(fbb);
  b.add_from(&from);
  if (!v4.IsNull()) b.add_packets4(v4);
  if (!v6.IsNull()) b.add_packets6(v6);
  if (may_return) b.add_may_return(true);
  auto pb = b.Finish();
  fbb.Finish(wire::CreateFrame(fbb, wire::Message::PacketBatch, pb.Union()), wire::FrameIdentifier());
  return {fbb.GetBufferPointer(), fbb.GetSize()};
}

}  // namespace bladesync
