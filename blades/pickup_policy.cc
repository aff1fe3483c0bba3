#include "blades/pickup_policy.h"

#include <algorithm>

#include "blades/extensions.h"

namespace bladesync {

bool AddrPrefix::Contains(const IpAddr& a) const {
  int bits = prefix_len;
  for (int i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((a.b[i] & mask) != (addr.b[i] & mask)) return false;
  }
  return true;
}

const char* SkipReasonName(SkipReason r) {
  switch (r) {
    case SkipReason::kNone: return "none";
    case SkipReason::kPickupDisabled: return "pickup_disabled";
    case SkipReason::kConnectionless: return "connectionless_disabled";
    case SkipReason::kMulticast: return "multicast_disabled";
    case SkipReason::kProxyInspected: return "proxy_inspected";
    case SkipReason::kLocal: return "local";
    case SkipReason::kExpectation: return "expectation_disabled";
    case SkipReason::kNat: return "nat_disabled";
    case SkipReason::kFilter: return "sync_filter";
    case SkipReason::kAppNotSynced: return "app_not_synced";
    case SkipReason::kActivePassiveOnly: return "active_passive_only";
    case SkipReason::kGtpUserPlane: return "gtp_user_plane";
    case SkipReason::kCount: break;
  }
  return "?";
}

bool IsMulticast(const IpAddr& a) {
  if (a.is_v4()) return (a.v4() >> 28) == 0xe;  // 224.0.0.0/4
  return a.b[0] == 0xff;                        // ff00::/8
}

bool IsBroadcast(const IpAddr& a) { return a.is_v4() && a.v4() == 0xffffffffu; }

bool IsConnectionless(uint8_t proto) {
  return proto != kProtoTcp && proto != kProtoSctp;
}

namespace {
bool AnyContains(const std::vector<AddrPrefix>& v, const IpAddr& a) {
  return std::any_of(v.begin(), v.end(), [&](const AddrPrefix& p) { return p.Contains(a); });
}
bool InList(const std::vector<uint8_t>& v, uint8_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

bool FilterMatches(const SyncFilter& f, const SessionFacts& s) {
  if (!f.srcintf.empty() && !InList(f.srcintf, s.srcintf)) return false;
  if (!f.dstintf.empty() && !InList(f.dstintf, s.dstintf)) return false;
  if (s.key.is_v4()) {
    if (!f.srcaddr.empty() && !AnyContains(f.srcaddr, s.key.src)) return false;
    if (!f.dstaddr.empty() && !AnyContains(f.dstaddr, s.key.dst)) return false;
  } else {
    if (!f.srcaddr6.empty() && !AnyContains(f.srcaddr6, s.key.src)) return false;
    if (!f.dstaddr6.empty() && !AnyContains(f.dstaddr6, s.key.dst)) return false;
  }
  if (!f.custom_service.empty()) {
    const bool any = std::any_of(f.custom_service.begin(), f.custom_service.end(), [&](const CustomService& c) {
      return c.src.Contains(s.key.sport) && c.dst.Contains(s.key.dport);
    });
    if (!any) return false;
  }
  return true;
}
}  // namespace

PickupDecision Decide(const PickupOptions& opt, const SessionFacts& s) {
  auto skip = [](SkipReason r) { return PickupDecision{false, r}; };
  // Sessions terminated by the cluster never fail over, pickup or not.
  if (s.flags & kFlagLocal) return skip(SkipReason::kLocal);
  if (!opt.session_pickup) return skip(SkipReason::kPickupDisabled);
  if (s.flags & kFlagProxyInspected) return skip(SkipReason::kProxyInspected);
  // The application's own declaration (blades/extensions.h) decides.
  const AppSpec& app = AppSpecFor(AppOf(s.flags));
  auto app_reason = [&] {
    switch (app.skip) {
      case AppSkip::kUserPlane: return SkipReason::kGtpUserPlane;
      case AppSkip::kActivePassiveOnly: return SkipReason::kActivePassiveOnly;
      default: return SkipReason::kAppNotSynced;
    }
  };
  if (app.policy == SyncPolicy::kNotFailedOver) return skip(app_reason());
  if (app.active_passive_only && opt.mode != HaMode::kActivePassive) return skip(app_reason());
  const bool multicast = (s.flags & kFlagMulticast) || IsMulticast(s.key.dst);
  if (multicast) {
    if (opt.multicast_ttl == 0) return skip(SkipReason::kMulticast);
  } else if (IsConnectionless(s.key.proto) && !opt.connectionless) {
    return skip(SkipReason::kConnectionless);
  }
  if ((s.flags & kFlagExpectation) && !opt.expectation) return skip(SkipReason::kExpectation);
  // session-pickup-nat is the FGSP (active-active) switch for NAT sessions;
  // under FGCP active-passive NAT sessions follow session-pickup.
  if ((s.flags & kFlagNat) && opt.mode == HaMode::kActiveActive && !opt.nat) {
    return skip(SkipReason::kNat);
  }
  if (opt.filter.enabled() && !FilterMatches(opt.filter, s)) return skip(SkipReason::kFilter);
  return PickupDecision{true, SkipReason::kNone};
}

}  // namespace bladesync
