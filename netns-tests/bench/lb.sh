#!/usr/bin/env bash
# Forwarder benchmark: the same backends reached directly, through vipd's virtual_server
# forwarder, and through HAProxy in TCP mode with splice, side by side in one run.
#
# Everything runs inside one network namespace made for the run, on its loopback: nothing
# leaves it. The forwarder under test (vipd or haproxy, one thread each) is pinned to CPU 0,
# the load generators and the backends to CPU 1 (taskset). Both run with their defaults
# otherwise: neither polls busily (vipd's --lb-busy-poll and HAProxy's busy-polling are off
# unless configured).
#
# Backends: nginx (Debian) serving a 3-byte page and a 100 KB file; iperf3 -s.
# Measures, REPEAT times each, and prints medians with the ratio vipd/haproxy:
#   - bulk throughput client->server and server->client (iperf3, 1 stream), and the
#     forwarder's CPU seconds per Gbit moved (utime+stime from /proc),
#   - new connections per second (wrk, Connection: close, 50 connections), how busy the
#     forwarder's core was meanwhile and its CPU time per connection,
#   - latency p50/p99 (wrk, 1 connection): keep-alive, new connection per request, and a
#     100 KB body; percentiles of every request of all slices (wrk's histograms pooled);
#     the ratio is that of the latency each forwarder adds to direct,
#   - RSS per idle proxied connection with IDLE_CONNS idle connections held open,
#   - threads: nothing pinned, new connections per second through vipd --lb-threads 1 and
#     --lb-threads $(nproc) (one listener per thread, SO_REUSEPORT), and HAProxy nbthread 1
#     and $(nproc), to show whether one listener per core pays on this machine,
#   - light loads: the CPU of vipd, of vipd with --lb-busy-poll 200 (the opt-in) and of
#     HAProxy (each pinned to CPU 0), at 230 and 1150 short connections/s made one after
#     the other, and with one keep-alive connection sending requests back to back,
#     BUSY_SECONDS each, in 2 s rounds in alternating order: CPU % and CPU per connection or
#     answer.
# Connection rates and latencies are measured in SLICES short slices, the targets back to
# back in alternating order, so whatever else the machine does in a given second hits them
# alike.
#
# Builds nothing. Needs root, iproute2, taskset, nginx, haproxy, iperf3, wrk, python3:
#   apt-get install -y nginx-light haproxy iperf3 wrk python3
#   VIPD_BIN     vipd binary (default: ${CARGO_TARGET_DIR:-<repo>/target}/release/vipd)
#   DURATION     seconds per bulk measurement (default 5)
#   REPEAT       bulk runs per target (default 5)
#   IDLE_CONNS   idle connections for the memory figure (default 9000)
#   SLICES       interleaved slices per target for connection rates and latencies
#                (default 45: with 15, the p99 rows of two runs of the same code swung
#                between 0.68 and 1.50), SLICE_SECONDS long (default 1)
#   BUSY_SECONDS seconds per light-load measurement (default 10)
#   MAX_SECONDS  hard limit for the whole script (default 1800; a default run takes 16 min)
#   KEEP_LOGS=1  keep the work directory (configs, logs, raw results)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VIPD_BIN=${VIPD_BIN:-$TARGET/release/vipd}
DURATION=${DURATION:-5}
REPEAT=${REPEAT:-5}
CPUS=$(nproc)
IDLE_CONNS=${IDLE_CONNS:-9000}
SLICES=${SLICES:-45}
SLICE_SECONDS=${SLICE_SECONDS:-1}
MAX_SECONDS=${MAX_SECONDS:-1800}
BUSY_SECONDS=${BUSY_SECONDS:-10}

if [[ $(id -u) -ne 0 ]]; then
    echo "lb.sh: needs root (network namespace)" >&2
    exit 2
fi
for tool in ip taskset nginx haproxy iperf3 wrk python3 awk setsid; do
    command -v "$tool" >/dev/null || {
        echo "lb.sh: $tool not found (apt-get install -y nginx-light haproxy iperf3 wrk python3)" >&2
        exit 2
    }
done
[[ -x $VIPD_BIN ]] || { echo "lb.sh: no vipd at $VIPD_BIN (cargo build --release)" >&2; exit 2; }

PREFIX="vb$$-lb"
# shellcheck source=netns-tests/bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
NS=$PREFIX
RESULTS=$WORK/results          # lines: METRIC TARGET VALUE
HZ=$(getconf CLK_TCK)

