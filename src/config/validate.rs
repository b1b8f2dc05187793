//! Semantic checks shared by both loaders: from values as written (with their positions) to
//! the typed [`Config`].
//!
//! The loaders only know syntax; everything about meaning (ranges, address families,
//! duplicates, what is missing) is decided here, so keepalived.conf and TOML say the same
//! things.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::defaults::{self, Defaults};
use super::model::{Config, InitialState, VirtualIp, VrrpInstance, VrrpVersion};
use super::protocol::{self, Family};
use super::raw::{RawConfig, RawInstance, Val};
use super::routes;
use super::tracking::{self, Tracking};
use super::values::{C_INT_MAX, apply, count, must, seconds};
use super::vips::{self, Holders};
use super::virtual_server::validate_all;
use super::{Report, suggest};

/// keepalived's `auth_pass` is at most this many bytes (RFC 3768 §5.3.6.1).
const AUTH_PASS_MAX: usize = 8;

/// VIP options keepalived knows and vipd ignores (with a warning).
const VIP_IGNORED_OPTIONS: &[&str] = &["brd", "broadcast", "scope", "preferred_lft", "track_group"];
/// VIP flags (no argument) keepalived knows and vipd ignores.
const VIP_IGNORED_FLAGS: &[&str] = &[
    "no_track",
    "home",
    "-nodad",
    "nodad",
    "noprefixroute",
    "autojoin",
];

/// Checks `raw` and builds the model; problems go to `report`.
pub(crate) fn validate(raw: RawConfig, report: &mut Report) -> Config {
    let tracking = tracking::global(&raw.tracking, report);
    let defaults = defaults::global(&raw.defaults, report);
    let mut config = Config {
        router_id: raw.router_id.map(|v| v.value),
        metrics_listen: raw.metrics_listen.and_then(|v| metrics_listen(&v, report)),
        ..Config::default()
    };
    let no_pools = raw.virtual_servers.is_empty();
    validate_all(raw.virtual_servers, report, &mut config.virtual_servers);
    if raw.instances.is_empty() && raw.route_instances.is_empty() && no_pools {
        nothing_to_do(report);
    }
    config.instances = instances(raw.instances, &defaults, &tracking, report);
    config.route_instances =
        routes::route_instances(raw.route_instances, &config.instances, &tracking, report);
    config.vrrp_sync_group =
        tracking::sync_groups(&raw.tracking.sync_groups, &config.instances, report);
    config.vrrp_script = tracking.scripts;
    config.vrrp_track_file = tracking.files;
    config.vrrp_track_process = tracking.processes;
    config.script_user = tracking.script_user;
    config.enable_script_security = tracking.enable_script_security;
    tracking::assign_users(&mut config);
    config
}

fn metrics_listen(v: &Val<String>, report: &mut Report) -> Option<SocketAddr> {
    let addr = v.value.parse().ok();
    if addr.is_none() {
        let why = format!(
            "`{}` is not an address and port, e.g. 127.0.0.1:9650 or [::1]:9650",
            v.value
        );
        report.error_at(v.at(), "metrics_listen", why);
    }
    addr
}

/// A file with neither an instance nor a pool: an error, unless it is checked for another
/// host and an include that matched nothing here may bring them there.
fn nothing_to_do(report: &mut Report) {
    let nothing = "no vrrp_instance or virtual_server defined: nothing to do";
    match (report.elsewhere(), report.unmatched_includes.first()) {
        (Some(at), _) => {
            let message = "no vrrp_instance or virtual_server is defined, but this include \
                           matched no file here and may bring them on the host the file is for";
            report.warn_at(at, "include", message);
        }
        (None, Some(&(line, _))) => {
            let message = format!(
                "{nothing} (the include on {} matched no file)",
                report.line_ref(line)
            );
            report.error_at((0, 0), "vrrp_instance", message);
        }
        (None, None) => {
            report.error_at((0, 0), "vrrp_instance", nothing);
        }
    }
}

/// Every instance that can run. Names are unique, VRIDs unique per interface, and no VIP is
/// in two instances.
fn instances(
    raw: Vec<RawInstance>,
    defaults: &Defaults,
    tracking: &Tracking,
    report: &mut Report,
) -> Vec<VrrpInstance> {
    let mut out = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    // keepalived's rule: an IPv4 and an IPv6 instance may share a VRID on one interface.
    let mut vrids: HashMap<(String, u8, bool), (String, usize)> = HashMap::new();
    let mut holders = Holders::default();
    let mut vmacs = Vec::new();
    for inst in raw {
        let name = inst.name.clone();
        let vips_at = vips::written_at(&inst);
        let vmac_at = inst.use_vmac.as_ref().map(Val::at);
        if let Some(first) = names.get(&name.value) {
            let why = format!(
                "duplicate vrrp_instance name `{}` (first defined on {})",
                name.value,
                report.line_ref(*first)
            );
            report.error_at(name.at(), "vrrp_instance", why);
        } else {
            names.insert(name.value.clone(), name.line);
        }
        let Some(i) = instance(inst, defaults, tracking, report) else {
            continue;
        };
        let key = (i.interface.clone(), i.virtual_router_id, i.is_ipv6());
        if let Some((other, line)) = vrids.get(&key) {
            let why = format!(
                "virtual_router_id {} on interface {} is already used by {} vrrp_instance \
                 {other} ({}); each instance needs its own VRID per interface and family",
                i.virtual_router_id,
                i.interface,
                if i.is_ipv6() { "IPv6" } else { "IPv4" },
                report.line_ref(*line)
            );
            report.error_at(name.at(), "virtual_router_id", why);
        } else {
            vrids.insert(key, (i.name.clone(), name.line));
        }
        holders.add(&i, &vips_at, report);
        vmacs.push(vmac_at);
        out.push(i);
    }
    protocol::vmac_names(&mut out, &vmacs, report);
    out
}

