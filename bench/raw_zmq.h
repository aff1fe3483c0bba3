// The anchors: raw ZeroMQ PUSH -> PULL over TCP on 127.0.0.1, moving the
// same number of messages of the same size as bladesync's frames.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>
#include <zmq.hpp>

namespace bladesync {

// Seconds to move `messages` messages of `size` bytes as fast as possible.
inline double RawZmqSeconds(uint64_t messages, size_t size) {
  zmq::context_t ctx(1);
  zmq::socket_t pull(ctx, zmq::socket_type::pull), push(ctx, zmq::socket_type::push);
  pull.set(zmq::sockopt::rcvhwm, 100000);
  push.set(zmq::sockopt::sndhwm, 100000);
  pull.bind("tcp://127.0.0.1:0");
  push.connect(pull.get(zmq::sockopt::last_endpoint));
  std::vector<uint8_t> buf(size, 0x5a);
  std::thread reader([&] {
    zmq::message_t m;
    for (uint64_t i = 0; i < messages; ++i) (void)pull.recv(m);
  });
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < messages; ++i) push.send(zmq::const_buffer(buf.data(), buf.size()), zmq::send_flags::none);
  reader.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  push.set(zmq::sockopt::linger, 0);
  pull.set(zmq::sockopt::linger, 0);
  return s;
}

// One-way latency of messages of `size` bytes offered at `per_second` for
// `count` messages, each measured from its scheduled send time (so a stall
// of the sender counts). Returns the latencies in nanoseconds.
inline std::vector<int64_t> RawZmqPacedLatencies(uint64_t count, size_t size, double per_second) {
  zmq::context_t ctx(1);
  zmq::socket_t pull(ctx, zmq::socket_type::pull), push(ctx, zmq::socket_type::push);
  pull.bind("tcp://127.0.0.1:0");
  push.connect(pull.get(zmq::sockopt::last_endpoint));
  std::vector<uint8_t> buf(std::max<size_t>(size, sizeof(int64_t)), 0x5a);
  std::vector<int64_t> lat(count);
  using Clock = std::chrono::steady_clock;
  std::thread reader([&] {
    zmq::message_t m;
    for (uint64_t i = 0; i < count; ++i) {
      (void)pull.recv(m);
      int64_t sched;
      std::memcpy(&sched, m.data(), sizeof sched);
      lat[i] = Clock::now().time_since_epoch().count() - sched;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // connected
  const int64_t t0 = Clock::now().time_since_epoch().count();
  for (uint64_t i = 0; i < count; ++i) {
    const int64_t sched = t0 + static_cast<int64_t>(1e9 * i / per_second);
    while (Clock::now().time_since_epoch().count() < sched) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    std::memcpy(buf.data(), &sched, sizeof sched);
    push.send(zmq::const_buffer(buf.data(), buf.size()), zmq::send_flags::none);
  }
  reader.join();
  push.set(zmq::sockopt::linger, 0);
  pull.set(zmq::sockopt::linger, 0);
  return lat;
}

}  // namespace bladesync
