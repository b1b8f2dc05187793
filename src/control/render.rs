//! `vipctl status` as text an operator reads at a glance.

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::control::proto::{InstanceStatus, Status, VirtualServerStatus};

/// Renders the whole status; `now` makes "12 s ago" testable.
pub fn status(status: &Status, now: SystemTime) -> String {
    let mut out = String::new();
    let node = status.router_id.as_deref().unwrap_or("vipd");
    let _ = writeln!(
        out,
        "{node} (pid {}): {} instance(s)",
        status.pid,
        status.instances.len()
    );
    for inst in &status.instances {
        out.push('\n');
        instance(&mut out, inst, now);
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
    let _ = writeln!(out, "virtual_server {}  {}  {quorum}", vs.addr, vs.lb_algo);
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
    }
    if let Some(s) = &vs.sorry_server {
        let _ = writeln!(
            out,
            "  sorry_server {s}: active {}, total {}",
            vs.sorry_active_connections, vs.sorry_total_connections
        );
    }
}

fn instance(out: &mut String, inst: &InstanceStatus, now: SystemTime) {
    let priority = if inst.effective_priority != 0 && inst.effective_priority != inst.priority {
        format!("{} (configured {})", inst.effective_priority, inst.priority)
    } else {
        inst.priority.to_string()
    };
    let _ = writeln!(
        out,
        "{}  {}  vrid {}  priority {priority}  from {}",
        inst.name, inst.state, inst.vrid, inst.source
    );
    let _ = writeln!(out, "  interface  {}", inst.interface);
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
    for t in &inst.tracks {
        let health = if t.ok { "ok" } else { "FAILED" };
        let _ = writeln!(
            out,
            "  track      {}: {health} ({}), weight {}",
            t.name, t.detail, t.weight
        );
    }
    if let Some(t) = &inst.last_transition {
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
    use crate::control::proto::{Counters, Peer, Transition, VipStatus};

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
                state: "MASTER".into(),
                priority: 100,
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
                tracks: vec![crate::control::proto::TrackStatus {
                    name: "check chk_nginx".into(),
                    kind: "script".into(),
                    ok: true,
                    weight: -20,
                    detail: "exit status 0".into(),
                }],
            }],
            virtual_servers: vec![],
        };
        assert_eq!(
            super::status(&status, now),
            "lb1 (pid 42): 1 instance(s)\n\
             \n\
             VI_1  MASTER  vrid 51  priority 100  from 10.0.0.11\n\
             \x20 interface  eth0\n\
             \x20 master     this node (priority 100)\n\
             \x20 vip        10.0.0.100/32 on eth0: present\n\
             \x20 track      check chk_nginx: ok (exit status 0), weight -20\n\
             \x20 last       BACKUP -> MASTER 12 s ago: no advert from 10.0.0.12 for 3.61 s\n\
             \x20 adverts    sent 12, received 3; garps sent 10; transitions 2\n\
             \x20 dropped    auth_password 4\n"
        );
    }
}

#[cfg(test)]
mod test_lb {
    use super::*;
    use crate::control::proto::{RealServerStatus, Transition};

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
        };
        let status = Status {
            version: 1,
            router_id: None,
            pid: 7,
            instances: vec![],
            virtual_servers: vec![VirtualServerStatus {
                addr: "10.0.0.100:80".into(),
                lb_algo: "wrr".into(),
                quorum_up: true,
                sorry_server: Some("10.0.0.9:80".into()),
                sorry_active_connections: 0,
                sorry_total_connections: 2,
                real_servers: vec![rs("10.0.0.1:80", true), rs("10.0.0.2:80", false)],
            }],
        };
        assert_eq!(
            super::status(&status, now),
            "vipd (pid 7): 0 instance(s)\n\
             \n\
             virtual_server 10.0.0.100:80  wrr  quorum up\n\
             \x20 real_server           state weight  active     total   bytes in  bytes out  fails checks\n\
             \x20 10.0.0.1:80           UP         2       3        40        500       6000      1      0\n\
             \x20 10.0.0.2:80           DOWN     0/2       3        40        500       6000      1      7\n\
             \x20   DOWN 5 s ago: connect to 10.0.0.2:80: Connection refused\n\
             \x20 sorry_server 10.0.0.9:80: active 0, total 2\n"
        );
    }

    #[test]
    fn old_daemons_without_virtual_servers_still_parse() {
        let json = r#"{"version":1,"router_id":null,"pid":1,"instances":[]}"#;
        let s: Status = serde_json::from_str(json).unwrap();
        assert!(s.virtual_servers.is_empty());
    }
}
