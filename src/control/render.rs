//! `vipctl` output as text an operator reads at a glance: status, watch lines, reload and
//! handover results.

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::control::proto::{
    Event, HandoverResult, InstanceStatus, ReloadSummary, Status, VirtualServerStatus,
};
use crate::status::{RealServerStatus, RouteInstanceStatus, TrackStatus, Transition};

/// Renders the whole status; `now` makes "12 s ago" testable.
pub fn status(status: &Status, now: SystemTime) -> String {
    let mut out = String::new();
    let node = status.router_id.as_deref().unwrap_or("vipd");
    let routes = match status.route_instances.len() {
        0 => String::new(),
        n => format!(", {n} route instance(s)"),
    };
    let _ = writeln!(
        out,
        "{node} (pid {}): {} instance(s){routes}",
        status.pid,
        status.instances.len()
    );
    for inst in &status.instances {
        out.push('\n');
        instance(&mut out, inst, now);
    }
    for r in &status.route_instances {
        out.push('\n');
        route_instance(&mut out, r, now);
    }
    for vs in &status.virtual_servers {
        out.push('\n');
        virtual_server(&mut out, vs, now);
    }
    out
}

fn virtual_server(out: &mut String, vs: &VirtualServerStatus, now: SystemTime) {
    let quorum = if vs.quorum_up {
        "quorum up"
    } else {
        "QUORUM LOST"
    };
    let _ = write!(
        out,
        "virtual_server {}  {}  {quorum}",
        vs.name(),
        vs.lb_algo
    );
    if let Some(p) = &vs.proxy_protocol {
        let _ = write!(out, "  proxy_protocol {p}");
    }
    out.push('\n');
    if let Some(m) = vs.maxconn {
        let _ = writeln!(
            out,
            "  maxconn {m}: {} open, {} client(s) waited at it",
            vs.connections, vs.cap_hits
        );
    }
    let _ = writeln!(
        out,
        "  {:<21} {:<5} {:>6} {:>7} {:>9} {:>10} {:>10} {:>6} {:>6}",
        "real_server",
        "state",
        "weight",
        "active",
        "total",
        "bytes in",
        "bytes out",
        "fails",
        "checks"
    );
    for rs in &vs.real_servers {
        let weight = if rs.effective_weight == rs.weight {
            rs.weight.to_string()
        } else {
            format!("{}/{}", rs.effective_weight, rs.weight)
        };
        let _ = writeln!(
            out,
            "  {:<21} {:<5} {:>6} {:>7} {:>9} {:>10} {:>10} {:>6} {:>6}",
            rs.addr,
            rs.state,
            weight,
            rs.active_connections,
            rs.total_connections,
            rs.bytes_in,
            rs.bytes_out,
            rs.connect_failures,
            rs.check_failures
        );
        if let Some(t) = &rs.last_transition {
            let at = UNIX_EPOCH + Duration::from_millis(t.at_unix_ms);
            let ago = now.duration_since(at).unwrap_or_default();
            let _ = writeln!(out, "    {} {} ago: {}", t.to, human(ago), t.reason);
        }
        if let Some(limits) = limits_line(rs) {
            let _ = writeln!(out, "    {limits}");
        }
        if rs.proxy_protocol != vs.proxy_protocol
            && let Some(p) = &rs.proxy_protocol
        {
            let _ = writeln!(out, "    proxy_protocol {p}");
        }
    }
    if let Some(s) = &vs.sorry_server {
        let _ = writeln!(
            out,
            "  sorry_server {s}: active {}, total {}",
            vs.sorry_active_connections, vs.sorry_total_connections
        );
    }
    if let Some(u) = &vs.udp {
        let _ = writeln!(
            out,
            "  udp: {} flows, datagrams in {} out {}, dropped: table full {}, no server {}, \
             send {}",
            u.flows,
            u.datagrams_in,
            u.datagrams_out,
            u.dropped_table_full,
            u.dropped_no_server,
            u.dropped_send
        );
    }
}

