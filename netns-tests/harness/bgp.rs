//! The BGP lab (docs/bgp.md): a router namespace running BIRD (AS 65000) with one eBGP session
//! to each of two hosts, each host on its own veth to the router and in its own subnet (a
//! routed fabric, no shared L2), each running BIRD (AS 65001, BFD 100 ms x 3) and nginx
//! answering its own name (`h1`, `h2`) on port 80, and a client namespace behind the router.
//!
//! Subnets, all inside the lab: h1 10.241.1.0/24, h2 10.241.2.0/24, client 10.241.9.0/24, the
//! VIP 10.99.0.10. Hosts route the client's subnet through the router, the client routes the
//! VIP through it; nothing has a default route. BIRD runs the shipped `conf/bird/host.conf`
//! and `conf/bird/router-example.conf` with only their `define` lines (and the BFD and hold
//! timer switches) rewritten, so the tests check the files users copy.
//!
//! vipd runs on a host as a separate process; [`BgpLab::announce`] does by hand what its
//! route_instance does (VIP on lo, route in table 200, proto 220). Dropping the lab (also while
//! unwinding from a panic) kills every process it started, by process-group id, and deletes
//! its namespaces.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::http_probe::{Probe, ProbeOpts};
use super::proc::{self, Registry};
use super::{ip, netns_usable, run, vipd_bin, wait_for};

/// The VIP every scenario serves.
pub const VIP: &str = "10.99.0.10";
/// Host h1's index.
pub const H1: usize = 0;
/// Host h2's index.
pub const H2: usize = 1;
/// vipd's routing protocol number in the kernel.
pub const PROTO: &str = "220";

/// BGP liveness of the lab's sessions (both sides).
#[derive(Clone, Copy, Debug)]
pub struct Timers {
    /// BFD at 100 ms x 3 on every session.
    pub bfd: bool,
    /// BGP hold time in seconds (what decides without BFD).
    pub hold_s: u32,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            bfd: true,
            hold_s: 9,
        }
    }
}

/// One BGP lab; see the module doc.
pub struct BgpLab {
    prefix: String,
    /// Configs, sockets and logs; kept (and named) when a test panics.
    dir: Option<tempfile::TempDir>,
    namespaces: Vec<String>,
    registry: Registry,
    /// The three BIRDs (router, h1, h2): they live as long as the lab.
    birds: Vec<Child>,
    nginx: [Option<Child>; 2],
    vipd: [Option<Child>; 2],
}

/// A host's address on its link to the router.
pub fn host_addr(host: usize) -> String {
    format!("10.241.{}.1", host + 1)
}

/// The router's address on its link to `host`.
fn uplink_addr(host: usize) -> String {
    format!("10.241.{}.254", host + 1)
}

