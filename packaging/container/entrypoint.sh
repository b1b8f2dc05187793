#!/usr/bin/env bash
# vipd-entrypoint: PID 1 of an nginx container that also holds a virtual IP with vipd.
#
#   vipd-entrypoint [nginx command...]      (default: nginx -g 'daemon off;')
#
# - Starts nginx (through the official image's /docker-entrypoint.sh when it is there, so its
#   templates and /docker-entrypoint.d scripts still run), then vipd.
# - Reaps every child, also orphans the kernel re-parents to PID 1 (bash reaps any child it is
#   told about by SIGCHLD; nothing here leaves zombies).
# - On SIGTERM, SIGINT or SIGQUIT (docker stop): SIGTERM to vipd at once, which hands the VIP
#   over make-before-break: a priority 0 advert (the peer takes over within its Skew_Time),
#   the VIP kept until the peer advertises (3 x advert_int at most with no peer); once vipd
#   has exited, nginx gets SIGQUIT (graceful stop). Exits 0 when both stopped cleanly.
# - When nginx or vipd exits on its own, stops the other the same way and exits with the
#   status of the one that died (1 if that was 0), so the container stops and its restart
#   policy applies; the peer holds the VIP meanwhile.
#
# Environment:
#   VIPD_CONFIG        vipd's configuration (default /etc/vipd/vipd.toml; keepalived.conf
#                      syntax for any name not ending in .toml)
#   VIPD_SOCKET        control socket, read by vipd and vipctl (default /run/vipd/vipd.sock)
#   VIPD_LOG           vipd's log filter (default info)
#   VIPD_BIN           the vipd binary (default: vipd on PATH)
#   NGINX_ENTRYPOINT   run before nginx when executable (default /docker-entrypoint.sh)
#   STOP_TIMEOUT       seconds each child gets to stop before SIGKILL (default 8; docker
#                      stop's own default is 10)
set -u

# `wait -n -p` (which child exited) needs bash 5.1; the nginx image's Debian has 5.2.
if [ "${BASH_VERSINFO[0]}" -lt 5 ] || { [ "${BASH_VERSINFO[0]}" -eq 5 ] && [ "${BASH_VERSINFO[1]}" -lt 1 ]; }; then
    echo "vipd-entrypoint: needs bash 5.1 or newer, this is $BASH_VERSION" >&2
    exit 1
fi

VIPD_CONFIG=${VIPD_CONFIG:-/etc/vipd/vipd.toml}
VIPD_BIN=${VIPD_BIN:-vipd}
NGINX_ENTRYPOINT=${NGINX_ENTRYPOINT:-/docker-entrypoint.sh}
STOP_TIMEOUT=${STOP_TIMEOUT:-8}

log() { echo "vipd-entrypoint: $*" >&2; }

# A stop request only sets a flag: the main loop acts on it as soon as `wait` returns, which
# it does at once when a trapped signal arrives. PID 1 gets no signal it has no handler for,
# so these traps are what makes `docker stop` work at all.
stop_signal=""
trap 'stop_signal=SIGTERM' TERM
trap 'stop_signal=SIGINT' INT
trap 'stop_signal=SIGQUIT' QUIT

if [ $# -eq 0 ]; then
    set -- nginx -g 'daemon off;'
fi
if [ -x "$NGINX_ENTRYPOINT" ]; then
    set -- "$NGINX_ENTRYPOINT" "$@" # it ends with `exec "$@"`: the pid stays nginx's
fi

"$@" &
nginx_pid=$!
log "started nginx (pid $nginx_pid): $*"
"$VIPD_BIN" --config "$VIPD_CONFIG" &
vipd_pid=$!
log "started vipd (pid $vipd_pid) with $VIPD_CONFIG"

declare -A name=([$nginx_pid]=nginx [$vipd_pid]=vipd)
declare -A status=()

# Waits for any of the given children; records which one exited and how. Returns 1 when a
# signal interrupted the wait instead.
wait_any() {
    local pid="" rc=0 p
    wait -n -p pid "$@" || rc=$?
    if [ -z "${pid:-}" ]; then
        [ "$rc" -gt 128 ] && return 1 # a signal: bash unsets pid
        # 127: none of them is a child any more (cannot happen as written); record them
        # all rather than wait for them forever.
        for p in "$@"; do status[$p]=$rc; done
        return 0
    fi
    status[$pid]=$rc
    return 0
}

# Sends SIG to PID and waits until it exits; SIGKILL after STOP_TIMEOUT seconds.
stop_child() { # PID SIG
    local pid=$1 sig=$2 timer
    [ -n "${status[$pid]+x}" ] && return 0
    kill "-$sig" "$pid" 2>/dev/null
    sleep "$STOP_TIMEOUT" &
    timer=$!
    while [ -z "${status[$pid]+x}" ]; do
        wait_any "$pid" "$timer" || continue # a repeated stop signal: keep waiting
        if [ -n "${status[$timer]+x}" ] && [ -z "${status[$pid]+x}" ]; then
            log "${name[$pid]} did not stop within ${STOP_TIMEOUT}s after SIG$sig: SIGKILL"
            kill -KILL "$pid" 2>/dev/null
            until wait_any "$pid"; do :; done
        fi
    done
    if [ -z "${status[$timer]+x}" ]; then
        kill "$timer" 2>/dev/null
        wait "$timer" 2>/dev/null
    fi
    log "${name[$pid]} exited with status ${status[$pid]}"
}

first=""
while [ -z "$stop_signal" ] && [ -z "$first" ]; do
    if wait_any "$nginx_pid" "$vipd_pid"; then
        for pid in "$nginx_pid" "$vipd_pid"; do
            [ -n "${status[$pid]+x}" ] && first=$pid && break
        done
    fi
done

if [ -n "$first" ]; then
    log "${name[$first]} exited on its own with status ${status[$first]}: stopping the other"
else
    log "$stop_signal: stopping vipd (it hands the VIP over), then nginx"
fi
# vipd first in every case: the VIP must leave this container before nginx does.
stop_child "$vipd_pid" TERM
stop_child "$nginx_pid" QUIT

if [ -n "$first" ]; then
    rc=${status[$first]}
    [ "$rc" = 0 ] && rc=1
    exit "$rc"
fi
if [ "${status[$vipd_pid]}" = 0 ] && [ "${status[$nginx_pid]}" = 0 ]; then
    exit 0
fi
exit 1
