#include "cmd/takeover_watch.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace bladesync {

PickupCount CountPickup(const std::vector<std::pair<SessionKey, uint32_t>>& mirrored, uint32_t now_ds,
                        const std::function<bool(const SessionKey&)>& owned) {
  PickupCount c;
  for (const auto& [key, expires_ds] : mirrored) {
    if (owned(key)) ++c.picked_up;
    else if (expires_ds <= now_ds) ++c.ended;
    else ++c.lost;
  }
  return c;
}

TakeoverWatch::TakeoverWatch(uint8_t crashed, Nanos crash_time)
    : state_(std::make_shared<State>()) {
  state_->crashed = crashed;
  state_->crash_time = crash_time;
}

void TakeoverWatch::Arm(ChassisRuntime& rt) {
  const uint8_t survivor = rt.chassis();
  for (uint8_t slot : rt.slots()) {
    rt.OnBlade(slot, [&](BladeAgent& blade) {
      // Runs on the blade's thread: nothing changes this mirror meanwhile.
      auto mirrored = std::make_shared<std::vector<std::pair<SessionKey, uint32_t>>>();
      if (const StandbyTable* so = blade.standby(state_->crashed)) {
        const SessionStore& s = so->adoptable();
        mirrored->reserve(s.live());
        for (uint32_t id = 0; id < s.slots(); ++id) {
          if (s.is_live(id)) mirrored->emplace_back(s.rec(id).key, s.rec(id).expires_ds);
        }
      }
      auto done = std::make_shared<bool>(false);
      blade.add_adopt_listener([state = state_, mirrored, done, survivor, &blade](uint8_t from, size_t) {
        if (from != state->crashed || *done) return;  // only this crash's first adoption
        *done = true;
        const PickupCount n =
            CountPickup(*mirrored, blade.NowDs(), [&](const SessionKey& k) { return blade.owned().Find(k).has_value(); });
        const Nanos now = blade.loop().Now();  // the same clock as the demo's loop
        std::lock_guard<std::mutex> lock(state->mu);
        Outcome& o = state->outcome;
        o.adopter = survivor;
        ++o.blades_adopted;
        o.synced += mirrored->size();
        o.picked_up += n.picked_up;
        o.ended += n.ended;
        o.lost += n.lost;
        o.took = std::max(o.took, now - state->crash_time);
      });
      return 0;
    });
  }
}

TakeoverWatch::Outcome TakeoverWatch::outcome() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->outcome;
}

}  // namespace bladesync
