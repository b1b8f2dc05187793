#!/usr/bin/env bash
# Builds the .deb and checks what it ships and that it works the way its systemd unit runs it.
#
#   sudo ./packaging/test-deb.sh          (run-all.sh runs it)
#
# 1. Contents (dpkg-deb -c / -I): both binaries, the conffile, the unit, the sysusers file,
#    man pages for vipd, vipctl and every vipctl subcommand, bash/zsh/fish completions, the
#    maintainer scripts with the sysusers and stat-override steps.
# 2. `systemd-analyze verify` on the unit as shipped (its ExecStart pointed at the extracted
#    binary, MANPATH at the extracted man pages so Documentation= resolves).
# 3. The sysusers file creates the `vipd` user (in a scratch root, then on this machine, as
#    the package's postinst would).
# 4. The packaged vipd, run as user vipd with exactly the capabilities the unit grants
#    (read from the unit's AmbientCapabilities= and CapabilityBoundingSet=) and no new
#    privileges, in a private network namespace: it takes the VIP, vipctl reads its control
#    socket, its /proc status shows those capabilities and no others, its notify_master
#    script runs as user vipd, `vipctl reload` and SIGHUP reload it, a tracked process run by
#    root is seen (and its death releases the VIP), SIGTERM makes it exit 0. Without CAP_NET_RAW it must refuse with the message
#    that names the capabilities.
# Every failure names what was wrong; the namespaces are deleted on any exit.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "test-deb.sh: needs root (network namespaces, setpriv to the vipd user)" >&2
    exit 1
fi

passed=0
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
ok() {
    echo "ok: $*"
    passed=$((passed + 1))
}

