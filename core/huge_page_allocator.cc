#include "core/huge_page_allocator.h"

#include <sys/mman.h>

#include <cstdint>

namespace bladesync {
namespace {
size_t Rounded(size_t bytes) { return (bytes + kHugePage - 1) & ~(kHugePage - 1); }
}  // namespace

void* MapHugePages(size_t bytes) {
  const size_t size = Rounded(bytes);
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

}  // namespace bladesync
