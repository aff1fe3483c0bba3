#include "runtime/control_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/log.h"

namespace bladesync {

namespace asio = boost::asio;
using Local = asio::local::stream_protocol;

namespace {

std::string ParentOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

// The socket's directory exists, and only its owner (us or root) can write it.
Status PrepareDirectory(const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return Unavailable("control socket directory " + dir + ": " + std::strerror(errno));
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Unavailable("cannot create the control socket directory " + dir + ": " + std::strerror(errno) +
                         " (run as root, or 'set control' to a path of yours)");
    }
    if (stat(dir.c_str(), &st) != 0) return Unavailable("control socket directory " + dir + ": " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return InvalidArgument("control socket directory " + dir + " is not a directory");
  // Reached without symlinks: one that another user controls could move the
  // socket (and our unlink at exit) anywhere.
  char real[PATH_MAX] = {0};
  if (!realpath(dir.c_str(), real) || dir != real) {
    return InvalidArgument("control socket directory " + dir + " is reached through a symlink (" +
                           (real[0] ? std::string(real) : "?") + "): give its real path");
  }
  if (st.st_uid != geteuid() && st.st_uid != 0) {
    return InvalidArgument("control socket directory " + dir + " belongs to another user (uid " +
                           std::to_string(st.st_uid) + "): anyone could replace the socket");
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    return InvalidArgument("control socket directory " + dir +
                           " is writable by others: anyone could replace the socket; use a directory of its own");
  }
  return Status::Ok();
}

}  // namespace

struct ControlServer::Impl {
  Impl(ControlServer& s) : server(s), acceptor(io) {}

  struct Session : std::enable_shared_from_this<Session> {
    Session(Impl& i, Local::socket sock) : impl(i), socket(std::move(sock)), timer(i.io) {}
    Impl& impl;
    Local::socket socket;
    asio::steady_timer timer;
    std::string request;
    std::string reply;
    bool answered = false, closed = false;
    char buf[1024];

    void Start() {
      timer.expires_after(std::chrono::nanoseconds(impl.server.limits_.read_timeout));
      timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec) return;
        self->impl.server.refused_.Add();
        self->Refuse("request not complete in time");
      });
      Read();
    }
    void Read() {
      socket.async_read_some(asio::buffer(buf), [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
        self->OnRead(ec, n);
      });
    }
    void OnRead(const boost::system::error_code& ec, size_t n) {
      if (answered || closed) return;
      request.append(buf, n);
      const size_t nl = request.find('\n');
      if ((nl == std::string::npos ? request.size() : nl) > impl.server.limits_.max_request_bytes) {
        impl.server.refused_.Add();
        return Answer(R"({"error":"command too long"})");
      }
      if (nl != std::string::npos) return Answer(impl.server.handler_(request.substr(0, nl)));
      if (ec) {  // the client shut down its side: what came is the command
        if (ec == asio::error::eof && !request.empty()) return Answer(impl.server.handler_(request));
        return Close();
      }
      Read();
    }
    void Answer(std::string r) {
      answered = true;
      reply = std::move(r);
      // A client that does not read its reply holds a slot no longer than
      // one that does not send its request.
      timer.expires_after(std::chrono::nanoseconds(impl.server.limits_.read_timeout));
      timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec) return;
        self->impl.server.refused_.Add();
        self->Close();
      });
      asio::async_write(socket, asio::buffer(reply), [self = shared_from_this()](const boost::system::error_code&, size_t) {
        self->Close();
      });
    }
    void Refuse(const char* why) {
      Answer(std::string(R"({"error":")") + why + "\"}");
    }
    void Close() {
      if (closed) return;
      closed = true;
      timer.cancel();
      boost::system::error_code ignored;
      socket.close(ignored);
      --impl.clients;
    }
  };

  void Accept() {
    acceptor.async_accept([this](const boost::system::error_code& ec, Local::socket sock) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) Admit(std::move(sock));
      Accept();
    });
  }

  void Admit(Local::socket sock) {
    ucred cred{};
    socklen_t len = sizeof cred;
    const bool known = getsockopt(sock.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
    if (!known || (cred.uid != 0 && cred.uid != geteuid())) {
      server.refused_.Add();
      if (LogOccurrence(server.refused_.get())) {
        BS_LOG(kWarn, "control") << server.path_ << ": refused a client of uid " << (known ? std::to_string(cred.uid) : "?")
                                 << " [" << server.refused_.get() << " refused so far]";
      }
      return;  // closed as it goes out of scope
    }
    if (clients >= server.limits_.max_clients) {
      server.refused_.Add();
      return;
    }
    ++clients;
    std::make_shared<Session>(*this, std::move(sock))->Start();
  }

  ControlServer& server;
  asio::io_context io;
  Local::acceptor acceptor;
  std::atomic<int> clients{0};  // read by clients() from other threads
  std::thread thread;
};

