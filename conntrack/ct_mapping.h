// Between kernel conntrack entries and bladesync sessions.
//
// A kernel entry becomes a session of application linux-conntrack: its key
// and zone, a protocol state the pickup policy and the CLI understand, NAT as
// the translated addresses, and the rest (status, mark, timeout, TCP window
// scale and flags, the kernel's own TCP state) in a ConntrackState extension,
// so the peer can install it back as it was. Sessions from other sources
// (no extension) map to an entry with conservative defaults.
//
//   MappedSession m = SessionFromKernel(entry, /*min_timeout_s=*/120);
//   std::optional<KernelEntry> e = KernelFromSession(rec, nat, exts);
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/session.h"
#include "conntrack/kernel_entry.h"

namespace bladesync {

struct MappedSession {
  SessionFacts facts;
  SessionState state;
  std::optional<NatInfo> nat;
  ConntrackState ct;
};

// min_timeout_s: the owner keeps a session at least this long without an
// event (the kernel refreshes its timers silently; resyncs refresh ours).
MappedSession SessionFromKernel(const KernelEntry& e, uint32_t min_timeout_s);

// Helpers and expectations come from the network: a helper the kernel does
// not have for this protocol, an expectation of a master without a helper,
// one whose addresses are not the master's own (either tuple), whose
// protocol no helper expects, with a class its helper lacks or a NAT
// function without a NAT address, or past kMaxExpectations is left out and
// counted in *implausible; what goes in is never permanent (but SIP's) nor
// longer than kMaxExpectationTimeoutS (a peer cannot make this kernel let
// arbitrary connections in as RELATED, or for ever).
inline constexpr size_t kMaxExpectations = 8;
inline constexpr uint32_t kMaxExpectationTimeoutS = 300;  // FTP's and IRC's; SIP's is 180
inline constexpr uint8_t kExpectPermanent = 1, kExpectInactive = 2;  // NF_CT_EXPECT_*
inline constexpr uint8_t kSipExpectClassMax = 3;  // SIP_EXPECT_MAX: signalling, audio, video, image
// A helper the kernel has, for a master of this protocol and family (a name
// from the peer otherwise makes the kernel look for a module of that name).
bool KnownHelper(const std::string& name, uint8_t master_proto, bool v6);
std::optional<KernelEntry> KernelFromSession(const SessionRecord& r, const NatInfo* nat,
                                             const ExtensionList* extensions,
                                             size_t* implausible = nullptr);
bool PlausibleExpectation(const KernelEntry& master, const CtExpectation& x);

uint8_t SessionTcpState(uint8_t kernel_state);
uint8_t KernelTcpStateFor(uint8_t session_state);
// The reply ICMP type for a request type (echo 8 -> 0, ...), or the type itself.
uint8_t IcmpReplyType(uint8_t proto, uint8_t type);

// Equal for sync purposes: the same state apart from the ticking timeout and
// the status bits only the kernel keeps.
bool SameSyncedState(const ConntrackState& a, const ConntrackState& b);
bool SameSyncedExtras(const ConntrackExtras& a, const ConntrackExtras& b);

}  // namespace bladesync
