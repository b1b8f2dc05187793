//! The forwarder in process, on 127.0.0.1 only (no root): bytes arrive intact both ways
//! through splice, half-closes, closes and resets travel through, half-closed and idle connections
//! are closed in time, a refused connect moves to the next server (with what the client had
//! already sent), a reload keeps listeners and state, connections leave no file
//! descriptor behind, and `omega` runs notify_down on stop.

use std::net::{SocketAddr, SocketAddrV4};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vipd::config::{LbAlgo, Program, ProxyProtocol};

mod common;
use common::lb::{free_port, pool, v4};
use vipd::lb::{Lb, LbOptions, LbView};

/// A backend that says `id\n` first, then echoes until EOF, then closes.
async fn echo_backend(id: u8) -> SocketAddrV4 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = v4(l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(format!("{id}\n").as_bytes()).await;
                let mut buf = vec![0u8; 65536];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// Every read in these tests ends within 10 s: a forwarder that loses bytes fails the test
/// instead of hanging it.
async fn within<T>(what: &str, f: impl std::future::Future<Output = std::io::Result<T>>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within 10 s"))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Connects through the forwarder and reads the backend's id line.
async fn hello(vs: SocketAddr) -> (TcpStream, u8) {
    let mut s = TcpStream::connect(vs).await.unwrap();
    let mut id = [0u8; 2];
    within("the backend's id", s.read_exact(&mut id)).await;
    (s, id[0] - b'0')
}

/// Two forwarding threads, so listeners share the port (SO_REUSEPORT), and a fast clock:
/// half-closed connections go after 0.1 to 0.2 s, idle ones after 1.5 s.
fn options() -> LbOptions {
    options_on(2)
}

/// `threads` forwarding threads and the fast clock.
fn options_on(threads: usize) -> LbOptions {
    LbOptions {
        tick: TICK,
        ..LbOptions::new(threads)
    }
}
const TICK: Duration = Duration::from_millis(100);

/// The tests run one at a time: the descriptor count is the whole process's.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Server `server`'s active connections in pool `vs`, once they are `want` or a second has
/// passed: connections a test has dropped close in the forwarder a moment later.
async fn active_settled(view: &LbView, vs: usize, server: usize, want: u32) -> u32 {
    let mut active = u32::MAX;
    for _ in 0..100 {
        active = view.status()[vs].real_servers[server].active_connections;
        if active == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    active
}

#[tokio::test]
async fn round_robin_and_the_server_speaks_first() {
    let _serial = SERIAL.lock().await;
    let b = [
        echo_backend(0).await,
        echo_backend(1).await,
        echo_backend(2).await,
    ];
    let vs = pool(&b, LbAlgo::Rr);
    let lb = Lb::start(std::slice::from_ref(&vs), options()).unwrap();
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(hello(vs.addr).await.1);
    }
    assert_eq!(ids, [0, 1, 2, 0, 1, 2]);
    let st = lb.view().status();
    let totals: Vec<u64> = st[0]
        .real_servers
        .iter()
        .map(|r| r.total_connections)
        .collect();
    assert_eq!(totals, [2, 2, 2]);
    lb.stop();
}

/// A backend that notes, for each connection, whether the request was there already when
/// accept(2) returned, then answers `pong` to it and closes.
fn request_noting_backend() -> (SocketAddrV4, std::sync::mpsc::Receiver<bool>) {
    use std::io::{ErrorKind, Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = v4(l.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        while let Ok((mut s, _)) = l.accept() {
            s.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 64];
            let there = match s.read(&mut buf) {
                Ok(n) => n > 0,
                Err(e) if e.kind() == ErrorKind::WouldBlock => false,
                Err(e) => panic!("backend read: {e}"),
            };
            if tx.send(there).is_err() {
                return;
            }
            std::thread::spawn(move || {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                if there || s.read(&mut buf).is_ok_and(|n| n > 0) {
                    let _ = s.write_all(b"pong");
                }
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn a_server_finds_the_request_with_its_connection_and_one_speaking_first_is_not_kept_waiting()
{
    let _serial = SERIAL.lock().await;
    let (b, noted) = request_noting_backend();
    let vs = pool(&[b], LbAlgo::Rr);
    // One thread, so that a connection held open there is beside every later one.
    let lb = Lb::start(std::slice::from_ref(&vs), options_on(1)).unwrap();
    // Alone on its thread, a connection's server accepts it at once.
    let _open = TcpStream::connect(vs.addr).await.unwrap();
    let first = noted.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(!first, "nothing sent on the first connection");
    for _ in 0..10 {
        let mut s = TcpStream::connect(vs.addr).await.unwrap();
        s.write_all(b"ping").await.unwrap();
        let mut answer = Vec::new();
        within("the answer", s.read_to_end(&mut answer)).await;
        assert_eq!(answer, b"pong");
    }
    let there: Vec<bool> = noted.try_iter().collect();
    // Beside another, whether the request came before the forwarder connected or after,
    // the handshake's last ACK waited for it: the server never woke without it.
    assert_eq!(there, [true; 10], "the request with each connection");
    lb.stop();

    // A server that speaks first gets the held ACK without client bytes a moment later
    // (the kernel alone would send it with its 200 ms delayed-ACK timer).
    let b = [echo_backend(0).await];
    let vs = pool(&b, LbAlgo::Rr);
    let lb = Lb::start(std::slice::from_ref(&vs), options_on(1)).unwrap();
    let _open = hello(vs.addr).await;
    let mut waits = Vec::new();
    for _ in 0..5 {
        let t = std::time::Instant::now();
        hello(vs.addr).await;
        waits.push(t.elapsed());
    }
    waits.sort();
    assert!(
        waits[2] < Duration::from_millis(100),
        "greetings took {waits:?}"
    );
    lb.stop();
}

#[tokio::test]
async fn bulk_bytes_arrive_intact_and_half_close_passes_through() {
    let _serial = SERIAL.lock().await;
    let b = [echo_backend(0).await];
    let vs = pool(&b, LbAlgo::Rr);
    let lb = Lb::start(std::slice::from_ref(&vs), options()).unwrap();
    let (s, _) = hello(vs.addr).await;
    let (mut r, mut w) = s.into_split();
    let data: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&sent).await.unwrap();
        // Half-close: the backend sees EOF only through the forwarder's shutdown.
        w.shutdown().await.unwrap();
        w
    });
    let mut back = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), r.read_to_end(&mut back))
        .await
        .expect("echo ends after our half-close")
        .unwrap();
    let _w = writer.await.unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "bytes changed on the way");
    let st = lb.view().status();
    assert_eq!(st[0].real_servers[0].bytes_in, data.len() as u64);
    assert_eq!(st[0].real_servers[0].bytes_out, data.len() as u64 + 2);
    lb.stop();
}

/// A backend that answers each request (its first read) with `answer`, then closes:
/// with a FIN, or with a reset when `reset`. Both leave at once, so the forwarder finds
/// the bytes and the end together.
async fn answer_backend(answer: &'static [u8], reset: bool) -> SocketAddrV4 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = v4(l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(answer).await;
            if reset {
                socket2::SockRef::from(&s)
                    .set_linger(Some(Duration::ZERO))
                    .unwrap();
            }
        }
    });
    addr
}

