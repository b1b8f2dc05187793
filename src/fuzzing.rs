//! Entry points for the coverage-guided fuzz targets in `fuzz/` (built only with
//! `--cfg fuzzing`, which `cargo fuzz` sets). Each takes the bytes a remote or local party
//! could send, runs the code that reads them, and checks what must hold for any input; a
//! violated check panics, which the fuzzer reports as a crash.

use std::io::Cursor;

use crate::config::HttpUrl;
use crate::control::proto::Request;
use crate::control::server::{Line, read_request};
use crate::metrics::{Route, route};

/// Control socket: request lines as a client streams them. No line handed on is longer than
/// the limit, a too-long line stops the reading, and every line parses or is refused.
pub fn control_requests(data: &[u8]) {
    const MAX: usize = 64;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async {
        let mut reader = tokio::io::BufReader::new(Cursor::new(data));
        let mut line = Vec::new();
        let mut consumed = 0;
        loop {
            match read_request(&mut reader, &mut line, MAX).await {
                Ok(Line::Request) => {
                    assert!(line.len() <= MAX, "a {}-byte request line", line.len());
                    assert!(!line.contains(&b'\n'));
                    assert_eq!(&data[consumed..consumed + line.len()], &line[..]);
                    consumed += line.len() + 1;
                    if let Ok(request) = serde_json::from_slice::<Request>(&line) {
                        let again = serde_json::to_vec(&request).expect("a request serializes");
                        let back: Request = serde_json::from_slice(&again).expect("round trip");
                        assert_eq!(back, request);
                    }
                }
                Ok(Line::TooLong) => {
                    assert_eq!(
                        line.len(),
                        MAX + 1,
                        "reads one byte past the limit, no more"
                    );
                    break;
                }
                Ok(Line::End) => break,
                Err(e) => panic!("reading from memory failed: {e}"),
            }
        }
    });
}

/// Metrics endpoint: any request head routes somewhere, and only `GET /metrics` to the page.
pub fn metrics_request(head: &[u8]) {
    let r = route(head);
    if r == Route::Metrics {
        let text = String::from_utf8_lossy(head);
        let first = text.split('\n').next().unwrap_or_default();
        let mut words = first.split_whitespace();
        assert_eq!(words.next(), Some("GET"));
        assert!(words.next().is_some_and(|p| p.starts_with("/metrics")));
    }
}

/// HTTP_GET health check: any answer from a real server is judged without panicking, and an
/// answer judged healthy has a complete header and the status the check wants.
pub fn http_check_answer(data: &[u8]) {
    let Some((&selector, answer)) = data.split_first() else {
        return;
    };
    let url = HttpUrl {
        path: "/".into(),
        status_code: (selector & 1 == 1).then_some(200),
        digest: (selector & 2 == 2).then(|| "d41d8cd98f00b204e9800998ecf8427e".into()),
    };
    if crate::lb::judge_http(answer, &url).is_ok() {
        let end = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a healthy answer has a complete header");
        if url.digest.is_some() {
            assert_eq!(end + 4, answer.len(), "the empty body's digest, so no body");
        }
    }
}

