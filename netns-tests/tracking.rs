//! Health tracking in network namespaces: each host runs a small HTTP server as its "nginx"
//! and tracks it; killing it on the master moves the VIP, bringing it back returns it.
//! Notify scripts log their arguments; sync groups move together; files and processes demote;
//! a FIFO at a tracked path does not freeze the master.
//! Needs root (see `harness`); never skips.

mod harness;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::{Kind, Lab, PairOpts, epoch_now, measure, vipctl_bin, wait_for};

const A: usize = 0;
const B: usize = 1;
const PORT: u16 = 8080;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A web root saying which host answers, and the server on it.
fn start_web(lab: &Lab, host: usize) -> Child {
    let root = lab.dir().join(format!("www-h{}", host + 1));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("index.html"), format!("h{}\n", host + 1)).unwrap();
    let root = root.to_string_lossy().into_owned();
    let port = PORT.to_string();
    let web = lab.spawn_service(
        host,
        &[
            "/usr/bin/python3",
            "-m",
            "http.server",
            &port,
            "--bind",
            "0.0.0.0",
            "--directory",
            &root,
        ],
    );
    let url = format!("http://{}:{PORT}/", lab.host_addr(host));
    wait_for(
        || {
            lab.client_output(&["curl", "-sf", "--max-time", "1", &url])
                .is_some()
        },
        secs(10),
    )
    .unwrap_or_else(|| panic!("web server on h{} did not come up", host + 1));
    web
}