/// Sends a request through `vs` and reads to the end: the bytes, and how it ended.
async fn request(vs: SocketAddr) -> (Vec<u8>, &'static str) {
    let mut s = TcpStream::connect(vs).await.unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let r = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("the forwarder passes the end on");
        match r {
            Ok(0) => return (got, "eof"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, "reset"),
        }
    }
}

#[tokio::test]
async fn an_answer_with_its_close_or_its_reset_arrives_as_sent() {
    let _serial = SERIAL.lock().await;
    let closes = pool(
        &[answer_backend(b"HTTP/1.0 200 OK\r\n\r\nok", false).await],
        LbAlgo::Rr,
    );
    let resets = pool(&[answer_backend(b"partial", true).await], LbAlgo::Rr);
    let lb = Lb::start(&[closes.clone(), resets.clone()], options()).unwrap();
    for _ in 0..50 {
        let (got, end) = request(closes.addr).await;
        assert_eq!(
            (got.as_slice(), end),
            (&b"HTTP/1.0 200 OK\r\n\r\nok"[..], "eof")
        );
        // The bytes may or may not come before the reset; the reset always comes.
        let (got, end) = request(resets.addr).await;
        assert!(b"partial".starts_with(&got), "{got:?}");
        assert_eq!(end, "reset", "a backend's reset reaches the client as one");
    }
    let view = lb.view();
    for _ in 0..100 {
        if view
            .status()
            .iter()
            .all(|vs| vs.real_servers[0].active_connections == 0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let st = view.status();
    assert_eq!(st[0].real_servers[0].active_connections, 0, "{st:?}");
    assert_eq!(st[1].real_servers[0].active_connections, 0, "{st:?}");
    assert_eq!(st[0].real_servers[0].bytes_out, 50 * 21);
    lb.stop();
}

#[tokio::test]
async fn a_refused_connect_moves_to_the_next_server() {
    let _serial = SERIAL.lock().await;
    let dead = SocketAddrV4::new([127, 0, 0, 1].into(), free_port());
    let live = echo_backend(1).await;
    let vs = pool(&[dead, live], LbAlgo::Rr);
    let lb = Lb::start(std::slice::from_ref(&vs), options()).unwrap();
    for _ in 0..4 {
        assert_eq!(
            hello(vs.addr).await.1,
            1,
            "every client reaches the live server"
        );
    }
    let st = lb.view().status();
    assert!(st[0].real_servers[0].connect_failures >= 2, "{st:?}");
    assert_eq!(active_settled(&lb.view(), 0, 0, 0).await, 0);
    lb.stop();
}

#[tokio::test]
async fn bytes_sent_before_the_connect_survive_a_refused_server() {
    let _serial = SERIAL.lock().await;
    let dead = SocketAddrV4::new([127, 0, 0, 1].into(), free_port());
    let live = echo_backend(1).await;
    let vs = pool(&[dead, live], LbAlgo::Rr);
    let lb = Lb::start(std::slice::from_ref(&vs), options()).unwrap();
    for i in 0..4 {
        // Sent at once, so the forwarder reads it before it connects to a server.
        let mut s = TcpStream::connect(vs.addr).await.unwrap();
        let request = format!("request {i}\n");
        s.write_all(request.as_bytes()).await.unwrap();
        s.shutdown().await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut answer))
            .await
            .expect("the echo ends after our half-close")
            .unwrap();
        assert_eq!(answer, format!("1\n{request}"), "client {i}");
    }
    let st = lb.view().status();
    assert!(st[0].real_servers[0].connect_failures >= 2, "{st:?}");
    let live = &st[0].real_servers[1];
    assert_eq!(live.bytes_in, 4 * "request 0\n".len() as u64, "{st:?}");
    lb.stop();
}

