#include "blades/delta_codec.h"

#include "schemas/wire_version.h"

namespace bladesync {

wire::Ip6 ToWire(const IpAddr& a) { return wire::Ip6(a.hi(), a.lo()); }
IpAddr FromWire(const wire::Ip6& a) { return IpAddr::V6(a.hi(), a.lo()); }

SessionKey KeyOf(const wire::Create4& c) {
  return SessionKey::V4(c.src(), c.dst(), c.sport(), c.dport(), c.proto(), c.zone());
}

SessionKey KeyOf(const wire::Create6& c) {
  SessionKey k;
  k.src = FromWire(c.src());
  k.dst = FromWire(c.dst());
  k.sport = c.sport();
  k.dport = c.dport();
  k.proto = c.proto();
  k.zone = c.zone();
  return k;
}

SessionKey KeyOf(const wire::ConntrackCreate4& c) {
  return SessionKey::V4(c.src(), c.dst(), c.sport(), c.dport(), c.proto(), c.zone());
}

namespace {
// Version 1 of the conntrack extension from a compact entry's fields.
template <typename C>
Extension ConntrackExtensionFrom(const C& c) {
  ConntrackState s;
  s.status = c.status();
  s.mark = c.mark();
  s.timeout_s = c.ct_timeout_s();
  s.tcp_state = c.tcp_state();
  s.wscale_orig = c.wscale() >> 4;
  s.wscale_repl = c.wscale() & 0x0f;
  s.flags_orig = c.tcp_flags_orig();
  s.flags_repl = c.tcp_flags_repl();
  return EncodeConntrack(s);
}

// The session's conntrack state when the compact form carries it exactly:
// a linux-conntrack session whose only synced extension is version 1 of
// its conntrack state, whose flags follow from that state, and whose status
// and window scales fit the compact fields.
std::optional<ConntrackState> CompactConntrack(const SessionRecord& r, const ExtensionList* ext) {
  if (!ext || ext->size() != 1 || AppOf(r.flags) != AppKind::kLinuxConntrack) return std::nullopt;
  const Extension& e = ext->front();
  if (e.type != static_cast<uint16_t>(ExtensionType::kConntrack) || e.version != 1) return std::nullopt;
  std::optional<ConntrackState> c = DecodeConntrack(e);
  if (!c || c->status > 0xffff || c->wscale_orig > 0x0f || c->wscale_repl > 0x0f ||
      r.flags != ConntrackSessionFlags(c->status)) {
    return std::nullopt;
  }
  return c;
}

uint8_t WscaleOf(const ConntrackState& c) { return static_cast<uint8_t>(c.wscale_orig << 4 | c.wscale_repl); }
}  // namespace

Extension ConntrackExtensionOf(const wire::ConntrackCreate4& c) { return ConntrackExtensionFrom(c); }
Extension ConntrackExtensionOf(const wire::ConntrackUpdate& u) { return ConntrackExtensionFrom(u); }

DeltaEncoder::DeltaEncoder() : fbb_(64 * 1024) {}

void DeltaEncoder::Reset() {
  deletes_.clear();
  creates4_.clear();
  recreates4_.clear();
  creates6_.clear();
  recreates6_.clear();
  updates_.clear();
  conntrack_creates4_.clear();
  conntrack_updates_.clear();
  nat4_.clear();
  nat6_.clear();
  nat4_untranslated_ = false;
  ext_.clear();
  approx_bytes_ = kFrameOverhead;
}

namespace {
// An extension on the wire: its table and its bytes.
size_t WireBytesOf(const Extension& e) { return 24 + e.data.size(); }
}  // namespace

bool DeltaEncoder::FitsNat4(const NatInfo& nat, bool half_nat4) {
  if (!half_nat4) return nat.snat_ip.is_v4() && nat.dnat_ip.is_v4();
  const auto side = [](const IpAddr& a) { return a == IpAddr{} || (a.is_v4() && a != IpAddr::V4(0)); };
  return side(nat.snat_ip) && side(nat.dnat_ip);
}

size_t DeltaEncoder::CreateBytes(const SessionRecord& r, const NatInfo* nat, const ExtensionList* ext,
                                 bool half_nat4) {
  size_t n = r.key.is_v4() ? sizeof(wire::Create4) : sizeof(wire::Create6);
  if (nat) n += FitsNat4(*nat, half_nat4) ? sizeof(wire::Nat4) : sizeof(wire::Nat6);
  if (ext) {
    const AppSpec& app = AppSpecFor(AppOf(r.flags));
    if (app.policy == SyncPolicy::kSynced) {
      for (const Extension& e : *ext) {
        if (e.type == static_cast<uint16_t>(app.extension)) n += WireBytesOf(e);
      }
    }
  }
  return n;
}

void DeltaEncoder::AddDelete(uint32_t id, uint64_t version, uint8_t reason) {
  deletes_.emplace_back(id, static_cast<uint32_t>(version), static_cast<uint16_t>(version >> 32), reason);
  approx_bytes_ += sizeof(wire::Delete);
}

void DeltaEncoder::AddExtensions(uint32_t id, const SessionRecord& r, const ExtensionList* ext) {
  if (!ext) return;
  const AppSpec& app = AppSpecFor(AppOf(r.flags));
  if (app.policy != SyncPolicy::kSynced) return;
  for (const Extension& e : *ext) {
    if (e.type != static_cast<uint16_t>(app.extension)) continue;
    ext_.emplace_back(id, &e);
    approx_bytes_ += WireBytesOf(e);
  }
}

[[gnu::noinline]] bool DeltaEncoder::AddCompactCreate(uint32_t id, const SessionRecord& r, const ExtensionList& ext) {
  const std::optional<ConntrackState> ct = CompactConntrack(r, &ext);
  if (!ct) return false;
  conntrack_creates4_.emplace_back(id, static_cast<uint32_t>(r.version), r.key.src.v4(), r.key.dst.v4(), r.timeout_s,
                                   ct->timeout_s, ct->mark, r.key.sport, r.key.dport,
                                   static_cast<uint16_t>(r.version >> 32), r.key.zone,
                                   static_cast<uint16_t>(ct->status), r.key.proto, r.proto_state, ct->tcp_state,
                                   WscaleOf(*ct), ct->flags_orig, ct->flags_repl);
  approx_bytes_ += sizeof(wire::ConntrackCreate4);
  return true;
}

void DeltaEncoder::AddCreate(uint32_t id, const SessionRecord& r, const NatInfo* nat, bool recreate,
                             const ExtensionList* ext) {
  const auto vlo = static_cast<uint32_t>(r.version);
  const auto vhi = static_cast<uint16_t>(r.version >> 32);
  if (ext && compact_conntrack_ && !recreate && r.key.is_v4() && AddCompactCreate(id, r, *ext)) {
    // Added in its compact form. (Only sessions with extensions get here,
    // and out of line: the conntrack state zeroed on the stack of every
    // create was a third of this call.)
  } else if (r.key.is_v4()) {
    AddExtensions(id, r, ext);
    (recreate ? recreates4_ : creates4_)
        .emplace_back(id, vlo, r.key.src.v4(), r.key.dst.v4(), r.timeout_s, r.key.sport, r.key.dport, vhi,
                      r.key.zone, r.flags, r.key.proto, r.proto_state);
    approx_bytes_ += sizeof(wire::Create4);
  } else {
    AddExtensions(id, r, ext);
    (recreate ? recreates6_ : creates6_)
        .emplace_back(ToWire(r.key.src), ToWire(r.key.dst), id, vlo, r.timeout_s, r.key.sport, r.key.dport,
                      vhi, r.key.zone, r.flags, r.key.proto, r.proto_state);
    approx_bytes_ += sizeof(wire::Create6);
  }
  if (nat) {
    if (FitsNat4(*nat, half_nat4_)) {
      const auto v4 = [](const IpAddr& a) { return a.is_v4() ? a.v4() : 0u; };  // (untranslated: 0.0.0.0)
      if (!nat->snat_ip.is_v4() || !nat->dnat_ip.is_v4()) nat4_untranslated_ = true;
      nat4_.emplace_back(id, v4(nat->snat_ip), v4(nat->dnat_ip), nat->snat_port, nat->dnat_port);
      approx_bytes_ += sizeof(wire::Nat4);
    } else {
      nat6_.emplace_back(ToWire(nat->snat_ip), ToWire(nat->dnat_ip), id, nat->snat_port, nat->dnat_port);
      approx_bytes_ += sizeof(wire::Nat6);
    }
  }
}

void DeltaEncoder::AddUpdate(uint32_t id, const SessionRecord& r, const ExtensionList* ext) {
  if (ext && compact_conntrack_) {
    if (std::optional<ConntrackState> ct = CompactConntrack(r, ext)) {
      conntrack_updates_.emplace_back(id, static_cast<uint32_t>(r.version), r.timeout_s, ct->timeout_s, ct->mark,
                                      static_cast<uint16_t>(r.version >> 32), static_cast<uint16_t>(ct->status),
                                      r.proto_state, ct->tcp_state, WscaleOf(*ct), ct->flags_orig, ct->flags_repl);
      approx_bytes_ += sizeof(wire::ConntrackUpdate);
      return;
    }
  }
  AddExtensions(id, r, ext);
  updates_.emplace_back(id, static_cast<uint32_t>(r.version), r.timeout_s,
                        static_cast<uint16_t>(r.version >> 32), r.flags, r.proto_state);
  approx_bytes_ += sizeof(wire::Update);
}

namespace {
template <typename T>
flatbuffers::Offset<flatbuffers::Vector<const T*>> MaybeStructs(flatbuffers::FlatBufferBuilder& fbb,
                                                                const std::vector<T>& v) {
  if (v.empty()) return 0;
  return fbb.CreateVectorOfStructs(v.data(), v.size());
}
}  // namespace

std::span<const uint8_t> DeltaEncoder::FinishBatch(const BatchHeader& h) {
  fbb_.Clear();
  auto deletes = MaybeStructs(fbb_, deletes_);
  auto c4 = MaybeStructs(fbb_, creates4_);
  auto r4 = MaybeStructs(fbb_, recreates4_);
  auto c6 = MaybeStructs(fbb_, creates6_);
  auto r6 = MaybeStructs(fbb_, recreates6_);
  auto up = MaybeStructs(fbb_, updates_);
  auto n4 = MaybeStructs(fbb_, nat4_);
  auto n6 = MaybeStructs(fbb_, nat6_);
  auto cc4 = MaybeStructs(fbb_, conntrack_creates4_);
  auto cup = MaybeStructs(fbb_, conntrack_updates_);
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<wire::Extension>>> ex = 0;
  if (!ext_.empty()) {
    ext_offsets_.clear();
    for (auto& [id, e] : ext_) {
      ext_offsets_.push_back(wire::CreateExtension(fbb_, id, e->type, e->version, fbb_.CreateVector(e->data.data(), e->data.size())));
    }
    ex = fbb_.CreateVector(ext_offsets_);
  }
  wire::DeltaBatchBuilder b(fbb_);
  b.add_from(&h.from);
  b.add_first_seq(h.first_seq);
  b.add_seq_count(h.seq_count);
  b.add_send_time_ns(h.send_time_ns);
  b.add_flags(static_cast<wire::BatchFlags>(h.flags));
  b.add_dest_chassis(h.dest_chassis);
  b.add_schema_major(kWireSchemaMajor);  // 1 costs nothing: the default is not sent
  // A Nat4 with an untranslated side (0.0.0.0) needs the reader told that
  // this is 1.5 or later; other frames cost nothing more for it.
  // So does a summary: its digest is comparable only with a mirror's of
  // the same kind (1.6).
  if (nat4_untranslated_ || (h.flags & static_cast<uint8_t>(wire::BatchFlags::Summary))) {
    b.add_schema_minor(kWireSchemaMinor);
  }
  if (h.bulk_sync_slots) b.add_bulk_sync_slots(h.bulk_sync_slots);
  if (blade_workers_ != 1) b.add_blade_workers(blade_workers_);
  if (h.owner_sessions) b.add_owner_sessions(h.owner_sessions);
  if (h.owner_digest) b.add_owner_digest(h.owner_digest);
  if (!deletes.IsNull()) b.add_deletes(deletes);
  if (!c4.IsNull()) b.add_creates4(c4);
  if (!r4.IsNull()) b.add_recreates4(r4);
  if (!c6.IsNull()) b.add_creates6(c6);
  if (!r6.IsNull()) b.add_recreates6(r6);
  if (!up.IsNull()) b.add_updates(up);
  if (!n4.IsNull()) b.add_nat4(n4);
  if (!n6.IsNull()) b.add_nat6(n6);
  if (!ex.IsNull()) b.add_extensions(ex);
  if (!cc4.IsNull()) b.add_conntrack_creates4(cc4);
  if (!cup.IsNull()) b.add_conntrack_updates(cup);
  auto batch = b.Finish();
  auto frame = wire::CreateFrame(fbb_, wire::Message::DeltaBatch, batch.Union());
  fbb_.Finish(frame, wire::FrameIdentifier());
  return {fbb_.GetBufferPointer(), fbb_.GetSize()};
}

Result<const wire::Frame*> VerifyFrame(std::span<const uint8_t> bytes, const FrameLimits& limits) {
  if (bytes.size() > limits.max_frame_bytes) {
    return DataLoss("frame of " + std::to_string(bytes.size()) + " bytes is over the limit of " +
                    std::to_string(limits.max_frame_bytes));
  }
  if (bytes.size() < 8 || !wire::FrameBufferHasIdentifier(bytes.data())) {
    return DataLoss("not a bladesync frame (bad size or identifier)");
  }
  // Every delta may carry extension tables (ALG state, kernel conntrack
  // state): the table budget follows the delta budget, the bytes bound the rest.
  const size_t max_tables = 64 + 4 * static_cast<size_t>(limits.max_deltas);
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), /*max_depth=*/16, max_tables);
  if (!wire::VerifyFrameBuffer(verifier)) return DataLoss("frame failed the FlatBuffers verifier");
  const wire::Frame* frame = wire::GetFrame(bytes.data());
  if (frame->msg_type() == wire::Message::NONE || frame->msg() == nullptr) {
    return DataLoss("frame carries no message");
  }
  if (const auto* b = frame->msg_as_DeltaBatch()) {
    if (!b->from()) return DataLoss("delta batch without its owner");
    auto len = [](const auto* v) -> size_t { return v ? v->size() : 0; };
    const size_t n = len(b->deletes()) + len(b->creates4()) + len(b->recreates4()) + len(b->creates6()) +
                     len(b->recreates6()) + len(b->updates()) + len(b->conntrack_creates4()) +
                     len(b->conntrack_updates());
    if (n > limits.max_deltas) return DataLoss("delta batch with " + std::to_string(n) + " deltas is over the limit");
    if (n > b->seq_count()) return DataLoss("delta batch holds more deltas than its sequence range");
  }
  return frame;
}

