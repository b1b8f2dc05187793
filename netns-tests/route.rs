//! `route_instance` on a real kernel (needs root; see `harness`): vipd in a host namespace
//! holds its VIPs on lo and announces each as a host route in table 200 with protocol 220 and
//! metric 256 - effective priority, as BIRD's `kernel` protocol learns them. Checked with
//! `ip route show table 200` and `ip addr show dev lo` inside the namespace: the metric, its
//! move without a gap when a tracked file changes it, FAULT, maintenance, handover refused, a
//! reload that changes the priority in place, SIGTERM (routes first, the addresses after
//! withdraw_delay), a stale vipd route removed at start and other protocols' routes untouched.
//!
//! Run with `cargo test --test netns_route -- --nocapture`.

mod harness;

use std::process::Command;
use std::time::{Duration, Instant};

use harness::{Kind, Lab, wait_for};
use nix::sys::signal::Signal;

const H: usize = 0;
const VIP4: &str = "10.99.0.10";
const VIP6: &str = "fd99::10";
/// A route an earlier vipd run left, to a VIP no longer configured.
const STALE: &str = "route add 10.99.0.88/32 dev lo table 200 proto 220 metric 5";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The route instance, tracking `prio` (weight -10: its number lowers the priority) and
/// `down` (weight 0: non-zero means FAULT) in the lab directory.
fn conf(lab: &Lab, priority: u8) -> String {
    let dir = lab.path().display().to_string();
    format!(
        "vrrp_track_file prio {{\n    file {dir}/prio\n    weight -10\n}}\n\
         vrrp_track_file down {{\n    file {dir}/down\n    weight 0\n}}\n\
         route_instance WEB {{\n    virtual_ipaddress {{\n        {VIP4}\n        {VIP6}\n    }}\n    \
         priority {priority}\n    route_table 200\n    route_interface lo\n    withdraw_delay 2\n    \
         track_file {{\n        prio\n        down\n    }}\n}}\n"
    )
}

/// `ip ARGS` (words split on blanks) in the namespace `ns`, from any thread.
fn ip(ns: &str, args: &str) -> String {
    let out = Command::new("ip")
        .args(["-n", ns])
        .args(args.split_whitespace())
        .output()
        .expect("run ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// vipd's routes (proto 220) in table 200 of both families: (destination, metric).
fn vipd_routes(ns: &str) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    for family in ["-4", "-6"] {
        for line in ip(ns, &format!("{family} route show table 200 proto 220")).lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let metric = words
                .iter()
                .position(|w| *w == "metric")
                .and_then(|i| words.get(i + 1))
                .and_then(|m| m.parse().ok())
                .unwrap_or_else(|| panic!("no metric in `{line}`"));
            out.push((words[0].to_string(), metric));
        }
    }
    out.sort();
    out
}

fn on_lo(ns: &str, addr: &str) -> bool {
    ip(ns, "addr show dev lo")
        .split_whitespace()
        .any(|w| w.split('/').next() == Some(addr))
}

fn both_at(metric: u32) -> Vec<(String, u32)> {
    vec![(VIP4.to_string(), metric), (VIP6.to_string(), metric)]
}

/// The lines of `ip monitor route` about vipd's route to the IPv4 VIP, in order.
fn ipv4_route_events(lines: Vec<String>) -> Vec<String> {
    (lines.into_iter())
        .filter(|l| l.contains("10.99.0.10 dev lo") && l.contains("proto 220"))
        .collect()
}

fn write(lab: &Lab, file: &str, value: &str) {
    std::fs::write(lab.path().join(file), value).expect("write tracked file");
}

/// A one-host lab with both tracked files at 0, and its namespace.
fn lab(name: &str) -> (Lab, String) {
    let lab = Lab::setup(name, 1);
    let ns = lab.ns(H).to_string();
    write(&lab, "prio", "0");
    write(&lab, "down", "0");
    (lab, ns)
}

fn route_status(lab: &Lab) -> serde_json::Value {
    lab.vipctl_status(H)["route_instances"][0].clone()
}

