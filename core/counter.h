// Counter: a statistic with one writer (the owning loop) and any readers.
//
// Relaxed load+store instead of fetch_add: the owning thread is the only
// writer, so the increment costs a plain add, and a scrape from another
// thread reads a consistent 64-bit value.
//
//   Counter frames; frames.Add(); uint64_t n = frames.get();
#pragma once

#include <atomic>
#include <cstdint>

namespace bladesync {

class Counter {
 public:
  void Add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void Set(uint64_t n) { v_.store(n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

}  // namespace bladesync
