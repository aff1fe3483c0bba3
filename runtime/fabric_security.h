// FabricSecurity: what a process does at start for the fabric's
// authentication: the ZAP handler that admits the cluster's CURVE keys, and
// a warning when the fabric runs unauthenticated.
//
//   NodeThread zap_thread("zap");
//   Result<std::unique_ptr<ZapHandler>> zap = StartFabricSecurity(cfg, ctx, zap_thread.loop());
//   zap_thread.Start();   // only when *zap is not null
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/cluster_config.h"
#include "core/asio_event_loop.h"
#include "core/status.h"
#include "fabric/zap_handler.h"

namespace bladesync {

// Null (and a warning logged) when the fabric is unauthenticated. The demo
// passes warn = false: its password is in the repository on purpose.
Result<std::unique_ptr<ZapHandler>> StartFabricSecurity(const ClusterConfig& cfg, FabricContext& ctx,
                                                        AsioEventLoop& loop, bool warn = true);

// What an operator should fix: a short password, a config file with the
// password that others can read. Logged at start, printed by check-config.
std::vector<std::string> FabricWarnings(const ClusterConfig& cfg);

// "password", "keys" or "off", as status and check-config say it.
const char* FabricAuthName(ClusterConfig::FabricAuth auth);

}  // namespace bladesync
