// A packet as the packet path sees it: its key, TCP flags and the
// attributes the policy match decided. No wire form here (blades/packet.h),
// so a packet source (traffic/, an embedding data plane) needs nothing more.
#pragma once

#include <cstdint>

#include "blades/session.h"

namespace bladesync {

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;

inline constexpr uint16_t kGtpControlPort = 2123;
inline constexpr uint16_t kGtpUserPort = 2152;

struct PacketInfo {
  SessionKey key;        // as on the wire: a reply has src and dst swapped
  uint8_t tcp_flags = 0;
  uint16_t attrs = 0;    // session flags the policy match decided (inspection, NAT, app)
  uint8_t srcintf = 0;
  uint8_t dstintf = 0;
  uint8_t ttl = 64;
};

}  // namespace bladesync
