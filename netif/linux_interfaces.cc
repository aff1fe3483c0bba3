#include "netif/linux_interfaces.h"

// <net/if.h> before the kernel's headers, which then leave its types alone.
#include <net/if.h>
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/ethtool.h>
#include <linux/if_addr.h>
#include <linux/if_arp.h>
#include <linux/if_packet.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/run_command.h"

namespace bladesync {
namespace {

// A socket closed when it goes out of scope.
struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

Status Errno(const std::string& what, int err) {
  if (err == ENODEV || err == ENXIO) return NotFound(what + ": no such interface");
  return Unavailable(what + ": " + std::strerror(err));
}

bool Ifreq(const std::string& dev, ifreq* ifr) {
  if (dev.empty() || dev.size() >= IFNAMSIZ) return false;
  std::memset(ifr, 0, sizeof *ifr);
  std::memcpy(ifr->ifr_name, dev.data(), dev.size());
  return true;
}

// One ioctl on a throwaway datagram socket.
int Ioctl(unsigned long req, ifreq* ifr) {
  Fd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (s.fd < 0) return errno;
  return ioctl(s.fd, req, ifr) == 0 ? 0 : errno;
}

int AddressRequest(uint16_t type, uint16_t flags, unsigned ifindex, const AddrPrefix& a) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  nlh->nlmsg_seq = 1;
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  const bool v4 = a.addr.is_v4();
  ifa->ifa_family = v4 ? AF_INET : AF_INET6;
  ifa->ifa_prefixlen = static_cast<uint8_t>(a.length());
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = ifindex;
  const uint8_t* bytes = v4 ? a.addr.b.data() + 12 : a.addr.b.data();
  const size_t len = v4 ? 4 : 16;
  mnl_attr_put(nlh, IFA_LOCAL, len, bytes);
  mnl_attr_put(nlh, IFA_ADDRESS, len, bytes);
  if (!v4) {
    // Usable at once: duplicate address detection would hold it for a second.
    ifa->ifa_flags = IFA_F_NODAD;
    mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
  }
  mnl_socket* nl = mnl_socket_open(NETLINK_ROUTE);
  if (!nl) return errno;
  int err = 0;
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 || mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
    err = errno;
  } else {
    const ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
    if (n < 0) {
      err = errno;
    } else if (mnl_cb_run(buf.data(), static_cast<size_t>(n), 1, mnl_socket_get_portid(nl), nullptr, nullptr) < 0) {
      err = errno;
    }
  }
  mnl_socket_close(nl);
  return err;
}

}  // namespace

bool LinuxInterfaces::Exists(const std::string& dev) { return if_nametoindex(dev.c_str()) != 0; }

