// PeerCheck: the split-brain guard's reachability check.
//
// Each chassis with `set check "host:port"` listens there on an address its
// peers reach outside M1/M2 (a data or out-of-band network) and answers
// from its manager's loop. When a peer goes silent on M1 and M2, its
// manager probes that address, bounded in time: an answer means the peer is
// alive and only the sync links are cut; a completed connect without one (a
// hung or stopped daemon: the kernel accepts from its backlog) counts as
// dead.
//
// With the fabric keyed (password or keys), the answer proves the peer: the
// prober sends its chassis id and a fresh nonce, and the peer answers with
// an HMAC of the nonce under the key its CURVE pair shares with the
// prober's (X25519), so nobody else who can take the address (a dead
// chassis's IP, a local user on a free port) can stop a takeover by
// answering. Unkeyed, any answer counts (and anyone can fake it).
//
//   PeerCheck pc(loop, keys);            // keys.self = this chassis, ...
//   pc.Listen("10.9.0.1:27300");
//   pc.Probe(2, "10.9.0.2:27300", milliseconds(200), [](bool up) { ... });
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/asio_event_loop.h"
#include "core/status.h"

namespace bladesync {

struct CheckKeys {
  bool enabled = false;
  uint8_t self = 0;
  std::string secret_key;  // this chassis's CURVE secret, Z85
  std::function<std::optional<std::string>(uint8_t chassis)> public_key;  // Z85
};

class PeerCheck {
 public:
  PeerCheck(AsioEventLoop& loop, CheckKeys keys = {});
  ~PeerCheck();
  Status Listen(const std::string& host_port);
  void Probe(uint8_t peer, const std::string& host_port, Nanos timeout, std::function<void(bool)> done);
  void Close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bladesync
