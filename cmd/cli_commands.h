// The operator CLI's commands (FortiOS wording) and the tools around them.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace bladesync {

// A command-line number: whole, in [lo, hi], nothing after it ("3x", "-1"
// where lo is 0, and "" are not numbers, never a default). Both binaries.
std::optional<long> ParseWholeNumber(const std::string& v, long lo, long hi);

// argv without the program name; returns the exit code.
int RunCli(const std::vector<std::string>& args);

}  // namespace bladesync
