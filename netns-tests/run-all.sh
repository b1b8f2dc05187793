#!/usr/bin/env bash
# Runs every test vipd has: formatting, lints, unit, property, simulation and doc tests, every
# fuzz target for a short fixed time, the multi-host tests in network namespaces (vipd and
# keepalived side by side), the packaging (the .deb: contents, systemd unit, vipd as user vipd
# with only the unit's capabilities; the container entrypoint with a real nginx) and the
# README's demo.
#
#   sudo ./netns-tests/run-all.sh
#
# Needs root (network namespaces, raw sockets) and installs what the tests use with apt-get.
# The namespace tests never skip: without root they fail.
#
# Every step runs even when an earlier one failed; the closing lines give one pass/fail line
# per step, cargo's own totals (each test counted once) and the names of the failed tests, and
# the exit status is non-zero if anything failed. A watchdog bounds each step
# (VIPD_STEP_TIMEOUT seconds, default 1500) and names the tests still running when it fires.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "run-all.sh: the namespace tests need root: run it with sudo" >&2
    exit 1
fi

LOGS=$(mktemp -d /tmp/vipd-run-all.XXXXXX)
STEP_TIMEOUT=${VIPD_STEP_TIMEOUT:-1500}
STEPS=()
FAILED_STEPS=()

# step NAME COMMAND...: runs one step under the watchdog, its output to the terminal and to
# $LOGS/NAME.log, and records whether it passed.
step() {
    local name=$1
    shift
    echo "== $name"
    local start=$SECONDS
    # Through bash -c, so a step may be a function of this script (exported below).
    timeout --kill-after=30 "$STEP_TIMEOUT" bash -c '"$@"' "$name" "$@" 2>&1 |
        tee "$LOGS/$name.log"
    local rc=${PIPESTATUS[0]}
    local took=$((SECONDS - start))
    if [ "$rc" = 0 ]; then
        STEPS+=("pass  $name (${took} s)")
    else
        [ "$rc" = 124 ] && echo "run-all.sh: $name was stopped by the watchdog after ${STEP_TIMEOUT} s"
        STEPS+=("FAIL  $name (exit $rc, ${took} s; log: $LOGS/$name.log)")
        FAILED_STEPS+=("$name")
    fi
}

install_deps() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq &&
        apt-get install -y -qq keepalived bird2 iproute2 nftables iputils-ping python3 procps curl dnsmasq-base \
            >/dev/null &&
        # nginx for the BGP lab's hosts (netns_bgp) and the container entrypoint;
        # systemd-analyze and systemd-sysusers for the unit, dpkg-dev for the .deb's
        # dependencies.
        apt-get install -y -qq nginx-light systemd dpkg-dev util-linux >/dev/null
}

export -f install_deps
step install-deps install_deps
step fmt cargo fmt --all -- --check
step clippy cargo clippy --all-targets --quiet -- -D warnings
# --no-fail-fast: one failing binary does not hide the results of the others.
step cargo-test cargo test --all-targets --no-fail-fast
# `--all-targets` leaves the doc tests out.
step doc-test cargo test --doc
# Every fuzz target for FUZZ_SECONDS (30 s) each; a crash fails the step.
step fuzz bash fuzz/run.sh
step deb bash packaging/test-deb.sh
step container bash packaging/container/test-entrypoint.sh
step demo bash netns-tests/demo.sh

echo
echo "== summary"
printf '%s\n' "${STEPS[@]}"
# cargo's own "test result" lines, one per test binary, each test counted once.
cat "$LOGS/cargo-test.log" "$LOGS/doc-test.log" | awk '
    /^test result:/ { for (i = 1; i <= NF; i++) {
        if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1);
        if ($(i) ~ /^ignored;?$/) g += $(i-1) } }
    END { printf "cargo tests: %d passed, %d failed, %d ignored\n", p, f, g }'
failed_tests=$(cat "$LOGS/cargo-test.log" "$LOGS/doc-test.log" |
    sed -n 's/^test \(.*\) \.\.\. FAILED$/\1/p' | sort -u)
if [ -n "$failed_tests" ]; then
    echo "failed tests:"
    echo "$failed_tests" | sed 's/^/  /'
fi
stuck=$(cat "$LOGS"/*.log | sed -n 's/^test \(.*\) has been running for over 60 seconds$/\1/p' |
    sort -u)
if [ -n "$stuck" ]; then
    echo "tests that ran for over 60 s (the ones still running if the watchdog fired):"
    echo "$stuck" | sed 's/^/  /'
fi
if [ "${#FAILED_STEPS[@]}" != 0 ]; then
    echo "FAILED: ${FAILED_STEPS[*]}"
    exit 1
fi
echo "all ${#STEPS[@]} steps passed"
