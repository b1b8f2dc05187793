//! The checks that turn `virtual_server` blocks as written ([`RawVirtualServer`]) into
//! [`VirtualServer`]s for the forwarder.
//!
//! vipd forwards TCP connections and UDP flows in user space, which is what keepalived calls
//! `lb_kind NAT`; the kernel IPVS features that need packet rewriting (DR, TUN, fwmark) are
//! refused here with a sentence saying why and what to write instead. A pool is IPv4 or IPv6, never both: the
//! forwarder connects to real servers from the virtual server's family.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::model::{
    Check, CheckKind, HttpUrl, LbAlgo, Program, Protocol, ProxyProtocol, RealServer, VirtualServer,
};
use super::raw::{RawCheck, RawCheckDefaults, RawRealServer, RawUrl, RawVirtualServer, Val};
use super::tracking;
use super::values::{apply, count, must, seconds};
use super::{Report, suggest};

/// keepalived's defaults (check_data.c, check_api.c).
const DEFAULT_DELAY_LOOP: Duration = Duration::from_secs(60);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_DELAY_BEFORE_RETRY: Duration = Duration::from_secs(1);

/// Checks every virtual server; the good ones go to `out`.
pub(crate) fn validate_all(
    raw: Vec<RawVirtualServer>,
    report: &mut Report,
    out: &mut Vec<VirtualServer>,
) {
    let mut seen: HashMap<(SocketAddr, Protocol), usize> = HashMap::new();
    for vs in raw {
        let line = vs.key.line;
        let col = vs.key.col;
        if let Some(v) = virtual_server(vs, report) {
            if let Some(first) = seen.get(&(v.addr, v.protocol)) {
                report.error_at(
                    (line, col),
                    "virtual_server",
                    format!(
                        "virtual_server {} is defined twice (first on line {first})",
                        v.addr
                    ),
                );
            } else {
                seen.insert((v.addr, v.protocol), line);
                out.push(v);
            }
        }
    }
}

/// `IP PORT` words of `virtual_server`, `real_server` or `sorry_server`.
fn ip_port(
    words: &[Val<String>],
    at: &Val<String>,
    key: &str,
    report: &mut Report,
) -> Option<SocketAddr> {
    let Some(ip) = words.first() else {
        report.error_at(
            at.at(),
            key,
            format!("{key} needs an address and a port (`{key} 10.0.0.1 80`)"),
        );
        return None;
    };
    if key == "virtual_server" && matches!(ip.value.as_str(), "fwmark" | "group") {
        report.error_at(
            ip.at(),
            key,
            format!(
                "`virtual_server {}` is not supported: firewall marks and virtual_server_group \
                 need the kernel's IPVS, which vipd does not use; write one `virtual_server IP \
                 PORT` block per address",
                ip.value
            ),
        );
        return None;
    }
    let Ok(addr) = ip.value.parse::<IpAddr>() else {
        report.error_at(
            ip.at(),
            key,
            format!("`{}` is not an IPv4 or IPv6 address", ip.value),
        );
        return None;
    };
    let Some(port) = words.get(1) else {
        report.error_at(
            ip.at(),
            key,
            format!("{key} {} needs a port (`{key} {} 80`)", ip.value, ip.value),
        );
        return None;
    };
    let port = match port.value.parse::<u16>() {
        Ok(p) if p > 0 => p,
        _ => {
            report.error_at(
                port.at(),
                key,
                format!("port must be from 1 to 65535, got `{}`", port.value),
            );
            return None;
        }
    };
    if let Some(extra) = words.get(2) {
        report.warn_at(
            extra.at(),
            key,
            format!("extra words after `{} {port}` ignored", ip.value),
        );
    }
    Some(SocketAddr::new(addr, port))
}

fn duration(v: &Val<String>, key: &str, report: &mut Report) -> Option<Duration> {
    must(v, key, "seconds (e.g. 3 or 0.5)", report, seconds)
}

fn virtual_server(raw: RawVirtualServer, report: &mut Report) -> Option<VirtualServer> {
    let addr = ip_port(&raw.addr, &raw.key, "virtual_server", report)?;
    let (mut ok, protocol) = forwarding(&raw, report);
    let lb_algo = match &raw.lb_algo {
        Some(a) => lb_algo(a, report).unwrap_or_else(|| {
            ok = false;
            LbAlgo::Wlc
        }),
        None => {
            let why =
                format!("virtual_server {addr} has no lb_algo: using wlc, as keepalived does");
            report.warn_at(raw.key.at(), "lb_algo", why);
            LbAlgo::Wlc
        }
    };
    let mut out = VirtualServer {
        addr,
        protocol,
        delay_loop: DEFAULT_DELAY_LOOP,
        lb_algo,
        persistence_timeout: None,
        sorry_server: None,
        quorum: 1,
        hysteresis: 0,
        alpha: raw.alpha.as_ref().is_some_and(|a| a.value),
        omega: raw.omega.as_ref().is_some_and(|a| a.value),
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        proxy_protocol: None,
        maxconn: None,
        real_servers: Vec::new(),
    };
    ok &= pool_settings(&raw, &mut out, report);
    ok &= real_servers(&raw, &mut out, report);
    if raw.real_servers.is_empty() && out.sorry_server.is_none() {
        let why = format!(
            "virtual_server {addr} has no real_server and no sorry_server: connections to it \
             will be closed at once"
        );
        report.warn_at(raw.key.at(), "real_server", why);
    }
    ok.then_some(out)
}

/// `lb_kind` and `protocol`: vipd forwards TCP connections and UDP flows itself
/// (keepalived's NAT).
fn forwarding(raw: &RawVirtualServer, report: &mut Report) -> (bool, Protocol) {
    let mut ok = true;
    let mut protocol = Protocol::Tcp;
    if let Some(k) = &raw.lb_kind {
        match k.value.to_ascii_uppercase().as_str() {
            "NAT" => {}
            "DR" | "TUN" => {
                let why = format!(
                    "lb_kind {} is not supported: it has the kernel's IPVS rewrite packets so \
                     real servers answer clients directly, and vipd forwards connections in \
                     user space instead; write `lb_kind NAT` (real servers then need no VIP on \
                     their loopback), or keep keepalived where IPVS is available",
                    k.value
                );
                report.error_at(k.at(), "lb_kind", why);
                ok = false;
            }
            other => {
                let why = format!("unknown lb_kind `{other}`: vipd forwards as NAT");
                report.error_at(k.at(), "lb_kind", why).suggestion = Some("NAT".to_string());
                ok = false;
            }
        }
    }
    if let Some(p) = &raw.protocol {
        match p.value.to_ascii_uppercase().as_str() {
            "TCP" => {}
            "UDP" => protocol = Protocol::Udp,
            _ => {
                let why = format!(
                    "protocol {} is not supported: vipd's forwarder carries TCP and UDP",
                    p.value
                );
                report.error_at(p.at(), "protocol", why).suggestion =
                    suggest::closest(&p.value, &["TCP", "UDP"]);
                ok = false;
            }
        }
    }
    (ok, protocol)
}

