# The BGP lab (sourced, not run): a router namespace R running BIRD (AS 65000), hosts h1 and
# h2 each on its own veth to R and in its own subnet (no shared L2), each running BIRD (AS
# 65001, conf/bird/host.conf) and nginx answering its own name on port 80, and a client cl
# behind R. Subnets: h1 10.241.1.0/24, h2 10.241.2.0/24, cl 10.241.9.0/24, VIP 10.99.0.10;
# they exist only inside the lab: hosts route the client subnet through R, the client routes
# the VIP through R, and nothing has a default route. BIRD runs from the shipped
# conf/bird/*.conf with only their `define` lines rewritten.
# The sourcing script sets PREFIX (unique per run) and MAX_SECONDS first; BFD (on|off) and
# HOLD (the BGP hold time, s) before bgp_lab_up.
# shellcheck shell=bash
# shellcheck source=netns-tests/bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

BIRD_CONF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../conf/bird" && pwd)
VIP=10.99.0.10
BFD=${BFD:-on}
HOLD=${HOLD:-9}
declare -A HADDR=([h1]=10.241.1.1 [h2]=10.241.2.1)
declare -A RADDR=([h1]=10.241.1.254 [h2]=10.241.2.254)

# host_conf HOST: conf/bird/host.conf for HOST, with the lab's addresses, BFD and hold time.
host_conf() {
    sed -e "s/^define HOST_ADDR = .*/define HOST_ADDR = ${HADDR[$1]};/" \
        -e "s/^define UPLINK = .*/define UPLINK = ${RADDR[$1]};/" \
        -e "s/^\( *\)bfd on;/\1bfd $BFD;/" -e "s/^\( *\)hold time [0-9]*;/\1hold time $HOLD;/" \
        "$BIRD_CONF_DIR/host.conf"
}

# router_conf: conf/bird/router-example.conf with the lab's addresses, BFD and hold time.
router_conf() {
    sed -e "s/^define ROUTER_ID = .*/define ROUTER_ID = 10.241.9.254;/" \
        -e "s/^define H1 = .*/define H1 = ${HADDR[h1]};/" \
        -e "s/^define H2 = .*/define H2 = ${HADDR[h2]};/" \
        -e "s/^\( *\)bfd on;/\1bfd $BFD;/" -e "s/^\( *\)hold time [0-9]*;/\1hold time $HOLD;/" \
        "$BIRD_CONF_DIR/router-example.conf"
}

# veth NS_A IF_A NS_B IF_B ADDR_A/LEN ADDR_B/LEN
veth() {
    ip -n "$(ns "$1")" link add "$2" type veth peer name "$4" netns "$(ns "$3")"
    ip -n "$(ns "$1")" addr add "$5" dev "$2"
    ip -n "$(ns "$3")" addr add "$6" dev "$4"
    ip -n "$(ns "$1")" link set "$2" up
    ip -n "$(ns "$3")" link set "$4" up
}

# bird_start NAME: BIRD in NAME's namespace on $WORK/NAME.bird.conf, control socket
# $WORK/NAME.ctl, foreground (-f) in its own process group.
bird_start() {
    setsid ip netns exec "$(ns "$1")" bird -f -c "$WORK/$1.bird.conf" -s "$WORK/$1.ctl" \
        -P "$WORK/$1.bird.pid" </dev/null >>"$WORK/$1.bird.log" 2>&1 &
    PGIDS+=("$!")
}

birdc_() { birdc -s "$WORK/$1.ctl" "${@:2}"; }

# nginx_name HOST: the process name nginx runs under on HOST: a copy of the binary named
# for this run and host, so that vipd's track_process on one host does not count another
# host's nginx (/proc is shared by every network namespace). At most 15 bytes.
nginx_name() { local n="n${PREFIX#vb}$1"; echo "${n:$(( ${#n} > 15 ? ${#n} - 15 : 0 ))}"; }

# nginx_start HOST: nginx answering "HOST" on port 80, in its own process group.
declare -A NGINX
nginx_start() {
    local d="$WORK/$1.nginx"
    mkdir -p "$d"
    [[ -x $d/$(nginx_name "$1") ]] || cp /usr/sbin/nginx "$d/$(nginx_name "$1")"
    cat >"$d/nginx.conf" <<NGX
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $d; proxy_temp_path $d; fastcgi_temp_path $d;
    uwsgi_temp_path $d; scgi_temp_path $d;
    server { listen 80; location / { return 200 "$1\n"; } }
}
NGX
    setsid ip netns exec "$(ns "$1")" "$d/$(nginx_name "$1")" -p "$d" -c "$d/nginx.conf" -g 'daemon off;' \
        </dev/null >>"$d/out.log" 2>&1 &
    NGINX[$1]=$!
    PGIDS+=("$!")
}

bgp_lab_up() {
    local n
    for n in r h1 h2 cl; do
        ip netns add "$(ns "$n")"; NAMESPACES+=("$(ns "$n")")
        ip -n "$(ns "$n")" link set lo up
    done
    ip netns exec "$(ns r)" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1
    veth r eth-h1 h1 eth0 10.241.1.254/24 10.241.1.1/24
    veth r eth-h2 h2 eth0 10.241.2.254/24 10.241.2.1/24
    veth r eth-cl cl eth0 10.241.9.254/24 10.241.9.1/24
    for n in h1 h2; do
        ip -n "$(ns "$n")" route add 10.241.9.0/24 via "${RADDR[$n]}"
        { echo 'log stderr all; debug protocols { states };'; host_conf "$n"; } >"$WORK/$n.bird.conf"
        bird_start "$n"
        nginx_start "$n"
    done
    ip -n "$(ns cl)" route add "$VIP/32" via 10.241.9.254
    { echo 'log stderr all; debug protocols { states };'; router_conf; } >"$WORK/r.bird.conf"
    bird_start r
}

# established: both sessions of the router are up.
established() {
    [[ $(birdc_ r show protocols 2>/dev/null | grep -c 'Established') == 2 ]]
}

# announce HOST METRIC: what vipd does for a healthy route_instance (emulated by hand).
announce() {
    ip -n "$(ns "$1")" addr replace "$VIP/32" dev lo
    ip -n "$(ns "$1")" route replace "$VIP/32" dev lo table 200 proto 220 metric "$2"
}
withdraw() { ip -n "$(ns "$1")" route del "$VIP/32" dev lo table 200 proto 220 2>/dev/null || true; }

# cut HOST / heal HOST: drop every packet in and out of HOST's eth0 (BFD alone can notice).
cut() {
    ip netns exec "$(ns "$1")" nft -f - <<NFT
add table inet vbcut
add chain inet vbcut in { type filter hook input priority -300; }
add chain inet vbcut out { type filter hook output priority -300; }
add rule inet vbcut in iifname "eth0" drop
add rule inet vbcut out oifname "eth0" drop
NFT
}
heal() { ip netns exec "$(ns "$1")" nft delete table inet vbcut 2>/dev/null || true; }

# router_route: the router's kernel route to the VIP, on one line.
router_route() { ip -n "$(ns r)" -o route show "$VIP/32"; }
