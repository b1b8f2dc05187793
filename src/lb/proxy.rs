//! The listener of one virtual server and the life of each proxied connection, as a state
//! machine the forwarding thread ([`super::worker`]) drives with the poller's events, its
//! clock's ticks and the deadlines a connection asks for. Nothing here waits.
//!
//! The listening socket is bound with IP_FREEBIND, so it exists while this node is backup and
//! the VIP is elsewhere; it starts receiving connections the moment the VIP arrives. A new
//! connection is connected to its real server at once (MySQL and SMTP servers speak first),
//! the handshake's last ACK held back for the client's first bytes to carry (see [`dial`]);
//! a server that refuses is counted and the next one is tried, once. A server that takes
//! the PROXY protocol gets its header first, in the same write (see [`Conn::connect`]),
//! and the next server its own. Both sockets get
//! TCP_NODELAY, and keepalive from the connection's first [`TICK`] on; a half-close
//! is passed on; a reset on either side resets the other; a connection quiet for
//! [`IDLE_TICKS`] ticks is closed, a half-closed one after one to two.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use nix::errno::Errno;
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};
use tracing::debug;

use super::pool::{ActiveGuard, Pool, Target};
use super::proxy_header;
use super::pump::{Dir, Ends, PumpError, Ready};
use crate::config::ProxyProtocol;

/// Each forwarding thread's clock ticks this often (tests shorten it), and every
/// connection looks at its own activity then, instead of each keeping a timer (a timer per
/// connection costs the poller a wakeup now and then, and memory).
pub(super) const TICK: Duration = Duration::from_secs(60);
/// A connection with no byte either way for this many ticks is closed (900 s at the
/// default tick: IPVS's TCP default). Once one side has closed, the other gets one to two
/// ticks without a byte to close too (IPVS's FIN_WAIT, HAProxy's client-fin/server-fin), so
/// a peer that never closes holds nothing.
const IDLE_TICKS: u32 = 15;
/// Keepalive probes start after this much silence, so dead peers are found.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const LISTEN_BACKLOG: i32 = 4096;
/// How long the last ACK of a server's handshake waits for the client's first bytes to
/// travel with (see [`dial`]), which is also how much longer a server that speaks first may
/// wait for its connection when others are open. Under load a client's request often
/// follows its connect by more than a few hundred microseconds, so the hold must be longer
/// than that to catch it; a millisecond catches nearly all (docs/benchmarks.md), and a
/// server that speaks first hardly notices it.
const ACK_HOLD: Duration = Duration::from_millis(1);

/// Opens one listening socket of a virtual server (each forwarding thread has its own).
pub(super) fn listen(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    // Bind to the VIP even while another node holds it.
    free_bind(&s, addr)?;
    // Accepted sockets inherit it on Linux: no per-connection syscall. Not keepalive: see
    // Conn::on_tick.
    s.set_tcp_nodelay(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(LISTEN_BACKLOG)?;
    Ok(s.into())
}

/// Lets `s` bind to `addr` before the address is on an interface (IP_FREEBIND, or
/// IPV6_FREEBIND). An IPv6 socket is made IPv6-only, so a VIP of `::` never takes IPv4
/// clients of the same port that another pool owns.
pub(super) fn free_bind(s: &Socket, addr: SocketAddr) -> io::Result<()> {
    match addr {
        SocketAddr::V4(_) => s.set_freebind_v4(true),
        SocketAddr::V6(_) => {
            s.set_only_v6(true)?;
            s.set_freebind_v6(true)
        }
    }
}

/// The client's socket and the server's, by index.
pub(super) const CLIENT: usize = 0;
pub(super) const BACKEND: usize = 1;

/// The poller's token for `side` of connection `key`.
pub(super) fn token(key: usize, side: usize) -> Token {
    Token(key * 2 + side)
}

/// What a connection needs of its thread while handling something.
pub(super) struct Ctx<'a> {
    pub(super) registry: &'a Registry,
    /// The connection's key: its tokens are [`token`]`(key, side)`.
    pub(super) key: usize,
    pub(super) now: Instant,
    /// The thread's copy buffer.
    pub(super) scratch: &'a mut [u8],
    /// Deadlines the connection asks to be called back at ([`Ctx::arm`]).
    pub(super) deadlines: [Option<Instant>; 2],
    /// Set by a connection that is in the middle of a bulk transfer.
    pub(super) bulk: bool,
    /// Connections open on the thread, this one included.
    pub(super) open: usize,
}

