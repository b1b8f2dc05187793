#!/usr/bin/env bash
# Failover benchmark: vipd beside keepalived, in the same run, on the same 2-host lab as the
# netns tests (switch namespace with a bridge, hosts h1 (priority 100) and h2 (priority 90),
# a client pinging the VIP every 10 ms). Nothing leaves the lab: its /24 exists only inside
# namespaces with no route out, and nothing is connected to the root namespace.
#
# For each pair (ka+ka, vipd+vipd, vipd+ka, ka+vipd; first = h1, the master), REPEAT times:
#   - longest ping gap when the master's link goes down,
#   - whether h1 takes the VIP back (preemption) when its link returns, and how long it took,
#   - longest ping gap when the master gets SIGTERM.
# Prints medians and each row's ratio to ka+ka, one table per flavour (VRRP version, family of
# the VIP and adverts, advert_int).
#
# Builds nothing. Needs root, iproute2, iputils ping, keepalived (Debian package).
#   VIPD_BIN    vipd binary   (default: ${CARGO_TARGET_DIR:-<repo>/target}/release/vipd)
#   VIPCTL_BIN  vipctl binary (default: beside VIPD_BIN)
#   REPEAT      runs per pair (default 3)
#   PAIRS       pairs to run  (default "ka+ka vipd+vipd vipd+ka ka+vipd")
#   FLAVORS     VERSION-FAMILY:ADVERT_INT list (default "v2-ipv4:1"), e.g.
#               "v3-ipv4:1 v3-ipv4:0.05 v3-ipv4:0.02 v3-ipv6:1 v3-ipv6:0.05 v3-ipv6:0.02"
#   MAX_SECONDS hard limit for the whole script (default 1200)
#   KEEP_LOGS=1 keep the work directory (agent logs, ping output)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VIPD_BIN=${VIPD_BIN:-$TARGET/release/vipd}
VIPCTL_BIN=${VIPCTL_BIN:-$(dirname "$VIPD_BIN")/vipctl}
REPEAT=${REPEAT:-3}
PAIRS=${PAIRS:-"ka+ka vipd+vipd vipd+ka ka+vipd"}
FLAVORS=${FLAVORS:-"v2-ipv4:1"}
MAX_SECONDS=${MAX_SECONDS:-1200}

if [[ $(id -u) -ne 0 ]]; then
    echo "failover.sh: needs root (network namespaces)" >&2
    exit 2
fi
for tool in ip ping awk setsid; do
    command -v "$tool" >/dev/null || { echo "failover.sh: $tool not found" >&2; exit 2; }
done

PREFIX="vb$$"
# shellcheck source=netns-tests/bench/lab.sh
source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"

