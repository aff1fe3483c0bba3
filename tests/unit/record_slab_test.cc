// RecordSlab: records keep their place and contents while the slab grows
// past a chunk, moves and is cleared; MapHugePages hands out zeroed memory,
// 2 MiB aligned for large arrays.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "blades/record_slab.h"
#include "core/huge_page_allocator.h"

namespace bladesync {
namespace {

TEST(RecordSlab, GrowsPastChunksWithoutMovingRecords) {
  RecordSlab slab;
  EXPECT_EQ(slab.capacity(), 0u);
  const uint32_t n = 3 * RecordSlab::kChunk + 17;
  const SessionRecord* first_full_chunk = nullptr;
  for (uint32_t i = 0; i < n; ++i) {
    slab.push_back();
    EXPECT_EQ(slab[i].version, 0u) << "a new record starts zeroed";
    slab[i].version = i + 1;
    if (i == RecordSlab::kChunk) first_full_chunk = &slab[i];
  }
  ASSERT_EQ(slab.size(), n);
  EXPECT_EQ(&slab[RecordSlab::kChunk], first_full_chunk) << "records past the first chunk never move";
  for (uint32_t i = 0; i < n; ++i) ASSERT_EQ(slab[i].version, i + 1) << "record " << i;
  // At most one chunk more than needed.
  EXPECT_LT(slab.capacity(), size_t{n} + RecordSlab::kChunk);
}

TEST(RecordSlab, FirstChunkStaysSmallForSmallStores) {
  RecordSlab slab;
  slab.resize(10);
  EXPECT_LE(slab.capacity(), 1024u);
  slab.resize(5000);
  EXPECT_LT(slab.capacity(), 2 * 5000u + 1);
  EXPECT_EQ(slab[4999].version, 0u);
}

TEST(RecordSlab, ReserveThenResizeKeepsContentsAndMoveTakesThem) {
  RecordSlab slab;
  slab.resize(100);
  slab[99].version = 42;
  slab.reserve(2 * RecordSlab::kChunk);
  EXPECT_GE(slab.capacity(), 2u * RecordSlab::kChunk);
  EXPECT_EQ(slab.size(), 100u);
  EXPECT_EQ(slab[99].version, 42u);
  slab.resize(RecordSlab::kChunk + 5);
  EXPECT_EQ(slab[RecordSlab::kChunk + 4].version, 0u);

  RecordSlab other(std::move(slab));
  EXPECT_EQ(other.size(), RecordSlab::kChunk + 5);
  EXPECT_EQ(other[99].version, 42u);
  EXPECT_EQ(slab.size(), 0u);
  other.clear();
  EXPECT_EQ(other.size(), 0u);
  EXPECT_EQ(other.capacity(), 0u);
  other.resize(3);  // usable again after clear
  EXPECT_EQ(other[2].version, 0u);
}

TEST(MapHugePages, LargeMappingsAreHugePageAlignedSmallOnesWholePagesAllZero) {
  auto* big = static_cast<uint64_t*>(MapHugePages(3 * kHugePage + 8));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big) % kHugePage, 0u);
  for (size_t i = 0; i < 3 * kHugePage / 8; i += 4096) ASSERT_EQ(big[i], 0u);
  big[3 * kHugePage / 8] = 7;  // the rounded-up tail is mapped too
  UnmapHugePages(big, 3 * kHugePage + 8);
  auto* small = static_cast<uint64_t*>(MapHugePages(64 << 10));
  PopulateHugePages(small, 64 << 10);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small) % 4096, 0u);
  for (size_t i = 0; i < (64 << 10) / 8; ++i) ASSERT_EQ(small[i], 0u);
  small[(64 << 10) / 8 - 1] = 5;
  UnmapHugePages(small, 64 << 10);
}

}  // namespace
}  // namespace bladesync