#[tokio::test]
async fn reload_keeps_listeners_and_state_and_open_connections() {
    let _serial = SERIAL.lock().await;
    let b = [
        echo_backend(0).await,
        echo_backend(1).await,
        echo_backend(2).await,
    ];
    let a = pool(&b[..2], LbAlgo::Rr);
    let mut lb = Lb::start(std::slice::from_ref(&a), options()).unwrap();
    let ids: Vec<u8> = ids_through(a.addr, 4).await;
    assert_eq!(ids, [0, 1, 0, 1]);
    // Held open across every reload below.
    let (mut held, held_id) = hello(a.addr).await;

    // A port taken by a socket without SO_REUSEPORT: the reload is refused, nothing changes.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut blocked = pool(&b, LbAlgo::Rr);
    blocked.addr = taken.local_addr().unwrap();
    assert!(lb.prepare(&[a.clone(), blocked]).is_err());
    assert_eq!(lb.view().status().len(), 1);

    // Same address, a third server and a new weight: same listeners, counters kept.
    let mut a2 = pool(&b, LbAlgo::Wrr);
    a2.addr = a.addr;
    a2.real_servers[0].weight = 2;
    let c = pool(&b[2..], LbAlgo::Rr);
    let plan = lb.prepare(&[a2.clone(), c.clone()]).unwrap();
    let changes = lb.apply(plan);
    assert_eq!(changes.changed, [a.addr.to_string()]);
    assert_eq!(changes.added, [c.addr.to_string()]);
    let st = lb.view().status();
    assert_eq!(st.len(), 2);
    assert_eq!(st[0].lb_algo, "wrr");
    let totals: Vec<u64> = st[0]
        .real_servers
        .iter()
        .map(|r| r.total_connections)
        .collect();
    assert_eq!(totals, [3, 2, 0], "counters survive the reload: {st:?}");
    assert_eq!(
        active_settled(&lb.view(), 0, usize::from(held_id), 1).await,
        1
    );
    let mut ids = ids_through(a.addr, 8).await;
    ids.sort();
    assert_eq!(ids, [0, 0, 0, 0, 1, 1, 2, 2], "wrr 2:1:1 after the reload");
    assert_eq!(ids_through(c.addr, 2).await, [2, 2]);

    // The first pool goes away: its port closes, its open connection finishes normally.
    let plan = lb.prepare(std::slice::from_ref(&c)).unwrap();
    let changes = lb.apply(plan);
    assert_eq!(changes.removed, [a.addr.to_string()]);
    assert_eq!(changes.unchanged, [c.addr.to_string()]);
    // The forwarding threads close their listeners as soon as they hear of it.
    let mut closed = false;
    for _ in 0..200 {
        if TcpStream::connect(a.addr).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(closed, "removed pool still listening after 2 s");
    held.write_all(b"still here\n").await.unwrap();
    let mut echo = [0u8; 11];
    within("the echo", held.read_exact(&mut echo)).await;
    assert_eq!(&echo, b"still here\n");
    lb.stop();
}

/// How long until the forwarder closes `s` (EOF or reset), within 10 s.
async fn closed_after(mut s: TcpStream) -> Duration {
    let t0 = std::time::Instant::now();
    let mut buf = [0u8; 1];
    let r = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("connection still open after 10 s");
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
    t0.elapsed()
}

/// The ids of `n` backends reached one after the other through `vs`.
async fn ids_through(vs: SocketAddr, n: usize) -> Vec<u8> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(hello(vs).await.1);
    }
    ids
}

