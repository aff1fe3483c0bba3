// FixedHistogram: a cheap, single-writer histogram in seconds with fixed
// bucket bounds, read at scrape time (Prometheus cumulative buckets).
//
//   FixedHistogram lag(FixedHistogram::LagBounds());
//   lag.Observe(0.0004);
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace bladesync {

class FixedHistogram {
 public:
  static constexpr int kMaxBuckets = 20;
  // Sync lag: 50 us .. 10 s.
  static std::vector<double> LagBounds() {
    return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  }
  // Bulk sync durations: 1 ms .. 5 min.
  static std::vector<double> DurationBounds() {
    return {0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
  }

  explicit FixedHistogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {}
  void Observe(double v) {
    size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) ++i;
    ++counts_[i];  // the last slot is +Inf
    sum_ += v;
    ++count_;
  }
  const std::vector<double>& bounds() const { return bounds_; }
  // counts()[i] for bucket i (not cumulative); index bounds().size() is +Inf.
  const std::array<uint64_t, kMaxBuckets + 1>& counts() const { return counts_; }
  double sum() const { return sum_; }
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::array<uint64_t, kMaxBuckets + 1> counts_{};
  double sum_ = 0;
  uint64_t count_ = 0;
};

}  // namespace bladesync