/// Waits (at most `within`) until vipd's routes are `want`; panics with the log otherwise.
fn expect_routes(lab: &Lab, want: &[(String, u32)], within: Duration, what: &str) {
    let ns = lab.ns(H).to_string();
    if wait_for(|| vipd_routes(&ns) == want, within).is_none() {
        panic!(
            "{what}: wanted {want:?} in table 200, have {:?}\n{}",
            vipd_routes(&ns),
            lab.log_tail(H, 30)
        );
    }
}

#[test]
fn route_instance_on_a_real_kernel() {
    let (mut lab, ns) = lab("route");
    // Left by an earlier run: a stale vipd route; and routes of other protocols, one of them
    // to a configured VIP, which vipd must never touch.
    ip(&ns, STALE);
    ip(&ns, "route add 10.99.0.77/32 dev lo table 200 proto static");
    ip(
        &ns,
        "route add 10.99.0.10/32 dev lo table 200 proto bird metric 7",
    );
    let foreign = |ns: &str| {
        let table = ip(ns, "route show table 200");
        table.contains("10.99.0.77 dev lo proto static")
            && table.contains("10.99.0.10 dev lo proto bird scope link metric 7")
    };

    lab.start(H, Kind::Vipd, &conf(&lab, 150));
    expect_routes(&lab, &both_at(106), secs(5), "start (priority 150)");
    assert!(foreign(&ns), "other protocols' routes untouched");
    assert!(on_lo(&ns, VIP4) && on_lo(&ns, VIP6), "VIPs held on lo");
    let st = route_status(&lab);
    assert_eq!(st["state"], "ANNOUNCING", "{st}");
    assert_eq!(
        (st["metric"].as_u64(), st["table"].as_u64()),
        (Some(106), Some(200)),
        "{st}"
    );
    assert!(
        st["routes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["announced"] == true),
        "{st}"
    );

    // A tracked file moves the priority: the new route is added before the old goes.
    let monitor = lab.monitor_routes(H);
    write(&lab, "prio", "2");
    expect_routes(&lab, &both_at(126), secs(5), "file reads 2 (-20)");
    let v4 = ipv4_route_events(monitor.stop());
    let added = v4
        .iter()
        .position(|l| !l.starts_with("Deleted") && l.contains("metric 126"));
    let deleted = v4
        .iter()
        .position(|l| l.starts_with("Deleted") && l.contains("metric 106"));
    match (added, deleted) {
        (Some(a), Some(d)) => assert!(a < d, "make-before-break: {v4:?}"),
        _ => panic!("both the add and the delete must be seen: {v4:?}"),
    }
    assert!(foreign(&ns));

    // FAULT withdraws at once, the addresses stay; healthy again announces.
    write(&lab, "down", "1");
    expect_routes(&lab, &[], secs(5), "FAULT");
    assert!(
        on_lo(&ns, VIP4) && on_lo(&ns, VIP6),
        "addresses stay in FAULT"
    );
    assert_eq!(route_status(&lab)["state"], "FAULT");
    write(&lab, "down", "0");
    expect_routes(&lab, &both_at(126), secs(5), "healthy again");

    // Maintenance withdraws (addresses stay); off announces again. Handover does not apply.
    let r = lab.vipctl(H, &["maint", "on", "WEB"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    expect_routes(&lab, &[], secs(3), "maintenance on");
    assert!(on_lo(&ns, VIP4));
    let st = route_status(&lab);
    assert_eq!(
        (st["state"].as_str(), st["maintenance"].as_bool()),
        (Some("WITHDRAWN"), Some(true)),
        "{st}"
    );
    let text = lab.vipctl(H, &["status"]).stdout;
    assert!(
        text.contains("WEB  WITHDRAWN (maintenance)  route instance"),
        "{text}"
    );
    let r = lab.vipctl(H, &["handover", "WEB"]);
    assert!(
        r.code != 0 && r.stderr.contains("handover does not apply"),
        "{r:?}"
    );
    let r = lab.vipctl(H, &["maintenance", "off", "WEB"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    expect_routes(&lab, &both_at(126), secs(3), "maintenance off");

    // A reload with a new priority moves the metric in place, never withdrawn in between.
    let monitor = lab.monitor_routes(H);
    lab.write_conf(H, &conf(&lab, 200));
    lab.signal(H, Signal::SIGHUP);
    expect_routes(&lab, &both_at(76), secs(5), "reload to priority 200");
    let v4 = ipv4_route_events(monitor.stop());
    assert!(
        v4.first()
            .is_some_and(|l| l.contains("metric 76") && !l.starts_with("Deleted")),
        "{v4:?}"
    );

    // SIGTERM: routes withdrawn at once, addresses kept withdraw_delay (2 s), then removed.
    let watcher = {
        let ns = ns.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            let (mut routes_gone, mut addr_gone) = (None, None);
            while start.elapsed() < secs(8) && addr_gone.is_none() {
                let t = start.elapsed();
                if routes_gone.is_none() && vipd_routes(&ns).is_empty() {
                    routes_gone = Some(t);
                }
                if !on_lo(&ns, VIP4) {
                    addr_gone = Some(t);
                    // The route must have gone before the address.
                    routes_gone.get_or_insert(Duration::MAX);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (routes_gone, addr_gone)
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let (status, took) = lab.stop_term(H);
    let (routes_gone, addr_gone) = watcher.join().expect("watcher");
    assert!(status.success(), "{status:?}");
    let (Some(r), Some(a)) = (routes_gone, addr_gone) else {
        panic!("routes gone {routes_gone:?}, address gone {addr_gone:?}");
    };
    println!("MEASURE route SIGTERM: routes gone {r:?}, address gone {a:?}, exit after {took:?}");
    assert!(
        r < Duration::from_millis(900),
        "routes withdrawn first, at once: {r:?}"
    );
    assert!(
        a >= r + Duration::from_millis(1800),
        "the address stays withdraw_delay: {r:?} {a:?}"
    );
    assert!(!on_lo(&ns, VIP6), "both addresses removed");
    assert!(foreign(&ns), "other protocols' routes untouched at stop");
}

#[test]
fn bad_route_interface_or_table_touches_nothing() {
    let lab = Lab::setup("route-bad", 1);
    let ns = lab.ns(H).to_string();
    ip(&ns, STALE);
    let text = conf(&lab, 150).replace("route_interface lo", "route_interface nosuch0");
    lab.write_conf(H, &text);
    let out = Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(harness::vipd_bin())
        .arg("--config")
        .arg(lab.conf_path(H))
        .arg("--socket")
        .arg(lab.socket_path(H))
        .output()
        .expect("run vipd");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("WEB: interface nosuch0 does not exist"),
        "{stderr}"
    );
    assert_eq!(
        vipd_routes(&ns),
        [("10.99.0.88".to_string(), 5)],
        "nothing touched"
    );
    assert!(!on_lo(&ns, VIP4));
    let text = conf(&lab, 150).replace("route_table 200", "route_table 254");
    lab.write_conf(H, &text);
    let r = Command::new(harness::vipctl_bin())
        .arg("check-config")
        .arg(lab.conf_path(H))
        .output()
        .expect("run vipctl");
    let stderr =
        String::from_utf8_lossy(&r.stderr).into_owned() + &String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("h1.conf:15:")
            && stderr.contains("route_table 254 is the kernel's `main` table"),
        "{stderr}"
    );
}

/// `route_table` in a vrrp_instance: the master alone has a route to the VIP (metric 256 -
/// priority), after a SIGTERM the new master has it and the old one none.
#[test]
fn vrrp_instance_with_route_table_routes_the_vip_while_master() {
    let mut lab = Lab::setup("route-vrrp", 2);
    let vip = lab.vip();
    let with_table = |lab: &Lab, h: usize| {
        lab.pair_conf(h, &harness::PairOpts::default()).replace(
            "    virtual_router_id",
            "    route_table 200\n    virtual_router_id",
        )
    };
    let (conf_a, conf_b) = (with_table(&lab, 0), with_table(&lab, 1));
    lab.start(0, Kind::Vipd, &conf_a);
    lab.start(1, Kind::Vipd, &conf_b);
    let (a, b) = (lab.ns(0).to_string(), lab.ns(1).to_string());
    let routed = |ns: &str, metric: u32| vipd_routes(ns) == [(vip.clone(), metric)];
    let elected = wait_for(
        || lab.has_vip(0, &vip) && routed(&a, 156) && vipd_routes(&b).is_empty(),
        secs(20),
    );
    assert!(
        elected.is_some(),
        "A master with its route (metric 156), B none: A {:?}, B {:?}\n{}",
        vipd_routes(&a),
        vipd_routes(&b),
        lab.log_tail(0, 20)
    );
    lab.stop_term(0);
    let moved = wait_for(|| lab.has_vip(1, &vip) && routed(&b, 166), secs(10));
    assert!(
        moved.is_some(),
        "B took over with its route (metric 166): {:?}\n{}",
        vipd_routes(&b),
        lab.log_tail(1, 20)
    );
    assert!(
        vipd_routes(&a).is_empty(),
        "the stopped master left no route"
    );
}

/// After kill -9 the routes and addresses stay; the next start takes both over without a
/// withdraw, puts back a route deleted by hand, and its SIGTERM removes the addresses that
/// run had added.
#[test]
fn a_restart_after_kill_9_takes_over_routes_and_addresses() {
    let (mut lab, ns) = lab("route-restart");
    let text = conf(&lab, 150);
    lab.start(H, Kind::Vipd, &text);
    expect_routes(&lab, &both_at(106), secs(5), "first start");
    lab.kill9(H);
    assert_eq!(vipd_routes(&ns), both_at(106), "a crash leaves the routes");
    let monitor = lab.monitor_routes(H);
    lab.start(H, Kind::Vipd, &text);
    wait_for(|| route_status(&lab)["state"] == "ANNOUNCING", secs(5))
        .unwrap_or_else(|| panic!("not announcing again\n{}", lab.log_tail(H, 20)));
    let events = monitor.stop();
    assert!(
        !events.iter().any(|l| l.contains("proto 220")),
        "taken over as they were, no route changed: {events:?}"
    );
    assert_eq!(vipd_routes(&ns), both_at(106));
    // A route deleted by hand is put back at the next comparison with the table (10 s).
    ip(
        &ns,
        "route del 10.99.0.10/32 table 200 proto 220 metric 106",
    );
    expect_routes(&lab, &both_at(106), secs(12), "a route deleted by hand");
    lab.stop_term(H);
    assert!(vipd_routes(&ns).is_empty());
    assert!(
        !on_lo(&ns, VIP4) && !on_lo(&ns, VIP6),
        "the addresses the crashed run added are removed at this run's stop"
    );
}

/// A reload that drops the route instance stops it as SIGTERM would (routes first, the
/// addresses after withdraw_delay); one that brings it back starts it.
#[test]
fn reload_removes_and_adds_a_route_instance() {
    let (mut lab, ns) = lab("route-reload");
    let text = conf(&lab, 150);
    // A VRRP instance keeps the daemon busy while the route instance comes and goes.
    let other = lab.pair_conf(H, &harness::PairOpts::default());
    lab.start(H, Kind::Vipd, &format!("{other}\n{text}"));
    expect_routes(&lab, &both_at(106), secs(5), "start");
    lab.write_conf(H, &other);
    let r = lab.vipctl(H, &["reload"]);
    assert!(r.code == 0 && r.stdout.contains("removed    WEB"), "{r:?}");
    expect_routes(&lab, &[], secs(1), "reload without WEB");
    assert!(on_lo(&ns, VIP4), "the address stays withdraw_delay");
    wait_for(|| !on_lo(&ns, VIP4) && !on_lo(&ns, VIP6), secs(4))
        .unwrap_or_else(|| panic!("addresses not removed\n{}", lab.log_tail(H, 20)));
    lab.write_conf(H, &format!("{other}\n{text}"));
    let r = lab.vipctl(H, &["reload"]);
    assert!(r.code == 0 && r.stdout.contains("added      WEB"), "{r:?}");
    expect_routes(&lab, &both_at(106), secs(5), "reload with WEB again");
    assert!(on_lo(&ns, VIP4) && on_lo(&ns, VIP6));
}
