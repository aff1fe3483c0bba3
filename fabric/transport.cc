#include "fabric/transport.h"

namespace bladesync {

const char* LinkName(Link link) {
  switch (link) {
    case Link::kM1: return "m1";
    case Link::kM2: return "m2";
    case Link::kBackplane: return "backplane";
  }
  return "?";
}

std::string NodeId::ToString() const {
  if (is_manager()) return "chassis" + std::to_string(chassis) + "/manager";
  return "chassis" + std::to_string(chassis) + "/slot" + std::to_string(slot);
}

}  // namespace bladesync
