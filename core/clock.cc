#include "core/clock.h"

namespace bladesync {

Nanos MonotonicNow() {
  return std::chrono::duration_cast<Nanos>(std::chrono::steady_clock::now().time_since_epoch());
}

}  // namespace bladesync
