// ControlServer: the local control socket the operator CLI talks to.
//
// A Unix stream socket (default /run/bladesync/chassis<N>.sock) on a
// thread of its own, so no request, however slow or heavy, holds up the
// manager's heartbeats or a blade's loop: the handler asks them for what it
// needs with short calls. Who may talk to it: the socket file is 0600 in a
// directory that only its owner can write, and every connection's peer
// credentials (SO_PEERCRED) must be root or the daemon's own user.
//
// One request per connection: the command line ("get system ha status"),
// at most 4096 bytes, ended by a newline or by the client's shutdown; the
// reply (JSON or text) follows and the server closes. Clients that send too
// much, too slowly, or too many at once are cut off and counted.
//
//   ControlServer cs("/run/bladesync/chassis1.sock", [&](const std::string& cmd) { return Handle(cmd); });
//   Status s = cs.Start();
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/counter.h"
#include "core/event_loop.h"
#include "core/status.h"

namespace bladesync {

struct ControlLimits {
  size_t max_request_bytes = 4096;
  int max_clients = 16;                  // connections open at once
  Nanos read_timeout = milliseconds(2000);
};

class ControlServer {
 public:
  using Handler = std::function<std::string(const std::string& command)>;
  ControlServer(std::string path, Handler handler, ControlLimits limits = {});
  ~ControlServer();
  // Creates the socket's directory (0700) if it is missing and refuses one
  // that others can write; binds, restricts the file, starts the thread.
  Status Start();
  void Close();
  const std::string& path() const { return path_; }
  // Connections cut off: another user, too many at once, too long, too slow.
  uint64_t refused() const { return refused_.get(); }
  // Connections open now (any thread).
  int clients() const;

 private:
  struct Impl;
  std::string path_;
  Handler handler_;
  ControlLimits limits_;
  Counter refused_;
  std::unique_ptr<Impl> impl_;
};

// Client side: sends one command, waits up to `timeout_ms` for the reply.
Result<std::string> ControlRequest(const std::string& path, const std::string& command, int timeout_ms);

}  // namespace bladesync
