#!/usr/bin/env bash
# Tests the container entrypoint without docker: packaging/container/entrypoint.sh runs as
# PID 1 of its own PID namespace (as in a container), in a private network namespace, with
# Debian's nginx (nginx-light) and a real vipd (release build).
#
#   sudo ./packaging/container/test-entrypoint.sh          (run-all.sh runs it)
#
# 1. SIGTERM: both start (nginx through a stand-in for the image's /docker-entrypoint.sh),
#    vipd takes the VIP, a client namespace gets nginx's answer through
#    the VIP; an orphan re-parented to PID 1 is reaped; SIGTERM to the entrypoint removes the
#    VIP within 100 ms (measured by trying to bind the VIP in a tight loop), vipd and then
#    nginx exit with status 0 (graceful), and the entrypoint exits 0.
# 2. nginx dies (SIGKILL): the entrypoint stops vipd (VIP released) and exits 137.
# 3. vipd dies (SIGKILL): the entrypoint stops nginx and exits 137.
# Namespaces are deleted and every process it started is killed on any exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" != 0 ]; then
    echo "test-entrypoint.sh: needs root (network and PID namespaces)" >&2
    exit 1
fi
for tool in nginx python3 unshare nsenter ip; do
    command -v "$tool" >/dev/null || {
        echo "test-entrypoint.sh: needs $tool (apt-get install nginx-light python3 util-linux iproute2)" >&2
        exit 1
    }
done

passed=0
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
ok() {
    echo "ok: $*"
    passed=$((passed + 1))
}

echo "== building vipd (release)"
cargo build --release --quiet --bins
target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
VIPD_BIN="$target_dir/release/vipd"
[ -x "$VIPD_BIN" ] || fail "no vipd binary at $VIPD_BIN"

