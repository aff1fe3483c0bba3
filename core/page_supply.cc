#include "core/page_supply.h"

#include <algorithm>

#include "core/huge_page_allocator.h"

namespace bladesync {

PageSupply& PageSupply::Get() {
  static PageSupply* const supply = new PageSupply;  // never destroyed: tables may outlive statics
  return *supply;
}

void PageSupply::StartLocked() {
  if (started_) return;
  started_ = true;
  std::thread([this] { Run(); }).detach();
}

size_t PageSupply::ReadyBytesLocked() const {
  size_t sum = 0;
  for (const Ready& r : ready_) sum += r.bytes;
  return sum;
}

void* PageSupply::Take(size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < ready_.size(); ++i) {
    if (ready_[i].bytes != bytes) continue;
    void* p = ready_[i].p;
    ready_.erase(ready_.begin() + static_cast<std::ptrdiff_t>(i));
    ++taken_;
    return p;
  }
  ++missed_;
  return nullptr;
}

void PageSupply::Want(size_t bytes, size_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  if (bytes > kMaxReadyBytes) return;
  auto w = std::find_if(wanted_.begin(), wanted_.end(), [&](const Wanted& x) { return x.bytes == bytes; });
  if (w == wanted_.end()) {
    wanted_.push_back(Wanted{bytes, count});
  } else {
    w->count = std::max(w->count, count);
  }
  StartLocked();
  work_.notify_one();
}

void PageSupply::GiveBack(void* p, size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  give_back_.emplace_back(p, bytes);
  StartLocked();
  work_.notify_one();
}

uint64_t PageSupply::taken() const {
  std::lock_guard<std::mutex> lock(mu_);
  return taken_;
}

uint64_t PageSupply::missed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return missed_;
}

void PageSupply::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [&] { return !busy_ && wanted_.empty() && give_back_.empty(); });
}

void PageSupply::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (!give_back_.empty()) {
      const auto [p, bytes] = give_back_.front();
      give_back_.pop_front();
      busy_ = true;
      lock.unlock();
      UnmapHugePages(p, bytes);
      lock.lock();
      busy_ = false;
      continue;
    }
    if (!wanted_.empty()) {
      const Wanted w = wanted_.front();
      const size_t have = static_cast<size_t>(
          std::count_if(ready_.begin(), ready_.end(), [&](const Ready& r) { return r.bytes == w.bytes; }));
      if (have >= w.count || ReadyBytesLocked() + w.bytes > kMaxReadyBytes) {
        wanted_.erase(wanted_.begin());
        continue;
      }
      busy_ = true;
      lock.unlock();
      void* p = MapHugePages(w.bytes);
      PopulateHugePages(p, w.bytes);
      lock.lock();
      busy_ = false;
      ready_.push_back(Ready{w.bytes, p, std::chrono::steady_clock::now()});
      continue;
    }
    // Ready mappings nobody took go back to the kernel after a while.
    const auto now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < ready_.size();) {
      if (now - ready_[i].since < kKeepReady) {
        ++i;
        continue;
      }
      give_back_.emplace_back(ready_[i].p, ready_[i].bytes);
      ready_.erase(ready_.begin() + static_cast<std::ptrdiff_t>(i));
    }
    if (!give_back_.empty()) continue;
    idle_.notify_all();
    if (ready_.empty()) {
      work_.wait(lock);
    } else {
      work_.wait_for(lock, std::chrono::seconds(1));
    }
  }
}

}  // namespace bladesync
