// HugePageAllocator: a std::allocator for the session tables' big arrays
// that asks the kernel for transparent huge pages.
//
// A blade's slab and key index are tens of megabytes probed at random: with
// 4 KiB pages every probe is also a TLB miss and every new page a fault in
// the middle of traffic. Allocations of 2 MiB and more are mapped 2 MiB
// aligned and madvise(MADV_HUGEPAGE)d (honoured when
// /sys/kernel/mm/transparent_hugepage/enabled is `madvise` or `always`): one
// fault per 2 MiB, and the tables write their memory when they allocate it
// (RecordSlab zeroes a chunk, the index is filled empty), so a table sized at
// start (session-table-reserve) takes no faults later. Smaller ones come from
// operator new as usual.
//
//   std::vector<Slot, HugePageAllocator<Slot>> index;
#pragma once

#include <cstddef>
#include <new>

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

template <typename T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < kHugePage) return static_cast<T*>(::operator new(bytes));
    return static_cast<T*>(MapHugePages(bytes));
  }
  void deallocate(T* p, size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < kHugePage) {
      ::operator delete(p);
    } else {
      UnmapHugePages(p, bytes);
    }
  }
  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const { return true; }
};

}  // namespace bladesync
