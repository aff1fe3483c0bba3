// Session model: the key (5-tuple + zone), protocol state, flags and the
// compact record the session store keeps per session.
//
//   SessionKey k = SessionKey::V4(0x0a000001, 0xc6336401, 40000, 443, kProtoTcp);
//   SessionKey reply = k.Reversed();
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "core/hash.h"

namespace bladesync {

inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoGre = 47;
inline constexpr uint8_t kProtoIcmp6 = 58;
inline constexpr uint8_t kProtoSctp = 132;

// Protocol states, numbered as FortiOS shows proto_state for TCP.
enum TcpState : uint8_t {
  kTcpNone = 0,
  kTcpEstablished = 1,
  kTcpSynSent = 2,
  kTcpSynRecv = 3,
  kTcpFinWait = 4,
  kTcpTimeWait = 5,
  kTcpClose = 6,
  kTcpCloseWait = 7,
  kTcpLastAck = 8,
  kTcpListen = 9,
};
// UDP/ICMP: 0 = one direction seen, 1 = reply seen.
enum ConnectionlessState : uint8_t { kUnreplied = 0, kReplied = 1 };

// CreateSession's answer when max-sessions is reached.
inline constexpr uint32_t kNoSession = 0xffffffffu;

// Why a session went (DELETE deltas carry it).
enum DeleteReason : uint8_t { kDeleteClosed = 0, kDeleteExpired = 1, kDeleteFlushed = 2, kDeleteReplaced = 3 };

// Session flag bits (16 bits on the wire).
enum SessionFlags : uint16_t {
  kFlagFlowInspected = 1u << 0,     // flow-based profile: synced, not inspected after failover
  kFlagProxyInspected = 1u << 1,    // proxy-based profile: never synced
  kFlagNat = 1u << 2,               // has a NAT translation
  kFlagExpectation = 1u << 3,       // ALG expectation / pinhole session
  kFlagMulticast = 1u << 4,
  kFlagBroadcast = 1u << 5,
  kFlagLocal = 1u << 6,             // terminated by the cluster (management): never synced
  kFlagNoInspectAfterFailover = 1u << 7,
  kFlagAdopted = 1u << 8,           // taken over from a lost owner
  // bits 12..15: application kind (AppKind)
};
inline constexpr int kAppShift = 12;
enum class AppKind : uint8_t {
  kNone = 0, kSip = 1, kSipRtp = 2, kGtpC = 3, kGtpU = 4, kSccp = 5, kSimple = 6,
  kSslOffload = 7, kHttpMux = 8,
  kLinuxConntrack = 9,  // learned from a Linux kernel's conntrack table (conntrack/)
};
inline AppKind AppOf(uint16_t flags) { return static_cast<AppKind>(flags >> kAppShift); }
inline uint16_t WithApp(uint16_t flags, AppKind app) {
  return static_cast<uint16_t>((flags & 0x0fff) | (static_cast<uint16_t>(app) << kAppShift));
}

// An address as 16 bytes; IPv4 is stored v4-mapped (::ffff:a.b.c.d).
struct IpAddr {
  std::array<uint8_t, 16> b{};

