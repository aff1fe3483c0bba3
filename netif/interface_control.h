// InterfaceControl: what bladesync changes on the host's network interfaces
// when the primary role moves (addresses, MAC, link state, announcements).
// LinuxInterfaces does it with rtnetlink and packet sockets; tests use a
// fake that records every call in order.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "blades/pickup_policy.h"
#include "core/status.h"

namespace bladesync {

struct MacAddr {
  std::array<uint8_t, 6> b{};
  std::string ToString() const;
  bool operator==(const MacAddr& o) const { return b == o.b; }
};

// FGCP's virtual MAC: 00:09:0f:09:<group-id>:<interface index>. FortiOS
// puts the low byte of the group id in the fifth octet; so does bladesync
// (groups 256 apart share MACs: give clusters on one LAN other ids).
MacAddr VirtualMac(uint32_t group_id, uint8_t interface_index);
// A MAC bladesync gave (the virtual MAC prefix 00:09:0f:09).
bool IsVirtualMac(const MacAddr& m);

class InterfaceControl {
 public:
  virtual ~InterfaceControl() = default;
  virtual bool Exists(const std::string& dev) = 0;
  // Link up with carrier (operstate up, or unknown with IFF_RUNNING).
  virtual bool IsUp(const std::string& dev) = 0;
  virtual Result<MacAddr> Mac(const std::string& dev) = 0;
  // The hardware's own MAC (ethtool's permanent address), when it has one.
  virtual std::optional<MacAddr> PermanentMac(const std::string& dev) = 0;
  virtual Status SetMac(const std::string& dev, const MacAddr& mac) = 0;
  virtual Status SetLinkUp(const std::string& dev, bool up) = 0;
  // What an administrative down takes from a device and an up does not give
  // back: the routes through it (not the kernel's own subnet routes), and
  // its IPv6 addresses unless kept. Save before down, restore after up.
  struct LinkState {
    std::vector<std::string> routes;  // opaque to the caller
    std::string keep_addr_on_down;    // the IPv6 setting to put back
  };
  virtual LinkState SaveLinkState(const std::string& dev) = 0;
  virtual Status RestoreLinkState(const std::string& dev, const LinkState& saved) = 0;
  // Idempotent: adding an address already there, or removing one that is
  // not, succeeds.
  virtual Status AddAddress(const std::string& dev, const AddrPrefix& a) = 0;
  virtual Status RemoveAddress(const std::string& dev, const AddrPrefix& a) = 0;
  // A gratuitous ARP (IPv4) or an unsolicited neighbour advertisement
  // (IPv6) for `a`, from `mac`.
  virtual Status Announce(const std::string& dev, const IpAddr& a, const MacAddr& mac) = 0;
};

}  // namespace bladesync