impl Ctx<'_> {
    /// Asks for [`Conn::on_deadline`] at `at`.
    fn arm(&mut self, at: Instant) {
        let free = self.deadlines.iter_mut().find(|d| d.is_none());
        debug_assert!(free.is_some(), "a step armed more deadlines than Ctx holds");
        if let Some(free) = free {
            *free = Some(at);
        }
    }
}

/// Whether a connection lives on after a step.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    Open,
    /// Closed: drop it (its sockets close with it).
    Closed,
}

/// A server's connection, with what the connection holds there.
struct Backend {
    stream: TcpStream,
    target: Target,
    /// Its claim on the server's active count.
    _active: ActiveGuard,
}

/// One proxied connection.
pub(super) struct Conn {
    client: TcpStream,
    peer: SocketAddr,
    pool: Arc<Pool>,
    backend: Option<Backend>,
    /// While the handshake is under way: when it times out.
    connecting: Option<Instant>,
    /// The server's handshake ACK is held back for the client's first bytes until then
    /// (see [`dial`]).
    ack_held: Option<Instant>,
    /// What the client sent before a server was connected: it goes with the connect (and
    /// again to the next server if the first refuses), behind the PROXY protocol header
    /// when the server takes one.
    early: Vec<u8>,
    /// The length of that header at the start of `early`.
    head_len: usize,
    /// The server that refused, skipped for the second try.
    skip: Option<usize>,
    /// The poller's word on the client's socket and the server's.
    ready: [Ready; 2],
    /// Client to server, server to client.
    dirs: [Dir; 2],
    /// Bursts moved either way so far, and as of the last tick.
    activity: u64,
    seen: u64,
    quiet: u32,
    ticked: bool,
}

impl Conn {
    /// Takes a new client on: reads what it has already sent (an HTTP client has usually
    /// sent its whole request by the time it is accepted), through `scratch`. Then
    /// [`Conn::connect`] finds it a server.
    pub(super) fn start(
        client: TcpStream,
        peer: SocketAddr,
        pool: Arc<Pool>,
        scratch: &mut [u8],
    ) -> Conn {
        let mut ready = [Ready::default(); 2];
        // A new socket's send buffer is empty; a send that finds it full clears this.
        ready[CLIENT].writable = true;
        let early = match (&*SockRef::from(&client)).read(scratch) {
            Ok(n) => {
                // Drained, or more to read (or the client's end: the pump reads it again).
                ready[CLIENT].readable = n == 0 || n == scratch.len();
                scratch[..n].to_vec()
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Vec::new(),
            // A reset: the pump reads it again and passes it on.
            Err(_) => {
                ready[CLIENT].readable = true;
                Vec::new()
            }
        };
        Conn {
            client,
            peer,
            pool,
            backend: None,
            connecting: None,
            ack_held: None,
            early,
            head_len: 0,
            skip: None,
            ready,
            dirs: Default::default(),
            activity: 0,
            seen: 0,
            quiet: 0,
            ticked: false,
        }
    }

    /// The poller reported `event` on `side`.
    pub(super) fn on_event(
        &mut self,
        side: usize,
        event: &mio::event::Event,
        ctx: &mut Ctx,
    ) -> Step {
        self.ready[side].add(event);
        if self.connecting.is_some() {
            if side == BACKEND {
                return self.handshake_done(ctx);
            }
            // Client bytes wait until the server is connected.
            return Step::Open;
        }
        self.pump(ctx)
    }

    /// A deadline armed at `deadline` has come: the held ACK's or the connect's.
    pub(super) fn on_deadline(&mut self, deadline: Instant, ctx: &mut Ctx) -> Step {
        if self.ack_held == Some(deadline) {
            self.release_ack();
        }
        if self.connecting != Some(deadline) {
            return Step::Open;
        }
        let timeout = self.pool.config.connect_timeout;
        self.connect_failed(
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer within {timeout:?}"),
            ),
            ctx,
        )
    }

