// What first touch of fresh memory costs on this machine, per byte: 64 MiB
// mapped and written a page at a time, with 4 KiB pages and with
// MADV_HUGEPAGE, each kind several times in alternation. Tables grown on
// demand pay this for every byte they grow by (the page supply pays it
// ahead, on its own thread, but on the same cores).
//
//   bazel run -c opt //bench:first_touch_bench -- [rounds]
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

constexpr size_t kBytes = size_t{64} << 20;
constexpr size_t kHuge = size_t{2} << 20;

double NsPerByte(bool huge) {
  char* raw = static_cast<char*>(mmap(nullptr, kBytes + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (raw == MAP_FAILED) std::abort();
  char* p = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(raw) + kHuge - 1) & ~(kHuge - 1));
  madvise(p, kBytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < kBytes; i += 4096) p[i] = 1;
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  munmap(raw, kBytes + kHuge);
  return ns / kBytes;
}

void Show(const char* what, std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::printf("%s: %.3f ns/byte (min %.3f, max %.3f)\n", what, v[v.size() / 2], v.front(), v.back());
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 7;
  std::vector<double> small, huge;
  for (int r = 0; r < rounds; ++r) {
    small.push_back(NsPerByte(false));
    huge.push_back(NsPerByte(true));
  }
  std::printf("first touch of 64 MiB, %d rounds alternating:\n", rounds);
  Show("  4 KiB pages", small);
  Show("  MADV_HUGEPAGE", huge);
  return 0;
}
