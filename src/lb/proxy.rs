//! The listener of one virtual server and the life of each proxied connection.
//!
//! The listening socket is bound with IP_FREEBIND, so it exists while this node is backup and
//! the VIP is elsewhere; it starts receiving connections the moment the VIP arrives. A new
//! connection is connected to its real server at once (MySQL and SMTP servers speak first);
//! a server that refuses is counted and the next one is tried, once. Both sockets get
//! TCP_NODELAY, and keepalive from the connection's first [`TICK`] on; a half-close
//! is passed on; a reset on either side resets the other; a connection quiet for
//! [`IDLE_TICKS`] ticks is closed, a half-closed one after one to two.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, warn};

use super::busy;
use super::pool::{ActiveGuard, Pool, PoolCell};
use super::pump::{PumpError, pump, with_scratch};

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

/// Opens one listening socket of a virtual server (each forwarding thread has its own).
pub(super) fn listen(addr: SocketAddrV4) -> io::Result<std::net::TcpListener> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    // Bind to the VIP even while another node holds it.
    s.set_freebind_v4(true)?;
    // Accepted sockets inherit it on Linux: no per-connection syscall. Not keepalive: see
    // keep_alive.
    s.set_tcp_nodelay(true)?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::V4(addr).into())?;
    s.listen(LISTEN_BACKLOG)?;
    Ok(s.into())
}

