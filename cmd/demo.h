// The main job: a whole cluster on this machine, traffic for a bounded
// time, then proof that every mirror table equals its owner's.
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
};

// Returns the process exit code: 0 only when every mirror matches.
int RunDemo(const DemoOptions& opt);

Result<ClusterConfig> LoadConfigOrDemo(const std::string& path);

}  // namespace bladesync
