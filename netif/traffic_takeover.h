// TrafficTakeover: the traffic follows the primary. The primary holds the
// cluster addresses (and, with virtual-mac, the FGCP virtual MAC) on its
// interfaces and announces them; nobody else holds them.
//
// Order is the promise: a chassis removes them when it starts (whatever a
// crashed run left) and the moment it stops being primary, before anything
// else; it adds them when it becomes primary only once ready() says its
// blades hold the adopted sessions (and the kernel has them) and no live
// peer still claims the role, so no packet reaches it before its sessions.
//
//   TrafficTakeover t(opts, loop, host, [&] { return manager.TrafficReady(); });
//   t.Start();                  // releases first
//   t.SetPrimary(true);         // takes once ready(), then announces
//   t.SetPrimary(false);        // releases at once
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/counter.h"
#include "core/event_loop.h"
#include "netif/interface_control.h"

namespace bladesync {

struct TakeoverInterface {
  std::string name;    // config system interface name
  std::string device;  // the Linux interface
  uint8_t index = 0;
  std::vector<AddrPrefix> addresses;
};

struct TakeoverOptions {
  std::vector<TakeoverInterface> interfaces;
  uint32_t group_id = 0;
  bool virtual_mac = false;
  bool gratuitous_arps = true;
  uint32_t arps = 5;
  Nanos arps_interval = seconds(8);
  // Distinguishes this chassis's fallback MAC (see Start).
  std::string who = "chassis";
  Nanos link_failed_signal_down = seconds(1);
};

class TrafficTakeover {
 public:
  TrafficTakeover(TakeoverOptions opt, EventLoop& loop, InterfaceControl& host, std::function<bool()> ready);
  ~TrafficTakeover();

  // Removes every cluster address and gives each interface back a MAC of
  // its own. With a virtual MAC left by a crashed run and no permanent
  // address to return to, a stable locally administered one (02:..., from
  // the device and the chassis) is set, and said so.
  void Start();
  // Primary or not (a-p). Losing the role releases at once; gaining it
  // takes once ready() holds, checked every millisecond until then.
  void SetPrimary(bool primary);
  // link-failed-signal: every device here goes down for about a second, so
  // the switches flush what they learnt on it.
  void SignalLinkFailure(const std::vector<std::string>& devices);
  void Stop();

  bool held() const { return held_; }
  // Addresses the last take put in place, and all of them.
  size_t in_place() const { return in_place_; }
  size_t total() const;
  bool waiting() const { return primary_ && !held_; }
  // Devices of cluster interfaces this host does not have.
  std::vector<std::string> Missing() const;
  uint64_t takes() const { return takes_.get(); }
  uint64_t releases() const { return releases_.get(); }
  uint64_t errors() const { return errors_.get(); }
  uint64_t announcements() const { return announcements_.get(); }
  uint64_t link_failed_signals() const { return signals_.get(); }
  // How long the last take waited for ready() (0 before the first).
  Nanos last_wait() const { return last_wait_; }

 private:
  void Take();
  void Release(const char* why);
  void Announce();
  void Failed(const std::string& what, const Status& s);

  TakeoverOptions opt_;
  EventLoop& loop_;
  InterfaceControl& host_;
  std::function<bool()> ready_;
  std::vector<MacAddr> own_mac_;  // per interface, what Release gives back (virtual-mac)
  bool primary_ = false;
  bool held_ = false;
  size_t in_place_ = 0;
  bool stopped_ = false;
  Nanos wanted_since_{0};
  Nanos last_wait_{0};
  uint32_t announce_rounds_left_ = 0;
  std::unique_ptr<Timer> poll_;
  std::unique_ptr<Timer> announce_;
  std::vector<std::pair<std::string, std::unique_ptr<Timer>>> signal_timers_;  // device, when it comes back up
  std::vector<std::function<void()>> signal_bring_up_;  // what each timer does (Stop does it early)
  Counter takes_, releases_, errors_, announcements_, signals_;
};

}  // namespace bladesync