/// Which host answers on VIP:PORT now, if any.
fn vip_answer(lab: &Lab) -> Option<String> {
    let url = format!("http://{}:{PORT}/", lab.vip());
    lab.client_output(&["curl", "-s", "--max-time", "0.3", &url])
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// A notify script that appends its arguments, with a timestamp, to `notify-hN.log`.
fn notify_script(lab: &Lab, host: usize) -> String {
    let log = lab.dir().join(format!("notify-h{}.log", host + 1));
    let path = lab.dir().join(format!("notify-h{}.sh", host + 1));
    std::fs::write(
        &path,
        format!("#!/bin/sh\necho \"$*\" >> {}\n", log.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_string_lossy().into_owned()
}

fn notify_log(lab: &Lab, host: usize) -> Vec<String> {
    std::fs::read_to_string(lab.dir().join(format!("notify-h{}.log", host + 1)))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// [`notify_log`] once it has `want` lines (5 s at most; then as it is, for the assertion).
fn settled_notify_log(lab: &Lab, host: usize, want: usize) -> Vec<String> {
    let _ = wait_for(|| notify_log(lab, host).len() >= want, secs(5));
    notify_log(lab, host)
}

/// The pair's config plus the given global blocks, and `instance_extra` inside the instance.
fn conf_with(lab: &Lab, host: usize, globals: &str, instance_extra: &str) -> String {
    let base = lab.pair_conf(host, &PairOpts::default());
    let marker = "    virtual_ipaddress {";
    assert!(base.contains(marker), "pair config changed shape:\n{base}");
    format!(
        "{globals}\n{}",
        base.replacen(marker, &format!("{instance_extra}\n{marker}"), 1)
    )
}

/// The check users write: nginx answers on loopback. interval 1, fall 2, weight -20.
fn web_check_conf(lab: &Lab, host: usize) -> String {
    let globals = format!(
        "vrrp_script chk_web {{\n    script \"/usr/bin/curl -sf --max-time 0.5 \
         http://127.0.0.1:{PORT}/\"\n    interval 1\n    timeout 1\n    fall 2\n    rise 1\n    \
         weight -20\n}}\n"
    );
    let notify = notify_script(lab, host);
    let extra = format!("    track_script {{\n        chk_web\n    }}\n    notify {notify}\n");
    conf_with(lab, host, &globals, &extra)
}

fn logs(lab: &Lab) -> String {
    format!(
        "--- h1 ---\n{}\n--- h2 ---\n{}",
        lab.log_tail(A, 40),
        lab.log_tail(B, 40)
    )
}

/// Kill nginx on the master: the VIP answers from the backup; bring it back: it returns.
fn killed_service_moves_vip(a: Kind, b: Kind) -> f64 {
    let mut lab = Lab::setup("track", 2);
    let web_a = start_web(&lab, A);
    let web_b = start_web(&lab, B);
    lab.start(A, a, &web_check_conf(&lab, A));
    lab.start(B, b, &web_check_conf(&lab, B));
    wait_for(|| vip_answer(&lab).as_deref() == Some("h1"), secs(15))
        .unwrap_or_else(|| panic!("VIP never answered from h1\n{}", logs(&lab)));

    let killed = epoch_now();
    lab.kill_service(web_a);
    wait_for(|| vip_answer(&lab).as_deref() == Some("h2"), secs(20))
        .unwrap_or_else(|| panic!("VIP did not move to h2\n{}", logs(&lab)));
    let took = epoch_now() - killed;
    assert!(!lab.holds_vip(A), "h1 kept the VIP\n{}", logs(&lab));

    let web_a = start_web(&lab, A);
    wait_for(|| vip_answer(&lab).as_deref() == Some("h1"), secs(20))
        .unwrap_or_else(|| panic!("VIP did not return to h1 (preempt)\n{}", logs(&lab)));
    measure(&format!("{a}+{b} service_kill_to_backup_s={took:.2}"));
    lab.kill_service(web_a);
    lab.kill_service(web_b);

    if a == Kind::Vipd {
        // The scripts run after each transition: the last may still be on its way.
        let log = settled_notify_log(&lab, A, 4);
        assert_eq!(
            log,
            [
                "INSTANCE VI_1 BACKUP 100",
                "INSTANCE VI_1 MASTER 100",
                "INSTANCE VI_1 BACKUP 80",
                "INSTANCE VI_1 MASTER 100",
            ],
            "h1's notify calls, in order, with keepalived's arguments\n{}",
            logs(&lab)
        );
        let status = lab.vipctl_instance(A);
        assert_eq!(status["effective_priority"], 100);
        assert_eq!(status["tracks"][0]["name"], "check chk_web");
        assert_eq!(status["tracks"][0]["ok"], true);
    }
    if b == Kind::Vipd {
        let log = settled_notify_log(&lab, B, 3);
        assert_eq!(
            log,
            [
                "INSTANCE VI_1 BACKUP 90",
                "INSTANCE VI_1 MASTER 90",
                "INSTANCE VI_1 BACKUP 90",
            ],
            "h2's notify calls\n{}",
            logs(&lab)
        );
    }
    took
}

/// Detection (interval 1 x fall 2 = 2 s at most) + the backup's Skew_Time (0.65 s) + 0.2 s,
/// plus the 0.3 s between two of the client's requests. A pair of keepalived nodes needs
/// 4.7 s here: its backup waits a whole Master_Down_Interval.
const FAST_MOVE_S: f64 = 2.0 + 0.65 + 0.2 + 0.3;

#[test]
fn vipd_vipd_killed_service_moves_vip() {
    let took = killed_service_moves_vip(Kind::Vipd, Kind::Vipd);
    assert!(took < FAST_MOVE_S, "took {took:.2} s");
}

/// keepalived ignores lower-priority adverts: vipd's resign (priority 0) is what moves it.
#[test]
fn vipd_ka_killed_service_moves_vip() {
    let took = killed_service_moves_vip(Kind::Vipd, Kind::Keepalived);
    assert!(took < FAST_MOVE_S, "took {took:.2} s");
}

#[test]
fn ka_vipd_killed_service_moves_vip() {
    let took = killed_service_moves_vip(Kind::Keepalived, Kind::Vipd);
    assert!(took < FAST_MOVE_S, "took {took:.2} s");
}

/// `echo 1 > maint` on the master (weight -50): it steps down; `echo 0`: it takes over again.
#[test]
fn maintenance_file_demotes() {
    let mut lab = Lab::setup("maint", 2);
    let maint = lab.dir().join("maint-h1");
    let globals = format!(
        "vrrp_track_file maint {{\n    file {}\n    weight -50\n}}\n",
        maint.display()
    );
    lab.start(
        A,
        Kind::Vipd,
        &conf_with(
            &lab,
            A,
            &globals,
            "    track_file {\n        maint\n    }\n",
        ),
    );
    lab.start(B, Kind::Vipd, &lab.pair_conf(B, &PairOpts::default()));
    wait_for(|| lab.holds_vip(A), secs(15)).expect("h1 becomes master");
    std::fs::write(&maint, "1\n").unwrap();
    wait_for(|| lab.holds_vip(B) && !lab.holds_vip(A), secs(10))
        .unwrap_or_else(|| panic!("maintenance file did not demote h1\n{}", logs(&lab)));
    assert_eq!(lab.vipctl_instance(A)["effective_priority"], 50);
    std::fs::write(&maint, "0\n").unwrap();
    wait_for(|| lab.holds_vip(A) && !lab.holds_vip(B), secs(15))
        .unwrap_or_else(|| panic!("h1 did not take the VIP back\n{}", logs(&lab)));
}

/// `adverts_sent` of the vipd on `host`, or `None` when it does not answer within 1 s.
fn adverts_sent(lab: &Lab, host: usize) -> Option<u64> {
    let out = Command::new("timeout")
        .arg("1")
        .arg(vipctl_bin())
        .arg("--socket")
        .arg(lab.socket_path(host))
        .args(["status", "--json"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    status["instances"][0]["counters"]["adverts_sent"].as_u64()
}

/// The master's tracked file is replaced by a FIFO nobody writes: reading it must not hold
/// vipd. For 8 s the backup (keepalived, priority 90) never takes the VIP and the master
/// (priority 100) advertises every second; then SIGTERM still ends it within 2 s.
#[test]
fn fifo_at_tracked_path_does_not_freeze_master() {
    let mut lab = Lab::setup("fifo", 2);
    let maint = lab.dir().join("maint-h1");
    std::fs::write(&maint, "0\n").unwrap();
    let globals = format!(
        "vrrp_track_file maint {{\n    file {}\n}}\n",
        maint.display()
    );
    let track = "    track_file {\n        maint weight -50\n    }\n";
    lab.start(A, Kind::Vipd, &conf_with(&lab, A, &globals, track));
    lab.start(B, Kind::Keepalived, &lab.pair_conf(B, &PairOpts::default()));
    wait_for(|| lab.holds_vip(A), secs(15)).expect("h1 becomes master");

    std::fs::remove_file(&maint).unwrap();
    nix::unistd::mkfifo(&maint, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let replaced = Instant::now();
    // (seconds since the FIFO, adverts sent) for every answer; when the backup held the VIP.
    let mut adverts = Vec::new();
    let mut backup_took = None;
    let mut no_answer = 0;
    while replaced.elapsed() < secs(8) {
        let at = replaced.elapsed().as_secs_f64();
        if backup_took.is_none() && lab.holds_vip(B) {
            backup_took = Some(at);
        }
        match adverts_sent(&lab, A) {
            Some(n) => adverts.push((at, n)),
            None => no_answer += 1,
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    if let Some(at) = backup_took {
        panic!(
            "the backup took the VIP {at:.1} s after the FIFO replaced the file\n{}",
            logs(&lab)
        );
    }
    assert_eq!(no_answer, 0, "h1 stopped answering vipctl\n{}", logs(&lab));
    // The longest stretch with no new advert, as the samples see it.
    let mut silent: f64 = 0.0;
    let mut since = adverts[0];
    for &(at, n) in &adverts[1..] {
        if n != since.1 {
            silent = silent.max(at - since.0);
            since = (at, n);
        }
    }
    silent = silent.max(adverts[adverts.len() - 1].0 - since.0);
    let sent = adverts[adverts.len() - 1].1 - adverts[0].1;
    assert!(
        silent < 1.6 && sent >= 6,
        "adverts lost their rhythm: {sent} in 8 s, {silent:.2} s without one\n{}",
        logs(&lab)
    );
    let inst = lab.vipctl_instance(A);
    assert_eq!(inst["effective_priority"], 100, "a FIFO reads as 0: {inst}");
    assert_eq!(
        inst["tracks"][0]["detail"], "a FIFO with nothing written to it (reads as 0)",
        "{inst}"
    );

    let (status, took) = lab.stop_term(A);
    assert!(
        took < secs(2) && status.success(),
        "h1 took {:.2} s to exit after SIGTERM ({status})",
        took.as_secs_f64()
    );
    measure(&format!(
        "fifo adverts_in_8s={sent} longest_silence_s={silent:.2} sigterm_exit_s={:.2}",
        took.as_secs_f64()
    ));
}

/// A tracked process (weight 0) gone on the master: FAULT, the VIP moves; back: it returns.
#[test]
fn tracked_process_gone_is_fault() {
    let mut lab = Lab::setup("proc", 2);
    // /proc is shared by every namespace: give h1's "service" a name of its own.
    let name = format!("svc{}", std::process::id() % 100_000);
    let bin = lab.dir().join(&name);
    std::fs::copy("/bin/sleep", &bin).unwrap();
    let bin = bin.to_string_lossy().into_owned();
    let svc = lab.spawn_service(A, &[&bin, "600"]);
    let globals = format!("vrrp_track_process svc {{\n    process {name}\n}}\n");
    lab.start(
        A,
        Kind::Vipd,
        &conf_with(
            &lab,
            A,
            &globals,
            "    track_process {\n        svc\n    }\n",
        ),
    );
    lab.start(B, Kind::Vipd, &lab.pair_conf(B, &PairOpts::default()));
    wait_for(|| lab.holds_vip(A), secs(15)).expect("h1 becomes master");
    lab.kill_service(svc);
    wait_for(|| lab.vipd_state(A).as_deref() == Some("FAULT"), secs(5))
        .unwrap_or_else(|| panic!("h1 not in FAULT\n{}", logs(&lab)));
    // It resigned with priority 0: the backup serves within its Skew_Time.
    wait_for(|| lab.holds_vip(B), secs(3)).unwrap_or_else(|| panic!("no handover\n{}", logs(&lab)));
    let svc = lab.spawn_service(A, &[&bin, "600"]);
    wait_for(|| lab.holds_vip(A) && !lab.holds_vip(B), secs(15))
        .unwrap_or_else(|| panic!("h1 did not come back\n{}", logs(&lab)));
    lab.kill_service(svc);
}

/// Two instances in a sync group: a fault in one takes the other along, on both nodes.
#[test]
fn sync_group_moves_together() {
    let mut lab = Lab::setup("sync", 2);
    let second_vip = lab.vip().replace(".100", ".101");
    let confs: Vec<String> = (0..2)
        .map(|h| {
            let base = lab.pair_conf(h, &PairOpts::default());
            let second = base
                .split("vrrp_instance")
                .nth(1)
                .expect("pair config has an instance")
                .replace("VI_1", "VI_2")
                .replace("virtual_router_id 51", "virtual_router_id 52")
                .replace(&lab.vip(), &second_vip);
            let maint = lab.dir().join(format!("fault-h{}", h + 1));
            let track = format!(
                "vrrp_track_file fault {{\n    file {}\n    weight 0\n}}\n",
                maint.display()
            );
            let second = second.replacen(
                "    virtual_ipaddress {",
                "    track_file {\n        fault\n    }\n    virtual_ipaddress {",
                1,
            );
            format!(
                "{track}{base}\nvrrp_instance{second}\nvrrp_sync_group VG {{\n    group {{\n        VI_1\n        VI_2\n    }}\n}}\n"
            )
        })
        .collect();
    lab.start(A, Kind::Vipd, &confs[0]);
    lab.start(B, Kind::Vipd, &confs[1]);
    let both_on = |h: usize| lab.has_vip(h, &lab.vip()) && lab.has_vip(h, &second_vip);
    wait_for(|| both_on(A), secs(15))
        .unwrap_or_else(|| panic!("h1 not master of both\n{}", logs(&lab)));
    std::fs::write(lab.dir().join("fault-h1"), "1\n").unwrap();
    wait_for(|| both_on(B) && !lab.has_vip(A, &lab.vip()), secs(10))
        .unwrap_or_else(|| panic!("the group did not move together\n{}", logs(&lab)));
    assert!(
        lab.log(A)
            .contains("VI_1: MASTER -> FAULT: sync group VG: VI_2 went FAULT"),
        "{}",
        logs(&lab)
    );
    std::fs::write(lab.dir().join("fault-h1"), "0\n").unwrap();
    wait_for(|| both_on(A) && !lab.has_vip(B, &lab.vip()), secs(15))
        .unwrap_or_else(|| panic!("the group did not come back together\n{}", logs(&lab)));
}
