// PickupPolicy: which sessions are synced to mirrors, FortiGate-style.
//
// Mirrors the FortiOS options of `config system ha`: session-pickup,
// session-pickup-connectionless, session-pickup-delay, session-pickup-
// expectation, session-pickup-nat, multicast-ttl, and session-sync-filter.
// Decide() is a pure function of the options and the session, so every row
// of the protocol matrix is a table test.
//
//   PickupOptions opt; opt.session_pickup = true;
//   PickupDecision d = Decide(opt, facts);
//   if (d.sync) ...; else counters.skipped[d.reason]++;
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "blades/session.h"

namespace bladesync {

enum class HaMode : uint8_t { kActivePassive, kActiveActive };

struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 65535;
  bool Contains(uint16_t p) const { return p >= lo && p <= hi; }
};

struct AddrPrefix {
  IpAddr addr;
  int prefix_len = 0;  // over the 128-bit (v4-mapped) form
  bool Contains(const IpAddr& a) const;
  // "10.0.1.1/24", "2001:db8::1/64": the length as written, not over 128 bits.
  int length() const { return addr.is_v4() ? prefix_len - 96 : prefix_len; }
  std::string ToString() const { return addr.ToString() + "/" + std::to_string(length()); }
};

struct CustomService {
  PortRange src;
  PortRange dst;
};

// `config session-sync-filter`: a session is synced only when it matches
// every field that is set.
struct SyncFilter {
  std::vector<uint8_t> srcintf;  // interface ids; empty = any
  std::vector<uint8_t> dstintf;
  std::vector<AddrPrefix> srcaddr;   // IPv4 prefixes
  std::vector<AddrPrefix> dstaddr;
  std::vector<AddrPrefix> srcaddr6;  // IPv6 prefixes
  std::vector<AddrPrefix> dstaddr6;
  std::vector<CustomService> custom_service;
  bool enabled() const {
    return !srcintf.empty() || !dstintf.empty() || !srcaddr.empty() || !dstaddr.empty() ||
           !srcaddr6.empty() || !dstaddr6.empty() || !custom_service.empty();
  }
};

struct PickupOptions {
  HaMode mode = HaMode::kActivePassive;
  bool session_pickup = false;               // FortiOS default: disable
  bool connectionless = false;               // session-pickup-connectionless
  bool delay = false;                        // session-pickup-delay
  uint32_t delay_s = 30;                     // session-pickup-delay-time (bladesync extension)
  bool expectation = false;                  // session-pickup-expectation
  bool nat = false;                          // session-pickup-nat
  uint32_t multicast_ttl = 0;                // multicast-ttl (5-3600 s): set = multicast pickup on
  bool update_all_session_timer = false;     // update-all-session-timer
  // session-pickup-defer (pfsync's defer, active-active): a new session's
  // first packet waits until every live mirror acknowledged its create, at
  // most session-pickup-defer-timeout ms, so a reply that comes back
  // through another chassis finds the session there.
  bool defer = false;
  uint32_t defer_timeout_ms = 20;
  SyncFilter filter;                         // session-sync-filter
};

enum class SkipReason : uint8_t {
  kNone = 0,
  kPickupDisabled,
  kConnectionless,
  kMulticast,
  kProxyInspected,
  kLocal,
  kExpectation,
  kNat,
  kFilter,
  kAppNotSynced,      // SIMPLE, SCCP, SSL offload, HTTP multiplexing
  kActivePassiveOnly, // SIP calls and their RTP: synced in active-passive only
  kGtpUserPlane,      // GTP-U rides on the synced tunnel state
  kCount,
};
const char* SkipReasonName(SkipReason r);

// What the packet path knows of a session when it is created.
struct SessionFacts {
  SessionKey key;
  uint16_t flags = 0;
  uint8_t srcintf = 0;
  uint8_t dstintf = 0;
};

struct PickupDecision {
  bool sync = false;
  SkipReason reason = SkipReason::kNone;
};

PickupDecision Decide(const PickupOptions& opt, const SessionFacts& s);

// session-pickup-delay: TCP only; connectionless and SCTP are not delayed.
inline bool DelayApplies(const PickupOptions& opt, uint8_t proto) {
  return opt.delay && proto == kProtoTcp;
}

bool IsMulticast(const IpAddr& a);
bool IsBroadcast(const IpAddr& a);
bool IsConnectionless(uint8_t proto);

}  // namespace bladesync
