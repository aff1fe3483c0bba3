#include "netif/interface_control.h"

#include <cstdio>

namespace bladesync {

std::string MacAddr::ToString() const {
  char s[18];
  std::snprintf(s, sizeof s, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  return s;
}

MacAddr VirtualMac(uint32_t group_id, uint8_t interface_index) {
  return MacAddr{{0x00, 0x09, 0x0f, 0x09, static_cast<uint8_t>(group_id & 0xff), interface_index}};
}

bool IsVirtualMac(const MacAddr& m) { return m.b[0] == 0x00 && m.b[1] == 0x09 && m.b[2] == 0x0f && m.b[3] == 0x09; }

}  // namespace bladesync