#[tokio::test]
async fn half_closed_and_idle_connections_are_closed() {
    let _serial = SERIAL.lock().await;
    // A server that accepts, then neither sends nor closes.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = v4(l.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let vs = pool(&[silent], LbAlgo::Rr);
    let lb = Lb::start(std::slice::from_ref(&vs), options()).unwrap();
    // The client is done sending; the server never answers: gone after one to two ticks.
    let mut half = TcpStream::connect(vs.addr).await.unwrap();
    half.shutdown().await.unwrap();
    let half_closed = closed_after(half).await;
    assert!(
        half_closed < TICK * 12,
        "half-closed connection kept {half_closed:?}: that is the idle timeout, not the half-closed one"
    );

    // Nothing moves either way: closed after 15 quiet ticks, not before.
    let idle_for = closed_after(TcpStream::connect(vs.addr).await.unwrap()).await;
    assert!(
        idle_for >= TICK * 14,
        "idle connection closed after only {idle_for:?}"
    );
    assert_eq!(active_settled(&lb.view(), 0, 0, 0).await, 0);
    lb.stop();
}

#[tokio::test]
async fn resets_and_a_thousand_dropped_connections_leave_no_descriptors() {
    let _serial = SERIAL.lock().await;
    let b = [echo_backend(0).await, echo_backend(1).await];
    let vs = pool(&b, LbAlgo::Lc);
    let lb = Lb::start(std::slice::from_ref(&vs), options()).unwrap();
    // Warm up: pipes enter the pool, the runtime settles.
    for _ in 0..20 {
        let (mut s, _) = hello(vs.addr).await;
        s.write_all(b"warm").await.unwrap();
        let mut buf = [0u8; 4];
        within("the warm-up echo", s.read_exact(&mut buf)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = open_fds();
    for k in 0..1000 {
        let (s, _) = hello(vs.addr).await;
        if k % 2 == 0 {
            // A client that resets.
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
        }
        drop(s);
    }
    // A client that resets mid-transfer.
    let (mut s, _) = hello(vs.addr).await;
    s.write_all(&vec![7u8; 1 << 20]).await.unwrap();
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
    let view = lb.view();
    let settled = async {
        loop {
            let st = view.status();
            let active: u32 = st[0]
                .real_servers
                .iter()
                .map(|r| r.active_connections)
                .sum();
            if active == 0 && open_fds() <= before {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), settled)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "descriptors: {} before, {} after; status {:?}",
                before,
                open_fds(),
                view.status()
            )
        });
    let total: u64 = view.status()[0]
        .real_servers
        .iter()
        .map(|r| r.total_connections)
        .sum();
    assert_eq!(total, 20 + 1000 + 1);
    lb.stop();
}

