// AsioEventLoop: RunFor waits its whole duration every time, and timers fire.
#include <gtest/gtest.h>

#include "core/asio_event_loop.h"

namespace bladesync {
namespace {

TEST(AsioEventLoop, RunForBlocksEveryTime) {
  AsioEventLoop loop;
  const Nanos t0 = loop.Now();
  for (int i = 0; i < 3; ++i) loop.RunFor(milliseconds(30));
  EXPECT_GE(loop.Now() - t0, milliseconds(90));
}

TEST(AsioEventLoop, TimersAndPostsRun) {
  AsioEventLoop loop;
  int fired = 0, posted = 0;
  auto t = loop.CreateTimer([&] { ++fired; });
  t->Arm(milliseconds(5));
  loop.Post([&] { ++posted; });
  loop.RunFor(milliseconds(50));
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(posted, 1);
  t->Arm(milliseconds(5));
  t->Disarm();
  loop.RunFor(milliseconds(20));
  EXPECT_EQ(fired, 1);
}

}  // namespace
}  // namespace bladesync
