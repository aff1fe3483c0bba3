// intruder: a hostile peer for the fabric tests. It connects to one node's
// endpoint (a blade's or a manager's, on M1, M2 or the backplane) and sends
// the frames of the hostile-input report (issue 15), well formed and with
// the fabric's checksum trailer, as an attacker who knows the protocol would.
//
//   intruder --endpoint tcp://127.0.1.1:27101 [--server-key <Z85>]
//            [--keys PUB SEC | --random-key | --plain]
//            --group 7 --origin-chassis 3 --slot 1 --dest 1
//            [--attack bulk-sync|epoch-lock|relinquish|command-lock|heartbeat|syns|blade-status|
//                      huge-bulk-sync|ack-reset] [--epoch E] [--seq S] [--frames 20]
//
// Attacks (what each would do unchecked):
//   bulk-sync    BulkSyncBegin frames with sessions (epoch 1)
//   epoch-lock   an empty bulk sync with epoch 0xFFFFFFFF: empties the mirror and locks out the owner
//   relinquish   Command Relinquish from "the manager": the blade gives its sessions away
//   command-lock Command with request id 2^64-1: later genuine commands look applied
//   heartbeat    a heartbeat with epoch 0xFFFFFFFF: a second primary
//   syns         a PacketBatch of SYNs: sessions created on a chassis that does not process traffic
//   blade-status BladeStatus ready=false from "a blade": the primary steps down
//   huge-bulk-sync a bulk sync of epoch E announcing 2^32-1 slots with a session at id 4194303: memory
//   ack-reset    an Ack with owner epoch 0 from "a mirror": a full bulk sync each
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "fabric/zmq_transport.h"
#include "tests/support/forged_frames.h"

int main(int argc, char** argv) {
  using namespace bladesync;
  using namespace bladesync::testing;
  std::string endpoint, server_key, pub, sec, attack = "bulk-sync";
  bool plain = false, random_key = false;
  int group = 1, origin = 3, slot = 1, dest = 1, frames = 20;
  uint32_t epoch = 1;
  uint64_t seq = 1;  // the first frame's sequence number (bulk-sync, huge-bulk-sync)
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return std::string(i + 1 < argc ? argv[++i] : ""); };
    if (a == "--endpoint") endpoint = next();
    else if (a == "--server-key") server_key = next();
    else if (a == "--keys") { pub = next(); sec = next(); }
    else if (a == "--random-key") random_key = true;
    else if (a == "--plain") plain = true;
    else if (a == "--group") group = std::stoi(next());
    else if (a == "--origin-chassis") origin = std::stoi(next());
    else if (a == "--slot") slot = std::stoi(next());
    else if (a == "--dest") dest = std::stoi(next());
    else if (a == "--frames") frames = std::stoi(next());
    else if (a == "--attack") attack = next();
    else if (a == "--epoch") epoch = static_cast<uint32_t>(std::stoul(next()));
    else if (a == "--seq") seq = std::stoull(next());
    else {
      std::fprintf(stderr, "intruder: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (random_key) {
    Result<CurveKeyPair> kp = GenerateCurveKeyPair();
    pub = kp->public_key;
    sec = kp->secret_key;
  }
  const auto c = static_cast<uint32_t>(group);
  const auto o = static_cast<uint8_t>(origin);
  const auto s8 = static_cast<uint8_t>(slot);
  const auto d = static_cast<uint8_t>(dest);
  auto frame = [&](int f) -> std::vector<uint8_t> {
    if (attack == "bulk-sync") {
      return ForgedBatch(wire::Origin(c, epoch, o, s8), d, seq + static_cast<uint64_t>(f), 1,
                         static_cast<uint8_t>(wire::BatchFlags::BulkSyncBegin), 1, static_cast<uint32_t>(f));
    }
    if (attack == "epoch-lock") return ForgedEmptyBulkSync(wire::Origin(c, 0xffffffffu, o, s8), d, 1);
    if (attack == "relinquish") return ForgedCommand(wire::Origin(c, 0, o, 0), wire::CommandKind::Relinquish, o, 0);
    if (attack == "command-lock") return ForgedCommand(wire::Origin(c, 0, o, 0), wire::CommandKind::Adopt, d, ~0ull);
    if (attack == "heartbeat") {
      return ForgedHeartbeat(wire::Origin(c, 0xffffffffu, o, 0), wire::Role::Secondary, static_cast<uint64_t>(f) + 1);
    }
    if (attack == "syns") return ForgedSyns(wire::Origin(c, 1, o, 0), 200, static_cast<uint32_t>(f) * 200);
    if (attack == "blade-status") return ForgedBladeStatus(wire::Origin(c, epoch, o, s8), false);
    if (attack == "huge-bulk-sync") {
      return ForgedBatch(wire::Origin(c, epoch, o, s8), d, seq + static_cast<uint64_t>(f), 1,
                         static_cast<uint8_t>(wire::BatchFlags::BulkSyncBegin), 1, 4194303, 0xffffffffu);
    }
    if (attack == "ack-reset") return ForgedAck(wire::Origin(c, 1, o, s8), d, 0, 0);
    return {};
  };
  if (frame(0).empty()) {
    std::fprintf(stderr, "intruder: unknown attack %s\n", attack.c_str());
    return 2;
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
  // Blocking send with a timeout: a refused handshake never connects.
  s.set(zmq::sockopt::sndtimeo, 200);
  int sent = 0;
  for (int f = 0; f < frames; ++f) {
    // With the checksum trailer the fabric expects: an attacker computes it too.
    const std::vector<uint8_t> framed = WithFrameTrailer(frame(f));
    if (s.send(zmq::const_buffer(framed.data(), framed.size()), zmq::send_flags::none)) ++sent;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::printf("intruder: %s: %d of %d frames handed to ZeroMQ\n", attack.c_str(), sent, frames);
  return 0;
}
