// LinkMonitor, the one judgement of a fabric link's liveness: blades start
// with both links presumed up (their streams must not wait), managers with
// nothing heard (a start says nothing about a peer).
#include <gtest/gtest.h>

#include "fabric/link_monitor.h"

namespace bladesync {
namespace {

constexpr Nanos kLost = milliseconds(300);

TEST(LinkMonitor, AStreamsLinksArePresumedUpAtItsStart) {
  LinkMonitor links(kLost, Nanos(0));
  EXPECT_TRUE(links.alive(Link::kM1, milliseconds(300)));
  EXPECT_TRUE(links.alive(Link::kM2, milliseconds(300)));
  EXPECT_FALSE(links.alive(Link::kM1, milliseconds(301)));
  EXPECT_EQ(links.active(), Link::kM1);
}

TEST(LinkMonitor, APeerNotHeardHasNoLinkUp) {
  LinkMonitor links(kLost);
  EXPECT_FALSE(links.alive(Link::kM1, Nanos(0)));
  EXPECT_FALSE(links.alive(Link::kM2, Nanos(0)));
  links.OnReceive(Link::kM2, milliseconds(10));
  EXPECT_FALSE(links.alive(Link::kM1, milliseconds(10))) << "heard on M2 only";
  EXPECT_TRUE(links.alive(Link::kM2, milliseconds(310)));
  EXPECT_FALSE(links.alive(Link::kM2, milliseconds(311)));
  links.OnReceive(Link::kBackplane, milliseconds(20));  // not a fabric link
  EXPECT_FALSE(links.alive(Link::kM1, milliseconds(20)));
}

TEST(LinkMonitor, SyncMovesToM2WhenM1FallsSilentAndBack) {
  LinkMonitor links(kLost, Nanos(0));
  links.OnReceive(Link::kM2, milliseconds(250));
  EXPECT_FALSE(links.Update(milliseconds(250)));
  EXPECT_TRUE(links.Update(milliseconds(400)));
  EXPECT_EQ(links.active(), Link::kM2);
  links.OnReceive(Link::kM1, milliseconds(450));
  EXPECT_TRUE(links.Update(milliseconds(450)));
  EXPECT_EQ(links.active(), Link::kM1);
  EXPECT_EQ(links.switches(), 2u);
}

}  // namespace
}  // namespace bladesync
