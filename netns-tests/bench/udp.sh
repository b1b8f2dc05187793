#!/usr/bin/env bash
# UDP forwarder benchmark: one UDP echo server reached directly, through vipd's UDP
# virtual_server, and through socat (`UDP-LISTEN:PORT,fork,reuseaddr UDP:SERVER`; HAProxy 2.6
# forwards no UDP), side by side in one run.
#
# Everything runs inside one network namespace made for the run, on its loopback: nothing
# leaves it. The forwarder under test is pinned to CPU 0 (socat's children inherit it), the
# client and the echo server to CPU 1. The client is a small Python program: it sends a
# 64-byte request and waits for the answer before the next (one at a time, so requests/s is
# 1 / round trip), for DURATION seconds or COUNT requests, whichever ends first. Two loads:
#   - one flow: one client socket for every request (a long-lived client),
#   - a flow per request: a fresh socket (a new source port) per request, as DNS clients
#     do; NEW_COUNT requests at most (each is a new socat child, or a new vipd flow).
# Printed per target: requests/s, p50 and p99 round trip in microseconds, and the
# forwarder's CPU milliseconds per 1000 datagrams forwarded (two per request; utime+stime
# from /proc, socat's children included), with the ratio vipd/socat. Medians of REPEAT runs,
# the targets in alternating order.
#
# Builds nothing. Needs root, iproute2, taskset, socat, python3:
#   VIPD_BIN    vipd binary (default: ${CARGO_TARGET_DIR:-<repo>/target}/release/vipd)
#   DURATION    seconds per run (default 5)
#   COUNT       requests per one-flow run at most (default 200000)
#   NEW_COUNT   requests per flow-per-request run at most (default 1000)
#   REPEAT      runs per target and load (default 3)
#   MAX_SECONDS hard limit for the whole script (default 600)
#   KEEP_LOGS=1 keep the work directory
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VIPD_BIN=${VIPD_BIN:-$TARGET/release/vipd}
DURATION=${DURATION:-5}
COUNT=${COUNT:-200000}
NEW_COUNT=${NEW_COUNT:-1000}
REPEAT=${REPEAT:-3}
MAX_SECONDS=${MAX_SECONDS:-600}

if [[ $(id -u) -ne 0 ]]; then
    echo "udp.sh: needs root (network namespace)" >&2
    exit 2
fi
for tool in ip taskset socat python3 awk setsid; do
    command -v "$tool" >/dev/null || {
        echo "udp.sh: $tool not found (apt-get install -y socat python3)" >&2
        exit 2
    }
done
[[ -x $VIPD_BIN ]] || { echo "udp.sh: no vipd at $VIPD_BIN (cargo build --release)" >&2; exit 2; }

PREFIX="vb$$-udp"
# shellcheck source=netns-tests/bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
NS=$PREFIX
RESULTS=$WORK/results          # lines: METRIC TARGET VALUE
HZ=$(getconf CLK_TCK)

start() {
    local name=$1 cpu=$2; shift 2
    setsid ip netns exec "$NS" taskset -c "$cpu" "$@" >"$WORK/$name.log" 2>&1 &
    PID=$!
    PGIDS+=("$PID")
}

# CPU ticks of every process in process group $1, with the children it reaped.
group_ticks() {
    local pg=$1 t=0 f
    for f in /proc/[0-9]*/stat; do
        local stat rest fields
        stat=$(cat "$f" 2>/dev/null) || continue
        rest=${stat##*) }
        read -r -a fields <<<"$rest"
        [[ ${fields[2]} == "$pg" ]] || continue
        # utime stime cutime cstime: fields 14-17, here 11-14 after "pid (comm)".
        t=$((t + fields[11] + fields[12] + fields[13] + fields[14]))
    done
    echo "$t"
}

record() { echo "$1 $2 $3" >>"$RESULTS"; }

ip netns add "$NS"; NAMESPACES+=("$NS")
ip -n "$NS" link set lo up

cat >"$WORK/echo.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(float(sys.argv[2]))       # ends when idle that long
try:
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)
except socket.timeout:
    pass
EOF

cat >"$WORK/client.py" <<'EOF'
# client.py PORT SECONDS COUNT MODE(one|new): prints "requests seconds p50_us p99_us lost"
import socket, sys, time
port, seconds, count, mode = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
dst = ("127.0.0.1", port)
msg = b"q" * 64
rtts, lost = [], 0
def sock():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.connect(dst)
    return s
s = sock()
start = time.perf_counter()
end = start + seconds
while len(rtts) + lost < count and time.perf_counter() < end:
    if mode == "new":
        s.close()
        s = sock()
    t0 = time.perf_counter()
    s.send(msg)
    try:
        s.recv(65535)
        rtts.append(time.perf_counter() - t0)
    except (socket.timeout, ConnectionRefusedError):
        lost += 1
