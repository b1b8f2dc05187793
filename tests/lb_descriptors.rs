//! The forwarder and the open-file limit, each case in a process of its own (the limit is a
//! whole process's), on 127.0.0.1 only:
//! - `vipd` under a low limit (raised at startup from its soft value to its hard one) holds
//!   no more client connections than leave its reserve: a flood waits in the listen
//!   backlog, the health check still connects, the cap is logged once, and new clients are
//!   served once the flood goes.
//! - UDP flows count against the same budget: a flood of new UDP clients opens no more
//!   flows than the cap, and new clients are served once the flows idle out.
//! - a forwarder whose descriptors something else in the process took stops accepting
//!   without spinning (arrivals do not wake it), says so once, tries again less and less
//!   often, and serves the clients that waited as soon as descriptors come back.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use nix::sys::resource::{Resource, setrlimit};
use vipd::config::LbAlgo;
use vipd::lb::{Lb, LbOptions};

mod common;
use common::lb::{free_port, pool, v4};

/// An echo server that closes when its client does; counts the connections it has open.
fn echo_backend() -> (SocketAddrV4, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = v4(l.local_addr().unwrap());
    let open = Arc::new(AtomicUsize::new(0));
    let count = open.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            let count = count.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut buf) {
                    if s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                count.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (addr, open)
}