# start NAME CPU CMD...: runs CMD in the namespace on CPU, in its own process group; sets PID.
start() {
    local name=$1 cpu=$2; shift 2
    setsid ip netns exec "$NS" taskset -c "$cpu" "$@" >"$WORK/$name.log" 2>&1 &
    PID=$!
    PGIDS+=("$PID")
}

# in_ns CPU CMD...: runs CMD in the namespace on CPU and waits for it.
in_ns() {
    local cpu=$1; shift
    ip netns exec "$NS" taskset -c "$cpu" "$@"
}

wait_port() {
    local port=$1
    for _ in $(seq 100); do
        if ip netns exec "$NS" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    log "nothing listens on 127.0.0.1:$port"; return 1
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

record() { echo "$1 $2 $3" >>"$RESULTS"; }

# ---------------------------------------------------------------- the lab
ip netns add "$NS"; NAMESPACES+=("$NS")
ip -n "$NS" link set lo up

# nginx's workers run unprivileged: they must be able to read the pages.
chmod 755 "$WORK"
mkdir -p "$WORK/www"
printf 'ok\n' >"$WORK/www/index.html"
head -c 102400 /dev/zero | tr '\0' 'x' >"$WORK/www/100k"

cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err crit;
worker_rlimit_nofile $(ulimit -Hn);
events { worker_connections 30000; }
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 600s;
    client_header_timeout 600s;
    server {
        listen 127.0.0.1:8080 backlog=4096 reuseport;
        root $WORK/www;
    }
}
EOF

cat >"$WORK/haproxy.cfg" <<EOF
global
    nbthread 1
    # Two descriptors per connection, and pipes for splice: 200 is plenty for 50 busy
    # connections and keeps the total under a 20000 descriptor limit at 9000 idle ones.
    maxconn $((IDLE_CONNS + 100))
    maxpipes 200
defaults
    mode tcp
    timeout connect 5s
    timeout client 900s
    timeout server 900s
    option splice-request
    option splice-response
frontend http
    bind 127.0.0.1:18080 backlog 4096
    default_backend http
backend http
    server s1 127.0.0.1:8080
frontend iperf
    bind 127.0.0.1:15201
    default_backend iperf
backend iperf
    server s1 127.0.0.1:5201
EOF

# The same for the threads comparison: nbthread = CPUs, other ports.
sed -e "s/nbthread 1/nbthread $CPUS/" -e 's/18080/18081/' -e 's/15201/15202/' \
    "$WORK/haproxy.cfg" >"$WORK/haproxy-mt.cfg"

cat >"$WORK/vipd.conf" <<EOF
virtual_server 127.0.0.1 28080 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 8080 {
        weight 1
    }
}
virtual_server 127.0.0.1 25201 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 5201 {
        weight 1
    }
}
EOF

# wrk: appends each run's latency histogram ("microseconds count" lines) to $HIST.
cat >"$WORK/hist.lua" <<'EOF'
done = function(summary, latency, requests)
    local out = assert(io.open(os.getenv("HIST"), "a"))
    for i = 1, #latency do
        local value, count = latency(i)
        out:write(string.format("%d %d\n", value, count))
    end
    out:close()
end
EOF

# Every process may use the hard limit of descriptors (the idle test needs 2 per connection),
# raised where it is too low for vipd to hold IDLE_CONNS: its forwarder budgets 6 descriptors
# per connection (sockets and splice pipes) beside a reserve for the rest of the daemon.
want_fds=$((6 * IDLE_CONNS + 1000))
(( $(ulimit -Hn) >= want_fds )) || ulimit -Hn "$want_fds" 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < 2 * IDLE_CONNS + 200 )); then
    echo "lb.sh: open-file limit $(ulimit -n) is too low for IDLE_CONNS=$IDLE_CONNS" >&2
    exit 2
fi

