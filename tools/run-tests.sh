#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test target,
# then the frame fuzzer under libFuzzer + AddressSanitizer for a bounded
# time (FUZZ_SECONDS, default 60; 0 skips it). Prints "skipped: K" (targets
# that could not run here, and the fuzzer when skipped), then ends with one
# line "tests: N passed, M failed" (test targets). A defined target that did
# not run (a tag filter, a target marked manual) counts as failed.
# BLADESYNC_TEST_ARGS adds bazel flags, e.g. "--test_tag_filters=-netns".
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh || { echo "tests: 0 passed, 1 failed"; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
filter() { grep -v -E '^[0-9]{10}\.[0-9]+: src/main/tools/linux-sandbox'; }

# The package test installs the .deb into a fresh Debian 12 root, made (or
# refreshed) here from a Debian mirror; without one that test says SKIPPED.
if ! { bazel build //packaging:deb 2>&1 | filter && bash tools/fresh-root.sh bazel-bin/packaging/bladesync.deb; }; then
  echo "run-tests: no fresh Debian 12 root for the package test"
fi
# The mixed-version tests run this build against the previous release,
# built from its commit; without it they say SKIPPED.
read -r baseline baseline_commit < tests/integration/baseline_release.txt
if ! bash tools/build-release.sh "$baseline" "$baseline_commit" >/dev/null; then
  echo "run-tests: could not build release $baseline for the mixed-version tests"
fi
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
# One outcome per test target over both runs (a failure in either counts);
# skipped targets are not passes; every defined target must have run.
declare -A outcome
while read -r target status; do
  if [[ "$status" == PASSED ]]; then
    [[ "${outcome[$target]:-}" == FAILED ]] || outcome[$target]=PASSED
  else
    outcome[$target]=FAILED
  fi
done < <(grep -E '^//[^ ]+ +(\(cached\) )?(PASSED|FAILED|TIMEOUT|NO STATUS|FLAKY|INCOMPLETE)' "$log" |
         sed -E 's/ +\(cached\)//' | awk '{print $1, $2}')
# A skip is a target that ran in this invocation and passed saying
# "SKIPPED:" (a failure stays a failure; a log left from an earlier run of
# a target that did not run now is no skip).
for t in $skipped; do
  [[ "${outcome["//${t%/*}:${t##*/}"]:-}" == PASSED ]] && outcome["//${t%/*}:${t##*/}"]=SKIPPED
done
passed=0 failed=0 skips=0
for t in "${!outcome[@]}"; do
  case "${outcome[$t]}" in PASSED) passed=$((passed + 1)) ;; SKIPPED) skips=$((skips + 1)) ;; *) failed=$((failed + 1)) ;; esac
done
if [[ $rc -ne 0 && $failed -eq 0 ]]; then failed=1; fi  # the build itself broke
defined=$(bazel query 'kind(".*_test rule", //...)' 2>/dev/null | wc -l)
if (( defined == 0 )); then
  echo "run-tests: bazel query found no test targets: cannot tell whether every target ran"
  failed=$((failed + 1))
fi
ran=$((passed + failed + skips))
if (( ran < defined )); then
  echo "only ${ran} of the ${defined} test targets ran (a tag filter? a target marked manual?): the rest count as failed"
  failed=$((failed + defined - ran))
fi
[[ "${FUZZ_SECONDS:-60}" == "0" ]] && { echo "fuzzer: not run (FUZZ_SECONDS=0)"; skips=$((skips + 1)); }
echo "skipped: ${skips}"
echo "tests: ${passed} passed, ${failed} failed"
[[ $rc -eq 0 && $failed -eq 0 ]]
