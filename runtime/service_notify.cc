#include "runtime/service_notify.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>

#include "core/log.h"

namespace bladesync {

ServiceNotifier::ServiceNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket && *socket;
  uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID, if set, is ours.
  if (sd_watchdog_enabled(0, &usec) > 0) watchdog_ = std::chrono::microseconds(usec);
}

void ServiceNotifier::Send(const std::string& state) {
  if (!enabled_) return;
  if (int r = sd_notify(0, state.c_str()); r < 0) {
    static int failures = 0;
    if (failures++ < 3) {
      BS_LOG(kWarn, "runtime") << "cannot notify systemd: error " << -r;
    }
  }
}

void ServiceNotifier::Ready(const std::string& status) {
  last_status_ = status;
  Send("READY=1\nSTATUS=" + status);
  BS_LOG(kInfo, "runtime") << "ready: " << status;
}

void ServiceNotifier::Status(const std::string& status) {
  if (status == last_status_) return;
  last_status_ = status;
  Send("STATUS=" + status);
}

void ServiceNotifier::Reloading() { Send("RELOADING=1\nSTATUS=reloading the config"); }

void ServiceNotifier::Reloaded(const std::string& status) {
  last_status_ = status;
  Send("READY=1\nSTATUS=" + status);
}

void ServiceNotifier::Stopping() { Send("STOPPING=1\nSTATUS=stopping"); }

void ServiceNotifier::WatchdogPing() {
  if (withheld_) {
    withheld_ = false;
    BS_LOG(kInfo, "runtime") << "every event loop turns again: watchdog pings resume";
  }
  Send("WATCHDOG=1");
}

void ServiceNotifier::WatchdogWithheld(const std::string& stuck) {
  if (withheld_) return;
  withheld_ = true;
  BS_LOG(kError, "runtime") << "the " << stuck << " thread's event loop is stuck: no watchdog ping "
                            << "(systemd restarts the service after WatchdogSec)";
}

}  // namespace bladesync