    /// The thread's clock ticked: keepalive at the first tick (probes start a minute after
    /// that at the soonest anyway, and short connections, most of them, neither make the
    /// system calls nor arm a keepalive timer in the kernel for each socket); idle and
    /// half-closed connections are closed.
    pub(super) fn on_tick(&mut self, tick: Duration) -> Step {
        let Some(backend) = &self.backend else {
            return Step::Open;
        };
        if self.connecting.is_some() {
            return Step::Open;
        }
        if !std::mem::replace(&mut self.ticked, true) {
            let keepalive = TcpKeepalive::new()
                .with_time(KEEPALIVE_IDLE)
                .with_interval(KEEPALIVE_INTERVAL);
            for s in [&self.client, &backend.stream] {
                let _ = SockRef::from(s).set_tcp_keepalive(&keepalive);
            }
            // Younger than a tick: it has not been quiet for one, whatever it moved so far
            // (a server that closes its side at once moved nothing, and its client may still
            // be sending).
            self.seen = self.activity;
            return Step::Open;
        }
        if self.activity != self.seen {
            self.seen = self.activity;
            self.quiet = 0;
            return Step::Open;
        }
        self.quiet += 1;
        let half_closed = self.dirs.iter().any(|d| d.done);
        if half_closed || self.quiet >= IDLE_TICKS {
            debug!(
                "virtual_server {}: {} <-> {}: nothing moved for {:?}; closing",
                self.pool.config.addr,
                self.peer,
                backend.target.addr,
                tick * self.quiet
            );
            return self.reset_both();
        }
        Step::Open
    }

