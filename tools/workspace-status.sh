#!/usr/bin/env bash
# Bazel's workspace status (.bazelrc): the commit this tree was built from,
# for --version and bladesync_build_info ("unknown" outside a git clone).
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [[ $commit != unknown ]] && ! git diff --quiet HEAD -- 2>/dev/null; then commit="$commit-dirty"; fi
echo "STABLE_BLADESYNC_COMMIT $commit"