/// CPU time (clock ticks) and voluntary context switches of the forwarding threads.
fn lb_threads_usage() -> (u64, u64) {
    let (mut ticks, mut sleeps) = (0, 0);
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.starts_with("vipd-lb-") {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        // Fields after "pid (comm) ": state is the first; utime and stime the 12th and 13th.
        let fields: Vec<&str> = stat.rsplit(") ").next().unwrap().split(' ').collect();
        ticks += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
        sleeps += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .map_or(0, |v| v.trim().parse().unwrap());
    }
    (ticks, sleeps)
}

#[tokio::test]
async fn busy_polling_follows_work_and_stops_when_idle() {
    let _serial = SERIAL.lock().await;
    let b = [echo_backend(0).await];
    let vs = pool(&b, LbAlgo::Rr);
    // Windows long enough to watch: work that comes back within 400 ms opens one of 100 ms
    // (a quarter of the longest), and a connection's events come well within that.
    let options = LbOptions {
        busy_poll: Duration::from_millis(400),
        ..LbOptions::new(1)
    };
    let lb = Lb::start(std::slice::from_ref(&vs), options).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..3 {
        hello(vs.addr).await;
    }
    let (ticks, sleeps) = lb_threads_usage();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (busy_ticks, busy_sleeps) = lb_threads_usage();
    // Polling, not sleeping, right after the work: CPU time grows while it stays on the CPU.
    // One voluntary switch is allowed for a loaded machine (a page fault or a contended lock
    // counts as one); a thread that slept instead would also show no CPU time.
    assert!(
        busy_sleeps <= sleeps + 1,
        "the thread slept within its window: {} voluntary switches in 50 ms",
        busy_sleeps - sleeps
    );
    assert!(
        busy_ticks > ticks,
        "no CPU time while polling: {ticks} -> {busy_ticks}"
    );
    // A window after the work it sleeps, and an idle forwarder costs nothing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (idle_ticks, _) = lb_threads_usage();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (later_ticks, _) = lb_threads_usage();
    assert!(
        later_ticks <= idle_ticks + 1,
        "an idle forwarder kept polling: {} ticks in 0.5 s",
        later_ticks - idle_ticks
    );
    lb.stop();
}

