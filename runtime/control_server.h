// ControlServer: the local control socket the operator CLI talks to.
//
// A ZeroMQ REP socket on the manager's loop (its fd joins the io_context).
// A request is one CLI command line ("get system ha status"); the reply is
// JSON. Unknown commands get {"error": "..."}.
//
//   ControlServer cs(ctx, loop, "tcp://127.0.0.1:27199", [&](const std::string& cmd) { return Handle(cmd); });
//   cs.Start();
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <zmq.hpp>

#include "core/asio_event_loop.h"
#include "core/status.h"
#include "fabric/zmq_fd_watch.h"

namespace bladesync {

class ControlServer {
 public:
  using Handler = std::function<std::string(const std::string& command)>;
  ControlServer(zmq::context_t& ctx, AsioEventLoop& loop, std::string endpoint, Handler handler);
  ~ControlServer();
  Status Start();
  void Close();
  std::string bound_endpoint() const { return bound_; }

 private:
  void Drain();
  zmq::context_t& ctx_;
  AsioEventLoop& loop_;
  std::string endpoint_;
  std::string bound_;
  Handler handler_;
  zmq::socket_t socket_;
  std::unique_ptr<ZmqFdWatch> watch_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Client side: sends one command, waits up to `timeout` for the reply.
Result<std::string> ControlRequest(const std::string& endpoint, const std::string& command, int timeout_ms);

}  // namespace bladesync
