#include "runtime/peer_check.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "core/log.h"

namespace bladesync {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr std::string_view kCheckGreeting = "bladesync check alive\n";

bool Split(const std::string& hp, std::string* host, unsigned short* port) {
  const auto colon = hp.rfind(':');
  if (colon == std::string::npos) return false;
  *host = hp.substr(0, colon);
  try {
    *port = static_cast<unsigned short>(std::stoi(hp.substr(colon + 1)));
  } catch (...) {
    return false;
  }
  return true;
}
}  // namespace

struct PeerCheck::Impl {
  explicit Impl(AsioEventLoop& l) : loop(l) {}
  // The answer is written by this loop (the manager's): a daemon that hangs
  // still completes TCP handshakes from the kernel's backlog, but says nothing.
  void Accept() {
    acceptor->async_accept([this, alive = alive](const boost::system::error_code& ec, tcp::socket s) {
      if (!*alive) return;
      if (!ec) {
        auto sock = std::make_shared<tcp::socket>(std::move(s));
        asio::async_write(*sock, asio::buffer(kCheckGreeting), [sock](const boost::system::error_code&, size_t) {
          boost::system::error_code ignore;
          sock->close(ignore);
        });
      }
      Accept();
    });
  }
  AsioEventLoop& loop;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};

PeerCheck::PeerCheck(AsioEventLoop& loop) : impl_(std::make_unique<Impl>(loop)) {}
PeerCheck::~PeerCheck() { Close(); }

Status PeerCheck::Listen(const std::string& host_port) {
  std::string host;
  unsigned short port = 0;
  if (!Split(host_port, &host, &port)) return InvalidArgument("check address '" + host_port + "' is not host:port");
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  if (ec) return InvalidArgument("check address '" + host_port + "': " + ec.message());
  auto acc = std::make_unique<tcp::acceptor>(impl_->loop.context());
  acc->open(addr.is_v4() ? tcp::v4() : tcp::v6(), ec);
  if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc->bind(tcp::endpoint(addr, port), ec);
  if (!ec) acc->listen(16, ec);
  if (ec) return Unavailable("cannot listen on check address " + host_port + ": " + ec.message());
  impl_->acceptor = std::move(acc);
  impl_->Accept();
  return Status::Ok();
}

void PeerCheck::Probe(const std::string& host_port, Nanos timeout, std::function<void(bool)> done) {
  std::string host;
  unsigned short port = 0;
  boost::system::error_code ec;
  if (!Split(host_port, &host, &port)) return done(false);
  const auto addr = asio::ip::make_address(host, ec);
  if (ec) return done(false);
  auto sock = std::make_shared<tcp::socket>(impl_->loop.context());
  auto timer = std::make_shared<asio::steady_timer>(impl_->loop.context());
  auto finished = std::make_shared<bool>(false);
  auto cb = std::make_shared<std::function<void(bool)>>(std::move(done));
  timer->expires_after(timeout);
  timer->async_wait([sock, finished, cb](const boost::system::error_code& e) {
    if (e || *finished) return;
    *finished = true;
    boost::system::error_code ignore;
    sock->close(ignore);
    (*cb)(false);
  });
  auto finish = [sock, timer, finished, cb](bool alive) {
    if (*finished) return;
    *finished = true;
    timer->cancel();
    boost::system::error_code ignore;
    sock->close(ignore);
    (*cb)(alive);
  };
  // Alive only when the peer's loop answers; a connect alone is the kernel's.
  sock->async_connect(tcp::endpoint(addr, port), [sock, finish](const boost::system::error_code& e) {
    if (e) return finish(false);
    auto buf = std::make_shared<asio::streambuf>(64);
    asio::async_read_until(*sock, *buf, '\n', [buf, finish](const boost::system::error_code& e2, size_t n) {
      if (e2) return finish(false);
      const std::string line(asio::buffers_begin(buf->data()), asio::buffers_begin(buf->data()) + static_cast<long>(n));
      finish(line == kCheckGreeting);
    });
  });
}

void PeerCheck::Close() {
  if (!impl_ || !*impl_->alive) return;
  *impl_->alive = false;
  if (impl_->acceptor) {
    boost::system::error_code ignore;
    impl_->acceptor->close(ignore);
  }
}

}  // namespace bladesync
