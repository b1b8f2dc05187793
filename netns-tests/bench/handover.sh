#!/usr/bin/env bash
# Planned-switchover benchmark: `vipctl handover` on a vipd master beside keepalived's own way
# to move a master (SIGTERM: it sends priority 0, removes the VIP and exits), in the same run,
# on the same 2-host lab as the netns tests (switch namespace with a bridge, hosts h1
# (priority 100, the master) and h2 (priority 90), a client pinging the VIP every 10 ms).
# Nothing leaves the lab: its /24 exists only inside namespaces with no route out, and nothing
# is connected to the root namespace.
#
# Each run, for each row:
#   vipd handover    vipd+vipd, `vipctl handover` on h1
#   vipd SIGTERM     vipd+vipd, SIGTERM to h1 (priority 0, VIP removed at once, as keepalived)
#   ka SIGTERM       ka+ka, SIGTERM to h1
# the longest gap between ping replies from just before the event until 1 s after h2 holds
# the VIP. Prints the medians of REPEAT runs and each row's ratio to keepalived's.
#
# Builds nothing. Needs root, iproute2, iputils ping, keepalived (Debian package).
#   VIPD_BIN    vipd binary   (default: ${CARGO_TARGET_DIR:-<repo>/target}/release/vipd)
#   VIPCTL_BIN  vipctl binary (default: beside VIPD_BIN)
#   REPEAT      runs per row (default 5)
#   MAX_SECONDS hard limit for the whole script (default 900)
#   KEEP_LOGS=1 keep the work directory (agent logs, ping output)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VIPD_BIN=${VIPD_BIN:-$TARGET/release/vipd}
VIPCTL_BIN=${VIPCTL_BIN:-$(dirname "$VIPD_BIN")/vipctl}
REPEAT=${REPEAT:-5}
MAX_SECONDS=${MAX_SECONDS:-900}

if [[ $(id -u) -ne 0 ]]; then
    echo "handover.sh: needs root (network namespaces)" >&2
    exit 2
fi
for tool in ip ping awk setsid keepalived; do
    command -v "$tool" >/dev/null || { echo "handover.sh: $tool not found" >&2; exit 2; }
done
for bin in "$VIPD_BIN" "$VIPCTL_BIN"; do
    [[ -x $bin ]] || { echo "handover.sh: $bin not built (cargo build --release --bins)" >&2; exit 2; }
done

PREFIX="vh$$"
# shellcheck source=netns-tests/bench/lab.sh
source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"

# one_run ROW RUN: sets R_GAP (longest ping gap, s), R_LOST (pings lost) and R_MOVE (s until
# h2 held the VIP).
one_run() {
    local row=$1 run=$2 dir="$WORK/$2" kind t pingf ctl=""
    kind=vipd
    [[ $row == ka-sigterm ]] && kind=ka
    lab_up
    start h1 "$kind" 100 "$run"
    start h2 "$kind" 90 "$run"
    R_GAP=NA R_MOVE=NA R_LOST=NA
    if ! wait_until 20 elected >/dev/null; then log "$run: no election"; lab_down; return 0; fi
    # Past the second GARP burst (garp_master_delay 5 s), so that both agents are idle.
    sleep 5
    pingf="$dir/ping.txt"
    setsid ip netns exec "$(ns cl)" ping -n -i 0.01 -D -O -w 60 "$VIP" >"$pingf" 2>/dev/null </dev/null &
    PGIDS+=("$!")
    wait_until 5 reply_after "$pingf" "$(now)" >/dev/null || log "$run: client gets no reply"
    sleep 1
    t=$(now)
    case $row in
        vipd-handover)
            # In the background: vipctl answers once the VIP has moved; time the move here.
            setsid timeout 20 "$VIPCTL_BIN" --socket "$dir/h1.sock" handover VI_1 \
                >>"$dir/vipctl.txt" 2>&1 </dev/null &
            PGIDS+=("$!")
            ctl=$! ;;
        *) kill -TERM "${PID[h1]}" 2>/dev/null || true ;;
    esac
    if R_MOVE=$(wait_until 15 has_vip h2) && wait_until 5 reply_after "$pingf" "$t" >/dev/null; then
        if [[ -n $ctl ]] && ! wait "$ctl"; then
            log "$run: vipctl handover failed: $(cat "$dir/vipctl.txt")"
        fi
        sleep 1
        local t1; t1=$(now)
        R_GAP=$(gap "$pingf" "$t" "$t1")
        R_LOST=$(lost "$pingf" "$t" "$t1")
        R_LOST=${R_LOST%% *}
        echo "$t $t1" >"$dir/window.txt"
    else
        R_MOVE=NA
        log "$run: the VIP did not move"
    fi
    lab_down
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "-"; else printf "%.3f", a / b }'; }

ROWS="vipd-handover vipd-sigterm ka-sigterm"
declare -A GAP MOVE ALL LOST
# Interleave the rows run by run, so that a noisy minute hurts them all alike.
for i in $(seq 1 "$REPEAT"); do
    for row in $ROWS; do
        one_run "$row" "$row-$i"
        log "$row run $i: longest ping gap ${R_GAP}s, ${R_LOST} ping(s) lost, VIP on h2 after ${R_MOVE}s"
        LOST[$row]="${LOST[$row]:-} $R_LOST"
        GAP[$row]="${GAP[$row]:-} $R_GAP"
        MOVE[$row]="${MOVE[$row]:-} $R_MOVE"
    done
done
for row in $ROWS; do
    ALL[$row]=$(echo "${GAP[$row]}" | tr ' ' '\n' | awk 'NF' | sort -g | awk '{printf "%s%.0f", (NR>1?" ":""), $1*1000}')
    GAP[$row]=$(echo "${GAP[$row]}" | tr ' ' '\n' | awk 'NF' | median)
    MOVE[$row]=$(echo "${MOVE[$row]}" | tr ' ' '\n' | awk 'NF' | median)
    LOST[$row]=$(echo "${LOST[$row]}" | tr ' ' '\n' | awk 'NF' | median)
done

echo
echo "Planned switchover, 2 hosts (prio 100/90, advert_int 1), 10 ms ping from a client; medians of $REPEAT"
printf '%-15s %16s %12s %11s %14s   %s\n' row "longest gap (s)" "ratio to ka" "pings lost" \
    "VIP moved (s)" "all gaps (ms)"
for row in $ROWS; do
    printf '%-15s %16s %12s %11.0f %14s   %s\n' "$row" "${GAP[$row]}" \
        "$(ratio "${GAP[$row]}" "${GAP[ka-sigterm]}")" "${LOST[$row]}" "${MOVE[$row]}" "${ALL[$row]}"
done
echo "ratio = this row's median longest gap / keepalived SIGTERM's (lower is better);"
echo "ping -i 0.01 sends every 10-20 ms here, so a gap of about 20 ms with 0 lost is no loss at all"
