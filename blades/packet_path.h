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
// A blade that was down, or whose slot's flows went elsewhere meanwhile, may
// see packets of sessions made on another slot: with the manager's leave
// (PacketBatch.may_return) it hands them back instead of dropping them.
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
#include <functional>
#include <memory>

#include "blades/blade_agent.h"
#include "blades/packet.h"
#include "blades/session.h"

namespace bladesync {

enum class PacketResult : uint8_t {
  kCreated, kStateChanged, kRefreshed, kDropped, kHandledWithCopy, kForwarded, kReturned,
  kDeferred,  // a new session's first packet, held until its mirrors have the session (session-pickup-defer)
};

class PacketPath {
 public:
  explicit PacketPath(BladeAgent& blade) : blade_(blade) {}
  // forwarded: a peer chassis's blade handed it over (active-active).
  // may_return: a packet with no session here that cannot open one goes back
  // to the manager for the next slot of its flow (a slot was down; see
  // Distributor) rather than being dropped.
  PacketResult Process(const PacketInfo& p, bool forwarded = false, bool may_return = false);
  // Every packet of a PacketBatch from the distributor (or forwarded).
  void ProcessBatch(const wire::PacketBatch& batch, bool forwarded = false);
  // Where a packet goes once this blade let it through: at once, or for a
  // deferred one when its session's mirrors have it (or the bound passed).
  // A data plane puts it on the wire; the simulator's tests send the reply.
  using Egress = std::function<void(const PacketInfo&)>;
  void set_egress(Egress e) { egress_ = std::make_shared<Egress>(std::move(e)); }

 private:
  PacketResult Handle(const PacketInfo& p, bool forwarded, bool may_return);
  BladeAgent& blade_;
  std::shared_ptr<Egress> egress_;  // shared with the releases still waiting
};

}  // namespace bladesync
