// RunCommand: runs a program (no shell) with `input` on its stdin and
// returns what it wrote to stdout and stderr; an error when it cannot
// start, exits non-zero (the output says why) or outlives `timeout` (then
// it is killed). For the few tools bladesync drives: nft, ip.
//
//   Result<std::string> out = RunCommand({"nft", "-f", "-"}, ruleset, seconds(2));
#pragma once

#include <string>
#include <vector>

#include "core/event_loop.h"
#include "core/status.h"

namespace bladesync {

Result<std::string> RunCommand(const std::vector<std::string>& argv, const std::string& input, Nanos timeout);

}  // namespace bladesync
