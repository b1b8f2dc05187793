# The VRRP pair shared by the failover and handover benchmarks (sourced, not run), on
# common.sh's lab at 10.231.SUB.0/24: agents started in their own process groups, their
# config, and what the client sees. The sourcing script sets PREFIX (unique per run) and
# MAX_SECONDS first, and may set VERSION (2 or 3), FAMILY (4 or 6: the VIP's family; 6 needs
# VERSION 3) and ADVERT (advert_int as written, default 1) before each lab_up.
# shellcheck shell=bash
# shellcheck source=netns-tests/bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SUB=$(( $$ % 200 + 20 ))          # 10.231.SUB.0/24, only inside the lab
NET="10.231.$SUB"
NET6="fd77:$SUB:"
VERSION=${VERSION:-2}
FAMILY=${FAMILY:-4}
ADVERT=${ADVERT:-1}
# vip: the VIP of the current FAMILY.
vip() { if [[ $FAMILY == 6 ]]; then echo "$NET6:100"; else echo "$NET.100"; fi; }
VIP=$(vip)

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

# conf HOST PRIORITY [FILE]: the same keepalived.conf syntax the netns tests generate. With
# FILE, the instance also tracks it (`vrrp_track_file` with weight 1: the file's integer is
# added to the priority).
conf() {
    local track=""
    if [[ -n ${3:-} ]]; then
        printf 'vrrp_track_file lower {\n    file %s\n    weight 1\n}\n\n' "$3"
        track=$'    track_file {\n        lower\n    }\n'
    fi
    cat <<EOF
global_defs {
    router_id $1
}

vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority $2
$(version_lines)
${track}    virtual_ipaddress {
        $(vip)/$( [[ $FAMILY == 6 ]] && echo 64 || echo 32 ) dev eth0
    }
}
EOF
}

# version_lines: the instance's version, advert_int and (VRRPv2 only) authentication.
version_lines() {
    if [[ $VERSION == 3 ]]; then
        printf '    version 3\n    advert_int %s' "$ADVERT"
    else
        printf '    advert_int %s\n    authentication {\n        auth_type PASS\n        auth_pass s3cret\n    }' "$ADVERT"
    fi
}

declare -A PID
# start HOST KIND PRIORITY RUN [TRACKED_FILE]
start() {
    local host=$1 kind=$2 prio=$3 dir="$WORK/$4"
    mkdir -p "$dir"
    conf "$host" "$prio" "${5:-}" >"$dir/$host.conf"
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

# No `| grep -q`: with pipefail, ip killed by SIGPIPE when the VIP is not its last line (after
# a renumbering) would read as "no VIP".
has_vip() {
    if [[ $FAMILY == 6 ]]; then
        [[ $(ip -n "$(ns "$1")" -6 -o addr show dev eth0 2>/dev/null) == *" inet6 $(vip)/"* ]]
    else
        [[ $(ip -n "$(ns "$1")" -4 -o addr show dev eth0 2>/dev/null) == *" inet $(vip)/"* ]]
    fi
}
# holders: who holds the VIP now: h1, h2, h1+h2 or none.
holders() {
    local h out=""
    for h in h1 h2; do
        if has_vip "$h"; then out+="${out:++}$h"; fi
    done
    echo "${out:-none}"
}
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

# lost FILE FROM TO: "LOST SENT" for the echo requests after the last reply before FROM, up to
# the last one ping reported (answered or "no answer yet") by TO.
lost() {
    awk -v from="$2" -v to="$3" '
        /icmp_seq=/ { ts = substr($1, 2) + 0
            split($0, a, "icmp_seq="); split(a[2], b, " "); s = b[1] + 0
            reply = / bytes from /
            if (ts < from) { if (reply) lo = s; next }
            if (ts > to) next
            if (lo == "") lo = s - 1
            if (s > hi) hi = s
            if (reply && s > lo) got[s] = 1 }
        END { if (hi == "" || hi <= lo) { print "NA NA"; exit }
              n = 0; for (s in got) n++
              print hi - lo - n, hi - lo }' "$1"
}

median() { # numbers on stdin ("NA" ignored) -> median or NA
    sort -g | awk '$1 != "NA" { v[n++] = $1 }
        END { if (!n) { print "NA"; exit }
              if (n % 2) printf "%.3f\n", v[(n-1)/2]; else printf "%.3f\n", (v[n/2-1] + v[n/2]) / 2 }'
}
