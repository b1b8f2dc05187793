//! The forwarder against a model of one TCP stream, on 127.0.0.1 only (no root): random
//! scripts of sends in random sizes from either side, half-closes and resets on either side,
//! with pauses between. The model: what a side receives is, in order and unchanged, what the
//! other sent (all of it when nobody reset; a prefix when someone did), a half-close reaches
//! the other side as end of stream after the data, and when both sides are done the forwarder
//! has no connection left. `STREAM_CASES` sets the cases (64 by default).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use vipd::config::LbAlgo;
use vipd::lb::{Lb, LbOptions};

mod common;
use common::lb::pool;

/// One step of a script.
#[derive(Debug, Clone)]
enum Op {
    /// This many bytes from the client (true) or the server (false).
    Send(bool, usize),
    /// shutdown(SHUT_WR) on that side.
    HalfClose(bool),
    /// Close with SO_LINGER 0 on that side: an RST.
    Reset(bool),
    /// Nothing for this long.
    Pause(Duration),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<bool>(), prop_oneof![1usize..=100, 100usize..=70_000, 70_000usize..=400_000])
            .prop_map(|(c, n)| Op::Send(c, n)),
        1 => any::<bool>().prop_map(Op::HalfClose),
        1 => any::<bool>().prop_map(Op::Reset),
        2 => (0u64..=5).prop_map(|ms| Op::Pause(Duration::from_millis(ms))),
    ]
}

fn cases() -> u32 {
    std::env::var("STREAM_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// The byte at `offset` of a side's stream: a pattern that shows reordering and loss.
fn pattern(client: bool, offset: usize) -> u8 {
    let x = offset as u32 ^ if client { 0x5a5a } else { 0xa5a5 };
    (x.wrapping_mul(2_654_435_761) >> 24) as u8
}

/// How a side's reading ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Eof,
    Reset,
    TimedOut,
}

/// Reads until end of stream, reset or 10 s of silence: (bytes, how it ended, when).
fn reader(stream: TcpStream) -> JoinHandle<(Vec<u8>, End, Instant)> {
    std::thread::spawn(move || {
        let mut stream = stream;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return (got, End::Eof, Instant::now()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    return (got, End::Reset, Instant::now());
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return (got, End::TimedOut, Instant::now());
                }
                Err(e) => panic!("read: {e}"),
            }
        }
    })
}

/// One side of the connection as the script drives it.
struct Side {
    stream: Option<TcpStream>,
    sent: usize,
    write_closed: bool,
    /// When the script half-closed this side.
    half_closed_at: Option<Instant>,
    reset: bool,
}

impl Side {
    fn send(&mut self, client: bool, n: usize) {
        let Some(stream) = &mut self.stream else {
            return;
        };
        if self.write_closed {
            return;
        }
        let bytes: Vec<u8> = (self.sent..self.sent + n)
            .map(|i| pattern(client, i))
            .collect();
        // The other side may have reset: a failed write ends this side's sending.
        match stream.write_all(&bytes) {
            Ok(()) => self.sent += n,
            Err(_) => self.write_closed = true,
        }
    }

    fn half_close(&mut self) {
        if let Some(stream) = &self.stream
            && !self.write_closed
        {
            let _ = stream.shutdown(Shutdown::Write);
            self.half_closed_at = Some(Instant::now());
        }
        self.write_closed = true;
    }

    /// SO_LINGER 0, then shutdown(SHUT_RD) so this side's reader (on a clone of the socket)
    /// lets go of it, then close: the kernel sends an RST.
    fn reset(&mut self) {
        if let Some(stream) = self.stream.take() {
            socket2::SockRef::from(&stream)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            let _ = stream.shutdown(Shutdown::Read);
            drop(stream);
        }
        self.write_closed = true;
        self.reset = true;
    }
}

struct Lab {
    runtime: tokio::runtime::Runtime,
    lb: Option<Lb>,
    vs: SocketAddr,
    accepted: mpsc::Receiver<TcpStream>,
}

impl Lab {
    fn new(tick: Duration) -> Lab {
        let backend = TcpListener::bind("127.0.0.1:0").unwrap();
        let SocketAddr::V4(backend_addr) = backend.local_addr().unwrap() else {
            unreachable!("bound to 127.0.0.1")
        };
        let (tx, accepted) = mpsc::channel();
        std::thread::spawn(move || {
            for s in backend.incoming().flatten() {
                if tx.send(s).is_err() {
                    return;
                }
            }
        });
        let pool = pool(&[backend_addr], LbAlgo::Rr);
        let vs = pool.addr;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let options = LbOptions {
            tick,
            ..LbOptions::new(1)
        };
        let lb = {
            let _guard = runtime.enter();
            Lb::start(&[pool], options).unwrap()
        };
        Lab {
            runtime,
            lb: Some(lb),
            vs,
            accepted,
        }
    }

    fn active(&self) -> u32 {
        let lb = self.lb.as_ref().unwrap();
        lb.view().status()[0].real_servers[0].active_connections
    }