    /// Picks a server (not one that refused) and connects to it, sending what the
    /// client already sent. Where the handshake is done by the time connect(2) returns
    /// (loopback, a server on this host), a send that succeeds proves the connection at
    /// once and the server finds connection and request together (one wakeup, not two);
    /// otherwise the socket's first writability tells.
    /// The client's socket must be registered with [`token`]`(ctx.key, CLIENT)` by now.
    pub(super) fn connect(&mut self, ctx: &mut Ctx) -> Step {
        let vs = self.pool.config.addr;
        let Some(target) = self.pool.pick(self.peer.ip(), self.skip) else {
            if self.skip.is_none() {
                debug!(
                    "virtual_server {vs}: no real server available for {}; closing",
                    self.peer
                );
                return Step::Closed;
            }
            return self.reset_client();
        };
        let active = ActiveGuard(target.counters.clone());
        if let Err(e) = self.put_header(target.proxy) {
            debug!("virtual_server {vs}: {}: {e}; closing", self.peer);
            return self.reset_client();
        }
        // With bytes to send, the ACK goes with them at once. With none yet, it waits for
        // them only when other connections are open: then the wakeup and packet saved
        // count; alone on its thread a connection gains more from the server accepting
        // while its request is still on the way (and a lone server that speaks first
        // waits for nothing).
        let hold = self.early.is_empty() && ctx.open > 1;
        let mut stream = match dial(target.addr, hold || !self.early.is_empty()) {
            Ok(s) => s,
            Err(e) => return self.refused(target, e, ctx),
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = ctx
            .registry
            .register(&mut stream, token(ctx.key, BACKEND), interest)
        {
            return self.refused(target, e, ctx);
        }
        let sent = match self.send_early(&stream) {
            Ok(sent) => sent,
            Err(e) => return self.refused(target, e, ctx),
        };
        self.ready[BACKEND] = Ready::default();
        self.backend = Some(Backend {
            stream,
            target,
            _active: active,
        });
        if hold {
            // Nothing to send yet: the client's first bytes have a moment to come.
            let hold = ctx.now + ACK_HOLD;
            self.ack_held = Some(hold);
            ctx.arm(hold);
        }
        if let Some(n) = sent {
            return self.connected(n, ctx);
        }
        let deadline = ctx.now + self.pool.config.connect_timeout;
        self.connecting = Some(deadline);
        ctx.arm(deadline);
        Step::Open
    }

    /// Puts the PROXY protocol header `proxy` in front of the early bytes, in place of the
    /// one written for a server that refused, so that it is the first thing the server
    /// gets, in the connect's first write, whether or not the client sent anything yet.
    /// Source: the client; destination: the address it connected to (the VIP).
    fn put_header(&mut self, proxy: Option<ProxyProtocol>) -> io::Result<()> {
        let mut head = Vec::new();
        if let Some(version) = proxy {
            let local = self.client.local_addr()?;
            proxy_header::write(version, self.peer, local, &mut head);
        }
        let old = std::mem::replace(&mut self.head_len, head.len());
        self.early.splice(..old, head);
        Ok(())
    }

    /// Sends the server's handshake ACK now, if it is still held: no client bytes came to
    /// carry it, and a server that speaks first is waiting for it.
    fn release_ack(&mut self) {
        self.ack_held = None;
        if let Some(b) = &self.backend {
            // On a handshake still under way this only ends the hold: the ACK then goes
            // out as soon as the server answers.
            let _ = SockRef::from(&b.stream).set_tcp_quickack(true);
        }
    }

    /// The server's socket reported something while connecting.
    fn handshake_done(&mut self, ctx: &mut Ctx) -> Step {
        let Some(backend) = &self.backend else {
            return Step::Closed;
        };
        let r = self.ready[BACKEND];
        if !(r.writable || r.error || r.read_closed) {
            return Step::Open;
        }
        match backend.stream.take_error() {
            Ok(None) if r.writable && !r.error => {}
            Ok(Some(e)) | Err(e) => return self.connect_failed(e, ctx),
            Ok(None) => return self.connect_failed(io::ErrorKind::ConnectionRefused.into(), ctx),
        }
        // Sent only now: a failure above can still go to the next server with all of it.
        match self.send_early(&backend.stream) {
            Ok(sent) => self.connected(sent.unwrap_or(0), ctx),
            Err(e) => self.connect_failed(e, ctx),
        }
    }

    /// Sends the early bytes to `server`: how many went, or `None` when there are none or
    /// the handshake is still under way (EAGAIN); the connect's error if it failed.
    fn send_early(&self, server: &TcpStream) -> io::Result<Option<usize>> {
        if self.early.is_empty() {
            return Ok(None);
        }
        match SockRef::from(server).send(&self.early) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Connected, with `sent` of the early bytes gone: they are counted, the rest waits in
    /// the client-to-server direction, and bytes start flowing both ways.
    fn connected(&mut self, sent: usize, ctx: &mut Ctx) -> Step {
        self.connecting = None;
        let early = std::mem::take(&mut self.early);
        // The client's bytes only, not the header.
        let head = std::mem::take(&mut self.head_len);
        if let Some(b) = &self.backend {
            b.target
                .counters
                .bytes_in
                .fetch_add((early.len() - head) as u64, Ordering::Relaxed);
        }
        if sent < early.len() {
            self.ready[BACKEND].writable = false;
            self.dirs[0] = Dir::with_early(early[sent..].to_vec());
        } else if !early.is_empty() {
            // A send that took everything proves room for more.
            self.ready[BACKEND].writable = true;
        }
        self.pump(ctx)
    }

    /// The server did not take the connection: counted, and the next one is tried, once.
    fn connect_failed(&mut self, e: io::Error, ctx: &mut Ctx) -> Step {
        self.connecting = None;
        let Some(Backend {
            stream,
            target,
            _active,
        }) = self.backend.take()
        else {
            return self.reset_client();
        };
        // Closed, and its claim on the server given up, before the next server is picked.
        drop((stream, _active));
        self.ack_held = None;
        self.refused(target, e, ctx)
    }

    fn refused(&mut self, target: Target, e: io::Error, ctx: &mut Ctx) -> Step {
        let vs = self.pool.config.addr;
        target
            .counters
            .connect_failures
            .fetch_add(1, Ordering::Relaxed);
        if self.skip.is_some() {
            debug!(
                "virtual_server {vs}: {} -> {}: {e}; giving up",
                self.peer, target.addr
            );
            return self.reset_client();
        }
        debug!("virtual_server {vs}: {} -> {}: {e}", self.peer, target.addr);
        self.skip = target.index.or(Some(usize::MAX));
        self.connect(ctx)
    }

    /// Moves what can be moved both ways; closes when both ways are done, resets both
    /// sides when either fails.
    fn pump(&mut self, ctx: &mut Ctx) -> Step {
        let Some(backend) = &self.backend else {
            return Step::Closed;
        };
        let [client_ready, backend_ready] = &mut self.ready;
        let [up, down] = &mut self.dirs;
        let counters = &backend.target.counters;
        let r = (|| {
            let client = (&self.client, &mut *client_ready);
            let server = (&backend.stream, &mut *backend_ready);
            let n = up.pump(Ends::new(client, server, down.done), ctx.scratch)?;
            if n > 0 || up.done {
                // The held ACK went with them.
                self.ack_held = None;
            }
            counters.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
            if n > 0 {
                down.other_moved();
            }
            let client = (&self.client, &mut *client_ready);
            let server = (&backend.stream, &mut *backend_ready);
            let m = down.pump(Ends::new(server, client, up.done), ctx.scratch)?;
            counters.bytes_out.fetch_add(m as u64, Ordering::Relaxed);
            if m > 0 {
                up.other_moved();
            }
            Ok::<_, PumpError>(u64::from(n > 0) + u64::from(m > 0))
        })();
        match r {
            Ok(bursts) => {
                self.activity += bursts;
                ctx.bulk |= self.dirs.iter().any(Dir::bulk);
                if self.dirs.iter().all(|d| d.done) {
                    Step::Closed
                } else {
                    Step::Open
                }
            }
            Err(PumpError::Read(e)) | Err(PumpError::Write(e)) => {
                debug!(
                    "virtual_server {}: {} <-> {}: {e}; resetting both",
                    self.pool.config.addr, self.peer, backend.target.addr
                );
                self.reset_both()
            }
        }
    }

    /// Closes the client with a reset instead of a FIN (what the server did to us, or no
    /// server would take it).
    fn reset_client(&mut self) -> Step {
        reset(&self.client);
        Step::Closed
    }

    fn reset_both(&mut self) -> Step {
        if let Some(b) = &self.backend {
            reset(&b.stream);
        }
        self.reset_client()
    }
}

/// Makes `s` close with a reset instead of a FIN.
fn reset(s: &TcpStream) {
    let _ = SockRef::from(s).set_linger(Some(Duration::ZERO));
}

/// Starts a non-blocking connect to `addr`; with `hold_ack`, the handshake's last ACK is
/// held back for the first bytes to carry: the server then is woken once, for a
/// connection that has its request already, instead of once for the connection and
/// again for the request, and one packet is saved (HAProxy's `option smart-connect`,
/// which is off by default). Linux holds that ACK when quick ACKs are off at connect, and
/// turns them back on right after the handshake, so the rest of the connection
/// acknowledges as usual. A server that speaks first (MySQL) sees its connection only
/// once the ACK goes out: [`Conn::connect`] releases it after [`ACK_HOLD`] if no client
/// bytes took it (the kernel alone would wait 200 ms).
fn dial(addr: SocketAddr, hold_ack: bool) -> io::Result<TcpStream> {
    let s = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    s.set_tcp_nodelay(true)?;
    if hold_ack {
        s.set_tcp_quickack(false)?;
    }
    match s.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(Errno::EINPROGRESS as i32) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(std::net::TcpStream::from(s)))
}
