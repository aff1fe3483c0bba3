// Forged frames: well-formed frames of every kind with whatever numbers an
// attacker on M1/M2 (or a bit flip) puts in them. Used by the hostile-input
// tests and the whole-cluster suite's adversary.
//
//   std::vector<uint8_t> f = ForgedBulkSync(Origin(1, 0xffffffff, 1, 1), /*dest=*/2, /*seq=*/1);
//   net.Inject(NodeId{1, 1}, NodeId{2, 1}, Link::kM1, f);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "blades/delta_codec.h"
#include "schemas/bladesync_generated.h"

namespace bladesync::testing {

inline std::vector<uint8_t> Bytes(flatbuffers::FlatBufferBuilder& fbb) {
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

// Wraps a finished message in a Frame and returns the frame's bytes.
template <typename T>
std::vector<uint8_t> FrameBytes(flatbuffers::FlatBufferBuilder& fbb, wire::Message type, flatbuffers::Offset<T> msg) {
  fbb.Finish(wire::CreateFrame(fbb, type, msg.Union()), wire::FrameIdentifier());
  return Bytes(fbb);
}

// A delta batch: `creates` IPv4 sessions from id `first_id` on.
inline std::vector<uint8_t> ForgedBatch(wire::Origin origin, uint8_t dest, uint64_t first_seq, uint32_t seq_count,
                                        uint8_t flags = 0, uint32_t creates = 0, uint32_t first_id = 0,
                                        uint32_t bulk_sync_slots = 0) {
  DeltaEncoder enc;
  enc.Reset();
  for (uint32_t i = 0; i < creates; ++i) {
    SessionRecord r;
    r.key = SessionKey::V4(0x0b000000 + first_id + i, 0x0c000001, static_cast<uint16_t>(1000 + i % 60000), 80, kProtoTcp);
    r.version = (1ull << 47) + i;
    r.timeout_s = 3600;
    enc.AddCreate(first_id + i, r, nullptr, false);
  }
  BatchHeader h;
  h.from = origin;
  h.first_seq = first_seq;
  h.seq_count = seq_count;
  h.flags = flags;
  h.dest_chassis = dest;
  h.bulk_sync_slots = bulk_sync_slots;
  std::span<const uint8_t> b = enc.FinishBatch(h);
  return {b.begin(), b.end()};
}

// BulkSyncBegin|BulkSyncEnd with no sessions: "I own nothing" from `origin`.
inline std::vector<uint8_t> ForgedEmptyBulkSync(wire::Origin origin, uint8_t dest, uint64_t seq) {
  return ForgedBatch(origin, dest, seq, 1,
                     static_cast<uint8_t>(wire::BatchFlags::BulkSyncBegin) | static_cast<uint8_t>(wire::BatchFlags::BulkSyncEnd));
}

inline std::vector<uint8_t> ForgedAck(wire::Origin from, uint8_t owner_chassis, uint32_t owner_epoch, uint64_t next_seq,
                                      uint8_t flags = 0, uint64_t nack_from = 0, uint64_t nack_to = 0) {
  flatbuffers::FlatBufferBuilder fbb;
  std::span<const uint8_t> b = BuildAck(fbb, from, owner_chassis, owner_epoch, next_seq, nack_from, nack_to, flags, 0, {});
  return {b.begin(), b.end()};
}

inline std::vector<uint8_t> ForgedCommand(wire::Origin from, wire::CommandKind kind, uint8_t peer_chassis,
                                          uint64_t request_id) {
  flatbuffers::FlatBufferBuilder fbb;
  wire::CommandBuilder b(fbb);
  b.add_from(&from);
  b.add_kind(kind);
  b.add_peer_chassis(peer_chassis);
  b.add_request_id(request_id);
  return FrameBytes(fbb, wire::Message::Command, b.Finish());
}

inline std::vector<uint8_t> ForgedHeartbeat(wire::Origin from, wire::Role role, uint64_t seq, uint8_t priority = 255,
                                            uint8_t live_blades = 255, bool ready = true) {
  flatbuffers::FlatBufferBuilder fbb;
  auto serial = fbb.CreateString("FORGED");
  wire::HeartbeatBuilder b(fbb);
  b.add_from(&from);
  b.add_role(role);
  b.add_ready(ready);
  b.add_live_blades(live_blades);
  b.add_monitored_up(255);
  b.add_priority(priority);
  b.add_uptime_ms(1ull << 40);
  b.add_seq(seq);
  b.add_serial(serial);
  return FrameBytes(fbb, wire::Message::Heartbeat, b.Finish());
}

inline std::vector<uint8_t> ForgedBladeStatus(wire::Origin from, bool ready, uint64_t last_command = 0) {
  flatbuffers::FlatBufferBuilder fbb;
  wire::BladeStatusBuilder b(fbb);
  b.add_from(&from);
  b.add_ready(ready);
  b.add_last_command(last_command);
  return FrameBytes(fbb, wire::Message::BladeStatus, b.Finish());
}

// `n` TCP SYNs of new flows.
inline std::vector<uint8_t> ForgedSyns(wire::Origin from, uint32_t n, uint32_t first = 0) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<wire::Packet4> p;
  for (uint32_t i = 0; i < n; ++i) {
    p.emplace_back(0x0d000000 + first + i, 0x0e000001, static_cast<uint16_t>(1024 + i % 60000), 443, 0, 0, kProtoTcp,
                   0x02 /* SYN */, 1, 2, 64);
  }
  auto v = fbb.CreateVectorOfStructs(p);
  wire::PacketBatchBuilder b(fbb);
  b.add_from(&from);
  b.add_packets4(v);
  return FrameBytes(fbb, wire::Message::PacketBatch, b.Finish());
}

}  // namespace bladesync::testing
