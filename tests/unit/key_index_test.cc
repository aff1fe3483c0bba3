// KeyIndex: inserts, erases and lookups against a plain map, through many
// growths, with erases and lookups landing while entries are still moving
// out of the old table (where a cluster moved in part would lose entries).
#include "blades/key_index.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <unordered_map>
#include <vector>

namespace bladesync {
namespace {

// Keys are ids' "records": tag collisions on purpose (few distinct tags)
// make long clusters, the case the cluster-whole move exists for.
struct Model {
  std::unordered_map<uint32_t, uint32_t> tag_of;  // id -> tag
  KeyIndex index;
  std::optional<uint32_t> Find(uint32_t id) const {
    auto it = tag_of.find(id);
    const uint32_t tag = it == tag_of.end() ? id * 2654435761u : it->second;
    return index.Find(tag, [&](uint32_t x) { return x == id; });
  }
};

RC_GTEST_PROP(KeyIndex, HoldsExactlyWhatWasInsertedAndNotErased, ()) {
  Model m;
  const uint32_t tag_space = *rc::gen::element(7u, 1000u, 40000u, 0xffffffffu);
  const int ops = *rc::gen::inRange(1, 30000);
  uint32_t next_id = 0;
  std::vector<uint32_t> live;
  int while_growing = 0;
  for (int i = 0; i < ops; ++i) {
    const int what = *rc::gen::inRange(0, 10);
    if (what < 6 || live.empty()) {
      const uint32_t id = next_id++;
      const uint32_t tag = (id * 2654435761u) % tag_space;
      m.tag_of[id] = tag;
      m.index.Insert(id, tag);
      live.push_back(id);
    } else {
      const size_t k = *rc::gen::inRange<size_t>(0, live.size());
      const uint32_t id = live[k];
      while_growing += m.index.growing();
      m.index.Erase(id, m.tag_of[id]);
      m.tag_of.erase(id);
      live[k] = live.back();
      live.pop_back();
    }
    if (!live.empty() && *rc::gen::inRange(0, 8) == 0) {  // lookups while entries move, not only at the end
      const uint32_t id = live[*rc::gen::inRange<size_t>(0, live.size())];
      RC_ASSERT(m.Find(id) == std::optional<uint32_t>(id));
    }
  }
  RC_ASSERT(m.index.size() == live.size());
  for (uint32_t id : live) RC_ASSERT(m.Find(id) == std::optional<uint32_t>(id));
  for (uint32_t id = 0; id < next_id; ++id) {
    if (!m.tag_of.count(id)) RC_ASSERT(!m.Find(id));
  }
  RC_TAG(while_growing > 0 ? "erased while growing" : "no erase while growing");
}

TEST(KeyIndex, GrowsAFewEntriesPerInsertNotAllAtOnce) {
  KeyIndex index;
  uint32_t id = 0;
  while (!index.growing()) index.Insert(id, id * 2654435761u), ++id;
  const size_t at_growth = id;
  // The first insert after the table filled moved only a few entries over.
  EXPECT_GT(index.size(), 0u);
  int inserts_while_growing = 0;
  while (index.growing()) index.Insert(id, id * 2654435761u), ++id, ++inserts_while_growing;
  EXPECT_GT(inserts_while_growing, 16) << "the old table was emptied at once";
  EXPECT_LT(static_cast<size_t>(inserts_while_growing), at_growth) << "the old table outlived its use";
  for (uint32_t x = 0; x < id; ++x) {
    EXPECT_EQ(index.Find(x * 2654435761u, [&](uint32_t y) { return y == x; }), std::optional<uint32_t>(x));
  }
}

// Inserts that stop mid-move: the erases that follow finish it, so the old
// table does not stay (its memory, and a second probe on every miss).
TEST(KeyIndex, ErasesFinishAMoveThatInsertsLeft) {
  KeyIndex index;
  uint32_t id = 0;
  while (!index.growing()) index.Insert(id, id * 2654435761u), ++id;
  for (int i = 0; i < 8; ++i) index.Insert(id, id * 2654435761u), ++id;
  ASSERT_TRUE(index.growing());
  const size_t before = index.MemoryBytes();
  uint32_t erased = 0;
  for (; erased < id / 2 && index.growing(); ++erased) index.Erase(erased, erased * 2654435761u);
  EXPECT_FALSE(index.growing()) << "the old table outlived " << erased << " erases";
  EXPECT_LT(index.MemoryBytes(), before);
  for (uint32_t x = 0; x < id; ++x) {
    const auto found = index.Find(x * 2654435761u, [&](uint32_t y) { return y == x; });
    EXPECT_EQ(found, x < erased ? std::nullopt : std::optional<uint32_t>(x)) << x;
  }
}

TEST(KeyIndex, ReserveMakesRoomAtOnce) {
  KeyIndex index;
  for (uint32_t id = 0; id < 1000; ++id) index.Insert(id, id * 2654435761u);
  index.Reserve(1 << 20);
  EXPECT_FALSE(index.growing());
  for (uint32_t id = 1000; id < (1 << 20); ++id) {
    index.Insert(id, id * 2654435761u);
    ASSERT_FALSE(index.growing()) << "grew after reserving, at " << id;
  }
  EXPECT_EQ(index.size(), size_t{1} << 20);
}

}  // namespace
}  // namespace bladesync
