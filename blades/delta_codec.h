// DeltaEncoder and frame checks: sessions to FlatBuffers frames and back.
//
// The encoder keeps its builder and scratch vectors between frames, so a
// frame costs no heap allocation per delta once warm. VerifyFrame runs the
// size limit and the FlatBuffers verifier before any field is read.
//
//   DeltaEncoder enc;
//   enc.AddCreate(id, record, nat, /*recreate=*/false);
//   std::span<const uint8_t> bytes = enc.FinishBatch(header);
//   Result<const wire::Frame*> f = VerifyFrame(bytes, limits);
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "blades/extensions.h"
#include "blades/session.h"
#include "core/status.h"
#include "flatbuffers/flatbuffers.h"
#include "schemas/bladesync_generated.h"

namespace bladesync {

struct BatchHeader {
  wire::Origin from;  // the owner blade
  uint64_t first_seq = 0;
  uint32_t seq_count = 0;
  uint64_t send_time_ns = 0;
  uint8_t flags = 0;
  uint8_t dest_chassis = 0;
  uint32_t bulk_sync_slots = 0;  // BulkSyncBegin only
  uint64_t owner_sessions = 0;  // Summary keep-alives only
  uint64_t owner_digest = 0;
};

class DeltaEncoder {
 public:
  DeltaEncoder();
  void Reset();
  void AddDelete(uint32_t id, uint64_t version, uint8_t reason);
  // `ext` is the session's extension state; only what its application
  // declares as synced goes on the wire.
  void AddCreate(uint32_t id, const SessionRecord& r, const NatInfo* nat, bool recreate,
                 const ExtensionList* ext = nullptr);
  void AddUpdate(uint32_t id, const SessionRecord& r, const ExtensionList* ext = nullptr);
  // Linux conntrack entries go in their compact form (ConntrackCreate4,
  // ConntrackUpdate; wire schema 1.2) while on: only to a mirror that reads it.
  void set_compact_conntrack(bool on) { compact_conntrack_ = on; }
  // NAT with one side untranslated goes as a Nat4 (0.0.0.0 for that side)
  // when the other is IPv4 (wire schema 1.5): only to a mirror that reads it.
  void set_half_nat4(bool on) { half_nat4_ = on; }
  // The sending blade's blade-workers, on every batch (1 is not sent).
  void set_blade_workers(uint8_t w) { blade_workers_ = w; }
  size_t approx_bytes() const { return approx_bytes_; }
  // What approx_bytes() starts at, and what AddCreate adds to it for this
  // session: a frame can be sized without encoding it.
  static constexpr size_t kFrameOverhead = 96;
  // `half_nat4`: as set_half_nat4 on the encoder that will send it.
  static size_t CreateBytes(const SessionRecord& r, const NatInfo* nat, const ExtensionList* ext,
                            bool half_nat4 = false);
  // Whether `nat` goes as a Nat4: both sides IPv4; with half_nat4 (1.5) a
  // side may be untranslated instead (0.0.0.0 stands for it, so a side
  // that is 0.0.0.0 itself goes as a Nat6).
  static bool FitsNat4(const NatInfo& nat, bool half_nat4);
  // Builds the frame; the bytes stay valid until the next Reset/Finish.
  std::span<const uint8_t> FinishBatch(const BatchHeader& h);

 private:
  flatbuffers::FlatBufferBuilder fbb_;
  std::vector<wire::Delete> deletes_;
  std::vector<wire::Create4> creates4_, recreates4_;
  std::vector<wire::Create6> creates6_, recreates6_;
  std::vector<wire::Update> updates_;
  std::vector<wire::ConntrackCreate4> conntrack_creates4_;
  std::vector<wire::ConntrackUpdate> conntrack_updates_;
  bool compact_conntrack_ = false;
  bool half_nat4_ = false;
  bool nat4_untranslated_ = false;  // this batch has a Nat4 with a side left untranslated
  uint8_t blade_workers_ = 1;
  std::vector<wire::Nat4> nat4_;
  std::vector<wire::Nat6> nat6_;
  std::vector<std::pair<uint32_t, const Extension*>> ext_;
  std::vector<flatbuffers::Offset<wire::Extension>> ext_offsets_;
  size_t approx_bytes_ = 0;
  void AddExtensions(uint32_t id, const SessionRecord& r, const ExtensionList* ext);
  // A Linux conntrack create in its compact form, if it has one.
  bool AddCompactCreate(uint32_t id, const SessionRecord& r, const ExtensionList& ext);
};

struct FrameLimits {
  size_t max_frame_bytes = 4 << 20;
  uint32_t max_deltas = 1 << 16;
};

// Checks size and structure; the returned pointer aliases `bytes`.
Result<const wire::Frame*> VerifyFrame(std::span<const uint8_t> bytes, const FrameLimits& limits);

inline uint64_t VersionOf(uint32_t lo, uint16_t hi) { return (uint64_t{hi} << 32) | lo; }

// Decoding helpers shared by the mirror and tools.
SessionKey KeyOf(const wire::Create4& c);
SessionKey KeyOf(const wire::Create6& c);
SessionKey KeyOf(const wire::ConntrackCreate4& c);
// The conntrack extension a compact create or update stands for.
Extension ConntrackExtensionOf(const wire::ConntrackCreate4& c);
Extension ConntrackExtensionOf(const wire::ConntrackUpdate& u);
wire::Ip6 ToWire(const IpAddr& a);
IpAddr FromWire(const wire::Ip6& a);

// Small builders for the other message kinds.
std::span<const uint8_t> BuildAck(flatbuffers::FlatBufferBuilder& fbb, const wire::Origin& from,
                                  uint8_t owner_chassis, uint32_t owner_epoch, uint64_t next_seq,
                                  uint64_t nack_from, uint64_t nack_to, uint8_t flags,
                                  uint64_t echo_send_time_ns, const std::vector<wire::Query>& queries);

}  // namespace bladesync
