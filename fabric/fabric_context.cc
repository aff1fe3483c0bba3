#include "fabric/fabric_context.h"

#include <zmq.hpp>

namespace bladesync {

FabricContext::FabricContext(int io_threads) : ctx_(std::make_unique<zmq::context_t>(io_threads)) {}
FabricContext::~FabricContext() = default;

}  // namespace bladesync
