// FreeIds against a model: a sorted set of free ids and the cursor it
// promises (the next free id at or after the one after the last taken,
// else the first).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <set>
#include <vector>

#include "blades/free_ids.h"

namespace bladesync {
namespace {

// Each op: put an id that is not free (an id below 70000, so words and
// summary words past the first are used), or take one.
RC_GTEST_PROP(FreeIds, TakesInAddressOrderFromTheLastTaken, (const std::vector<std::pair<bool, uint32_t>>& ops)) {
  FreeIds f;
  std::set<uint32_t> model;
  uint64_t cursor = 0;
  for (const auto& [put, raw] : ops) {
    const uint32_t id = raw % 70000;
    if (put || model.empty()) {
      if (model.count(id)) continue;
      f.Put(id);
      model.insert(id);
    } else {
      auto it = model.lower_bound(static_cast<uint32_t>(std::min<uint64_t>(cursor, UINT32_MAX)));
      if (it == model.end() || cursor > UINT32_MAX) it = model.begin();
      RC_ASSERT(f.Take() == *it);
      cursor = uint64_t{*it} + 1;
      model.erase(it);
    }
    RC_ASSERT(f.size() == model.size());
    RC_ASSERT(f.empty() == model.empty());
    RC_ASSERT(f.contains(id) == (model.count(id) == 1));
  }
}

TEST(FreeIds, WrapsAroundAndClears) {
  FreeIds f;
  for (uint32_t id : {5u, 300000u, 64u, 4095u, 4096u}) f.Put(id);
  EXPECT_EQ(f.Take(), 5u);
  EXPECT_EQ(f.Take(), 64u);
  f.Put(6);  // behind the cursor: comes after the wrap
  EXPECT_EQ(f.Take(), 4095u);
  EXPECT_EQ(f.Take(), 4096u);
  EXPECT_EQ(f.Take(), 300000u);
  EXPECT_EQ(f.Take(), 6u);
  EXPECT_TRUE(f.empty());
  f.Put(9);
  f.Clear();
  EXPECT_TRUE(f.empty());
  EXPECT_FALSE(f.contains(9));
  f.Put(3);
  EXPECT_EQ(f.Take(), 3u);
  // Taken, given back at once: the next one after it comes first.
  f.Put(3);
  f.Put(8);
  EXPECT_EQ(f.Take(), 8u);
  EXPECT_EQ(f.Take(), 3u);
}

// Putting an id that is free already changes nothing (a release build
// has no assert: counting it twice would make a later Take abort).
TEST(FreeIds, PuttingAFreeIdAgainChangesNothing) {
  FreeIds f;
  EXPECT_TRUE(f.Put(4));
  EXPECT_FALSE(f.Put(4));
  EXPECT_EQ(f.size(), 1u);
  EXPECT_EQ(f.Take(), 4u);
  EXPECT_TRUE(f.empty());
}

}  // namespace
}  // namespace bladesync
