#include "netif/traffic_takeover.h"

#include "core/hash.h"
#include "core/log.h"

namespace bladesync {
namespace {

constexpr Nanos kReadyPoll = milliseconds(1);  // only while a new primary waits: on the failover's critical path

// A stable locally administered MAC for a device whose own one is unknown.
MacAddr FallbackMac(const std::string& device, const std::string& who) {
  const uint64_t h = Fnv1a(device + "/" + who);
  MacAddr m;
  m.b[0] = 0x02;  // locally administered, unicast
  for (int i = 1; i < 6; ++i) m.b[i] = static_cast<uint8_t>(h >> (8 * i));
  return m;
}

}  // namespace

TrafficTakeover::TrafficTakeover(TakeoverOptions opt, EventLoop& loop, InterfaceControl& host, std::function<bool()> ready)
    : opt_(std::move(opt)), loop_(loop), host_(host), ready_(std::move(ready)) {
  own_mac_.resize(opt_.interfaces.size());
  poll_ = loop_.CreateTimer([this] {
    if (!primary_ || held_ || stopped_) return;
    if (ready_ && !ready_()) {
      poll_->Arm(kReadyPoll);
      return;
    }
    Take();
  });
  announce_ = loop_.CreateTimer([this] { Announce(); });
}

TrafficTakeover::~TrafficTakeover() = default;

void TrafficTakeover::Failed(const std::string& what, const Status& s) {
  errors_.Add();
  if (LogOccurrence(errors_.get())) {
    BS_LOG(kError, "takeover") << opt_.who << ": " << what << ": " << s.message() << " [" << errors_.get()
                               << " errors so far]";
  }
}

std::vector<std::string> TrafficTakeover::Missing() const {
  std::vector<std::string> out;
  for (const TakeoverInterface& i : opt_.interfaces) {
    if (!host_.Exists(i.device)) out.push_back(i.device);
  }
  return out;
}

void TrafficTakeover::Start() {
  for (size_t k = 0; k < opt_.interfaces.size(); ++k) {
    const TakeoverInterface& i = opt_.interfaces[k];
    if (!host_.Exists(i.device)) {
      BS_LOG(kWarn, "takeover") << opt_.who << ": interface " << i.name << " (device " << i.device
                                << ") does not exist on this host: its cluster addresses cannot be held here";
      continue;
    }
    if (!opt_.virtual_mac) continue;
    Result<MacAddr> mac = host_.Mac(i.device);
    if (!mac.ok()) {
      Failed("reading the MAC of " + i.device, mac.status());
      continue;
    }
    own_mac_[k] = mac.value();
    if (IsVirtualMac(own_mac_[k])) {
      // A crashed run left the virtual MAC: it must go with the addresses.
      if (std::optional<MacAddr> perm = host_.PermanentMac(i.device); perm && !IsVirtualMac(*perm)) {
        own_mac_[k] = *perm;
      } else {
        own_mac_[k] = FallbackMac(i.device, opt_.who);
        BS_LOG(kWarn, "takeover") << opt_.who << ": " << i.device << " still had the virtual MAC and has no permanent "
                                  << "address: it gets " << own_mac_[k].ToString() << " instead";
      }
    }
  }
  held_ = true;  // whatever a crashed run left is released like a held set
  Release("starting");
}

void TrafficTakeover::SetPrimary(bool primary) {
  if (stopped_ || primary == primary_) return;
  primary_ = primary;
  if (!primary) {
    poll_->Disarm();
    if (held_) Release("no longer primary");
    return;
  }
  wanted_since_ = loop_.Now();
  BS_LOG(kInfo, "takeover") << opt_.who << ": to hold the addresses once the blades hold the adopted sessions";
  poll_->Arm(Nanos(0));
}

size_t TrafficTakeover::total() const {
  size_t n = 0;
  for (const TakeoverInterface& i : opt_.interfaces) n += i.addresses.size();
  return n;
}

void TrafficTakeover::Take() {
  held_ = true;
  in_place_ = 0;
  takes_.Add();
  last_wait_ = loop_.Now() - wanted_since_;
  for (const TakeoverInterface& i : opt_.interfaces) {
    if (opt_.virtual_mac) {
      if (Status s = host_.SetMac(i.device, VirtualMac(opt_.group_id, i.index)); !s.ok()) {
        Failed("setting the virtual MAC on " + i.device, s);
      } else {
        BS_LOG(kInfo, "takeover") << opt_.who << ": " << i.device << " has the virtual MAC "
                                  << VirtualMac(opt_.group_id, i.index).ToString();
      }
    }
    for (const AddrPrefix& a : i.addresses) {
      if (Status s = host_.AddAddress(i.device, a); !s.ok()) {
        Failed("adding " + a.ToString() + " to " + i.device, s);
      } else {
        ++in_place_;
        BS_LOG(kInfo, "takeover") << opt_.who << ": added " << a.ToString() << " to " << i.device;
      }
    }
  }
  BS_LOG(kInfo, "takeover") << opt_.who << ": holds the addresses (after waiting " << ToSeconds(last_wait_) * 1000
                            << " ms for the sessions)";
  announce_rounds_left_ = opt_.gratuitous_arps ? opt_.arps : 0;
  announce_->Disarm();
  Announce();
}

void TrafficTakeover::Announce() {
  if (!held_ || announce_rounds_left_ == 0) return;
  --announce_rounds_left_;
  for (const TakeoverInterface& i : opt_.interfaces) {
    Result<MacAddr> mac = opt_.virtual_mac ? Result<MacAddr>(VirtualMac(opt_.group_id, i.index)) : host_.Mac(i.device);
    if (!mac.ok()) {
      Failed("reading the MAC of " + i.device, mac.status());
      continue;
    }
    for (const AddrPrefix& a : i.addresses) {
      if (Status s = host_.Announce(i.device, a.addr, mac.value()); !s.ok()) {
        Failed("announcing " + a.addr.ToString() + " on " + i.device, s);
      } else {
        announcements_.Add();
      }
    }
  }
  if (announce_rounds_left_ > 0) announce_->Arm(opt_.arps_interval);
}

void TrafficTakeover::Release(const char* why) {
  const bool was_held = in_place_ > 0;  // at start: nothing to report address by address
  held_ = false;
  in_place_ = 0;
  releases_.Add();
  announce_->Disarm();
  announce_rounds_left_ = 0;
  // Addresses first: from here on no packet is for this chassis.
  for (const TakeoverInterface& i : opt_.interfaces) {
    for (const AddrPrefix& a : i.addresses) {
      if (Status s = host_.RemoveAddress(i.device, a); !s.ok()) {
        if (host_.Exists(i.device)) Failed("removing " + a.ToString() + " from " + i.device, s);
      } else if (was_held) {
        BS_LOG(kInfo, "takeover") << opt_.who << ": removed " << a.ToString() << " from " << i.device;
      }
    }
  }
  if (opt_.virtual_mac) {
    for (size_t k = 0; k < opt_.interfaces.size(); ++k) {
      const TakeoverInterface& i = opt_.interfaces[k];
      if (!host_.Exists(i.device)) continue;
      if (Result<MacAddr> now = host_.Mac(i.device); now.ok() && now.value() == own_mac_[k]) continue;
      if (Status s = host_.SetMac(i.device, own_mac_[k]); !s.ok()) Failed("restoring the MAC of " + i.device, s);
    }
  }
  BS_LOG(kInfo, "takeover") << opt_.who << ": released the addresses (" << why << ")";
}

void TrafficTakeover::SignalLinkFailure(const std::vector<std::string>& devices) {
  for (const std::string& d : devices) {
    // Linux drops the routes through a link that goes down (and IPv6
    // addresses unless kept): they are saved first and put back after.
    auto saved = std::make_shared<InterfaceControl::LinkState>(host_.SaveLinkState(d));
    if (Status s = host_.SetLinkUp(d, false); !s.ok()) {
      Failed("link-failed-signal: taking " + d + " down", s);
      (void)host_.RestoreLinkState(d, *saved);
      continue;
    }
    signals_.Add();
    BS_LOG(kInfo, "takeover") << opt_.who << ": link-failed-signal: " << d << " down for "
                              << ToSeconds(opt_.link_failed_signal_down) << " s (" << saved->routes.size()
                              << " routes kept aside)";
    auto bring_up = [this, d, saved] {
      if (Status s = host_.SetLinkUp(d, true); !s.ok()) Failed("link-failed-signal: bringing " + d + " back up", s);
      if (Status s = host_.RestoreLinkState(d, *saved); !s.ok()) Failed("link-failed-signal", s);
    };
    signal_timers_.push_back({d, loop_.CreateTimer(bring_up)});
    signal_bring_up_.push_back(bring_up);
    signal_timers_.back().second->Arm(opt_.link_failed_signal_down);
  }
}

void TrafficTakeover::Stop() {
  if (stopped_) return;
  poll_->Disarm();
  if (held_) Release("stopping");
  stopped_ = true;
  // An interface taken down by link-failed-signal comes back before we go.
  for (size_t k = 0; k < signal_timers_.size(); ++k) {
    if (!signal_timers_[k].second->armed()) continue;
    signal_timers_[k].second->Disarm();
    signal_bring_up_[k]();
  }
  signal_timers_.clear();
  signal_bring_up_.clear();
}

}  // namespace bladesync
