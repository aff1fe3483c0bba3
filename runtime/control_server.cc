#include "runtime/control_server.h"

#include "core/log.h"

namespace bladesync {

ControlServer::ControlServer(zmq::context_t& ctx, AsioEventLoop& loop, std::string endpoint, Handler handler)
    : ctx_(ctx), loop_(loop), endpoint_(std::move(endpoint)), handler_(std::move(handler)), socket_(ctx, zmq::socket_type::rep) {}

ControlServer::~ControlServer() { Close(); }

Status ControlServer::Start() {
  socket_.set(zmq::sockopt::linger, 0);
  try {
    socket_.bind(endpoint_);
  } catch (const zmq::error_t& e) {
    return Unavailable("cannot bind control socket " + endpoint_ + ": " + e.what());
  }
  bound_ = socket_.get(zmq::sockopt::last_endpoint);
  watch_ = std::make_unique<ZmqFdWatch>(loop_, socket_, [this] { Drain(); });
  watch_->Start();
  return Status::Ok();
}

void ControlServer::Close() {
  if (!*alive_) return;
  *alive_ = false;
  watch_.reset();
  socket_.close();
}

void ControlServer::Drain() {
  while (*alive_) {
    zmq::message_t req;
    if (!socket_.recv(req, zmq::recv_flags::dontwait)) break;
    while (req.more()) {  // only the first part is the command
      zmq::message_t extra;
      (void)socket_.recv(extra, zmq::recv_flags::none);
      if (!extra.more()) break;
    }
    std::string reply;
    if (req.size() > 4096) {
      reply = R"({"error":"command too long"})";
    } else {
      reply = handler_(req.to_string());
    }
    socket_.send(zmq::buffer(reply), zmq::send_flags::none);
  }
  if (*alive_) watch_->Rearm();
}

Result<std::string> ControlRequest(const std::string& endpoint, const std::string& command, int timeout_ms) {
  zmq::context_t ctx(1);
  zmq::socket_t s(ctx, zmq::socket_type::req);
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::rcvtimeo, timeout_ms);
  s.set(zmq::sockopt::sndtimeo, timeout_ms);
  s.set(zmq::sockopt::immediate, 1);
  try {
    s.connect(endpoint);
    if (!s.send(zmq::buffer(command), zmq::send_flags::none)) {
      return Unavailable("no bladesync process answers on " + endpoint + " (is it running?)");
    }
    zmq::message_t reply;
    if (!s.recv(reply, zmq::recv_flags::none)) {
      return Unavailable("no bladesync process answered on " + endpoint + " within " + std::to_string(timeout_ms) +
                         " ms (is it running?)");
    }
    return reply.to_string();
  } catch (const zmq::error_t& e) {
    return Unavailable("control socket " + endpoint + ": " + e.what());
  }
}

}  // namespace bladesync