/// One instance; `None` when something it cannot do without is missing or wrong.
fn instance(
    raw: RawInstance,
    defaults: &Defaults,
    tracking: &Tracking,
    report: &mut Report,
) -> Option<VrrpInstance> {
    let (mut out, mut ok) = required(&raw, report);
    out.garp_master_repeat = defaults.garp_master_repeat;
    let family = protocol::family(&raw);
    ok &= protocol::version(&raw, defaults, &family, &mut out, report);
    ok &= election(&raw, &mut out, report);
    ok &= auth(&raw, &mut out, report);
    ok &= addresses(&raw, &family, &mut out, report);
    ok &= protocol::options(&raw, defaults, &family, &mut out, report);
    ok &= garp(&raw, &mut out, report);
    ok &= defaults::lower_prio(&raw, defaults, &mut out, report);
    ok &= tracking::instance(&raw.tracks, &raw.notify, tracking, &mut out, report);
    ok &= apply(&mut out.route_table, raw.route_table.as_ref(), |v| {
        routes::table(v, report).map(Some)
    });
    ok.then_some(out)
}

/// An instance with keepalived's defaults for `interface` and `virtual_router_id`, which it
/// cannot do without; false when either is missing or wrong.
fn required(raw: &RawInstance, report: &mut Report) -> (VrrpInstance, bool) {
    let name = &raw.name;
    let missing = |report: &mut Report, key: &str, what: &str| {
        let why = format!("vrrp_instance {} has no {key}: {what}", name.value);
        report.error_at(name.at(), key, why);
    };
    let interface = match &raw.interface {
        Some(i) => {
            if i.value.parse::<IpAddr>().is_ok() {
                let why = format!(
                    "`{}` looks like an IP address, not an interface name (e.g. eth0)",
                    i.value
                );
                report.warn_at(i.at(), "interface", why);
            }
            Some(i.value.as_str())
        }
        None => {
            missing(report, "interface", "it names the interface adverts use");
            None
        }
    };
    let vrid = match &raw.virtual_router_id {
        Some(v) => range_u8(report, v, "virtual_router_id", 1, 255),
        None => {
            let what = "it must be 1..=255 and the same on all routers";
            missing(report, "virtual_router_id", what);
            None
        }
    };
    let out = VrrpInstance::with_defaults(
        &name.value,
        interface.unwrap_or_default(),
        vrid.unwrap_or(0),
    );
    (out, interface.is_some() && vrid.is_some())
}

/// What the election runs on: `state`, `priority`, `advert_int`, `nopreempt`,
/// `preempt_delay`.
fn election(raw: &RawInstance, out: &mut VrrpInstance, report: &mut Report) -> bool {
    // A bad state is an error, but the instance still counts in the checks that follow.
    if let Some(s) = &raw.state {
        out.state = state(s, report).unwrap_or(out.state);
    }
    let mut ok = apply(&mut out.priority, raw.priority.as_ref(), |p| {
        range_u8(report, p, "priority", 1, 255)
    });
    ok &= protocol::advert_int(raw, out, report);
    if let Some(n) = &raw.nopreempt {
        out.preempt = !n.value;
        if n.value && out.state == InitialState::Master {
            let why = "nopreempt does not work with state MASTER: cleared, as keepalived does \
                       (use state BACKUP on every router)";
            report.warn_at(n.at(), "nopreempt", why);
            out.preempt = true;
        }
    }
    ok & apply(&mut out.preempt_delay, raw.preempt_delay.as_ref(), |p| {
        must(p, "preempt_delay", "seconds from 0 to 1000", report, |s| {
            seconds(s).filter(|d| *d <= Duration::from_secs(1000))
        })
    })
}

/// `MASTER` or `BACKUP`; a suggestion for the words other tools use.
fn state(s: &Val<String>, report: &mut Report) -> Option<InitialState> {
    match s.value.as_str() {
        "MASTER" => Some(InitialState::Master),
        "BACKUP" => Some(InitialState::Backup),
        other => {
            let suggestion = match other.to_ascii_uppercase().as_str() {
                "SLAVE" | "SECONDARY" | "STANDBY" | "PASSIVE" => Some("BACKUP".to_string()),
                "PRIMARY" | "ACTIVE" => Some("MASTER".to_string()),
                _ => suggest::closest(other, &["MASTER", "BACKUP"]),
            };
            let why = format!("unknown state `{other}`: must be MASTER or BACKUP");
            report.error_at(s.at(), "state", why).suggestion = suggestion;
            None
        }
    }
}

