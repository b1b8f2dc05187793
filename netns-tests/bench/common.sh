# The harness every benchmark here shares (sourced, not run): a work directory, the network
# namespaces and process groups a run creates, and their removal on exit, on interrupt and
# after MAX_SECONDS; and the lab most of them use: a switch namespace with a bridge, hosts h1
# and h2 and a client cl on $NET.0/24, which exists only inside the lab.
# The sourcing script sets PREFIX (unique per run) and MAX_SECONDS first, NET before lab_up
# (and FAMILY=6 with NET6 for a lab whose hosts also have IPv6 addresses $NET6:N/64, without
# DAD), and adds what it creates itself to NAMESPACES and PGIDS.
# shellcheck shell=bash

WORK=$(mktemp -d "/tmp/$PREFIX-bench-XXXXXX")
NAMESPACES=()
PGIDS=()                             # process groups we started (leader pid = pgid)

log() { echo "[$(date +%T)] $*" >&2; }
now() { date +%s.%N; }
ns() { echo "$PREFIX-$1"; }

# Signal a process group only if its leader is still ours: alive (or a zombie) and leading
# its own group.
kill_group() {
    local sig=$1 pg=$2 stat
    stat=$(cat "/proc/$pg/stat" 2>/dev/null) || return 0
    # field 5 of /proc/PID/stat is the pgid (after "pid (comm) state ppid")
    local rest=${stat##*) }
    local fields
    read -r -a fields <<<"$rest"
    [[ ${fields[2]} == "$pg" ]] || return 0
    kill "-$sig" -- "-$pg" 2>/dev/null || true
}

# Kills every process group started so far and reaps its leader.
kill_groups() {
    local pg
    for pg in "${PGIDS[@]}"; do
        kill_group KILL "$pg"
        wait "$pg" 2>/dev/null || true
    done
    PGIDS=()
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    kill_groups
    if [[ -n ${WATCHDOG:-} ]]; then kill "$WATCHDOG" 2>/dev/null || true; fi
    for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    if [[ ${KEEP_LOGS:-0} == 1 ]]; then log "logs kept in $WORK"; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# Hard time bound for the whole run (the watchdog takes its sleep along when stopped).
(
    sleep "$MAX_SECONDS" &
    sp=$!
    trap 'kill $sp 2>/dev/null; exit 0' TERM
    wait $sp && { log "MAX_SECONDS=$MAX_SECONDS reached"; kill -TERM $$; }
) &
WATCHDOG=$!

lab_up() {
    local sw; sw=$(ns sw)
    ip netns add "$sw"; NAMESPACES+=("$sw")
    ip -n "$sw" link set lo up
    ip -n "$sw" link add br0 type bridge forward_delay 0 mcast_snooping 0
    ip -n "$sw" link set br0 up
    local pair name
    for pair in h1:1 h2:2 cl:200; do
        name=${pair%%:*}
        ip netns add "$(ns "$name")"; NAMESPACES+=("$(ns "$name")")
        ip -n "$(ns "$name")" link set lo up
        if [[ ${FAMILY:-4} == 6 ]]; then
            # Before eth0 exists, so it inherits `default`: no tentative addresses.
            ip netns exec "$(ns "$name")" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
                net.ipv6.conf.default.accept_dad=0
        fi
        plug "$name" "$NET.${pair##*:}"
    done
}

# plug HOST ADDR: a new veth from the switch's bridge (port p-HOST) to eth0 in HOST's
# namespace, with ADDR/24. Also how a benchmark re-creates a deleted eth0.
plug() {
    local sw; sw=$(ns sw)
    ip -n "$sw" link add "p-$1" type veth peer name eth0 netns "$(ns "$1")"
    ip -n "$sw" link set "p-$1" master br0 up
    ip -n "$(ns "$1")" addr add "$2/24" dev eth0
    if [[ ${FAMILY:-4} == 6 ]]; then
        ip -n "$(ns "$1")" addr add "$NET6:${2##*.}/64" dev eth0 nodad
    fi
    ip -n "$(ns "$1")" link set eth0 up
}

lab_down() {
    kill_groups
    for n in "${NAMESPACES[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    NAMESPACES=()
    rm -f "$WORK"/*.pid "$WORK"/*.sock   # keepalived refuses to start over a stale pid file
}
