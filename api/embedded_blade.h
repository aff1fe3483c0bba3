// api::EmbeddedBlade: one blade of a bladesync cluster inside the embedder's
// own process, beside its data plane.
//
// The process is the blade in `slot` of chassis `chassis` of the cluster
// config, as `bladesyncd --chassis C --slot S --no-manager` would be, with
// the embedder's data plane in place of bladesync's packet path; the
// chassis's manager runs elsewhere (`bladesyncd --chassis C --no-blades`).
// The blade runs on a thread of its own; the data plane reaches it through
// api::Blade on that thread.
//
//   Result<std::unique_ptr<api::EmbeddedBlade>> b =
//       api::EmbeddedBlade::Start({.config = "/etc/bladesync/bladesync.conf", .chassis = 1, .slot = 2});
//   if (!b.ok()) ... b.status().message();
//   api::EmbeddedBlade& blade = *b.value();
//   blade.Run([&](api::Blade& b) { b.OnRoleChange(...); });   // on its thread; waits
//   blade.Post([=](api::Blade& b) { b.Create(facts, state); }); // on its thread; returns now
//   blade.Stop();
//
// Threads: Run, Post and Stop are called from the embedder's threads, not
// concurrently with Stop (the caller orders them). Run from the blade's own
// thread (inside a listener) runs fn at once; Stop from it would wait for
// itself: never. After Stop nothing runs: the blade's listeners, its
// SessionViews and loop() are gone; an AdoptionHold still held does nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "api/blade.h"
#include "core/status.h"

namespace bladesync::api {

struct EmbedOptions {
  std::string config;    // the cluster config file
  uint8_t chassis = 0;   // which chassis of it this process belongs to
  uint8_t slot = 0;      // and which blade it is
  uint32_t epoch = 0;    // this incarnation; 0: from the wall clock (grows on every restart)
  std::string metrics;   // host:port to serve this blade's /metrics on; "" none
};

class EmbeddedBlade {
 public:
  // Reads the config, joins the fabric (CURVE as the config says) and starts
  // the blade. Config errors name file, line and option.
  static Result<std::unique_ptr<EmbeddedBlade>> Start(const EmbedOptions& options);
  ~EmbeddedBlade();
  EmbeddedBlade(const EmbeddedBlade&) = delete;
  EmbeddedBlade& operator=(const EmbeddedBlade&) = delete;

  // fn on the blade's thread; returns when it did. Nothing after Stop().
  void Run(const std::function<void(Blade&)>& fn);
  // fn on the blade's thread, later; returns at once. Nothing after Stop();
  // one posted before it runs before the blade goes.
  void Post(std::function<void(Blade&)> fn);
  // Leaves the cluster: sockets close, the thread ends (idempotent).
  void Stop();

 private:
  struct Parts;
  explicit EmbeddedBlade(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace bladesync::api
