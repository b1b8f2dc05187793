//! The forwarder and the open-file limit, each case in a process of its own (the limit is a
//! whole process's), on 127.0.0.1 only:
//! - `vipd` under a low limit (raised at startup from its soft value to its hard one) holds
//!   no more client connections than leave its reserve: a flood waits in the listen
//!   backlog, the health check still connects, the cap is logged once, and new clients are
//!   served once the flood goes.
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

#[test]
fn a_flood_waits_in_the_backlog_and_the_health_check_keeps_its_descriptors() {
    // The hard limit; the soft one starts at 256, and vipd raises it.
    const LIMIT: u64 = 512;
    // (512 - a reserve of a quarter - 64 pooled pipes' 128) / 6 per connection.
    const CAP: usize = 42;
    let (backend, at_backend) = echo_backend();
    let (check, checks) = check_target();
    let vs = SocketAddrV4::new([127, 0, 0, 1].into(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(
        &conf,
        format!(
            "virtual_server {} {} {{\n delay_loop 1\n lb_algo rr\n real_server {} {} {{\n  \
             TCP_CHECK {{\n   connect_port {}\n   connect_timeout 1\n  }}\n }}\n}}\n",
            vs.ip(),
            vs.port(),
            backend.ip(),
            backend.port(),
            check.port()
        ),
    )
    .unwrap();
    let log = dir.path().join("vipd.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vipd"));
    cmd.arg("--config")
        .arg(&conf)
        .arg("--socket")
        .arg(dir.path().join("vipd.sock"))
        .args(["--lb-threads", "2"])
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap());
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent's.
    unsafe {
        cmd.pre_exec(|| setrlimit(Resource::RLIMIT_NOFILE, 256, LIMIT).map_err(Into::into));
    }
    let vipd = Process(cmd.spawn().unwrap());
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
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as u64;
    assert!(
        fds <= LIMIT * 3 / 4,
        "{fds} descriptors open: the reserve is used"
    );
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
