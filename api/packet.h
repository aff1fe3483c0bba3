// The embedding API's packet: what a packet source (a traffic generator, a
// data plane that hands packets to bladesync's own packet path) makes.
//
//   api::PacketInfo p{SessionKey::V4(src, dst, sport, 443, kProtoTcp), kTcpSyn};
#pragma once

#include "api/session.h"
#include "blades/packet_info.h"

namespace bladesync::api {

using bladesync::PacketInfo;

}  // namespace bladesync::api