/// VRRP receive path, v2 and v3, IPv4 and IPv6: the first byte picks the instance (version,
/// authentication, unicast peers or multicast), the rest is a datagram (IPv4, header
/// included) or an IPv6 payload. Whatever passes every check has this instance's VRID and
/// version, comes from a configured peer in unicast mode and never from our own address, and
/// the state machine takes it without panicking.
pub fn vrrp_receive(data: &[u8]) {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::time::{Duration, Instant};

    use crate::vrrp::fsm::{Fsm, FsmConfig};
    use crate::vrrp::instance::{Filter, Verdict, judge};
    use crate::vrrp::packet::{self, AdvertInterval, Auth, Expected, Version};

    let Some((&selector, datagram)) = data.split_first() else {
        return;
    };
    // With bit 6 the checksum is made right first, so the fuzzer gets past it to the checks
    // behind it; without, a wrong checksum must be caught.
    let mut datagram = datagram.to_vec();
    let fix_checksum = selector & 64 != 0;
    let version = if selector & 1 == 0 {
        Version::V2
    } else {
        Version::V3
    };
    let ipv6 = selector & 8 != 0;
    let auth = if selector & 2 != 0 && version == Version::V2 {
        Auth::from_config(Some(b"s3cret"))
    } else {
        Auth::None
    };
    let me: IpAddr = if ipv6 {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1).into()
    } else {
        Ipv4Addr::new(10, 0, 0, 1).into()
    };
    let peer: IpAddr = if ipv6 {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2).into()
    } else {
        Ipv4Addr::new(10, 0, 0, 2).into()
    };
    let vips: Vec<IpAddr> = if ipv6 {
        vec![Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100).into()]
    } else {
        vec![Ipv4Addr::new(10, 0, 0, 100).into()]
    };
    // The instance filters unicast peers on IPv4 only (IPv6 instances come with VRRPv3).
    let unicast = selector & 4 != 0 && !ipv6;
    let peers: Vec<IpAddr> = if unicast { vec![peer, me] } else { vec![] };
    let expected = Expected {
        version,
        vrid: 51,
        auth: &auth,
        interval: AdvertInterval::from_secs(1),
        addrs: &vips,
    };
    let verdict = if ipv6 {
        // A raw IPv6 socket hands up the payload; source and hop limit come with it.
        let src = match peer {
            IpAddr::V6(p) if selector & 16 == 0 => p,
            _ => Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(selector)),
        };
        let dst = packet::MULTICAST_GROUP_V6;
        let hop_limit = if selector & 32 == 0 { 255 } else { 64 };
        if fix_checksum {
            let ends = packet::Endpoints::V6 { src, dst };
            fill_checksum(&mut datagram, packet::Family::Ipv6, ends);
        }
        match packet::parse_ipv6(&datagram, src, dst, hop_limit) {
            Ok(received) => match packet::validate(&received.advert, &expected) {
                Ok(()) => Verdict::Accept(received),
                Err(e) => Verdict::Drop(Some(received.src), e),
            },
            Err(e) => Verdict::Drop(None, e),
        }
    } else {
        if fix_checksum {
            fill_ipv4_checksum(&mut datagram);
        }
        let filter = Filter {
            unicast_peers: &peers,
            source: Some(me),
            expected,
        };
        judge(&datagram, None, &filter)
    };
    match verdict {
        Verdict::Accept(received) => {
            assert_eq!(received.advert.vrid, 51);
            assert_eq!(received.advert.version, version);
            assert_ne!(received.src, me, "our own address is never accepted");
            if unicast {
                assert!(peers.contains(&received.src), "only configured peers");
            }
            let mut fsm = Fsm::new(FsmConfig {
                version,
                priority: 100,
                advert_int: Duration::from_secs(1),
                preempt: true,
                preempt_delay: Duration::ZERO,
                local_addr: me,
                announce_again_after: Duration::from_secs(5),
                refresh_every: None,
                answer_lower_prio: true,
            });
            let now = Instant::now();
            fsm.handle_startup(now);
            let advert = &received.advert;
            fsm.handle_advert(
                now,
                received.src,
                advert.priority,
                advert.interval.as_duration(),
            );
            // Whatever interval an advert carries (0 included), no timer is due at once: a
            // driver that slept until it would spin.
            assert!(fsm.poll_timeout().is_none_or(|at| at > now));
            while fsm.poll_action().is_some() {}
        }
        Verdict::Drop(_, e) | Verdict::DropQuietly(e) => {
            assert!(packet::ALL_COUNTER_NAMES.contains(&e.counter_name()));
        }
        Verdict::OwnEcho => assert!(unicast),
    }
}

