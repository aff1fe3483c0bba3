#include "fabric/zmq_fd_watch.h"

#include <boost/asio/posix/stream_descriptor.hpp>

namespace bladesync {

struct ZmqFdWatch::Impl {
  Impl(AsioEventLoop& l, zmq::socket_t& s, std::function<void()> f)
      : loop(l), fd(l.context()), on_ready(std::move(f)) {
    fd.assign(s.get(zmq::sockopt::fd));
  }
  ~Impl() { fd.release(); }  // the descriptor belongs to ZeroMQ
  AsioEventLoop& loop;
  boost::asio::posix::stream_descriptor fd;
  std::function<void()> on_ready;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};

ZmqFdWatch::ZmqFdWatch(AsioEventLoop& loop, zmq::socket_t& socket, std::function<void()> on_ready)
    : impl_(std::make_unique<Impl>(loop, socket, std::move(on_ready))) {}

ZmqFdWatch::~ZmqFdWatch() { Close(); }

void ZmqFdWatch::Start() {
  Rearm();
  Impl* impl = impl_.get();
  impl->loop.Post([impl, alive = impl->alive] {
    if (*alive) impl->on_ready();
  });
}

void ZmqFdWatch::Rearm() {
  Impl* impl = impl_.get();
  impl->fd.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [impl, alive = impl->alive](const boost::system::error_code& ec) {
                        if (!ec && *alive) impl->on_ready();
                      });
}

void ZmqFdWatch::Close() {
  if (!impl_ || !*impl_->alive) return;
  *impl_->alive = false;
  boost::system::error_code ec;
  impl_->fd.cancel(ec);
}

}  // namespace bladesync
