#include "core/crc32c.h"

#include <array>
#include <cstring>

namespace bladesync {

namespace {

constexpr uint32_t kPoly = 0x82f63b78;  // reflected Castagnoli polynomial

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kTable = MakeTable();

uint32_t Software(uint32_t crc, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) crc = kTable[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
// The crc32 instruction takes three cycles and one can start each cycle, so a
// frame runs as three lanes of kLane bytes at once, joined by shifting each
// lane's CRC past the bytes that follow it (a table lookup per byte of the
// CRC). A frame of 30 KB took each end about 3% of its time on one lane.
constexpr size_t kLane = 256;

// kShift[k][b]: the CRC register that b in its byte k becomes after kLane
// zero bytes. Appending zeros is linear, so a register shifts byte by byte.
constexpr std::array<std::array<uint32_t, 256>, 4> MakeShift() {
  std::array<std::array<uint32_t, 256>, 4> t{};
  for (int k = 0; k < 4; ++k) {
    for (uint32_t b = 0; b < 256; ++b) {
      uint32_t c = b << (8 * k);
      for (size_t i = 0; i < kLane; ++i) c = kTable[c & 0xff] ^ (c >> 8);
      t[k][b] = c;
    }
  }
  return t;
}
constexpr std::array<std::array<uint32_t, 256>, 4> kShift = MakeShift();

uint32_t ShiftLane(uint32_t c) {
  return kShift[0][c & 0xff] ^ kShift[1][(c >> 8) & 0xff] ^ kShift[2][(c >> 16) & 0xff] ^ kShift[3][c >> 24];
}

__attribute__((target("sse4.2"))) uint32_t Hardware(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t c = crc;
  for (; n >= 3 * kLane; n -= 3 * kLane, p += 3 * kLane) {
    uint64_t c1 = 0, c2 = 0;
    for (size_t i = 0; i < kLane; i += 8) {
      uint64_t v0, v1, v2;
      std::memcpy(&v0, p + i, 8);
      std::memcpy(&v1, p + kLane + i, 8);
      std::memcpy(&v2, p + 2 * kLane + i, 8);
      c = __builtin_ia32_crc32di(c, v0);
      c1 = __builtin_ia32_crc32di(c1, v1);
      c2 = __builtin_ia32_crc32di(c2, v2);
    }
    c = ShiftLane(ShiftLane(static_cast<uint32_t>(c)) ^ static_cast<uint32_t>(c1)) ^ static_cast<uint32_t>(c2);
  }
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
  }
  auto c32 = static_cast<uint32_t>(c);
  for (; n > 0; --n, ++p) c32 = __builtin_ia32_crc32qi(c32, *p);
  return c32;
}
const bool kHaveSse42 = __builtin_cpu_supports("sse4.2");
#endif

}  // namespace

uint32_t Crc32c(std::span<const uint8_t> bytes) {
  uint32_t crc = 0xffffffffu;
#if defined(__x86_64__)
  if (kHaveSse42) return ~Hardware(crc, bytes.data(), bytes.size());
#endif
  return ~Software(crc, bytes.data(), bytes.size());
}

}  // namespace bladesync
