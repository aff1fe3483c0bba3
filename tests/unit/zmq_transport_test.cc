// ZmqTransport on real ZeroMQ sockets over loopback: frames arrive whole
// and in order, a frame corrupted in transit is dropped and counted, and an
// oversized message costs the receiver nothing.
#include <gtest/gtest.h>

#include <thread>

#include "core/crc32c.h"
#include "fabric/zmq_transport.h"

namespace bladesync {
namespace {

// Node (1, 1) listens on an ephemeral port; the test reads it back.
class OneEndpoint : public AddressBook {
 public:
  std::optional<std::string> Endpoint(NodeId node, Link link) const override {
    if (link != Link::kM1 || node != NodeId{1, 1}) return std::nullopt;
    return endpoint;
  }
  std::string endpoint = "tcp://127.0.0.1:*";
};

class ZmqTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rx_ = std::make_unique<ZmqTransport>(ctx_, loop_, NodeId{1, 1}, book_, CurveKeys{});
    ASSERT_TRUE(rx_->Bind().ok());
    book_.endpoint = rx_->bound_endpoint(Link::kM1);
    rx_->SetReceiver([this](const FrameMeta& m, std::span<const uint8_t> f) {
      EXPECT_EQ(m.link, Link::kM1);
      got_.emplace_back(f.begin(), f.end());
    });
  }
  void TearDown() override { rx_->Close(); }
  // Runs the loop until `n` frames arrived or 2 s passed.
  void WaitFor(size_t n) {
    for (int i = 0; i < 200 && got_.size() < n; ++i) loop_.RunFor(milliseconds(10));
  }
  // A raw ZeroMQ peer: whatever bytes it is given, no trailer added.
  void SendRaw(const std::vector<uint8_t>& bytes) {
    zmq::socket_t s(ctx_.get(), zmq::socket_type::push);
    s.set(zmq::sockopt::linger, 500);
    s.connect(book_.endpoint);
    s.send(zmq::const_buffer(bytes.data(), bytes.size()), zmq::send_flags::none);
    loop_.RunFor(milliseconds(100));
  }

  FabricContext ctx_{1};
  AsioEventLoop loop_;
  OneEndpoint book_;
  std::unique_ptr<ZmqTransport> rx_;
  std::vector<std::vector<uint8_t>> got_;
};

TEST_F(ZmqTransportTest, FramesArriveWholeAndInOrder) {
  ZmqOptions o;
  o.immediate = false;  // queue until connected: this test has no resends of its own
  ZmqTransport tx(ctx_, loop_, NodeId{2, 1}, book_, CurveKeys{}, o);
  for (uint8_t i = 0; i < 50; ++i) {
    std::vector<uint8_t> f(100 + i, i);
    ASSERT_EQ(tx.Send(NodeId{1, 1}, Link::kM1, f), SendResult::kSent);
  }
  WaitFor(50);
  ASSERT_EQ(got_.size(), 50u);
  for (uint8_t i = 0; i < 50; ++i) EXPECT_EQ(got_[i], std::vector<uint8_t>(100 + i, i));
  EXPECT_EQ(rx_->corrupt_frames(), 0u);
  tx.Close();
}

TEST_F(ZmqTransportTest, CorruptFramesAreDroppedAndCounted) {
  std::vector<uint8_t> good = WithFrameTrailer(std::vector<uint8_t>(200, 7));
  std::vector<uint8_t> flipped = good;
  flipped[37] ^= 0x10;  // one bit, anywhere in the frame
  SendRaw(flipped);
  SendRaw({1, 2});      // shorter than the trailer
  SendRaw(good);
  WaitFor(1);
  ASSERT_EQ(got_.size(), 1u);
  EXPECT_EQ(got_[0], std::vector<uint8_t>(200, 7));
  EXPECT_EQ(rx_->corrupt_frames(), 2u);
}

TEST_F(ZmqTransportTest, OversizedMessagesAreRefusedByZeroMq) {
  SendRaw(WithFrameTrailer(std::vector<uint8_t>((8 << 20), 1)));
  SendRaw(WithFrameTrailer(std::vector<uint8_t>(64, 2)));
  WaitFor(1);
  ASSERT_EQ(got_.size(), 1u);
  EXPECT_EQ(got_[0].size(), 64u);
}

// A restarted peer is reconnected within 10-100 ms (README): the sender backs
// off from 10 ms to at most 100 ms, so once the peer listens again the next
// frame gets through within that (plus scheduling on a shared machine).
TEST_F(ZmqTransportTest, ARestartedPeerIsReachedAgainWithinAHundredMilliseconds) {
  ZmqTransport tx(ctx_, loop_, NodeId{2, 1}, book_, CurveKeys{});  // immediate: nothing queued while down
  auto send_until = [&](size_t n, Nanos budget) {
    const Nanos start = loop_.Now();
    while (got_.size() < n && loop_.Now() - start < budget) {
      (void)tx.Send(NodeId{1, 1}, Link::kM1, std::vector<uint8_t>(32, 1));
      loop_.RunFor(milliseconds(2));
    }
    return loop_.Now() - start;
  };
  send_until(1, seconds(2));
  ASSERT_EQ(got_.size(), 1u);
  rx_->Close();  // the peer dies...
  rx_.reset();
  loop_.RunFor(milliseconds(600));  // ...long enough for the backoff to reach its 100 ms ceiling
  send_until(2, milliseconds(50));
  got_.clear();
  rx_ = std::make_unique<ZmqTransport>(ctx_, loop_, NodeId{1, 1}, book_, CurveKeys{});  // ...and is back, same port
  ASSERT_TRUE(rx_->Bind().ok());
  rx_->SetReceiver([this](const FrameMeta&, std::span<const uint8_t> f) { got_.emplace_back(f.begin(), f.end()); });
  const Nanos took = send_until(1, seconds(2));
  ASSERT_EQ(got_.size(), 1u) << "never reconnected";
  EXPECT_LT(took, milliseconds(100 + 60)) << "reconnected after " << ToSeconds(took) * 1e3 << " ms";
  tx.Close();
}

TEST(Crc32c, KnownAnswer) {
  // RFC 3720, B.4: 32 bytes of zeros.
  EXPECT_EQ(Crc32c(std::vector<uint8_t>(32, 0)), 0x8a9136aau);
  const std::string s = "123456789";
  EXPECT_EQ(Crc32c({reinterpret_cast<const uint8_t*>(s.data()), s.size()}), 0xe3069283u);
}

// Frames run as three lanes joined by a shift: every length around the lane
// blocks (768 bytes) and their remainders must give the bitwise answer.
TEST(Crc32c, LanesAgreeWithTheBitwiseDefinition) {
  auto bitwise = [](const uint8_t* p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; ++i) {
      c ^= p[i];
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    }
    return ~c;
  };
  std::vector<uint8_t> data(3 * 768 + 24);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (uint8_t& b : data) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    b = static_cast<uint8_t>(x);
  }
  for (size_t n : {0, 1, 7, 8, 9, 767, 768, 769, 775, 776, 1535, 1536, 1537, 2304, 2324}) {
    for (size_t off : {0, 1, 3}) {
      ASSERT_LE(off + n, data.size());
      EXPECT_EQ(Crc32c({data.data() + off, n}), bitwise(data.data() + off, n)) << "length " << n << " offset " << off;
    }
  }
}

}  // namespace
}  // namespace bladesync
