//! A lab of network namespaces for failover tests: a switch namespace holding a bridge, N host
//! namespaces each with a veth `eth0` on that bridge, and a client namespace that plays the
//! user. Addresses live in a private /24 that exists only inside the lab; no namespace has a
//! route out and nothing is connected to the root namespace.
//!
//! Agents (`vipd` or Debian's `keepalived`) run as separate processes inside the host
//! namespaces, all from the same keepalived.conf text. Dropping the [`Lab`] (also while
//! unwinding from a panic) kills every process it started, by process-group id, and deletes
//! every namespace it made.

#![allow(dead_code)]

pub mod bgp;
pub mod conf;
pub mod ctl;
mod faults;
pub mod http_probe;
pub mod pair;
pub mod ping;
mod proc;
mod routed;

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

pub use conf::PairOpts;
pub use ping::{Pinger, epoch_now};
use proc::Registry;

/// Which agent runs on a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// This crate's `vipd` (path from `VIPD_BIN`, else the target directory).
    Vipd,
    /// Debian's `keepalived` 2.2.
    Keepalived,
}

/// The address family of a lab's VIP and of the adverts between its hosts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Family {
    /// IPv4 only (every lab has IPv4 addresses).
    #[default]
    V4,
    /// Every eth0 also has an IPv6 address (fd77:X::N/64, no DAD) and the VIP is IPv6.
    V6,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Vipd => "vipd",
            Kind::Keepalived => "ka",
        })
    }
}

/// Polls `cond` every 20 ms until it holds; `Some(elapsed)` then, `None` after `timeout`.
pub fn wait_for(mut cond: impl FnMut() -> bool, timeout: Duration) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks once per process that we are root and `ip netns` works.
fn netns_usable() -> Result<(), String> {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    CHECK
        .get_or_init(|| {
            if !nix::unistd::geteuid().is_root() {
                return Err("not running as root".into());
            }
            let probe = format!("vt{}probe", std::process::id());
            let add = Command::new("ip")
                .args(["netns", "add", &probe])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .map_err(|e| format!("cannot run `ip`: {e}"))?;
            if !add.status.success() {
                return Err(format!(
                    "`ip netns add` failed: {}",
                    String::from_utf8_lossy(&add.stderr).trim()
                ));
            }
            let _ = Command::new("ip")
                .args(["netns", "del", &probe])
                .stderr(Stdio::null())
                .status();
            Ok(())
        })
        .clone()
}

