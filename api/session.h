// The embedding API's session types: what a data plane reports and reads.
//
//   SessionKey     the 5-tuple and zone, original direction (IPv4 is stored
//                  v4-mapped: SessionKey::V4 builds one)
//   SessionFacts   what the pickup policy decides on: key, flags (SessionFlags:
//                  inspection, NAT, local, ...) and the interfaces
//   SessionState   the synced state: protocol state (TcpState numbers as
//                  FortiOS shows proto_state; 0/1 unreplied/replied for
//                  connectionless), flags and the idle timeout in seconds
//   NatInfo        source and destination translation
//   Extension      typed application state that travels with a session
//                  (SipCall, GtpTunnel, LinuxConntrack, or a vendor's own type)
//   SessionRecord  the record as bladesync keeps it (read-only to embedders)
//   DeleteReason   why a session went
//
// They are bladesync's own types, named here so that an embedder includes
// one header; everything else under blades/ is internal. Their constants
// (kProtoTcp, kTcpEstablished, kFlagNat, kFlagAdopted, kDeleteClosed, ...)
// are in namespace bladesync and come with this header. A SessionView's
// record is read-only; only its key, state and flags are for embedders.
#pragma once

#include <cstdint>
#include <vector>

#include "blades/extensions.h"
#include "blades/pickup_policy.h"
#include "blades/session.h"

namespace bladesync::api {

using bladesync::AddrPrefix;
using bladesync::AppKind;
using bladesync::DeleteReason;
using bladesync::Extension;
using bladesync::ExtensionList;
using bladesync::IpAddr;
using bladesync::NatInfo;
using bladesync::SessionFacts;
using bladesync::SessionKey;
using bladesync::SessionRecord;
using bladesync::SessionState;

// A session's number on its blade: stable while the session lives.
using SessionId = uint32_t;
// Create's answer when the blade's max-sessions is reached.
inline constexpr SessionId kNoSession = bladesync::kNoSession;

// A session as bladesync holds it, owned or mirrored; valid until the next
// change on the blade's thread.
struct SessionView {
  const SessionRecord* record = nullptr;
  const NatInfo* nat = nullptr;                     // no NAT: nullptr
  const ExtensionList* extensions = nullptr;        // none: nullptr
  const SessionKey& key() const { return record->key; }
  SessionState state() const { return record->state(); }
};

}  // namespace bladesync::api