start nginx 1 nginx -c "$WORK/nginx.conf"
start iperf3 1 iperf3 -s -B 127.0.0.1 -p 5201
start haproxy 0 haproxy -db -f "$WORK/haproxy.cfg"
HAPROXY_PID=$PID
VIPD_LOG=warn start vipd 0 "$VIPD_BIN" --lb-threads 1 --config "$WORK/vipd.conf" --socket "$WORK/vipd.sock"
VIPD_PID=$PID
sed -e 's/28080/28081/' -e 's/25201/25202/' "$WORK/vipd.conf" >"$WORK/vipd-mt.conf"
# Pinned as the other, with busy polling opted in: what polling costs and buys.
sed -e 's/28080/28082/' -e 's/25201/25203/' "$WORK/vipd.conf" >"$WORK/vipd-poll.conf"
VIPD_LOG=warn start vipd-poll 0 "$VIPD_BIN" --lb-threads 1 --lb-busy-poll 200 --config "$WORK/vipd-poll.conf" --socket "$WORK/vipd-poll.sock"
POLL_PID=$PID
# Unpinned: the threads comparison.
VIPD_LOG=warn start vipd-mt 0-$((CPUS - 1)) "$VIPD_BIN" --lb-threads "$CPUS" --config "$WORK/vipd-mt.conf" --socket "$WORK/vipd-mt.sock"
start haproxy-mt 0-$((CPUS - 1)) haproxy -db -f "$WORK/haproxy-mt.cfg"
for p in 8080 5201 18080 15201 28080 25201 18081 28081 28082; do wait_port "$p"; done
log "haproxy $(haproxy -v | awk 'NR==1{print $3}') pid $HAPROXY_PID, vipd pid $VIPD_PID, nginx, iperf3 up in $NS"

declare -A HTTP_PORT=([direct]=8080 [haproxy]=18080 [vipd]=28080)
declare -A IPERF_PORT=([direct]=5201 [haproxy]=15201 [vipd]=25201)
declare -A PROXY_PID=([haproxy]=$HAPROXY_PID [vipd]=$VIPD_PID)

# ---------------------------------------------------------------- measurements
bulk() {
    local t=$1 dir=$2 flag="" pid=${PROXY_PID[$1]:-} c0=0 c1 json bytes bps
    [[ $dir == s2c ]] && flag=-R
    [[ -n $pid ]] && c0=$(cpu_ticks "$pid")
    json=$(in_ns 1 iperf3 -c 127.0.0.1 -p "${IPERF_PORT[$t]}" -t "$DURATION" -J $flag)
    read -r bytes bps < <(python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]["sum_received"]; print(e["bytes"], e["bits_per_second"])' <<<"$json")
    record "bulk_${dir}_gbps" "$t" "$(awk -v b="$bps" 'BEGIN{printf "%.2f", b/1e9}')"
    if [[ -n $pid ]]; then
        c1=$(cpu_ticks "$pid")
        record "cpu_per_gbit_${dir}" "$t" "$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v b="$bytes" 'BEGIN{printf "%.3f", (c/hz)/(b*8/1e9)}')"
    fi
}

conn_rate() {
    local t=$1 out pid=${PROXY_PID[$1]:-} c0=0 c1 n
    [[ -n $pid ]] && c0=$(cpu_ticks "$pid")
    out=$(in_ns 1 wrk -t1 -c50 -d"${SLICE_SECONDS}s" -H "Connection: close" "http://127.0.0.1:${HTTP_PORT[$t]}/")
    record new_conn_per_s "$t" "$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")"
    if [[ -n $pid ]]; then
        c1=$(cpu_ticks "$pid")
        n=$(awk '/requests in/ {print $1}' <<<"$out")
        record conn_cpu_pct "$t" "$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v d="$SLICE_SECONDS" 'BEGIN{printf "%.0f", 100*c/hz/d}')"
        record conn_cpu_us "$t" "$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v n="$n" 'BEGIN{printf "%.1f", 1e6*c/hz/n}')"
    fi
    errs=$(awk '/Socket errors|Non-2xx/' <<<"$out")
    [[ -z $errs ]] || log "$t conn/s: $errs"
}

# One latency slice: wrk with one connection; its latency histogram goes to
# $WORK/hist-MODE-TARGET (see hist.lua), pooled over all slices at the end.
latency() {
    local t=$1 mode=$2 url="http://127.0.0.1:${HTTP_PORT[$1]}/"
    local wrk=(in_ns 1 env "HIST=$WORK/hist-$mode-$t" wrk -t1 -c1 -d"${SLICE_SECONDS}s" -s "$WORK/hist.lua")
    case $mode in
        keepalive) "${wrk[@]}" "$url" ;;
        close) "${wrk[@]}" -H "Connection: close" "$url" ;;
        100k) "${wrk[@]}" "${url}100k" ;;
    esac >/dev/null
}

