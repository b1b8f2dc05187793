#!/usr/bin/env bash
# Runs every test vipd has: formatting, lints, unit, property and simulation tests, the
# multi-host tests in network namespaces (vipd and keepalived side by side), and the
# packaging: the .deb (contents, systemd unit, vipd as user vipd with only the unit's
# capabilities) and the container entrypoint (with a real nginx, SIGTERM releases the VIP).
#
#   sudo ./netns-tests/run-all.sh
#
# Needs root (network namespaces, raw sockets) and installs what the tests use with apt-get.
# The namespace tests never skip: without root they fail.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "run-all.sh: the namespace tests need root: run it with sudo" >&2
    exit 1
fi

echo "== installing test dependencies"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq keepalived iproute2 nftables iputils-ping python3 procps curl >/dev/null
# packaging tests: nginx for the container entrypoint, systemd-analyze and systemd-sysusers for
# the unit, dpkg-dev for the .deb's dependencies.
apt-get install -y -qq nginx-light systemd dpkg-dev util-linux >/dev/null

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test (unit, property, simulation, netns)"
cargo test --all-targets 2>&1 | tee /tmp/vipd-cargo-test.log
echo "== packaging: the .deb (cargo-deb is installed on first use)"
bash packaging/test-deb.sh
echo "== packaging: the container entrypoint with nginx and vipd"
bash packaging/container/test-entrypoint.sh
echo "== the README's demo (fails if the VIP does not move as it should)"
bash netns-tests/demo.sh >/tmp/vipd-demo.log 2>&1 || { cat /tmp/vipd-demo.log; exit 1; }
grep '^==' /tmp/vipd-demo.log

# One closing line for the whole run: every cargo test result added up.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1);
     if ($(i) ~ /^failed;?$/) f += $(i-1) } } END { printf "tests: %d passed, %d failed\n", p, f }' \
    /tmp/vipd-cargo-test.log
