// BladeBeat: tells the chassis manager that this process's blades are
// alive, from a thread of its own that their sync work cannot hold up.
//
// A blade's statuses go out from its own loop, between its other work. A
// loop that adopts half a million sessions or applies a burst of frames is
// busy for longer than the blade-lost time of 10 ms heartbeats (50 ms),
// and its manager took it for dead: a false failover of the slot, then of
// the chassis (it had fewer live blades than its peer), and back. Here a
// thread sends a BladeAlive for each blade every status interval while the
// blade's loop turned within kStallBound (probed as the process's watchdog
// does). A crashed process sends nothing (this thread goes with it); a
// blade loop stuck for longer than kStallBound stops its beats, so a hung
// blade is still found, later. Statuses still carry everything else.
//
// The thread asks for a higher priority (nice -10; refused without
// CAP_SYS_NICE, and then it runs at the process's), and its socket has a
// ZeroMQ I/O thread of its own: in the process's, a beat queued behind the
// blades' sync frames (a blade was marked dead at 1.2 M sessions a second).
//
//   BladeBeat beat(ctx, book, curve, group_id, chassis, {{slot, epoch, &loop}}, status_interval);
//   beat.Start();  ...  beat.Stop();  // before the blades' loops go
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "fabric/zmq_transport.h"
#include "runtime/loop_watchdog.h"
#include "runtime/node_thread.h"

namespace bladesync {

class BladeBeat {
 public:
  // A blade loop that has not turned for this long is not vouched for.
  static constexpr Nanos kStallBound = seconds(1);
  struct Blade {
    uint8_t slot;      // the worker slot
    uint32_t epoch;
    EventLoop* loop;
    std::string name;  // its thread's, as the watchdog reports a stall ("blade2", "blade2w1")
  };
  // `blades_ctx`: the blades' context, for a manager reached in-process.
  BladeBeat(FabricContext& blades_ctx, const AddressBook& book, CurveKeys curve, uint32_t group_id, uint8_t chassis,
            std::vector<Blade> blades, Nanos interval);
  ~BladeBeat() { Stop(); }
  void Start();
  // Nothing is sent after it returns (Crash and Stop call it first).
  void Stop();

 private:
  void Beat();

  FabricContext& blades_ctx_;
  FabricContext ctx_{1, /*raised=*/true};  // its own I/O thread, raised too
  const AddressBook& book_;
  CurveKeys curve_;
  uint32_t group_id_;
  uint8_t chassis_;
  std::vector<Blade> blades_;
  Nanos interval_;
  NodeThread thread_{"beat"};
  std::unique_ptr<ZmqTransport> transport_;  // the beat thread's own socket to the manager
  std::unique_ptr<LoopWatchdog> watchdog_;
  std::unique_ptr<PeriodicTask> task_;
  bool started_ = false;
};

}  // namespace bladesync
