#!/usr/bin/env bash
# Tracked-service failover benchmark: vipd pair beside keepalived pair, same run, same lab.
#
# Each host (priority 100 / 90) runs a small HTTP server playing nginx on port 8080 and tracks
# it as users do: `vrrp_script { script "curl -sf http://127.0.0.1:8080/"; interval 1; fall 2;
# weight -20 }`. The server on the master is killed; a client polls VIP:8080 every 20 ms and
# the time from the kill to the first answer from the backup is taken. Prints medians, the
# issue's bound (detection = interval x fall, + Skew_Time of priority 90, + 0.2 s) and the
# vipd/keepalived ratio.
#
# Builds nothing. Needs root, iproute2, curl, python3, keepalived.
#   VIPD_BIN  (default target/release/vipd)   REPEAT (default 3)   MAX_SECONDS (default 900)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VIPD_BIN=${VIPD_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/vipd}
REPEAT=${REPEAT:-3}
MAX_SECONDS=${MAX_SECONDS:-900}
[[ $(id -u) -eq 0 ]] || { echo "tracking.sh: needs root (network namespaces)" >&2; exit 2; }
[[ -x $VIPD_BIN ]] || { echo "tracking.sh: $VIPD_BIN missing: cargo build --release" >&2; exit 2; }
for tool in ip curl keepalived awk setsid; do
    command -v "$tool" >/dev/null || { echo "tracking.sh: $tool not found" >&2; exit 2; }
done
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)

PREFIX="vk$$"
NET="10.232.$(( $$ % 200 + 20 ))"     # only inside the lab's namespaces
VIP="$NET.100"
# shellcheck source=netns-tests/bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
chmod 700 "$WORK"

# spawn HOST CMD...: runs in HOST's namespace as its own process group; sets SPAWNED.
spawn() {
    local host=$1; shift
    setsid ip netns exec "$(ns "$host")" "$@" </dev/null >>"$WORK/$host.out" 2>&1 &
    SPAWNED=$!
    PGIDS+=("$SPAWNED")
}

conf() { # HOST PRIORITY
    cat <<EOF
vrrp_script chk_web {
    script "/usr/bin/curl -sf --max-time 0.5 http://127.0.0.1:8080/"
    interval 1
    timeout 1
    fall 2
    rise 1
    weight -20
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
    track_script {
        chk_web
    }
    virtual_ipaddress {
        $VIP/32 dev eth0
    }
}
EOF
}

web() { # HOST: starts its web server, sets SPAWNED
    mkdir -p "$WORK/www-$1"
    echo "$1" >"$WORK/www-$1/index.html"
    spawn "$1" "$PY" -m http.server 8080 --bind 0.0.0.0 --directory "$WORK/www-$1"
}
agent() { # HOST KIND PRIORITY
    conf "$1" "$3" >"$WORK/$1.conf"
    if [[ $2 == ka ]]; then
        spawn "$1" keepalived -n -l -D -G -f "$WORK/$1.conf" -p "$WORK/$1.pid" \
            -r "$WORK/$1.vrrp.pid" -c "$WORK/$1.check.pid"
    else
        spawn "$1" "$VIPD_BIN" --config "$WORK/$1.conf" --socket "$WORK/$1.sock"
    fi
}
answer() { ip netns exec "$(ns cl)" curl -s --max-time 0.3 "http://$VIP:8080/" 2>/dev/null || true; }
wait_answer() { # WANT LIMIT: polls every 20 ms; prints the time it first answered
    local t0; t0=$(now)
    while true; do
        if [[ $(answer) == "$1" ]]; then now; return 0; fi
        awk -v a="$t0" -v b="$(now)" -v l="$2" 'BEGIN{exit !(b-a>=l)}' && return 1
        sleep 0.02
    done
}

one_run() { # KIND -> prints seconds from kill to the backup answering
    local kind=$1 t_kill t_b
    lab_up
    web h1; local web1=$SPAWNED
    web h2
    agent h1 "$kind" 100
    agent h2 "$kind" 90
    wait_answer h1 20 >/dev/null || { log "$kind: h1 never served the VIP"; lab_down; echo "-"; return; }
    sleep 1.3    # a random phase against the check interval is what users get
    t_kill=$(now)
    kill -KILL -- "-$web1"
    if t_b=$(wait_answer h2 20); then
        awk -v a="$t_kill" -v b="$t_b" 'BEGIN{printf "%.2f\n", b-a}'
    else
        echo "-"
    fi
    lab_down
}

median() { sort -n | awk '{v[n++]=$1} END {if (!n) {print "-"; exit}
    if (n % 2) printf "%.2f\n", v[(n-1)/2]; else printf "%.2f\n", (v[n/2-1]+v[n/2])/2}'; }

declare -A RESULT
for kind in ka vipd; do
    runs=()
    for ((r = 1; r <= REPEAT; r++)); do
        t=$(one_run "$kind")
        log "$kind+$kind run $r: service killed -> backup answers in ${t}s"
        [[ $t == - ]] || runs+=("$t")
    done
    RESULT[$kind]=$(printf '%s\n' "${runs[@]}" | median)
done

bound=$(awk 'BEGIN{printf "%.2f", 1*2 + (256-90)/256 + 0.2}')
echo
echo "Tracked service killed on the master (interval 1, fall 2, weight -20); medians of $REPEAT"
printf '%-12s %14s\n' pair "kill -> backup"
printf '%-12s %13ss\n' "ka+ka" "${RESULT[ka]}" "vipd+vipd" "${RESULT[vipd]}"
echo "bound for vipd: detection 2.00 s + Skew_Time 0.65 s + 0.2 s = ${bound} s"
awk -v v="${RESULT[vipd]}" -v k="${RESULT[ka]}" 'BEGIN{ if (v+0 > 0 && k+0 > 0) printf "ratio vipd/keepalived = %.2f (lower is faster)\n", v/k }'
