#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test target.
# Ends with one line "tests: N passed, M failed" (test targets).
# BLADESYNC_TEST_ARGS adds bazel flags, e.g. "--test_tag_filters=-netns".
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh || { echo "tests: 0 passed, 1 failed"; exit 1; }
log=$(mktemp)
# shellcheck disable=SC2086
bazel test --nocache_test_results --test_summary=short --test_output=errors ${BLADESYNC_TEST_ARGS:-} //... 2>&1 | tee "$log" | grep -v -E '^[0-9]{10}\.[0-9]+: src/main/tools/linux-sandbox'
rc=${PIPESTATUS[0]}
passed=$(grep -c -E '^//[^ ]+ +(\(cached\) )?PASSED' "$log" || true)
failed=$(grep -c -E '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FLAKY|INCOMPLETE)|FAILED TO BUILD' "$log" || true)
rm -f "$log"
if [[ $rc -ne 0 && $failed -eq 0 ]]; then failed=1; fi  # the build itself broke
echo "tests: ${passed} passed, ${failed} failed"
[[ $rc -eq 0 ]]