#[tokio::test]
async fn by_default_the_forwarder_sleeps_between_requests() {
    let _serial = SERIAL.lock().await;
    let b = [echo_backend(0).await];
    let vs = pool(&b, LbAlgo::Rr);
    let lb = Lb::start(std::slice::from_ref(&vs), LbOptions::new(1)).unwrap();
    let (mut s, _) = hello(vs.addr).await;
    // One keep-alive client sending back to back: with a polling window the thread stays
    // on its CPU through each answer (tens of microseconds on loopback) and seldom sleeps;
    // by default it sleeps at least once per exchange, leaving the CPU to the server.
    const EXCHANGES: u64 = 300;
    let (_, before) = lb_threads_usage();
    let mut byte = [0u8; 1];
    for _ in 0..EXCHANGES {
        s.write_all(b"x").await.unwrap();
        within("the echo", s.read_exact(&mut byte)).await;
    }
    let (_, after) = lb_threads_usage();
    assert!(
        after - before >= EXCHANGES,
        "the forwarding thread slept {} times in {EXCHANGES} exchanges: it polled",
        after - before
    );
    lb.stop();
}

/// A backend that answers each `p` it reads with a page of `PAGE` bytes and discards
/// anything else.
async fn page_backend() -> SocketAddrV4 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = v4(l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let page = vec![b'x'; PAGE];
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    for _ in buf[..n].iter().filter(|&&b| b == b'p') {
                        if s.write_all(&page).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}
const PAGE: usize = 256 * 1024;

#[tokio::test]
async fn big_answers_keep_the_thread_polling_and_a_one_way_stream_does_not() {
    let _serial = SERIAL.lock().await;
    let b = [page_backend().await];
    let vs = pool(&b, LbAlgo::Rr);
    // The window grows to 100 ms (a quarter of 400) once work comes back within 400 ms.
    let options = LbOptions {
        busy_poll: Duration::from_millis(400),
        ..LbOptions::new(1)
    };
    let lb = Lb::start(std::slice::from_ref(&vs), options).unwrap();
    let mut s = TcpStream::connect(vs.addr).await.unwrap();
    let mut page = vec![0u8; PAGE];
    let mut ask = async |s: &mut TcpStream| {
        s.write_all(b"p").await.unwrap();
        within("a page", s.read_exact(&mut page)).await;
    };
    ask(&mut s).await;
    // Pages of 256 KiB, each after a request: spliced, but a conversation, so the thread
    // polls through it.
    let (_, sleeps) = lb_threads_usage();
    for _ in 0..20 {
        ask(&mut s).await;
    }
    let (_, talked) = lb_threads_usage();
    // A thread that slept between requests would switch at least 20 times; two are allowed
    // for a loaded machine.
    assert!(
        talked <= sleeps + 2,
        "the thread slept between requests and pages: {} voluntary switches",
        talked - sleeps
    );
    // 32 MiB one way: a stream, between whose bursts the thread sleeps.
    let stream = vec![b's'; 32 << 20];
    s.write_all(&stream).await.unwrap();
    let want = (21 + stream.len()) as u64;
    for _ in 0..1000 {
        if lb.view().status()[0].real_servers[0].bytes_in == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(lb.view().status()[0].real_servers[0].bytes_in, want);
    let (_, streamed) = lb_threads_usage();
    assert!(
        streamed > talked,
        "the thread polled through a one-way stream"
    );
    lb.stop();
}

/// The forwarder's sockets of connections through `vs` to `backend` (this process holds
/// both ends): whether each has keepalive on.
fn forwarder_keepalive(vs: SocketAddrV4, backend: SocketAddrV4) -> Vec<bool> {
    use std::os::fd::BorrowedFd;
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        // Only read from, while every test runs one at a time (SERIAL).
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let s = socket2::SockRef::from(&fd);
        let (Ok(local), Ok(peer)) = (s.local_addr(), s.peer_addr()) else {
            continue;
        };
        let (local, peer) = (local.as_socket_ipv4(), peer.as_socket_ipv4());
        if local == Some(vs) || peer == Some(backend) {
            found.push(s.keepalive().unwrap());
        }
    }
    found
}

#[tokio::test]
async fn keepalive_starts_at_a_connections_first_tick_not_at_accept() {
    let _serial = SERIAL.lock().await;
    let backend = echo_backend(0).await;
    let vs = pool(&[backend], LbAlgo::Rr);
    // A slow clock: its ticks come about 1 s, 2 s, ... after the start.
    let tick = Duration::from_secs(1);
    let lb = Lb::start(
        std::slice::from_ref(&vs),
        LbOptions {
            tick,
            ..LbOptions::new(1)
        },
    )
    .unwrap();
    // Half a tick after the clock's first tick: a connection opened now has not seen one.
    tokio::time::sleep(tick * 3 / 2).await;
    let (_s, _) = hello(vs.addr).await;
    assert_eq!(
        forwarder_keepalive(v4(vs.addr), backend),
        [false, false],
        "keepalive set before the connection's first tick"
    );
    tokio::time::sleep(tick).await;
    assert_eq!(forwarder_keepalive(v4(vs.addr), backend), [true, true]);
    lb.stop();
}

#[tokio::test]
async fn omega_runs_notify_down_of_up_servers_and_stop_can_wait_for_it() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("down");
    let mut vs = pool(&[echo_backend(0).await], LbAlgo::Rr);
    vs.omega = true;
    vs.real_servers[0].notify_down = Some(Program::new(vec![
        "/bin/sh".into(),
        "-c".into(),
        format!("sleep 0.3; echo down > {}", log.display()),
    ]));
    let lb = Lb::start(std::slice::from_ref(&vs), options()).unwrap();
    lb.stop().finish().await;
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "down\n");
}