/// The scheduler vipd has for `lb_algo`; `None` for another (reported).
fn lb_algo(a: &Val<String>, report: &mut Report) -> Option<LbAlgo> {
    match a.value.as_str() {
        "rr" => Some(LbAlgo::Rr),
        "wrr" => Some(LbAlgo::Wrr),
        "lc" => Some(LbAlgo::Lc),
        "wlc" => Some(LbAlgo::Wlc),
        "sh" => Some(LbAlgo::Sh),
        other => {
            let ipvs = [
                "lblc", "lblcr", "dh", "sed", "nq", "mh", "fo", "ovf", "twos",
            ];
            let message = if ipvs.contains(&other) {
                format!("lb_algo {other} is not supported by vipd: use rr, wrr, lc, wlc or sh")
            } else {
                format!("unknown lb_algo `{other}`: use rr, wrr, lc, wlc or sh")
            };
            report.error_at(a.at(), "lb_algo", message).suggestion =
                suggest::closest(other, &["rr", "wrr", "lc", "wlc", "sh"]);
            None
        }
    }
}

/// `delay_loop`, `persistence_timeout`, `sorry_server`, `quorum`, `hysteresis` and the
/// forwarder's `connect_timeout`.
fn pool_settings(raw: &RawVirtualServer, out: &mut VirtualServer, report: &mut Report) -> bool {
    let mut ok = apply(&mut out.delay_loop, raw.delay_loop.as_ref(), |d| {
        let every = duration(d, "delay_loop", report)?;
        if every.is_zero() {
            report.error_at(d.at(), "delay_loop", "delay_loop must be more than 0");
            return None;
        }
        Some(every)
    });
    ok &= apply(
        &mut out.persistence_timeout,
        raw.persistence_timeout.as_ref(),
        |p| {
            let secs = must(p, "persistence_timeout", "whole seconds", report, |s| {
                s.parse::<u64>().ok()
            })?;
            Some((secs > 0).then(|| Duration::from_secs(secs)))
        },
    );
    if let Some(words) = &raw.sorry_server {
        match ip_port(words, &raw.key, "sorry_server", report) {
            Some(a) if one_family(a, &words[0], "sorry_server", out.addr, report) => {
                out.sorry_server = Some(a);
            }
            _ => ok = false,
        }
    }
    if let Some(q) = &raw.quorum {
        match count(q, "quorum", 0.., report) {
            Some(0) => {
                let why = "quorum 0 would keep a pool with no healthy server up: using 1, as \
                           keepalived does";
                report.warn_at(q.at(), "quorum", why);
            }
            Some(n) => out.quorum = n,
            None => ok = false,
        }
    }
    ok &= apply(&mut out.hysteresis, raw.hysteresis.as_ref(), |h| {
        count(h, "hysteresis", 0.., report)
    });
    ok &= apply(&mut out.proxy_protocol, raw.proxy_protocol.as_ref(), |p| {
        proxy_protocol(p, report).map(Some)
    });
    ok &= apply(&mut out.maxconn, raw.maxconn.as_ref(), |m| {
        count(m, "maxconn", 1.., report).map(Some)
    });
    ok & apply(
        &mut out.connect_timeout,
        raw.defaults.connect_timeout.as_ref(),
        |c| duration(c, "connect_timeout", report),
    )
}

/// `maxconn`, `uthreshold` and `lthreshold` of a real server.
fn limits(raw: &RawRealServer, out: &mut RealServer, report: &mut Report) -> bool {
    let mut ok = apply(&mut out.maxconn, raw.maxconn.as_ref(), |m| {
        count(m, "maxconn", 1.., report).map(Some)
    });
    ok &= apply(&mut out.uthreshold, raw.uthreshold.as_ref(), |u| {
        count(u, "uthreshold", 0.., report)
    });
    ok &= apply(&mut out.lthreshold, raw.lthreshold.as_ref(), |l| {
        count(l, "lthreshold", 0.., report)
    });
    if let Some(l) = &raw.lthreshold
        && out.lthreshold > 0
    {
        if out.uthreshold == 0 {
            let why = "lthreshold without uthreshold does nothing: a server is only ever \
                       overloaded at uthreshold (as in IPVS)";
            report.warn_at(l.at(), "lthreshold", why);
        } else if out.lthreshold > out.uthreshold {
            let why = format!(
                "lthreshold {} is above uthreshold {}: a server would stay overloaded at \
                 fewer connections than made it so; write one below uthreshold",
                out.lthreshold, out.uthreshold
            );
            report.error_at(l.at(), "lthreshold", why);
            ok = false;
        }
    }
    ok
}

/// `proxy_protocol v1|v2`.
fn proxy_protocol(v: &Val<String>, report: &mut Report) -> Option<ProxyProtocol> {
    let p = match v.value.to_ascii_lowercase().as_str() {
        "v1" | "1" => Some(ProxyProtocol::V1),
        "v2" | "2" => Some(ProxyProtocol::V2),
        _ => None,
    };
    if p.is_none() {
        let why = format!(
            "proxy_protocol must be v1 (text) or v2 (binary), got `{}`",
            v.value
        );
        report.error_at(v.at(), "proxy_protocol", why).suggestion =
            suggest::closest(&v.value, &["v1", "v2"]);
    }
    p
}

