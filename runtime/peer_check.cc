#include "runtime/peer_check.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <sodium.h>

#include <array>
#include <sstream>

#include "core/log.h"
#include "fabric/curve_keys.h"

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

std::string Hex(const unsigned char* p, size_t n) {
  std::string h(n * 2 + 1, '\0');
  sodium_bin2hex(h.data(), h.size(), p, n);
  h.pop_back();
  return h;
}

// The answer of `answerer` to `nonce` from `asker`: HMAC-SHA256 under a key
// from the X25519 secret their CURVE pairs share. Empty when a key is missing.
std::string Proof(const CheckKeys& k, uint8_t peer, uint8_t answerer, const std::string& nonce_hex) {
  const std::optional<std::string> peer_public = k.public_key ? k.public_key(peer) : std::nullopt;
  if (!peer_public || peer_public->size() != 40 || k.secret_key.size() != 40) return "";
  std::optional<std::array<uint8_t, 32>> secret = DecodeCurveKey(k.secret_key), theirs = DecodeCurveKey(*peer_public);
  if (!secret || !theirs) return "";
  std::array<uint8_t, 32>& sec = *secret;
  std::array<uint8_t, 32>& pub = *theirs;
  unsigned char shared[crypto_scalarmult_BYTES];
  if (crypto_scalarmult(shared, sec.data(), pub.data()) != 0) return "";
  unsigned char key[crypto_auth_hmacsha256_KEYBYTES];
  crypto_generichash(key, sizeof key, shared, sizeof shared, reinterpret_cast<const unsigned char*>("bladesync check"), 15);
  const std::string msg = nonce_hex + "/" + std::to_string(answerer);
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256(mac, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), key);
  sodium_memzero(shared, sizeof shared);
  sodium_memzero(sec.data(), sec.size());
  return Hex(mac, sizeof mac);
}
}  // namespace

struct PeerCheck::Impl {
  Impl(AsioEventLoop& l, CheckKeys k) : loop(l), keys(std::move(k)) {}
  // The answer is written by this loop (the manager's): a daemon that hangs
  // still completes TCP handshakes from the kernel's backlog, but says nothing.
  void Accept() {
    acceptor->async_accept([this, alive = alive](const boost::system::error_code& ec, tcp::socket s) {
      if (!*alive) return;
      if (!ec) Answer(std::make_shared<tcp::socket>(std::move(s)));
      Accept();
    });
  }
  void Answer(std::shared_ptr<tcp::socket> sock) {
    if (!keys.enabled) {
      asio::async_write(*sock, asio::buffer(kCheckGreeting), [sock](const boost::system::error_code&, size_t) {
        boost::system::error_code ignore;
        sock->close(ignore);
      });
      return;
    }
    // "bladesync check <chassis> <nonce>\n", read within a second, at most 128 bytes.
    auto buf = std::make_shared<asio::streambuf>(128);
    auto timer = std::make_shared<asio::steady_timer>(loop.context());
    timer->expires_after(std::chrono::seconds(1));
    timer->async_wait([sock](const boost::system::error_code& e) {
      if (e) return;
      boost::system::error_code ignore;
      sock->close(ignore);
    });
    asio::async_read_until(*sock, *buf, '\n', [this, sock, buf, timer, alive = alive](const boost::system::error_code& e,
                                                                                      size_t n) {
      timer->cancel();
      if (e || !*alive) return;
      std::istringstream in(std::string(asio::buffers_begin(buf->data()), asio::buffers_begin(buf->data()) + static_cast<long>(n)));
      std::string w1, w2, nonce;
      int from = -1;
      in >> w1 >> w2 >> from >> nonce;
      std::string proof;
      if (w1 == "bladesync" && w2 == "check" && from >= 0 && from <= 255 && nonce.size() == 64) {
        proof = Proof(keys, static_cast<uint8_t>(from), keys.self, nonce);
      }
      if (proof.empty()) {
        boost::system::error_code ignore;
        sock->close(ignore);
        return;
      }
      auto reply = std::make_shared<std::string>("bladesync check alive " + proof + "\n");
      asio::async_write(*sock, asio::buffer(*reply), [sock, reply](const boost::system::error_code&, size_t) {
        boost::system::error_code ignore;
        sock->close(ignore);
      });
    });
  }
  AsioEventLoop& loop;
  CheckKeys keys;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};

PeerCheck::PeerCheck(AsioEventLoop& loop, CheckKeys keys) : impl_(std::make_unique<Impl>(loop, std::move(keys))) {}
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

void PeerCheck::Probe(uint8_t peer, const std::string& host_port, Nanos timeout, std::function<void(bool)> done) {
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
  // Keyed, only an answer that proves the peer's key counts.
  std::string expect(kCheckGreeting);
  auto request = std::make_shared<std::string>();
  if (impl_->keys.enabled) {
    unsigned char nonce[32];
    randombytes_buf(nonce, sizeof nonce);
    const std::string nonce_hex = Hex(nonce, sizeof nonce);
    const std::string proof = Proof(impl_->keys, peer, peer, nonce_hex);
    if (proof.empty()) return finish(false);
    *request = "bladesync check " + std::to_string(impl_->keys.self) + " " + nonce_hex + "\n";
    expect = "bladesync check alive " + proof + "\n";
  }
  sock->async_connect(tcp::endpoint(addr, port), [sock, finish, request, expect](const boost::system::error_code& e) {
    if (e) return finish(false);
    auto read_answer = [sock, finish, expect] {
      auto buf = std::make_shared<asio::streambuf>(256);
      asio::async_read_until(*sock, *buf, '\n', [buf, finish, expect](const boost::system::error_code& e2, size_t n) {
        if (e2) return finish(false);
        const std::string line(asio::buffers_begin(buf->data()), asio::buffers_begin(buf->data()) + static_cast<long>(n));
        finish(line == expect);
      });
    };
    if (request->empty()) return read_answer();
    asio::async_write(*sock, asio::buffer(*request), [request, finish, read_answer](const boost::system::error_code& e2, size_t) {
      if (e2) return finish(false);
      read_answer();
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