/// A backend that takes one connection and hands what it read through `tx`: the first
/// `first` bytes as soon as they came (then it says `hi\n`), the rest at the client's end.
async fn recording_backend(first: usize) -> (SocketAddrV4, tokio::sync::mpsc::Receiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = v4(l.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tokio::spawn(async move {
        let Ok((mut s, _)) = l.accept().await else {
            return;
        };
        let mut head = vec![0u8; first];
        if s.read_exact(&mut head).await.is_err() {
            return;
        }
        let _ = tx.send(head).await;
        let _ = s.write_all(b"hi\n").await;
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest).await;
        let _ = tx.send(rest).await;
    });
    (addr, rx)
}

/// What [`recording_backend`] hands over next, within 10 s.
async fn received(rx: &mut tokio::sync::mpsc::Receiver<Vec<u8>>, what: &str) -> Vec<u8> {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within 10 s"))
        .unwrap_or_else(|| panic!("{what}: the backend ended first"))
}

/// The PROXY protocol v2 header of a TCP connection over IPv4 from `src` to `dst`.
fn v2_header(src: SocketAddrV4, dst: SocketAddrV4) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&src.ip().octets());
    h.extend_from_slice(&dst.ip().octets());
    h.extend_from_slice(&src.port().to_be_bytes());
    h.extend_from_slice(&dst.port().to_be_bytes());
    h
}

#[tokio::test]
async fn the_proxy_header_comes_first_and_again_after_a_refused_server() {
    let _serial = SERIAL.lock().await;
    // The pool says v1, the live server v2: what the refusing server was to get is
    // replaced by the live server's header, in front of the client's early bytes.
    let dead = SocketAddrV4::new([127, 0, 0, 1].into(), free_port());
    let (live, mut got) = recording_backend(28).await;
    let mut vs = pool(&[dead, live], LbAlgo::Rr);
    vs.proxy_protocol = Some(ProxyProtocol::V1);
    vs.real_servers[1].proxy_protocol = Some(ProxyProtocol::V2);
    let lb = Lb::start(std::slice::from_ref(&vs), options()).unwrap();
    let mut s = TcpStream::connect(vs.addr).await.unwrap();
    let me = v4(s.local_addr().unwrap());
    s.write_all(b"request\n").await.unwrap();
    let head = received(&mut got, "the header").await;
    assert_eq!(head, v2_header(me, v4(vs.addr)));
    let mut hi = [0u8; 3];
    within("the server's greeting", s.read_exact(&mut hi)).await;
    s.shutdown().await.unwrap();
    let rest = received(&mut got, "the rest").await;
    assert_eq!(
        rest, b"request\n",
        "the client's bytes, once, after the header"
    );
    let st = lb.view().status();
    assert_eq!(st[0].real_servers[0].connect_failures, 1, "{st:?}");
    assert_eq!(
        st[0].real_servers[1].bytes_in, 8,
        "the header is not counted"
    );
    lb.stop();
}

