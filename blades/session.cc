#include "blades/session.h"

#include "core/hash.h"

#include <arpa/inet.h>

#include <cstring>
#include <sstream>

namespace bladesync {

IpAddr IpAddr::V4(uint32_t host_order) {
  IpAddr a;
  a.b[10] = 0xff;
  a.b[11] = 0xff;
  a.b[12] = static_cast<uint8_t>(host_order >> 24);
  a.b[13] = static_cast<uint8_t>(host_order >> 16);
  a.b[14] = static_cast<uint8_t>(host_order >> 8);
  a.b[15] = static_cast<uint8_t>(host_order);
  return a;
}

std::optional<IpAddr> IpAddr::Parse(const std::string& text) {
  uint8_t b[16];
  if (inet_pton(AF_INET, text.c_str(), b) == 1) {
    return V4((uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3]);
  }
  IpAddr a;
  if (inet_pton(AF_INET6, text.c_str(), a.b.data()) == 1) return a;
  return std::nullopt;
}

IpAddr IpAddr::V6(uint64_t hi, uint64_t lo) {
  IpAddr a;
  for (int i = 0; i < 8; ++i) {
    a.b[i] = static_cast<uint8_t>(hi >> (56 - 8 * i));
    a.b[8 + i] = static_cast<uint8_t>(lo >> (56 - 8 * i));
  }
  return a;
}

uint32_t IpAddr::v4() const {
  return (uint32_t{b[12]} << 24) | (uint32_t{b[13]} << 16) | (uint32_t{b[14]} << 8) | b[15];
}

uint64_t IpAddr::hi() const {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | b[i];
  return v;
}

uint64_t IpAddr::lo() const {
  uint64_t v = 0;
  for (int i = 8; i < 16; ++i) v = (v << 8) | b[i];
  return v;
}

std::string IpAddr::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (is_v4()) {
    inet_ntop(AF_INET, &b[12], buf, sizeof(buf));
  } else {
    inet_ntop(AF_INET6, b.data(), buf, sizeof(buf));
  }
  return buf;
}

SessionKey SessionKey::V4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t proto,
                          uint16_t zone) {
  SessionKey k;
  k.src = IpAddr::V4(src);
  k.dst = IpAddr::V4(dst);
  k.sport = sport;
  k.dport = dport;
  k.proto = proto;
  k.zone = zone;
  return k;
}

SessionKey SessionKey::Reversed() const {
  SessionKey r = *this;
  r.src = dst;
  r.dst = src;
  r.sport = dport;
  r.dport = sport;
  return r;
}


std::string SessionKey::ToString() const {
  std::ostringstream o;
  o << ProtoName(proto) << " " << src.ToString() << ":" << sport << "->" << dst.ToString() << ":"
    << dport;
  if (zone) o << " zone=" << zone;
  return o.str();
}

const char* ProtoName(uint8_t proto) {
  switch (proto) {
    case kProtoTcp: return "tcp";
    case kProtoUdp: return "udp";
    case kProtoIcmp: return "icmp";
    case kProtoIcmp6: return "icmp6";
    case kProtoSctp: return "sctp";
    case kProtoGre: return "gre";
  }
  return "ip";
}

const char* TcpStateName(uint8_t s) {
  switch (s) {
    case kTcpNone: return "NONE";
    case kTcpEstablished: return "ESTABLISHED";
    case kTcpSynSent: return "SYN_SENT";
    case kTcpSynRecv: return "SYN_RECV";
    case kTcpFinWait: return "FIN_WAIT";
    case kTcpTimeWait: return "TIME_WAIT";
    case kTcpClose: return "CLOSE";
    case kTcpCloseWait: return "CLOSE_WAIT";
    case kTcpLastAck: return "LAST_ACK";
    case kTcpListen: return "LISTEN";
  }
  return "?";
}

}  // namespace bladesync