/// Writes the right VRRP checksum into the message inside an IPv4 datagram, when the IPv4
/// header and the message's length allow finding it.
fn fill_ipv4_checksum(datagram: &mut [u8]) {
    use std::net::Ipv4Addr;

    use crate::vrrp::packet::{Endpoints, Family};

    let Some(&ver_ihl) = datagram.first() else {
        return;
    };
    let header = usize::from(ver_ihl & 0x0f) * 4;
    if header < 20 || datagram.len() < header {
        return;
    }
    let total = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    if total < header || total > datagram.len() {
        return;
    }
    let at = |i: usize| {
        Ipv4Addr::new(
            datagram[i],
            datagram[i + 1],
            datagram[i + 2],
            datagram[i + 3],
        )
    };
    let ends = Endpoints::V4 {
        src: at(12),
        dst: at(16),
    };
    fill_checksum(&mut datagram[header..total], Family::Ipv4, ends);
}

/// Writes the right checksum into a VRRP message: v2 over the message, v3 with the
/// pseudo-header (keepalived's default).
fn fill_checksum(
    message: &mut [u8],
    family: crate::vrrp::packet::Family,
    ends: crate::vrrp::packet::Endpoints,
) {
    use crate::vrrp::packet::{ChecksumOver, Packet};

    let Ok(mut packet) = Packet::new_checked(message, family) else {
        return;
    };
    let over = match packet.version() {
        2 => ChecksumOver::MessageOnly,
        _ => ChecksumOver::PseudoHeader(ends),
    };
    packet.fill_checksum(&over);
}

