// ZmqTransport: the production Transport on ZeroMQ, driven by Boost.Asio.
//
// Each node binds one PULL socket per link it serves (M1, M2, backplane) and
// opens PUSH sockets to peers on demand. The sockets' file descriptors join
// the node's io_context, so receiving costs no thread and no busy polling.
// Every frame carries a CRC32C trailer (core/crc32c.h): a frame corrupted in
// transit is dropped and counted here, never handed on. Inbound sockets cap
// a message at max_message_bytes, so an oversized one costs nothing.
// With CURVE on, fabric sockets (M1/M2) encrypt and authenticate: the PULL
// side is a CURVE server whose ZAP handler (fabric/zap_handler.h) admits only
// known chassis keys, and each frame arrives tagged with the chassis its key
// proves.
//
//   FabricContext ctx;
//   ZmqTransport t(ctx, loop, NodeId{1, 2}, book, curve);
//   if (Status s = t.Bind(); !s.ok()) ...
//   t.SetReceiver(...);  t.Send(NodeId{2, 2}, Link::kM1, bytes);
#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "core/asio_event_loop.h"
#include "core/counter.h"
#include "core/status.h"
#include "fabric/transport.h"
#include "fabric/fabric_context.h"
#include "fabric/zmq_fd_watch.h"

namespace bladesync {

// Where each node listens on each link.
class AddressBook {
 public:
  virtual ~AddressBook() = default;
  virtual std::optional<std::string> Endpoint(NodeId node, Link link) const = 0;
};

// Bytes each frame carries after its FlatBuffer: the CRC32C of what precedes.
inline constexpr size_t kFrameTrailerBytes = 4;
// Writes the trailer of `frame` to out[0, kFrameTrailerBytes).
void WriteFrameTrailer(std::span<const uint8_t> frame, uint8_t* out);
// `frame` as it goes on the wire (tools and tests that speak ZeroMQ directly).
std::vector<uint8_t> WithFrameTrailer(std::span<const uint8_t> frame);

struct CurveKeys {
  bool enabled = false;
  std::string public_key;   // Z85, 40 chars: this chassis
  std::string secret_key;
  // Public key of a chassis, for connecting to it as a CURVE client.
  std::function<std::optional<std::string>(uint8_t chassis)> peer_public_key;
};

struct ZmqOptions {
  int send_hwm = 256;                  // frames queued per peer link before EAGAIN
  int recv_hwm = 1024;
  // An outbound connection whose peer vanished (a crashed host, a
  // partition) is closed by the kernel once our keep-alives and heartbeats
  // stay unacknowledged this long (TCP_USER_TIMEOUT), and a reconnect waits
  // at most connect_timeout_ms per try rather than the kernel's SYN backoff:
  // ZeroMQ's own 200 ms pings were about 40% of an idle chassis's packets.
  // Detection is the streams' and heartbeats' job.
  int tcp_maxrt_ms = 2000;
  int connect_timeout_ms = 1000;
  // Inbound, ZeroMQ's pings stay, rarely: a peer that finished its
  // handshake and went silent (or never answers) is closed, so such
  // connections cannot pile up and hold fds.
  int inbound_heartbeat_ivl_ms = 5000;
  int inbound_heartbeat_timeout_ms = 15000;
  // A connection that has not finished its handshake (ZMTP greeting, CURVE)
  // in this time is closed: idle connections cannot pile up and hold fds.
  int handshake_ivl_ms = 2000;
  // Connections waiting to be accepted (ZeroMQ's default is 100): under a
  // flood a genuine peer's connect is not dropped for a full queue.
  int backlog = 1024;
  // A restarted peer is reached within 10-100 ms (ZeroMQ backs off from the
  // first to the second): its resync waits on this. At 100/1000 ms a peer
  // back after a second's outage waited up to another second.
  int reconnect_ivl_ms = 10;
  int reconnect_ivl_max_ms = 100;
  int max_messages_per_wakeup = 256;   // fairness between sockets on one loop
  // Refuse frames while a peer is not connected (sync streams resend them
  // themselves); a sender without its own resends queues instead.
  bool immediate = true;
  // ZMQ_MAXMSGSIZE on every inbound socket: ZeroMQ drops the connection of a
  // peer that sends more (the frame limits above it are smaller still).
  int64_t max_message_bytes = (4 << 20) + kFrameTrailerBytes;
};

class ZmqTransport : public Transport {
 public:
  // `inproc`: the context of the nodes this one reaches in-process (inproc://
  // endpoints work only within one context), when `ctx` is another: a
  // manager's or beat's own context beside its blades' (default: ctx).
  ZmqTransport(FabricContext& ctx, AsioEventLoop& loop, NodeId self, const AddressBook& book, CurveKeys curve,
               ZmqOptions options = {}, FabricContext* inproc = nullptr);
  ~ZmqTransport() override;

  // Binds the PULL sockets for every link the address book gives this node.
  Status Bind();
  SendResult Send(NodeId to, Link link, std::span<const uint8_t> frame) override;
  void SetReceiver(Receiver receiver) override { receiver_ = std::move(receiver); }
  void Prepare(NodeId to, Link link) override { Outbound(to, link); }
  // Closes every socket (LINGER 0); call on the loop thread before the context goes.
  void Close();
  // The endpoint actually bound (port resolved when the book said port 0).
  std::string bound_endpoint(Link link) const;
  // Frames dropped because their checksum did not match (corrupt in transit).
  uint64_t corrupt_frames() const { return corrupt_frames_.get(); }
  // CURVE handshakes refused on this node's inbound sockets: no CURVE, an
  // unknown key (another password), a broken handshake. Logged 1st, 2nd, 4th...
  uint64_t refused_handshakes() const { return refused_handshakes_.get(); }

 private:
  struct Inbound;
  void Drain(Inbound& in);
  void DrainMonitor(Inbound& in);
  zmq::socket_t* Outbound(NodeId to, Link link);

  zmq::context_t& ctx_;
  zmq::context_t& inproc_ctx_;
  // The context a socket on `endpoint` belongs to.
  zmq::context_t& ContextFor(const std::string& endpoint) {
    return endpoint.rfind("inproc://", 0) == 0 ? inproc_ctx_ : ctx_;
  }
  AsioEventLoop& loop_;
  NodeId self_;
  const AddressBook& book_;
  CurveKeys curve_;
  ZmqOptions opt_;
  Receiver receiver_;
  Counter corrupt_frames_;
  Counter refused_handshakes_;
  std::vector<std::unique_ptr<Inbound>> inbound_;
  std::map<std::tuple<uint8_t, uint8_t, Link>, std::unique_ptr<zmq::socket_t>> outbound_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Z85 CURVE key pair (zmq_curve_keypair).
struct CurveKeyPair {
  std::string public_key;
  std::string secret_key;
};
Result<CurveKeyPair> GenerateCurveKeyPair();

}  // namespace bladesync
