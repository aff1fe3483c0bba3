// TakeoverWatch: what the crash of one chassis cost, counted session by
// session.
//
// Armed right after the crash with what each survivor's blades mirrored of
// the crashed chassis (those sessions are what was synced), it looks, on
// each blade at the moment that blade adopts, which of them the blade now
// owns. A mirrored session the adopter does not own was lost, unless its
// timer had run out by then (it ended, as it would have on the old owner).
//
//   TakeoverWatch watch(/*crashed=*/1, loop.Now());  // times on the event loops' clock
//   for (auto& rt : survivors) watch.Arm(*rt);
//   ... later: TakeoverWatch::Outcome o = watch.outcome();
#pragma once

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>
#include <memory>
#include <mutex>

#include "runtime/chassis_runtime.h"

namespace bladesync {

// One blade's pickup, counted the moment it adopted: each session it
// mirrored at the crash (key, when its timer runs out) is picked up when it
// owns it now, ended when its timer ran out by now, else lost.
struct PickupCount {
  uint64_t picked_up = 0, ended = 0, lost = 0;
};
PickupCount CountPickup(const std::vector<std::pair<SessionKey, uint32_t>>& mirrored, uint32_t now_ds,
                        const std::function<bool(const SessionKey&)>& owned);

class TakeoverWatch {
 public:
  struct Outcome {
    uint8_t adopter = 0;        // the chassis whose blades adopted (0: none yet)
    int blades_adopted = 0;
    uint64_t synced = 0;        // mirrored by the adopter's blades at the crash
    uint64_t picked_up = 0;     // of those, owned by the adopter right after its adoption
    uint64_t ended = 0;         // not owned, but their timers had run out by then
    uint64_t lost = 0;          // not owned and still due to live
    Nanos took{0};  // crash to the last blade's adoption
  };

  TakeoverWatch(uint8_t crashed, Nanos crash_time);
  // Records what every blade of `rt` mirrors of the crashed chassis, and
  // listens for that blade's adoption. The listeners outlive nothing: they
  // hold the watch's state, shared.
  void Arm(ChassisRuntime& rt);
  Outcome outcome() const;

 private:
  struct State {
    uint8_t crashed;
    Nanos crash_time;
    mutable std::mutex mu;
    Outcome outcome;
  };
  std::shared_ptr<State> state_;
};

}  // namespace bladesync
