// ZapHandler: admits CURVE clients by public key (ZeroMQ's ZAP protocol).
//
// One per ZeroMQ context: it binds inproc://zeromq.zap.01 and answers each
// authentication request of the context's CURVE servers. A known key gets
// status 200 and the user id "chassis:<n>", which travels with every frame
// from that peer; an unknown key gets 400 and is counted and logged.
//
//   ZapHandler zap(ctx, loop, {{"<z85 public key>", 2}});
//   zap.Start();
#pragma once

#include <map>
#include <string>
#include <zmq.hpp>

#include "core/asio_event_loop.h"
#include "core/counter.h"
#include "core/status.h"
#include "fabric/fabric_context.h"
#include "fabric/zmq_fd_watch.h"

namespace bladesync {

class ZapHandler {
 public:
  // keys: Z85 public key -> chassis id.
  ZapHandler(FabricContext& ctx, AsioEventLoop& loop, std::map<std::string, uint8_t> keys);
  ~ZapHandler();
  Status Start();
  void Close();
  uint64_t accepted() const { return accepted_.get(); }
  uint64_t refused() const { return refused_.get(); }

 private:
  void Drain();

  zmq::context_t& ctx_;
  AsioEventLoop& loop_;
  std::map<std::string, uint8_t> keys_;
  zmq::socket_t socket_;
  std::unique_ptr<ZmqFdWatch> watch_;
  Counter accepted_, refused_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace bladesync
