// IcmpProber: the Prober of RemoteLinkMonitors on the running kernel. One
// raw ICMP socket per monitor, bound to its device (SO_BINDTODEVICE), so a
// probe leaves by that interface whatever the routing table says; replies
// are matched by identifier, sequence and source address. Needs CAP_NET_RAW.
#pragma once

#include <memory>
#include <vector>

#include "core/asio_event_loop.h"
#include "core/fd_watch.h"
#include "netif/remote_link_monitors.h"

namespace bladesync {

class IcmpProber : public Prober {
 public:
  IcmpProber(AsioEventLoop& loop, size_t monitors);
  ~IcmpProber() override;
  void set_monitors(RemoteLinkMonitors* m) { monitors_ = m; }
  Status Send(size_t monitor, const std::string& device, const IpAddr& server, uint16_t seq) override;

 private:
  struct Socket {
    int fd = -1;
    std::string device;
    std::unique_ptr<FdWatch> watch;
  };
  Status Open(size_t monitor, const std::string& device);
  void Drain(size_t monitor);

  AsioEventLoop& loop_;
  std::vector<Socket> sockets_;
  uint16_t ident_base_;
  RemoteLinkMonitors* monitors_ = nullptr;
};

// An ICMP echo request with its checksum.
std::vector<uint8_t> EchoRequest(uint16_t ident, uint16_t seq);

}  // namespace bladesync
