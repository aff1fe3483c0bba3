// The main job: a whole cluster on this machine, traffic for a bounded
// time, the primary crashed halfway, then proof that the survivor picked up
// every synced session and that every mirror table equals its owner's.
#pragma once

#include <string>

#include "config/cluster_config.h"

namespace bladesync {

struct DemoOptions {
  std::string config_path;   // empty: the embedded examples/demo.conf
  int duration_s = -1;       // -1: from the config
  int rate = -1;
  int converge_timeout_s = 30;
  bool verbose = false;
  bool failover = true;      // crash the primary halfway and check the takeover
};

// Returns the process exit code: 0 only when no synced session was lost
// and every mirror matches.
int RunDemo(const DemoOptions& opt);

Result<ClusterConfig> LoadConfigOrDemo(const std::string& path);

}  // namespace bladesync
