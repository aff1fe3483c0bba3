// ZmqFdWatch: a ZeroMQ socket's file descriptor on a Boost.Asio loop.
//
// ZMQ_FD is edge-like: it signals that the socket's state may have changed,
// not that a message is there. The callback must read until ZeroMQ says
// EAGAIN and then call Rearm() to wait for the next edge. Messages can be
// queued before the first edge, so Start() also runs the callback once.
//
//   ZmqFdWatch watch(loop, socket, [&] { Drain(); watch.Rearm(); });
//   watch.Start();
#pragma once

#include <functional>
#include <memory>
#include <zmq.hpp>

#include "core/asio_event_loop.h"

namespace bladesync {

class ZmqFdWatch {
 public:
  ZmqFdWatch(AsioEventLoop& loop, zmq::socket_t& socket, std::function<void()> on_ready);
  ~ZmqFdWatch();
  void Start();
  void Rearm();
  // Stops watching; ZeroMQ keeps (and closes) its own descriptor.
  void Close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bladesync