/// The shipped BIRD config `name` (conf/bird/NAME) with each `define KEY = ...;` line of
/// `defines` replaced, and BFD and the hold time set from `timers`.
fn bird_conf(name: &str, defines: &[(&str, String)], timers: Timers) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("conf/bird")
        .join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Protocol state changes into the lab's log, for failure messages (a default for the
    // protocols that follow, so first).
    let mut out = String::from("log stderr all;\ndebug protocols { states };\n");
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let define = defines
            .iter()
            .find(|(k, _)| trimmed.starts_with(&format!("define {k} = ")));
        let line = if let Some((k, v)) = define {
            format!("define {k} = {v};")
        } else if trimmed.starts_with("bfd on;") {
            format!("{indent}bfd {};", if timers.bfd { "on" } else { "off" })
        } else if trimmed.starts_with("hold time ") {
            format!("{indent}hold time {};", timers.hold_s)
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

impl BgpLab {
    /// Builds the lab, starts the three BIRDs and both nginx, and waits (20 s) until both
    /// sessions are established. Without root it panics (a skipped test would count as ok).
    pub fn setup(name: &str, timers: Timers) -> BgpLab {
        if let Err(why) = netns_usable() {
            panic!("netns tests need root and a working `ip netns`: {why}");
        }
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("vg{}x{n}", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}-{name}-"))
            .tempdir()
            .expect("create lab directory");
        let mut lab = BgpLab {
            prefix,
            dir: Some(dir),
            namespaces: Vec::new(),
            registry: Arc::new(Mutex::new(Default::default())),
            birds: Vec::new(),
            nginx: [None, None],
            vipd: [None, None],
        };
        lab.build(timers);
        lab.wait_established(Duration::from_secs(20));
        lab
    }

    /// The namespace of `who` (`r`, `h1`, `h2`, `cl`).
    pub fn ns(&self, who: &str) -> String {
        format!("{}-{who}", self.prefix)
    }

    /// Host `host`'s namespace.
    pub fn host_ns(&self, host: usize) -> String {
        self.ns(&format!("h{}", host + 1))
    }

    /// The lab's directory.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("lab dir").path()
    }

    fn add_ns(&mut self, who: &str) {
        let ns = self.ns(who);
        ip(&["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
    }

    /// A veth from the router (`r_if`, `r_addr`/24) to `who`'s eth0 (`addr`/24).
    fn link(&self, r_if: &str, who: &str, r_addr: &str, addr: &str) {
        let (r, other) = (self.ns("r"), self.ns(who));
        ip(&[
            "-n", &r, "link", "add", r_if, "type", "veth", "peer", "name", "eth0", "netns", &other,
        ]);
        ip(&[
            "-n",
            &r,
            "addr",
            "add",
            &format!("{r_addr}/24"),
            "dev",
            r_if,
        ]);
        ip(&[
            "-n",
            &other,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &r, "link", "set", r_if, "up"]);
        ip(&["-n", &other, "link", "set", "eth0", "up"]);
    }

    fn build(&mut self, timers: Timers) {
        for who in ["r", "h1", "h2", "cl"] {
            self.add_ns(who);
        }
        // Policy 1 hashes ports too, so connections from one client spread over ECMP paths.
        run(Command::new("ip")
            .args(["netns", "exec", &self.ns("r"), "sysctl", "-qw"])
            .args([
                "net.ipv4.ip_forward=1",
                "net.ipv4.fib_multipath_hash_policy=1",
            ]));
        for h in [H1, H2] {
            let who = format!("h{}", h + 1);
            self.link(&format!("eth-{who}"), &who, &uplink_addr(h), &host_addr(h));
            // To the client, and to the other host (unicast VRRP in the VRRP-driven mode).
            let other = format!("10.241.{}.0/24", 2 - h);
            for net in ["10.241.9.0/24", other.as_str()] {
                ip(&[
                    "-n",
                    &self.host_ns(h),
                    "route",
                    "add",
                    net,
                    "via",
                    &uplink_addr(h),
                ]);
            }
        }
        self.link("eth-cl", "cl", "10.241.9.254", "10.241.9.1");
        ip(&[
            "-n",
            &self.ns("cl"),
            "route",
            "add",
            &format!("{VIP}/32"),
            "via",
            "10.241.9.254",
        ]);
        let router = bird_conf(
            "router-example.conf",
            &[
                ("ROUTER_ID", "10.241.9.254".into()),
                ("H1", host_addr(H1)),
                ("H2", host_addr(H2)),
            ],
            timers,
        );
        self.start_bird("r", &router);
        for h in [H1, H2] {
            let conf = bird_conf(
                "host.conf",
                &[("HOST_ADDR", host_addr(h)), ("UPLINK", uplink_addr(h))],
                timers,
            );
            self.start_bird(&format!("h{}", h + 1), &conf);
            self.start_nginx(h);
        }
    }

    fn spawn(&self, ns: &str, argv: &[&str], log: &Path) -> Child {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open log");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        proc::spawn_group(&self.registry, &mut cmd)
            .unwrap_or_else(|e| panic!("cannot start {argv:?} in {ns}: {e}"))
    }

    fn start_bird(&mut self, who: &str, conf: &str) {
        let d = self.dir().to_path_buf();
        let conf_path = d.join(format!("{who}.bird.conf"));
        fs::write(&conf_path, conf).expect("write bird config");
        let argv = [
            "bird".to_string(),
            "-f".into(),
            "-c".into(),
            conf_path.display().to_string(),
            "-s".into(),
            self.bird_socket(who).display().to_string(),
            "-P".into(),
            d.join(format!("{who}.bird.pid")).display().to_string(),
        ];
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let child = self.spawn(&self.ns(who), &argv, &d.join(format!("{who}.bird.log")));
        self.birds.push(child);
    }

    fn bird_socket(&self, who: &str) -> PathBuf {
        self.dir().join(format!("{who}.ctl"))
    }

    /// `birdc` on `who`'s BIRD (`r`, `h1`, `h2`); its output, empty when it failed.
    pub fn birdc(&self, who: &str, cmd: &str) -> String {
        let out = Command::new("timeout")
            .arg("5")
            .arg("birdc")
            .arg("-s")
            .arg(self.bird_socket(who))
            .args(cmd.split_whitespace())
            .stdin(Stdio::null())
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Waits until the router's sessions to both hosts are established.
    pub fn wait_established(&self, timeout: Duration) -> Duration {
        wait_for(
            || {
                let out = self.birdc("r", "show protocols");
                out.lines().filter(|l| l.contains("Established")).count() == 2
            },
            timeout,
        )
        .unwrap_or_else(|| {
            panic!(
                "BGP sessions not established within {timeout:?}:\n{}\n{}",
                self.birdc("r", "show protocols"),
                self.logs()
            )
        })
    }

    /// The name nginx runs under on `host`: a copy of the binary with a name of its own, so
    /// that vipd's `track_process` on one host does not count the other host's (or another
    /// test's) nginx: /proc is shared by every network namespace.
    pub fn nginx_name(&self, host: usize) -> String {
        // At most 15 bytes: what the kernel keeps as a process's name.
        let tag = self.prefix.trim_start_matches("vg");
        let name = format!("n{tag}h{}", host + 1);
        name[name.len().saturating_sub(15)..].to_string()
    }

    /// Starts nginx on `host`, answering `hN` on port 80 (any address, so also the VIP).
    pub fn start_nginx(&mut self, host: usize) {
        assert!(
            self.nginx[host].is_none(),
            "nginx already runs on h{}",
            host + 1
        );
        let d = self.dir().join(format!("h{}.nginx", host + 1));
        fs::create_dir_all(&d).expect("nginx dir");
        let bin = d.join(self.nginx_name(host));
        if !bin.exists() {
            fs::copy("/usr/sbin/nginx", &bin)
                .expect("copy /usr/sbin/nginx (apt-get install nginx-light)");
        }
        let dd = d.display();
        let conf = format!(
            "worker_processes 1;\npid {dd}/nginx.pid;\nerror_log {dd}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n    access_log off;\n    client_body_temp_path {dd}; proxy_temp_path {dd};\n\
             \x20   fastcgi_temp_path {dd}; uwsgi_temp_path {dd}; scgi_temp_path {dd};\n\
             \x20   server {{ listen 80; location / {{ return 200 \"h{}\\n\"; }} }}\n}}\n",
            host + 1
        );
        fs::write(d.join("nginx.conf"), conf).expect("write nginx.conf");
        let argv = [
            bin.display().to_string(),
            "-p".into(),
            d.display().to_string(),
            "-c".into(),
            d.join("nginx.conf").display().to_string(),
            "-g".into(),
            "daemon off;".into(),
        ];
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let child = self.spawn(&self.host_ns(host), &argv, &d.join("out.log"));
        self.nginx[host] = Some(child);
        let ns = self.host_ns(host);
        wait_for(
            || {
                Command::new("ip")
                    .args(["netns", "exec", &ns, "curl", "-s", "-m", "1"])
                    .arg(format!("http://{}/", host_addr(host)))
                    .output()
                    .is_ok_and(|o| o.stdout.starts_with(b"h"))
            },
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("nginx on h{} does not answer", host + 1));
    }

    /// SIGKILLs nginx on `host` (master and worker: its process group).
    pub fn kill_nginx(&mut self, host: usize) {
        let child = self.nginx[host].take().expect("nginx not running");
        proc::kill_group_and_reap(&self.registry, child);
    }

    /// What vipd's route_instance does on `host` while healthy, by hand: the VIP on lo and
    /// `VIP/32 dev lo table 200 proto 220 metric METRIC`. A new metric is a new route (the
    /// metric is part of a route's key), so a change adds it before deleting the old one.
    pub fn announce(&self, host: usize, metric: u32) {
        let ns = self.host_ns(host);
        ip(&[
            "-n",
            &ns,
            "addr",
            "replace",
            &format!("{VIP}/32"),
            "dev",
            "lo",
        ]);
        let m = metric.to_string();
        ip(&[
            "-n", &ns, "route", "replace", VIP, "dev", "lo", "table", "200", "proto", PROTO,
            "metric", &m,
        ]);
        for old in self.host_metrics(host).into_iter().filter(|&o| o != metric) {
            let o = old.to_string();
            ip(&[
                "-n", &ns, "route", "del", VIP, "table", "200", "proto", PROTO, "metric", &o,
            ]);
        }
    }

    /// Deletes `host`'s table-200 routes to the VIP (the address stays).
    pub fn withdraw(&self, host: usize) {
        while self.host_metric(host).is_some() {
            ip(&[
                "-n",
                &self.host_ns(host),
                "route",
                "del",
                VIP,
                "table",
                "200",
                "proto",
                PROTO,
            ]);
        }
    }

    /// The metric of `host`'s table-200 route to the VIP, if there is one (the lowest).
    pub fn host_metric(&self, host: usize) -> Option<u32> {
        self.host_metrics(host).into_iter().min()
    }

    /// The metrics of every table-200 route to the VIP on `host` (none while the kernel has
    /// no table 200 at all: it exists from its first route on).
    pub fn host_metrics(&self, host: usize) -> Vec<u32> {
        let out = Command::new("ip")
            .args([
                "-n",
                &self.host_ns(host),
                "route",
                "show",
                "table",
                "200",
                VIP,
            ])
            .output()
            .expect("run ip");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                words.find(|w| *w == "metric")?;
                words.next()?.parse().ok()
            })
            .collect()
    }

    /// True when `host` holds the VIP on lo.
    pub fn holds_vip(&self, host: usize) -> bool {
        let out = ip(&["-n", &self.host_ns(host), "-o", "addr", "show", "dev", "lo"]);
        out.contains(&format!(" {VIP}/32 "))
    }

    /// The hosts the router's kernel route to the VIP leads to (two for ECMP), sorted.
    pub fn router_nexthops(&self) -> Vec<usize> {
        let out = ip(&["-n", &self.ns("r"), "route", "show", VIP]);
        [H1, H2]
            .into_iter()
            .filter(|&h| out.contains(&format!("via {} ", host_addr(h))))
            .collect()
    }

    /// The MED of the route to the VIP the router has from `host`, if it has one.
    pub fn med_from(&self, host: usize) -> Option<u32> {
        let out = self.birdc(
            "r",
            &format!("show route all {VIP}/32 protocol h{}", host + 1),
        );
        let at = out.find("BGP.med: ")? + "BGP.med: ".len();
        out[at..].split_whitespace().next()?.parse().ok()
    }

    /// Drops every packet in and out of `host`'s eth0 (nftables in the host): the link stays
    /// up, so only BFD or the hold timer can notice.
    pub fn cut(&self, host: usize) {
        super::nft_in(
            &self.host_ns(host),
            "add table inet vgcut\n\
             add chain inet vgcut in { type filter hook input priority -300; }\n\
             add chain inet vgcut out { type filter hook output priority -300; }\n\
             add rule inet vgcut in iifname \"eth0\" drop\n\
             add rule inet vgcut out oifname \"eth0\" drop\n",
        );
    }

    /// Undoes [`BgpLab::cut`].
    pub fn heal(&self, host: usize) {
        super::nft_in(&self.host_ns(host), "delete table inet vgcut\n");
    }

    /// Starts vipd on `host` with keepalived.conf text `conf`; panics with its log when it is
    /// gone 300 ms later.
    pub fn start_vipd(&mut self, host: usize, conf: &str) {
        assert!(
            self.vipd[host].is_none(),
            "vipd already runs on h{}",
            host + 1
        );
        let tag = format!("h{}", host + 1);
        let conf_path = self.dir().join(format!("{tag}.vipd.conf"));
        fs::write(&conf_path, conf).expect("write vipd config");
        let sock = self.dir().join(format!("{tag}.sock"));
        let _ = fs::remove_file(&sock);
        let log = self.dir().join(format!("{tag}.vipd.log"));
        let argv = [
            vipd_bin().display().to_string(),
            "--config".into(),
            conf_path.display().to_string(),
            "--socket".into(),
            sock.display().to_string(),
        ];
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut cmd = Command::new("ip");
        let lf = fs::File::create(&log).expect("vipd log");
        cmd.args(["netns", "exec", &self.host_ns(host)])
            .args(&argv)
            .env(
                "VIPD_LOG",
                std::env::var("VIPD_LOG").unwrap_or("debug".into()),
            )
            .stdin(Stdio::null())
            .stdout(lf.try_clone().expect("dup log"))
            .stderr(lf);
        let child = proc::spawn_group(&self.registry, &mut cmd).expect("start vipd");
        std::thread::sleep(Duration::from_millis(300));
        if proc::has_exited(&child) {
            let status = proc::kill_group_and_reap(&self.registry, child);
            panic!(
                "vipd on {tag} exited within 300 ms ({status}):\n{}",
                tail(&log, 30)
            );
        }
        self.vipd[host] = Some(child);
    }

    /// Runs `vipctl --socket <host's socket> ARGS...` and returns its stdout; panics when it
    /// fails.
    pub fn vipctl(&self, host: usize, args: &[&str]) -> String {
        let sock = self.dir().join(format!("h{}.sock", host + 1));
        run(Command::new("timeout")
            .arg("5")
            .arg(super::vipctl_bin())
            .arg("--socket")
            .arg(sock)
            .args(args))
    }

    /// SIGTERM to vipd on `host` (not waited for); see [`BgpLab::wait_vipd_exit`].
    pub fn term_vipd(&self, host: usize) {
        let child = self.vipd[host].as_ref().expect("vipd not running");
        proc::signal_leader(child, Signal::SIGTERM);
    }

    /// Waits (20 s) for vipd on `host` to exit after [`BgpLab::term_vipd`], and reaps it.
    pub fn wait_vipd_exit(&mut self, host: usize) -> Duration {
        let start = Instant::now();
        let child = self.vipd[host].take().expect("vipd not running");
        let exited = proc::wait_exit(&child, Duration::from_secs(20));
        proc::kill_group_and_reap(&self.registry, child);
        assert!(
            exited,
            "vipd on h{} ignored SIGTERM\n{}",
            host + 1,
            self.logs()
        );
        start.elapsed()
    }

    /// A client loop of HTTP requests to the VIP (see [`Probe`]).
    pub fn probe(&self, opts: ProbeOpts) -> Probe {
        let addr: SocketAddr = format!("{VIP}:80").parse().expect("VIP address");
        Probe::start(format!("/var/run/netns/{}", self.ns("cl")), addr, opts)
    }

    /// Waits until every request of a short probe (20 requests) is answered by a host in
    /// `hosts`; panics after `timeout`.
    pub fn wait_served_by(&self, hosts: &[usize], timeout: Duration) {
        let opts = ProbeOpts {
            every: Duration::from_millis(5),
            timeout: Duration::from_millis(500),
            max: Duration::from_secs(5),
        };
        let ok = wait_for(
            || {
                let p = self.probe(opts);
                std::thread::sleep(Duration::from_millis(150));
                let s = p.finish();
                s.failures() == 0
                    && !s.0.is_empty()
                    && s.0
                        .iter()
                        .all(|x| x.host.is_some_and(|h| hosts.contains(&h)))
            },
            timeout,
        );
        assert!(
            ok.is_some(),
            "the client is not served by {hosts:?} within {timeout:?}; router route {:?}\n{}",
            self.router_nexthops(),
            self.logs()
        );
    }

    /// The tails of every BIRD and vipd log, and the router's routes, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = format!(
            "--- router: ip route show {VIP}: {}",
            ip(&["-n", &self.ns("r"), "route", "show", VIP])
        );
        for who in ["r", "h1", "h2"] {
            let p = self.dir().join(format!("{who}.bird.log"));
            s.push_str(&format!("--- {who} bird ---\n{}\n", tail(&p, 12)));
        }
        for h in ["h1", "h2"] {
            let p = self.dir().join(format!("{h}.vipd.log"));
            if p.exists() {
                s.push_str(&format!("--- {h} vipd ---\n{}\n", tail(&p, 20)));
            }
        }
        s
    }
}

fn tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Drop for BgpLab {
    fn drop(&mut self) {
        for child in self
            .vipd
            .iter_mut()
            .chain(self.nginx.iter_mut())
            .filter_map(Option::take)
            .chain(self.birds.drain(..))
            .collect::<Vec<_>>()
        {
            proc::kill_group_and_reap(&self.registry, child);
        }
        proc::kill_all(&self.registry);
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            eprintln!(
                "bgp lab {} failed; kept {}",
                self.prefix,
                dir.keep().display()
            );
        }
    }
}