/// Accepts connections for the pool in `cell` until the task is aborted. `ticks` is the
/// thread's clock: it changes every tick, and holds the tick's length.
pub(super) async fn serve(
    listener: TcpListener,
    cell: Arc<PoolCell>,
    ticks: watch::Receiver<Duration>,
) {
    let vs = cell.get().config.addr;
    loop {
        match listener.accept().await {
            Ok((client, SocketAddr::V4(peer))) => {
                busy::worked();
                tokio::spawn(connection(client, peer, cell.get(), ticks.clone()));
            }
            Ok((_, other)) => debug!("virtual_server {vs}: dropping non-IPv4 client {other}"),
            Err(e) => {
                // EMFILE/ENFILE/ENOBUFS: back off instead of spinning.
                warn!("virtual_server {vs}: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn keepalive() -> TcpKeepalive {
    TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
}

/// Keepalive on both sockets of a connection, set at its first [`TICK`]: probes start a
/// minute after that at the soonest anyway, and short connections (most of them) neither
/// make the system calls nor arm a keepalive timer in the kernel for each socket.
fn keep_alive(client: &TcpStream, backend: &TcpStream) {
    for s in [client, backend] {
        let _ = SockRef::from(s).set_tcp_keepalive(&keepalive());
    }
}

/// Closes `s` with a reset instead of a FIN (what the other side did to us).
fn reset(s: &TcpStream) {
    let _ = SockRef::from(s).set_linger(Some(Duration::ZERO));
}

/// Reads what a new client has already sent (an HTTP client has usually sent its whole
/// request by the time it is accepted), without waiting: it goes to the server with the
/// connect. Allocates nothing when there is nothing.
fn read_early(client: &TcpStream) -> Vec<u8> {
    with_scratch(|buf| {
        // Straight to the socket: tokio would not try before the poller reports the bytes.
        // An error here (a reset) shows again as EOF to the pump.
        let early = match (&*SockRef::from(client)).read(buf) {
            Ok(n) => buf[..n].to_vec(),
            Err(_) => Vec::new(),
        };
        if early.len() < buf.len() {
            // Drained: forget readiness the poller reported before this read, so the pump
            // does not start with a read that can only say EAGAIN. Bytes that come later
            // are a new event.
            let _ = client.try_io(Interest::READABLE, || {
                Err::<(), _>(io::ErrorKind::WouldBlock.into())
            });
        }
        early
    })
}

/// Connects to `addr` and sends `early`. Where the handshake is done by the time connect(2)
/// returns (loopback, a server on this host), a send that succeeds proves the connection at
/// once and the server finds connection and request together (one wakeup, not two);
/// otherwise the socket's first writability tells. Fails only before any byte was sent, so the caller can
/// try another server with the same bytes.
async fn open(addr: SocketAddrV4, early: &[u8], timeout: Duration) -> io::Result<TcpStream> {
    let attempt = async {
        let s = Socket::new(
            Domain::IPV4,
            Type::STREAM.nonblocking(),
            Some(Protocol::TCP),
        )?;
        s.set_tcp_nodelay(true)?;
        match s.connect(&SocketAddr::V4(addr).into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(Errno::EINPROGRESS as i32) => {}
            Err(e) => return Err(e),
        }
        let stream = TcpStream::from_std(std::net::TcpStream::from(s))?;
        let mut sent = 0;
        if !early.is_empty() {
            // EAGAIN while the handshake is still under way; the connect's error if it failed.
            match (&*SockRef::from(&stream)).write(early) {
                Ok(n) => sent = n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        if sent == 0 {
            stream.writable().await?;
            if let Some(e) = stream.take_error()? {
                return Err(e);
            }
        }
        while sent < early.len() {
            match stream.try_write(&early[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.writable().await?,
                Err(e) => return Err(e),
            }
        }
        Ok(stream)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {timeout:?}"),
        )),
    }
}

async fn connection(
    client: TcpStream,
    peer: SocketAddrV4,
    pool: Arc<Pool>,
    mut ticks: watch::Receiver<Duration>,
) {
    let vs = pool.config.addr;
    // A clone of the thread's receiver remembers the tick it last saw, long ago: without
    // this, the first `changed` would return at once, and every connection would pay for
    // keepalive and be idle one tick early.
    ticks.mark_unchanged();
    let early = read_early(&client);
    // A server that fails the connect is counted and skipped once.
    let mut skip = None;
    let (backend, target, _guard) = loop {
        let Some(target) = pool.pick(*peer.ip(), skip) else {
            if skip.is_none() {
                debug!("virtual_server {vs}: no real server available for {peer}; closing");
            } else {
                reset(&client);
            }
            return;
        };
        let guard = ActiveGuard(target.counters.clone());
        match open(target.addr, &early, pool.config.connect_timeout).await {
            Ok(b) => break (b, target, guard),
            Err(e) => {
                target
                    .counters
                    .connect_failures
                    .fetch_add(1, Ordering::Relaxed);
                if skip.is_some() {
                    debug!(
                        "virtual_server {vs}: {peer} -> {}: {e}; giving up",
                        target.addr
                    );
                    reset(&client);
                    return;
                }
                debug!("virtual_server {vs}: {peer} -> {}: {e}", target.addr);
                skip = target.index.or(Some(usize::MAX));
            }
        }
    };
    target
        .counters
        .bytes_in
        .fetch_add(early.len() as u64, Ordering::Relaxed);
    drop(early);
    let activity = AtomicU64::new(0);
    // Directions that reached EOF: one = half-closed.
    let finished = AtomicU8::new(0);
    let c = &target.counters;
    let both = async {
        tokio::try_join!(
            pump(&client, &backend, &c.bytes_in, &activity, &finished),
            pump(&backend, &client, &c.bytes_out, &activity, &finished),
        )
    };
    // No timer of its own: the thread's clock ticks for all its connections.
    let idle = async {
        let mut seen = activity.load(Ordering::Relaxed);
        let mut quiet = 0u32;
        let mut first = true;
        loop {
            if ticks.changed().await.is_err() {
                // The thread is stopping: it drops this connection anyway.
                std::future::pending::<()>().await;
            }
            if std::mem::take(&mut first) {
                keep_alive(&client, &backend);
            }
            let now = activity.load(Ordering::Relaxed);
            if now != seen {
                seen = now;
                quiet = 0;
                continue;
            }
            quiet += 1;
            if finished.load(Ordering::Relaxed) > 0 || quiet >= IDLE_TICKS {
                break;
            }
        }
        *ticks.borrow() * quiet
    };
    tokio::select! {
        r = both => match r {
            Ok(_) => {}
            Err(PumpError::Read(e)) | Err(PumpError::Write(e)) => {
                debug!("virtual_server {vs}: {peer} <-> {}: {e}; resetting both", target.addr);
                reset(&client);
                reset(&backend);
            }
        },
        quiet = idle => {
            debug!("virtual_server {vs}: {peer} <-> {}: nothing moved for {quiet:?}; closing", target.addr);
            reset(&client);
            reset(&backend);
        }
    }
}
