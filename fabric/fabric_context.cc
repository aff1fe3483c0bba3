#include "fabric/fabric_context.h"

#include <sched.h>

#include <zmq.hpp>

#include "core/thread_priority.h"

namespace bladesync {

FabricContext::FabricContext(int io_threads, bool raised) : ctx_(std::make_unique<zmq::context_t>(io_threads)) {
  // Before the first socket starts the threads. For SCHED_OTHER any
  // priority makes ZeroMQ nice its threads to -20, and abort if refused.
  if (raised && CanRaiseThreads()) {
    zmq_ctx_set(ctx_->handle(), ZMQ_THREAD_SCHED_POLICY, SCHED_OTHER);
    zmq_ctx_set(ctx_->handle(), ZMQ_THREAD_PRIORITY, 1);
  }
}
FabricContext::~FabricContext() = default;

}  // namespace bladesync
