// The demo's failover count: a mirrored session the adopter does not own is
// lost unless its timer had run out (it ended, as it would have on the old
// owner).
#include <gtest/gtest.h>

#include <set>

#include "cmd/takeover_watch.h"

namespace bladesync {
namespace {

SessionKey K(uint32_t i) { return SessionKey::V4(0x0a000000 + i, 0xc6336401, static_cast<uint16_t>(1024 + i), 443, kProtoTcp); }

TEST(TakeoverWatch, AMirroredSessionNotOwnedAndStillDueIsLost) {
  // now = 100 ds; session 2's timer ran out at 90, session 3's runs to 500.
  const std::vector<std::pair<SessionKey, uint32_t>> mirrored = {{K(1), 500}, {K(2), 90}, {K(3), 500}, {K(4), 100}};
  const std::set<uint32_t> owned = {1};
  auto owns = [&](const SessionKey& k) {
    for (uint32_t i : owned)
      if (k == K(i)) return true;
    return false;
  };
  const PickupCount c = CountPickup(mirrored, 100, owns);
  EXPECT_EQ(c.picked_up, 1u);
  EXPECT_EQ(c.ended, 2u) << "sessions 2 and 4 ran out by now";
  EXPECT_EQ(c.lost, 1u) << "session 3 was due to live and is not owned";
  const PickupCount all = CountPickup(mirrored, 100, [](const SessionKey&) { return true; });
  EXPECT_EQ(all.picked_up, 4u);
  EXPECT_EQ(all.lost, 0u);
}

}  // namespace
}  // namespace bladesync