# The pids of a process's children, one per line ("children" ends with a space).
children() { cat /proc/"$1"/task/*/children 2>/dev/null | tr -s ' ' '\n' | grep . || true; }
comm() { cat /proc/"$1"/comm 2>/dev/null || true; }

WORK=$(mktemp -d)
P="pe$$"     # namespace prefix unique to this run
NET=10.213.8 # exists only inside this test's namespaces
VIP=$NET.100
INIT=""
cleanup() {
    # Killing the namespace's PID 1 kills everything in it (checked by name: the pid is
    # ours only while it is still the entrypoint).
    if [ -n "$INIT" ] && [ "$(comm "$INIT")" = entrypoint.sh ]; then kill -KILL "$INIT" 2>/dev/null || true; fi
    ip netns del "${P}h" 2>/dev/null || true
    ip netns del "${P}c" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "${P}h"
ip netns add "${P}c"
ip link add eth0 netns "${P}h" type veth peer name eth0 netns "${P}c"
ip -n "${P}h" addr add "$NET.11/24" dev eth0
ip -n "${P}c" addr add "$NET.13/24" dev eth0
for ns in "${P}h" "${P}c"; do
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
done

cat >"$WORK/vipd.toml" <<CONF
[[vrrp_instance]]
name = "VI_1"
state = "BACKUP"
interface = "eth0"
virtual_router_id = 52
priority = 100
advert_int = 1
virtual_ipaddress = ["$VIP/24"]
CONF
cat >"$WORK/nginx.conf" <<CONF
pid $WORK/nginx.pid;
error_log stderr notice;
worker_processes 1;
events { worker_connections 64; }
http {
    access_log off;
    server {
        listen 80;
        location / { return 200 "served by nginx beside vipd\n"; }
    }
}
CONF

has_vip() { ip -n "${P}h" -4 -o addr show dev eth0 | grep -q " $VIP/"; }
alive() { kill -0 "$1" 2>/dev/null; }

# The official image's /docker-entrypoint.sh runs its scripts, then `exec "$@"`: a stand-in.
cat >"$WORK/docker-entrypoint.sh" <<SCRIPT
#!/bin/sh
echo "\$@" >"$WORK/docker-entrypoint.ran"
exec "\$@"
SCRIPT
chmod 755 "$WORK/docker-entrypoint.sh"

# Starts the entrypoint (executed as docker does, through its #! line) as PID 1 of a new PID
# namespace inside the host namespace; sets OUTER (unshare, the parent in this namespace),
# INIT (the entrypoint), NGINX, VIPD (pids as seen from here) and LOG.
start() { # NAME [NGINX_ENTRYPOINT]
    LOG="$WORK/$1.log"
    ip netns exec "${P}h" unshare --pid --fork --mount-proc \
        env VIPD_CONFIG="$WORK/vipd.toml" VIPD_SOCKET="$WORK/$1.sock" VIPD_BIN="$VIPD_BIN" \
        NGINX_ENTRYPOINT="${2:-/nonexistent}" STOP_TIMEOUT=5 \
        packaging/container/entrypoint.sh \
        nginx -e stderr -c "$WORK/nginx.conf" -g 'daemon off;' >"$LOG" 2>&1 &
    OUTER=$!
    INIT="" NGINX="" VIPD=""
    for _ in $(seq 100); do
        INIT=$(children "$OUTER")
        if [ -n "$INIT" ]; then
            for pid in $(children "$INIT"); do
                case $(comm "$pid") in
                nginx) NGINX=$pid ;;
                vipd) VIPD=$pid ;;
                esac
            done
        fi
        [ -n "$NGINX" ] && [ -n "$VIPD" ] && break
        sleep 0.05
    done
    if [ -z "$NGINX" ] || [ -z "$VIPD" ]; then
        cat "$LOG" >&2
        fail "$1: nginx and vipd did not both start under the entrypoint"
    fi
}
wait_vip() {
    for _ in $(seq 100); do
        has_vip && return 0
        alive "$VIPD" || break
        sleep 0.1
    done
    cat "$LOG" >&2
    fail "vipd did not take $VIP within 10 s"
}
# Waits (10 s at most) for the entrypoint to exit; sets RC.
wait_exit() {
    for _ in $(seq 100); do
        alive "$OUTER" || break
        sleep 0.1
    done
    alive "$OUTER" && { cat "$LOG" >&2; fail "the entrypoint did not exit within 10 s"; }
    RC=0
    wait "$OUTER" || RC=$?
}
expect_log() { # PATTERN WHAT
    grep -q -- "$1" "$LOG" || { cat "$LOG" >&2; fail "$2 (no '$1' in the log)"; }
}

echo "== 1. SIGTERM to the entrypoint"
start term "$WORK/docker-entrypoint.sh"
grep -q '^nginx ' "$WORK/docker-entrypoint.ran" 2>/dev/null ||
    fail "nginx was not started through NGINX_ENTRYPOINT"
ok "entrypoint is PID 1 of its namespace ($INIT here) with children nginx ($NGINX, started through the image's entrypoint) and vipd ($VIPD)"
wait_vip
answer=$(ip netns exec "${P}c" python3 - "$VIP" <<'PY'
import socket, sys
with socket.create_connection((sys.argv[1], 80), timeout=5) as s:
    s.sendall(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n")
    data = b""
    while chunk := s.recv(4096):
        data += chunk
print(data.decode(errors="replace").splitlines()[-1])
PY
)
[ "$answer" = "served by nginx beside vipd" ] || fail "the client got '$answer' from $VIP:80"
ok "vipd holds $VIP; the client gets nginx's answer through it"

# An orphan: sh starts sleep in the entrypoint's PID namespace and exits, so the kernel
# re-parents sleep to PID 1, which must reap it when it exits.
nsenter -t "$INIT" -p sh -c 'sleep 0.5 & exit 0'
orphan=""
for pid in $(children "$INIT"); do [ "$(comm "$pid")" = sleep ] && orphan=$pid; done
[ -n "$orphan" ] || fail "the orphan was not re-parented to the entrypoint"
for _ in $(seq 30); do
    [ -e "/proc/$orphan" ] || break
    sleep 0.1
done
[ -e "/proc/$orphan" ] && fail "orphan $orphan ($(awk '{print $3}' "/proc/$orphan/stat")) was not reaped by PID 1"
ok "an orphan re-parented to PID 1 was reaped"

# Signal and measure in the host's namespace: the VIP is local while bind() to it succeeds.
gone_ms=$(ip netns exec "${P}h" python3 - "$INIT" "$VIP" <<'PY'
import errno, os, signal, socket, sys, time
init, vip = int(sys.argv[1]), sys.argv[2]
def has_vip():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((vip, 0))
            return True
        except OSError as e:
            if e.errno == errno.EADDRNOTAVAIL:
                return False
            raise
if not has_vip():
    sys.exit("VIP not present before SIGTERM")
start = time.monotonic()
os.kill(init, signal.SIGTERM)
while has_vip():
    if time.monotonic() - start > 8:
        sys.exit("VIP still present 8 s after SIGTERM")
    time.sleep(0.0002)
print(f"{(time.monotonic() - start) * 1000:.1f}")
PY
)
echo "VIP gone ${gone_ms} ms after SIGTERM to the entrypoint"
# Make-before-break: with no peer to take over, vipd keeps the VIP for 3 x advert_int (3 s)
# in case one answers, then releases it.
python3 -c "import sys; sys.exit(0 if 2900 <= float('$gone_ms') < 3600 else 1)" ||
    fail "the VIP went ${gone_ms} ms after SIGTERM; with no peer it is kept 3 s (advert_int 1), then released"
ok "SIGTERM: VIP kept for a peer to take over, released after ${gone_ms} ms with none"
wait_exit
[ "$RC" = 0 ] || { cat "$LOG" >&2; fail "the entrypoint exited $RC after SIGTERM, want 0"; }
expect_log "SIGTERM: stopping vipd" "the entrypoint did not act on SIGTERM"
expect_log "vipd exited with status 0" "vipd did not exit cleanly"
expect_log "nginx exited with status 0" "nginx did not exit cleanly"
expect_log "SIGTERM: .*no router took over" "vipd did not warn that nobody took over"
expect_log "SIGTERM: .*resigning mastership" "vipd did not log its leave"
expect_log "gracefully shutting down" "nginx was not stopped gracefully"
vipd_line=$(grep -n "vipd exited with status" "$LOG" | cut -d: -f1)
nginx_line=$(grep -n "nginx exited with status" "$LOG" | cut -d: -f1)
[ "$vipd_line" -lt "$nginx_line" ] || fail "nginx stopped before vipd"
has_vip && fail "$VIP is back on eth0"
ok "vipd then nginx exited with status 0 (nginx gracefully), the entrypoint exited 0"

echo "== 2. nginx dies"
start nginx-dies
wait_vip
kill -KILL "$NGINX"
wait_exit
[ "$RC" = 137 ] || { cat "$LOG" >&2; fail "the entrypoint exited $RC after nginx was killed, want 137"; }
expect_log "nginx exited on its own with status 137" "the entrypoint did not notice nginx dying"
expect_log "vipd exited with status 0" "vipd was not stopped cleanly"
has_vip && fail "$VIP is still on eth0 after nginx died"
ok "nginx killed: vipd stopped cleanly, VIP released, the entrypoint exited 137"

echo "== 3. vipd dies"
start vipd-dies
for _ in $(seq 100); do
    [ -S "$WORK/vipd-dies.sock" ] && break
    sleep 0.05
done
[ -S "$WORK/vipd-dies.sock" ] || { cat "$LOG" >&2; fail "vipd did not open its control socket"; }
kill -KILL "$VIPD"
wait_exit
[ "$RC" = 137 ] || { cat "$LOG" >&2; fail "the entrypoint exited $RC after vipd was killed, want 137"; }
expect_log "vipd exited on its own with status 137" "the entrypoint did not notice vipd dying"
expect_log "nginx exited with status 0" "nginx was not stopped cleanly"
ok "vipd killed: nginx stopped gracefully, the entrypoint exited 137"

echo "all $passed checks passed"
