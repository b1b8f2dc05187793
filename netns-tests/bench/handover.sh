#!/usr/bin/env bash
# Planned-switchover benchmark: `vipctl handover` on a vipd master beside keepalived's own way
# to move a master (SIGTERM: it sends priority 0, removes the VIP and exits), in the same run,
# on the same 2-host lab as the netns tests (switch namespace with a bridge, hosts h1
# (priority 100, the master) and h2 (priority 90), a client pinging the VIP every 10 ms).
# Nothing leaves the lab: its /24 exists only inside namespaces with no route out, and nothing
# is connected to the root namespace.
#
# Each run, for each row (pairs of the same kind; h1 is the master):
#   vipd-handover      `vipctl handover` on h1
#   vipd-sigterm       SIGTERM to h1 (`systemctl stop`: a make-before-break handover)
#   ka-sigterm         SIGTERM to h1 (keepalived's stop: priority 0, VIP removed at once)
#   vipd-upgrade       `vipctl upgrade` on h1 (re-executes in place; the VIP should not move)
#   vipd-kill9-restart kill -9 of h1, started again at once (Restart=on-failure)
#   vipd-restart       SIGTERM to h1, started again when it has exited (`systemctl restart`)
#   ka-restart         the same with keepalived
# the longest gap between ping replies from just before the event until 1 s after it is over
# (h2 holds the VIP; h1 holds it again; or, for the rows where nothing should move, 6 s,
# longer than h2's Master_Down_Interval), the pings lost, and how many times h2 became
# master. Prints the medians of REPEAT runs and each row's ratio to keepalived's SIGTERM.
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

# to_master HOST: how many times its agent logged becoming master.
to_master() { grep -cE -- '-> MASTER|Entering MASTER STATE' "$dir/$1.log" || true; }

# measure_window PINGFILE FROM H2_MASTER_BEFORE: R_GAP, R_LOST and R_PEER from FROM to now.
measure_window() {
    local t1; t1=$(now)
    R_GAP=$(gap "$1" "$2" "$t1")
    R_LOST=$(lost "$1" "$2" "$t1")
    R_LOST=${R_LOST%% *}
    R_PEER=$(( $(to_master h2) - $3 ))
    echo "$2 $t1" >"$dir/window.txt"
}

# one_run ROW RUN: sets R_GAP (longest ping gap, s), R_LOST (pings lost), R_MOVE (s until the
# event was over) and R_PEER (times h2 became master).
one_run() {
    local row=$1 run=$2 kind t pingf ctl="" before
    dir="$WORK/$2"
    kind=vipd
    [[ $row == ka-* ]] && kind=ka
    lab_up
    start h1 "$kind" 100 "$run"
    start h2 "$kind" 90 "$run"
    R_GAP=NA R_MOVE=NA R_LOST=NA R_PEER=NA
    if ! wait_until 20 elected >/dev/null; then log "$run: no election"; lab_down; return 0; fi
    # Past the second GARP burst (garp_master_delay 5 s), so that both agents are idle.
    sleep 5
    pingf="$dir/ping.txt"
    setsid ip netns exec "$(ns cl)" ping -n -i 0.01 -D -O -w 60 "$VIP" >"$pingf" 2>/dev/null </dev/null &
    PGIDS+=("$!")
    wait_until 5 reply_after "$pingf" "$(now)" >/dev/null || log "$run: client gets no reply"
    sleep 1
    before=$(to_master h2)
    t=$(now)
    case $row in
        vipd-handover)
            # In the background: vipctl answers once the VIP has moved; time the move here.
            setsid timeout 20 "$VIPCTL_BIN" --socket "$dir/h1.sock" handover VI_1 \
                >>"$dir/vipctl.txt" 2>&1 </dev/null &
            PGIDS+=("$!")
            ctl=$! ;;
        vipd-upgrade | vipd-kill9-restart | vipd-restart | ka-restart)
            case $row in
                vipd-upgrade)
                    timeout 20 "$VIPCTL_BIN" --socket "$dir/h1.sock" upgrade >>"$dir/vipctl.txt" 2>&1 ||
                        log "$run: vipctl upgrade failed: $(cat "$dir/vipctl.txt")" ;;
                vipd-kill9-restart)
                    kill -KILL "${PID[h1]}" 2>/dev/null || true
                    wait "${PID[h1]}" 2>/dev/null || true
                    start h1 vipd 100 "$run" ;;
                *)
                    kill -TERM "${PID[h1]}" 2>/dev/null || true
                    wait_until 20 not_alive h1 >/dev/null || log "$run: h1 ignores SIGTERM"
                    wait "${PID[h1]}" 2>/dev/null || true
                    start h1 "$kind" 100 "$run" ;;
            esac
            if [[ $row == *-restart && $row != vipd-kill9-restart ]]; then
                # The VIP went to h2; done when h1 has it back (preemption).
                R_MOVE=$(wait_until 20 elected) || R_MOVE=NA
            else
                sleep 6
                elected && R_MOVE=0 || R_MOVE=NA
            fi
            sleep 1
            measure_window "$pingf" "$t" "$before"
            lab_down
            return 0 ;;
        *) kill -TERM "${PID[h1]}" 2>/dev/null || true ;;
    esac
    if R_MOVE=$(wait_until 15 has_vip h2) && wait_until 5 reply_after "$pingf" "$t" >/dev/null; then
        if [[ -n $ctl ]] && ! wait "$ctl"; then
            log "$run: vipctl handover failed: $(cat "$dir/vipctl.txt")"
        fi
        sleep 1
        measure_window "$pingf" "$t" "$before"
    else
        R_MOVE=NA
        log "$run: the VIP did not move"
    fi
    lab_down
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "-"; else printf "%.3f", a / b }'; }