#[tokio::test]
async fn a_server_that_speaks_first_gets_the_proxy_header_at_once() {
    let _serial = SERIAL.lock().await;
    let (server, mut got) = recording_backend(28).await;
    let mut vs = pool(&[server], LbAlgo::Rr);
    vs.proxy_protocol = Some(ProxyProtocol::V2);
    let lb = Lb::start(std::slice::from_ref(&vs), options()).unwrap();
    // The client sends nothing until the server has greeted it.
    let mut s = TcpStream::connect(vs.addr).await.unwrap();
    let me = v4(s.local_addr().unwrap());
    let head = received(&mut got, "the header without client bytes").await;
    assert_eq!(head, v2_header(me, v4(vs.addr)));
    let mut hi = [0u8; 3];
    within("the server's greeting", s.read_exact(&mut hi)).await;
    assert_eq!(&hi, b"hi\n");
    s.write_all(b"after").await.unwrap();
    s.shutdown().await.unwrap();
    let rest = received(&mut got, "the rest").await;
    assert_eq!(rest, b"after");
    lb.stop();
}

#[tokio::test]
async fn a_virtual_server_at_maxconn_leaves_the_next_client_in_the_backlog() {
    let _serial = SERIAL.lock().await;
    let b = echo_backend(0).await;
    let mut vs = pool(&[b], LbAlgo::Rr);
    vs.maxconn = Some(5);
    let lb = Lb::start(std::slice::from_ref(&vs), options()).unwrap();
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(hello(vs.addr).await.0);
    }
    // The kernel completes the 6th handshake (the backlog) but vipd does not accept it:
    // no greeting from the server.
    let mut sixth = TcpStream::connect(vs.addr).await.unwrap();
    let mut id = [0u8; 2];
    let early = tokio::time::timeout(Duration::from_millis(500), sixth.read_exact(&mut id)).await;
    assert!(early.is_err(), "the 6th was served while 5 were open");
    let st = lb.view().status();
    assert_eq!((st[0].maxconn, st[0].connections), (Some(5), 5), "{st:?}");
    // One closes: the 6th is taken from the backlog and served.
    drop(held.remove(0));
    within("the 6th client's greeting", sixth.read_exact(&mut id)).await;
    assert_eq!(&id, b"0\n");
    let mut waited = 0;
    for _ in 0..100 {
        waited = lb.view().status()[0].cap_hits;
        if waited >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // At least the sixth (a place another thread held for a moment, to find its backlog
    // empty, may make one more client count as having waited).
    assert!(waited >= 1, "the 6th client waited at maxconn");
    lb.stop();
}

#[tokio::test]
async fn a_real_server_at_uthreshold_sends_the_next_connection_to_the_other() {
    let _serial = SERIAL.lock().await;
    let b = [echo_backend(0).await, echo_backend(1).await];
    // wrr 10:1 would send the first ten to server 0; uthreshold 2 stops it at two.
    let mut vs = pool(&b, LbAlgo::Wrr);
    vs.real_servers[0].weight = 10;
    vs.real_servers[0].uthreshold = 2;
    let lb = Lb::start(std::slice::from_ref(&vs), options()).unwrap();
    let mut held = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (s, id) = hello(vs.addr).await;
        held.push(s);
        ids.push(id);
    }
    assert_eq!(
        ids,
        [0, 0, 1],
        "the 3rd concurrent connection goes to server 1"
    );
    let st = lb.view().status();
    assert!(st[0].real_servers[0].full, "{st:?}");
    assert_eq!(st[0].real_servers[0].cap_hits, 1, "{st:?}");
    // Server 0's connections close: below 3/4 of 2, it takes the next one again.
    held.drain(..2);
    assert_eq!(active_settled(&lb.view(), 0, 0, 0).await, 0);
    assert_eq!(hello(vs.addr).await.1, 0);
    lb.stop();
}
