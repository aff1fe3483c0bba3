// RaiseFdLimit: a daemon with many peers and an attacker at its ports needs
// more than the usual 1024 descriptors: at start the soft limit goes up to
// the hard one (systemd's default hard limit is 524288).
//
//   Result<FdLimit> l = RaiseFdLimit();   // l->before, l->now
#pragma once

#include <cstdint>

#include "core/status.h"

namespace bladesync {

struct FdLimit {
  uint64_t before = 0;
  uint64_t now = 0;
};

Result<FdLimit> RaiseFdLimit();

}  // namespace bladesync
