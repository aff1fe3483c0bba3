// 64-bit mixing functions, one definition each.
//
// Fnv1a is FNV-1a over bytes (config checksums, fallback MACs): a
// fingerprint to compare, not a secret; pass the last result to continue.
// Fmix64 is MurmurHash3's finalizer (session store digests, distribution);
// SplitMix64 is the SplitMix64 finalizer (test data); Mum is wyhash's folded
// 64x64->128 multiply (session keys). All are fixed: digests and slot choices are compared
// across processes.
#pragma once

#include <cstdint>
#include <string_view>

namespace bladesync {

inline constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ULL;

inline uint64_t Fnv1a(std::string_view bytes, uint64_t h = kFnvBasis) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

inline uint64_t Fmix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

inline uint64_t SplitMix64(uint64_t h) {
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

// The 128-bit product of a and b, its halves xored: every input bit reaches
// the output in one multiply, where a chain of SplitMix64 rounds took four.
inline uint64_t Mum(uint64_t a, uint64_t b) {
  const unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(p) ^ static_cast<uint64_t>(p >> 64);
}

}  // namespace bladesync
