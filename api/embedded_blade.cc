#include "api/embedded_blade.h"

#include <atomic>

#include "config/cluster_config.h"
#include "fabric/fabric_context.h"
#include "runtime/chassis_runtime.h"
#include "runtime/fabric_security.h"
#include "runtime/node_thread.h"

namespace bladesync::api {

struct EmbeddedBlade::Parts {
  explicit Parts(ClusterConfig c) : cfg(std::move(c)) {}
  ClusterConfig cfg;
  FabricContext ctx{1};
  NodeThread zap_thread{"zap"};
  std::unique_ptr<ZapHandler> zap;
  std::unique_ptr<ChassisRuntime> runtime;
  uint8_t slot = 0;
  std::atomic<bool> stopped{false};
};

Result<std::unique_ptr<EmbeddedBlade>> EmbeddedBlade::Start(const EmbedOptions& o) {
  Result<ClusterConfig> cfg = LoadClusterConfigFile(o.config);
  if (!cfg.ok()) return cfg.status();
  if (!cfg->FindChassis(o.chassis)) {
    return InvalidArgument(o.config + ": no chassis " + std::to_string(o.chassis) + " in 'config chassis'");
  }
  if (o.slot < 1 || o.slot > cfg->slots) {
    return InvalidArgument(o.config + ": slot " + std::to_string(o.slot) + " is not one of the chassis's " +
                           std::to_string(cfg->slots) + " slots (set slots)");
  }
  if (cfg->blade_workers > 1) {
    // The embedder's data path is one thread handing sessions to one agent;
    // with workers the manager would send each worker its own flows.
    return InvalidArgument(o.config + ": 'set blade-workers " + std::to_string(cfg->blade_workers) +
                           "' (config system ha): an embedded blade runs one worker: set blade-workers 1");
  }
  auto parts = std::make_unique<Parts>(std::move(cfg).value());
  parts->slot = o.slot;
  Result<std::unique_ptr<ZapHandler>> zap = StartFabricSecurity(parts->cfg, parts->ctx, parts->zap_thread.loop());
  if (!zap.ok()) return zap.status();
  parts->zap = std::move(zap).value();
  if (parts->zap) parts->zap_thread.Start();
  RuntimeOptions ro;
  ro.run_manager = false;
  ro.all_slots = false;
  ro.slots = {o.slot};
  ro.epoch = o.epoch;
  ro.metrics = o.metrics;
  ro.embedded = true;
  parts->runtime = std::make_unique<ChassisRuntime>(parts->cfg, o.chassis, ro, parts->ctx);
  parts->runtime->set_zap(parts->zap.get());
  std::unique_ptr<EmbeddedBlade> blade(new EmbeddedBlade(std::move(parts)));
  if (Status s = blade->parts_->runtime->Start(); !s.ok()) {
    blade->Stop();
    return s;
  }
  return blade;
}

EmbeddedBlade::EmbeddedBlade(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

EmbeddedBlade::~EmbeddedBlade() { Stop(); }

void EmbeddedBlade::Run(const std::function<void(Blade&)>& fn) {
  if (!parts_->stopped) parts_->runtime->RunOnBlade(parts_->slot, fn);
}

void EmbeddedBlade::Post(std::function<void(Blade&)> fn) {
  if (!parts_->stopped) parts_->runtime->PostToBlade(parts_->slot, std::move(fn));
}

void EmbeddedBlade::Stop() {
  if (parts_->stopped.exchange(true)) return;
  parts_->runtime->Stop();
  // The ZAP handler's sockets belong to its thread: closed there, before the context goes.
  if (parts_->zap) {
    parts_->zap_thread.Call([&] { parts_->zap->Close(); });
    parts_->zap_thread.Stop();
  }
}

}  // namespace bladesync::api