/// A real server's connection limits and what they did, if it has any.
fn limits_line(rs: &RealServerStatus) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(m) = rs.maxconn {
        parts.push(format!("maxconn {m}"));
    }
    if let Some(u) = rs.uthreshold {
        parts.push(format!("uthreshold {u}"));
    }
    if let Some(l) = rs.lthreshold {
        parts.push(format!("lthreshold {l}"));
    }
    if parts.is_empty() {
        return None;
    }
    let state = if rs.full { "FULL" } else { "limits" };
    Some(format!(
        "{state}: {}; {} new connection(s) found it full",
        parts.join(", "),
        rs.cap_hits
    ))
}

fn instance(out: &mut String, inst: &InstanceStatus, now: SystemTime) {
    let priority = if inst.effective_priority != 0 && inst.effective_priority != inst.priority {
        format!("{} (configured {})", inst.effective_priority, inst.priority)
    } else {
        inst.priority.to_string()
    };
    let maint = if inst.maintenance {
        "  [maintenance: stays backup]"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "{}  {}  vrid {}  priority {priority}  from {}{maint}",
        inst.name, inst.state, inst.vrid, inst.source
    );
    let _ = writeln!(out, "  interface  {}", inst.interface);
    let family = if inst.family == "ipv6" {
        "IPv6"
    } else {
        "IPv4"
    };
    let _ = writeln!(
        out,
        "  protocol   VRRPv{} over {family}, adverts every {} s",
        inst.version,
        inst.advert_int_ms as f64 / 1000.0
    );
    let master = match &inst.master {
        Some(m) if m.addr == inst.source => format!("this node (priority {})", m.priority),
        Some(m) => format!("{} (priority {})", m.addr, m.priority),
        None => "unknown".to_string(),
    };
    let _ = writeln!(out, "  master     {master}");
    for vip in &inst.vips {
        let here = if vip.present { "present" } else { "absent" };
        let _ = writeln!(out, "  vip        {} on {}: {here}", vip.addr, vip.dev);
    }
    tracks(out, &inst.tracks);
    last(out, inst.last_transition.as_ref(), now);
    let c = &inst.counters;
    let _ = write!(
        out,
        "  adverts    sent {}, received {}; garps sent {}; transitions {}",
        c.adverts_sent, c.adverts_received, c.garps_sent, c.transitions
    );
    let drops: Vec<String> = c
        .drops
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if drops.is_empty() {
        out.push('\n');
    } else {
        let _ = writeln!(out, "\n  dropped    {}", drops.join(", "));
    }
}

/// A route instance: state, priority and metric, then one line per route.
fn route_instance(out: &mut String, r: &RouteInstanceStatus, now: SystemTime) {
    let state = if r.maintenance && r.state == "WITHDRAWN" {
        "WITHDRAWN (maintenance)".to_string()
    } else if r.maintenance {
        format!("{}  [maintenance]", r.state)
    } else {
        r.state.clone()
    };
    let priority = if r.effective_priority != r.priority {
        format!("{} (configured {})", r.effective_priority, r.priority)
    } else {
        r.priority.to_string()
    };
    let _ = writeln!(
        out,
        "{}  {state}  route instance  priority {priority}  metric {}",
        r.name, r.metric
    );
    let _ = writeln!(out, "  routes     table {} via {}", r.table, r.interface);
    for route in &r.routes {
        let here = match route.metric {
            Some(m) if route.announced => format!("announced, metric {m}"),
            _ => "withdrawn".to_string(),
        };
        let _ = writeln!(out, "  route      {}: {here}", route.prefix);
    }
    tracks(out, &r.tracks);
    last(out, r.last_transition.as_ref(), now);
}

/// One line per tracked check.
fn tracks(out: &mut String, tracks: &[TrackStatus]) {
    for t in tracks {
        let health = if t.ok { "ok" } else { "FAILED" };
        let _ = writeln!(
            out,
            "  track      {}: {health} ({}), weight {}",
            t.name, t.detail, t.weight
        );
    }
}

