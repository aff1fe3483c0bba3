// PeerCheck: the split-brain guard's reachability check.
//
// Each chassis with `set check "host:port"` listens there on an address its
// peers reach outside M1/M2 (a data or out-of-band network) and answers
// every connection with one line from its manager's loop. When a peer goes
// silent on M1 and M2, its manager probes that address, bounded in time:
// the line means the peer is alive and only the sync links are cut; a
// completed connect without it (a hung or stopped daemon: the kernel
// accepts from its backlog) counts as dead.
//
//   PeerCheck pc(loop);
//   pc.Listen("10.9.0.1:27300");
//   pc.Probe("10.9.0.2:27300", milliseconds(200), [](bool up) { ... });
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/asio_event_loop.h"
#include "core/status.h"

namespace bladesync {

class PeerCheck {
 public:
  explicit PeerCheck(AsioEventLoop& loop);
  ~PeerCheck();
  Status Listen(const std::string& host_port);
  void Probe(const std::string& host_port, Nanos timeout, std::function<void(bool)> done);
  void Close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bladesync
