// intruder: a hostile peer for the fabric tests. It connects to a blade's
// M1/M2 endpoint and sends well-formed delta batches.
//
//   intruder --endpoint tcp://127.0.1.1:27101 --server-key <Z85>
//            [--keys PUB SEC | --random-key | --plain]
//            --cluster 7 --origin-chassis 3 --slot 1 --dest 1 [--frames 20]
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "blades/delta_codec.h"
#include "fabric/zmq_transport.h"

int main(int argc, char** argv) {
  using namespace bladesync;
  std::string endpoint, server_key, pub, sec;
  bool plain = false, random_key = false;
  int cluster = 1, origin = 3, slot = 1, dest = 1, frames = 20;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return std::string(i + 1 < argc ? argv[++i] : ""); };
    if (a == "--endpoint") endpoint = next();
    else if (a == "--server-key") server_key = next();
    else if (a == "--keys") { pub = next(); sec = next(); }
    else if (a == "--random-key") random_key = true;
    else if (a == "--plain") plain = true;
    else if (a == "--cluster") cluster = std::stoi(next());
    else if (a == "--origin-chassis") origin = std::stoi(next());
    else if (a == "--slot") slot = std::stoi(next());
    else if (a == "--dest") dest = std::stoi(next());
    else if (a == "--frames") frames = std::stoi(next());
  }
  if (random_key) {
    Result<CurveKeyPair> kp = GenerateCurveKeyPair();
    pub = kp->public_key;
    sec = kp->secret_key;
  }
  zmq::context_t ctx(1);
  zmq::socket_t s(ctx, zmq::socket_type::push);
  s.set(zmq::sockopt::linger, 0);
  if (!plain) {
    s.set(zmq::sockopt::curve_serverkey, server_key);
    s.set(zmq::sockopt::curve_publickey, pub);
    s.set(zmq::sockopt::curve_secretkey, sec);
  }
  s.connect(endpoint);
  DeltaEncoder enc;
  int sent = 0;
  for (int f = 0; f < frames; ++f) {
    enc.Reset();
    SessionRecord r;
    r.key = SessionKey::V4(0x0a0a0a0a, 0x0b0b0b0b, static_cast<uint16_t>(1000 + f), 80, kProtoTcp);
    r.version = 1ull << 46;
    r.timeout_s = 3600;
    enc.AddCreate(static_cast<uint32_t>(f), r, nullptr, false);
    BatchHeader h;
    h.origin = wire::Origin(static_cast<uint32_t>(cluster), 1, static_cast<uint8_t>(origin), static_cast<uint8_t>(slot));
    h.first_seq = static_cast<uint64_t>(f) + 1;
    h.seq_count = 1;
    h.flags = static_cast<uint8_t>(wire::BatchFlags::SnapshotBegin);
    h.dest_chassis = static_cast<uint8_t>(dest);
    std::span<const uint8_t> b = enc.FinishBatch(h);
    // Blocking send with a timeout: a refused handshake never connects.
    s.set(zmq::sockopt::sndtimeo, 200);
    // With the checksum trailer the fabric expects: an attacker computes it too.
    const std::vector<uint8_t> framed = WithFrameTrailer(b);
    if (s.send(zmq::const_buffer(framed.data(), framed.size()), zmq::send_flags::none)) ++sent;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::printf("intruder: %d of %d frames handed to ZeroMQ\n", sent, frames);
  return 0;
}
