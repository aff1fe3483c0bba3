// FdWatch: a file descriptor someone else owns (a ZeroMQ socket's, a netlink
// socket's) waited on by a Boost.Asio loop. Each Wait() arms one callback for
// the next time the descriptor is readable; after Close() or destruction no
// callback runs, even one already queued.
//
//   FdWatch w(loop, fd, [&] { Drain(); w.Wait(); });
//   w.Wait();
#pragma once

#include <functional>
#include <memory>

#include "core/asio_event_loop.h"

namespace bladesync {

class FdWatch {
 public:
  FdWatch(AsioEventLoop& loop, int fd, std::function<void()> on_ready);
  ~FdWatch();
  FdWatch(const FdWatch&) = delete;
  FdWatch& operator=(const FdWatch&) = delete;

  void Wait();  // after Close(): nothing
  // Until the next Wait(), the loop does not wake for this descriptor at all,
  // and a Wait() pending ends without its callback; one already answered
  // and queued still runs. (Not an armed flag: with two Wait()s in flight
  // it would drop the second's answer, a lost wakeup.)
  // Without it every arrival wakes the loop even with no Wait() armed: Asio
  // keeps a descriptor in epoll, edge-triggered, for as long as it has it
  // (a netlink event socket in a burst: one wake per event).
  void Pause();
  void Close();
  // A guard that turns false on Close(): for work posted to the loop.
  std::shared_ptr<const bool> alive() const { return alive_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace bladesync
