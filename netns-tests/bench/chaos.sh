#!/usr/bin/env bash
# Chaos benchmark: the faults of netns-tests/chaos.rs on a keepalived pair and on vipd pairs in
# the same run, interleaved, on the two-host lab of the failover benchmark (switch namespace
# with a bridge, hosts h1 (priority 100) and h2 (priority 90), advert_int 1, PASS auth, a
# client pinging the VIP every 10 ms). Nothing leaves the lab: its /24 exists only inside
# namespaces with no route out, and nothing is connected to the root namespace.
#
# Pairs are named h1+h2: ka+ka, vipd+vipd, vipd+ka (a vipd master, a keepalived backup).
# Faults, each on a fresh lab and a fresh pair (after h1 is elected):
#   renumber   h1's primary /24 deleted and another added in one `ip -batch`; the holders
#              sampled every 100 ms for 12 s: samples with two holders after one
#              Master_Down_Interval of h2 (3.65 s) and in all, holder changes, who holds the
#              VIP at the end; the client's longest ping gap.
#   deadpeer   h2 at priority 120 is master, its link goes down, h1 takes over; 2 s later h1's
#              tracked file (vrrp_track_file, weight 1) gets "-30" (priority 70): the longest
#              ping gap in the 8 s after the write, and h1's priority then.
#   loss       30 % of VRRP packets dropped on the bridge for DURATION s, REPEAT times (the
#              failure is random): % of pings lost, the longest ping gap, how often h2 became
#              master (its log), holder changes and samples with two holders.
#   partition  VRRP dropped on the bridge until both hold the VIP, then let through again: time
#              from the heal to the first sample with one holder (goal: within one
#              advert_int), and who holds it 5 s later.
#   flaps      FLAPS times h1's eth0 down 0.5 s, up 0.5 s: who holds the VIP 10 s after the
#              last flap, and since when.
#   recreate   h1's eth0 deleted and re-created (new veth, same name and address): seconds
#              until h1 alone holds the VIP again.
# Prints each figure per pair and vipd's ratio to keepalived's (a difference where keepalived's
# figure is 0).
#
# Builds nothing. Needs root, iproute2, iputils ping, nftables, keepalived (Debian package).
#   VIPD_BIN    vipd binary   (default: ${CARGO_TARGET_DIR:-<repo>/target}/debug/vipd)
#   VIPCTL_BIN  vipctl binary (default: beside VIPD_BIN)
#   DURATION    seconds of VRRP loss per loss run (default 60)
#   REPEAT      loss runs per pair (default 2)
#   FLAPS       link flaps (default 20)
#   PAIRS       pairs to run (default "ka+ka vipd+vipd vipd+ka"; ka+ka is the reference)
#   FAULTS      faults to run (default "renumber deadpeer loss partition flaps recreate")
#   MAX_SECONDS hard limit for the whole script (default 1200)
#   KEEP_LOGS=1 keep the work directory (agent logs, ping output, samples)
# A default run takes about 11 minutes; DURATION=20 REPEAT=1 about 6.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ -n ${VIPD_BIN:-} ]]; then VIPD_FROM="VIPD_BIN"; else VIPD_FROM="default"; fi
VIPD_BIN=${VIPD_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/vipd}
VIPCTL_BIN=${VIPCTL_BIN:-$(dirname "$VIPD_BIN")/vipctl}
DURATION=${DURATION:-60}
REPEAT=${REPEAT:-2}
FLAPS=${FLAPS:-20}
PAIRS=${PAIRS:-"ka+ka vipd+vipd vipd+ka"}
FAULTS=${FAULTS:-"renumber deadpeer loss partition flaps recreate"}
MAX_SECONDS=${MAX_SECONDS:-1200}

[[ $(id -u) -eq 0 ]] || { echo "chaos.sh: needs root (network namespaces)" >&2; exit 2; }
for tool in ip ping nft awk setsid keepalived; do
    command -v "$tool" >/dev/null || { echo "chaos.sh: $tool not found" >&2; exit 2; }
done
[[ -x $VIPD_BIN ]] || { echo "chaos.sh: $VIPD_BIN missing: cargo build --bins" >&2; exit 2; }

PREFIX="vc$$"
# shellcheck source=netns-tests/bench/lab.sh
source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"

MDI_H2=3.65          # Master_Down_Interval of priority 90: 3 x 1 s + (256 - 90) / 256 s
SETTLE=10            # seconds watched after the last link flap

since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}'; }

