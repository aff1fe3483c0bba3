#!/usr/bin/env bash
# Installs what bladesync needs to build, run and test on Debian 12, and only
# what is missing: a second run does nothing. Called by the README commands.
set -euo pipefail

packages=(
  # Bazel 4's py_test launchers run "/usr/bin/env python": Debian's python3 as python.
  bazel-bootstrap g++ python3 python-is-python3
  libzmq3-dev libsodium-dev cppzmq-dev libflatbuffers-dev flatbuffers-compiler
  libboost-dev prometheus-cpp-dev librapidcheck-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  iproute2 procps
  clang libclang-rt-14-dev
  prometheus curl
  # Linux firewall clusters: the kernel session source/sink and conntrackd
  # for the side-by-side runs.
  conntrack conntrackd nftables libnetfilter-conntrack-dev libmnl-dev
  # keepalived (VRRP) for the side-by-side failover comparison.
  keepalived
  # Running as a systemd service: sd_notify (Type=notify, the watchdog).
  libsystemd-dev
  # The Debian package (tools/build-deb.sh) and its check in a fresh root.
  dpkg-dev lintian debootstrap groff-base
  # The status page's test: a real browser, headless.
  chromium chromium-driver python3-selenium
)
# Extra groups a caller can ask for: BLADESYNC_EXTRA="perf"
for group in ${BLADESYNC_EXTRA:-}; do
  case "$group" in
    perf) packages+=(linux-perf valgrind) ;;
    *) echo "install-deps: unknown group '$group'" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