/// The addresses: `virtual_ipaddress`, `virtual_ipaddress_excluded`, `unicast_src_ip` and
/// `unicast_peer`, all but the excluded ones of the instance's family.
fn addresses(
    raw: &RawInstance,
    family: &Family,
    out: &mut VrrpInstance,
    report: &mut Report,
) -> bool {
    let name = &raw.name;
    let mut ok = true;
    for words in &raw.virtual_ipaddress {
        match vip(words, Some((family, &name.value)), report) {
            Some(v) => out.virtual_ipaddress.push(v),
            None => ok = false,
        }
    }
    for words in &raw.virtual_ipaddress_excluded {
        match vip(words, None, report) {
            Some(v) => out.virtual_ipaddress_excluded.push(v),
            None => ok = false,
        }
    }
    // Reported, but the instance is kept: its name and VRID still count in later checks.
    vips::count(raw, report);
    if raw.virtual_ipaddress.is_empty() {
        let why = format!(
            "vrrp_instance {} has no virtual_ipaddress: it will elect a master but move no \
             address",
            name.value
        );
        report.warn_at(name.at(), "virtual_ipaddress", why);
    }
    let instance = Some((family, name.value.as_str()));
    if let Some(src) = &raw.unicast_src_ip {
        match host(src, "unicast_src_ip", instance, report) {
            Some(a) => out.unicast_src_ip = Some(a),
            None => ok = false,
        }
    }
    for peer in &raw.unicast_peer {
        match host(peer, "unicast_peer", instance, report) {
            Some(a) => out.unicast_peer.push(a),
            None => ok = false,
        }
    }
    first_vip_link_local(raw, out, report);
    ok & unicast(raw, out, report)
}

/// RFC 9568 §5.2.9: the first address of an IPv6 advert is the virtual router's link-local
/// address. keepalived logs it and runs on (multicast only), so vipd warns.
fn first_vip_link_local(raw: &RawInstance, out: &VrrpInstance, report: &mut Report) {
    let first = out.virtual_ipaddress.first().map(|v| v.addr);
    if let (Some(IpAddr::V6(a)), true) = (first, out.unicast_peer.is_empty())
        && !a.is_unicast_link_local()
        && let Some(w) = raw.virtual_ipaddress.first().and_then(|w| w.first())
    {
        let why = format!(
            "the first IPv6 virtual_ipaddress should be link-local (fe80::/10; RFC 9568 \
             §5.2.9), got {a}: other routers may not recognise the virtual router"
        );
        report.warn_at(w.at(), "virtual_ipaddress", why);
    }
}

/// `garp_master_delay`, `garp_master_repeat` and `garp_master_refresh`.
fn garp(raw: &RawInstance, out: &mut VrrpInstance, report: &mut Report) -> bool {
    let whole_seconds = |s: &str| s.parse::<u64>().ok();
    let mut ok = apply(
        &mut out.garp_master_delay,
        raw.garp_master_delay.as_ref(),
        |g| {
            let secs = must(
                g,
                "garp_master_delay",
                "whole seconds",
                report,
                whole_seconds,
            )?;
            Some(Duration::from_secs(secs))
        },
    );
    ok &= apply(
        &mut out.garp_master_repeat,
        raw.garp_master_repeat.as_ref(),
        |g| count(g, "garp_master_repeat", 1..=C_INT_MAX, report),
    );
    ok & apply(
        &mut out.garp_master_refresh,
        raw.garp_master_refresh.as_ref(),
        |g| {
            let what = "whole seconds (0 = off)";
            let secs = must(g, "garp_master_refresh", what, report, whole_seconds)?;
            Some((secs > 0).then(|| Duration::from_secs(secs)))
        },
    )
}

/// `unicast_src_ip` and `unicast_peer` together: what each lacks without the other, and the
/// copy-paste mistake of listing this router among its own peers.
fn unicast(raw: &RawInstance, out: &VrrpInstance, report: &mut Report) -> bool {
    let name = &raw.name;
    match (out.unicast_src_ip, out.unicast_peer.is_empty()) {
        (Some(src), false) => {
            if let Some(p) = raw
                .unicast_peer
                .iter()
                .zip(&out.unicast_peer)
                .find_map(|(p, a)| (*a == src).then_some(p))
            {
                report.error_at(
                    p.at(),
                    "unicast_peer",
                    format!(
                        "unicast_peer lists {src}, this router's own unicast_src_ip: list only \
                         the other routers (a file copied from the peer needs the two swapped)"
                    ),
                );
                return false;
            }
        }
        (None, false) => {
            let first = &raw.unicast_peer[0];
            report.warn_at(
                first.at(),
                "unicast_peer",
                format!(
                    "vrrp_instance {} has unicast_peer but no unicast_src_ip: adverts go out \
                     from the {} address of {}, which every peer must list in its \
                     unicast_peer (vipd refuses to start if there is none); set unicast_src_ip \
                     to choose it",
                    name.value,
                    if out.is_ipv6() {
                        "link-local IPv6"
                    } else {
                        "primary IPv4"
                    },
                    out.interface
                ),
            );
        }
        (Some(_), true) => {
            if let Some(src) = &raw.unicast_src_ip {
                let why = format!(
                    "unicast_src_ip without unicast_peer: adverts still go to multicast {}, \
                     as in keepalived (add unicast_peer {{ ... }} for unicast)",
                    out.advert_group()
                );
                report.warn_at(src.at(), "unicast_src_ip", why);
            }
        }
        (None, true) => {}
    }
    true
}

