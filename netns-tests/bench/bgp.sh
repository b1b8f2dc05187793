#!/usr/bin/env bash
# BGP failover benchmark (docs/bgp.md): on the BGP lab of bgp-lab.sh (a router running BIRD
# with eBGP sessions to two hosts, each running BIRD from conf/bird/host.conf, nginx and
# vipd's route_instance at priority 150 (h1) and 100 (h2)), a client sends an HTTP request to
# the VIP every 10 ms and records which host answered. For each event, REPEAT times on a fresh
# lab, the time from the event to the first answer from h2, the longest time without any
# answer, and the requests lost:
#   nginx   nginx killed on h1 (vipd's track_process faults, the route is withdrawn)
#   cut     every packet on h1's eth0 dropped by nftables (BFD, or the hold timer, notices)
#   term    SIGTERM to h1's vipd (route withdrawn, address kept withdraw_delay 2 s)
# in two modes: BFD 100 ms x 3 (hold time 9), and no BFD with hold time 3 (BIRD's default
# hold time is 240 s). Prints medians, one table per mode.
#
# AGENT=manual runs without vipd: the hosts' routes are put in table 200 by hand and the events
# are `cut` and `withdraw` (the table-200 route of h1 deleted by hand, what vipd does on a
# fault or a stop); nginx and term need vipd.
#
# Builds nothing. Needs root, iproute2, nftables, bird2, nginx, python3.
#   VIPD_BIN    vipd binary (default: ${CARGO_TARGET_DIR:-<repo>/target}/release/vipd)
#   AGENT       vipd (default) or manual
#   REPEAT      runs per event and mode (default 5)
#   MODES       default "bfd nobfd"
#   EVENTS      default "nginx cut term" (manual: "cut withdraw")
#   MAX_SECONDS hard limit for the whole script (default 1200)
#   KEEP_LOGS=1 keep the work directory (BIRD, vipd and probe logs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VIPD_BIN=${VIPD_BIN:-$TARGET/release/vipd}
AGENT=${AGENT:-vipd}
REPEAT=${REPEAT:-5}
MODES=${MODES:-"bfd nobfd"}
if [[ $AGENT == manual ]]; then EVENTS=${EVENTS:-"cut withdraw"}; else EVENTS=${EVENTS:-"nginx cut term"}; fi
MAX_SECONDS=${MAX_SECONDS:-1200}

if [[ $(id -u) -ne 0 ]]; then
    echo "bgp.sh: needs root (network namespaces)" >&2
    exit 2
fi
for tool in ip nft bird birdc nginx python3 setsid awk; do
    command -v "$tool" >/dev/null || { echo "bgp.sh: $tool not found" >&2; exit 2; }
done
if [[ $AGENT == vipd && ! -x $VIPD_BIN ]]; then
    echo "bgp.sh: no vipd at $VIPD_BIN (cargo build --release, or AGENT=manual)" >&2
    exit 2
fi

PREFIX="vb$$"
# shellcheck source=netns-tests/bench/bgp-lab.sh
source "$(dirname "${BASH_SOURCE[0]}")/bgp-lab.sh"