/// A port that takes connections and closes them at once, counting them: what a TCP_CHECK
/// connects to.
fn check_target() -> (SocketAddrV4, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = v4(l.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            if s.is_ok() {
                count.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (addr, seen)
}

const WAIT: Duration = Duration::from_secs(5);

/// A client that has sent `ping`.
fn pinging(vs: SocketAddrV4) -> TcpStream {
    let mut s = TcpStream::connect_timeout(&vs.into(), WAIT).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"ping").unwrap();
    s
}

/// The echo of `ping`, through the forwarder, within [`WAIT`].
fn echoed(mut s: TcpStream) -> bool {
    let mut got = [0u8; 4];
    s.read_exact(&mut got).is_ok() && &got == b"ping"
}

fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// CPU time of process `pid` so far, in clock ticks (utime + stime).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after "pid (comm) ": state is the first; utime and stime the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit(") ").next().unwrap().split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A tenth of a CPU over the two seconds measured (clock ticks are 10 ms): what a
/// forwarder that spins, or wakes for every client it cannot take, goes far beyond.
const CALM: u64 = 20;

/// A process of the test's, ended by its id when the test ends, however it ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        while !matches!(self.0.try_wait(), Ok(Some(_))) {
            if start.elapsed() > WAIT {
                let _ = self.0.kill();
                let _ = self.0.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The hard open-file limit of the tests that run vipd under one.
const LIMIT: u64 = 512;
/// The client connections vipd holds under [`LIMIT`]: (512 - a reserve of a quarter - 64
/// pooled pipes' 128) / 6 per connection.
const CAP: usize = 42;

/// vipd (`pid`) has not dipped into the descriptors it keeps for the rest of the daemon.
fn assert_reserve_unused(pid: u32) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as u64;
    assert!(
        fds <= LIMIT * 3 / 4,
        "{fds} descriptors open: the reserve is used"
    );
}

/// vipd on `dir`'s keepalived.conf and socket, logging to `dir`/vipd.log, with a soft
/// open-file limit of 256 and a hard one of `limit` (vipd raises the soft one).
fn vipd_under(limit: u64, dir: &std::path::Path, conf: String, args: &[&str]) -> Process {
    std::fs::write(dir.join("keepalived.conf"), conf).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vipd"));
    cmd.arg("--config")
        .arg(dir.join("keepalived.conf"))
        .arg("--socket")
        .arg(dir.join("vipd.sock"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(File::create(dir.join("vipd.log")).unwrap());
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent's.
    unsafe {
        cmd.pre_exec(move || setrlimit(Resource::RLIMIT_NOFILE, 256, limit).map_err(Into::into));
    }
    Process(cmd.spawn().unwrap())
}

#[test]
fn a_flood_waits_in_the_backlog_and_the_health_check_keeps_its_descriptors() {
    // The hard limit; the soft one starts at 256, and vipd raises it.
    let (backend, at_backend) = echo_backend();
    let (check, checks) = check_target();
    let vs = SocketAddrV4::new([127, 0, 0, 1].into(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let conf = format!(
        "virtual_server {} {} {{\n delay_loop 1\n lb_algo rr\n real_server {} {} {{\n  \
         TCP_CHECK {{\n   connect_port {}\n   connect_timeout 1\n  }}\n }}\n}}\n",
        vs.ip(),
        vs.port(),
        backend.ip(),
        backend.port(),
        check.port()
    );
    let log = dir.path().join("vipd.log");
    let vipd = vipd_under(LIMIT, dir.path(), conf, &["--lb-threads", "2"]);
    let pid = vipd.0.id();
    let logged = || std::fs::read_to_string(&log).unwrap();

    wait_for("vipd forwards", WAIT * 2, || {
        TcpStream::connect(vs).is_ok_and(|s| {
            s.set_read_timeout(Some(WAIT)).unwrap();
            (&s).write_all(b"ping").is_ok() && echoed(s)
        })
    });
    wait_for("the first check", WAIT, || {
        checks.load(Ordering::SeqCst) > 0
    });
    wait_for("no connection left", WAIT, || {
        at_backend.load(Ordering::SeqCst) == 0
    });
    let text = logged();
    assert!(
        text.contains(&format!("raised the open-file limit from 256 to {LIMIT}"))
            && text.contains(&format!("holds at most {CAP} client connections")),
        "{text}"
    );

    // More than the limit allows at two descriptors a connection, let alone the cap.
    let flood: Vec<TcpStream> = (0..300).map(|_| TcpStream::connect(vs).unwrap()).collect();
    wait_for("the forwarder takes its cap", WAIT, || {
        at_backend.load(Ordering::SeqCst) == CAP
    });
    let (cpu, seen) = (cpu_ticks(pid), checks.load(Ordering::SeqCst));
    std::thread::sleep(Duration::from_secs(2));
    let (cpu, seen) = (cpu_ticks(pid) - cpu, checks.load(Ordering::SeqCst) - seen);
    eprintln!("at the cap: {cpu} ticks of CPU in 2 s, {seen} check(s)");
    assert_eq!(at_backend.load(Ordering::SeqCst), CAP, "and no more");
    assert_reserve_unused(pid);
    assert!(cpu <= CALM, "{cpu} clock ticks of CPU in 2 s at the cap");
    assert!(seen >= 1, "the health check connected during the flood");
    let text = logged();
    assert_eq!(
        text.matches("client connections open, the most").count(),
        1,
        "the cap is logged once:\n{text}"
    );
    assert!(!text.contains("DOWN"), "the real server stays up:\n{text}");

    drop(flood);
    wait_for("new clients are served", WAIT, || echoed(pinging(vs)));
    wait_for("the end of the episode is logged", WAIT, || {
        logged().contains("below the connection cap again")
    });
}

const CHILD_ENV: &str = "VIPD_TEST_FORWARDER_BACKEND";
const LISTENING: &str = "CHILD listening ";

/// Not a test by itself: the forwarder's process of
/// `accept_failures_pause_accepting_log_once_and_the_clients_who_waited_are_served`.
/// Forwards to the backend in [`CHILD_ENV`] on one thread, under a limit of 1024
/// descriptors, and takes commands on stdin: `fill` opens files until none is left (what
/// checks and scripts could do), `free` closes them.
#[test]
#[ignore = "run by accept_failures_pause_accepting_log_once_and_the_clients_who_waited_are_served"]
fn forwarder_process() {
    let backend: SocketAddrV4 = std::env::var(CHILD_ENV).unwrap().parse().unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, 1024, 1024).unwrap();
    tracing_subscriber::fmt()
        .with_env_filter("info,vipd::lb::worker=debug")
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _runtime = runtime.enter();
    let vs = pool(&[backend], LbAlgo::Rr);
    let lb = Lb::start(std::slice::from_ref(&vs), LbOptions::new(1)).unwrap();
    println!("{LISTENING}{}", vs.addr);
    let mut held = Vec::new();
    for line in std::io::stdin().lines() {
        match line.unwrap().as_str() {
            "fill" => {
                while let Ok(f) = File::open("/dev/null") {
                    held.push(f);
                }
                println!("CHILD filled {}", held.len());
            }
            "free" => {
                held.clear();
                println!("CHILD freed");
            }
            _ => break,
        }
    }
    lb.stop();
}

/// The forwarder's process, its commands and what it says.
struct Forwarder {
    process: Process,
    stdin: ChildStdin,
    lines: Receiver<String>,
    log: std::path::PathBuf,
}

impl Forwarder {
    fn start(backend: SocketAddrV4, dir: &std::path::Path) -> Forwarder {
        let log = dir.join("forwarder.log");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "forwarder_process", "--ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(CHILD_ENV, backend.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Forwarder {
            process: Process(child),
            stdin,
            lines,
            log,
        }
    }

    /// What follows `prefix` in the next line it prints that has it.
    fn expect(&self, prefix: &str) -> String {
        let until = Instant::now() + WAIT * 2;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {prefix:?} from the forwarder:\n{}", self.logged()));
            // The harness may have begun the line ("test forwarder_process ... ").
            if let Some((_, rest)) = line.split_once(prefix) {
                return rest.to_owned();
            }
        }
    }

    fn tell(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
    }

    fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

#[test]
fn accept_failures_pause_accepting_log_once_and_the_clients_who_waited_are_served() {
    let (backend, _) = echo_backend();
    let dir = tempfile::tempdir().unwrap();
    let mut fwd = Forwarder::start(backend, dir.path());
    let vs: SocketAddrV4 = fwd.expect(LISTENING).parse().unwrap();
    assert!(echoed(pinging(vs)), "it forwards");

    fwd.tell("fill");
    let filled: usize = fwd.expect("CHILD filled ").parse().unwrap();
    assert!(filled > 0);
    let filled_at = Instant::now();
    // Clients come while no descriptor is left: a few at once, then one every 100 ms
    // while the forwarder's CPU time is measured.
    let mut waiting: Vec<TcpStream> = (0..5).map(|_| pinging(vs)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let pid = fwd.process.0.id();
    let cpu = cpu_ticks(pid);
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(100));
        waiting.push(pinging(vs));
    }
    let cpu = cpu_ticks(pid) - cpu;
    assert!(
        cpu <= CALM,
        "{cpu} clock ticks of CPU in 2 s without descriptors"
    );

    fwd.tell("free");
    fwd.expect("CHILD freed");
    let freed_after = filled_at.elapsed();
    let served = waiting.into_iter().map(echoed).filter(|&ok| ok).count();
    assert_eq!(
        served,
        25,
        "every client that waited is served:\n{}",
        fwd.logged()
    );
    wait_for("the end of the episode is logged", WAIT, || {
        fwd.logged().contains("accept works again after")
    });
    let text = fwd.logged();
    assert_eq!(
        text.matches("accept failed").count(),
        1,
        "one line for the episode:\n{text}"
    );
    assert!(
        text.contains("25 client(s) had waited"),
        "the end says how many waited:\n{text}"
    );
    // Tries after 0.1, 0.3, 0.7, 1.5 s, then every second: no more than 4 + the seconds
    // beyond 1.5 (a try every 100 ms would make 25 or more).
    let retries = text.matches("accept still fails").count();
    let most = 5 + freed_after.as_secs() as usize;
    eprintln!(
        "{cpu} ticks of CPU in 2 s; {retries} tries in {freed_after:?} without descriptors\n{text}"
    );
    assert!(
        (1..=most).contains(&retries),
        "{retries} tries in {freed_after:?} without descriptors:\n{text}"
    );
}

/// A UDP echo server; counts the distinct client addresses (flows) it has heard from.
fn udp_echo_backend() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    let peers = Arc::new(AtomicUsize::new(0));
    let count = peers.clone();
    std::thread::spawn(move || {
        let mut seen = std::collections::HashSet::new();
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            if seen.insert(from) {
                count.store(seen.len(), Ordering::SeqCst);
            }
            let _ = s.send_to(&buf[..n], from);
        }
    });
    (addr, peers)
}

