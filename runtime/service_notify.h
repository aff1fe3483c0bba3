// ServiceNotifier: systemd's service protocol through libsystemd (sd_notify),
// for bladesyncd under Type=notify. Without NOTIFY_SOCKET (not started by
// systemd) every call does nothing.
//
//   ServiceNotifier n;
//   n.Ready("role primary");  // READY=1 once the control socket is up and the first bulk sync settled
//   n.Status("role secondary (primary is chassis 2)");
//   if (n.watchdog_interval() > Nanos(0)) n.WatchdogPing();
#pragma once

#include <string>

#include "core/event_loop.h"

namespace bladesync {

class ServiceNotifier {
 public:
  ServiceNotifier();
  bool enabled() const { return enabled_; }
  // WatchdogSec= as systemd passed it (WATCHDOG_USEC for this process); 0: off.
  Nanos watchdog_interval() const { return watchdog_; }
  void Ready(const std::string& status);
  void Status(const std::string& status);
  void Reloading();
  void Reloaded(const std::string& status);
  void Stopping();
  void WatchdogPing();
  // Says once why the watchdog is not pinged (a stuck loop), and once when it is again.
  void WatchdogWithheld(const std::string& stuck);

 private:
  void Send(const std::string& state);
  bool enabled_ = false;
  Nanos watchdog_{0};
  std::string last_status_;
  bool withheld_ = false;
};

}  // namespace bladesync
