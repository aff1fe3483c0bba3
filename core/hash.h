// 64-bit mixing functions, one definition each.
//
// Fmix64 is MurmurHash3's finalizer (session store digests, distribution);
// SplitMix64 is the SplitMix64 finalizer (session keys). Both are fixed:
// digests and slot choices are compared across processes.
#pragma once

#include <cstdint>

namespace bladesync {

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

}  // namespace bladesync
