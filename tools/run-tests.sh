#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test target,
# then the frame fuzzer under libFuzzer + AddressSanitizer for a bounded
# time (FUZZ_SECONDS, default 60; 0 skips it). Ends with one line
# "tests: N passed, M failed" (test targets).
# BLADESYNC_TEST_ARGS adds bazel flags, e.g. "--test_tag_filters=-netns".
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh || { echo "tests: 0 passed, 1 failed"; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
filter() { grep -v -E '^[0-9]{10}\.[0-9]+: src/main/tools/linux-sandbox'; }

# shellcheck disable=SC2086
bazel test --nocache_test_results --test_summary=short --test_output=errors ${BLADESYNC_TEST_ARGS:-} //... 2>&1 | tee "$log" | filter
rc=${PIPESTATUS[0]}
# Read before the fuzz run re-points bazel-testlogs. Tests that could not
# run here say so ("SKIPPED: why"); they are not passes.
skipped=$(grep -l -r "SKIPPED: " bazel-testlogs/ --include=test.log 2>/dev/null | sed 's|bazel-testlogs/||; s|/test.log||' || true)
if [[ -n "$skipped" ]]; then
  echo "skipped (could not run on this machine):"
  for t in $skipped; do echo "  //${t%/*}:${t##*/}: $(grep -h -m1 -o 'SKIPPED: .*' "bazel-testlogs/$t/test.log")"; done
fi
if [[ "${FUZZ_SECONDS:-60}" != "0" ]]; then
  echo "== frame fuzzer: ${FUZZ_SECONDS:-60} s under libFuzzer + AddressSanitizer =="
  bazel test --config=fuzz --nocache_test_results --test_summary=short --test_output=errors \
    --test_env=FUZZ_SECONDS="${FUZZ_SECONDS:-60}" //tests/fuzz:frame_fuzz_test 2>&1 | tee -a "$log" | filter
  frc=${PIPESTATUS[0]}
  [[ $frc -ne 0 ]] && rc=$frc
fi
passed=$(grep -c -E '^//[^ ]+ +(\(cached\) )?PASSED' "$log" || true)
passed=$((passed - $(echo -n "$skipped" | grep -c . || true)))
failed=$(grep -c -E '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FLAKY|INCOMPLETE)|FAILED TO BUILD' "$log" || true)
if [[ $rc -ne 0 && $failed -eq 0 ]]; then failed=1; fi  # the build itself broke
echo "tests: ${passed} passed, ${failed} failed"
[[ $rc -eq 0 ]]
