#include "fabric/zmq_transport.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "core/crc32c.h"
#include "core/log.h"

namespace bladesync {

struct ZmqTransport::Inbound {
  Inbound(zmq::context_t& ctx, Link l) : socket(ctx, zmq::socket_type::pull), monitor(ctx, zmq::socket_type::pair), link(l) {}
  zmq::socket_t socket;
  std::unique_ptr<ZmqFdWatch> watch;
  // Handshake failures (a plain client, a key the ZAP handler refused), as
  // ZeroMQ's socket monitor reports them: neither reaches Drain.
  zmq::socket_t monitor;
  std::unique_ptr<ZmqFdWatch> monitor_watch;
  Link link;
  bool secured = false;  // CURVE: every key was checked by the ZAP handler
  std::string endpoint;
};

namespace {
// In-process endpoints cannot be reached from outside the process.
bool NeedsCurve(const CurveKeys& curve, const std::string& endpoint) {
  return curve.enabled && endpoint.rfind("inproc://", 0) != 0;
}
}  // namespace

ZmqTransport::ZmqTransport(FabricContext& ctx, AsioEventLoop& loop, NodeId self, const AddressBook& book,
                           CurveKeys curve, ZmqOptions options, FabricContext* inproc)
    : ctx_(ctx.get()),
      inproc_ctx_(inproc ? inproc->get() : ctx.get()),
      loop_(loop),
      self_(self),
      book_(book),
      curve_(std::move(curve)),
      opt_(options) {}

ZmqTransport::~ZmqTransport() { Close(); }

void ZmqTransport::Close() {
  *alive_ = false;
  for (auto& in : inbound_) {
    in->watch.reset();
    in->monitor_watch.reset();
    if (in->secured) zmq_socket_monitor(in->socket.handle(), nullptr, 0);
    in->socket.set(zmq::sockopt::linger, 0);
    in->socket.close();
    in->monitor.set(zmq::sockopt::linger, 0);
    in->monitor.close();
  }
  inbound_.clear();
  for (auto& [k, s] : outbound_) {
    s->set(zmq::sockopt::linger, 0);
    s->close();
  }
  outbound_.clear();
}

Status ZmqTransport::Bind() {
  for (Link link : {Link::kM1, Link::kM2, Link::kBackplane}) {
    std::optional<std::string> ep = book_.Endpoint(self_, link);
    if (!ep || ep->empty()) continue;
    auto in = std::make_unique<Inbound>(ContextFor(*ep), link);
    in->socket.set(zmq::sockopt::linger, 0);
    in->socket.set(zmq::sockopt::rcvhwm, opt_.recv_hwm);
    in->socket.set(zmq::sockopt::maxmsgsize, opt_.max_message_bytes);
    in->socket.set(zmq::sockopt::handshake_ivl, opt_.handshake_ivl_ms);
    in->socket.set(zmq::sockopt::backlog, opt_.backlog);
    if (link != Link::kBackplane) {
      in->socket.set(zmq::sockopt::heartbeat_ivl, opt_.inbound_heartbeat_ivl_ms);
      in->socket.set(zmq::sockopt::heartbeat_timeout, opt_.inbound_heartbeat_timeout_ms);
    }
    // M1, M2 and a backplane on TCP alike: a local user can reach loopback.
    if (NeedsCurve(curve_, *ep)) {
      in->secured = true;
      in->socket.set(zmq::sockopt::curve_server, 1);
      in->socket.set(zmq::sockopt::curve_secretkey, curve_.secret_key);
      in->socket.set(zmq::sockopt::zap_domain, "bladesync");
    }
    try {
      in->socket.bind(*ep);
    } catch (const zmq::error_t& e) {
      return Unavailable(self_.ToString() + ": cannot bind " + LinkName(link) + " endpoint " + *ep + ": " + e.what());
    }
    in->endpoint = in->socket.get(zmq::sockopt::last_endpoint);
    Inbound* raw = in.get();
    in->watch = std::make_unique<ZmqFdWatch>(loop_, in->socket, [this, raw] { Drain(*raw); });
    if (in->secured) {
      const std::string mon = "inproc://bladesync-monitor-" + std::to_string(reinterpret_cast<uintptr_t>(raw));
      if (zmq_socket_monitor(in->socket.handle(), mon.c_str(),
                             ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) == 0) {
        in->monitor.set(zmq::sockopt::linger, 0);
        in->monitor.connect(mon);
        in->monitor_watch = std::make_unique<ZmqFdWatch>(loop_, in->monitor, [this, raw] { DrainMonitor(*raw); });
      }
    }
    inbound_.push_back(std::move(in));
    raw->watch->Start();
    if (raw->monitor_watch) raw->monitor_watch->Start();
  }
  return Status::Ok();
}

std::string ZmqTransport::bound_endpoint(Link link) const {
  for (const auto& in : inbound_)
    if (in->link == link) return in->endpoint;
  return "";
}

void ZmqTransport::Drain(Inbound& in) {
  // ZMQ_FD is edge-like: read until ZeroMQ says nothing is left, then wait.
  for (int n = 0; n < opt_.max_messages_per_wakeup; ++n) {
    zmq::message_t msg;
    zmq::recv_result_t r;
    try {
      r = in.socket.recv(msg, zmq::recv_flags::dontwait);
    } catch (const zmq::error_t& e) {
      BS_LOG(kWarn, "fabric") << "recv on " << LinkName(in.link) << ": " << e.what();
      break;
    }
    if (!r) {
      in.watch->Rearm();
      return;
    }
    FrameMeta meta{in.link, -1};
    if (in.secured) {
      const char* user = msg.gets("User-Id");
      if (user && std::strncmp(user, "chassis:", 8) == 0) meta.authenticated_chassis = std::atoi(user + 8);
    }
    const auto* data = static_cast<const uint8_t*>(msg.data());
    uint32_t crc = 0;
    if (msg.size() >= kFrameTrailerBytes) std::memcpy(&crc, data + msg.size() - kFrameTrailerBytes, kFrameTrailerBytes);
    const std::span<const uint8_t> frame(data, msg.size() >= kFrameTrailerBytes ? msg.size() - kFrameTrailerBytes : 0);
    if (msg.size() < kFrameTrailerBytes || Crc32c(frame) != crc) {
      corrupt_frames_.Add();
      const uint64_t n = corrupt_frames_.get();
      if (LogOccurrence(n)) {
        BS_LOG(kWarn, "fabric") << self_.ToString() << ": dropped a corrupt frame of " << msg.size() << " bytes on "
                                << LinkName(in.link) << " (checksum) [" << n << " so far]";
      }
      continue;
    }
    if (receiver_) receiver_(meta, frame);
    if (!*alive_) return;
  }
  // More may be waiting: continue after other work on this loop.
  loop_.Post([this, &in, alive = alive_] {
    if (*alive) Drain(in);
  });
}

void ZmqTransport::DrainMonitor(Inbound& in) {
  for (;;) {
    // An event is two frames: 2 bytes of event id and 4 of value, then the peer's address.
    zmq::message_t event, address;
    if (!in.monitor.recv(event, zmq::recv_flags::dontwait)) break;
    if (event.more()) (void)in.monitor.recv(address, zmq::recv_flags::none);
    uint16_t id = 0;
    if (event.size() >= 2) std::memcpy(&id, event.data(), 2);
    refused_handshakes_.Add();
    const uint64_t n = refused_handshakes_.get();
    if (LogOccurrence(n)) {
      BS_LOG(kWarn, "fabric") << self_.ToString() << ": refused a "
                              << (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? "CURVE key it does not know"
                                  : id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "connection without CURVE (or a broken handshake)"
                                                                               : "handshake")
                              << " on " << LinkName(in.link) << " (" << address.to_string()
                              << "; the ZAP handler's log names the client) [" << n
                              << " so far; a peer with another password?]";
    }
  }
  in.monitor_watch->Rearm();
}

zmq::socket_t* ZmqTransport::Outbound(NodeId to, Link link) {
  auto key = std::make_tuple(to.chassis, to.slot, link);
  auto it = outbound_.find(key);
  if (it != outbound_.end()) return it->second.get();
  if (!*alive_) return nullptr;  // closed: nothing leaves any more
  std::optional<std::string> ep = book_.Endpoint(to, link);
  if (!ep || ep->empty()) return nullptr;
  auto s = std::make_unique<zmq::socket_t>(ContextFor(*ep), zmq::socket_type::push);
  s->set(zmq::sockopt::linger, 0);
  s->set(zmq::sockopt::sndhwm, opt_.send_hwm);
  // Do not queue frames for a peer that is not connected: our own
  // retransmits cover the gap, and a dead link does not hoard memory.
  s->set(zmq::sockopt::immediate, opt_.immediate ? 1 : 0);
  s->set(zmq::sockopt::reconnect_ivl, opt_.reconnect_ivl_ms);
  s->set(zmq::sockopt::reconnect_ivl_max, opt_.reconnect_ivl_max_ms);
  if (link != Link::kBackplane) {
    s->set(zmq::sockopt::tcp_maxrt, opt_.tcp_maxrt_ms);
    s->set(zmq::sockopt::connect_timeout, opt_.connect_timeout_ms);
  }
  if (NeedsCurve(curve_, *ep)) {
    std::optional<std::string> server_key = curve_.peer_public_key ? curve_.peer_public_key(to.chassis) : std::nullopt;
    if (!server_key) {
      BS_LOG(kError, "fabric") << "no public key for chassis " << int(to.chassis) << ": cannot open " << LinkName(link);
      return nullptr;
    }
    s->set(zmq::sockopt::curve_serverkey, *server_key);
    s->set(zmq::sockopt::curve_publickey, curve_.public_key);
    s->set(zmq::sockopt::curve_secretkey, curve_.secret_key);
  }
  try {
    s->connect(*ep);
  } catch (const zmq::error_t& e) {
    BS_LOG(kError, "fabric") << "connect " << *ep << ": " << e.what();
    return nullptr;
  }
  return (outbound_[key] = std::move(s)).get();
}

SendResult ZmqTransport::Send(NodeId to, Link link, std::span<const uint8_t> frame) {
  zmq::socket_t* s = Outbound(to, link);
  if (!s) return SendResult::kNoRoute;
  zmq::message_t msg(frame.size() + kFrameTrailerBytes);
  auto* out = static_cast<uint8_t*>(msg.data());
  std::memcpy(out, frame.data(), frame.size());
  WriteFrameTrailer(frame, out + frame.size());
  try {
    auto r = s->send(msg, zmq::send_flags::dontwait);
    return r ? SendResult::kSent : SendResult::kQueueFull;
  } catch (const zmq::error_t& e) {
    return SendResult::kClosed;
  }
}

void WriteFrameTrailer(std::span<const uint8_t> frame, uint8_t* out) {
  const uint32_t crc = Crc32c(frame);
  std::memcpy(out, &crc, kFrameTrailerBytes);
}

std::vector<uint8_t> WithFrameTrailer(std::span<const uint8_t> frame) {
  std::vector<uint8_t> v(frame.size() + kFrameTrailerBytes);
  std::memcpy(v.data(), frame.data(), frame.size());
  WriteFrameTrailer(frame, v.data() + frame.size());
  return v;
}

Result<CurveKeyPair> GenerateCurveKeyPair() {
  char pub[41] = {0}, sec[41] = {0};
  if (zmq_curve_keypair(pub, sec) != 0) return Unavailable("zmq_curve_keypair failed: libzmq without CURVE?");
  return CurveKeyPair{pub, sec};
}

}  // namespace bladesync
