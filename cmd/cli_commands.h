// The operator CLI's commands (FortiOS wording) and the tools around them.
#pragma once

#include <string>
#include <vector>

namespace bladesync {

// argv without the program name; returns the exit code.
int RunCli(const std::vector<std::string>& args);

}  // namespace bladesync
