// `bladesync conntrack ...`: the kernel table as bladesync reads and writes
// it, in the caller's network namespace (for admins and the benchmarks).
#pragma once

#include <string>
#include <vector>

namespace bladesync {

// words[0] == "conntrack". Returns the exit code.
int ConntrackTool(const std::vector<std::string>& words, bool json);

}  // namespace bladesync
