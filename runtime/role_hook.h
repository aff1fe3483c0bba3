// RoleHook: `set notify-script` runs on every role change of the chassis,
// as keepalived's notify scripts do, so outside orchestration (routes,
// services, a ticket) follows the primary.
//
// The script runs on a thread of its own, one at a time in the order of the
// changes, with the old and new role as arguments and in the environment
// (BLADESYNC_OLD_ROLE, BLADESYNC_NEW_ROLE, BLADESYNC_PRIMARY,
// BLADESYNC_CHASSIS, BLADESYNC_GROUP, BLADESYNC_GROUP_ID). Its exit status
// is logged and counted; one that outlives its timeout is killed with its
// process group. A role change never waits for it: a missing, failing or
// hanging script cannot hold the cluster back.
//
//   RoleHook hook({"/etc/bladesync/notify.sh", seconds(10)}, {{"BLADESYNC_CHASSIS", "1"}});
//   hook.RoleChanged("secondary", "primary", 1);  // returns at once
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "core/counter.h"
#include "core/event_loop.h"

namespace bladesync {

class RoleHook {
 public:
  struct Options {
    std::string path;
    Nanos timeout = std::chrono::seconds(10);
  };
  RoleHook(Options opt, std::map<std::string, std::string> env);
  ~RoleHook();  // a script still running is killed; queued changes are dropped
  RoleHook(const RoleHook&) = delete;
  RoleHook& operator=(const RoleHook&) = delete;

  void RoleChanged(const std::string& old_role, const std::string& new_role, uint8_t primary);

  uint64_t runs() const { return runs_.get(); }            // started
  uint64_t failed() const { return failed_.get(); }        // could not start, or exited non-zero / by a signal
  uint64_t timed_out() const { return timed_out_.get(); }  // killed at the timeout
  const std::string& path() const { return opt_.path; }

 private:
  struct Change {
    std::string old_role, new_role;
    uint8_t primary;
  };
  void Work();
  void Run(const Change& c);

  Options opt_;
  std::map<std::string, std::string> env_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Change> queue_;
  bool stopping_ = false;
  Counter runs_, failed_, timed_out_;
  std::thread worker_;
};

}  // namespace bladesync