# pooled_pct FILE PERCENT: the latency (us) at PERCENT of all requests in a histogram file.
pooled_pct() {
    sort -n "$1" | awk -v p="$2" '
        { v[NR] = $1; c[NR] = $2; total += $2 }
        END { need = total * p / 100; for (i = 1; i <= NR; i++) { acc += c[i]; if (acc >= need) { printf "%.1f", v[i]; exit } } }'
}

# Opens IDLE_CONNS connections to the proxy and holds them; RSS growth per connection.
idle_memory() {
    local t=$1 pid=${PROXY_PID[$1]} rss0 rss1 fds0 client
    fds0=$(fd_count "$pid")
    rss0=$(rss_kib "$pid")
    setsid ip netns exec "$NS" taskset -c 1 python3 -c '
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.socket()
    s.connect(("127.0.0.1", port))
    socks.append(s)
print("ready", flush=True)
time.sleep(120)
' "${HTTP_PORT[$t]}" "$IDLE_CONNS" >"$WORK/idle-$t.log" 2>&1 &
    client=$!
    PGIDS+=("$client")
    for _ in $(seq 600); do
        grep -q ready "$WORK/idle-$t.log" 2>/dev/null && break
        sleep 0.1
    done
    # Every client connection accepted and proxied: two descriptors each.
    for _ in $(seq 100); do
        (( $(fd_count "$pid") >= fds0 + 2 * IDLE_CONNS )) && break
        sleep 0.1
    done
    sleep 1
    rss1=$(rss_kib "$pid")
    local held=$(( ($(fd_count "$pid") - fds0) / 2 ))
    record idle_held "$t" "$held"
    record idle_kib_per_conn "$t" "$(awk -v a="$rss0" -v b="$rss1" -v n="$held" 'BEGIN{ if (n > 0) printf "%.2f", (b-a)/n; else print "nan" }')"
    log "$t: $held idle connections, RSS $rss0 -> $rss1 KiB"
    kill_group KILL "$client"
    wait "$client" 2>/dev/null || true
    for _ in $(seq 100); do
        (( $(fd_count "$pid") <= fds0 + 4 )) && break
        sleep 0.1
    done
}

# The kind of latency `slices` measures now (see below).
latency_mode=keepalive
latency_slice() { latency "$1" "$latency_mode"; }

# Threads: new connections/s with nothing pinned, 1 thread against one per CPU.
declare -A THREADS_PORT=([vipd-1]=28080 [vipd-n]=28081 [haproxy-1]=18080 [haproxy-n]=18081)
threads_slice() { threads_rate "$1" "${THREADS_PORT[$1]}"; }
threads_rate() {
    local name=$1 port=$2 out
    out=$(ip netns exec "$NS" wrk -t2 -c50 -d"${SLICE_SECONDS}s" -H "Connection: close" "http://127.0.0.1:$port/")
    record threads_conn_per_s "$name" "$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")"
}

# A client making short HTTP/1.0 requests one after the other at a fixed rate, for a time.
cat >"$WORK/sequential.py" <<'EOF'
import socket, sys, time
port, rate, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
gap, start = 1.0 / rate, time.monotonic()
due = start
made = 0
while time.monotonic() - start < seconds:
    made += 1
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    while s.recv(4096):
        pass
    s.close()
    due += gap
    time.sleep(max(0.0, due - time.monotonic()))
print(made)
EOF

# light LOAD NAME: one round of a light load through NAME: a fixed rate of connections
# made one after the other (LOAD = 230 or 1150 per second), or one keep-alive connection
# sending back to back (LOAD = keepalive), LIGHT_SLICE seconds; records the forwarder's CPU
# ticks, the connections or answers, and the seconds, summed over rounds at the end.
declare -A LIGHT_PID LIGHT_PORT
light() {
    local load=$1 name=$2 c0 c1 n out
    local pid=${LIGHT_PID[$name]} port=${LIGHT_PORT[$name]}
    c0=$(cpu_ticks "$pid")
    if [[ $load == keepalive ]]; then
        out=$(in_ns 1 wrk -t1 -c1 -d"${LIGHT_SLICE}s" "http://127.0.0.1:$port/")
        n=$(awk '/requests in/ {print $1}' <<<"$out")
    else
        n=$(in_ns 1 python3 "$WORK/sequential.py" "$port" "$load" "$LIGHT_SLICE")
    fi
    c1=$(cpu_ticks "$pid")
    record "light_ticks_$load" "$name" $((c1 - c0))
    record "light_n_$load" "$name" "$n"
    record "light_secs_$load" "$name" "$LIGHT_SLICE"
}
light_slice() { light "$light_load" "$1"; }

