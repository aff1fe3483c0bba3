#!/usr/bin/env bash
# The seed corpus through the fuzz target once, in the normal build.
set -euo pipefail
"$1" "$2"
