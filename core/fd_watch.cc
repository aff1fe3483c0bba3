#include "core/fd_watch.h"

#include <boost/asio/posix/stream_descriptor.hpp>

namespace bladesync {

struct FdWatch::Impl {
  Impl(AsioEventLoop& loop, int fd, std::function<void()> f) : sd(loop.context()), fd(fd), on_ready(std::move(f)) {
    sd.assign(fd);
  }
  ~Impl() {
    if (sd.is_open()) sd.release();  // the descriptor belongs to its socket
  }
  boost::asio::posix::stream_descriptor sd;
  int fd;
  std::function<void()> on_ready;
};

FdWatch::FdWatch(AsioEventLoop& loop, int fd, std::function<void()> on_ready)
    : impl_(std::make_unique<Impl>(loop, fd, std::move(on_ready))) {}

FdWatch::~FdWatch() { Close(); }

void FdWatch::Wait() {
  if (!*alive_) return;
  Impl* impl = impl_.get();
  if (!impl->sd.is_open()) impl->sd.assign(impl->fd);
  impl->sd.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [impl, alive = alive_](const boost::system::error_code& ec) {
                        if (!ec && *alive) impl->on_ready();
                      });
}

void FdWatch::Pause() {
  // release() takes it out of epoll; a Wait() pending ends as aborted.
  if (*alive_ && impl_->sd.is_open()) impl_->sd.release();
}

void FdWatch::Close() {
  if (!*alive_) return;
  *alive_ = false;
  boost::system::error_code ec;
  if (impl_->sd.is_open()) impl_->sd.cancel(ec);
}

}  // namespace bladesync