WORK=$(mktemp -d)
chmod 755 "$WORK" # the vipd user must reach the extracted binary and the config
P="pk$$"          # namespace prefix unique to this run
VIPD_PID=""
SERVICE_PID=""
cleanup() {
    # Checked by name: a pid is ours only while it still runs what we started.
    if [ -n "$VIPD_PID" ] && [ "$(cat "/proc/$VIPD_PID/comm" 2>/dev/null)" = vipd ]; then
        kill -KILL "$VIPD_PID"
    fi
    if [ -n "$SERVICE_PID" ] && [ "$(cat "/proc/$SERVICE_PID/comm" 2>/dev/null)" = "pk$$svc" ]; then
        kill -KILL "$SERVICE_PID"
    fi
    ip netns del "${P}h" 2>/dev/null || true
    ip netns del "${P}c" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building the .deb"
deb=$(./packaging/build-deb.sh --quiet | tail -n 1)
[ -f "$deb" ] || fail "build-deb.sh did not print the path of a .deb (got '$deb')"
echo "$deb"

echo "== contents"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$WORK/files"
expect=(
    /usr/sbin/vipd
    /usr/bin/vipctl
    /etc/vipd/vipd.toml
    /usr/lib/systemd/system/vipd.service
    /usr/lib/sysusers.d/vipd.conf
    /usr/share/man/man8/vipd.8.gz
    /usr/share/man/man8/vipctl.8.gz
    /usr/share/bash-completion/completions/vipd
    /usr/share/bash-completion/completions/vipctl
    /usr/share/zsh/vendor-completions/_vipd
    /usr/share/zsh/vendor-completions/_vipctl
    /usr/share/fish/vendor_completions.d/vipd.fish
    /usr/share/fish/vendor_completions.d/vipctl.fish
    /usr/share/doc/vipd/copyright
    /usr/share/doc/vipd/README.md
)
# Every page of docs/ ships with the README that links to it.
for page in docs/*.md; do expect+=("/usr/share/doc/vipd/$page"); done
# One man page per vipctl subcommand, whatever the subcommands are today.
root="$WORK/root"
dpkg-deb -x "$deb" "$root"
grep -q "MIT OR Apache-2.0" "$root/usr/share/doc/vipd/copyright" ||
    fail "the .deb's copyright does not name the license"
subcommands=$("$root/usr/bin/vipctl" --help |
    awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {exit}' |
    grep -vx help)
[ -n "$subcommands" ] || fail "vipctl --help lists no subcommands"
for sub in $subcommands; do expect+=("/usr/share/man/man8/vipctl-$sub.8.gz"); done
for f in "${expect[@]}"; do
    grep -qx "$f" "$WORK/files" || fail "the .deb lacks $f"
done
ok "the .deb holds ${#expect[@]} expected files (subcommands: $(echo "$subcommands" | tr '\n' ' '))"

[ "$(stat -c %a "$root/usr/sbin/vipd")" = 755 ] || fail "/usr/sbin/vipd is not mode 755"
"$root/usr/sbin/vipd" --version | grep -q "^vipd " || fail "the packaged vipd does not run"
cmp -s "$root/usr/lib/systemd/system/vipd.service" packaging/vipd.service ||
    fail "the unit in the .deb differs from packaging/vipd.service"
cmp -s "$root/etc/vipd/vipd.toml" conf/vipd.toml || fail "the conffile differs from conf/vipd.toml"
"$root/usr/sbin/vipd" --config "$root/etc/vipd/vipd.toml" --check >/dev/null ||
    fail "the shipped /etc/vipd/vipd.toml does not pass vipd --check"
for page in "$root"/usr/share/man/man8/*.gz; do
    name=$(basename "$page" .8.gz)
    zcat "$page" | grep -q "^\.TH $name 8 " || fail "$page has no .TH header for $name(8)"
done
zcat "$root/usr/share/man/man8/vipd.8.gz" | grep -q -- '\\-\\-config' || fail "vipd(8) lacks --config"
for sub in $subcommands; do
    grep -qw "$sub" "$root/usr/share/bash-completion/completions/vipctl" ||
        fail "the bash completion of vipctl lacks $sub"
done
ok "binaries run, unit and conffile are the repo's, man pages and completions are complete"

dpkg-deb -e "$deb" "$WORK/control"
grep -qx /etc/vipd/vipd.toml "$WORK/control/conffiles" || fail "/etc/vipd/vipd.toml is not a conffile"
grep -q '^Depends:.*systemd' "$WORK/control/control" || fail "Depends lacks systemd (systemd-sysusers)"
grep -q '^Maintainer: The vipd project <' "$WORK/control/control" ||
    fail "the Maintainer field does not name the project: $(grep '^Maintainer:' "$WORK/control/control")"
grep -q 'systemd-sysusers .*vipd.conf' "$WORK/control/postinst" || fail "postinst does not create the vipd user"
grep -q 'dpkg-statoverride --update --add root vipd 0640 /etc/vipd/vipd.toml' "$WORK/control/postinst" ||
    fail "postinst does not protect the conffile"
grep -q '/usr/bin/vipctl upgrade' "$WORK/control/postinst" ||
    fail "postinst does not upgrade a running vipd in place"
for script in "$WORK"/control/{postinst,postrm,prerm}; do
    sh -n "$script" || fail "$(basename "$script") is not valid sh"
done
ok "conffile, Depends, Maintainer and maintainer scripts (postinst upgrades in place)"

echo "== systemd-analyze verify"
mkdir "$WORK/unit"
sed "s|/usr/sbin/vipd|$root/usr/sbin/vipd|g" "$root/usr/lib/systemd/system/vipd.service" \
    >"$WORK/unit/vipd.service"
MANPATH="$root/usr/share/man" systemd-analyze verify "$WORK/unit/vipd.service" ||
    fail "systemd-analyze verify rejects the unit"
exposure=$(systemd-analyze security --offline=true "$WORK/unit/vipd.service" 2>/dev/null |
    grep 'Overall exposure' || true)
ok "systemd-analyze verify accepts vipd.service ${exposure:+($exposure)}"

echo "== the vipd user"
mkdir -p "$WORK/sysroot/etc"
systemd-sysusers --root="$WORK/sysroot" "$root/usr/lib/sysusers.d/vipd.conf" 2>/dev/null
grep -q '^vipd:x:[0-9]*:[0-9]*:.*:/nonexistent:/usr/sbin/nologin$' "$WORK/sysroot/etc/passwd" ||
    fail "the sysusers file does not create a vipd user without a shell"
# On this machine too, as postinst does: setpriv below needs the name.
systemd-sysusers "$root/usr/lib/sysusers.d/vipd.conf" 2>/dev/null
getent passwd vipd >/dev/null || fail "systemd-sysusers did not create the vipd user"
ok "sysusers.d/vipd.conf creates user and group vipd"

echo "== the packaged vipd as user vipd with the unit's capabilities"
unit=packaging/vipd.service
user=$(sed -n 's/^User=//p' "$unit")
ambient=$(sed -n 's/^AmbientCapabilities=//p' "$unit")
bounding=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
[ "$user" = vipd ] || fail "the unit runs as '$user', not vipd"
[ "$ambient" = "$bounding" ] || fail "AmbientCapabilities and CapabilityBoundingSet differ"
grep -qx 'NoNewPrivileges=yes' "$unit" || fail "the unit lacks NoNewPrivileges=yes"
# "CAP_NET_ADMIN CAP_NET_RAW" -> "+net_admin,+net_raw" (setpriv's spelling)
to_setpriv() { echo "$1" | tr '[:upper:]' '[:lower:]' | sed 's/cap_/+/g; s/ /,/g'; }
# The capability mask the kernel shows in /proc/PID/status for a list of names.
mask_of() {
    local mask=0 cap
    for cap in $1; do
        case $cap in
        CAP_NET_BIND_SERVICE) mask=$((mask | 1 << 10)) ;;
        CAP_NET_ADMIN) mask=$((mask | 1 << 12)) ;;
        CAP_NET_RAW) mask=$((mask | 1 << 13)) ;;
        *) fail "the test does not know $cap: add its bit to mask_of" ;;
        esac
    done
    printf '%016x' "$mask"
}

NET=10.213.9 # exists only inside this test's namespaces
VIP=$NET.100
ip netns add "${P}h"
ip netns add "${P}c"
ip link add eth0 netns "${P}h" type veth peer name eth0 netns "${P}c"
ip -n "${P}h" addr add "$NET.11/24" dev eth0
ip -n "${P}c" addr add "$NET.13/24" dev eth0
for ns in "${P}h" "${P}c"; do
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
done
# What RuntimeDirectory=vipd with RuntimeDirectoryMode=0750 makes: /run/vipd for the user.
run="$WORK/run"
mkdir -m 0750 "$run"
chown vipd:vipd "$run"
# A tracked service run by root, as nginx's master would be (a copy of sleep with a name of
# its own), and a notify script: both must work with the unit's privileges.
service="pk$$svc"
cp "$(command -v sleep)" "$WORK/$service"
cat >"$WORK/notify-master" <<'SCRIPT'
#!/bin/sh
id -u >"$(dirname "$0")/run/notified"
SCRIPT
chmod 755 "$WORK/notify-master"
cat >"$WORK/vipd.conf" <<CONF
vrrp_track_process service {
    process $service
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {
        $VIP/24
    }
    track_process {
        service
    }
    notify_master $WORK/notify-master
}
CONF
chmod 644 "$WORK/vipd.conf"
"$WORK/$service" 600 &
SERVICE_PID=$!

# Runs the packaged vipd as the unit would: user vipd, the given capabilities, no new privs.
start_vipd() { # CAPS LOG
    local caps
    caps=$(to_setpriv "$1")
    ip netns exec "${P}h" setpriv --reuid vipd --regid vipd --clear-groups \
        --bounding-set "-all,$caps" --inh-caps "-all,$caps" --ambient-caps "-all,$caps" \
        --no-new-privs \
        "$root/usr/sbin/vipd" --config "$WORK/vipd.conf" --socket "$run/vipd.sock" >"$2" 2>&1 &
    VIPD_PID=$!
}
has_vip() { ip -n "${P}h" -4 -o addr show dev eth0 | grep -q " $VIP/"; }

start_vipd "$ambient" "$WORK/vipd.log"
for _ in $(seq 100); do
    has_vip && break
    kill -0 "$VIPD_PID" 2>/dev/null || { cat "$WORK/vipd.log" >&2; fail "vipd exited before taking the VIP"; }
    sleep 0.1
done
has_vip || { cat "$WORK/vipd.log" >&2; fail "vipd did not take $VIP within 10 s"; }
ok "vipd as user vipd with '$ambient' took $VIP"

status=/proc/$VIPD_PID/status
want=$(mask_of "$ambient")
[ "$(awk '/^Uid:/ {print $2}' "$status")" = "$(id -u vipd)" ] || fail "vipd does not run as uid vipd"
for set in CapEff CapPrm CapAmb CapBnd; do
    got=$(awk -v s="$set:" '$1 == s {print $2}' "$status")
    [ "$got" = "$want" ] || fail "$set is $got, the unit grants $want"
done
grep -q '^NoNewPrivs:[[:space:]]*1' "$status" || fail "NoNewPrivs is not set"
ok "its /proc status: uid vipd, CapEff=CapPrm=CapAmb=CapBnd=$want, NoNewPrivs"

[ "$(stat -c '%U:%G %a' "$run/vipd.sock")" = "vipd:vipd 660" ] ||
    fail "control socket is $(stat -c '%U:%G %a' "$run/vipd.sock"), want vipd:vipd 660"
"$root/usr/bin/vipctl" --socket "$run/vipd.sock" status >"$WORK/status" ||
    fail "vipctl status failed"
grep -q 'VI_1  MASTER' "$WORK/status" || { cat "$WORK/status" >&2; fail "vipctl does not show VI_1 MASTER"; }
ok "control socket vipd:vipd 0660; vipctl status shows VI_1 MASTER"

for _ in $(seq 50); do
    [ -s "$run/notified" ] && break
    sleep 0.1
done
[ "$(cat "$run/notified" 2>/dev/null)" = "$(id -u vipd)" ] ||
    fail "notify_master did not run as user vipd"
# Reload as the unit's ExecReload and an operator do it: both must work without root.
"$root/usr/bin/vipctl" --socket "$run/vipd.sock" reload >"$WORK/reload" 2>&1 ||
    { cat "$WORK/reload" "$WORK/vipd.log" >&2; fail "vipctl reload failed under the unit's privileges"; }
kill -HUP "$VIPD_PID"
for _ in $(seq 50); do
    [ "$(grep -c 'reloaded ' "$WORK/vipd.log")" -ge 2 ] && break
    sleep 0.1
done
[ "$(grep -c 'reloaded ' "$WORK/vipd.log")" -ge 2 ] ||
    { cat "$WORK/vipd.log" >&2; fail "SIGHUP (ExecReload) did not reload"; }
kill -0 "$VIPD_PID" 2>/dev/null || fail "vipd died after the reloads"
has_vip || fail "vipd lost the VIP after the reloads"
ok "vipctl reload and SIGHUP reload the configuration; vipd keeps the VIP"

kill -KILL "$SERVICE_PID"
wait "$SERVICE_PID" 2>/dev/null || true
for _ in $(seq 50); do
    has_vip || break
    sleep 0.1
done
has_vip && { cat "$WORK/vipd.log" >&2; fail "the tracked process died but vipd kept $VIP"; }
"$root/usr/bin/vipctl" --socket "$run/vipd.sock" status | grep -q 'VI_1  FAULT' ||
    fail "vipctl does not show VI_1 FAULT after the tracked process died"
ok "notify_master ran as user vipd; tracking a root process works: it died, VIP released (FAULT)"

kill -TERM "$VIPD_PID"
rc=0
wait "$VIPD_PID" || rc=$?
[ "$rc" = 0 ] || { cat "$WORK/vipd.log" >&2; fail "vipd exited $rc after SIGTERM"; }
has_vip && fail "$VIP still on eth0 after vipd stopped"
[ -e "$run/vipd.sock" ] && fail "vipd left its control socket behind"
ok "SIGTERM: socket removed, exit 0"

# Negative control: the capabilities are what makes it work.
without_raw=$(echo "$ambient" | sed 's/CAP_NET_RAW//; s/  */ /g; s/^ //; s/ $//')
start_vipd "$without_raw" "$WORK/noraw.log"
rc=0
wait "$VIPD_PID" || rc=$?
[ "$rc" = 1 ] || { cat "$WORK/noraw.log" >&2; fail "without CAP_NET_RAW vipd exited $rc, want 1"; }
grep -q 'vipd needs CAP_NET_ADMIN and CAP_NET_RAW' "$WORK/noraw.log" ||
    { cat "$WORK/noraw.log" >&2; fail "without CAP_NET_RAW vipd does not say what it needs"; }
has_vip && fail "without CAP_NET_RAW vipd still put $VIP on eth0"
ok "without CAP_NET_RAW vipd refuses (exit 1) and names the capabilities"

echo "all $passed checks passed"
