// LinuxInterfaces: InterfaceControl on the running kernel, in the network
// namespace of the calling thread: addresses over rtnetlink (libmnl), MAC
// and link state with the classic interface ioctls, gratuitous ARP over a
// packet socket and unsolicited neighbour advertisements over ICMPv6.
// Needs CAP_NET_ADMIN and CAP_NET_RAW.
#pragma once

#include "netif/interface_control.h"

namespace bladesync {

class LinuxInterfaces : public InterfaceControl {
 public:
  bool Exists(const std::string& dev) override;
  bool IsUp(const std::string& dev) override;
  Result<MacAddr> Mac(const std::string& dev) override;
  std::optional<MacAddr> PermanentMac(const std::string& dev) override;
  Status SetMac(const std::string& dev, const MacAddr& mac) override;
  Status SetLinkUp(const std::string& dev, bool up) override;
  // Routes through `ip route show dev`; IPv6 addresses kept over the bounce
  // with net.ipv6.conf.<dev>.keep_addr_on_down.
  LinkState SaveLinkState(const std::string& dev) override;
  Status RestoreLinkState(const std::string& dev, const LinkState& saved) override;
  Status AddAddress(const std::string& dev, const AddrPrefix& a) override;
  Status RemoveAddress(const std::string& dev, const AddrPrefix& a) override;
  Status Announce(const std::string& dev, const IpAddr& a, const MacAddr& mac) override;
};

// The frames, for tests: a gratuitous ARP request (Ethernet header
// included) and an unsolicited neighbour advertisement (ICMPv6 message,
// checksum left to the kernel).
std::vector<uint8_t> GratuitousArpFrame(const IpAddr& a, const MacAddr& mac);
std::vector<uint8_t> UnsolicitedNeighborAdvert(const IpAddr& a, const MacAddr& mac);

}  // namespace bladesync