# sample SPAN STEP: the VIP's holders every STEP (< 1) seconds for SPAN seconds, one line
# "SECONDS_SINCE_START HOLDERS" each; bounded by count and time.
sample() {
    local span step t0 el wait i=0 max
    span=$(awk -v s="$1" 'BEGIN{printf "%d", s*1e6}')
    step=$(awk -v s="$2" 'BEGIN{printf "%d", s*1e6}')
    max=$((span / step))
    t0=${EPOCHREALTIME/./}
    el=0
    while ((i < max && el < span)); do
        wait=$((i * step - (${EPOCHREALTIME/./} - t0)))
        if ((wait > 0)); then sleep "$(printf '0.%06d' "$wait")"; fi
        el=$((${EPOCHREALTIME/./} - t0))
        printf '%d.%06d %s\n' $((el / 1000000)) $((el % 1000000)) "$(holders)"
        i=$((i + 1))
    done
}

# tally FILE GRACE: from sample's output, "TWO_AFTER/N_AFTER TWO/N CHANGES LAST SINCE ONE":
# samples with two holders at or after GRACE s (of how many), the same over all samples, how
# often the holders changed, the holders at the end and since when (s), and the first sample
# with exactly one holder (s, NA if none).
tally() {
    awk -v grace="$2" '
        { n++; if ($2 == "h1+h2") two++
          if ($1 >= grace) { na++; if ($2 == "h1+h2") twoa++ }
          if (n > 1 && $2 != last) { ch++; since = $1 }
          if (one == "" && ($2 == "h1" || $2 == "h2")) one = $1
          last = $2 }
        END { printf "%d/%d %d/%d %d %s %.2f %s\n", twoa, na, two, n, ch, (n ? last : "NA"),
                     since, (one == "" ? "NA" : sprintf("%.2f", one)) }' "$1"
}

# switch_nft RULE: one rule in the bridge's forward path, until switch_nft_clear.
switch_nft() {
    ip netns exec "$(ns sw)" nft -f - <<EOF
add table bridge chaos
add chain bridge chaos vrrp { type filter hook forward priority 0; }
add rule bridge chaos vrrp $1
EOF
}
switch_nft_clear() { ip netns exec "$(ns sw)" nft delete table bridge chaos; }

# up PAIR RUN: a fresh lab with the pair started, h1 elected. Sets DIR.
up() {
    DIR="$WORK/$2"
    lab_up
    start h1 "${1%+*}" 100 "$2"
    start h2 "${1#*+}" 90 "$2"
    wait_until 20 elected >/dev/null || { log "$2: no election ($(holders))"; return 1; }
}

# pinger SECONDS: the client pings the VIP every 10 ms; sets PINGF; waits for a reply.
pinger() {
    PINGF="$DIR/ping.txt"
    : >"$PINGF"
    setsid ip netns exec "$(ns cl)" ping -n -i 0.01 -D -O -w "$1" "$VIP" >"$PINGF" 2>/dev/null </dev/null &
    PGIDS+=("$!")
    wait_until 5 reply_after "$PINGF" "$EPOCHREALTIME" >/dev/null || log "$DIR: the client gets no reply"
}

# h1_priority: h1's priority as its agent reports it (vipctl; keepalived's log), or NA.
h1_priority() {
    if [[ -S $DIR/h1.sock ]]; then
        timeout 5 "$VIPCTL_BIN" --socket "$DIR/h1.sock" status --json 2>/dev/null |
            grep -o '"effective_priority": *[0-9]*' | grep -o '[0-9]*$' | head -1 || echo NA
    else
        grep -o 'effective priority from [0-9]* to [0-9]*' "$DIR/h1.log" | tail -1 |
            grep -o '[0-9]*$' || echo NA
    fi
}

declare -A R          # R[figure/pair] = value; figures as in the table below
LOSS_RUNS=()          # "pair pct changes two takeovers gap" per loss run

fault_renumber() { # PAIR RUN
    local f t
    R[rn_two_after/$1]=NA R[rn_two/$1]=NA R[rn_end/$1]=NA R[rn_changes/$1]=NA R[rn_gap/$1]=NA
    up "$1" "$2" || { lab_down; return; }
    pinger 30
    printf 'addr del %s/24 dev eth0\naddr add %s/24 dev eth0\n' "$NET.1" "$NET.21" >"$DIR/renumber.batch"
    t=$EPOCHREALTIME
    ip -n "$(ns h1)" -batch "$DIR/renumber.batch"
    sample 12 0.1 >"$DIR/samples.txt"
    R[rn_gap/$1]=$(gap "$PINGF" "$t" "$EPOCHREALTIME")
    read -r -a f < <(tally "$DIR/samples.txt" "$MDI_H2")
    R[rn_two_after/$1]=${f[0]} R[rn_two/$1]=${f[1]} R[rn_end/$1]=${f[3]} R[rn_changes/$1]=${f[2]}
    log "$2: two holders in ${f[0]} samples after ${MDI_H2}s, ${f[1]} in all; ${f[2]} holder" \
        "changes, ${f[3]} at the end; longest ping gap ${R[rn_gap/$1]}s"
    lab_down
}

