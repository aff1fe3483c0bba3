// Applications and their per-session extensions: one place per protocol.
//
// Each application a session can belong to (SIP, GTP, SCCP, ...) declares
// its sync policy in the registry below: whether its sessions fail over,
// whether only in active-passive mode, and which typed, versioned extension
// (its ALG / inspection state) travels with the session. Supporting a new
// protocol means adding one AppKind and one AppSpec row, plus an extension
// codec if it has state; the pickup policy, the wire, the mirror and
// failover handle it from there.
//
//   const AppSpec& s = AppSpecFor(AppKind::kGtpC);   // synced, with GtpTunnel
//   Extension e = EncodeGtpTunnel(GtpTunnel{...});
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "blades/session.h"

namespace bladesync {

enum class SyncPolicy : uint8_t {
  kSynced,          // the session and its extension state are synced
  kSessionOnly,     // the session is synced, the extension state is not
  kNotFailedOver,   // the session is never synced (restarts after failover)
};

enum class ExtensionType : uint16_t { kNone = 0, kSipCall = 1, kGtpTunnel = 2, kConntrack = 3 };

// Why a session of this application is not synced (pickup_policy.h SkipReason).
enum class AppSkip : uint8_t { kNone, kNotSynced, kActivePassiveOnly, kUserPlane };

struct AppSpec {
  AppKind app;
  const char* name;
  SyncPolicy policy;
  bool active_passive_only;   // FGCP syncs it only in active-passive clusters
  AppSkip skip;               // reason counted when it is not synced
  ExtensionType extension;    // the state it carries, if any
  uint16_t extension_version; // the newest version this build writes and reads
  uint16_t max_bytes;         // a frame carrying more is malformed
};

const AppSpec& AppSpecFor(AppKind app);
const AppSpec* AppSpecForExtension(uint16_t type);

// An extension's bytes, held inline: every kind is at most
// kMaxExtensionBytes (AppSpec::max_bytes; a frame carrying more is
// malformed), so an extension costs a session no allocation of its own. A
// mirror in conntrack mode holds one per session; as a std::vector it was an
// allocation per session on every apply.
inline constexpr size_t kMaxExtensionBytes = 24;
class ExtensionBytes {
 public:
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  const uint8_t* data() const { return b_.data(); }
  const uint8_t* begin() const { return b_.data(); }
  const uint8_t* end() const { return b_.data() + n_; }
  uint8_t operator[](size_t i) const { return b_[i]; }
  // False, keeping nothing more, past kMaxExtensionBytes.
  bool push_back(uint8_t x) {
    if (n_ >= kMaxExtensionBytes) return false;
    b_[n_++] = x;
    return true;
  }
  template <typename It>
  bool assign(It first, It last) {
    n_ = 0;
    for (; first != last; ++first) {
      if (!push_back(*first)) return false;
    }
    return true;
  }
  bool operator==(const ExtensionBytes& o) const { return n_ == o.n_ && std::equal(begin(), end(), o.begin()); }

 private:
  std::array<uint8_t, kMaxExtensionBytes> b_{};
  uint8_t n_ = 0;
};

struct Extension {
  uint16_t type = 0;
  uint16_t version = 0;
  ExtensionBytes data;
  bool operator==(const Extension&) const = default;
};

// SIP call state (FGCP: active-passive only).
struct SipCall {
  enum State : uint8_t { kSetup = 0, kEstablished = 1, kTerminating = 2 };
  uint8_t state = kSetup;
  uint32_t call_id_hash = 0;
  uint16_t rtp_port = 0;   // the media flow that rides on the call
};

// GTP tunnel state, kept after failover so GTP-U flows on the tunnel go on.
struct GtpTunnel {
  uint32_t teid_c = 0;
  uint32_t teid_u_up = 0;
  uint32_t teid_u_down = 0;
  uint8_t policy_srcintf = 0;  // the direction a firewall policy accepts
};

// What a Linux conntrack entry has beyond the session key and NAT: enough to
// install it into another kernel as it was (conntrack/ct_mapping.h).
struct ConntrackState {
  uint32_t status = 0;       // IPS_* bits
  uint32_t mark = 0;
  uint32_t timeout_s = 0;    // what was left when the kernel last reported it
  uint8_t tcp_state = 0;     // the kernel's TCP_CONNTRACK_* value
  uint8_t wscale_orig = 0;
  uint8_t wscale_repl = 0;
  uint8_t flags_orig = 0;    // IP_CT_TCP_FLAG_* per direction
  uint8_t flags_repl = 0;
  bool operator==(const ConntrackState&) const = default;
};

Extension EncodeSipCall(const SipCall& c);
std::optional<SipCall> DecodeSipCall(const Extension& e);
Extension EncodeGtpTunnel(const GtpTunnel& t);
std::optional<GtpTunnel> DecodeGtpTunnel(const Extension& e);
Extension EncodeConntrack(const ConntrackState& c);
std::optional<ConntrackState> DecodeConntrack(const Extension& e);

// The extension is well formed for its spec (known type, version, size).
bool ExtensionValid(const Extension& e);

}  // namespace bladesync