/// Where a binary of this crate is: `$ENV_VAR`, else beside the test executable's `deps/`
/// directory, else `$CARGO_TARGET_DIR/debug`, else `./target/debug`.
fn crate_bin(name: &str, env_var: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env_var) {
        return PathBuf::from(p);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(profile_dir) = exe.parent().and_then(Path::parent)
    {
        let p = profile_dir.join(name);
        if p.exists() {
            return p;
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("debug").join(name)
}

/// The `vipd` binary, or a clear panic when it has not been built.
pub fn vipd_bin() -> PathBuf {
    let p = crate_bin("vipd", "VIPD_BIN");
    assert!(
        p.is_file(),
        "vipd binary not found at {} (build it with `cargo build --bins` or set VIPD_BIN)",
        p.display()
    );
    p
}

/// The `vipctl` binary, or a clear panic when it has not been built.
pub fn vipctl_bin() -> PathBuf {
    let p = crate_bin("vipctl", "VIPCTL_BIN");
    assert!(
        p.is_file(),
        "vipctl binary not found at {} (build it with `cargo build --bins` or set VIPCTL_BIN)",
        p.display()
    );
    p
}

fn keepalived_bin() -> &'static str {
    static FOUND: OnceLock<bool> = OnceLock::new();
    let found = *FOUND.get_or_init(|| {
        Command::new("keepalived")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    assert!(
        found,
        "keepalived not found in PATH (Debian: `apt-get install -y keepalived`)"
    );
    "keepalived"
}

/// Runs a command to completion; panics with its stderr when it fails.
/// Loads an nftables `script` in namespace `ns` (`nft -f -`); panics with nft's words.
fn nft_in(ns: &str, script: &str) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nft");
    child
        .stdin
        .take()
        .expect("nft stdin")
        .write_all(script.as_bytes())
        .expect("write nft script");
    let out = child.wait_with_output().expect("wait for nft");
    assert!(
        out.status.success(),
        "nft in {ns} failed: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip(args: &[&str]) -> String {
    run(Command::new("ip").args(args))
}

/// One agent process in a host namespace.
struct Node {
    kind: Kind,
    child: std::process::Child,
    socket: Option<PathBuf>,
}

/// One lab; see the module doc. Hosts are numbered from 0.
pub struct Lab {
    /// Scenario name, for messages.
    name: String,
    /// Unique per process and lab: `vt<pid>x<counter>`.
    prefix: String,
    /// Third octet of the lab's 10.231.X.0/24 (and X of its fd77:X::/64).
    subnet: u8,
    /// The VIP's family.
    family: Family,
    /// Configs, pid files, sockets and agent logs; kept (and printed) when a test panics, or
    /// always with `NETNS_KEEP` set.
    dir: Option<tempfile::TempDir>,
    switch: String,
    hosts: Vec<String>,
    client: String,
    /// Every namespace made so far, deleted on drop.
    namespaces: Vec<String>,
    nodes: Vec<Option<Node>>,
    /// Other processes a test started in host namespaces (web servers...), by id.
    helpers: Vec<Option<std::process::Child>>,
    registry: Registry,
}

impl Lab {
    /// A lab with `n_hosts` hosts. Without root or a working `ip netns` it panics: a skipped
    /// test would be listed as `ok`, and a green run must mean the scenarios ran.
    pub fn setup(name: &str, n_hosts: usize) -> Lab {
        Lab::setup_family(name, n_hosts, Family::V4)
    }

    /// [`Lab::setup`] for `family`: with [`Family::V6`] every eth0 also gets an IPv6 address
    /// (DAD off, so addresses and link-local ones are usable at once) and the VIP is IPv6.
    pub fn setup_family(name: &str, n_hosts: usize, family: Family) -> Lab {
        if let Err(why) = netns_usable() {
            panic!(
                "netns tests need root and a working `ip netns`: {why}; \
                 run `sudo ./netns-tests/run-all.sh`"
            );
        }
        Lab::new(name, n_hosts, family)
    }

    fn new(name: &str, n_hosts: usize, family: Family) -> Lab {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("vt{}x{n}", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}-{name}-"))
            .tempdir()
            .expect("create lab directory");
        let mut lab = Lab {
            name: name.to_string(),
            subnet: (n % 250) as u8 + 1,
            family,
            dir: Some(dir),
            switch: format!("{prefix}-sw"),
            hosts: (1..=n_hosts).map(|i| format!("{prefix}-h{i}")).collect(),
            client: format!("{prefix}-cl"),
            prefix,
            namespaces: Vec::new(),
            nodes: (0..n_hosts).map(|_| None).collect(),
            helpers: Vec::new(),
            registry: Arc::new(Mutex::new(Default::default())),
        };
        lab.build();
        lab
    }

    fn add_ns(&mut self, ns: &str) {
        ip(&["netns", "add", ns]);
        self.namespaces.push(ns.to_string());
        ip(&["-n", ns, "link", "set", "lo", "up"]);
        if self.family == Family::V6 {
            // Before eth0 exists, so that it inherits `default`: no DAD, no tentative
            // addresses, link-local usable at once (NETNS.md).
            run(Command::new("ip")
                .args(["netns", "exec", ns, "sysctl", "-qw"])
                .args([
                    "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0",
                ]));
        }
    }

    /// Plugs a new veth into the bridge: `port` in the switch, `eth0` in `ns` with `addr/24`
    /// (and `addr6/64` in an IPv6 lab).
    fn plug(&self, ns: &str, port: &str, addr: &str, addr6: &str) {
        let sw = self.switch.as_str();
        ip(&[
            "-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns,
        ]);
        ip(&["-n", sw, "link", "set", port, "master", "br0", "up"]);
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ]);
        if self.family == Family::V6 {
            let a = format!("{addr6}/64");
            ip(&["-n", ns, "addr", "add", &a, "dev", "eth0", "nodad"]);
        }
        ip(&["-n", ns, "link", "set", "eth0", "up"]);
    }

    fn build(&mut self) {
        let sw = self.switch.clone();
        self.add_ns(&sw);
        ip(&[
            "-n",
            &sw,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "forward_delay",
            "0",
            "mcast_snooping",
            "0",
        ]);
        ip(&["-n", &sw, "link", "set", "br0", "up"]);
        for i in 0..self.hosts.len() {
            let ns = self.hosts[i].clone();
            self.add_ns(&ns);
            let port = format!("p-h{}", i + 1);
            self.plug(&ns, &port, &self.host_addr(i), &self.host_addr6(i));
        }
        let cl = self.client.clone();
        self.add_ns(&cl);
        self.plug(&cl, "p-cl", &self.client_addr(), &self.v6(200));
    }

    /// The lab's unique prefix (namespace names start with it).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Host `host`'s namespace.
    pub fn ns(&self, host: usize) -> &str {
        &self.hosts[host]
    }

    /// Host `host`'s eth0 address (no prefix length): 10.231.X.(host+1).
    pub fn host_addr(&self, host: usize) -> String {
        format!("10.231.{}.{}", self.subnet, host + 1)
    }

    /// The client's address: 10.231.X.200.
    pub fn client_addr(&self) -> String {
        format!("10.231.{}.200", self.subnet)
    }

    /// The VIP (no prefix length): 10.231.X.100, or fd77:X::100 in an IPv6 lab.
    pub fn vip(&self) -> String {
        match self.family {
            Family::V4 => format!("10.231.{}.100", self.subnet),
            Family::V6 => self.v6(100),
        }
    }

    /// The lab's family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Host `host`'s eth0 IPv6 address in an IPv6 lab: fd77:X::(host+1).
    pub fn host_addr6(&self, host: usize) -> String {
        self.v6(host + 1)
    }

    /// Host `host`'s address in the lab's family (what unicast peers use).
    pub fn host_addr_of_family(&self, host: usize) -> String {
        match self.family {
            Family::V4 => self.host_addr(host),
            Family::V6 => self.host_addr6(host),
        }
    }

    /// fd77:X::N, the lab's IPv6 address number `n` (written in decimal, as the IPv4 ones).
    pub(crate) fn v6(&self, n: usize) -> String {
        format!("fd77:{}::{n}", self.subnet)
    }

    /// The lab's own directory (root-only, removed with the lab): configs, logs, scripts.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("lab dir").path()
    }

    /// Starts `argv` inside host `host`'s namespace as a service of the lab (an HTTP server
    /// playing nginx, say): killed with the lab unless stopped before.
    pub fn spawn_service(&self, host: usize, argv: &[&str]) -> Child {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.hosts[host]])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        proc::spawn_group(&self.registry, &mut cmd)
            .unwrap_or_else(|e| panic!("cannot start {argv:?} on h{}: {e}", host + 1))
    }

    /// Kills a service started with [`Lab::spawn_service`] (its whole process group).
    pub fn kill_service(&self, child: Child) {
        proc::kill_group_and_reap(&self.registry, child);
    }

    /// The client's neighbour-cache entry for `addr`: its link-layer address, if it has one.
    pub fn client_neighbour(&self, addr: &str) -> Option<String> {
        let out = self.client_output(&["ip", "neigh", "show", addr])?;
        let mut words = out.split_whitespace();
        words.find(|w| *w == "lladdr")?;
        words.next().map(str::to_string)
    }

    /// `host`'s eth0 MAC address.
    pub fn host_mac(&self, host: usize) -> String {
        let out = ip(&["-n", &self.hosts[host], "-o", "link", "show", "eth0"]);
        let mut words = out.split_whitespace();
        words.find(|w| *w == "link/ether").expect("eth0 has a MAC");
        words.next().expect("a MAC after link/ether").to_string()
    }

    /// Runs `argv` in the client namespace and returns its stdout when it succeeds.
    pub fn client_output(&self, argv: &[&str]) -> Option<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.client])
            .args(argv)
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn log_path(&self, host: usize) -> PathBuf {
        self.dir().join(format!("h{}.log", host + 1))
    }

    /// keepalived.conf text for host 0 or 1 of a two-host pair (priorities 100/90).
    pub fn pair_conf(&self, host: usize, opts: &PairOpts) -> String {
        let addrs: Vec<String> = (0..self.hosts.len())
            .map(|i| self.host_addr_of_family(i))
            .collect();
        conf::pair_conf(
            &conf::PairAddrs {
                host,
                host_addrs: &addrs,
                vip: &self.vip(),
            },
            opts,
        )
    }

    /// Starts an agent of `kind` on `host` with config text `conf`. Panics (with the agent's
    /// log) when the binary is missing or the process is gone 300 ms after start.
    pub fn start(&mut self, host: usize, kind: Kind, conf: &str) {
        self.start_with_args(host, kind, conf, &[]);
    }

    /// [`Lab::start`] with extra command-line arguments for the agent (e.g. vipd's
    /// `--socket-group`).
    pub fn start_with_args(&mut self, host: usize, kind: Kind, conf: &str, extra: &[&str]) {
        self.start_wrapped(host, kind, conf, &[], extra);
    }

    /// [`Lab::start_with_args`] with the agent run through `wrapper`, a command that execs
    /// the rest of its arguments (`prlimit --nofile=256:512`, say): the agent keeps the
    /// process id the lab started, as [`Lab::agent_pid`] and the signals need.
    pub fn start_wrapped(
        &mut self,
        host: usize,
        kind: Kind,
        conf: &str,
        wrapper: &[&str],
        extra: &[&str],
    ) {
        assert!(
            self.nodes[host].is_none(),
            "host {host} already runs an agent"
        );
        let ns = self.hosts[host].clone();
        let tag = format!("h{}", host + 1);
        let dir = self.dir().to_path_buf();
        let conf_path = dir.join(format!("{tag}.conf"));
        fs::write(&conf_path, conf).expect("write config");
        let log_path = self.log_path(host);
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open agent log");
        let _ = writeln!(log, "===== {kind} start at {:.3} =====", epoch_now());
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns]).args(wrapper);
        let mut socket = None;
        match kind {
            Kind::Keepalived => {
                for suffix in ["pid", "vrrp.pid", "check.pid"] {
                    let _ = fs::remove_file(dir.join(format!("{tag}.{suffix}")));
                }
                cmd.arg(keepalived_bin())
                    .args(["-n", "-l", "-D", "-G", "-f"])
                    .arg(&conf_path)
                    .arg("-p")
                    .arg(dir.join(format!("{tag}.pid")))
                    .arg("-r")
                    .arg(dir.join(format!("{tag}.vrrp.pid")))
                    .arg("-c")
                    .arg(dir.join(format!("{tag}.check.pid")));
            }
            Kind::Vipd => {
                let sock = dir.join(format!("{tag}.sock"));
                let _ = fs::remove_file(&sock);
                cmd.arg(vipd_bin())
                    .arg("--config")
                    .arg(&conf_path)
                    .arg("--socket")
                    .arg(&sock)
                    .args(extra);
                if std::env::var_os("VIPD_LOG").is_none() {
                    cmd.env("VIPD_LOG", "debug");
                }
                socket = Some(sock);
            }
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        let child = proc::spawn_group(&self.registry, &mut cmd)
            .unwrap_or_else(|e| panic!("cannot start {kind} on {tag}: {e}"));
        std::thread::sleep(Duration::from_millis(300));
        if proc::has_exited(&child) {
            let status = proc::kill_group_and_reap(&self.registry, child);
            panic!(
                "{kind} on {tag} exited within 300 ms of start ({status}); log {}:\n{}",
                log_path.display(),
                self.log_tail(host, 30)
            );
        }
        self.nodes[host] = Some(Node {
            kind,
            child,
            socket,
        });
    }

    /// The kind of agent running on `host`, if any.
    pub fn kind(&self, host: usize) -> Option<Kind> {
        self.nodes[host].as_ref().map(|n| n.kind)
    }

    /// SIGTERM to the agent, then waits (up to 20 s) for it to exit. Returns its exit status
    /// and how long it took to exit.
    pub fn stop_term(&mut self, host: usize) -> (ExitStatus, Duration) {
        let node = self.nodes[host].take().expect("no agent on that host");
        let start = Instant::now();
        proc::signal_leader(&node.child, Signal::SIGTERM);
        let exited = proc::wait_exit(&node.child, Duration::from_secs(20));
        let elapsed = start.elapsed();
        let status = proc::kill_group_and_reap(&self.registry, node.child);
        assert!(
            exited,
            "{} on h{} did not exit within 20 s of SIGTERM; log:\n{}",
            node.kind,
            host + 1,
            self.log_tail(host, 30)
        );
        (status, elapsed)
    }

    /// SIGKILL to the agent's whole process group (a crash: nothing gets cleaned up).
    pub fn kill9(&mut self, host: usize) {
        let node = self.nodes[host].take().expect("no agent on that host");
        proc::kill_group_and_reap(&self.registry, node.child);
    }

    /// True while the agent on `host` is still running.
    pub fn is_running(&self, host: usize) -> bool {
        self.nodes[host]
            .as_ref()
            .is_some_and(|n| !proc::has_exited(&n.child))
    }

    /// Takes `host`'s eth0 down (inside its namespace).
    pub fn link_down(&self, host: usize) {
        ip(&["-n", &self.hosts[host], "link", "set", "eth0", "down"]);
    }

    /// Brings `host`'s eth0 back up.
    pub fn link_up(&self, host: usize) {
        ip(&["-n", &self.hosts[host], "link", "set", "eth0", "up"]);
    }

    /// True when `vip` (no prefix length) is assigned to `host`'s eth0.
    pub fn has_vip(&self, host: usize, vip: &str) -> bool {
        self.has_vip_on(host, vip, "eth0")
    }

    /// True when `vip` (no prefix length) is assigned to `host`'s interface `dev` (false when
    /// `dev` does not exist).
    pub fn has_vip_on(&self, host: usize, vip: &str, dev: &str) -> bool {
        let (family, inet) = if vip.contains(':') {
            ("-6", "inet6")
        } else {
            ("-4", "inet")
        };
        let out = Command::new("ip")
            .args([
                "-n",
                &self.hosts[host],
                family,
                "-o",
                "addr",
                "show",
                "dev",
                dev,
            ])
            .output()
            .expect("run ip");
        let needle = format!(" {inet} {vip}/");
        String::from_utf8_lossy(&out.stdout).contains(&needle)
    }

    /// [`Lab::has_vip`] for the lab's VIP.
    pub fn holds_vip(&self, host: usize) -> bool {
        self.has_vip(host, &self.vip())
    }

    /// Hosts holding the lab's VIP right now.
    pub fn vip_holders(&self) -> Vec<usize> {
        (0..self.hosts.len())
            .filter(|&h| self.holds_vip(h))
            .collect()
    }

    fn nft(&self, host: usize, script: &str) {
        nft_in(&self.hosts[host], script);
    }

    /// Partitions `a` and `b` for VRRP only: each drops IP protocol 112 from (and, for unicast,
    /// to) the other's address. Other traffic still flows.
    pub fn block_vrrp_between(&self, a: usize, b: usize) {
        for (me, peer) in [(a, b), (b, a)] {
            let p = self.host_addr(peer);
            self.nft(
                me,
                &format!(
                    "add table inet vtpart\n\
                     add chain inet vtpart in {{ type filter hook input priority 0; }}\n\
                     add chain inet vtpart out {{ type filter hook output priority 0; }}\n\
                     add rule inet vtpart in ip saddr {p} ip protocol 112 drop\n\
                     add rule inet vtpart out ip daddr {p} ip protocol 112 drop\n"
                ),
            );
        }
    }

    /// Undoes [`Lab::block_vrrp_between`].
    pub fn unblock_vrrp_between(&self, a: usize, b: usize) {
        for h in [a, b] {
            self.nft(h, "delete table inet vtpart\n");
        }
    }

    /// Drops VRRP to and from 224.0.0.18 and ff02::12 on `host`, so only unicast adverts get
    /// through.
    pub fn block_multicast_vrrp(&self, host: usize) {
        self.nft(
            host,
            "add table inet vtmcast\n\
             add chain inet vtmcast in { type filter hook input priority 0; }\n\
             add chain inet vtmcast out { type filter hook output priority 0; }\n\
             add rule inet vtmcast in ip daddr 224.0.0.18 drop\n\
             add rule inet vtmcast out ip daddr 224.0.0.18 drop\n\
             add rule inet vtmcast in ip6 daddr ff02::12 drop\n\
             add rule inet vtmcast out ip6 daddr ff02::12 drop\n",
        );
    }

    /// Starts `ping -i 0.01 -D -O -w deadline VIP` in the client namespace.
    pub fn pinger(&self, deadline: Duration) -> Pinger {
        let secs = deadline.as_secs().max(1).to_string();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.client, "ping", "-n", "-i", "0.01"])
            .args(["-D", "-O", "-w", &secs, &self.vip()])
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let child = proc::spawn_group(&self.registry, &mut cmd).expect("start ping");
        Pinger::spawn(child, Arc::clone(&self.registry))
    }

    /// The state vipctl reports for the lab instance of the vipd on `host`, or `None` while
    /// vipd cannot answer yet (its control socket comes after the config is loaded, which
    /// takes seconds on a loaded machine) or runs no such instance.
    pub fn try_vipd_state(&self, host: usize) -> Option<String> {
        let sock = self.nodes[host].as_ref()?.socket.as_ref()?;
        let out = Command::new("timeout")
            .arg("5")
            .arg(vipctl_bin())
            .arg("--socket")
            .arg(sock)
            .args(["status", "--json"])
            .stdin(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let inst = status["instances"]
            .as_array()?
            .iter()
            .find(|i| i["name"] == conf::INSTANCE)?;
        inst["state"].as_str().map(str::to_string)
    }

    /// `vipctl status --json` of the vipd on `host`, parsed.
    pub fn vipctl_status(&self, host: usize) -> serde_json::Value {
        let node = self.nodes[host].as_ref().expect("no agent on that host");
        let sock = node
            .socket
            .as_ref()
            .unwrap_or_else(|| panic!("h{} runs {}, not vipd", host + 1, node.kind));
        let out = run(Command::new("timeout")
            .arg("5")
            .arg(vipctl_bin())
            .arg("--socket")
            .arg(sock)
            .args(["status", "--json"]));
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("vipctl status --json: {e}; output:\n{out}"))
    }

    /// The lab instance's object from `vipctl status --json` on `host`.
    pub fn vipctl_instance(&self, host: usize) -> serde_json::Value {
        let status = self.vipctl_status(host);
        status["instances"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["name"] == conf::INSTANCE))
            .cloned()
            .unwrap_or_else(|| panic!("no instance {} in vipctl status: {status}", conf::INSTANCE))
    }

    /// State reported by vipctl for a vipd node; `None` for keepalived (no control socket).
    pub fn vipd_state(&self, host: usize) -> Option<String> {
        if self.kind(host) != Some(Kind::Vipd) {
            return None;
        }
        let inst = self.vipctl_instance(host);
        inst["state"].as_str().map(str::to_string)
    }

    /// A drop counter (`counters.drops.<name>`) of a vipd node.
    pub fn vipd_drop_counter(&self, host: usize, name: &str) -> u64 {
        let inst = self.vipctl_instance(host);
        inst["counters"]["drops"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("no counters.drops.{name} in {inst}"))
    }

    /// The last `n` lines of `host`'s agent log.
    pub fn log_tail(&self, host: usize, n: usize) -> String {
        let text = fs::read_to_string(self.log_path(host)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The whole agent log of `host`.
    pub fn log(&self, host: usize) -> String {
        fs::read_to_string(self.log_path(host)).unwrap_or_default()
    }
}

impl Lab {
    /// The lab's private directory (configs, logs, files a test serves).
    pub fn path(&self) -> &Path {
        self.dir()
    }

    /// The process id of the agent on `host` (`ip netns exec` execs into it).
    pub fn agent_pid(&self, host: usize) -> u32 {
        self.nodes[host]
            .as_ref()
            .expect("no agent on that host")
            .child
            .id()
    }

    /// Starts `argv` in `host`'s namespace (output to `NAME.log` in the lab directory) and
    /// returns its id for [`Lab::kill_helper`]. Killed with the lab in any case.
    pub fn spawn_helper(&mut self, host: usize, name: &str, argv: &[&str]) -> usize {
        let log = fs::File::create(self.dir().join(format!("{name}.log"))).expect("helper log");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.hosts[host]])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        let child = proc::spawn_group(&self.registry, &mut cmd)
            .unwrap_or_else(|e| panic!("cannot start {argv:?} on h{}: {e}", host + 1));
        self.helpers.push(Some(child));
        self.helpers.len() - 1
    }

    /// SIGKILLs a helper started by [`Lab::spawn_helper`] and reaps it.
    pub fn kill_helper(&mut self, id: usize) {
        if let Some(child) = self.helpers[id].take() {
            proc::kill_group_and_reap(&self.registry, child);
        }
    }

    /// Runs `f` on a fresh OS thread inside the client namespace (sockets it opens live
    /// there), and returns its result.
    pub fn in_client<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        let path = format!("/var/run/netns/{}", self.client);
        std::thread::spawn(move || {
            let ns = fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("setns {path}: {e}"));
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for node in self.nodes.iter_mut() {
            if let Some(node) = node.take() {
                proc::kill_group_and_reap(&self.registry, node.child);
            }
        }
        for h in self.helpers.iter_mut() {
            if let Some(child) = h.take() {
                proc::kill_group_and_reap(&self.registry, child);
            }
        }
        // Pingers still alive are reaped by their own drop; kill them now all the same.
        proc::kill_all(&self.registry);
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
        if std::env::var_os("NETNS_KEEP").is_some()
            && !std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            println!("lab {} kept {}", self.name, dir.keep().display());
        }
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            let path = dir.keep();
            let mut msg = format!(
                "lab {} ({}) failed; kept {}\n",
                self.name,
                self.prefix,
                path.display()
            );
            for h in 0..self.hosts.len() {
                let log = path.join(format!("h{}.log", h + 1));
                if let Ok(text) = fs::read_to_string(&log) {
                    let lines: Vec<&str> = text.lines().collect();
                    msg.push_str(&format!("--- h{} log (tail) ---\n", h + 1));
                    msg.push_str(&lines[lines.len().saturating_sub(25)..].join("\n"));
                    msg.push('\n');
                }
            }
            let _ = std::io::stderr().write_all(msg.as_bytes());
        }
    }
}

/// Appends a measurement line to `$NETNS_MEASURE_FILE` (when set) and prints it.
pub fn measure(line: &str) {
    println!("MEASURE {line}");
    if let Some(path) = std::env::var_os("NETNS_MEASURE_FILE")
        && let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}