# slices NAME FN ORDER...: SLICES rounds of FN TARGET for each target, the order reversed
# every other round.
slices() {
    local name=$1 fn=$2; shift 2
    local targets=("$@") i k
    log "$name: $SLICES slices of ${SLICE_SECONDS}s per target"
    for i in $(seq "$SLICES"); do
        if (( i % 2 )); then
            for t in "${targets[@]}"; do "$fn" "$t"; done
        else
            for (( k = ${#targets[@]} - 1; k >= 0; k-- )); do "$fn" "${targets[k]}"; done
        fi
    done
}

for r in $(seq "$REPEAT"); do
    log "bulk round $r of $REPEAT"
    if (( r % 2 )); then order="direct vipd haproxy"; else order="direct haproxy vipd"; fi
    for t in $order; do
        bulk "$t" c2s
        bulk "$t" s2c
    done
done
slices "new connections" conn_rate direct vipd haproxy
for m in keepalive close 100k; do
    latency_mode=$m
    slices "latency $m" latency_slice direct vipd haproxy
done
slices "threads" threads_slice vipd-1 vipd-n haproxy-1 haproxy-n
for m in keepalive close 100k; do
    for t in direct vipd haproxy; do
        record "p50_${m}_us" "$t" "$(pooled_pct "$WORK/hist-$m-$t" 50)"
        record "p99_${m}_us" "$t" "$(pooled_pct "$WORK/hist-$m-$t" 99)"
    done
done
for t in vipd haproxy; do idle_memory "$t"; done
LIGHT_PID=([vipd]=$VIPD_PID [vipd-poll]=$POLL_PID [haproxy]=$HAPROXY_PID)
LIGHT_PORT=([vipd]=28080 [vipd-poll]=28082 [haproxy]=18080)
LIGHT_SLICE=2
for light_load in 230 1150 keepalive; do
    SLICES=$(( (BUSY_SECONDS + LIGHT_SLICE - 1) / LIGHT_SLICE )) SLICE_SECONDS=$LIGHT_SLICE \
        slices "light load $light_load" light_slice vipd vipd-poll haproxy
done

# ---------------------------------------------------------------- the table
echo
echo "vipd virtual_server forwarder vs HAProxy $(haproxy -v | awk 'NR==1{print $3}') (TCP mode, splice), loopback in a namespace,"
echo "forwarder pinned to CPU 0, load and backends to CPU 1; bulk: medians of $REPEAT runs of ${DURATION}s;"
echo "connections/s: medians of $SLICES interleaved ${SLICE_SECONDS}s slices; latency: percentiles of every request"
echo "of $SLICES interleaved ${SLICE_SECONDS}s slices per target; memory per idle connection with $IDLE_CONNS opened"
echo "(held: $(awk '$1 == "idle_held" { printf "%s%s %s", sep, $2, $3; sep = ", " }' "$RESULTS"); vipd holds what its descriptor budget allows)."
echo "ratio = vipd / haproxy; for latency rows, of the latency added to direct."
awk '
function median(key,   n, i, j, t, a) {
    n = split(vals[key], a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    if (n == 0) return ""
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ vals[$1 " " $2] = vals[$1 " " $2] " " $3; if (!($1 in seen)) { seen[$1] = 1; order[++m] = $1 } }
END {
    label["bulk_c2s_gbps"] = "bulk client->server Gbit/s (higher better)"
    label["bulk_s2c_gbps"] = "bulk server->client Gbit/s (higher better)"
    label["cpu_per_gbit_c2s"] = "CPU s per Gbit, client->server (lower better)"
    label["cpu_per_gbit_s2c"] = "CPU s per Gbit, server->client (lower better)"
    label["new_conn_per_s"] = "new connections/s, 50 conns (higher better)"
    label["conn_cpu_pct"] = "forwarder CPU % during new connections"
    label["conn_cpu_us"] = "forwarder CPU us per new connection (lower better)"
    label["p50_keepalive_us"] = "latency p50 keep-alive us (lower better)"
    label["p99_keepalive_us"] = "latency p99 keep-alive us (lower better)"
    label["p50_close_us"] = "latency p50 new connection us (lower better)"
    label["p99_close_us"] = "latency p99 new connection us (lower better)"
    label["p50_100k_us"] = "latency p50 100 KB body us (lower better)"
    label["p99_100k_us"] = "latency p99 100 KB body us (lower better)"
    label["idle_kib_per_conn"] = "RSS KiB per idle connection (lower better)"
    printf "%-48s %10s %10s %10s %8s\n", "metric", "direct", "vipd", "haproxy", "ratio"
    for (k = 1; k <= m; k++) {
        metric = order[k]
        if (metric == "threads_conn_per_s" || metric == "idle_held" || metric ~ /^light_/) continue
        d = median(metric " direct"); v = median(metric " vipd"); h = median(metric " haproxy")
        if (metric ~ /^p[0-9]+_/) { v0 = v - d; h0 = h - d } else { v0 = v; h0 = h }
        ratio = (h0 + 0 != 0 && v != "") ? sprintf("%.2f", v0 / h0) : "-"
        printf "%-48s %10s %10s %10s %8s\n", label[metric], (d == "" ? "-" : d), v, h, ratio
    }
}' "$RESULTS"

echo
echo "threads: nothing pinned, load on the same $CPUS CPUs; new connections/s (50 conns, Connection: close),"
echo "medians of $SLICES interleaved ${SLICE_SECONDS}s slices; vipd --lb-threads, haproxy nbthread."
awk -v cpus="$CPUS" '
function median(key,   n, i, j, t, a) {
    n = split(vals[key], a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    if (n == 0) return 0
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
$1 == "threads_conn_per_s" { vals[$2] = vals[$2] " " $3 }
END {
    printf "%-10s %12s %12s %10s\n", "forwarder", "1 thread", cpus " threads", "gain"
    for (k = 1; k <= 2; k++) {
        f = (k == 1) ? "vipd" : "haproxy"
        one = median(f "-1"); n = median(f "-n")
        printf "%-10s %12s %12s %10s\n", f, one, n, (one > 0 ? sprintf("%.2f", n / one) : "-")
    }
    v = median("vipd-n"); h = median("haproxy-n")
    if (h > 0) printf "vipd / haproxy at %d threads: %.2f\n", cpus, v / h
}' "$RESULTS"

echo
echo "light loads: each forwarder pinned to CPU 0, client and nginx on CPU 1, ${BUSY_SECONDS}s per row"
echo "and forwarder in ${LIGHT_SLICE}s rounds, the forwarders in alternating order; vipd and haproxy"
echo "with their defaults (no busy polling), vipd-poll with --lb-busy-poll 200."
echo "ratio = vipd / haproxy (lower better for CPU)."
awk -v hz="$HZ" '
$1 ~ /^light_/ { sum[$1 " " $2] += $3 }
function pct(load, f) { return sprintf("%.1f", 100 * sum["light_ticks_" load " " f] / hz / sum["light_secs_" load " " f]) }
function per(load, f) { return sprintf("%.1f", 1e6 * sum["light_ticks_" load " " f] / hz / sum["light_n_" load " " f]) }
function rate(load, f) { return sprintf("%.0f", sum["light_n_" load " " f] / sum["light_secs_" load " " f]) }
function row(label, a, p, h, lower) {
    printf "%-48s %10s %10s %10s %8s\n", label, a, p, h, (h + 0 > 0 ? sprintf("%.2f", a / h) : "-")
}
END {
    printf "%-48s %10s %10s %10s %8s\n", "load", "vipd", "vipd-poll", "haproxy", "ratio"
    n = split("230 1150", rates, " ")
    for (i = 1; i <= n; i++) {
        l = rates[i]
        row(l " connections/s one after the other, CPU %", pct(l, "vipd"), pct(l, "vipd-poll"), pct(l, "haproxy"))
        row("  CPU us per connection", per(l, "vipd"), per(l, "vipd-poll"), per(l, "haproxy"))
    }
    row("1 keep-alive connection, answers/s", rate("keepalive", "vipd"), rate("keepalive", "vipd-poll"), rate("keepalive", "haproxy"))
    row("  CPU %", pct("keepalive", "vipd"), pct("keepalive", "vipd-poll"), pct("keepalive", "haproxy"))
    row("  CPU us per answer", per("keepalive", "vipd"), per("keepalive", "vipd-poll"), per("keepalive", "haproxy"))
}' "$RESULTS"
