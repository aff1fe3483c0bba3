#include "netif/icmp_prober.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace bladesync {
namespace {

uint16_t Checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += static_cast<uint32_t>(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

std::vector<uint8_t> EchoRequest(uint16_t ident, uint16_t seq) {
  std::vector<uint8_t> m = {8, 0, 0, 0, static_cast<uint8_t>(ident >> 8), static_cast<uint8_t>(ident),
                            static_cast<uint8_t>(seq >> 8), static_cast<uint8_t>(seq)};
  const char payload[] = "bladesync link-monitor";
  m.insert(m.end(), payload, payload + sizeof payload - 1);
  const uint16_t c = Checksum(m.data(), m.size());
  m[2] = static_cast<uint8_t>(c >> 8);
  m[3] = static_cast<uint8_t>(c);
  return m;
}

IcmpProber::IcmpProber(AsioEventLoop& loop, size_t monitors)
    : loop_(loop), sockets_(monitors), ident_base_(static_cast<uint16_t>(getpid() * 37)) {}

IcmpProber::~IcmpProber() {
  for (Socket& s : sockets_) {
    s.watch.reset();
    if (s.fd >= 0) close(s.fd);
  }
}

Status IcmpProber::Open(size_t m, const std::string& device) {
  Socket& s = sockets_[m];
  if (s.fd >= 0 && s.device == device) return Status::Ok();
  s.watch.reset();
  if (s.fd >= 0) close(s.fd);
  s.fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (s.fd < 0) return Unavailable(std::string("raw ICMP socket: ") + std::strerror(errno));
  if (setsockopt(s.fd, SOL_SOCKET, SO_BINDTODEVICE, device.c_str(), static_cast<socklen_t>(device.size())) != 0) {
    const int err = errno;
    close(s.fd);
    s.fd = -1;
    return Unavailable("binding to " + device + ": " + std::strerror(err));
  }
  s.device = device;
  s.watch = std::make_unique<FdWatch>(loop_, s.fd, [this, m] {
    Drain(m);
    if (sockets_[m].watch) sockets_[m].watch->Wait();
  });
  s.watch->Wait();
  return Status::Ok();
}

Status IcmpProber::Send(size_t m, const std::string& device, const IpAddr& server, uint16_t seq) {
  if (m >= sockets_.size()) return InvalidArgument("no such monitor");
  if (Status s = Open(m, device); !s.ok()) return s;
  const std::vector<uint8_t> msg = EchoRequest(static_cast<uint16_t>(ident_base_ + m), seq);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(server.v4());
  if (sendto(sockets_[m].fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
    const int err = errno;
    // The device may have gone and come back: open afresh next time.
    if (err == ENODEV || err == ENXIO) {
      sockets_[m].watch.reset();
      close(sockets_[m].fd);
      sockets_[m].fd = -1;
    }
    return Unavailable(std::strerror(err));
  }
  return Status::Ok();
}

void IcmpProber::Drain(size_t m) {
  uint8_t buf[1500];
  for (int i = 0; i < 64; ++i) {
    sockaddr_in from{};
    socklen_t len = sizeof from;
    const ssize_t n = recvfrom(sockets_[m].fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0) return;
    const size_t ihl = static_cast<size_t>(buf[0] & 0x0f) * 4;
    if (static_cast<size_t>(n) < ihl + 8 || buf[ihl] != 0 /* echo reply */) continue;
    const uint16_t ident = static_cast<uint16_t>(buf[ihl + 4] << 8 | buf[ihl + 5]);
    const uint16_t seq = static_cast<uint16_t>(buf[ihl + 6] << 8 | buf[ihl + 7]);
    if (ident != static_cast<uint16_t>(ident_base_ + m)) continue;
    if (monitors_) monitors_->OnReply(m, IpAddr::V4(ntohl(from.sin_addr.s_addr)), seq);
  }
}

}  // namespace bladesync