  static IpAddr V4(uint32_t host_order);
  static IpAddr V6(uint64_t hi, uint64_t lo);
  // "10.0.0.1" or "2001:db8::1"; nothing for anything else.
  static std::optional<IpAddr> Parse(const std::string& text);
  // In ::ffff:0:0/96, read as two words (memcmp of 12 bytes was a libc call).
  bool is_v4() const {
    static constexpr uint8_t kTail[4] = {0, 0, 0xff, 0xff};
    uint64_t head, tail, want;
    std::memcpy(&head, b.data(), 8);
    tail = want = 0;
    std::memcpy(&tail, b.data() + 8, 4);
    std::memcpy(&want, kTail, 4);
    return head == 0 && tail == want;
  }
  uint32_t v4() const;  // host order; valid when is_v4()
  uint64_t hi() const;
  uint64_t lo() const;
  // 127.0.0.0/8 or ::1.
  bool is_loopback() const { return is_v4() ? (v4() >> 24) == 127 : (hi() == 0 && lo() == 1); }
  std::string ToString() const;
  bool operator==(const IpAddr& o) const {
    uint64_t x[2], y[2];  // two words, not a call to memcmp: keys compare on every index probe
    std::memcpy(x, b.data(), 16);
    std::memcpy(y, o.b.data(), 16);
    return ((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0;
  }
  bool operator<(const IpAddr& o) const { return b < o.b; }
};

// Key of a session in its original (initiator -> responder) direction.
struct SessionKey {
  IpAddr src;
  IpAddr dst;
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint16_t zone = 0;
  uint8_t proto = 0;
  uint8_t pad = 0;

  static SessionKey V4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t proto,
                       uint16_t zone = 0);
  bool is_v4() const { return src.is_v4() && dst.is_v4(); }
  SessionKey Reversed() const;
  uint64_t Hash() const;
  // The same for both directions of a flow (a key and its reverse).
  uint64_t FlowHash() const { return Hash() ^ Reversed().Hash(); }
  std::string ToString() const;
  bool operator==(const SessionKey& o) const {
    return src == o.src && dst == o.dst && sport == o.sport && dport == o.dport && zone == o.zone &&
           proto == o.proto;
  }
};
static_assert(sizeof(SessionKey) == 40);

// wyhash's shape: the addresses, read as machine words, are multiplied in
// parallel, then folded with the ports, zone and protocol. A key's hash is
// taken several times per synced change (index, digest, prefetch) on both
// ends. It is the same in every process of one build, which is all the
// index, the digests and the mirrors need.
inline uint64_t SessionKey::Hash() const {
  uint64_t w[4];
  std::memcpy(&w[0], src.b.data(), 16);
  std::memcpy(&w[2], dst.b.data(), 16);
  const uint64_t rest = uint64_t{sport} | uint64_t{dport} << 16 | uint64_t{zone} << 32 | uint64_t{proto} << 48;
  const uint64_t a = Mum(w[0] ^ 0xa0761d6478bd642fULL, w[1] ^ 0xe7037ed1a0b428dbULL);
  const uint64_t b = Mum(w[2] ^ 0x8ebc6af09c88c6e3ULL, w[3] ^ 0x589965cc75374cc3ULL);
  return Mum(a ^ rest ^ 0x1d8e4e27c47d124fULL, b ^ 0xa0761d6478bd642fULL);
}


struct NatInfo {
  IpAddr snat_ip;
  IpAddr dnat_ip;
  uint16_t snat_port = 0;
  uint16_t dnat_port = 0;
  bool operator==(const NatInfo& o) const = default;
};

// What a session is, apart from identity and bookkeeping.
struct SessionState {
  uint8_t proto_state = 0;
  uint16_t flags = 0;
  uint32_t timeout_s = 0;
  bool operator==(const SessionState& o) const = default;
};

// Versions are 48-bit Lamport counters: every change at an owner takes
// max(own counter, any version seen) + 1, so versions compare across owners.
inline constexpr uint64_t kVersionMask = (uint64_t{1} << 48) - 1;

// One slot of a session store (64 bytes).
struct SessionRecord {
  SessionKey key;
  uint64_t version = 0;      // 48 bits used
  uint32_t timeout_s = 0;
  uint32_t expires_ds = 0;   // idle expiry, deciseconds since the store's start
  uint32_t born_ds = 0;      // creation time, for session-pickup-delay
  uint16_t flags = 0;
  uint8_t proto_state = 0;
  uint8_t bits = 0;          // RecordBits

  SessionState state() const { return SessionState{proto_state, flags, timeout_s}; }
  void set_state(const SessionState& s) {
    proto_state = s.proto_state;
    flags = s.flags;
    timeout_s = s.timeout_s;
  }
};
static_assert(sizeof(SessionRecord) == 64);

enum RecordBits : uint8_t {
  kLive = 1u << 0,           // the session exists (else a tombstone or a free slot)
  kSynced = 1u << 1,         // owner: mirrors have been told of it
  kDirty = 1u << 2,          // owner: a change waits in the dirty list
  kHasNat = 1u << 3,         // a NatInfo is in the side table
  kExpiredLocally = 1u << 4, // mirror: our timer expired it; a QUERY is out
  kOwnerDeleted = 1u << 5,   // mirror: tombstone from the owner's DELETE
  kUsed = 1u << 6,           // the slot has ever held a session
  kEligible = 1u << 7,       // owner: the pickup policy lets it sync (maybe after the delay)
};

const char* ProtoName(uint8_t proto);
const char* TcpStateName(uint8_t state);

}  // namespace bladesync