std::span<const uint8_t> BuildAck(flatbuffers::FlatBufferBuilder& fbb, const wire::Origin& from,
                                  uint8_t owner_chassis, uint32_t owner_epoch, uint64_t next_seq,
                                  uint64_t nack_from, uint64_t nack_to, uint8_t flags,
                                  uint64_t echo_send_time_ns, const std::vector<wire::Query>& queries) {
  fbb.Clear();
  auto q = queries.empty() ? 0 : fbb.CreateVectorOfStructs(queries.data(), queries.size());
  wire::AckBuilder b(fbb);
  b.add_from(&from);
  b.add_owner_chassis(owner_chassis);
  b.add_owner_epoch(owner_epoch);
  b.add_schema_major(kWireSchemaMajor);
  b.add_schema_minor(kWireSchemaMinor);
  b.add_next_seq(next_seq);
  b.add_nack_from(nack_from);
  b.add_nack_to(nack_to);
  b.add_flags(static_cast<wire::AckFlags>(flags));
  b.add_echo_send_time_ns(echo_send_time_ns);
  if (!q.IsNull()) b.add_queries(q);
  auto ack = b.Finish();
  auto frame = wire::CreateFrame(fbb, wire::Message::Ack, ack.Union());
  fbb.Finish(frame, wire::FrameIdentifier());
  return {fbb.GetBufferPointer(), fbb.GetSize()};
}

}  // namespace bladesync
