#!/usr/bin/env bash
# Live demo: two hosts share a virtual IP; a client pings it while the master fails.
#
#   sudo ./netns-tests/demo.sh
#
# Builds vipd, creates three network namespaces on a private bridge (nothing is connected to
# the host's own network), starts nginx on two of them ("hosts") and vipd beside it, shows
# `vipctl status`, asks the VIP over HTTP who serves it, takes the master's link down, prints
# the longest gap the client's 10 ms ping saw, brings the link back and watches the master
# take its VIP back, then stops the master with SIGTERM. Cleans up on exit and on Ctrl-C.
# Exits non-zero if the VIP does not move as it should (CI runs it).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "demo.sh: needs root for network namespaces: run it with sudo" >&2
    exit 1
fi
for tool in ip ping python3 curl nginx; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ -n "${missing[*]:-}" ]; then
    echo "demo.sh: installing iproute2, iputils-ping, curl and nginx-light" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 iputils-ping python3 curl \
        nginx-light >/dev/null
fi

echo "== building vipd (release)"
cargo build --release --quiet
VIPD=$PWD/target/release/vipd
VIPCTL=$PWD/target/release/vipctl

P="vd$$"                        # namespace prefix unique to this run
NET=10.213.7                    # exists only inside the demo's namespaces
VIP=$NET.100
WORK=$(mktemp -d)
chmod 755 "$WORK"   # nginx workers (www-data) read the pages in it
PIDS=()

cleanup() {
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    sleep 0.3
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for ns in "${P}a" "${P}b" "${P}c" "${P}sw"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo; echo "interrupted: cleaning up"; exit 130' INT TERM

echo "== lab: hosts ${P}a (priority 100) and ${P}b (priority 90), client ${P}c, VIP $VIP"
ip netns add "${P}sw"
ip -n "${P}sw" link add br0 type bridge
ip -n "${P}sw" link set br0 up
i=0
for h in a b c; do
    i=$((i + 1))
    ip netns add "$P$h"
    ip link add eth0 netns "$P$h" type veth peer name "v$h" netns "${P}sw"
    ip -n "${P}sw" link set "v$h" master br0 up
    ip -n "$P$h" addr add "$NET.1$i/24" dev eth0
    ip -n "$P$h" link set eth0 up
    ip -n "$P$h" link set lo up
done

fail() { echo "demo.sh: FAILED: $*" >&2; exit 1; }
holds() { ip -n "$P$1" -4 addr show dev eth0 | grep -q " $VIP/"; }
who() { ip netns exec "${P}c" curl -s --max-time 1 "http://$VIP/" || echo "(no answer)"; }
other() { [ "$1" = a ] && echo b || echo a; }
# One holder, and the client's HTTP request answered by it: two masters would pass `holds`.
serves() {
    holds "$1" || fail "${P}$1 does not hold $VIP"
    ! holds "$(other "$1")" || fail "both ${P}a and ${P}b hold $VIP"
    local answer
    answer=$(who)
    echo "== the client asks http://$VIP/: $answer"
    [ "$answer" = "hello from host $1" ] || fail "expected host $1 to answer, got: $answer"
}

for h in a b; do
    # nginx plays the service the VIP fronts; its page says which host answered.
    mkdir -p "$WORK/www-$h"
    echo "hello from host $h" >"$WORK/www-$h/index.html"
    cat >"$WORK/nginx-$h.conf" <<NGINX
daemon off;
worker_processes 1;
pid $WORK/nginx-$h.pid;
error_log $WORK/nginx-$h.err;
events { worker_connections 64; }
http {
    access_log off;
    server {
        listen 80;
        root $WORK/www-$h;
    }
}
NGINX
    ip netns exec "$P$h" nginx -c "$WORK/nginx-$h.conf" &
    PIDS+=("$!")
    prio=$([ "$h" = a ] && echo 100 || echo 90)
    cat >"$WORK/$h.conf" <<CONF
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority $prio
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass demo
    }
    virtual_ipaddress {
        $VIP/24
    }
}
CONF
    ip netns exec "$P$h" "$VIPD" --config "$WORK/$h.conf" --socket "$WORK/$h.sock" \
        2> >(sed -u "s/^/   [$h] /" >&2) &
    PIDS+=("$!")
    [ "$h" = a ] && VIPD_A=$!
done

echo "== waiting for the election (Master_Down_Interval: 3.61 s)"
for _ in $(seq 1 100); do
    holds a && break
    sleep 0.1
done
holds a || fail "${P}a did not become master"
sleep 0.5
echo "== vipctl status on ${P}a"
"$VIPCTL" --socket "$WORK/a.sock" status
serves a

gap() { # longest gap between ping replies in a `ping -D` log
    python3 - "$1" <<'PY'
import re, sys
ts = [float(m.group(1)) for line in open(sys.argv[1])
      for m in [re.match(r"\[(\d+\.\d+)\] \d+ bytes from", line)] if m]
gaps = [b - a for a, b in zip(ts, ts[1:])]
print(f"{max(gaps):.2f}" if gaps else "inf")
PY
}
# gap_at_most LOG BOUND WHAT: prints the longest gap, fails above BOUND seconds.
gap_at_most() {
    local g
    g=$(gap "$1")
    echo "== longest gap seen by the client: $g s ($3)"
    python3 -c "import sys; sys.exit(0 if float('$g') <= $2 else 1)" ||
        fail "the client's longest gap $g s is above the bound $2 s"
}

echo "== client pings $VIP every 10 ms; taking ${P}a's link down"
ip netns exec "${P}c" ping -i 0.01 -D -O -w 8 "$VIP" >"$WORK/ping1" 2>&1 &
PING=$!
PIDS+=("$PING")
sleep 1
ip -n "${P}a" link set eth0 down
sleep 6.5
wait "$PING" || true
# Master_Down_Interval of priority 90 is 3.65 s; 0.5 s of margin for a loaded machine.
gap_at_most "$WORK/ping1" 4.15 "keepalived: about 3.5 s; bound: Master_Down_Interval + 0.5 s"
serves b
echo "== vipctl status on ${P}b"
"$VIPCTL" --socket "$WORK/b.sock" status

echo "== bringing ${P}a's link back: it preempts"
ip -n "${P}a" link set eth0 up
for _ in $(seq 1 80); do
    holds a && break
    sleep 0.1
done
holds a || fail "${P}a did not take its VIP back"
sleep 0.5
"$VIPCTL" --socket "$WORK/a.sock" status
serves a

echo "== SIGTERM on the master: it sends priority 0 and keeps the VIP until ${P}b advertises"
ip netns exec "${P}c" ping -i 0.01 -D -O -w 3 "$VIP" >"$WORK/ping2" 2>&1 &
PING=$!
PIDS+=("$PING")
sleep 1
kill -TERM "$VIPD_A"
wait "$PING" || true
gap_at_most "$WORK/ping2" 0.1 "vipd hands over make-before-break; keepalived: Skew_Time, 0.65 s"
serves b
echo "== done; cleaning up"
