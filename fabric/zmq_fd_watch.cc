#include "fabric/zmq_fd_watch.h"

#include "core/fd_watch.h"

namespace bladesync {

struct ZmqFdWatch::Impl {
  Impl(AsioEventLoop& l, zmq::socket_t& s, std::function<void()> f)
      : loop(l), on_ready(std::move(f)), fd(l, s.get(zmq::sockopt::fd), [this] { on_ready(); }) {}
  AsioEventLoop& loop;
  std::function<void()> on_ready;
  FdWatch fd;
};

ZmqFdWatch::ZmqFdWatch(AsioEventLoop& loop, zmq::socket_t& socket, std::function<void()> on_ready)
    : impl_(std::make_unique<Impl>(loop, socket, std::move(on_ready))) {}

ZmqFdWatch::~ZmqFdWatch() { Close(); }

void ZmqFdWatch::Start() {
  Rearm();
  Impl* impl = impl_.get();
  impl->loop.Post([impl, alive = impl->fd.alive()] {
    if (*alive) impl->on_ready();
  });
}

void ZmqFdWatch::Rearm() { impl_->fd.Wait(); }

void ZmqFdWatch::Close() {
  if (impl_) impl_->fd.Close();
}

}  // namespace bladesync