elapsed = time.perf_counter() - start
rtts.sort()
pct = lambda p: rtts[min(len(rtts) - 1, int(p * len(rtts)))] * 1e6 if rtts else 0
print(len(rtts), round(elapsed, 3), round(pct(0.50), 1), round(pct(0.99), 1), lost)
EOF

cat >"$WORK/vipd.conf" <<EOF
virtual_server 127.0.0.1 29000 {
    lb_algo rr
    lb_kind NAT
    protocol UDP
    real_server 127.0.0.1 9000 {
        weight 1
    }
}
EOF

IDLE=$((MAX_SECONDS + 10))
start echo 1 python3 "$WORK/echo.py" 9000 "$IDLE"
VIPD_LOG=warn start vipd 0 "$VIPD_BIN" --config "$WORK/vipd.conf" --socket "$WORK/vipd.sock"
VIPD_PID=$PID
# -T: a child ends after that long without a datagram (bounds the flow-per-request load).
start socat 0 socat -T 2 UDP-LISTEN:19000,fork,reuseaddr,bind=127.0.0.1 UDP:127.0.0.1:9000
SOCAT_PID=$PID
sleep 1
declare -A PORT=([direct]=9000 [vipd]=29000 [socat]=19000)
declare -A GROUP=([vipd]=$VIPD_PID [socat]=$SOCAT_PID)
log "vipd pid $VIPD_PID, socat $(socat -V | awk '/socat version/{print $3}') pid $SOCAT_PID, echo server up in $NS"

run() {
    local t=$1 mode=$2 max=$3 c0=0 c1 out n secs p50 p99 lost pg=${GROUP[$1]:-}
    [[ -n $pg ]] && c0=$(group_ticks "$pg")
    out=$(ip netns exec "$NS" taskset -c 1 python3 "$WORK/client.py" "${PORT[$t]}" "$DURATION" "$max" "$mode")
    read -r n secs p50 p99 lost <<<"$out"
    record "${mode}_rps" "$t" "$(awk -v n="$n" -v s="$secs" 'BEGIN{printf "%.0f", n/s}')"
    record "${mode}_p50" "$t" "$p50"
    record "${mode}_p99" "$t" "$p99"
    record "${mode}_lost" "$t" "$lost"
    if [[ -n $pg ]]; then
        c1=$(group_ticks "$pg")
        record "${mode}_cpu" "$t" "$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v n="$n" 'BEGIN{printf "%.3f", n ? (c/hz*1000)/(2*n/1000) : 0}')"
    fi
}

# Warm up each path (vipd's flow, socat's child).
for t in direct vipd socat; do
    ip netns exec "$NS" taskset -c 1 python3 "$WORK/client.py" "${PORT[$t]}" 1 100 one >/dev/null
done
for r in $(seq "$REPEAT"); do
    if (( r % 2 )); then order="direct vipd socat"; else order="socat vipd direct"; fi
    for t in $order; do
        run "$t" one "$COUNT"
        run "$t" new "$NEW_COUNT"
    done
    log "run $r of $REPEAT done"
done

median() { sort -n | awk '{v[NR]=$1} END{if (NR==0) print "-"; else if (NR%2) print v[(NR+1)/2]; else printf "%.3f\n", (v[NR/2]+v[NR/2+1])/2}'; }
value() { awk -v m="$1" -v t="$2" '$1==m && $2==t {print $3}' "$RESULTS" | median; }

echo "vipd UDP virtual_server vs socat $(socat -V | awk '/socat version/{print $3}') (UDP-LISTEN fork), loopback in a namespace,"
echo "forwarder pinned to CPU 0, client and echo server (python) to CPU 1; one request at a time,"
echo "64 bytes each way; medians of $REPEAT runs of ${DURATION}s (flow per request: at most $NEW_COUNT requests)."
echo "ratio = vipd / socat; CPU = the forwarder's ms per 1000 datagrams forwarded."
printf '%-46s %10s %10s %10s %8s\n' metric direct vipd socat ratio
row() {
    local label=$1 metric=$2 d v s ratio
    d=$(value "$metric" direct); v=$(value "$metric" vipd); s=$(value "$metric" socat)
    ratio=$(awk -v v="$v" -v s="$s" 'BEGIN{ if (s+0 > 0 && v != "-") printf "%.2f", v/s; else print "-" }')
    printf '%-46s %10s %10s %10s %8s\n' "$label" "$d" "$v" "$s" "$ratio"
}
row "one flow: requests/s (higher better)" one_rps
row "one flow: p50 round trip us (lower better)" one_p50
row "one flow: p99 round trip us (lower better)" one_p99
row "one flow: CPU ms / 1000 datagrams (lower)" one_cpu
row "one flow: lost requests" one_lost
row "flow per request: requests/s (higher better)" new_rps
row "flow per request: p50 round trip us (lower)" new_p50
row "flow per request: p99 round trip us (lower)" new_p99
row "flow per request: CPU ms / 1000 datagrams" new_cpu
row "flow per request: lost requests" new_lost
