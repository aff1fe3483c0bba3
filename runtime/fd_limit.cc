#include "runtime/fd_limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace bladesync {

Result<FdLimit> RaiseFdLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return Unavailable(std::string("getrlimit: ") + std::strerror(errno));
  FdLimit l{r.rlim_cur, r.rlim_cur};
  if (r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &r) != 0) return Unavailable(std::string("setrlimit: ") + std::strerror(errno));
    l.now = r.rlim_cur;
  }
  return l;
}

}  // namespace bladesync
