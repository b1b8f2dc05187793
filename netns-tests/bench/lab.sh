# The two-host lab shared by the failover and handover benchmarks (sourced, not run).
# The sourcing script sets PREFIX (unique per run) and MAX_SECONDS first. Builds a switch
# namespace with a bridge, hosts h1 and h2 and a client cl on 10.231.SUB.0/24, which exists
# only inside the lab; starts agents in their own process groups; cleans up on exit.
# shellcheck shell=bash

SUB=$(( $$ % 200 + 20 ))          # 10.231.SUB.0/24, only inside the lab
NET="10.231.$SUB"
VIP="$NET.100"
WORK=$(mktemp -d "/tmp/$PREFIX-bench-XXXXXX")
NAMESPACES=()
PGIDS=()                             # process groups we started (leader pid = pgid)

log() { echo "[$(date +%T)] $*" >&2; }

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

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for pg in "${PGIDS[@]}"; do
        kill_group KILL "$pg"
        wait "$pg" 2>/dev/null || true
    done
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

now() { date +%s.%N; }

# wait_until SECONDS CMD... : polls every 50 ms; prints the elapsed seconds, fails on timeout.
wait_until() {
    local limit=$1; shift
    local t0; t0=$(now)
    while true; do
        if "$@"; then awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; return 0; fi
        if awk -v a="$t0" -v b="$(now)" -v l="$limit" 'BEGIN{exit !(b-a>=l)}'; then return 1; fi
        sleep 0.05
    done
}

ns() { echo "$PREFIX-$1"; }

lab_up() {
    local sw; sw=$(ns sw)
    ip netns add "$sw"; NAMESPACES+=("$sw")
    ip -n "$sw" link set lo up
    ip -n "$sw" link add br0 type bridge forward_delay 0 mcast_snooping 0
    ip -n "$sw" link set br0 up
    local name addr
    for pair in h1:1 h2:2 cl:200; do
        name=${pair%%:*}; addr="$NET.${pair##*:}"
        ip netns add "$(ns "$name")"; NAMESPACES+=("$(ns "$name")")
        ip -n "$(ns "$name")" link set lo up
        ip -n "$sw" link add "p-$name" type veth peer name eth0 netns "$(ns "$name")"
        ip -n "$sw" link set "p-$name" master br0 up
        ip -n "$(ns "$name")" addr add "$addr/24" dev eth0
        ip -n "$(ns "$name")" link set eth0 up
    done
}

lab_down() {
    for pg in "${PGIDS[@]}"; do
        kill_group KILL "$pg"
        wait "$pg" 2>/dev/null || true
    done
    PGIDS=()
    for n in "${NAMESPACES[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    NAMESPACES=()
}

# conf HOST PRIORITY: the same keepalived.conf syntax the netns tests generate.
conf() {
    cat <<EOF
global_defs {
    router_id $1
}

vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority $2
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass s3cret
    }
    virtual_ipaddress {
        $VIP/32 dev eth0
    }
}
EOF
}

declare -A PID
# start HOST KIND PRIORITY RUN
start() {
    local host=$1 kind=$2 prio=$3 dir="$WORK/$4"
    mkdir -p "$dir"
    conf "$host" "$prio" >"$dir/$host.conf"
    if [[ $kind == ka ]]; then
        rm -f "$dir/$host".*pid
        setsid ip netns exec "$(ns "$host")" keepalived -n -l -D -G -f "$dir/$host.conf" \
            -p "$dir/$host.pid" -r "$dir/$host.vrrp.pid" -c "$dir/$host.check.pid" \
            </dev/null >>"$dir/$host.log" 2>&1 &
    else
        setsid ip netns exec "$(ns "$host")" "$VIPD_BIN" --config "$dir/$host.conf" \
            --socket "$dir/$host.sock" </dev/null >>"$dir/$host.log" 2>&1 &
    fi
    PID[$host]=$!
    PGIDS+=("$!")
}

has_vip() { ip -n "$(ns "$1")" -4 -o addr show dev eth0 | grep -q " inet $VIP/"; }
elected() { has_vip h1 && ! has_vip h2; }
alive() { # running, and not a zombie waiting to be reaped
    local stat
    stat=$(cat "/proc/${PID[$1]}/stat" 2>/dev/null) || return 1
    [[ ${stat##*) } != Z* ]]
}
not_alive() { ! alive "$1"; }
reply_after() { awk -v t="$2" '/ bytes from /{ts=substr($1,2)+0; if (ts>t) {f=1; exit}} END{exit !f}' "$1"; }

# gap FILE FROM TO: longest silence between successive replies in [FROM, TO] (seconds).
gap() {
    awk -v from="$2" -v to="$3" '
        / bytes from / { ts = substr($1, 2) + 0
            if (ts < from) { prev = ts; next }
            if (closed) next
            if (n == 0) pts[n++] = (prev != "" ? prev : from)
            pts[n++] = ts
            if (ts > to) closed = 1 }
        END { if (n == 0) pts[n++] = (prev != "" ? prev : from)
              if (!closed) pts[n++] = to
              max = 0; for (i = 1; i < n; i++) if (pts[i] - pts[i-1] > max) max = pts[i] - pts[i-1]
              printf "%.3f", max }' "$1"
}
