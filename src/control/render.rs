//! `vipctl status` as text an operator reads at a glance.

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::control::proto::{InstanceStatus, Status};

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
    out
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
