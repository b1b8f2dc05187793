//! The operator's side of vipd on a lab of network namespaces (needs root; see `harness`):
//! `vipctl status` (text and the JSON schema), `watch`, `reload` (valid, invalid, unchanged
//! instance untouched), `handover`, `maint`, the socket's permission checks, and the
//! Prometheus page parsed by a Prometheus text parser.
//!
//! Host 0 (priority 100) runs vipd; host 1 (priority 90) runs vipd or keepalived. Run one with
//! e.g. `cargo test --test netns_ctl handover -- --nocapture`. Handover and reload under
//! traffic must lose no ping; other time bounds are generous (the figures are printed as
//! `MEASURE` lines; the benchmark is `netns-tests/bench/handover.sh`).

mod harness;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

use harness::conf::INSTANCE;
use harness::{Kind, Lab, PairOpts, epoch_now, measure, wait_for};
use serde_json::Value;

/// The priority-100 host (always vipd).
const A: usize = 0;
/// The priority-90 host.
const B: usize = 1;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn logs(lab: &Lab) -> String {
    format!(
        "--- h1 ---\n{}\n--- h2 ---\n{}",
        lab.log_tail(A, 25),
        lab.log_tail(B, 25)
    )
}

/// Starts the pair (A with `extra` arguments) and waits until A alone holds the VIP.
fn elect(lab: &mut Lab, b: Kind, conf_a: &str, extra: &[&str]) {
    let conf_b = lab.pair_conf(B, &PairOpts::default());
    lab.start_with_args(A, Kind::Vipd, conf_a, extra);
    lab.start(B, b, &conf_b);
    wait_for(|| lab.holds_vip(A) && !lab.holds_vip(B), secs(20))
        .unwrap_or_else(|| panic!("no election within 20 s\n{}", logs(lab)));
}

fn instance<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["instances"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == name))
        .unwrap_or_else(|| panic!("no instance {name} in {status}"))
}

