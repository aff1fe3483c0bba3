// Mappings for the session tables' arrays, on transparent huge pages.
//
// A blade's slab and key index are tens of megabytes probed at random: with
// 4 KiB pages every probe is also a TLB miss and every new page a fault in
// the middle of traffic. Mappings of 2 MiB and more are 2 MiB aligned and
// madvise(MADV_HUGEPAGE)d (honoured when
// /sys/kernel/mm/transparent_hugepage/enabled is `madvise` or `always`): one
// fault per 2 MiB. A fresh mapping is zero; the page supply
// (core/page_supply.h) faults mappings in ahead of need, and a table sized at
// start (session-table-reserve) writes its own then, so neither faults later.
//
//   void* p = MapHugePages(bytes);
//   PopulateHugePages(p, bytes);
//   UnmapHugePages(p, bytes);
#pragma once

#include <cstddef>

namespace bladesync {

inline constexpr size_t kHugePage = size_t{2} << 20;

// The mapping behind one large allocation (defined in huge_page_allocator.cc).
// Below kHugePage a mapping of whole 4 KiB pages, without the advice (a
// region under 2 MiB cannot hold a huge page, and rounding it up would
// fault in 2 MiB for a small table): the page supply prepares tables'
// smaller arrays too.
void* MapHugePages(size_t bytes);
void UnmapHugePages(void* p, size_t bytes);
// Faults every page of a fresh mapping in for writing; it stays zero.
void PopulateHugePages(void* p, size_t bytes);
// The same by a write of zero to each 4 KiB page: a fault at a time, each
// under its VMA's lock only (MADV_POPULATE_WRITE holds mmap_lock throughout).
void WriteEachPage(void* p, size_t bytes);

}  // namespace bladesync
