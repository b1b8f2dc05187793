#!/usr/bin/env bash
# Steadiness under load: does a healthy VRRP pair stay put when both CPUs are saturated by
# other work? vipd and keepalived pairs run side by side, in the same run, each in its own lab
# (a switch namespace with a bridge, hosts h1 (priority 100) and h2 (priority 90), a client
# pinging the VIP every 10 ms); LOAD busy loops (default: one per CPU) run for the whole
# window. Nothing leaves the labs: their addresses exist only inside namespaces with no route
# out.
#
# Counted per pair over DURATION seconds, after both have elected:
#   - transitions: h2 entering MASTER and h1 leaving it (each one a spurious takeover: nothing
#     failed), from the agents' own logs;
#   - samples (every 100 ms) with two holders of the VIP, and with none;
#   - the client's longest ping gap.
#
# Builds nothing. Needs root, iproute2, iputils ping, keepalived (Debian package).
#   VIPD_BIN    vipd binary (default: ${CARGO_TARGET_DIR:-<repo>/target}/release/vipd)
#   DURATION    seconds measured (default 600)
#   ADVERT      advert_int (default 0.02)
#   FAMILY      4 or 6 (default 4); VRRPv3 always
#   PAIRS       pairs (default "ka+ka vipd+vipd")
#   LOAD        busy loops (default: number of CPUs; 0 = an idle machine)
#   KEEP_LOGS=1 keep the work directories
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export VIPD_BIN=${VIPD_BIN:-$TARGET/release/vipd}
export DURATION=${DURATION:-600}
export ADVERT=${ADVERT:-0.02}
export FAMILY=${FAMILY:-4}
export VERSION=3
PAIRS=${PAIRS:-"ka+ka vipd+vipd"}
LOAD=${LOAD:-$(nproc)}

if [[ $(id -u) -ne 0 ]]; then
    echo "steady.sh: needs root (network namespaces)" >&2
    exit 2
fi

# --one PAIR START_AT: one pair in its own lab; measures from START_AT (epoch seconds) for
# DURATION and prints one RESULT line.
if [[ ${1:-} == --one ]]; then
    pair=$2 start_at=$3
    PREFIX="vs$$"
    MAX_SECONDS=$(awk -v s="$start_at" -v d="$DURATION" -v n="$(date +%s)" 'BEGIN{printf "%d", s - n + d + 60}')
    # shellcheck source=netns-tests/bench/lab.sh
    source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"
    a=${pair%+*}; b=${pair#*+}
    lab_up
    start h1 "$a" 100 run
    start h2 "$b" 90 run
    dir="$WORK/run"
    if ! wait_until 20 elected >/dev/null; then
        echo "RESULT $pair no-election"
        exit 0
    fi
    setsid ip netns exec "$(ns cl)" ping -n -i 0.01 -D -O -w $((DURATION + 60)) "$(vip)" \
        >"$dir/ping.txt" 2>/dev/null </dev/null &
    PGIDS+=("$!")
    # Transitions as each agent logs them: vipd "VI_1: BACKUP -> MASTER: why",
    # keepalived "(VI_1) Entering MASTER STATE".
    count() { grep -cE "$2" "$dir/$1.log" || true; }
    to_master='-> MASTER|Entering MASTER STATE'
    from_master='MASTER -> |Entering (BACKUP|FAULT) STATE'
    while awk -v s="$start_at" -v n="$(now)" 'BEGIN{exit !(n < s)}'; do sleep 0.1; done
    b0=$(count h2 "$to_master"); a0=$(count h1 "$from_master")
    dual=0 none=0 samples=0
    end=$(awk -v s="$start_at" -v d="$DURATION" 'BEGIN{printf "%.3f", s + d}')
    while awk -v e="$end" -v n="$(now)" 'BEGIN{exit !(n < e)}'; do
        case $(holders) in
            h1+h2) dual=$((dual + 1)) ;;
            none) none=$((none + 1)) ;;
        esac
        samples=$((samples + 1))
        sleep 0.1
    done
    b1=$(count h2 "$to_master"); a1=$(count h1 "$from_master")
    echo "RESULT $pair h2_to_master=$((b1 - b0)) h1_from_master=$((a1 - a0))" \
        "dual=$dual none=$none samples=$samples gap=$(gap "$dir/ping.txt" "$start_at" "$end")"
    exit 0
fi

PREFIX="vs$$"
MAX_SECONDS=$((DURATION + 180))
# shellcheck source=netns-tests/bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
for p in $PAIRS; do
    if [[ $p == *vipd* && ! -x $VIPD_BIN ]]; then
        echo "steady.sh: no vipd at $VIPD_BIN (cargo build --release)" >&2
        exit 2
    fi
done

start_at=$(awk -v n="$(now)" 'BEGIN{printf "%.3f", n + 25}')
declare -A OUT
for p in $PAIRS; do
    OUT[$p]="$WORK/$p.out"
    setsid bash "${BASH_SOURCE[0]}" --one "$p" "$start_at" >"${OUT[$p]}" 2>"$WORK/$p.err" </dev/null &
    PGIDS+=("$!")
done
# The load starts with the window and ends with it.
while awk -v s="$start_at" -v n="$(now)" 'BEGIN{exit !(n < s)}'; do sleep 0.2; done
for _ in $(seq 1 "$LOAD"); do
    setsid timeout $((DURATION + 5)) sh -c 'while :; do :; done' </dev/null &
    PGIDS+=("$!")
done
log "window of ${DURATION}s started: $LOAD busy loops, pairs $PAIRS, advert_int $ADVERT, IPv$FAMILY"
for pg in "${PGIDS[@]}"; do wait "$pg" 2>/dev/null || true; done

echo
echo "Steadiness, VRRPv3 over IPv$FAMILY at advert_int $ADVERT, $LOAD busy loops on $(nproc) CPUs," \
    "${DURATION}s per pair, same run"
printf '%-12s %14s %16s %8s %8s %8s %10s\n' pair "h2 -> MASTER" "h1 left MASTER" dual none samples "max gap"
for p in $PAIRS; do
    line=$(grep '^RESULT' "${OUT[$p]}" || echo "RESULT $p failed: $(tail -3 "$WORK/$p.err" | tr '\n' ' ')")
    if [[ $line != *h2_to_master=* ]]; then echo "$line"; continue; fi
    v() { sed -E "s/.* $1=([^ ]+).*/\\1/" <<<"$line"; }
    printf '%-12s %14s %16s %8s %8s %8s %9ss\n' "$p" "$(v h2_to_master)" "$(v h1_from_master)" \
        "$(v dual)" "$(v none)" "$(v samples)" "$(v gap)"
done
echo "every transition counted here is spurious: no host, link or agent failed"