bool LinuxInterfaces::IsUp(const std::string& dev) {
  ifreq ifr;
  if (!Ifreq(dev, &ifr) || Ioctl(SIOCGIFFLAGS, &ifr) != 0) return false;
  // IFF_RUNNING: operstate up (or unknown, for devices without a carrier).
  return (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
}

Result<MacAddr> LinuxInterfaces::Mac(const std::string& dev) {
  ifreq ifr;
  if (!Ifreq(dev, &ifr)) return InvalidArgument("'" + dev + "' is not an interface name");
  if (int err = Ioctl(SIOCGIFHWADDR, &ifr)) return Errno("reading the MAC of " + dev, err);
  MacAddr m;
  std::memcpy(m.b.data(), ifr.ifr_hwaddr.sa_data, 6);
  return m;
}

std::optional<MacAddr> LinuxInterfaces::PermanentMac(const std::string& dev) {
  ifreq ifr;
  if (!Ifreq(dev, &ifr)) return std::nullopt;
  alignas(ethtool_perm_addr) uint8_t buf[sizeof(ethtool_perm_addr) + 32] = {};
  auto* req = reinterpret_cast<ethtool_perm_addr*>(buf);
  req->cmd = ETHTOOL_GPERMADDR;
  req->size = 32;
  ifr.ifr_data = reinterpret_cast<char*>(buf);
  if (Ioctl(SIOCETHTOOL, &ifr) != 0 || req->size != 6) return std::nullopt;
  MacAddr m;
  std::memcpy(m.b.data(), buf + sizeof(ethtool_perm_addr), 6);
  if (m == MacAddr{}) return std::nullopt;  // drivers without one report zeros
  return m;
}

Status LinuxInterfaces::SetMac(const std::string& dev, const MacAddr& mac) {
  ifreq ifr;
  if (!Ifreq(dev, &ifr)) return InvalidArgument("'" + dev + "' is not an interface name");
  ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  std::memcpy(ifr.ifr_hwaddr.sa_data, mac.b.data(), 6);
  int err = Ioctl(SIOCSIFHWADDR, &ifr);
  if (err == EBUSY) {
    // Drivers without live MAC changes take it while the link is down; what
    // the down takes (routes, IPv6 addresses) comes back as after link-failed-signal.
    const LinkState saved = SaveLinkState(dev);
    if (Status s = SetLinkUp(dev, false); !s.ok()) {
      (void)RestoreLinkState(dev, saved);
      return s;
    }
    err = Ioctl(SIOCSIFHWADDR, &ifr);
    Status up = SetLinkUp(dev, true);
    Status restored = RestoreLinkState(dev, saved);
    if (err == 0 && !up.ok()) return up;
    if (err == 0 && !restored.ok()) return restored;
  }
  return err ? Errno("setting the MAC of " + dev + " to " + mac.ToString(), err) : Status::Ok();
}

Status LinuxInterfaces::SetLinkUp(const std::string& dev, bool up) {
  ifreq ifr;
  if (!Ifreq(dev, &ifr)) return InvalidArgument("'" + dev + "' is not an interface name");
  if (int err = Ioctl(SIOCGIFFLAGS, &ifr)) return Errno("reading the flags of " + dev, err);
  if (up) ifr.ifr_flags |= IFF_UP;
  else ifr.ifr_flags &= ~IFF_UP;
  if (int err = Ioctl(SIOCSIFFLAGS, &ifr)) return Errno(std::string("setting ") + dev + (up ? " up" : " down"), err);
  return Status::Ok();
}

InterfaceControl::LinkState LinuxInterfaces::SaveLinkState(const std::string& dev) {
  LinkState st;
  for (const char* family : {"-4", "-6"}) {
    Result<std::string> out = RunCommand({"ip", "-o", family, "route", "show", "dev", dev}, "", seconds(2));
    if (!out.ok()) continue;
    std::istringstream lines(out.value());
    for (std::string line; std::getline(lines, line);) {
      // The kernel's own routes come back with the link and its addresses.
      if (line.find("proto kernel") != std::string::npos || line.rfind("fe80::", 0) == 0 ||
          line.rfind("multicast", 0) == 0 || line.rfind("local", 0) == 0) {
        continue;
      }
      std::istringstream words(line);
      std::string route = family;
      for (std::string w; words >> w;) {
        if (w != "linkdown" && w != "dead") route += " " + w;
      }
      st.routes.push_back(route);
    }
  }
  std::ifstream keep("/proc/sys/net/ipv6/conf/" + dev + "/keep_addr_on_down");
  if (keep >> st.keep_addr_on_down) {
    std::ofstream("/proc/sys/net/ipv6/conf/" + dev + "/keep_addr_on_down") << "1";
  }
  return st;
}

Status LinuxInterfaces::RestoreLinkState(const std::string& dev, const LinkState& saved) {
  std::string failed;
  for (const std::string& r : saved.routes) {
    std::vector<std::string> argv = {"ip"};
    std::istringstream words(r);
    std::string family;
    words >> family;
    argv.push_back(family);
    argv.push_back("route");
    argv.push_back("replace");
    for (std::string w; words >> w;) argv.push_back(w);
    argv.push_back("dev");
    argv.push_back(dev);
    if (Result<std::string> out = RunCommand(argv, "", seconds(2)); !out.ok()) failed += " [" + r + ": " + out.status().message() + "]";
  }
  if (!saved.keep_addr_on_down.empty()) {
    std::ofstream("/proc/sys/net/ipv6/conf/" + dev + "/keep_addr_on_down") << saved.keep_addr_on_down;
  }
  return failed.empty() ? Status::Ok() : Unavailable("routes not restored on " + dev + ":" + failed);
}

Status LinuxInterfaces::AddAddress(const std::string& dev, const AddrPrefix& a) {
  const unsigned ifindex = if_nametoindex(dev.c_str());
  if (!ifindex) return NotFound(dev + ": no such interface");
  const int err = AddressRequest(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, a);
  if (err == 0 || err == EEXIST) return Status::Ok();
  return Errno("adding " + a.addr.ToString() + " to " + dev, err);
}

Status LinuxInterfaces::RemoveAddress(const std::string& dev, const AddrPrefix& a) {
  const unsigned ifindex = if_nametoindex(dev.c_str());
  if (!ifindex) return NotFound(dev + ": no such interface");
  const int err = AddressRequest(RTM_DELADDR, 0, ifindex, a);
  if (err == 0 || err == EADDRNOTAVAIL || err == ENOENT) return Status::Ok();
  return Errno("removing " + a.addr.ToString() + " from " + dev, err);
}

std::vector<uint8_t> GratuitousArpFrame(const IpAddr& a, const MacAddr& mac) {
  std::vector<uint8_t> f;
  auto put = [&](const uint8_t* p, size_t n) { f.insert(f.end(), p, p + n); };
  auto put16 = [&](uint16_t v) {
    f.push_back(static_cast<uint8_t>(v >> 8));
    f.push_back(static_cast<uint8_t>(v));
  };
  static const uint8_t kBroadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  put(kBroadcast, 6);
  put(mac.b.data(), 6);
  put16(ETH_P_ARP);
  put16(ARPHRD_ETHER);
  put16(ETH_P_IP);
  f.push_back(6);
  f.push_back(4);
  put16(ARPOP_REQUEST);  // a request for its own address: every host updates an entry it has
  put(mac.b.data(), 6);
  put(a.b.data() + 12, 4);
  put(kBroadcast, 6);
  put(a.b.data() + 12, 4);
  return f;
}

std::vector<uint8_t> UnsolicitedNeighborAdvert(const IpAddr& a, const MacAddr& mac) {
  std::vector<uint8_t> m = {136, 0, 0, 0, 0x20, 0, 0, 0};  // type NA, override flag
  m.insert(m.end(), a.b.begin(), a.b.end());
  m.push_back(2);  // option: target link-layer address, 8 bytes
  m.push_back(1);
  m.insert(m.end(), mac.b.begin(), mac.b.end());
  return m;
}

Status LinuxInterfaces::Announce(const std::string& dev, const IpAddr& a, const MacAddr& mac) {
  const unsigned ifindex = if_nametoindex(dev.c_str());
  if (!ifindex) return NotFound(dev + ": no such interface");
  if (a.is_v4()) {
    Fd s(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    if (s.fd < 0) return Errno("packet socket", errno);
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = static_cast<int>(ifindex);
    to.sll_protocol = htons(ETH_P_ARP);
    to.sll_halen = 6;
    std::memset(to.sll_addr, 0xff, 6);
    const std::vector<uint8_t> f = GratuitousArpFrame(a, mac);
    if (sendto(s.fd, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
      return Errno("gratuitous ARP on " + dev, errno);
    }
    return Status::Ok();
  }
  Fd s(socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6));
  if (s.fd < 0) return Errno("ICMPv6 socket", errno);
  const int hops = 255;  // receivers accept neighbour discovery only from the link
  const int index = static_cast<int>(ifindex);
  setsockopt(s.fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops);
  setsockopt(s.fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof index);
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
  to.sin6_scope_id = ifindex;
  const std::vector<uint8_t> m = UnsolicitedNeighborAdvert(a, mac);
  if (sendto(s.fd, m.data(), m.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
    return Errno("unsolicited neighbour advertisement on " + dev, errno);
  }
  return Status::Ok();
}

}  // namespace bladesync
