#!/usr/bin/env bash
# Runs every fuzz target (or those named) and prints one line per target: executions, crashes.
#
#   fuzz/run.sh                      # CI: 30 s per target (FUZZ_SECONDS)
#   FUZZ_RUNS=10000000 fuzz/run.sh   # long: 10^7 executions per target
#   fuzz/run.sh vrrp_receive         # one target
#
# Builds with cargo-fuzz on the stable toolchain without a sanitizer (`-s none`): libFuzzer's
# coverage guidance works there, and Rust's own checks (bounds, overflow in debug assertions,
# the targets' asserts) are what find the bugs. Installs cargo-fuzz on first use. Each target
# starts from its committed seeds (fuzz/seeds/TARGET) in a scratch corpus; a crash leaves its
# input in fuzz/artifacts/TARGET and makes the script exit non-zero.
set -uo pipefail
cd "$(dirname "$0")/.."

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz@0.13.2
mapfile -t targets < <(if [ $# -gt 0 ]; then printf '%s\n' "$@"; else
    sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^vipd-fuzz$'; fi)
if [ -n "${FUZZ_RUNS:-}" ]; then
    limit=(-runs="$FUZZ_RUNS")
else
    limit=(-max_total_time="${FUZZ_SECONDS:-30}")
fi

# One build for all targets (quiet unless it fails).
if ! cargo +stable fuzz build -s none --debug-assertions >"${TMPDIR:-/tmp}/vipd-fuzz-build.log" 2>&1; then
    cat "${TMPDIR:-/tmp}/vipd-fuzz-build.log"
    exit 1
fi
scratch=$(mktemp -d /tmp/vipd-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
failed=()
printf '%-20s %14s %8s %8s\n' target executions crashes seconds
for t in "${targets[@]}"; do
    mkdir -p "$scratch/$t"
    cp fuzz/seeds/"$t"/* "$scratch/$t/" 2>/dev/null || true
    # forwarder_stream reads 64 two-byte steps at most: longer inputs would only waste
    # mutations on bytes it ignores.
    max_len=4096
    [ "$t" = forwarder_stream ] && max_len=128
    start=$SECONDS
    cargo +stable fuzz run -s none --debug-assertions "$t" "$scratch/$t" -- "${limit[@]}" \
        -max_len="$max_len" -print_final_stats=1 >"$scratch/$t.log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$t.log" | tail -1)
    crashes=0
    if [ "$rc" != 0 ]; then
        crashes=1
        failed+=("$t")
    fi
    printf '%-20s %14s %8s %8s\n' "$t" "${runs:-?}" "$crashes" "$((SECONDS - start))"
    [ "$rc" = 0 ] || grep -E 'panicked|ERROR|Test unit written' "$scratch/$t.log" | head -5
done
if [ "${#failed[@]}" != 0 ]; then
    echo "fuzz: crashes in ${failed[*]} (inputs in fuzz/artifacts/)"
    exit 1
fi