#[test]
fn udp_flows_are_held_to_the_descriptor_budget_too() {
    // Each flow counts as one connection under the cap.
    let (backend, flows_at_backend) = udp_echo_backend();
    let vs = SocketAddrV4::new([127, 0, 0, 1].into(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let conf = format!(
        "virtual_server {} {} {{\n protocol UDP\n lb_algo rr\n persistence_timeout 1\n \
         real_server {} {} {{\n }}\n}}\n",
        vs.ip(),
        vs.port(),
        backend.ip(),
        backend.port(),
    );
    let log = dir.path().join("vipd.log");
    let vipd = vipd_under(LIMIT, dir.path(), conf, &[]);
    let pid = vipd.0.id();
    let logged = || std::fs::read_to_string(&log).unwrap();
    let client = || {
        let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        c
    };
    let answered = |c: &std::net::UdpSocket| {
        let mut buf = [0u8; 16];
        c.send_to(b"ping", vs).is_ok() && c.recv(&mut buf).is_ok_and(|n| &buf[..n] == b"ping")
    };
    wait_for("vipd forwards UDP", WAIT * 2, || answered(&client()));
    // Every flow of that wait idles out (persistence_timeout 1) before the flood.
    std::thread::sleep(Duration::from_millis(1500));
    let before = flows_at_backend.load(Ordering::SeqCst);

    // 300 new clients, one datagram each: more flows than the budget leaves.
    let flood: Vec<std::net::UdpSocket> = (0..300)
        .map(|_| {
            let c = client();
            c.send_to(b"ping", vs).unwrap();
            c
        })
        .collect();
    wait_for("the forwarder takes its cap", WAIT, || {
        flows_at_backend.load(Ordering::SeqCst) - before >= CAP
    });
    std::thread::sleep(Duration::from_millis(300));
    // Counted by the server's view (at most: a port reused by a later flow counts once)
    // and by vipd's own.
    let flows = flows_at_backend.load(Ordering::SeqCst) - before;
    assert!(
        flows <= CAP,
        "{flows} flows opened to the server, over the cap"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_vipctl"))
        .arg("--socket")
        .arg(dir.path().join("vipd.sock"))
        .args(["status", "--json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let udp = &status["virtual_servers"][0]["udp"];
    assert_eq!(udp["flows"], CAP, "{status}");
    assert!(udp["dropped_table_full"].as_u64() >= Some(1), "{status}");
    assert_reserve_unused(pid);
    wait_for("the drop is logged", WAIT, || {
        logged().contains("flows its descriptors allow")
    });
    drop(flood);
    // Once those flows idle out, a new client is served again.
    wait_for("a new client is served", WAIT, || answered(&client()));
}