# one_run KIND_A KIND_B RUN: sets R_EL (election s), R_LD (link-down gap), R_PRE (yes|no),
# R_PRES (preempt s), R_ST (SIGTERM gap). Runs in this shell so cleanup knows its PIDs.
one_run() {
    local ka=$1 kb=$2 run=$3 dir="$WORK/$3" t pingf
    lab_up
    start h1 "$ka" 100 "$run"
    start h2 "$kb" 90 "$run"
    R_EL=NA R_LD=NA R_PRE=no R_PRES=NA R_ST=NA
    R_EL=$(wait_until 20 elected) || { R_EL=NA; log "$run: no election"; lab_down; return 0; }
    if [[ -x $VIPCTL_BIN ]]; then
        for h in h1 h2; do
            if [[ -S $dir/$h.sock ]]; then
                timeout 5 "$VIPCTL_BIN" --socket "$dir/$h.sock" status --json \
                    >>"$dir/$h.status.json" 2>&1 || true
            fi
        done
    fi
    pingf="$dir/ping.txt"
    setsid ip netns exec "$(ns cl)" ping -n -i 0.01 -D -O -w 60 "$(vip)" >"$pingf" 2>/dev/null </dev/null &
    PGIDS+=("$!")
    wait_until 5 reply_after "$pingf" "$(now)" >/dev/null || log "$run: client gets no reply"

    # 1. master link down
    t=$(now)
    ip -n "$(ns h1)" link set eth0 down
    if wait_until 15 has_vip h2 >/dev/null && wait_until 10 reply_after "$pingf" "$t" >/dev/null; then
        sleep 1
        R_LD=$(gap "$pingf" "$t" "$(now)")
    fi

    # 2. link back: does h1 preempt?
    ip -n "$(ns h1)" link set eth0 up
    if R_PRES=$(wait_until 20 elected); then R_PRE=yes; else R_PRES=NA; fi
    sleep 1

    # 3. SIGTERM on the master
    t=$(now)
    kill -TERM "${PID[h1]}" 2>/dev/null || true
    if ! wait_until 20 not_alive h1 >/dev/null; then
        # Keep the evidence (agent logs, configs, ping output) whatever KEEP_LOGS says.
        cp -r "$dir" "/tmp/$PREFIX-ignored-sigterm-$run"
        log "$run: h1 ignores SIGTERM; its run directory is kept in /tmp/$PREFIX-ignored-sigterm-$run"
    fi
    if wait_until 10 has_vip h2 >/dev/null && wait_until 5 reply_after "$pingf" "$t" >/dev/null; then
        sleep 1
        R_ST=$(gap "$pingf" "$t" "$(now)")
    fi
    lab_down
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

# run_flavor: every pair in the current VERSION/FAMILY/ADVERT, then its table.
run_flavor() {
local p a b i els lds sts pres yes
declare -A EL LD ST PRE PRES
for p in $PAIRS; do
    a=${p%+*}; b=${p#*+}
    if [[ $a == vipd || $b == vipd ]] && [[ ! -x $VIPD_BIN ]]; then
        LD[$p]="missing"
        continue
    fi
    if [[ $a == ka || $b == ka ]] && ! command -v keepalived >/dev/null; then
        LD[$p]="nokeepalived"
        continue
    fi
    els=() lds=() sts=() pres=() yes=0
    for i in $(seq 1 "$REPEAT"); do
        one_run "$a" "$b" "${flavor/:/-}-$p-$i"
        log "$p run $i: election ${R_EL}s, link-down gap ${R_LD}s, preempt $R_PRE (${R_PRES}s)," \
            "SIGTERM gap ${R_ST}s"
        els+=("$R_EL"); lds+=("$R_LD"); sts+=("$R_ST"); pres+=("$R_PRES")
        if [[ $R_PRE == yes ]]; then yes=$((yes + 1)); fi
    done
    EL[$p]=$(printf '%s\n' "${els[@]}" | median)
    LD[$p]=$(printf '%s\n' "${lds[@]}" | median)
    ST[$p]=$(printf '%s\n' "${sts[@]}" | median)
    PRES[$p]=$(printf '%s\n' "${pres[@]}" | median)
    PRE[$p]="$yes/$REPEAT"
done

echo
echo "Failover, VRRPv$VERSION over IPv$FAMILY, 2 hosts (prio 100/90, advert_int $ADVERT)," \
    "10 ms ping from a client; medians of $REPEAT"
printf '%-10s %9s %14s %6s %12s %6s %16s\n' pair election "link-down gap" ratio "SIGTERM gap" ratio "preempt back"
for p in $PAIRS; do
    case ${LD[$p]:-} in
        missing) printf '%-10s %s\n' "$p" "vipd binary missing ($VIPD_BIN)"; continue ;;
        nokeepalived) printf '%-10s %s\n' "$p" "keepalived not installed"; continue ;;
    esac
    printf '%-10s %8ss %13ss %6s %11ss %6s %9s %5ss\n' "$p" "${EL[$p]}" "${LD[$p]}" \
        "$(ratio "${LD[$p]}" "${LD[ka+ka]:-NA}")" "${ST[$p]}" \
        "$(ratio "${ST[$p]}" "${ST[ka+ka]:-NA}")" "${PRE[$p]}" "${PRES[$p]}"
done
echo "ratio = this pair's median / ka+ka's median (lower is faster)"
}

for flavor in $FLAVORS; do
    case ${flavor%%:*} in
        v2-ipv4) VERSION=2 FAMILY=4 ;;
        v3-ipv4) VERSION=3 FAMILY=4 ;;
        v3-ipv6) VERSION=3 FAMILY=6 ;;
        *) echo "failover.sh: unknown flavour $flavor (v2-ipv4, v3-ipv4 or v3-ipv6)" >&2; exit 2 ;;
    esac
    ADVERT=${flavor#*:}
    log "flavour $flavor"
    run_flavor
done
