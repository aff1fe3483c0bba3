#!/usr/bin/env bash
# Runs the libFuzzer build of the frame fuzzer from the seed corpus for a
# bounded time (FUZZ_SECONDS, default 60) under AddressSanitizer. New inputs
# go to a scratch copy; a crash fails the test and leaves its input in
# $TEST_UNDECLARED_OUTPUTS_DIR.
set -euo pipefail
fuzzer="$1"
corpus="$2"
work=$(mktemp -d)
cp "$corpus"/* "$work"/
out="${TEST_UNDECLARED_OUTPUTS_DIR:-$work}"
"$fuzzer" "$work" -max_total_time="${FUZZ_SECONDS:-60}" -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$out/" -print_final_stats=1 2>&1 | tail -25
