// AsioEventLoop: the production EventLoop on a Boost.Asio io_context.
//
// It also owns the one real clock of the program. ZeroMQ sockets join the
// same loop through their file descriptors (see fabric/zmq_transport.h).
//
//   AsioEventLoop loop;
//   loop.Post([] { ... });
//   loop.Run();            // until Stop() is called from any thread
#pragma once

#include <boost/asio/io_context.hpp>

#include "core/event_loop.h"

namespace bladesync {

class AsioEventLoop : public EventLoop {
 public:
  AsioEventLoop();
  ~AsioEventLoop() override;

  Nanos Now() const override;
  Nanos CoarseNow() const override;
  Nanos WallNow() const override;
  std::unique_ptr<Timer> CreateTimer(std::function<void()> callback) override;
  void Post(std::function<void()> fn) override;

  void Run();
  // Runs handlers until `deadline` of real time has passed or Stop().
  void RunFor(Nanos duration);
  void Stop();  // safe from any thread
  boost::asio::io_context& context() { return io_; }

 private:
  boost::asio::io_context io_;
};

}  // namespace bladesync