/// Config text, keepalived.conf or TOML (the first byte picks): loading never panics, every
/// error names a line inside the text, and what loads converts to TOML that loads back to the
/// same model (the differential `vipctl convert` promises).
pub fn config_text(data: &[u8]) {
    use std::path::Path;

    use crate::config::{self, HostChecks, LoadOptions};

    let Some((&selector, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let path = if selector & 1 == 0 {
        Path::new("fuzz.conf")
    } else {
        Path::new("fuzz.toml")
    };
    // Nothing on this machine is looked at: the text alone decides.
    let options = LoadOptions {
        config_id: Some("fuzz".into()),
        host_checks: HostChecks::None,
    };
    let loaded = match config::load_str_with(text, path, &options) {
        Ok(loaded) => loaded,
        Err(e) => {
            let lines = text.lines().count().max(1);
            for d in &e.diagnostics {
                assert!(
                    d.line <= lines + 1,
                    "line {} of a {lines}-line text: {d}",
                    d.line
                );
            }
            return;
        }
    };
    // An include that matched nothing leaves the model short of what it names elsewhere;
    // no such file exists here, so the fuzzer's includes never match.
    if loaded.warnings.iter().any(|w| w.key == "include") {
        return;
    }
    let toml = config::convert::to_toml(&loaded, path).expect("a loaded model converts");
    let again = config::load_str_with(&toml, Path::new("converted.toml"), &options)
        .unwrap_or_else(|e| panic!("converted TOML does not load:\n{e}\n{toml}"));
    assert_eq!(
        again.config, loaded.config,
        "round trip through TOML:\n{toml}"
    );
}

/// The forwarder against a model of one TCP stream (as `tests/lb_stream.rs` does with
/// proptest), driven by the input: the real forwarder on 127.0.0.1 in front of one server,
/// and a script of sends in random sizes from either side, reads in random chunks, pauses,
/// half-closes and resets on either side. What a side receives is, in order and unchanged,
/// what the other sent (all of it when nobody reset, a prefix when someone did); a half-close
/// reaches the other side as end of stream after the data; a reset ends the other side's
/// stream; and once both sides are done the forwarder holds no connection.
///
/// Each input is two bytes per step, at most [`stream::MAX_STEPS`] of them: the first
/// picks what (`% 8`: send 1..=256 bytes, 64 B..16 KiB, 1..256 KiB, read up to
/// 256 B..64 KiB, half-close, reset, pause up to 0.75 ms, read everything there) and on
/// which side (bit 3: the server), the second how much.
pub fn forwarder_stream(data: &[u8]) {
    stream::LAB.with(|lab| lab.run(data));
}

/// The forwarder, its server and the two sides of one connection for [`forwarder_stream`].
mod stream {
    use std::io::{ErrorKind, Read, Write};
    use std::net::{Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
    use std::path::Path;
    use std::time::{Duration, Instant};

    use crate::config::{self, HostChecks, LoadOptions};
    use crate::lb::{Lb, LbOptions};

    /// Steps read from one input; the rest is ignored.
    pub(super) const MAX_STEPS: usize = 64;
    /// Bytes one side sends in one input at most (more sends are skipped): enough for
    /// bursts that go through the forwarder's pipes, few enough for many inputs a second.
    const MAX_SENT: usize = 2 << 20;
    /// How long anything the model expects may take. The forwarder's clock ticks far less
    /// often ([`TICK`]), so a half-close or a release that waited for it shows as a crash.
    const PATIENCE: Duration = Duration::from_secs(5);
    const TICK: Duration = Duration::from_secs(30);

    thread_local! {
        /// One forwarder for the whole run (libFuzzer calls from one thread).
        pub(super) static LAB: Lab = Lab::new();
    }

    /// The byte at `offset` of a side's stream: a pattern that shows reordering and loss.
    fn pattern(client: bool, offset: usize) -> u8 {
        let x = offset as u32 ^ if client { 0x5a5a } else { 0xa5a5 };
        (x.wrapping_mul(2_654_435_761) >> 24) as u8
    }

    /// How a side's stream ended.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum End {
        Eof,
        Reset,
    }

    /// One side of the connection as the script drives it (non-blocking).
    struct Side {
        client: bool,
        stream: Option<TcpStream>,
        sent: usize,
        /// Bytes received so far (each checked against the other side's pattern).
        got: usize,
        write_closed: bool,
        /// A send failed: only a reset (of this side or the other) may cause that.
        write_failed: bool,
        end: Option<End>,
        reset: bool,
    }

    impl Side {
        fn new(client: bool, stream: TcpStream) -> Side {
            stream.set_nonblocking(true).expect("a non-blocking socket");
            Side {
                client,
                stream: Some(stream),
                sent: 0,
                got: 0,
                write_closed: false,
                write_failed: false,
                end: None,
                reset: false,
            }
        }

        /// Reads what is there now, up to `limit` bytes; whether any came (or the end).
        fn read(&mut self, limit: usize, buf: &mut [u8]) -> bool {
            let Some(stream) = &mut self.stream else {
                return false;
            };
            if self.end.is_some() {
                return false;
            }
            let mut progress = false;
            let mut left = limit;
            while left > 0 {
                let want = left.min(buf.len());
                match stream.read(&mut buf[..want]) {
                    Ok(0) => {
                        self.end = Some(End::Eof);
                        return true;
                    }
                    Ok(n) => {
                        let expected: Vec<u8> = (self.got..self.got + n)
                            .map(|i| pattern(!self.client, i))
                            .collect();
                        assert!(
                            buf[..n] == expected[..],
                            "the {} got wrong bytes at {}..{}",
                            self.name(),
                            self.got,
                            self.got + n
                        );
                        self.got += n;
                        left -= n;
                        progress = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                        self.end = Some(End::Reset);
                        return true;
                    }
                    Err(e) => panic!("the {} read: {e}", self.name()),
                }
            }
            progress
        }

        fn half_close(&mut self) {
            if let Some(stream) = &self.stream
                && !self.write_closed
            {
                let _ = stream.shutdown(Shutdown::Write);
            }
            self.write_closed = true;
        }

        /// Close with SO_LINGER 0: the kernel sends an RST.
        fn reset(&mut self) {
            if let Some(stream) = self.stream.take() {
                socket2::SockRef::from(&stream)
                    .set_linger(Some(Duration::ZERO))
                    .expect("SO_LINGER");
            }
            self.write_closed = true;
            self.reset = true;
        }

        fn name(&self) -> &'static str {
            if self.client { "client" } else { "server" }
        }
    }

    /// Both sides of one connection through the forwarder.
    struct Pair {
        sides: [Side; 2],
        buf: Vec<u8>,
    }

    impl Pair {
        /// Reads what both sides have now; whether anything came.
        fn read_both(&mut self) -> bool {
            let [a, b] = &mut self.sides;
            let x = a.read(usize::MAX, &mut self.buf);
            b.read(usize::MAX, &mut self.buf) || x
        }

        /// Reads both sides until `done` holds; panics with `what` after [`PATIENCE`].
        fn wait(&mut self, what: &str, done: impl Fn(&Pair) -> bool) {
            let deadline = Instant::now() + PATIENCE;
            while !done(self) {
                assert!(Instant::now() < deadline, "{what} within {PATIENCE:?}");
                if !self.read_both() {
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
        }

        /// Sends `n` more bytes of side `i`'s pattern, reading both sides whenever the
        /// socket is full (the forwarder must keep taking them while the other side reads).
        fn send(&mut self, i: usize, n: usize) {
            let side = &self.sides[i];
            if side.write_closed || side.stream.is_none() || side.sent + n > MAX_SENT {
                return;
            }
            let client = side.client;
            let start = side.sent;
            let bytes: Vec<u8> = (start..start + n).map(|k| pattern(client, k)).collect();
            let mut at = 0;
            let mut deadline = Instant::now() + PATIENCE;
            while at < n {
                let side = &mut self.sides[i];
                let Some(stream) = &mut side.stream else {
                    return;
                };
                match stream.write(&bytes[at..]) {
                    Ok(k) => {
                        at += k;
                        side.sent += k;
                        deadline = Instant::now() + PATIENCE;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        assert!(
                            Instant::now() < deadline,
                            "the forwarder took no byte from the {} for {PATIENCE:?}",
                            side.name()
                        );
                        if !self.read_both() {
                            std::thread::sleep(Duration::from_micros(100));
                        }
                    }
                    // The other side's end reset it: this side's sending ends (the model
                    // checks below whether anyone had a reason to reset).
                    Err(_) => {
                        side.write_closed = true;
                        side.write_failed = true;
                        return;
                    }
                }
            }
        }
    }

    /// The forwarder on a free port of 127.0.0.1 in front of one server, and its runtime.
    pub(super) struct Lab {
        /// Keeps the forwarder's context (and the SIGPIPE handler) alive.
        _runtime: tokio::runtime::Runtime,
        lb: Lb,
        vs: SocketAddrV4,
        backend: TcpListener,
        /// vipd's binaries ignore SIGPIPE (Rust's runtime does it before `main`), but a fuzz
        /// target's `main` is libFuzzer's: a splice to a reset socket would kill the run.
        /// Listening for the signal keeps it from doing so.
        _sigpipe: tokio::signal::unix::Signal,
    }

    impl Lab {
        fn new() -> Lab {
            let backend = TcpListener::bind("127.0.0.1:0").expect("a server port");
            backend
                .set_nonblocking(true)
                .expect("a non-blocking listener");
            let SocketAddr::V4(server) = backend.local_addr().expect("its address") else {
                unreachable!("bound on 127.0.0.1")
            };
            let free = TcpListener::bind("127.0.0.1:0").expect("a free port");
            let port = free.local_addr().expect("its address").port();
            drop(free);
            // The pool as a user writes it: round robin over one server, no checks.
            let text = format!(
                "virtual_server 127.0.0.1 {port} {{\n lb_algo rr\n lb_kind NAT\n \
                 protocol TCP\n real_server {} {} {{\n weight 1\n }}\n}}\n",
                server.ip(),
                server.port()
            );
            let options = LoadOptions {
                config_id: Some("fuzz".into()),
                host_checks: HostChecks::None,
            };
            let loaded = config::load_str_with(&text, Path::new("lb.conf"), &options)
                .unwrap_or_else(|e| panic!("the pool loads: {e}"));
            let pools = loaded.config.virtual_servers;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime");
            let guard = runtime.enter();
            let sigpipe = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::pipe())
                .expect("a SIGPIPE handler");
            let lb_options = LbOptions {
                tick: TICK,
                ..LbOptions::new(1)
            };
            let lb = Lb::start(&pools, lb_options).expect("the forwarder starts");
            drop(guard);
            Lab {
                _runtime: runtime,
                lb,
                vs: SocketAddrV4::new([127, 0, 0, 1].into(), port),
                backend,
                _sigpipe: sigpipe,
            }
        }

        fn active(&self) -> u32 {
            self.lb.view().status()[0].real_servers[0].active_connections
        }

        fn accept(&self) -> TcpStream {
            let deadline = Instant::now() + PATIENCE;
            loop {
                match self.backend.accept() {
                    Ok((s, _)) => return s,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        assert!(
                            Instant::now() < deadline,
                            "the forwarder connects to the server"
                        );
                        std::thread::sleep(Duration::from_micros(100));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
        }

        /// Runs one script and checks it against the model.
        pub(super) fn run(&self, data: &[u8]) {
            assert_eq!(self.active(), 0, "a connection left from the last input");
            let client = TcpStream::connect(self.vs).expect("the forwarder accepts");
            let server = self.accept();
            let mut pair = Pair {
                sides: [Side::new(true, client), Side::new(false, server)],
                buf: vec![0; 64 << 10],
            };
            for step in data.chunks_exact(2).take(MAX_STEPS) {
                let (what, arg) = (step[0], usize::from(step[1]) + 1);
                let i = usize::from(what & 8 != 0);
                match what % 8 {
                    0 => pair.send(i, arg),
                    1 => pair.send(i, arg * 64),
                    2 => pair.send(i, arg * 1024),
                    3 => {
                        let Pair { sides, buf } = &mut pair;
                        sides[i].read(arg * 256, buf);
                    }
                    4 => pair.sides[i].half_close(),
                    5 => pair.sides[i].reset(),
                    6 => std::thread::sleep(Duration::from_micros(arg as u64 % 4 * 250)),
                    _ => {
                        pair.read_both();
                    }
                }
                if pair.sides.iter().any(|s| s.reset) {
                    break;
                }
            }
            let reset = pair.sides.iter().position(|s| s.reset);
            match reset {
                None => {
                    // The client closes first, the server once it has seen that: a
                    // half-close must travel while the other direction is still open.
                    pair.sides[0].half_close();
                    pair.wait("the server sees the client's end", |p| {
                        p.sides[1].end.is_some()
                    });
                    pair.sides[1].half_close();
                    pair.wait("the client sees the server's end", |p| {
                        p.sides[0].end.is_some()
                    });
                    for side in &pair.sides {
                        assert_eq!(side.end, Some(End::Eof), "the {}'s end", side.name());
                        assert!(!side.write_failed, "a send of the {} failed", side.name());
                    }
                    // Nothing lost.
                    let [client, server] = &pair.sides;
                    assert_eq!(server.got, client.sent, "bytes at the server");
                    assert_eq!(client.got, server.sent, "bytes at the client");
                }
                Some(r) => {
                    let other = 1 - r;
                    pair.wait("the other side sees the reset's end", |p| {
                        p.sides[other].end.is_some()
                    });
                    // A prefix (each byte was checked as it came).
                    let [client, server] = &pair.sides;
                    assert!(server.got <= client.sent, "bytes at the server");
                    assert!(client.got <= server.sent, "bytes at the client");
                }
            }
            drop(pair);
            // Both sides closed: the forwarder lets go of the connection.
            let deadline = Instant::now() + PATIENCE;
            while self.active() != 0 {
                assert!(
                    Instant::now() < deadline,
                    "the forwarder kept the connection"
                );
                std::thread::sleep(Duration::from_micros(100));
            }
        }
    }
}