fn state(lab: &Lab, host: usize) -> String {
    lab.vipctl_instance(host)["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The config of A with `extra` lines inserted at the top of `global_defs`.
fn conf_a_with_globals(lab: &Lab, extra: &str) -> String {
    lab.pair_conf(A, &PairOpts::default()).replacen(
        "global_defs {\n",
        &format!("global_defs {{\n{extra}"),
        1,
    )
}

/// A second instance for reload tests: VRID 52, VIP .101, on A only.
fn second_instance(lab: &Lab) -> String {
    let vip2 = lab.vip().replace(".100", ".101");
    format!(
        "vrrp_instance VI_2 {{\n    interface eth0\n    virtual_router_id 52\n    priority 100\n    \
         advert_int 1\n    virtual_ipaddress {{\n        {vip2}/32 dev eth0\n    }}\n}}\n"
    )
}

#[test]
fn status_text_and_json_schema_version_1() {
    let mut lab = Lab::setup("status", 2);
    let conf = lab.pair_conf(A, &PairOpts::default());
    elect(&mut lab, Kind::Vipd, &conf, &[]);
    // Let B hear a few adverts so that its counters move.
    std::thread::sleep(secs(2));

    let a = lab.vipctl_status(A);
    assert_eq!(a["version"], 1, "{a}");
    assert!(a["pid"].as_u64().is_some_and(|p| p > 0));
    assert_eq!(a["router_id"], "h1");
    let i = instance(&a, INSTANCE);
    assert_eq!(i["interface"], "eth0");
    assert_eq!(i["vrid"], 51);
    assert_eq!(i["state"], "MASTER", "states are strings");
    assert_eq!(i["priority"], 100);
    assert_eq!(i["effective_priority"], 100);
    assert_eq!(i["maintenance"], false);
    assert_eq!(i["source"], lab.host_addr(A));
    assert_eq!(i["master"]["addr"], lab.host_addr(A));
    assert_eq!(i["master"]["priority"], 100);
    assert_eq!(i["vips"][0]["addr"], format!("{}/32", lab.vip()));
    assert_eq!(i["vips"][0]["dev"], "eth0");
    assert_eq!(i["vips"][0]["present"], true, "checked in the kernel");
    let t = &i["last_transition"];
    assert_eq!(
        (t["from"].as_str(), t["to"].as_str()),
        (Some("BACKUP"), Some("MASTER"))
    );
    assert!(
        t["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no advert")),
        "{t}"
    );
    let now_ms = (epoch_now() * 1000.0) as u64;
    let at = t["at_unix_ms"].as_u64().expect("at_unix_ms");
    assert!(
        at <= now_ms && now_ms - at < 60_000,
        "transition time {at} vs now {now_ms}"
    );
    let c = &i["counters"];
    for key in [
        "adverts_sent",
        "adverts_received",
        "garps_sent",
        "transitions",
    ] {
        assert!(c[key].as_u64().is_some(), "counters.{key} in {c}");
    }
    assert!(c["adverts_sent"].as_u64().unwrap() >= 1);
    assert_eq!(c["garps_sent"], 5, "one burst of 5 so far");
    assert_eq!(c["became_master"], 1);
    assert_eq!(c["released_master"], 0);
    assert!(c["drops"].is_object());
    assert!(
        i["tracks"].as_array().is_some_and(Vec::is_empty),
        "no tracked checks here"
    );

    let b = lab.vipctl_status(B);
    let j = instance(&b, INSTANCE);
    assert_eq!(j["state"], "BACKUP");
    assert_eq!(
        j["master"]["addr"],
        lab.host_addr(A),
        "B knows who is master"
    );
    assert_eq!(j["master"]["priority"], 100);
    assert_eq!(j["vips"][0]["present"], false);
    assert!(j["counters"]["adverts_received"].as_u64().unwrap() >= 1);

    let text = lab.vipctl(A, &["status"]);
    assert_eq!(text.code, 0, "{text:?}");
    println!("{}", text.stdout);
    assert!(text.stdout.starts_with("h1 (pid "), "{}", text.stdout);
    assert!(text.stdout.contains("VI_1  MASTER  vrid 51  priority 100"));
    assert!(
        text.stdout
            .contains(&format!("{}/32 on eth0: present", lab.vip()))
    );
    assert!(text.stdout.contains("master     this node (priority 100)"));
    let text_b = lab.vipctl(B, &["status"]);
    assert!(
        text_b
            .stdout
            .contains(&format!("master     {} (priority 100)", lab.host_addr(A))),
        "{}",
        text_b.stdout
    );

    // Unreachable: exit 3, naming the socket.
    let missing = lab.lab_dir().join("nobody.sock");
    let out = std::process::Command::new(harness::vipctl_bin())
        .arg("--socket")
        .arg(&missing)
        .arg("status")
        .output()
        .expect("run vipctl");
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
}

#[test]
fn watch_prints_transitions_as_they_happen() {
    let mut lab = Lab::setup("watch", 2);
    let conf = lab.pair_conf(A, &PairOpts::default());
    elect(&mut lab, Kind::Vipd, &conf, &[]);
    let json = lab.vipctl_watch(B, &["--json"]);
    let text = lab.vipctl_watch(B, &[]);
    std::thread::sleep(Duration::from_millis(300));
    let (_, _) = lab.stop_term(A);
    let saw = |lines: &[String]| lines.iter().any(|l| l.contains("MASTER"));
    wait_for(|| saw(&json.lines()) && saw(&text.lines()), secs(10))
        .unwrap_or_else(|| panic!("watch saw nothing: {:?} {:?}", json.lines(), text.lines()));
    let json = json.stop();
    let event: Value = serde_json::from_str(&json[0]).expect("a JSON line");
    assert_eq!(event["instance"], INSTANCE);
    assert_eq!(event["from"], "BACKUP");
    assert_eq!(event["to"], "MASTER");
    assert!(
        event["reason"]
            .as_str()
            .is_some_and(|r| r.contains("resigned")),
        "{event}"
    );
    assert!(event["at_unix_ms"].as_u64().is_some());
    let text = text.stop();
    assert!(
        text[0].contains(" VI_1 BACKUP -> MASTER: ") && text[0].ends_with("(sent priority 0)"),
        "{text:?}"
    );
}

#[test]
fn reload_applies_changes_and_leaves_the_master_alone() {
    let mut lab = Lab::setup("reload", 2);
    let conf = lab.pair_conf(A, &PairOpts::default());
    elect(&mut lab, Kind::Vipd, &conf, &[]);
    // Past garp_master_delay (5 s): both bursts of the election are sent, so any GARP from
    // here on comes from the reload.
    wait_for(
        || lab.vipctl_instance(A)["counters"]["garps_sent"] == 10,
        secs(15),
    )
    .unwrap_or_else(|| panic!("second GARP burst never came\n{}", logs(&lab)));
    let before = lab.vipctl_instance(A);
    let open_fds = |lab: &Lab| {
        std::fs::read_dir(format!("/proc/{}/fd", lab.agent_pid(A)))
            .map(Iterator::count)
            .unwrap_or(0)
    };
    let fds_before = open_fds(&lab);
    let monitor = lab.monitor_addresses(A);
    let pinger = lab.pinger(secs(60));
    let t0 = epoch_now();

    // Valid: add an instance; VI_1 unchanged (only a comment differs).
    let vip2 = lab.vip().replace(".100", ".101");
    let added = format!("# reloaded\n{conf}{}", second_instance(&lab));
    lab.write_conf(A, &added);
    let r = lab.vipctl(A, &["reload"]);
    assert_eq!(r.code, 0, "{r:?}\n{}", logs(&lab));
    assert!(r.stdout.contains("unchanged  VI_1"), "{}", r.stdout);
    assert!(r.stdout.contains("added      VI_2"), "{}", r.stdout);
    wait_for(|| lab.has_vip(A, &vip2), secs(10)).expect("VI_2 comes up on A alone");

    // Invalid: refused with the reason, old configuration kept.
    lab.write_conf(
        A,
        &added.replace(
            "priority 100\n    advert_int 1\n    virtual",
            "priorty 100\n    advert_int 1\n    virtual",
        ),
    );
    let r = lab.vipctl(A, &["reload"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("priorty") && r.stderr.contains("unchanged"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&lab.conf_path(A).display().to_string()),
        "{}",
        r.stderr
    );
    // Valid text but an interface this host lacks: refused as a whole, VI_2 not started twice.
    let r_missing = lab.vipctl(A, &["reload"]);
    assert_eq!(r_missing.code, 1);
    lab.write_conf(
        A,
        &format!(
            "{added}{}",
            second_instance(&lab)
                .replace("VI_2", "VI_3")
                .replace("interface eth0", "interface nosuch0")
                .replace("virtual_router_id 52", "virtual_router_id 53")
                .replace(".101/32 dev eth0", ".103/32")
        ),
    );
    let r = lab.vipctl(A, &["reload"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("nosuch0") && r.stderr.contains("unchanged"),
        "{}",
        r.stderr
    );
    assert_eq!(
        lab.vipctl_status(A)["instances"].as_array().map(Vec::len),
        Some(2)
    );
    lab.write_conf(
        A,
        &added.replace(
            "priority 100\n    advert_int 1\n    virtual",
            "priorty 100\n    advert_int 1\n    virtual",
        ),
    );
    // The same through SIGHUP: refused in the log.
    lab.signal(A, nix::sys::signal::Signal::SIGHUP);
    wait_for(|| lab.log(A).contains("reload refused"), secs(5)).unwrap_or_else(|| {
        panic!(
            "SIGHUP with a bad file is not refused in the log\n{}",
            logs(&lab)
        )
    });
    let status = lab.vipctl_status(A);
    assert_eq!(instance(&status, INSTANCE)["state"], "MASTER");
    assert_eq!(instance(&status, "VI_2")["state"], "MASTER");

    // VIP list change in place: VI_1 gains .102, keeps .100; VI_2 goes away.
    let vip3 = lab.vip().replace(".100", ".102");
    let changed = conf.replace(
        &format!("{}/32 dev eth0\n", lab.vip()),
        &format!("{}/32 dev eth0\n        {vip3}/32 dev eth0\n", lab.vip()),
    );
    lab.write_conf(A, &changed);
    let r = lab.vipctl(A, &["reload"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("new VIPs   VI_1"), "{}", r.stdout);
    assert!(r.stdout.contains("removed    VI_2"), "{}", r.stdout);
    wait_for(|| lab.has_vip(A, &vip3) && !lab.has_vip(A, &vip2), secs(5))
        .unwrap_or_else(|| panic!("VIPs not applied\n{}", logs(&lab)));

    // SIGHUP reloads the same way: nothing changed, nothing touched.
    let reloads = |lab: &Lab| lab.log(A).matches("reloaded ").count();
    let before_hup = reloads(&lab);
    lab.write_conf(A, &format!("# touched\n{changed}"));
    lab.signal(A, nix::sys::signal::Signal::SIGHUP);
    wait_for(|| reloads(&lab) > before_hup, secs(5))
        .unwrap_or_else(|| panic!("SIGHUP did not reload\n{}", logs(&lab)));
    assert!(
        lab.log(A)
            .contains("1 unchanged, 0 added, 0 removed, 0 with new VIPs, 0 restarted")
    );

    std::thread::sleep(secs(1));
    let t1 = epoch_now();
    let after = lab.vipctl_instance(A);
    let events = monitor.stop();
    let (lost, sent) = pinger.lost_between(t0, t1);
    let replies = pinger.stop();
    let gap = harness::ping::longest_gap(&replies, t0, t1);
    measure(&format!(
        "reload longest_ping_gap_ms={:.0} lost={lost}/{sent}",
        gap.as_secs_f64() * 1000.0
    ));
    // Reloads under traffic lose nothing: the kept VIP is never touched.
    assert_eq!(lost, 0, "{lost} of {sent} pings lost through the reloads");
    assert!(sent > 0, "no ping answered through the reloads");
    assert_eq!(after["state"], "MASTER");
    assert_eq!(
        after["counters"]["transitions"], before["counters"]["transitions"],
        "no election"
    );
    let vip = format!(" {}/32 ", lab.vip());
    assert!(
        !events
            .iter()
            .any(|e| e.starts_with("Deleted") && e.contains(&vip)),
        "the VIP of the unchanged instance was removed: {events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| !e.starts_with("Deleted") && e.contains(&format!(" {vip3}/32 "))),
        "the added VIP shows up in the monitor: {events:#?}"
    );
    // Only the added VIP's burst: none for the kept one.
    let garps_before = before["counters"]["garps_sent"].as_u64().unwrap();
    let garps_after = after["counters"]["garps_sent"].as_u64().unwrap();
    assert_eq!(garps_after, garps_before + 5, "one burst for {vip3} only");
    assert_eq!(after["vips"].as_array().map(Vec::len), Some(2));
    assert!(lab.vipctl_status(A)["instances"].as_array().unwrap().len() == 1);
    // VI_2 came and went: its sockets (VRRP, ARP watch) went with it.
    let fds_after = open_fds(&lab);
    assert!(
        fds_after <= fds_before,
        "{fds_before} descriptors before VI_2 was added, {fds_after} after it was removed"
    );
}

fn handover(b: Kind) {
    let mut lab = Lab::setup(&format!("handover-{b}"), 2);
    let conf = lab.pair_conf(A, &PairOpts::default());
    elect(&mut lab, b, &conf, &[]);
    std::thread::sleep(Duration::from_millis(500));
    let pinger = lab.pinger(secs(60));
    assert!(
        pinger.wait_reply_after(epoch_now(), secs(5)),
        "VIP answers before"
    );
    let t0 = epoch_now();
    let r = lab.vipctl(A, &["handover", INSTANCE]);
    assert_eq!(r.code, 0, "{r:?}\n{}", logs(&lab));
    assert!(
        r.stdout
            .contains(&format!("VI_1: handed over to {}", lab.host_addr(B))),
        "{}",
        r.stdout
    );
    assert!(
        lab.holds_vip(B) && !lab.holds_vip(A),
        "{:?}",
        lab.vip_holders()
    );
    // The old master stays backup: no preemption back for a while.
    std::thread::sleep(secs(6));
    assert_eq!(lab.vip_holders(), vec![B], "{}", logs(&lab));
    assert_eq!(state(&lab, A), "BACKUP");
    let t1 = epoch_now();
    let (lost, sent) = pinger.lost_between(t0, t1);
    let replies = pinger.stop();
    let gap = harness::ping::longest_gap(&replies, t0, t1);
    measure(&format!(
        "handover vipd+{b} longest_ping_gap_ms={:.0} lost={lost}/{sent}",
        gap.as_secs_f64() * 1000.0
    ));
    // Make-before-break: the old master answers until the new one has announced, so no ping
    // is lost and the longest silence is about the ping cadence (10-25 ms here).
    assert_eq!(lost, 0, "{lost} of {sent} pings lost through the handover");
    assert!(
        gap < Duration::from_millis(100),
        "ping gap {gap:?} through the handover"
    );
    assert!(lab.log(A).contains("handover done"), "{}", logs(&lab));
    // Nothing to hand over on a backup: exit 0, says so.
    let r = lab.vipctl(A, &["handover"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("not master"), "{}", r.stdout);
    let r = lab.vipctl(A, &["handover", "NOPE"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no instance named NOPE"), "{}", r.stderr);
}

#[test]
fn handover_to_vipd() {
    handover(Kind::Vipd);
}

#[test]
fn handover_to_keepalived() {
    handover(Kind::Keepalived);
}

#[test]
fn maint_keeps_an_instance_backup_across_reloads() {
    let mut lab = Lab::setup("maint", 2);
    let conf = lab.pair_conf(A, &PairOpts::default());
    elect(&mut lab, Kind::Vipd, &conf, &[]);
    let r = lab.vipctl(A, &["maint", "on", INSTANCE]);
    assert_eq!(r.code, 0, "{r:?}");
    wait_for(|| lab.holds_vip(B) && !lab.holds_vip(A), secs(10))
        .unwrap_or_else(|| panic!("maint on a master hands over\n{}", logs(&lab)));
    let i = lab.vipctl_instance(A);
    assert_eq!(
        (i["state"].as_str(), i["maintenance"].as_bool()),
        (Some("BACKUP"), Some(true))
    );
    assert!(
        lab.vipctl(A, &["status"])
            .stdout
            .contains("[maintenance: stays backup]")
    );

    // A reload that restarts the instance (priority changed) keeps maintenance.
    lab.write_conf(A, &conf.replace("priority 100", "priority 110"));
    let r = lab.vipctl(A, &["reload"]);
    assert!(r.code == 0 && r.stdout.contains("restarted  VI_1"), "{r:?}");
    std::thread::sleep(secs(5));
    let i = lab.vipctl_instance(A);
    assert_eq!(i["maintenance"], true, "{i}");
    assert_eq!(i["priority"], 110);
    assert_eq!(
        lab.vip_holders(),
        vec![B],
        "a higher priority in maintenance does not preempt"
    );

    // Even with nobody else left, it stays backup.
    let _ = lab.stop_term(B);
    std::thread::sleep(secs(6));
    assert!(lab.vip_holders().is_empty(), "{}", logs(&lab));
    assert_eq!(state(&lab, A), "BACKUP");

    let r = lab.vipctl(A, &["maint", "off"]);
    assert_eq!(r.code, 0, "{r:?}");
    wait_for(|| lab.holds_vip(A), secs(10))
        .unwrap_or_else(|| panic!("maint off: elections as usual\n{}", logs(&lab)));
}

#[test]
fn only_root_or_the_socket_group_may_change_state() {
    let mut lab = Lab::setup("perm", 2);
    let conf = lab.pair_conf(A, &PairOpts::default());
    // `daemon` (gid 1) exists on every Debian system.
    elect(&mut lab, Kind::Vipd, &conf, &["--socket-group", "daemon"]);
    let sock = lab.socket_path(A);
    let meta = std::fs::metadata(&sock).expect("socket");
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), 1, "socket group");
    // Let `nobody` reach the directory.
    std::fs::set_permissions(lab.lab_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let nobody: &[&str] = &["--reuid", "65534", "--regid", "65534", "--clear-groups"];
    let in_group: &[&str] = &["--reuid", "65534", "--regid", "65534", "--groups", "1"];

    let r = lab.vipctl_as(A, Some(nobody), &["status"]);
    assert_eq!(r.code, 3, "mode 0660 keeps others out: {r:?}");
    assert!(
        r.stderr.contains(&sock.display().to_string()),
        "{}",
        r.stderr
    );

    // The operator widens read access (an ACL would do the same): reads work, control not.
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let r = lab.vipctl_as(A, Some(nobody), &["status", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("\"MASTER\""));
    for args in [&["handover"][..], &["reload"], &["maint", "on"]] {
        let r = lab.vipctl_as(A, Some(nobody), args);
        assert_eq!(r.code, 4, "{args:?} must be refused: {r:?}");
        assert!(
            r.stderr.contains("permission denied") && r.stderr.contains("daemon"),
            "{}",
            r.stderr
        );
    }
    assert!(lab.holds_vip(A), "nothing changed");
    assert!(lab.log(A).contains("refused"), "refusals are logged");

    // A member of the group (supplementary) may.
    let r = lab.vipctl_as(A, Some(in_group), &["maint", "off"]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = lab.vipctl_as(A, Some(in_group), &["handover"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(lab.holds_vip(B));
}

fn sample<'a>(
    scrape: &'a prometheus_parse::Scrape,
    metric: &str,
    labels: &[(&str, &str)],
) -> &'a prometheus_parse::Sample {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no {metric}{labels:?} in the page"))
}

fn value(s: &prometheus_parse::Sample) -> f64 {
    match s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        _ => panic!("{} is not a single value", s.metric),
    }
}

#[test]
fn metrics_page_parses_and_matches_status() {
    let mut lab = Lab::setup("metrics", 2);
    let conf = conf_a_with_globals(&lab, "    metrics_listen 127.0.0.1:9650\n");
    elect(&mut lab, Kind::Vipd, &conf, &[]);
    std::thread::sleep(secs(2));
    let response = lab.http_get(A, "127.0.0.1:9650", "/metrics");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("openmetrics-text"), "{head}");
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
        .expect("the page parses");
    let me = [("name", INSTANCE), ("intf", "eth0"), ("vrid", "51")];
    assert_eq!(
        value(sample(&scrape, "keepalived_vrrp_state", &me)),
        2.0,
        "MASTER"
    );
    assert_eq!(value(sample(&scrape, "keepalived_up", &[])), 1.0);
    assert_eq!(value(sample(&scrape, "vipd_vrrp_priority", &me)), 100.0);
    assert_eq!(
        value(sample(&scrape, "vipd_vrrp_effective_priority", &me)),
        100.0
    );
    assert!(value(sample(&scrape, "keepalived_vrrp_advert_sent_total", &me)) >= 1.0);
    assert_eq!(
        value(sample(&scrape, "keepalived_vrrp_become_master_total", &me)),
        1.0
    );
    assert_eq!(
        value(sample(&scrape, "vipd_vrrp_garps_sent_total", &me)),
        5.0
    );
    assert!(value(sample(&scrape, "vipd_vrrp_transitions_total", &me)) >= 2.0);
    assert_eq!(
        value(sample(&scrape, "keepalived_vrrp_auth_failure_total", &me)),
        0.0
    );
    let vip = format!("{}/32", lab.vip());
    let present = [("name", INSTANCE), ("vip", vip.as_str()), ("dev", "eth0")];
    assert_eq!(
        value(sample(&scrape, "vipd_vrrp_vip_present", &present)),
        1.0
    );
    // The page agrees with vipctl.
    let status = lab.vipctl_instance(A);
    let sent = status["counters"]["adverts_sent"].as_f64().unwrap();
    let scraped = value(sample(&scrape, "keepalived_vrrp_advert_sent_total", &me));
    assert!((scraped - sent).abs() <= 2.0, "{scraped} vs {sent}");

    let other = lab.http_get(A, "127.0.0.1:9650", "/");
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");

    // Moving the page on reload: the new address answers.
    lab.write_conf(A, &conf.replace("127.0.0.1:9650", "127.0.0.1:9651"));
    let r = lab.vipctl(A, &["reload"]);
    assert_eq!(r.code, 0, "{r:?}");
    let moved = lab.http_get(A, "127.0.0.1:9651", "/metrics");
    assert!(moved.starts_with("HTTP/1.1 200"), "{moved}");
}