/// The last state change, and how long ago.
fn last(out: &mut String, t: Option<&Transition>, now: SystemTime) {
    if let Some(t) = t {
        let at = UNIX_EPOCH + Duration::from_millis(t.at_unix_ms);
        let ago = now.duration_since(at).unwrap_or_default();
        let _ = writeln!(
            out,
            "  last       {} -> {} {} ago: {}",
            t.from,
            t.to,
            human(ago),
            t.reason
        );
    }
}

/// One `vipctl watch` line: `2026-11-22 00:51:03.123Z VI_1 BACKUP -> MASTER: why`.
pub fn event(e: &Event) -> String {
    format!(
        "{} {} {} -> {}: {}",
        utc(e.at_unix_ms),
        e.instance,
        e.from,
        e.to,
        e.reason
    )
}

/// What a reload did, one line per kind of change.
pub fn reload(summary: &ReloadSummary) -> String {
    let mut out = String::from("reloaded\n");
    for (what, names) in [
        ("unchanged", &summary.unchanged),
        ("added", &summary.added),
        ("removed", &summary.removed),
        ("new VIPs", &summary.vips_changed),
        ("restarted", &summary.restarted),
        ("changed", &summary.routes_changed),
        ("pools kept", &summary.pools_unchanged),
        ("pools changed", &summary.pools_changed),
        ("pools added", &summary.pools_added),
        ("pools removed", &summary.pools_removed),
    ] {
        if !names.is_empty() {
            let _ = writeln!(out, "  {what:<10} {}", names.join(", "));
        }
    }
    for w in &summary.warnings {
        let _ = writeln!(out, "  warning    {w}");
    }
    out
}