    /// Runs one script and checks it against the model.
    fn run(&self, script: &[Op]) -> Result<(), TestCaseError> {
        let client = TcpStream::connect(self.vs).unwrap();
        let server = self
            .accepted
            .recv_timeout(Duration::from_secs(5))
            .expect("the forwarder connects to the server");
        let client_reader = reader(client.try_clone().unwrap());
        let server_reader = reader(server.try_clone().unwrap());
        let mut sides = [true, false].map(|_| Side {
            stream: None,
            sent: 0,
            write_closed: false,
            half_closed_at: None,
            reset: false,
        });
        sides[0].stream = Some(client);
        sides[1].stream = Some(server);
        let index = |client: bool| usize::from(!client);
        for op in script {
            match *op {
                Op::Send(c, n) => sides[index(c)].send(c, n),
                Op::HalfClose(c) => sides[index(c)].half_close(),
                Op::Reset(c) => sides[index(c)].reset(),
                Op::Pause(d) => std::thread::sleep(d),
            }
            if sides.iter().any(|s| s.reset) {
                break;
            }
        }
        let someone_reset = sides.iter().any(|s| s.reset);
        let mut late_eof = None;
        if !someone_reset {
            // The client closes first and the server only once it has seen that (or after
            // 0.5 s): a half-close must travel while the other direction is still open.
            sides[0].half_close();
            let waited = Instant::now();
            while !server_reader.is_finished() && waited.elapsed() < Duration::from_millis(500) {
                std::thread::sleep(Duration::from_millis(1));
            }
            if !server_reader.is_finished() {
                late_eof = Some("the server saw no end of stream 0.5 s after the client's");
            }
            sides[1].half_close();
        }
        let (at_client, client_end, client_end_at) = client_reader.join().unwrap();
        let (at_server, server_end, server_end_at) = server_reader.join().unwrap();
        let sent_by_client = sides[0].sent;
        let sent_by_server = sides[1].sent;
        let client_closed_at = sides[0].half_closed_at;
        let server_closed_at = sides[1].half_closed_at;
        drop(sides);

        // In order and unchanged, whatever happened.
        for (i, &b) in at_server.iter().enumerate() {
            prop_assert_eq!(b, pattern(true, i), "server's byte {} is wrong", i);
        }
        for (i, &b) in at_client.iter().enumerate() {
            prop_assert_eq!(b, pattern(false, i), "client's byte {} is wrong", i);
        }
        prop_assert!(at_server.len() <= sent_by_client);
        prop_assert!(at_client.len() <= sent_by_server);
        prop_assert!(late_eof.is_none(), "{}", late_eof.unwrap_or_default());
        prop_assert!(client_end != End::TimedOut, "the client never saw the end");
        prop_assert!(server_end != End::TimedOut, "the server never saw the end");
        if !someone_reset {
            // Nothing lost, and each end of stream after all the data.
            prop_assert_eq!(at_server.len(), sent_by_client);
            prop_assert_eq!(at_client.len(), sent_by_server);
            prop_assert_eq!(client_end, End::Eof);
            prop_assert_eq!(server_end, End::Eof);
            // A half-close travels as one: the other side sees its end of stream at once, not
            // when the forwarder's clock closes a half-closed connection (a tick, 1 s, later).
            for (closed, seen, who) in [
                (client_closed_at, server_end_at, "server"),
                (server_closed_at, client_end_at, "client"),
            ] {
                let closed = closed.expect("every side half-closes in the end");
                let after = seen.saturating_duration_since(closed);
                prop_assert!(
                    after < Duration::from_millis(500),
                    "the {} saw the end of stream {:?} after the half-close",
                    who,
                    after
                );
            }
        }
        // Both sides closed: the forwarder lets go of the connection (a half-closed one within
        // two ticks).
        let deadline = Instant::now() + Duration::from_secs(3);
        while self.active() != 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        prop_assert_eq!(self.active(), 0, "the forwarder kept the connection");
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(lb) = self.lb.take() {
            let _guard = self.runtime.enter();
            drop(lb.stop());
        }
    }
}

#[test]
fn streams_follow_the_model() {
    // A tick of 1 s: a half-close that only got through when the forwarder closes a
    // half-closed connection (after one or two ticks) would show.
    let lab = Lab::new(Duration::from_secs(1));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases()));
    runner
        .run(&prop::collection::vec(op(), 1..16), |script| {
            lab.run(&script)
        })
        .unwrap();
}

/// A server that closes its side at once, and a client that starts sending 60 ms later and
/// keeps sending: the connection is half-closed but busy, so it must live until the client
/// is done, however the forwarder's ticks (100 ms) fall. A connection's first tick once
/// counted as a quiet one and reset it when that tick fell before the client's first bytes
/// (60 % of rounds); a busy one is reset only after a whole tick without a byte, which a
/// client sending every 5 ms does not leave even on a loaded machine.
#[test]
fn a_half_closed_connection_that_moves_bytes_is_not_closed_by_the_clock() {
    let lab = Lab::new(Duration::from_millis(100));
    for round in 0..20 {
        let client = TcpStream::connect(lab.vs).unwrap();
        let server = lab
            .accepted
            .recv_timeout(Duration::from_secs(5))
            .expect("the forwarder connects to the server");
        server.shutdown(Shutdown::Write).unwrap();
        let at_server = reader(server);
        let at_client = reader(client.try_clone().unwrap());
        std::thread::sleep(Duration::from_millis(60));
        let mut side = Side {
            stream: Some(client),
            sent: 0,
            write_closed: false,
            half_closed_at: None,
            reset: false,
        };
        for _ in 0..25 {
            side.send(true, 100);
            std::thread::sleep(Duration::from_millis(5));
        }
        side.half_close();
        let (got, end, _) = at_server.join().unwrap();
        assert_eq!(end, End::Eof, "round {round}: the server's end");
        assert_eq!(got.len(), 2500, "round {round}: bytes at the server");
        assert_eq!(at_client.join().unwrap().1, End::Eof, "round {round}");
    }
}
