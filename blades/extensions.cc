#include "blades/extensions.h"

#include <array>

namespace bladesync {
namespace {

constexpr std::array<AppSpec, 10> kApps = {{
    {AppKind::kNone, "none", SyncPolicy::kSynced, false, AppSkip::kNone, ExtensionType::kNone, 0, 0},
    {AppKind::kSip, "sip", SyncPolicy::kSynced, true, AppSkip::kActivePassiveOnly, ExtensionType::kSipCall, 1, 16},
    {AppKind::kSipRtp, "sip-rtp", SyncPolicy::kSynced, true, AppSkip::kActivePassiveOnly, ExtensionType::kNone, 0, 0},
    {AppKind::kGtpC, "gtp-c", SyncPolicy::kSynced, false, AppSkip::kNone, ExtensionType::kGtpTunnel, 1, 16},
    {AppKind::kGtpU, "gtp-u", SyncPolicy::kNotFailedOver, false, AppSkip::kUserPlane, ExtensionType::kNone, 0, 0},
    {AppKind::kSccp, "sccp", SyncPolicy::kNotFailedOver, false, AppSkip::kNotSynced, ExtensionType::kNone, 0, 0},
    {AppKind::kSimple, "simple", SyncPolicy::kNotFailedOver, false, AppSkip::kNotSynced, ExtensionType::kNone, 0, 0},
    {AppKind::kSslOffload, "ssl-offload", SyncPolicy::kNotFailedOver, false, AppSkip::kNotSynced, ExtensionType::kNone, 0, 0},
    {AppKind::kHttpMux, "http-multiplex", SyncPolicy::kNotFailedOver, false, AppSkip::kNotSynced, ExtensionType::kNone, 0, 0},
    {AppKind::kLinuxConntrack, "linux-conntrack", SyncPolicy::kSynced, false, AppSkip::kNone, ExtensionType::kConntrack, 1, 17},
}};

void Put32(ExtensionBytes& v, uint32_t x) {
  for (int i = 0; i < 4; ++i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
}
uint32_t Get32(const ExtensionBytes& v, size_t at) {
  uint32_t x = 0;
  for (int i = 0; i < 4; ++i) x |= uint32_t{v[at + i]} << (8 * i);
  return x;
}

// The decoders read version 1 of their type at its exact size, nothing else.
bool IsV1(const Extension& e, ExtensionType type, size_t size) {
  return e.type == static_cast<uint16_t>(type) && e.version == 1 && e.data.size() == size;
}

}  // namespace

const AppSpec& AppSpecFor(AppKind app) {
  for (const AppSpec& s : kApps)
    if (s.app == app) return s;
  return kApps[0];
}

const AppSpec* AppSpecForExtension(uint16_t type) {
  if (type == 0) return nullptr;
  for (const AppSpec& s : kApps)
    if (static_cast<uint16_t>(s.extension) == type) return &s;
  return nullptr;
}

bool ExtensionValid(const Extension& e) {
  const AppSpec* s = AppSpecForExtension(e.type);
  return s && e.version >= 1 && e.version <= s->extension_version && e.data.size() <= s->max_bytes;
}

Extension EncodeSipCall(const SipCall& c) {
  Extension e{static_cast<uint16_t>(ExtensionType::kSipCall), 1, {}};
  e.data.push_back(c.state);
  Put32(e.data, c.call_id_hash);
  e.data.push_back(static_cast<uint8_t>(c.rtp_port));
  e.data.push_back(static_cast<uint8_t>(c.rtp_port >> 8));
  return e;
}

std::optional<SipCall> DecodeSipCall(const Extension& e) {
  if (!IsV1(e, ExtensionType::kSipCall, 7)) return std::nullopt;
  SipCall c;
  c.state = e.data[0];
  c.call_id_hash = Get32(e.data, 1);
  c.rtp_port = static_cast<uint16_t>(e.data[5] | (e.data[6] << 8));
  return c;
}

Extension EncodeGtpTunnel(const GtpTunnel& t) {
  Extension e{static_cast<uint16_t>(ExtensionType::kGtpTunnel), 1, {}};
  Put32(e.data, t.teid_c);
  Put32(e.data, t.teid_u_up);
  Put32(e.data, t.teid_u_down);
  e.data.push_back(t.policy_srcintf);
  return e;
}

std::optional<GtpTunnel> DecodeGtpTunnel(const Extension& e) {
  if (!IsV1(e, ExtensionType::kGtpTunnel, 13)) return std::nullopt;
  GtpTunnel t;
  t.teid_c = Get32(e.data, 0);
  t.teid_u_up = Get32(e.data, 4);
  t.teid_u_down = Get32(e.data, 8);
  t.policy_srcintf = e.data[12];
  return t;
}

Extension EncodeConntrack(const ConntrackState& c) {
  Extension e{static_cast<uint16_t>(ExtensionType::kConntrack), 1, {}};
  Put32(e.data, c.status);
  Put32(e.data, c.mark);
  Put32(e.data, c.timeout_s);
  for (uint8_t b : {c.tcp_state, c.wscale_orig, c.wscale_repl, c.flags_orig, c.flags_repl}) e.data.push_back(b);
  return e;
}

std::optional<ConntrackState> DecodeConntrack(const Extension& e) {
  if (!IsV1(e, ExtensionType::kConntrack, 17)) return std::nullopt;
  ConntrackState c;
  c.status = Get32(e.data, 0);
  c.mark = Get32(e.data, 4);
  c.timeout_s = Get32(e.data, 8);
  c.tcp_state = e.data[12];
  c.wscale_orig = e.data[13];
  c.wscale_repl = e.data[14];
  c.flags_orig = e.data[15];
  c.flags_repl = e.data[16];
  return c;
}

}  // namespace bladesync
