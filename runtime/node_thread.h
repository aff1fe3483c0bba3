// NodeThread: one AsioEventLoop on its own thread, with a way to run code
// on it and wait for the answer from another thread.
//
//   NodeThread t("blade2");  // the thread's name in logs and top -H
//   t.Start();
//   size_t n = t.Call([&] { return blade->owned().live(); });
//   t.Stop();
#pragma once

#include <future>
#include <string>
#include <thread>

#include "core/asio_event_loop.h"
#include "core/log.h"

namespace bladesync {

class NodeThread {
 public:
  explicit NodeThread(std::string name) : name_(std::move(name)) {}
  ~NodeThread() { Stop(); }
  AsioEventLoop& loop() { return loop_; }
  void Start() {
    thread_ = std::thread([this] {
      SetThreadName(name_);
      loop_.Run();
    });
  }
  // Runs fn on the loop and waits for its result.
  template <typename F>
  auto Call(F&& fn) -> decltype(fn()) {
    using R = decltype(fn());
    std::promise<R> p;
    auto fut = p.get_future();
    loop_.Post([&] {
      if constexpr (std::is_void_v<R>) {
        fn();
        p.set_value();
      } else {
        p.set_value(fn());
      }
    });
    return fut.get();
  }
  void Stop() {
    if (!thread_.joinable()) return;
    loop_.Stop();
    thread_.join();
  }
  bool running() const { return thread_.joinable(); }
  // True on this node's own thread (where Call would wait for itself).
  bool current() const { return std::this_thread::get_id() == thread_.get_id(); }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  AsioEventLoop loop_;
  std::thread thread_;
};

}  // namespace bladesync
