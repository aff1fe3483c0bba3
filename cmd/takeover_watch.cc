#include "cmd/takeover_watch.h"

#include <utility>
#include <vector>

namespace bladesync {

TakeoverWatch::TakeoverWatch(uint8_t crashed, std::chrono::steady_clock::time_point crash_time)
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
      if (const StandbyOrigin* so = blade.standby(state_->crashed)) {
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
        const uint32_t now_ds = blade.NowDs();
        uint64_t picked = 0, ended = 0, lost = 0;
        for (const auto& [key, expires_ds] : *mirrored) {
          if (blade.owned().Find(key)) ++picked;
          else if (expires_ds <= now_ds) ++ended;
          else ++lost;
        }
        const auto now = std::chrono::steady_clock::now();
        std::lock_guard<std::mutex> lock(state->mu);
        Outcome& o = state->outcome;
        o.adopter = survivor;
        ++o.blades_adopted;
        o.synced += mirrored->size();
        o.picked_up += picked;
        o.ended += ended;
        o.lost += lost;
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