# The client's probe: a new connection per request, one request every 10 ms for $2 seconds,
# each bounded by $3 seconds; one line per request: start end host|-.
cat >"$WORK/probe.py" <<'PY'
import socket, sys, time
addr, secs, timeout = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
end = time.time() + secs
out = open(sys.argv[4], "w", buffering=1)
while time.time() < end:
    t0, who = time.time(), "-"
    try:
        s = socket.create_connection((addr, 80), timeout=timeout)
        s.settimeout(timeout)
        s.sendall(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        if data.startswith(b"HTTP/1.1 200"):
            who = data.split(b"\r\n\r\n", 1)[1].strip().decode() or "-"
    except OSError:
        pass
    out.write("%.6f %.6f %s\n" % (t0, time.time(), who))
    time.sleep(0.01)
PY

# vipd_conf HOST PRIORITY: the route_instance of docs/bgp.md, tracking HOST's nginx.
vipd_conf() {
    cat <<CONF
global_defs {
    router_id $1
}

vrrp_track_process nginx_proc {
    process $(nginx_name "$1")
}

route_instance WEB {
    virtual_ipaddress {
        $VIP
    }
    priority $2
    route_table 200
    route_interface lo
    withdraw_delay 2
    track_process {
        nginx_proc
    }
}
CONF
}

declare -A VIPD
vipd_start() {
    vipd_conf "$1" "$2" >"$WORK/$1.vipd.conf"
    setsid ip netns exec "$(ns "$1")" "$VIPD_BIN" --config "$WORK/$1.vipd.conf" \
        --socket "$WORK/$1.sock" </dev/null >>"$WORK/$1.vipd.log" 2>&1 &
    VIPD[$1]=$!
    PGIDS+=("$!")
}

# wait_until SECONDS CMD...: polls every 20 ms; fails on timeout.
wait_until() {
    local limit=$1 t0; shift; t0=$(now)
    until "$@"; do
        awk -v a="$t0" -v b="$(now)" -v l="$limit" 'BEGIN{exit !(b-a>=l)}' && return 1
        sleep 0.02
    done
}
via() { [[ $(router_route) == *"via ${HADDR[$1]} "* && $(router_route) != *nexthop* ]]; }
served_by() { [[ $(ip netns exec "$(ns cl)" curl -s -m 1 "http://$VIP/") == "$1" ]]; }

# analyse FILE T: "moved gap lost": seconds from T to the end of the first request answered
# by h2 that started after T; the longest time from one answer to the next (or to the end of
# the probe) that ends after T; the requests started after T that got no answer.
analyse() {
    awk -v t="$2" '
        $3 != "-" { if ($2 >= t && last != "" && $2 - last > gap) gap = $2 - last; last = $2 }
        $1 >= t && $3 == "-" { lost++ }
        $1 >= t && $3 == "h2" && moved == "" { moved = $2 - t }
        { end = $2 }
        END { if (last == "" || end - last > gap) gap = end - (last == "" ? t : last)
              printf "%s %.3f %d\n", (moved == "" ? "NA" : sprintf("%.3f", moved)), gap, lost }
    ' "$1"
}

# one_run MODE EVENT RUN: sets RESULT to "moved gap lost" ("NA NA NA" when the lab did not
# come up). Runs in this shell so that cleanup knows its namespaces and processes.
one_run() {
    local mode=$1 event=$2 run=$3 t pf
    if [[ $mode == bfd ]]; then BFD=on HOLD=9; else BFD=off HOLD=3; fi
    bgp_lab_up
    if ! wait_until 20 established; then log "$run: sessions not established"; lab_down; RESULT="NA NA NA"; return; fi
    if [[ $AGENT == vipd ]]; then
        vipd_start h1 150
        vipd_start h2 100
    else
        announce h1 106
        announce h2 156
    fi
    if ! wait_until 10 via h1 || ! wait_until 5 served_by h1; then
        log "$run: h1 not preferred"; lab_down; RESULT="NA NA NA"; return
    fi
    # h2's route must be at the router too, or the event measures its arrival.
    wait_until 10 eval '[[ $(birdc_ r show route 2>/dev/null | grep -c "unicast \[h") == 2 ]]' ||
        log "$run: h2's route missing at the router"
    pf="$WORK/$run.probe"
    # 7 s: the first answers from h1 (python may take a second to start on a busy machine),
    # the event, and 5 s after it, more than the hold time of 3 s.
    setsid ip netns exec "$(ns cl)" python3 "$WORK/probe.py" "$VIP" 7 0.15 "$pf" </dev/null &
    PGIDS+=("$!")
    local probe=$!
    if ! wait_until 5 eval "[[ \$(grep -c ' h1\$' '$pf' 2>/dev/null) -ge 20 ]]"; then
        log "$run: the probe gets no answer from h1"; lab_down; RESULT="NA NA NA"; return
    fi
    t=$(now)
    case $event in
        nginx) kill_group KILL "${NGINX[h1]}" ;;
        cut) cut h1 ;;
        term) kill -TERM "${VIPD[h1]}" ;;
        withdraw) withdraw h1 ;;
    esac
    wait "$probe" 2>/dev/null || true
    RESULT=$(analyse "$pf" "$t")
    lab_down
}

median() { sort -n | awk '$1 != "NA" { v[n++] = $1 } END { if (!n) print "NA"; else if (n % 2) print v[(n-1)/2]; else printf "%.3f\n", (v[n/2-1] + v[n/2]) / 2 }'; }

declare -A MOVED GAP LOST
for mode in $MODES; do
    for event in $EVENTS; do
        moved=() gaps=() lost=0
        for i in $(seq 1 "$REPEAT"); do
            one_run "$mode" "$event" "$mode-$event-$i"
            read -r m g l <<<"$RESULT"
            log "$mode $event run $i: served by h2 after ${m}s, longest gap ${g}s, $l lost"
            moved+=("$m"); gaps+=("$g")
            [[ $l =~ ^[0-9]+$ ]] && lost=$((lost + l))
        done
        MOVED[$mode-$event]=$(printf '%s\n' "${moved[@]}" | median)
        GAP[$mode-$event]=$(printf '%s\n' "${gaps[@]}" | median)
        LOST[$mode-$event]=$lost
    done
done

echo
echo "BGP failover ($AGENT), h1 (priority 150) -> h2 (100), HTTP request every 10 ms from a" \
    "client (150 ms timeout); medians of $REPEAT"
printf '%-22s %-10s %14s %12s %12s\n' mode event "served by h2" "longest gap" "lost (all)"
for mode in $MODES; do
    case $mode in
        bfd) label="BFD 100ms x3, hold 9" ;;
        *) label="no BFD, hold 3" ;;
    esac
    for event in $EVENTS; do
        printf '%-22s %-10s %13ss %11ss %12s\n' "$label" "$event" "${MOVED[$mode-$event]}" \
            "${GAP[$mode-$event]}" "${LOST[$mode-$event]}"
    done
done