fault_deadpeer() { # PAIR RUN
    local file t
    R[dp_gap/$1]=NA R[dp_prio/$1]=NA R[dp_end/$1]=NA
    DIR="$WORK/$2"
    lab_up
    mkdir -p "$DIR"
    file="$DIR/weight-h1"
    echo 0 >"$file"
    start h2 "${1#*+}" 120 "$2"
    if ! wait_until 20 has_vip h2 >/dev/null; then log "$2: h2 not master"; lab_down; return; fi
    start h1 "${1%+*}" 100 "$2" "$file"
    sleep 3
    [[ $(holders) == h2 ]] || log "$2: holders $(holders) before h2's link goes down"
    pinger 60
    t=$EPOCHREALTIME
    ip -n "$(ns h2)" link set eth0 down
    if ! wait_until 10 has_vip h1 >/dev/null || ! wait_until 5 reply_after "$PINGF" "$t" >/dev/null; then
        log "$2: h1 did not take over"; lab_down; return
    fi
    sleep 2
    t=$EPOCHREALTIME
    echo -30 >"$file"
    sleep 8
    R[dp_gap/$1]=$(gap "$PINGF" "$t" "$EPOCHREALTIME")
    R[dp_prio/$1]=$(h1_priority)
    R[dp_end/$1]=$(holders)
    log "$2: longest gap ${R[dp_gap/$1]}s after the file, h1 priority ${R[dp_prio/$1]}, holders ${R[dp_end/$1]}"
    lab_down
}

fault_loss() { # PAIR RUN
    local t0 t1 f l
    if ! up "$1" "$2"; then LOSS_RUNS+=("$1 NA NA NA NA NA"); lab_down; return; fi
    pinger $((DURATION + 30))
    switch_nft "ip protocol 112 numgen random mod 100 lt 30 drop"
    t0=$EPOCHREALTIME
    sample "$DURATION" 0.1 >"$DIR/samples.txt"
    switch_nft_clear
    t1=$EPOCHREALTIME
    sleep 1
    read -r -a l < <(lost "$PINGF" "$t0" "$t1")
    read -r -a f < <(tally "$DIR/samples.txt" 0)
    local pct takeovers longest
    pct=$(awk -v l="${l[0]}" -v s="${l[1]}" 'BEGIN{ if (s + 0 > 0) printf "%.1f", 100 * l / s; else print "NA" }')
    # A takeover shorter than a sample is seen only in the backup's log.
    takeovers=$(grep -c -e 'Entering MASTER STATE' -e '-> MASTER' "$DIR/h2.log" || true)
    longest=$(gap "$PINGF" "$t0" "$t1")
    LOSS_RUNS+=("$1 $pct ${f[2]} ${f[1]%/*} $takeovers $longest")
    log "$2: ${l[0]} of ${l[1]} pings lost ($pct %), longest gap ${longest}s, ${f[2]} holder" \
        "changes, two holders in ${f[1]} samples, h2 became master $takeovers time(s)"
    lab_down
}

fault_partition() { # PAIR RUN
    local f
    R[pt_heal/$1]=NA R[pt_end/$1]=NA
    up "$1" "$2" || { lab_down; return; }
    switch_nft "ip protocol 112 drop"
    if ! wait_until 10 has_vip h2 >/dev/null; then log "$2: h2 never took the VIP"; fi
    sleep 1
    switch_nft_clear
    sample 5 0.02 >"$DIR/samples.txt"
    read -r -a f < <(tally "$DIR/samples.txt" 0)
    R[pt_heal/$1]=${f[5]} R[pt_end/$1]=${f[3]}
    log "$2: one holder ${f[5]}s after the heal; ${f[3]} at the end (${f[2]} changes)"
    lab_down
}

fault_flaps() { # PAIR RUN
    local f i
    R[fl_end/$1]=NA R[fl_since/$1]=NA
    up "$1" "$2" || { lab_down; return; }
    for ((i = 1; i <= FLAPS; i++)); do
        ip -n "$(ns h1)" link set eth0 down
        sleep 0.5
        ip -n "$(ns h1)" link set eth0 up
        ((i == FLAPS)) || sleep 0.5
    done
    sample "$SETTLE" 0.1 >"$DIR/samples.txt"
    read -r -a f < <(tally "$DIR/samples.txt" 0)
    R[fl_end/$1]=${f[3]}
    if [[ ${f[3]} == h1 ]]; then R[fl_since/$1]=${f[4]}; fi
    log "$2: ${f[3]} holds the VIP since ${f[4]}s after the last flap"
    lab_down
}

fault_recreate() { # PAIR RUN
    local t
    R[rc_back/$1]=NA
    up "$1" "$2" || { lab_down; return; }
    t=$EPOCHREALTIME
    ip -n "$(ns h1)" link del eth0
    plug h1 "$NET.1"
    if wait_until 20 elected >/dev/null; then R[rc_back/$1]=$(since "$t"); fi
    log "$2: h1 alone holds the VIP again after ${R[rc_back/$1]}s (holders $(holders))"
    lab_down
}

