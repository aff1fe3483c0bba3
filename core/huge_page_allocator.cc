#include "core/huge_page_allocator.h"

#include <sys/mman.h>

#include <cstdint>
#include <new>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace bladesync {
namespace {
constexpr size_t kPage = 4096;
size_t Rounded(size_t bytes) {
  if (bytes < kHugePage) return (bytes + kPage - 1) & ~(kPage - 1);
  return (bytes + kHugePage - 1) & ~(kHugePage - 1);
}
}  // namespace

void* MapHugePages(size_t bytes) {
  const size_t size = Rounded(bytes);
  if (size < kHugePage) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return p;
  }
  // Map one huge page more than needed and trim both ends to 2 MiB alignment.
  void* raw = mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned > start) munmap(raw, aligned - start);
  const uintptr_t tail = start + size + kHugePage - (aligned + size);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + size), tail);
  void* p = reinterpret_cast<void*>(aligned);
  madvise(p, size, MADV_HUGEPAGE);  // advice: without THP these stay 4 KiB pages
  return p;
}

void UnmapHugePages(void* p, size_t bytes) { munmap(p, Rounded(bytes)); }

// One call instead of a fault per page (MADV_POPULATE_WRITE, Linux 5.14);
// older kernels get a write per page.
void PopulateHugePages(void* p, size_t bytes) {
  if (madvise(p, Rounded(bytes), MADV_POPULATE_WRITE) == 0) return;
  WriteEachPage(p, bytes);
}

void WriteEachPage(void* p, size_t bytes) {
  volatile char* c = static_cast<char*>(p);
  for (size_t i = 0; i < bytes; i += kPage) c[i] = 0;
}

}  // namespace bladesync