/// One line per instance asked to hand over.
pub fn handover(results: &[HandoverResult]) -> String {
    let mut out = String::new();
    for r in results {
        let line = match r.outcome.as_str() {
            "released" => format!(
                "handed over to {} in {} ms (VIPs kept until it advertised)",
                r.new_master.as_deref().unwrap_or("?"),
                r.waited_ms
            ),
            "timed_out" => format!(
                "no new master advertised within {} ms; VIPs removed anyway",
                r.waited_ms
            ),
            "not_master" => "not master: nothing to hand over".to_string(),
            other => other.to_string(),
        };
        let _ = writeln!(out, "{}: {line}", r.instance);
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS.mmmZ` from Unix milliseconds (UTC; no time zone database needed).
fn utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        unix_ms % 1000
    )
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h", s / 3600),
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::status::{Counters, Peer, TrackStatus, Transition, VipStatus};

    #[test]
    fn reads_like_an_operator_tool() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut counters = Counters {
            adverts_sent: 12,
            adverts_received: 3,
            garps_sent: 10,
            transitions: 2,
            ..Counters::default()
        };
        counters.drops.insert("auth_password".into(), 4);
        counters.drops.insert("ttl".into(), 0);
        let status = Status {
            version: 1,
            router_id: Some("lb1".into()),
            pid: 42,
            instances: vec![InstanceStatus {
                name: "VI_1".into(),
                interface: "eth0".into(),
                vrid: 51,
                version: 2,
                family: "ipv4".into(),
                advert_int_ms: 1000,
                state: "MASTER".into(),
                priority: 100,
                maintenance: false,
                source: "10.0.0.11".into(),
                master: Some(Peer {
                    addr: "10.0.0.11".into(),
                    priority: 100,
                }),
                vips: vec![VipStatus {
                    addr: "10.0.0.100/32".into(),
                    dev: "eth0".into(),
                    present: true,
                }],
                last_transition: Some(Transition {
                    at_unix_ms: 1_000_000_000 - 12_000,
                    from: "BACKUP".into(),
                    to: "MASTER".into(),
                    reason: "no advert from 10.0.0.12 for 3.61 s".into(),
                }),
                counters,
                effective_priority: 100,
                tracks: vec![TrackStatus {
                    name: "check chk_nginx".into(),
                    kind: "script".into(),
                    ok: true,
                    weight: -20,
                    detail: "exit status 0".into(),
                }],
            }],
            virtual_servers: vec![],
            route_instances: vec![],
        };
        assert_eq!(
            super::status(&status, now),
            "lb1 (pid 42): 1 instance(s)\n\
             \n\
             VI_1  MASTER  vrid 51  priority 100  from 10.0.0.11\n\
             \x20 interface  eth0\n\
             \x20 protocol   VRRPv2 over IPv4, adverts every 1 s\n\
             \x20 master     this node (priority 100)\n\
             \x20 vip        10.0.0.100/32 on eth0: present\n\
             \x20 track      check chk_nginx: ok (exit status 0), weight -20\n\
             \x20 last       BACKUP -> MASTER 12 s ago: no advert from 10.0.0.12 for 3.61 s\n\
             \x20 adverts    sent 12, received 3; garps sent 10; transitions 2\n\
             \x20 dropped    auth_password 4\n"
        );
    }

    #[test]
    fn watch_lines_carry_utc_time() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000Z");
        assert_eq!(utc(1_709_210_096_789), "2024-02-29 12:34:56.789Z");
        let e = Event {
            at_unix_ms: 951_782_400_000,
            instance: "VI_1".into(),
            from: "BACKUP".into(),
            to: "MASTER".into(),
            reason: "10.0.0.2 resigned (sent priority 0)".into(),
        };
        assert_eq!(
            event(&e),
            "2000-02-29 00:00:00.000Z VI_1 BACKUP -> MASTER: 10.0.0.2 resigned (sent priority 0)"
        );
    }

    #[test]
    fn maintenance_and_effective_priority_show_in_the_header() {
        let inst = InstanceStatus {
            name: "VI_1".into(),
            interface: "eth0".into(),
            vrid: 51,
            version: 2,
            family: "ipv4".into(),
            advert_int_ms: 1000,
            state: "BACKUP".into(),
            priority: 100,
            effective_priority: 80,
            maintenance: true,
            source: "10.0.0.11".into(),
            master: None,
            vips: vec![],
            last_transition: None,
            counters: Default::default(),
            tracks: vec![],
        };
        let mut out = String::new();
        instance(&mut out, &inst, UNIX_EPOCH);
        assert!(out.starts_with(
            "VI_1  BACKUP  vrid 51  priority 80 (configured 100)  from 10.0.0.11  \
             [maintenance: stays backup]\n"
        ));
    }
}

#[cfg(test)]
mod test_routes {
    use super::*;
    use crate::status::RouteStatus;

    #[test]
    fn a_route_instance_shows_state_metric_and_each_route() {
        let r = RouteInstanceStatus {
            name: "WEB".into(),
            state: "WITHDRAWN".into(),
            maintenance: true,
            priority: 150,
            effective_priority: 90,
            metric: 166,
            table: 200,
            interface: "lo".into(),
            routes: vec![
                RouteStatus {
                    prefix: "10.99.0.10/32".into(),
                    announced: false,
                    metric: None,
                },
                RouteStatus {
                    prefix: "fd99::10/128".into(),
                    announced: true,
                    metric: Some(166),
                },
            ],
            ..RouteInstanceStatus::default()
        };
        let mut out = String::new();
        route_instance(&mut out, &r, UNIX_EPOCH);
        assert_eq!(
            out,
            "WEB  WITHDRAWN (maintenance)  route instance  priority 90 (configured 150)  \
             metric 166\n  routes     table 200 via lo\n  route      10.99.0.10/32: withdrawn\n  \
             route      fd99::10/128: announced, metric 166\n"
        );
        let status = Status {
            version: 1,
            router_id: None,
            pid: 7,
            instances: vec![],
            virtual_servers: vec![],
            route_instances: vec![r],
        };
        assert!(
            super::status(&status, UNIX_EPOCH)
                .starts_with("vipd (pid 7): 0 instance(s), 1 route instance(s)\n")
        );
    }
}

#[cfg(test)]
mod test_lb {
    use super::*;
    use crate::status::Transition;

    #[test]
    fn virtual_servers_as_a_table() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let rs = |addr: &str, up: bool| RealServerStatus {
            addr: addr.into(),
            state: if up { "UP" } else { "DOWN" }.into(),
            weight: 2,
            effective_weight: if up { 2 } else { 0 },
            active_connections: 3,
            total_connections: 40,
            bytes_in: 500,
            bytes_out: 6000,
            connect_failures: 1,
            check_failures: if up { 0 } else { 7 },
            transitions: u64::from(!up),
            last_transition: (!up).then(|| Transition {
                at_unix_ms: 1_000_000_000 - 5_000,
                from: "UP".into(),
                to: "DOWN".into(),
                reason: "connect to 10.0.0.2:80: Connection refused".into(),
            }),
            proxy_protocol: Some(if up { "v2" } else { "v1" }.into()),
            maxconn: up.then_some(3),
            uthreshold: None,
            lthreshold: None,
            full: up,
            cap_hits: if up { 5 } else { 0 },
        };
        let status = Status {
            version: 1,
            router_id: None,
            pid: 7,
            instances: vec![],
            route_instances: vec![],
            virtual_servers: vec![VirtualServerStatus {
                udp: None,
                addr: "10.0.0.100:80".into(),
                lb_algo: "wrr".into(),
                quorum_up: true,
                sorry_server: Some("10.0.0.9:80".into()),
                sorry_active_connections: 0,
                sorry_total_connections: 2,
                proxy_protocol: Some("v2".into()),
                maxconn: Some(10),
                connections: 6,
                cap_hits: 1,
                real_servers: vec![rs("10.0.0.1:80", true), rs("10.0.0.2:80", false)],
            }],
        };
        assert_eq!(
            super::status(&status, now),
            "vipd (pid 7): 0 instance(s)\n\
             \n\
             virtual_server 10.0.0.100:80  wrr  quorum up  proxy_protocol v2\n\
             \x20 maxconn 10: 6 open, 1 client(s) waited at it\n\
             \x20 real_server           state weight  active     total   bytes in  bytes out  fails checks\n\
             \x20 10.0.0.1:80           UP         2       3        40        500       6000      1      0\n\
             \x20   FULL: maxconn 3; 5 new connection(s) found it full\n\
             \x20 10.0.0.2:80           DOWN     0/2       3        40        500       6000      1      7\n\
             \x20   DOWN 5 s ago: connect to 10.0.0.2:80: Connection refused\n\
             \x20   proxy_protocol v1\n\
             \x20 sorry_server 10.0.0.9:80: active 0, total 2\n"
        );
    }

    #[test]
    fn a_udp_pool_is_named_so_and_shows_its_flows() {
        let vs = VirtualServerStatus {
            udp: Some(crate::status::UdpStatus {
                flows: 4,
                datagrams_in: 10,
                datagrams_out: 9,
                dropped_table_full: 1,
                dropped_no_server: 2,
                dropped_send: 0,
            }),
            addr: "[2001:db8::53]:53".into(),
            lb_algo: "rr".into(),
            quorum_up: true,
            sorry_server: None,
            sorry_active_connections: 0,
            sorry_total_connections: 0,
            proxy_protocol: None,
            maxconn: None,
            connections: 0,
            cap_hits: 0,
            real_servers: vec![],
        };
        let mut out = String::new();
        virtual_server(&mut out, &vs, UNIX_EPOCH);
        assert!(
            out.starts_with("virtual_server [2001:db8::53]:53/udp  rr  quorum up\n"),
            "{out}"
        );
        assert!(
            out.ends_with(
                "  udp: 4 flows, datagrams in 10 out 9, dropped: table full 1, no server 2, \
                 send 0\n"
            ),
            "{out}"
        );
        // A status from a daemon before UDP pools still parses, as TCP.
        let json = serde_json::to_string(&VirtualServerStatus { udp: None, ..vs }).unwrap();
        assert!(!json.contains("udp"), "{json}");
        let back: VirtualServerStatus = serde_json::from_str(&json).unwrap();
        assert_eq!(back.name(), "[2001:db8::53]:53");
    }

    #[test]
    fn old_daemons_without_virtual_servers_still_parse() {
        let json = r#"{"version":1,"router_id":null,"pid":1,"instances":[]}"#;
        let s: Status = serde_json::from_str(json).unwrap();
        assert!(s.virtual_servers.is_empty());
    }
}