int ControlServer::clients() const { return impl_ ? impl_->clients.load() : 0; }

ControlServer::ControlServer(std::string path, Handler handler, ControlLimits limits)
    : path_(std::move(path)), handler_(std::move(handler)), limits_(limits) {}

ControlServer::~ControlServer() { Close(); }

Status ControlServer::Start() {
  if (path_.empty() || path_[0] != '/') return InvalidArgument("control socket '" + path_ + "' is not an absolute path");
  if (path_.size() >= sizeof(sockaddr_un{}.sun_path)) return InvalidArgument("control socket path too long: " + path_);
  if (Status s = PrepareDirectory(ParentOf(path_)); !s.ok()) return s;
  // A socket file left by a process that died; anything else is not ours to remove.
  struct stat st {};
  if (lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return InvalidArgument("control socket path " + path_ + " exists and is not a socket");
    if (ControlRequest(path_, "json get system ha status", 200).ok()) {
      return Unavailable("another bladesync process answers on " + path_);
    }
    unlink(path_.c_str());
  }
  impl_ = std::make_unique<Impl>(*this);
  boost::system::error_code ec;
  impl_->acceptor.open(Local(), ec);
  if (!ec) impl_->acceptor.bind(Local::endpoint(path_), ec);
  if (!ec && chmod(path_.c_str(), 0600) != 0) ec = boost::system::error_code(errno, boost::system::system_category());
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    impl_.reset();
    return Unavailable("cannot listen on the control socket " + path_ + ": " + ec.message());
  }
  impl_->Accept();
  impl_->thread = std::thread([impl = impl_.get()] {
    SetThreadName("control");
    impl->io.run();
  });
  return Status::Ok();
}

void ControlServer::Close() {
  if (!impl_) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
    impl->io.stop();
  });
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_.reset();
  unlink(path_.c_str());
}

Result<std::string> ControlRequest(const std::string& path, const std::string& command, int timeout_ms) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Unavailable(std::string("socket: ") + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return InvalidArgument("control socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno == EACCES || errno == EPERM) {
      return Unavailable("no permission to use " + path + " (only root and the daemon's user may)");
    }
    return Unavailable("no bladesync process answers on " + path + " (is it running?): " + std::strerror(errno));
  }
  // The other end must be root's or ours: not a look-alike another user put there.
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || (cred.uid != 0 && cred.uid != geteuid())) {
    return Unavailable("the process on " + path + " runs as uid " + std::to_string(cred.uid) +
                       ", neither root nor you: not a bladesync daemon to trust");
  }
  const std::string line = command + "\n";
  if (send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    return Unavailable("control socket " + path + ": " + std::strerror(errno));
  }
  std::string reply;
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int r = poll(&p, 1, timeout_ms);
    if (r == 0) {
      return Unavailable("no bladesync process answered on " + path + " within " + std::to_string(timeout_ms) +
                         " ms (is it running?)");
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      return Unavailable(std::string("poll: ") + std::strerror(errno));
    }
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unavailable("control socket " + path + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  if (reply.empty()) return Unavailable("the bladesync process on " + path + " closed without an answer (refused?)");
  return reply;
}

}  // namespace bladesync