fn range_u8(report: &mut Report, v: &Val<String>, key: &str, min: u8, max: u8) -> Option<u8> {
    match v.value.parse::<i64>() {
        Ok(n) if (i64::from(min)..=i64::from(max)).contains(&n) => u8::try_from(n).ok(),
        Ok(_) => {
            report.error_at(
                v.at(),
                key,
                format!("{key} must be between {min} and {max}, got {}", v.value),
            );
            None
        }
        Err(_) => {
            report.error_at(
                v.at(),
                key,
                format!(
                    "{key} must be a number between {min} and {max}, got `{}`",
                    v.value
                ),
            );
            None
        }
    }
}

/// `authentication { auth_type PASS; auth_pass X }`.
fn auth(raw: &RawInstance, out: &mut VrrpInstance, report: &mut Report) -> bool {
    let mut ok = true;
    if out.version == VrrpVersion::V3
        && let Some(at) = raw.auth_type.as_ref().or(raw.auth_pass.as_ref())
    {
        let why = "VRRPv3 has no authentication (RFC 9568): ignored, as keepalived does";
        report.warn_at(at.at(), "authentication", why);
        return true;
    }
    match (&raw.auth_type, &raw.auth_pass) {
        (None, None) => {}
        (Some(t), pass) => {
            match t.value.as_str() {
                "PASS" => {}
                "AH" => {
                    report.error_at(
                        t.at(),
                        "auth_type",
                        "auth_type AH is not supported: vipd supports PASS only (or no \
                         authentication block at all)",
                    );
                    ok = false;
                }
                other => {
                    report
                        .error_at(
                            t.at(),
                            "auth_type",
                            format!("unknown auth_type `{other}`: vipd supports PASS only"),
                        )
                        .suggestion = suggest::closest(other, &["PASS"]);
                    ok = false;
                }
            }
            match pass {
                Some(p) => out.auth_pass = Some(password(p, report)),
                None => {
                    report.error_at(t.at(), "auth_pass", "auth_type PASS needs an auth_pass");
                    ok = false;
                }
            }
        }
        (None, Some(p)) => {
            report.warn_at(
                p.at(),
                "auth_pass",
                "auth_pass without auth_type: authentication stays off, as in keepalived \
                 (add `auth_type PASS`)",
            );
        }
    }
    ok
}

fn password(p: &Val<String>, report: &mut Report) -> Vec<u8> {
    let bytes = p.value.as_bytes();
    if bytes.len() > AUTH_PASS_MAX {
        let cut = &bytes[..AUTH_PASS_MAX];
        report.warn_at(
            p.at(),
            "auth_pass",
            format!(
                "auth_pass is {} bytes long; only the first {AUTH_PASS_MAX} (`{}`) are used, as \
                 keepalived does",
                bytes.len(),
                String::from_utf8_lossy(cut)
            ),
        );
        cut.to_vec()
    } else {
        bytes.to_vec()
    }
}

/// An instance's family and name, for the addresses that must be of that family.
type Owner<'a> = Option<(&'a Family, &'a str)>;

/// A unicast address; a `/LEN` suffix is accepted (users write it) and ignored.
fn host(v: &Val<String>, key: &str, owner: Owner<'_>, report: &mut Report) -> Option<IpAddr> {
    let (addr, prefix) = ip_with_prefix(v, key, owner, report)?;
    if let Some(p) = prefix {
        let why = format!(
            "prefix `/{p}` on `{}` ignored: {key} is a single address",
            v.value
        );
        report.warn_at(v.at(), key, why);
    }
    Some(addr)
}

/// `ADDR[/LEN]`: the address, and the prefix length as written; of the owner's family.
fn ip_with_prefix<'v>(
    v: &'v Val<String>,
    key: &str,
    owner: Owner<'_>,
    report: &mut Report,
) -> Option<(IpAddr, Option<&'v str>)> {
    let (addr, prefix) = match v.value.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (v.value.as_str(), None),
    };
    let Ok(addr) = addr.parse::<IpAddr>() else {
        let why = format!("`{}` is not an IP address (IPv4 or IPv6)", v.value);
        report.error_at(v.at(), key, why);
        return None;
    };
    if let Some((family, name)) = owner
        && addr.is_ipv6() != family.ipv6
    {
        let other = if addr.is_ipv6() { "IPv6" } else { "IPv4" };
        let mut why = format!(
            "`{}` is an {other} address, and vrrp_instance {name} is {} ({}): an instance \
             speaks one family, and keepalived ignores this line",
            v.value,
            family.name(),
            family.why
        );
        if key == "virtual_ipaddress" {
            why.push_str(&format!(
                "; list it in virtual_ipaddress_excluded, or in an {other} vrrp_instance"
            ));
        }
        report.error_at(v.at(), key, why);
        return None;
    }
    Some((addr, prefix))
}

/// One `virtual_ipaddress` line: `ADDR[/LEN] [dev IF] [label L]`, of the owner's family
/// (either for `virtual_ipaddress_excluded`, which has no owner).
fn vip(words: &[Val<String>], owner: Owner<'_>, report: &mut Report) -> Option<VirtualIp> {
    let first = words.first()?;
    let key = if owner.is_some() {
        "virtual_ipaddress"
    } else {
        "virtual_ipaddress_excluded"
    };
    let (addr, prefix) = ip_with_prefix(first, key, owner, report)?;
    // keepalived's default: a host address.
    let max = if addr.is_ipv6() { 128 } else { 32 };
    let mut out = VirtualIp {
        addr,
        prefix_len: max,
        dev: None,
        label: None,
    };
    let mut ok = true;
    if let Some(p) = prefix {
        match p.parse::<u8>() {
            Ok(n) if n <= max => out.prefix_len = n,
            _ => {
                let why = format!(
                    "prefix length `/{p}` in `{}` must be from 0 to {max}",
                    first.value
                );
                report.error_at(first.at(), key, why);
                ok = false;
            }
        }
    }
    ok &= vip_options(first, key, &words[1..], &mut out, report);
    ok.then_some(out)
}

