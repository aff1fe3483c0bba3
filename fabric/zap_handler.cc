#include "fabric/zap_handler.h"

#include <vector>

#include "core/log.h"

namespace bladesync {

ZapHandler::ZapHandler(FabricContext& ctx, AsioEventLoop& loop, std::map<std::string, uint8_t> keys)
    : ctx_(ctx.get()), loop_(loop), keys_(std::move(keys)), socket_(ctx.get(), zmq::socket_type::rep) {}

ZapHandler::~ZapHandler() { Close(); }

Status ZapHandler::Start() {
  socket_.set(zmq::sockopt::linger, 0);
  try {
    socket_.bind("inproc://zeromq.zap.01");
  } catch (const zmq::error_t& e) {
    return Unavailable(std::string("cannot bind the ZAP handler: ") + e.what());
  }
  watch_ = std::make_unique<ZmqFdWatch>(loop_, socket_, [this] { Drain(); });
  watch_->Start();
  return Status::Ok();
}

void ZapHandler::Close() {
  if (!*alive_) return;
  *alive_ = false;
  watch_.reset();
  socket_.close();
}

void ZapHandler::Drain() {
  while (true) {
    std::vector<zmq::message_t> parts;
    zmq::message_t part;
    if (!socket_.recv(part, zmq::recv_flags::dontwait)) break;
    parts.push_back(std::move(part));
    while (parts.back().more()) {
      zmq::message_t next;
      (void)socket_.recv(next, zmq::recv_flags::none);
      parts.push_back(std::move(next));
    }
    // ZAP request: version, request id, domain, address, identity, mechanism, credentials...
    std::string status = "400", text = "unknown key", user;
    if (parts.size() >= 7 && parts[0].to_string() == "1.0" && parts[5].to_string() == "CURVE" &&
        parts[6].size() == 32) {
      char z85[41] = {0};
      zmq_z85_encode(z85, static_cast<const uint8_t*>(parts[6].data()), 32);
      auto it = keys_.find(z85);
      if (it != keys_.end()) {
        status = "200";
        text = "OK";
        user = "chassis:" + std::to_string(it->second);
        accepted_.Add();
      } else {
        refused_.Add();
        if (LogOccurrence(refused_.get())) {
          BS_LOG(kWarn, "fabric") << "refused CURVE client with unknown key " << z85 << " from "
                                  << parts[3].to_string() << " [" << refused_.get() << " refused so far]";
        }
      }
    } else {
      refused_.Add();
    }
    const std::string request_id = parts.size() > 1 ? parts[1].to_string() : "";
    socket_.send(zmq::buffer(std::string("1.0")), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(request_id), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(status), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(text), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(user), zmq::send_flags::sndmore);
    socket_.send(zmq::const_buffer("", 0), zmq::send_flags::none);
  }
  watch_->Rearm();
}

}  // namespace bladesync
