#include "blades/packet_path.h"

#include "blades/delta_codec.h"
#include "blades/extensions.h"
#include "core/log.h"

namespace bladesync {

namespace {
// A source NAT the policy would apply: deterministic from the key, so both
// ends of a test can recompute it.
NatInfo SourceNat(const SessionKey& k) {
  NatInfo n;
  n.snat_ip = k.src.is_v4() ? IpAddr::V4(0xcb007100 | (k.src.v4() & 0xff)) : IpAddr::V6(0x20010db8ffff0000ULL, k.src.lo());
  n.snat_port = static_cast<uint16_t>(1024 + (k.sport ^ 0x5a5a) % 60000);
  n.dnat_ip = k.dst;
  n.dnat_port = k.dport;
  return n;
}
uint32_t Hash32(const SessionKey& k, uint32_t salt) {
  const uint64_t h = k.FlowHash() * (0x9e3779b97f4a7c15ULL + salt);
  return static_cast<uint32_t>(h >> 32) | 1u;
}
}  // namespace

PacketResult PacketPath::Process(const PacketInfo& p, bool forwarded, bool may_return) {
  const PacketResult r = Handle(p, forwarded, may_return);
  if (egress_ && (r == PacketResult::kCreated || r == PacketResult::kStateChanged || r == PacketResult::kRefreshed ||
                  r == PacketResult::kHandledWithCopy)) {
    (*egress_)(p);
  }
  return r;
}

PacketResult PacketPath::Handle(const PacketInfo& p, bool forwarded, bool may_return) {
  blade_.counters().packets.Add();
  bool reply = false;
  std::optional<uint32_t> id = blade_.owned().Find(p.key);
  if (!id) {
    id = blade_.owned().Find(p.key.Reversed());
    reply = id.has_value();
  }
  const uint8_t proto = p.key.proto;
  if (id && proto == kProtoTcp && (p.tcp_flags & kTcpSyn) && !(p.tcp_flags & kTcpAck) && !reply) {
    const uint8_t st = blade_.owned().rec(*id).proto_state;
    if (st == kTcpTimeWait || st == kTcpClose) {  // port reuse: a new connection
      blade_.DeleteSession(*id, kDeleteReplaced);
      id.reset();
    }
  }
  if (!id && forwarded) {
    // A peer's blade hands over packets of sessions we own; it can neither
    // create one here nor bounce it back (a forged or stale hand-over).
    blade_.counters().packets_dropped.Add();
    return PacketResult::kDropped;
  }
  if (!id && blade_.config().pickup.mode == HaMode::kActiveActive) {
    if (std::optional<BladeAgent::StandbyHit> hit = blade_.LookupStandby(p.key)) {
      const SessionRecord& r = *hit->rec;
      uint8_t next = r.proto_state;
      if (proto == kProtoTcp) {
        next = NextTcpState(r.proto_state, p.tcp_flags, hit->reply);
      } else if (hit->reply) {
        next = kReplied;
      }
      const bool inspected = r.flags & (kFlagFlowInspected | kFlagProxyInspected);
      if (!inspected && next == r.proto_state) {
        blade_.counters().packets_asymmetric_local.Add();
        return PacketResult::kHandledWithCopy;
      }
      if (p.key.is_v4()) {
        const wire::Packet4 w = ToWire4(p);
        blade_.ForwardToOwner(hit->owner, &w, nullptr);
      } else {
        const wire::Packet6 w = ToWire6(p);
        blade_.ForwardToOwner(hit->owner, nullptr, &w);
      }
      return PacketResult::kForwarded;
    }
  }
  if (!id) {
    if (proto == kProtoTcp && !((p.tcp_flags & kTcpSyn) && !(p.tcp_flags & kTcpAck))) {
      if (may_return) {
        blade_.ReturnToManager(p);
        return PacketResult::kReturned;
      }
      Counter& dropped = blade_.counters().packets_dropped;  // strict: no session without a SYN
      dropped.Add();
      const uint64_t n = dropped.get();
      if (LogOccurrence(n)) {
        BS_LOG(kInfo, "packet") << "slot " << int(blade_.config().slot) << ": dropped TCP packet without a session: "
                                << p.key.ToString() << " flags 0x" << std::hex << int(p.tcp_flags) << std::dec << " ["
                                << n << " so far]";
      }
      return PacketResult::kDropped;
    }
    const AppKind app = AppOf(p.attrs);
    ExtensionList ext;
    if (app == AppKind::kGtpU) {
      // GTP-U needs its tunnel, and a packet in the direction a policy accepts.
      SessionKey control = p.key;
      control.sport = control.dport = kGtpControlPort;
      std::optional<uint32_t> tunnel_id = blade_.Lookup(control);
      const ExtensionList* te = tunnel_id ? blade_.owned().extensions(*tunnel_id) : nullptr;
      std::optional<GtpTunnel> tunnel;
      if (te) {
        for (const Extension& e : *te) {
          if (!tunnel) tunnel = DecodeGtpTunnel(e);
        }
      }
      if (!tunnel) {
        blade_.counters().gtp_no_tunnel.Add();
        blade_.counters().packets_dropped.Add();
        return PacketResult::kDropped;
      }
      if (tunnel->policy_srcintf != p.srcintf) {
        blade_.counters().gtp_wrong_direction.Add();
        blade_.counters().packets_dropped.Add();
        return PacketResult::kDropped;
      }
    } else if (app == AppKind::kGtpC) {
      GtpTunnel t;
      t.teid_c = Hash32(p.key, 1);
      t.teid_u_up = Hash32(p.key, 2);
      t.teid_u_down = Hash32(p.key, 3);
      t.policy_srcintf = p.srcintf;
      ext.push_back(EncodeGtpTunnel(t));
    } else if (app == AppKind::kSip) {
      SipCall c;
      c.call_id_hash = Hash32(p.key, 4);
      ext.push_back(EncodeSipCall(c));
    }
    SessionFacts facts{p.key, p.attrs, p.srcintf, p.dstintf};
    const uint8_t st = proto == kProtoTcp ? uint8_t{kTcpSynSent} : uint8_t{kUnreplied};
    NatInfo nat;
    const bool has_nat = p.attrs & kFlagNat;
    if (has_nat) nat = SourceNat(p.key);
    const uint32_t id_new = blade_.CreateSession(facts, SessionState{st, p.attrs, blade_.TimeoutFor(proto, st)},
                                                 has_nat ? &nat : nullptr, ext.empty() ? nullptr : &ext);
    if (id_new == kNoSession) {  // max-sessions: the table is full
      blade_.counters().packets_dropped.Add();
      return PacketResult::kDropped;
    }
    const PickupOptions& pickup = blade_.config().pickup;
    if (pickup.defer && pickup.mode == HaMode::kActiveActive) {
      blade_.DeferUntilSynced(id_new, milliseconds(pickup.defer_timeout_ms), [egress = egress_, p](bool) {
        if (egress) (*egress)(p);
      });
      return PacketResult::kDeferred;
    }
    return PacketResult::kCreated;
  }
  const SessionRecord& r = blade_.owned().rec(*id);
  uint8_t next = r.proto_state;
  if (proto == kProtoTcp) {
    next = NextTcpState(r.proto_state, p.tcp_flags, reply);
  } else if (reply) {
    next = kReplied;
  }
  if (next != r.proto_state) {
    const uint32_t sid = *id;
    blade_.ChangeState(sid, SessionState{next, r.flags, blade_.TimeoutFor(proto, next)});
    // The answer completes a SIP call's setup.
    if (AppOf(blade_.owned().rec(sid).flags) == AppKind::kSip && next == kReplied) {
      if (const ExtensionList* ex = blade_.owned().extensions(sid)) {
        for (const Extension& e : *ex) {
          if (std::optional<SipCall> call = DecodeSipCall(e)) {
            call->state = SipCall::kEstablished;
            call->rtp_port = static_cast<uint16_t>(16384 + (call->call_id_hash % 16384));
            blade_.SetExtension(sid, EncodeSipCall(*call));
            break;
          }
        }
      }
    }
    return PacketResult::kStateChanged;
  }
  blade_.Refresh(*id);
  return PacketResult::kRefreshed;
}

// A burst, as a DPDK application handles one: the key index slot of the
// packet a few ahead loads while this one is handled (on a large table every
// probe is otherwise a cache miss).
void PacketPath::ProcessBatch(const wire::PacketBatch& batch, bool forwarded) {
  constexpr uint32_t kAhead = 4;
  const bool may_return = batch.may_return() && !forwarded;
  if (const auto* v4 = batch.packets4()) {
    for (uint32_t i = 0; i < v4->size(); ++i) {
      if (i + kAhead < v4->size()) blade_.owned().Prefetch(FromWire(*v4->Get(i + kAhead)).key);
      Process(FromWire(*v4->Get(i)), forwarded, may_return);
    }
  }
  if (const auto* v6 = batch.packets6()) {
    for (const wire::Packet6* w : *v6) Process(FromWire(*w), forwarded, may_return);
  }
  blade_.FlushReturned();
}

}  // namespace bladesync