ROWS=${ROWS:-"vipd-handover vipd-sigterm ka-sigterm vipd-upgrade vipd-kill9-restart vipd-restart ka-restart"}
declare -A GAP MOVE ALL LOST PEER
# Interleave the rows run by run, so that a noisy minute hurts them all alike.
for i in $(seq 1 "$REPEAT"); do
    for row in $ROWS; do
        one_run "$row" "$row-$i"
        log "$row run $i: longest ping gap ${R_GAP}s, ${R_LOST} ping(s) lost, over after ${R_MOVE}s," \
            "h2 became master ${R_PEER} time(s)"
        LOST[$row]="${LOST[$row]:-} $R_LOST"
        PEER[$row]="${PEER[$row]:-} $R_PEER"
        GAP[$row]="${GAP[$row]:-} $R_GAP"
        MOVE[$row]="${MOVE[$row]:-} $R_MOVE"
    done
done
for row in $ROWS; do
    ALL[$row]=$(echo "${GAP[$row]}" | tr ' ' '\n' | awk 'NF' | sort -g | awk '{printf "%s%.0f", (NR>1?" ":""), $1*1000}')
    GAP[$row]=$(echo "${GAP[$row]}" | tr ' ' '\n' | awk 'NF' | median)
    MOVE[$row]=$(echo "${MOVE[$row]}" | tr ' ' '\n' | awk 'NF' | median)
    LOST[$row]=$(echo "${LOST[$row]}" | tr ' ' '\n' | awk 'NF' | median)
    PEER[$row]=$(echo "${PEER[$row]}" | tr ' ' '\n' | awk 'NF' | median)
done

echo
echo "Planned operations, 2 hosts (prio 100/90, advert_int 1), 10 ms ping from a client; medians of $REPEAT"
printf '%-19s %16s %12s %11s %10s %10s   %s\n' row "longest gap (s)" "ratio to ka" "pings lost" \
    "over (s)" "h2 master" "all gaps (ms)"
for row in $ROWS; do
    printf '%-19s %16s %12s %11.0f %10s %10.0f   %s\n' "$row" "${GAP[$row]}" \
        "$(ratio "${GAP[$row]}" "${GAP[ka-sigterm]:-NA}")" "${LOST[$row]}" "${MOVE[$row]}" \
        "${PEER[$row]}" "${ALL[$row]}"
done
echo "ratio = this row's median longest gap / keepalived SIGTERM's (lower is better); over = until"
echo "h2 held the VIP (handover, SIGTERM), h1 held it again (restart), or 0 when it never moved;"
echo "h2 master = times h2 became master (0: the peer saw no takeover);"
echo "ping -i 0.01 sends every 10-20 ms here, so a gap of about 20 ms with 0 lost is no loss at all"
