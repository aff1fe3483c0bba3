// ZapHandler on real ZeroMQ sockets: a CURVE client whose public key is a
// chassis's is admitted and its frames carry "chassis:<n>"; one with any
// other key is refused, counted, and none of its frames arrive.
#include <gtest/gtest.h>

#include <string>
#include <zmq.hpp>

#include "core/asio_event_loop.h"
#include "fabric/zap_handler.h"

namespace bladesync {
namespace {

struct Keys {
  std::string pub, secret;
};
Keys NewKeys() {
  char pub[41], secret[41];
  EXPECT_EQ(zmq_curve_keypair(pub, secret), 0);
  return {pub, secret};
}

class ZapHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    zap_ = std::make_unique<ZapHandler>(ctx_, loop_, std::map<std::string, uint8_t>{{chassis2_.pub, 2}});
    ASSERT_TRUE(zap_->Start().ok());
    server_.set(zmq::sockopt::curve_server, 1);
    server_.set(zmq::sockopt::curve_secretkey, server_keys_.secret);
    server_.set(zmq::sockopt::linger, 0);
    server_.bind("tcp://127.0.0.1:*");
    endpoint_ = server_.get(zmq::sockopt::last_endpoint);
  }
  void TearDown() override {
    server_.close();
    zap_->Close();
  }
  // A client with `keys` sends `n` frames; the loop (the handler's) runs meanwhile.
  void Send(const Keys& keys, int n) {
    zmq::socket_t c(ctx_.get(), zmq::socket_type::push);
    c.set(zmq::sockopt::curve_serverkey, server_keys_.pub);
    c.set(zmq::sockopt::curve_publickey, keys.pub);
    c.set(zmq::sockopt::curve_secretkey, keys.secret);
    c.set(zmq::sockopt::linger, 0);
    c.connect(endpoint_);
    for (int i = 0; i < n; ++i) (void)c.send(zmq::str_buffer("hello"), zmq::send_flags::dontwait);
    loop_.RunFor(milliseconds(300));
  }
  // Frames the server holds now, with the user id each carries.
  std::vector<std::string> Received() {
    std::vector<std::string> users;
    zmq::message_t m;
    while (server_.recv(m, zmq::recv_flags::dontwait)) users.push_back(m.gets("User-Id"));
    return users;
  }

  FabricContext ctx_{1};
  AsioEventLoop loop_;
  Keys server_keys_ = NewKeys(), chassis2_ = NewKeys(), stranger_ = NewKeys();
  std::unique_ptr<ZapHandler> zap_;
  zmq::socket_t server_{ctx_.get(), zmq::socket_type::pull};
  std::string endpoint_;
};

TEST_F(ZapHandlerTest, AKnownKeyIsAdmittedAsItsChassis) {
  Send(chassis2_, 3);
  const std::vector<std::string> users = Received();
  ASSERT_EQ(users.size(), 3u);
  for (const std::string& u : users) EXPECT_EQ(u, "chassis:2");
  EXPECT_EQ(zap_->accepted(), 1u);
  EXPECT_EQ(zap_->refused(), 0u);
}

TEST_F(ZapHandlerTest, AnUnknownKeyIsRefusedAndCounted) {
  Send(stranger_, 3);
  EXPECT_TRUE(Received().empty());
  EXPECT_GE(zap_->refused(), 1u);
  EXPECT_EQ(zap_->accepted(), 0u);
  // The server still admits the chassis afterwards.
  Send(chassis2_, 1);
  EXPECT_EQ(Received().size(), 1u);
}

}  // namespace
}  // namespace bladesync
