// The one place the release number lives: --version, bladesync_build_info
// and the Debian package read it from here.
#pragma once

#include "core/build_commit.h"  // kCommit: the git commit, stamped by Bazel

namespace bladesync {
inline constexpr const char kVersion[] = "0.3.0";
}  // namespace bladesync