/// The pool's real servers, each address once.
fn real_servers(raw: &RawVirtualServer, out: &mut VirtualServer, report: &mut Report) -> bool {
    let mut ok = true;
    let mut seen: HashMap<SocketAddr, usize> = HashMap::new();
    for rs in &raw.real_servers {
        let Some(r) = real_server(rs, &raw.defaults, out.protocol, report) else {
            ok = false;
            continue;
        };
        if !one_family(r.addr, &rs.addr[0], "real_server", out.addr, report) {
            ok = false;
            continue;
        }
        if let Some(first) = seen.get(&r.addr) {
            let why = format!(
                "real_server {} appears twice in virtual_server {} (first on line {first})",
                r.addr, out.addr
            );
            report.error_at(rs.key.at(), "real_server", why);
            ok = false;
        } else {
            seen.insert(r.addr, rs.key.line);
            out.real_servers.push(r);
        }
    }
    ok
}

/// Whether `addr` (a real or sorry server, its address written at `ip`) is of the virtual
/// server's family; reports it if not. The forwarder connects from the VIP's family only, so
/// a mixed pool would fail at its first connection instead of at load.
fn one_family(
    addr: SocketAddr,
    ip: &Val<String>,
    key: &str,
    vs: SocketAddr,
    report: &mut Report,
) -> bool {
    if addr.is_ipv4() == vs.is_ipv4() {
        return true;
    }
    let family = |a: SocketAddr| if a.is_ipv4() { "IPv4" } else { "IPv6" };
    let why = format!(
        "{key} {} is {} but virtual_server {} {} is {}: one pool, one family",
        ip.value,
        family(addr),
        vs.ip(),
        vs.port(),
        family(vs)
    );
    report.error_at(ip.at(), key, why);
    false
}

/// A notify or check program: split like a shell would (no shell runs), found and checked
/// as every other script vipd runs.
fn program(v: &Option<Val<String>>, key: &str, report: &mut Report) -> Option<Program> {
    tracking::command(v.as_ref()?, key, report)
}

