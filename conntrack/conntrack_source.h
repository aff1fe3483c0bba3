// ConntrackSource: KernelSync on a blade's Asio loop, fed by the kernel's
// conntrack event socket.
//
// Start() subscribes to events first and dumps second, so nothing falls in
// between; an overrun grows the buffer (up to event-buffer-size-max) and
// resyncs from a dump. Promotion (the blade adopting a lost owner) installs
// the adopted sessions into the kernel.
//
//   ConntrackSource src(loop, blade, cfg.conntrack, {m1, m2});   // blade: api::Blade
//   src.Start();   // before the loop runs, or on it
#pragma once

#include <memory>
#include <vector>

#include "conntrack/kernel_sync.h"
#include "conntrack/standby_kernel.h"
#include "core/asio_event_loop.h"
#include "core/fd_watch.h"

namespace bladesync {

class ConntrackSource {
 public:
  ConntrackSource(AsioEventLoop& loop, api::Blade& blade, ConntrackOptions opt, std::vector<IpAddr> own_addresses);
  ~ConntrackSource();
  Status Start();
  const ConntrackCounters& counters() const { return sync_.counters(); }
  size_t event_buffer_bytes() const { return events_.buffer_bytes(); }
  const StandbyKernel* standby() const { return standby_.get(); }

 private:
  void OnReadable();
  void Resync(const char* why);

  AsioEventLoop& loop_;
  api::Blade& blade_;
  ConntrackOptions opt_;
  CtEventSocket events_;
  NetlinkKernelTable kernel_;
  KernelSync sync_;
  std::unique_ptr<StandbyKernel> standby_;  // standby-in-kernel
  std::unique_ptr<FdWatch> watch_;
  std::unique_ptr<Timer> gather_;  // a short read in a burst: read again a moment later
  std::unique_ptr<PeriodicTask> resync_;
  bool resync_posted_ = false;
  bool resync_again_ = false;  // asked for while one ran
};

}  // namespace bladesync
