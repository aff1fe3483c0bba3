// FabricContext: the ZeroMQ context the sockets of one process share (its
// I/O threads). Only fabric/ sees ZeroMQ: the rest of the tree makes one of
// these and hands it to the transports (tests/unit/layering_test.sh checks).
//
//   FabricContext ctx(/*io_threads=*/2);
//   ZmqTransport t(ctx, loop, NodeId{1, 2}, book, curve);
#pragma once

#include <memory>

namespace zmq {
class context_t;
}

namespace bladesync {

class FabricContext {
 public:
  // raised: its I/O threads run at nice -20 where the process may raise
  // threads (core/thread_priority.h), for the HA threads' sockets.
  explicit FabricContext(int io_threads = 1, bool raised = false);
  ~FabricContext();
  FabricContext(const FabricContext&) = delete;
  FabricContext& operator=(const FabricContext&) = delete;

  zmq::context_t& get() { return *ctx_; }

 private:
  std::unique_ptr<zmq::context_t> ctx_;
};

}  // namespace bladesync