fn real_server(
    raw: &RawRealServer,
    vs_defaults: &RawCheckDefaults,
    protocol: Protocol,
    report: &mut Report,
) -> Option<RealServer> {
    let addr = ip_port(&raw.addr, &raw.key, "real_server", report)?;
    let mut ok = true;
    let mut out = RealServer {
        addr,
        weight: 1,
        inhibit_on_failure: raw.inhibit_on_failure.as_ref().is_some_and(|v| v.value),
        notify_up: program(&raw.notify_up, "notify_up", report),
        notify_down: program(&raw.notify_down, "notify_down", report),
        proxy_protocol: None,
        maxconn: None,
        uthreshold: 0,
        lthreshold: 0,
        checks: Vec::new(),
    };
    ok &= apply(&mut out.proxy_protocol, raw.proxy_protocol.as_ref(), |p| {
        proxy_protocol(p, report).map(Some)
    });
    ok &= limits(raw, &mut out, report);
    ok &= apply(&mut out.weight, raw.weight.as_ref(), |w| {
        must(w, "weight", "from 0 (drain) to 65535", report, |s| {
            s.parse::<u32>().ok().filter(|n| *n <= 65535)
        })
    });
    let defaults = merge(&raw.defaults, vs_defaults);
    for c in &raw.checks {
        match check(c, addr, &defaults, protocol, report) {
            Some(c) => out.checks.push(c),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `inner`'s values where set, else `outer`'s.
fn merge(inner: &RawCheckDefaults, outer: &RawCheckDefaults) -> RawCheckDefaults {
    let or = |a: &Option<Val<String>>, b: &Option<Val<String>>| a.clone().or_else(|| b.clone());
    RawCheckDefaults {
        connect_timeout: or(&inner.connect_timeout, &outer.connect_timeout),
        retry: or(&inner.retry, &outer.retry),
        delay_before_retry: or(&inner.delay_before_retry, &outer.delay_before_retry),
        delay_loop: or(&inner.delay_loop, &outer.delay_loop),
    }
}

/// One checker of a real server at `server`, with the defaults of its real server and pool.
fn check(
    raw: &RawCheck,
    server: SocketAddr,
    defaults: &RawCheckDefaults,
    protocol: Protocol,
    report: &mut Report,
) -> Option<Check> {
    if protocol == Protocol::Udp && matches!(raw.kind.value.as_str(), "TCP_CHECK" | "HTTP_GET") {
        let why = format!(
            "{} cannot check a real server of a UDP pool (it connects over TCP): use \
             UDP_CHECK or MISC_CHECK",
            raw.kind.value
        );
        report.error_at(raw.kind.at(), &raw.kind.value, why);
        return None;
    }
    let (target, mut ok) = target(raw, server, report);
    let mut out = Check {
        kind: CheckKind::Tcp { target },
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        retry: 1,
        delay_before_retry: DEFAULT_DELAY_BEFORE_RETRY,
        rise: 1,
        delay_loop: None,
        bindto: None,
    };
    ok &= bindto(raw, target, &mut out, report);
    ok &= check_timing(raw, &merge(&raw.defaults, defaults), &mut out, report);
    ok &= match raw.kind.value.as_str() {
        "HTTP_GET" => http_get(raw, target, &mut out, report),
        "MISC_CHECK" => misc_check(raw, &mut out, report),
        "UDP_CHECK" => udp_check(raw, target, &mut out, report),
        _ => true,
    };
    ok.then_some(out)
}

/// Where a checker connects: the server, or its `connect_ip` and `connect_port`.
fn target(raw: &RawCheck, server: SocketAddr, report: &mut Report) -> (SocketAddr, bool) {
    let mut target = server;
    let mut ok = true;
    if let Some(ip) = &raw.connect_ip {
        match ip.value.parse::<IpAddr>() {
            Ok(a) => target.set_ip(a),
            Err(_) => {
                let why = format!("`{}` is not an IPv4 or IPv6 address", ip.value);
                report.error_at(ip.at(), "connect_ip", why);
                ok = false;
            }
        }
    }
    let mut port = server.port();
    ok &= apply(&mut port, raw.connect_port.as_ref(), |p| {
        must(p, "connect_port", "from 1 to 65535", report, |s| {
            s.parse::<u16>().ok().filter(|n| *n > 0)
        })
    });
    target.set_port(port);
    (target, ok)
}

/// `bindto`: an address of the family the check connects to (MISC_CHECK opens no socket:
/// a warning says it is ignored there).
fn bindto(raw: &RawCheck, target: SocketAddr, out: &mut Check, report: &mut Report) -> bool {
    let Some(b) = &raw.bindto else {
        return true;
    };
    let Ok(ip) = b.value.parse::<IpAddr>() else {
        let why = format!("`{}` is not an IPv4 or IPv6 address", b.value);
        report.error_at(b.at(), "bindto", why);
        return false;
    };
    if raw.kind.value == "MISC_CHECK" {
        let why = "bindto is ignored in MISC_CHECK: the program opens its own sockets";
        report.warn_at(b.at(), "bindto", why);
        return true;
    }
    if ip.is_ipv4() != target.is_ipv4() {
        let family = |v4: bool| if v4 { "IPv4" } else { "IPv6" };
        let why = format!(
            "bindto {ip} is {} but the check connects to {target} ({})",
            family(ip.is_ipv4()),
            family(target.is_ipv4())
        );
        report.error_at(b.at(), "bindto", why);
        return false;
    }
    out.bindto = Some(ip);
    true
}

/// `connect_timeout`, `retry`, `rise`, `delay_before_retry` and `delay_loop`, each the
/// checker's own or its real server's or pool's (`d`).
fn check_timing(
    raw: &RawCheck,
    d: &RawCheckDefaults,
    out: &mut Check,
    report: &mut Report,
) -> bool {
    let mut ok = apply(&mut out.connect_timeout, d.connect_timeout.as_ref(), |v| {
        positive_duration(v, "connect_timeout", report)
    });
    ok &= apply(&mut out.retry, d.retry.as_ref(), |v| {
        count(v, "retry", 1.., report)
    });
    ok &= apply(&mut out.rise, raw.rise.as_ref(), |v| {
        count(v, "rise", 1.., report)
    });
    ok &= apply(
        &mut out.delay_before_retry,
        d.delay_before_retry.as_ref(),
        |v| duration(v, "delay_before_retry", report),
    );
    ok & apply(&mut out.delay_loop, d.delay_loop.as_ref(), |v| {
        Some(Some(positive_duration(v, "delay_loop", report)?))
    })
}

/// A checker's timeout or period: more than zero seconds.
fn positive_duration(v: &Val<String>, key: &str, report: &mut Report) -> Option<Duration> {
    let t = duration(v, key, report)?;
    if t.is_zero() {
        let why = format!("{key} must be more than 0 seconds, got `{}`", v.value);
        report.error_at((v.line, v.col), key, why);
        return None;
    }
    Some(t)
}

/// HTTP_GET: its `url` blocks, at least one.
fn http_get(raw: &RawCheck, target: SocketAddr, out: &mut Check, report: &mut Report) -> bool {
    let mut ok = true;
    let mut urls = Vec::new();
    for u in &raw.urls {
        match url(u, report) {
            Some(u) => urls.push(u),
            None => ok = false,
        }
    }
    if raw.urls.is_empty() {
        let why = "HTTP_GET needs at least one `url { path /... }`";
        report.error_at(raw.kind.at(), "HTTP_GET", why);
        ok = false;
    }
    out.kind = CheckKind::Http { target, urls };
    ok
}

/// UDP_CHECK: `payload` (hex), `require_reply` (without reply data: vipd does not compare
/// an answer's bytes), `min_reply_length` and `max_reply_length`.
fn udp_check(raw: &RawCheck, target: SocketAddr, out: &mut Check, report: &mut Report) -> bool {
    let mut payload = Vec::new();
    let mut ok = apply(&mut payload, raw.payload.as_ref(), |p| {
        let what = "hex digits, two per byte (`payload 0102ab`)";
        must(p, "payload", what, report, hex)
    });
    if let Some(data) = &raw.reply_data {
        let why = format!(
            "`require_reply {}` is not supported: vipd does not compare an answer's bytes; \
             write `require_reply` alone (any answer within connect_timeout), with \
             min_reply_length / max_reply_length to bound its size",
            data.value
        );
        report.error_at(data.at(), "require_reply", why);
        ok = false;
    }
    let mut lengths = (0u16, 255u16);
    let length = |v: &Val<String>, key: &str, report: &mut Report| {
        must(v, key, "from 0 to 65535", report, |s| s.parse::<u16>().ok())
    };
    ok &= apply(&mut lengths.0, raw.min_reply_length.as_ref(), |v| {
        length(v, "min_reply_length", report)
    });
    ok &= apply(&mut lengths.1, raw.max_reply_length.as_ref(), |v| {
        length(v, "max_reply_length", report)
    });
    if lengths.0 > lengths.1 {
        let at = raw.min_reply_length.as_ref().map_or(raw.kind.at(), Val::at);
        let why = format!(
            "min_reply_length {} is more than max_reply_length {}: the check would always fail",
            lengths.0, lengths.1
        );
        report.error_at(at, "min_reply_length", why);
        ok = false;
    }
    out.kind = CheckKind::Udp {
        target,
        payload,
        require_reply: raw.require_reply.as_ref().is_some_and(|r| r.value),
        reply_length: lengths,
    };
    ok
}

/// `0102ab` as bytes; `None` unless it is an even number of hex digits.
fn hex(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// MISC_CHECK: `misc_path` (required), `misc_timeout` and `user`.
fn misc_check(raw: &RawCheck, out: &mut Check, report: &mut Report) -> bool {
    let mut timeout = None;
    let mut ok = apply(&mut timeout, raw.misc_timeout.as_ref(), |t| {
        duration(t, "misc_timeout", report).map(Some)
    });
    let user = match &raw.user {
        Some(words) => {
            let user = tracking::user(words, report);
            ok &= user.is_some();
            user
        }
        None => None,
    };
    match program(&raw.misc_path, "misc_path", report) {
        Some(program) => {
            out.kind = CheckKind::Misc {
                program,
                timeout,
                user,
            };
            ok
        }
        None => {
            if raw.misc_path.is_none() {
                let why = "MISC_CHECK needs a misc_path (the program to run)";
                report.error_at(raw.kind.at(), "misc_path", why);
            }
            false
        }
    }
}

fn url(raw: &RawUrl, report: &mut Report) -> Option<HttpUrl> {
    let mut ok = true;
    let path = match &raw.path {
        Some(p) if p.value.starts_with('/') => p.value.clone(),
        Some(p) => {
            let why = format!("url path must start with `/`, got `{}`", p.value);
            report.error_at(p.at(), "path", why);
            ok = false;
            String::new()
        }
        None => {
            report.error_at(raw.key.at(), "path", "url needs a path (`path /health`)");
            ok = false;
            String::new()
        }
    };
    let mut status_code = None;
    ok &= apply(&mut status_code, raw.status_code.as_ref(), |s| {
        let what = "an HTTP status from 100 to 599";
        must(s, "status_code", what, report, |v| {
            v.parse::<u16>().ok().filter(|n| (100..=599).contains(n))
        })
        .map(Some)
    });
    let mut digest = None;
    ok &= apply(&mut digest, raw.digest.as_ref(), |d| {
        let what = "the 32 hex digits of an MD5 sum (genhash prints it)";
        must(d, "digest", what, report, |v| {
            let hex = v.len() == 32 && v.chars().all(|c| c.is_ascii_hexdigit());
            hex.then(|| Some(v.to_ascii_lowercase()))
        })
    });
    ok.then_some(HttpUrl {
        path,
        status_code,
        digest,
    })
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::config::testing::{first_error, ok};

    const KA: &str = "virtual_server 10.0.0.100 80 {
    delay_loop 3
    lb_algo wrr
    lb_kind NAT
    persistence_timeout 50
    protocol TCP
    sorry_server 10.0.0.9 8080
    quorum 2
    hysteresis 1
    alpha
    omega
    real_server 10.0.0.1 8000 {
        weight 3
        inhibit_on_failure
        notify_up \"/usr/bin/logger up 10.0.0.1\"
        notify_down /usr/bin/logger down
        TCP_CHECK {
            connect_timeout 2
            connect_port 8001
            nb_get_retry 3
            delay_before_retry 0.5
        }
    }
    real_server 10.0.0.2 8000 {
        weight 0
        HTTP_GET {
            url {
                path /health
                status_code 200
                digest 9B3D1A5C00A3C1E1B4E0F5E8A3D1C2B4
            }
            connect_timeout 1
            retry 2
            rise 2
        }
        MISC_CHECK {
            misc_path \"/usr/bin/test -n 10.0.0.2\"
            misc_timeout 4
            user nobody
        }
    }
}
";

    const TOML: &str = r#"[[virtual_server]]
ip = "10.0.0.100"
port = 80
delay_loop = 3
lb_algo = "wrr"
lb_kind = "NAT"
persistence_timeout = 50
protocol = "TCP"
sorry_server = "10.0.0.9 8080"
quorum = 2
hysteresis = 1
alpha = true
omega = true
[[virtual_server.real_server]]
ip = "10.0.0.1"
port = 8000
weight = 3
inhibit_on_failure = true
notify_up = "/usr/bin/logger up 10.0.0.1"
notify_down = "/usr/bin/logger down"
TCP_CHECK = { connect_timeout = 2, connect_port = 8001, nb_get_retry = 3, delay_before_retry = 0.5 }
[[virtual_server.real_server]]
ip = "10.0.0.2"
port = 8000
weight = 0
[virtual_server.real_server.HTTP_GET]
url = [{ path = "/health", status_code = 200, digest = "9B3D1A5C00A3C1E1B4E0F5E8A3D1C2B4" }]
connect_timeout = 1
retry = 2
rise = 2
[virtual_server.real_server.MISC_CHECK]
misc_path = "/usr/bin/test -n 10.0.0.2"
misc_timeout = 4
user = "nobody"
"#;

    #[test]
    fn every_keyword_reaches_the_model() {
        let l = ok(KA, "t.conf");
        // KA spells one checker's retry the old way: only that gets a note.
        let keys: Vec<&str> = l.warnings.iter().map(|w| w.key.as_str()).collect();
        assert_eq!(keys, ["nb_get_retry"], "{:?}", l.warnings);
        assert!(
            l.config.instances.is_empty(),
            "a pool alone is a valid config"
        );
        let vs = &l.config.virtual_servers[0];
        assert_eq!(vs.addr, "10.0.0.100:80".parse().unwrap());
        assert_eq!(vs.delay_loop, Duration::from_secs(3));
        assert_eq!(vs.lb_algo, LbAlgo::Wrr);
        assert_eq!(vs.persistence_timeout, Some(Duration::from_secs(50)));
        assert_eq!(vs.sorry_server, Some("10.0.0.9:8080".parse().unwrap()));
        assert_eq!(
            (vs.quorum, vs.hysteresis, vs.alpha, vs.omega),
            (2, 1, true, true)
        );
        let a = &vs.real_servers[0];
        assert_eq!((a.weight, a.inhibit_on_failure), (3, true));
        assert_eq!(
            a.notify_up.as_ref().map(|p| &p.argv[..]),
            Some(
                &[
                    "/usr/bin/logger".to_string(),
                    "up".into(),
                    "10.0.0.1".into()
                ][..]
            )
        );
        assert_eq!(a.notify_down.as_ref().map(|p| p.argv.len()), Some(2));
        let tcp = &a.checks[0];
        assert_eq!(
            tcp.kind,
            CheckKind::Tcp {
                target: "10.0.0.1:8001".parse().unwrap()
            }
        );
        assert_eq!(tcp.connect_timeout, Duration::from_secs(2));
        assert_eq!(tcp.retry, 3, "nb_get_retry is retry");
        assert_eq!(tcp.delay_before_retry, Duration::from_millis(500));
        let b = &vs.real_servers[1];
        assert_eq!(b.weight, 0);
        let CheckKind::Http { target, urls } = &b.checks[0].kind else {
            panic!("{:?}", b.checks[0]);
        };
        assert_eq!(*target, "10.0.0.2:8000".parse().unwrap());
        assert_eq!(urls[0].path, "/health");
        assert_eq!(urls[0].status_code, Some(200));
        assert_eq!(
            urls[0].digest.as_deref(),
            Some("9b3d1a5c00a3c1e1b4e0f5e8a3d1c2b4")
        );
        assert_eq!((b.checks[0].retry, b.checks[0].rise), (2, 2));
        let CheckKind::Misc {
            program,
            timeout,
            user,
        } = &b.checks[1].kind
        else {
            panic!("{:?}", b.checks[1]);
        };
        assert_eq!(program.argv, ["/usr/bin/test", "-n", "10.0.0.2"]);
        assert_eq!(*timeout, Some(Duration::from_secs(4)));
        assert_eq!(user.as_ref().map(|u| u.user.as_str()), Some("nobody"));
        assert_eq!(program.user, *user, "MISC_CHECK's own user runs it");
    }

    #[test]
    fn toml_twin_is_the_same_model() {
        let t = ok(TOML, "t.toml");
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);
        assert_eq!(t.config, ok(KA, "t.conf").config);
    }

    #[test]
    fn dr_and_tun_are_refused_with_the_way_out() {
        for kind in ["DR", "TUN"] {
            let d = first_error(
                &KA.replace("lb_kind NAT", &format!("lb_kind {kind}")),
                "t.conf",
            );
            assert_eq!((d.line, d.key.as_str()), (4, "lb_kind"), "{d}");
            assert!(d.message.contains("write `lb_kind NAT`"), "{d}");
            let d = first_error(&TOML.replace("\"NAT\"", &format!("\"{kind}\"")), "t.toml");
            assert_eq!((d.line, d.key.as_str()), (6, "lb_kind"), "{d}");
        }
    }

    #[test]
    fn missing_lb_algo_is_wlc_with_a_warning() {
        let l = ok(&KA.replace("    lb_algo wrr\n", ""), "t.conf");
        assert_eq!(l.config.virtual_servers[0].lb_algo, LbAlgo::Wlc);
        assert_eq!(l.warnings.len(), 2, "lb_algo, and the nb_get_retry note");
        assert_eq!(
            (l.warnings[0].line, l.warnings[0].key.as_str()),
            (1, "lb_algo")
        );
        assert!(
            l.warnings[0]
                .message
                .contains("using wlc, as keepalived does")
        );
    }

    #[test]
    fn errors_name_line_and_key() {
        let cases = [
            (
                "lb_algo wrr",
                "lb_algo wrrr",
                3,
                "lb_algo",
                "unknown lb_algo `wrrr`",
            ),
            (
                "lb_algo wrr",
                "lb_algo lblc",
                3,
                "lb_algo",
                "not supported by vipd",
            ),
            (
                "protocol TCP",
                "protocol SCTP",
                6,
                "protocol",
                "carries TCP and UDP",
            ),
            (
                "10.0.0.100 80",
                "10.0.0.100 http",
                1,
                "virtual_server",
                "port must be",
            ),
            (
                "real_server 10.0.0.2 8000",
                "real_server ::1 8000",
                24,
                "real_server",
                "IPv6",
            ),
            (
                "weight 3",
                "weight -1",
                13,
                "weight",
                "weight must be from 0",
            ),
            (
                "status_code 200",
                "status_code 2000",
                29,
                "status_code",
                "HTTP status",
            ),
            ("digest 9B3D", "digest zz3D", 30, "digest", "MD5"),
            (
                "delay_loop 3",
                "delay_loop soon",
                2,
                "delay_loop",
                "seconds",
            ),
            (
                "persistence_timeout 50",
                "persistence_timeout x",
                5,
                "persistence_timeout",
                "whole",
            ),
            (
                "sorry_server 10.0.0.9 8080",
                "sorry_server 10.0.0.9",
                7,
                "sorry_server",
                "port",
            ),
        ];
        for (from, to, line, key, message) in cases {
            let d = first_error(&KA.replace(from, to), "t.conf");
            assert_eq!((d.line, d.key.as_str()), (line, key), "{to}: {d}");
            assert!(d.message.contains(message), "{to}: {d}");
        }
    }

    const KA6: &str = "virtual_server 2001:db8::10 443 {
    lb_algo rr
    sorry_server fd00::9 8080
    real_server fd00::2 80 {
        TCP_CHECK {
            connect_ip fd00::99
            bindto fd00::1
        }
    }
    real_server fd00::3 80 {
        HTTP_GET {
            url {
                path /health
            }
            connect_port 8080
        }
    }
}
";

    const TOML6: &str = r#"[[virtual_server]]
ip = "2001:db8::10"
port = 443
lb_algo = "rr"
sorry_server = "fd00::9 8080"
[[virtual_server.real_server]]
ip = "fd00::2"
port = 80
TCP_CHECK = { connect_ip = "fd00::99", bindto = "fd00::1" }
[[virtual_server.real_server]]
ip = "fd00::3"
port = 80
[virtual_server.real_server.HTTP_GET]
url = [{ path = "/health" }]
connect_port = 8080
"#;

    #[test]
    fn ipv6_pools_in_both_syntaxes() {
        let l = ok(KA6, "t.conf");
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let vs = &l.config.virtual_servers[0];
        assert_eq!(vs.addr, "[2001:db8::10]:443".parse().unwrap());
        assert_eq!(vs.sorry_server, Some("[fd00::9]:8080".parse().unwrap()));
        let addrs: Vec<String> = vs.real_servers.iter().map(|r| r.addr.to_string()).collect();
        assert_eq!(addrs, ["[fd00::2]:80", "[fd00::3]:80"]);
        assert_eq!(
            vs.real_servers[0].checks[0].kind,
            CheckKind::Tcp {
                target: "[fd00::99]:80".parse().unwrap()
            }
        );
        let CheckKind::Http { target, .. } = &vs.real_servers[1].checks[0].kind else {
            panic!("{:?}", vs.real_servers[1].checks[0]);
        };
        assert_eq!(*target, "[fd00::3]:8080".parse().unwrap());
        assert_eq!(
            vs.real_servers[0].checks[0].bindto,
            Some("fd00::1".parse().unwrap())
        );
        let t = ok(TOML6, "t.toml");
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);
        assert_eq!(t.config, l.config);
    }

    #[test]
    fn a_pool_of_two_families_is_refused_on_the_server_line() {
        let d = first_error(
            &KA6.replace("real_server fd00::3", "real_server 10.0.0.2"),
            "t.conf",
        );
        assert_eq!((d.line, d.key.as_str()), (10, "real_server"), "{d}");
        assert_eq!(
            d.message,
            "real_server 10.0.0.2 is IPv4 but virtual_server 2001:db8::10 443 is IPv6: one \
             pool, one family"
        );
        let d = first_error(&KA6.replace("fd00::9 8080", "10.0.0.9 8080"), "t.conf");
        assert_eq!((d.line, d.key.as_str()), (3, "sorry_server"), "{d}");
        assert!(d.message.contains("one pool, one family"), "{d}");
        let d = first_error(&TOML6.replace("\"fd00::2\"", "\"10.0.0.2\""), "t.toml");
        assert_eq!((d.line, d.key.as_str()), (7, "real_server"), "{d}");
        assert!(d.message.contains("is IPv4 but"), "{d}");
        let d = first_error(&KA6.replace("bindto fd00::1", "bindto 10.0.0.1"), "t.conf");
        assert_eq!((d.line, d.key.as_str()), (7, "bindto"), "{d}");
        assert_eq!(
            d.message,
            "bindto 10.0.0.1 is IPv4 but the check connects to [fd00::99]:80 (IPv6)"
        );
        let d = first_error(&KA.replace("10.0.0.1 8000", "fd00::1 8000"), "t.conf");
        assert_eq!((d.line, d.key.as_str()), (12, "real_server"), "{d}");
        assert!(
            d.message
                .contains("is IPv6 but virtual_server 10.0.0.100 80 is IPv4")
        );
    }

    const KA_UDP: &str = "virtual_server 10.0.0.53 53 {
    lb_algo rr
    protocol UDP
    persistence_timeout 5
    real_server 10.0.0.1 53 {
        UDP_CHECK {
            connect_timeout 2
            connect_port 5353
            payload 0001ff
            require_reply
            min_reply_length 12
            max_reply_length 512
        }
    }
    real_server 10.0.0.2 53 {
        MISC_CHECK {
            misc_path \"/usr/bin/test -n x\"
        }
    }
}
";

    const TOML_UDP: &str = r#"[[virtual_server]]
