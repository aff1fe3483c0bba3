// Status reports of a chassis as JSON, for the CLI (--json) and the demo.
//
//   get system ha status        -> HaStatusJson
//   diagnose sys session sync   -> SessionSyncJson
#pragma once

#include <string>

#include "config/cluster_config.h"
#include "manager/chassis_manager.h"

namespace bladesync {

std::string HaStatusJson(const ChassisManager& m, const ClusterConfig& cfg);
std::string SessionSyncJson(const ChassisManager& m);
std::string HaStatusText(const ChassisManager& m, const ClusterConfig& cfg);
std::string SessionSyncText(const ChassisManager& m);
std::string Hex64(uint64_t v);

}  // namespace bladesync