/// The words after a VIP's address: `dev IF`, `label L`, and keepalived's options vipd
/// ignores with a warning. False at the first one that is wrong.
fn vip_options(
    first: &Val<String>,
    key: &str,
    words: &[Val<String>],
    out: &mut VirtualIp,
    report: &mut Report,
) -> bool {
    let mut rest = words.iter();
    while let Some(w) = rest.next() {
        let opt = w.value.as_str();
        let takes_arg = matches!(opt, "dev" | "label") || VIP_IGNORED_OPTIONS.contains(&opt);
        if takes_arg {
            let Some(arg) = rest.next() else {
                report.error_at(w.at(), key, format!("`{opt}` needs a value"));
                return false;
            };
            match opt {
                "dev" => out.dev = Some(arg.value.clone()),
                "label" => out.label = Some(arg.value.clone()),
                _ => {
                    let why = format!(
                        "`{opt} {}` ignored: not supported by this vipd version",
                        arg.value
                    );
                    report.warn_at(w.at(), key, why);
                }
            }
        } else if VIP_IGNORED_FLAGS.contains(&opt) {
            let why = format!("`{opt}` ignored: not supported by this vipd version");
            report.warn_at(w.at(), key, why);
        } else {
            let mut known: Vec<&str> = vec!["dev", "label"];
            known.extend(VIP_IGNORED_OPTIONS);
            known.extend(VIP_IGNORED_FLAGS);
            let why = format!(
                "unknown option `{opt}` after address {}: expected dev IF or label L",
                first.value
            );
            report.error_at(w.at(), key, why).suggestion = suggest::closest(opt, &known);
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Duration;

    use crate::config::Diagnostic;
    use crate::config::testing::{load, load_offline, one_error};

    /// A keepalived instance with `extra` lines inserted from line 4 on.
    fn conf(extra: &str) -> String {
        format!(
            "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n{extra}\n \
             virtual_ipaddress {{\n 10.0.0.1\n }}\n}}\n"
        )
    }

    /// The same in TOML: `extra` lines go after line 4.
    fn toml(extra: &str) -> String {
        format!(
            "[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 51\n\
             {extra}\n"
        )
    }

    /// `d` is at `line`, about `key`, says `message` and suggests `suggestion`.
    fn check(d: &Diagnostic, line: usize, key: &str, message: &str, suggestion: Option<&str>) {
        assert_eq!(d.line, line, "{d}");
        assert_eq!(d.key, key, "{d}");
        assert!(d.message.contains(message), "{d}\nwanted: {message}");
        assert_eq!(d.suggestion.as_deref(), suggestion, "{d}");
    }

    /// Both formats give the same error for the same mistake.
    fn both(ka: &str, tm: &str, key: &str, message: &str, suggestion: Option<&str>) {
        both_at((4, 5), ka, tm, key, message, suggestion);
    }

    /// [`both`], with the lines (keepalived, TOML) the error is expected on.
    fn both_at(
        lines: (usize, usize),
        ka: &str,
        tm: &str,
        key: &str,
        message: &str,
        suggestion: Option<&str>,
    ) {
        check(
            &one_error(&conf(ka), "a.conf"),
            lines.0,
            key,
            message,
            suggestion,
        );
        check(
            &one_error(&toml(tm), "a.toml"),
            lines.1,
            key,
            message,
            suggestion,
        );
    }

    #[test]
    fn vrid_range() {
        let e = one_error(
            &conf("").replace("virtual_router_id 51", "virtual_router_id 0"),
            "a.conf",
        );
        check(
            &e,
            3,
            "virtual_router_id",
            "virtual_router_id must be between 1 and 255, got 0",
            None,
        );
        let e = one_error(&toml("").replace("= 51", "= 256"), "a.toml");
        check(
            &e,
            4,
            "virtual_router_id",
            "must be between 1 and 255, got 256",
            None,
        );
    }

    #[test]
    fn priority_range() {
        both(
            " priority 0",
            "priority = 0",
            "priority",
            "priority must be between 1 and 255, got 0",
            None,
        );
        both(
            " priority 256",
            "priority = 256",
            "priority",
            "got 256",
            None,
        );
        let d = one_error(&conf(" priority high"), "a.conf");
        check(
            &d,
            4,
            "priority",
            "priority must be a number between 1 and 255, got `high`",
            None,
        );
    }

    #[test]
    fn advert_int_whole_seconds() {
        both(
            " advert_int 0",
            "advert_int = 0",
            "advert_int",
            "advert_int must be whole seconds from 1 to 255 (VRRPv2), got `0`",
            None,
        );
        both(
            " advert_int 256",
            "advert_int = 256",
            "advert_int",
            "got `256`",
            None,
        );
        let d = one_error(&conf(" advert_int 1x"), "a.conf");
        check(&d, 4, "advert_int", "got `1x`", None);
    }

    /// keepalived rounds a VRRPv2 fraction half up to whole seconds, and 0 up to 1, with a
    /// warning; so does vipd.
    #[test]
    fn advert_int_fraction_in_vrrpv2_is_rounded_as_keepalived_does() {
        for (written, secs) in [
            ("0.5", 1),
            ("0.2", 1),
            ("1.5", 2),
            ("2.4", 2),
            ("254.9", 255),
        ] {
            for (text, file) in [
                (conf(&format!(" advert_int {written}")), "a.conf"),
                (toml(&format!("advert_int = {written}")), "a.toml"),
            ] {
                let l = load(&text, file).unwrap_or_else(|e| panic!("{e}"));
                let i = &l.config.instances[0];
                assert_eq!(i.advert_int, Duration::from_secs(secs), "{written}");
                let w: Vec<&Diagnostic> = l
                    .warnings
                    .iter()
                    .filter(|w| w.key == "advert_int")
                    .collect();
                let [w] = w.as_slice() else {
                    panic!("{:?}", l.warnings)
                };
                check(
                    w,
                    if file == "a.conf" { 4 } else { 5 },
                    "advert_int",
                    &format!(
                        "VRRPv2 adverts are whole seconds: {written} rounded to {secs}s, as \
                         keepalived does"
                    ),
                    None,
                );
            }
        }
        // keepalived reads nothing under 10 ms: it keeps 1 s; vipd says so.
        let d = one_error(&conf(" advert_int 0.005"), "a.conf");
        check(&d, 4, "advert_int", "got `0.005`", None);
        let d = one_error(&conf(" advert_int 255.5"), "a.conf");
        check(
            &d,
            4,
            "advert_int",
            "from 1 to 255 (VRRPv2), got `255.5`",
            None,
        );
    }

    #[test]
    fn auth_type_pass_only() {
        both_at(
            (5, 5),
            " authentication {\n auth_type AH\n auth_pass x\n }",
            "authentication = { auth_type = \"AH\", auth_pass = \"x\" }",
            "auth_type",
            "auth_type AH is not supported: vipd supports PASS only",
            None,
        );
        let d = one_error(
            &conf(" authentication {\n auth_type PASS;\n auth_pass x\n }"),
            "a.conf",
        );
        check(
            &d,
            5,
            "auth_type",
            "unknown auth_type `PASS;`",
            Some("PASS"),
        );
    }

    #[test]
    fn auth_pass_longer_than_8_is_cut_with_warning() {
        for (text, file, line) in [
            (
                conf(" authentication {\n auth_type PASS\n auth_pass 0123456789\n }"),
                "a.conf",
                6,
            ),
            (
                toml("authentication = { auth_type = \"PASS\", auth_pass = \"0123456789\" }"),
                "a.toml",
                5,
            ),
        ] {
            let l = load(&text, file).unwrap();
            assert_eq!(
                l.config.instances[0].auth_pass.as_deref(),
                Some(&b"01234567"[..])
            );
            let w = l
                .warnings
                .iter()
                .find(|w| w.key == "auth_pass")
                .expect("warning");
            assert_eq!(w.line, line);
            assert!(
                w.message
                    .contains("only the first 8 (`01234567`) are used, as keepalived does")
            );
        }
    }

    #[test]
    fn vips_are_of_the_instance_family() {
        let d = one_error(
            &conf("").replace("10.0.0.1", "10.0.0.1\n fe80::1/64"),
            "a.conf",
        );
        check(
            &d,
            7,
            "virtual_ipaddress",
            "`fe80::1/64` is an IPv6 address, and vrrp_instance VI_1 is IPv4 (its first \
             virtual_ipaddress is 10.0.0.1): an instance speaks one family, and keepalived \
             ignores this line; list it in virtual_ipaddress_excluded, or in an IPv6 \
             vrrp_instance",
            None,
        );
        let d = one_error(
            &toml("virtual_ipaddress = [\"fe80::1\", \"10.0.0.1\"]"),
            "a.toml",
        );
        check(
            &d,
            5,
            "virtual_ipaddress",
            "`10.0.0.1` is an IPv4 address, and vrrp_instance VI_1 is IPv6 (its first \
             virtual_ipaddress is fe80::1)",
            None,
        );
        // native_ipv6 decides before the addresses do.
        let d = one_error(&conf(" native_ipv6"), "a.conf");
        check(
            &d,
            6,
            "virtual_ipaddress",
            "`10.0.0.1` is an IPv4 address, and vrrp_instance VI_1 is IPv6 (native_ipv6 is set)",
            None,
        );
        let d = one_error(&conf("").replace("10.0.0.1", "<--VIP-->"), "a.conf");
        check(
            &d,
            6,
            "virtual_ipaddress",
            "`<--VIP-->` is not an IP address (IPv4 or IPv6)",
            None,
        );
        // The excluded addresses may be of either family.
        let l = load(
            &conf(" virtual_ipaddress_excluded {\n 2001:db8::5/64 dev eth1\n 10.9.9.9\n }"),
            "a.conf",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let ex = &l.config.instances[0].virtual_ipaddress_excluded;
        assert_eq!(
            (
                ex[0].addr.to_string(),
                ex[0].prefix_len,
                ex[0].dev.as_deref()
            ),
            ("2001:db8::5".to_string(), 64, Some("eth1"))
        );
        assert_eq!(ex[1].prefix_len, 32);
        let d = one_error(
            &conf(" virtual_ipaddress_excluded {\n 2001:db8::5/129\n }"),
            "a.conf",
        );
        check(
            &d,
            5,
            "virtual_ipaddress_excluded",
            "prefix length `/129` in `2001:db8::5/129` must be from 0 to 128",
            None,
        );
    }

    #[test]
    fn ipv6_vips_as_keepalived_reads_them() {
        let text = conf("").replace(
            "10.0.0.1",
            "fe80::1/64 dev eth0 label eth0:v6\n 2001:db8::1",
        );
        let l = load(&text, "a.conf").unwrap_or_else(|e| panic!("{e}"));
        let i = &l.config.instances[0];
        assert!(i.is_ipv6() && l.warnings.is_empty(), "{:?}", l.warnings);
        let v = &i.virtual_ipaddress;
        assert_eq!(
            (v[0].prefix_len, v[0].label.as_deref()),
            (64, Some("eth0:v6"))
        );
        // keepalived's default prefix for IPv6 is a host's, /128.
        assert_eq!(v[1].prefix_len, 128);
        // RFC 9568 §5.2.9: the first address should be link-local; keepalived logs it.
        let l = load(&conf("").replace("10.0.0.1", "2001:db8::1"), "a.conf").unwrap();
        let [w] = l.warnings.as_slice() else {
            panic!("{:?}", l.warnings)
        };
        check(
            w,
            6,
            "virtual_ipaddress",
            "the first IPv6 virtual_ipaddress should be link-local",
            None,
        );
    }

    #[test]
    fn vip_prefix_and_options() {
        let d = one_error(&conf("").replace("10.0.0.1", "10.0.0.1/33"), "a.conf");
        check(
            &d,
            6,
            "virtual_ipaddress",
            "prefix length `/33` in `10.0.0.1/33` must be from 0 to 32",
            None,
        );
        let d = one_error(
            &conf("").replace("10.0.0.1", "10.0.0.1 devv eth0"),
            "a.conf",
        );
        check(
            &d,
            6,
            "virtual_ipaddress",
            "unknown option `devv`",
            Some("dev"),
        );
        let l = load(
            &conf("").replace("10.0.0.1", "10.0.0.1/0 brd 10.0.0.255 dev eth1"),
            "a.conf",
        )
        .unwrap();
        let v = &l.config.instances[0].virtual_ipaddress[0];
        assert_eq!((v.prefix_len, v.dev.as_deref()), (0, Some("eth1")));
        assert!(l.warnings[0].message.contains("`brd 10.0.0.255` ignored"));
    }

    #[test]
    fn duplicate_instance_name() {
        let text = format!("{}{}", conf(""), conf("").replace("eth0", "eth1"));
        let d = one_error(&text, "a.conf");
        check(
            &d,
            9,
            "vrrp_instance",
            "duplicate vrrp_instance name `VI_1` (first defined on line 1)",
            None,
        );
    }

    #[test]
    fn same_interface_and_vrid() {
        let vi2 = conf("")
            .replace("VI_1", "VI_2")
            .replace("10.0.0.1", "10.0.0.2");
        let text = format!("{}{vi2}", conf(""));
        let d = one_error(&text, "a.conf");
        check(
            &d,
            9,
            "virtual_router_id",
            "virtual_router_id 51 on interface eth0 is already used by IPv4 vrrp_instance VI_1 \
             (line 1)",
            None,
        );
        // An IPv6 instance may share it, as in keepalived.
        let text = format!("{}{}", conf(""), vi2.replace("10.0.0.2", "fe80::2"));
        assert!(load(&text, "a.conf").is_ok());
        // Same VRID on another interface is fine.
        let text = format!("{}{}", conf(""), vi2.replace("eth0", "eth1"));
        assert!(load(&text, "a.conf").is_ok());
    }

    #[test]
    fn missing_interface_and_vrid() {
        let e = load("vrrp_instance VI_1 {\n priority 5\n}", "a.conf").unwrap_err();
        let keys: Vec<(usize, &str)> = e
            .diagnostics
            .iter()
            .map(|d| (d.line, d.key.as_str()))
            .collect();
        assert_eq!(keys, [(1, "interface"), (1, "virtual_router_id")]);
        assert!(
            e.diagnostics[0]
                .message
                .contains("vrrp_instance VI_1 has no interface")
        );
        let e = load("[[vrrp_instance]]\nname = \"VI_1\"\n", "a.toml").unwrap_err();
        assert_eq!(e.diagnostics.len(), 2);
        assert_eq!(e.diagnostics[0].line, 2);
    }

    #[test]
    fn unicast_peer_without_src_loads_with_a_warning() {
        let l = load(&conf(" unicast_peer {\n 10.0.0.2\n }"), "a.conf").unwrap();
        assert_eq!(l.config.instances[0].unicast_src_ip, None);
        assert_eq!(
            l.config.instances[0].unicast_peer,
            ["10.0.0.2".parse::<std::net::Ipv4Addr>().unwrap()]
        );
        let w = &l.warnings[0];
        assert_eq!((w.line, w.key.as_str()), (5, "unicast_peer"));
        assert!(
            w.message.contains(
                "has unicast_peer but no unicast_src_ip: adverts go out from the primary IPv4 \
                 address of eth0"
            ),
            "{w}"
        );
    }

    #[test]
    fn unicast_peer_must_not_list_own_source() {
        let d = one_error(
            &conf(" unicast_src_ip 10.0.0.1\n unicast_peer {\n 10.0.0.2\n 10.0.0.1\n }"),
            "a.conf",
        );
        check(
            &d,
            7,
            "unicast_peer",
            "unicast_peer lists 10.0.0.1, this router's own unicast_src_ip",
            None,
        );
    }

    #[test]
    fn unicast_src_without_peer_warns_multicast() {
        let l = load(&conf(" unicast_src_ip 10.0.0.1"), "a.conf").unwrap();
        assert!(
            l.warnings[0]
                .message
                .contains("adverts still go to multicast")
        );
    }

    #[test]
    fn unicast_addresses_are_of_the_instance_family() {
        both_at(
            (6, 6),
            " unicast_peer {\n 10.0.0.2\n fd00::2\n }",
            "unicast_peer = [\"10.0.0.2\",\n\"fd00::2\"]",
            "unicast_peer",
            "`fd00::2` is an IPv6 address, and vrrp_instance VI_1 is IPv4 (its first ",
            None,
        );
        let text = conf(" unicast_src_ip fd00::1\n unicast_peer {\n fd00::2\n }")
            .replace("10.0.0.1", "fe80::1");
        let l = load(&text, "a.conf").unwrap_or_else(|e| panic!("{e}"));
        let i = &l.config.instances[0];
        assert_eq!(i.unicast_src_ip, Some("fd00::1".parse().unwrap()));
        assert_eq!(i.unicast_peer, ["fd00::2".parse::<IpAddr>().unwrap()]);
        // Without VIPs, the unicast source decides the family.
        let e = load(
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n \
             unicast_src_ip fd00::1\n unicast_peer {\n 10.0.0.2\n }\n}\n",
            "a.conf",
        )
        .unwrap_err();
        check(
            &e.diagnostics[0],
            6,
            "unicast_peer",
            "is IPv6 (its unicast_src_ip is fd00::1)",
            None,
        );
        // Written with a prefix: accepted, the prefix is ignored with a warning.
        let l = load(&conf(" unicast_src_ip 10.0.0.1/24"), "a.conf").unwrap();
        assert_eq!(
            l.config.instances[0].unicast_src_ip,
            Some("10.0.0.1".parse().unwrap())
        );
        assert!(l.warnings[0].message.contains("prefix `/24`"));
    }

    #[test]
    fn no_instances() {
        for (text, file) in [
            ("global_defs {\n router_id x\n}\n", "a.conf"),
            ("[global_defs]\nrouter_id = \"x\"\n", "a.toml"),
        ] {
            let d = one_error(text, file);
            check(
                &d,
                0,
                "vrrp_instance",
                "no vrrp_instance or virtual_server",
                None,
            );
            assert_eq!(
                d.to_string(),
                format!(
                    "{file}: vrrp_instance: no vrrp_instance or virtual_server defined: nothing to do"
                )
            );
        }
    }

    /// A file that leaves everything to an include matching nothing here: refused by vipd,
    /// which cannot run it; checked for another host, its instances may be there.
    #[test]
    fn no_instances_behind_an_include_that_matches_nothing() {
        let text = "global_defs {\n router_id x\n}\ninclude /nonexistent-vipd/conf.d/*.conf\n";
        let d = load(text, "a.conf").expect_err("nothing to run here");
        assert!(
            d.to_string().contains(
                "a.conf: vrrp_instance: no vrrp_instance or virtual_server defined: nothing to \
                 do (the include on line 4 matched no file)"
            ),
            "{d}"
        );
        let l = load_offline(text, "a.conf").unwrap_or_else(|e| panic!("{e}"));
        assert!(l.config.instances.is_empty());
        let [matched_nothing, may_bring] = l.warnings.as_slice() else {
            panic!("{:?}", l.warnings);
        };
        assert!(
            matched_nothing.message.contains("matches no file"),
            "{matched_nothing}"
        );
        check(
            may_bring,
            4,
            "include",
            "no vrrp_instance or virtual_server is defined, but this include matched no file \
             here and may bring them on the host the file is for",
            None,
        );
        // Offline or not, a file with nothing and no include is refused.
        let e = load_offline("global_defs {\n}\n", "a.conf").expect_err("nothing at all");
        assert!(e.to_string().contains("nothing to do"), "{e}");
    }

    #[test]
    fn state_must_be_master_or_backup() {
        both(
            " state SLAVE",
            "state = \"SLAVE\"",
            "state",
            "unknown state `SLAVE`: must be MASTER or BACKUP",
            Some("BACKUP"),
        );
        both(
            " state master",
            "state = \"master\"",
            "state",
            "unknown state `master`",
            Some("MASTER"),
        );
    }

    #[test]
    fn default_ipv4_prefix_is_32() {
        let l = load(&conf(""), "a.conf").unwrap();
        assert_eq!(l.config.instances[0].virtual_ipaddress[0].prefix_len, 32);
    }

    #[test]
    fn garp_master_refresh_zero_is_off() {
        let l = load(&conf(" garp_master_refresh 0"), "a.conf").unwrap();
        assert_eq!(l.config.instances[0].garp_master_refresh, None);
    }
}