ip = "10.0.0.53"
port = 53
lb_algo = "rr"
protocol = "UDP"
persistence_timeout = 5
[[virtual_server.real_server]]
ip = "10.0.0.1"
port = 53
UDP_CHECK = { connect_timeout = 2, connect_port = 5353, payload = "0001ff", require_reply = true, min_reply_length = 12, max_reply_length = 512 }
[[virtual_server.real_server]]
ip = "10.0.0.2"
port = 53
MISC_CHECK = { misc_path = "/usr/bin/test -n x" }
"#;

    #[test]
    fn udp_pools_with_udp_check_in_both_syntaxes() {
        let l = ok(KA_UDP, "t.conf");
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let vs = &l.config.virtual_servers[0];
        assert_eq!(vs.protocol, Protocol::Udp);
        assert_eq!(vs.persistence_timeout, Some(Duration::from_secs(5)));
        let c = &vs.real_servers[0].checks[0];
        assert_eq!(c.connect_timeout, Duration::from_secs(2));
        assert_eq!(
            c.kind,
            CheckKind::Udp {
                target: "10.0.0.1:5353".parse().unwrap(),
                payload: vec![0, 1, 0xff],
                require_reply: true,
                reply_length: (12, 512),
            }
        );
        assert!(matches!(
            vs.real_servers[1].checks[0].kind,
            CheckKind::Misc { .. }
        ));
        let t = ok(TOML_UDP, "t.toml");
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);
        assert_eq!(t.config, l.config);
        // A bare UDP_CHECK: an empty datagram, silence is success, keepalived's lengths.
        let bare = KA_UDP.replace(
            "connect_timeout 2\n            connect_port 5353\n            payload 0001ff\n            require_reply\n            min_reply_length 12\n            max_reply_length 512\n",
            "",
        );
        let l = ok(&bare, "t.conf");
        assert_eq!(
            l.config.virtual_servers[0].real_servers[0].checks[0].kind,
            CheckKind::Udp {
                target: "10.0.0.1:53".parse().unwrap(),
                payload: Vec::new(),
                require_reply: false,
                reply_length: (0, 255),
            }
        );
    }

    #[test]
    fn udp_pool_errors_name_line_and_key() {
        let cases = [
            (
                "UDP_CHECK",
                "TCP_CHECK",
                6,
                "TCP_CHECK",
                "use UDP_CHECK or MISC_CHECK",
            ),
            (
                "payload 0001ff",
                "payload 0001f",
                9,
                "payload",
                "hex digits",
            ),
            (
                "require_reply\n",
                "require_reply 00ff\n",
                10,
                "require_reply",
                "does not compare",
            ),
            (
                "min_reply_length 12",
                "min_reply_length 600",
                11,
                "min_reply_length",
                "always fail",
            ),
            (
                "max_reply_length 512",
                "max_reply_length 70000",
                12,
                "max_reply_length",
                "65535",
            ),
            (
                "protocol UDP",
                "protocol SCTP",
                3,
                "protocol",
                "TCP and UDP",
            ),
        ];
        for (from, to, line, key, message) in cases {
            let d = first_error(&KA_UDP.replace(from, to), "t.conf");
            assert_eq!((d.line, d.key.as_str()), (line, key), "{to}: {d}");
            assert!(d.message.contains(message), "{to}: {d}");
        }
        let http = KA_UDP.replace(
            "MISC_CHECK {\n            misc_path \"/usr/bin/test -n x\"",
            "HTTP_GET {\n            url {\n path /\n }",
        );
        let d = first_error(&http, "t.conf");
        assert_eq!((d.line, d.key.as_str()), (16, "HTTP_GET"), "{d}");
    }

    #[test]
    fn a_tcp_and_a_udp_pool_may_share_an_address() {
        let tcp = KA_UDP
            .replace("protocol UDP", "protocol TCP")
            .replace("UDP_CHECK", "TCP_CHECK")
            .replace("            payload 0001ff\n            require_reply\n            min_reply_length 12\n            max_reply_length 512\n", "");
        let l = ok(&format!("{KA_UDP}{tcp}"), "t.conf");
        let protocols: Vec<Protocol> = l
            .config
            .virtual_servers
            .iter()
            .map(|v| v.protocol)
            .collect();
        assert_eq!(protocols, [Protocol::Udp, Protocol::Tcp]);
        let d = first_error(&format!("{KA_UDP}{KA_UDP}"), "t.conf");
        assert!(d.message.contains("defined twice"), "{d}");
    }

    #[test]
    fn proxy_protocol_in_the_pool_and_a_server_in_both_syntaxes() {
        let ka = "virtual_server 10.0.0.100 80 {\n lb_algo rr\n proxy_protocol v1\n \
                  real_server 10.0.0.1 80 {\n proxy_protocol v2\n }\n real_server 10.0.0.2 80\n}\n";
        let toml = "[[virtual_server]]\nip = \"10.0.0.100\"\nport = 80\nlb_algo = \"rr\"\n\
                    proxy_protocol = \"v1\"\n[[virtual_server.real_server]]\nip = \"10.0.0.1\"\n\
                    port = 80\nproxy_protocol = \"v2\"\n[[virtual_server.real_server]]\n\
                    ip = \"10.0.0.2\"\nport = 80\n";
        let l = ok(ka, "t.conf");
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let vs = &l.config.virtual_servers[0];
        assert_eq!(vs.proxy_protocol, Some(ProxyProtocol::V1));
        let own: Vec<_> = vs.real_servers.iter().map(|r| r.proxy_protocol).collect();
        assert_eq!(own, [Some(ProxyProtocol::V2), None], "None: the pool's");
        assert_eq!(ok(toml, "t.toml").config, l.config);
        let d = first_error(
            &ka.replace("proxy_protocol v2", "proxy_protocol v3"),
            "t.conf",
        );
        assert_eq!((d.line, d.key.as_str()), (5, "proxy_protocol"), "{d}");
        assert!(d.message.contains("v1 (text) or v2 (binary)"), "{d}");
        let d = first_error(&toml.replace("\"v1\"", "\"proxy\""), "t.toml");
        assert_eq!((d.line, d.key.as_str()), (5, "proxy_protocol"), "{d}");
    }

    #[test]
    fn maxconn_and_thresholds_in_both_syntaxes() {
        let ka = "virtual_server 10.0.0.100 80 {\n lb_algo rr\n maxconn 100\n \
                  real_server 10.0.0.1 80 {\n maxconn 10\n uthreshold 8\n lthreshold 6\n }\n \
                  real_server 10.0.0.2 80\n}\n";
        let toml = "[[virtual_server]]\nip = \"10.0.0.100\"\nport = 80\nlb_algo = \"rr\"\n\
                    maxconn = 100\n[[virtual_server.real_server]]\nip = \"10.0.0.1\"\nport = 80\n\
                    maxconn = 10\nuthreshold = 8\nlthreshold = 6\n[[virtual_server.real_server]]\n\
                    ip = \"10.0.0.2\"\nport = 80\n";
        let l = ok(ka, "t.conf");
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let vs = &l.config.virtual_servers[0];
        assert_eq!(vs.maxconn, Some(100));
        let r = &vs.real_servers;
        assert_eq!(
            (r[0].maxconn, r[0].uthreshold, r[0].lthreshold),
            (Some(10), 8, 6)
        );
        assert_eq!(
            (r[1].maxconn, r[1].uthreshold, r[1].lthreshold),
            (None, 0, 0)
        );
        assert_eq!(ok(toml, "t.toml").config, l.config);
        for (from, to, line, key, message) in [
            (
                "lthreshold 6",
                "lthreshold 9",
                7,
                "lthreshold",
                "above uthreshold 8",
            ),
            ("maxconn 10\n", "maxconn 0\n", 5, "maxconn", "at least 1"),
            ("maxconn 100", "maxconn lots", 3, "maxconn", "whole number"),
            (
                "uthreshold 8",
                "uthreshold -1",
                6,
                "uthreshold",
                "whole number",
            ),
        ] {
            let d = first_error(&ka.replace(from, to), "t.conf");
            assert_eq!((d.line, d.key.as_str()), (line, key), "{to}: {d}");
            assert!(d.message.contains(message), "{to}: {d}");
        }
        let d = first_error(&toml.replace("lthreshold = 6", "lthreshold = 9"), "t.toml");
        assert_eq!((d.line, d.key.as_str()), (11, "lthreshold"), "{d}");
        let l = ok(&ka.replace(" uthreshold 8\n", ""), "t.conf");
        assert_eq!(l.warnings[0].key, "lthreshold", "{:?}", l.warnings);
    }

    #[test]
    fn http_get_needs_a_url_and_misc_check_a_path() {
        let no_url = "virtual_server 10.0.0.1 80 {\n lb_algo rr\n real_server 10.0.0.2 80 {\n \
                      HTTP_GET {\n connect_timeout 1\n }\n }\n}\n";
        let d = first_error(no_url, "t.conf");
        assert_eq!((d.line, d.key.as_str()), (4, "HTTP_GET"), "{d}");
        let d = first_error(&no_url.replace("HTTP_GET", "MISC_CHECK"), "t.conf");
        assert_eq!((d.line, d.key.as_str()), (4, "misc_path"), "{d}");
    }

    #[test]
    fn duplicates_and_fwmark() {
        let two = format!("{KA}{KA}");
        let d = first_error(&two, "t.conf");
        assert!(d.message.contains("defined twice"), "{d}");
        let d = first_error("virtual_server fwmark 1 {\n lb_algo rr\n}\n", "t.conf");
        assert!(d.message.contains("need the kernel's IPVS"), "{d}");
    }

    #[test]
    fn unsupported_checkers_and_keys_warn() {
        let l = ok(
            &KA.replace(
                "        weight 3\n",
                "        weight 3\n        SSL_GET {\n url {\n path /\n }\n }\n        warmup 5\n",
            ),
            "t.conf",
        );
        let keys: Vec<&str> = l.warnings.iter().map(|w| w.key.as_str()).collect();
        assert_eq!(
            keys,
            ["SSL_GET", "warmup", "nb_get_retry"],
            "{:?}",
            l.warnings
        );
        assert!(l.warnings[0].message.contains("always up"));
    }

    #[test]
    fn nothing_at_all_is_still_an_error() {
        let d = first_error("global_defs {\n router_id x\n}\n", "t.conf");
        assert!(d.message.contains("nothing to do"), "{d}");
    }

    #[test]
    fn a_zero_checker_timeout_or_period_is_an_error_that_names_it() {
        for (from, to, key) in [
            ("connect_timeout 2", "connect_timeout 0", "connect_timeout"),
            (
                "connect_port 8001",
                "connect_port 8001\n            delay_loop 0",
                "delay_loop",
            ),
        ] {
            let d = first_error(&KA.replace(from, to), "t.conf");
            assert_eq!(d.key, key, "{d}");
            assert!(d.message.contains("more than 0 seconds"), "{d}");
        }
    }
}