log "vipd: $VIPD_BIN ($VIPD_FROM); pairs: $PAIRS; faults: $FAULTS"
log "DURATION=$DURATION REPEAT=$REPEAT FLAPS=$FLAPS"
# Fault by fault, the pairs one after the other, so that a noisy minute hurts them all alike.
for fault in $FAULTS; do
    runs=1
    [[ $fault == loss ]] && runs=$REPEAT
    for ((i = 1; i <= runs; i++)); do
        for p in $PAIRS; do
            "fault_$fault" "$p" "$fault-$p-$i"
        done
    done
done

# vs KA VIPD: vipd's figure against keepalived's: a ratio, a difference when keepalived's is 0
# (counts "N/M" compare by N), "same" or "differs" for names.
vs() {
    awk -v k="${1%%/*}" -v v="${2%%/*}" 'BEGIN {
        num = "^-?[0-9]+([.][0-9]+)?$"
        if (k !~ num || v !~ num) { print (k == v ? "same" : "differs"); exit }
        if (k + 0 != 0) printf "%.2fx\n", v / k; else printf "%+g\n", v - k }'
}
# row LABEL KEY [-]: one figure for every pair, and each vipd pair against ka+ka (not with -).
row() {
    local p line
    line=$(printf '%-44s' "$1")
    for p in $PAIRS; do
        line+=$(printf ' %10s' "${R[$2/$p]:-NA}")
        if [[ $p != ka+ka ]]; then
            if [[ -n ${R[$2/ka+ka]:-} && -z ${3:-} ]]; then
                line+=$(printf ' %7s' "$(vs "${R[$2/ka+ka]}" "${R[$2/$p]:-NA}")")
            else
                line+=$(printf ' %7s' -)
            fi
        fi
    done
    echo "$line"
}

for p in $PAIRS; do
    # per loss run: "pair pct changes two"; each run's %, and the medians
    each=$(printf '%s\n' "${LOSS_RUNS[@]}" | awk -v p="$p" '$1 == p { printf "%s%s", (n++ ? "," : ""), $2 }')
    R[ls_each/$p]=${each:-NA}
    for col in 2:ls_pct 3:ls_changes 4:ls_two 5:ls_takeovers 6:ls_gap; do
        R[${col#*:}/$p]=$(printf '%s\n' "${LOSS_RUNS[@]}" | awk -v p="$p" -v c="${col%%:*}" '$1 == p { print $c }' |
            median | awk '{ print ($1 == "NA" ? $1 : $1 + 0) }')
    done
done

echo
echo "Chaos, 2 hosts (h1 prio 100, h2 prio 90, advert_int 1), 10 ms ping from a client"
echo "vipd: $VIPD_BIN; DURATION=$DURATION REPEAT=$REPEAT FLAPS=$FLAPS"
header=$(printf '%-44s' figure)
for p in $PAIRS; do
    header+=$(printf ' %10s' "$p")
    [[ $p == ka+ka ]] || header+=$(printf ' %7s' "vs ka")
done
echo "$header"
has() { [[ " $FAULTS " == *" $1 "* ]]; }
if has renumber; then
    row "renumber: two holders after ${MDI_H2} s (samples)" rn_two_after
    row "renumber: two holders in 12 s (samples)" rn_two
    row "renumber: holder changes in 12 s" rn_changes
    row "renumber: holder at the end" rn_end
    row "renumber: longest ping gap (s)" rn_gap
fi
if has deadpeer; then
    row "dead peer: longest gap after the file (s)" dp_gap
    row "dead peer: h1's priority then" dp_prio
    row "dead peer: holder at the end" dp_end
fi
if has loss; then
    row "30% loss ${DURATION}s: pings lost (%, median)" ls_pct
    row "30% loss: pings lost (%, each run)" ls_each -
    row "30% loss: longest ping gap (s, median)" ls_gap
    row "30% loss: h2 became master (its log, median)" ls_takeovers
    row "30% loss: holder changes (median)" ls_changes
    row "30% loss: samples with two holders (median)" ls_two
fi
if has partition; then
    row "partition healed: one holder after (s)" pt_heal
    row "partition healed: holder 5 s later" pt_end
fi
if has flaps; then
    row "$FLAPS flaps: holder ${SETTLE} s after the last" fl_end
    row "$FLAPS flaps: h1 holds it from (s after last)" fl_since
fi
if has recreate; then
    row "eth0 re-created: h1 alone master after (s)" rc_back
fi
echo "vs ka = vipd's figure / keepalived's (lower is better), or the difference when keepalived's"
echo "is 0; samples every 100 ms (20 ms after a partition); NA = did not happen within the bound"
