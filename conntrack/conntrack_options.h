// ConntrackOptions: `config system conntrack`, the Linux kernel as the
// session source and sink of a blade (conntrackd's job).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "api/session.h"

namespace bladesync {

struct ConntrackOptions {
  bool enabled = false;                     // status
  size_t event_buffer = 16u << 20;          // event-buffer-size (conntrackd NetlinkBufferSize)
  size_t event_buffer_max = 256u << 20;     // event-buffer-size-max (NetlinkBufferSizeMaxGrowth)
  uint32_t resync_interval_s = 60;          // resync-interval: dump and reconcile; 0 = after overruns only
  bool tcp_window_tracking = true;          // tcp-window-tracking (conntrackd TCPWindowTracking)
  std::vector<AddrPrefix> ignore;           // ignore-address (IgnoreTrafficFor); M1/M2 are always ignored
  uint32_t install_chunk = 20000;           // install-batch: entries installed per loop turn on promotion
  // standby-in-kernel: a mirror installs the sessions it mirrors into its
  // own kernel as they arrive, so promotion installs nothing.
  bool standby_in_kernel = false;
  // standby-mark: bits ORed into those entries' ct mark; a secondary drops
  // forwarded packets that carry them (StandbyGuard). 0: no mark, no guard.
  uint32_t standby_mark = 0x80000000u;
};

}  // namespace bladesync
