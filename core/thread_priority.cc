#include "core/thread_priority.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <thread>

namespace bladesync {

bool RaiseThisThread() { return setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), -10) == 0; }

bool LowerThisThread() {
  sched_param p{};
  return sched_setscheduler(0, SCHED_IDLE, &p) == 0;  // 0: the calling thread
}

bool CanRaiseThreads() {
  bool ok = false;
  std::thread probe([&] { ok = setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), -20) == 0; });
  probe.join();
  return ok;
}

}  // namespace bladesync
