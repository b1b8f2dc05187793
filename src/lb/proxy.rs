//! The listener of one virtual server and the life of each proxied connection.
//!
//! The listening socket is bound with IP_FREEBIND, so it exists while this node is backup and
//! the VIP is elsewhere; it starts receiving connections the moment the VIP arrives. A new
//! connection is connected to its real server at once (MySQL and SMTP servers speak first);
//! a server that refuses is counted and the next one is tried, once. Both sockets get
//! TCP_NODELAY and keepalive; a half-close is passed on; a reset on either side resets the
//! other; a connection quiet for [`IDLE_TIMEOUT`] is closed, a half-closed one after
//! [`HALF_CLOSED_TIMEOUT`].

use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use super::pool::{ActiveGuard, Pool, Target};
use super::pump::{PumpError, pump};

/// A connection with no byte either way for this long is closed (IPVS's TCP default).
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(900);
/// Once one side has closed, the other gets this long without a byte to close too (IPVS's
/// FIN_WAIT, HAProxy's client-fin/server-fin), so a peer that never closes holds nothing.
const HALF_CLOSED_TIMEOUT: Duration = Duration::from_secs(60);
/// Keepalive probes start after this much silence, so dead peers are found.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const LISTEN_BACKLOG: i32 = 4096;

/// Opens the listening socket of a virtual server.
pub(super) fn listen(addr: SocketAddrV4) -> io::Result<TcpListener> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    // Bind to the VIP even while another node holds it.
    s.set_freebind_v4(true)?;
    // Accepted sockets inherit these on Linux: no per-connection syscalls for them.
    s.set_tcp_nodelay(true)?;
    s.set_tcp_keepalive(&keepalive())?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::V4(addr).into())?;
    s.listen(LISTEN_BACKLOG)?;
    TcpListener::from_std(s.into())
}

/// Accepts connections until the task is aborted.
pub(super) async fn serve(listener: TcpListener, pool: Arc<Pool>) {
    let vs = pool.config.addr;
    loop {
        match listener.accept().await {
            Ok((client, SocketAddr::V4(peer))) => {
                tokio::spawn(connection(client, peer, pool.clone()));
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

/// TCP_NODELAY and keepalive on a backend socket (client sockets inherit them from the
/// listener).
fn tune(s: &TcpStream) {
    let _ = s.set_nodelay(true);
    let _ = SockRef::from(s).set_tcp_keepalive(&keepalive());
}

/// Closes `s` with a reset instead of a FIN (what the other side did to us).
fn reset(s: &TcpStream) {
    let _ = SockRef::from(s).set_linger(Some(Duration::ZERO));
}

async fn connect(target: &Target, timeout: Duration) -> io::Result<TcpStream> {
    match tokio::time::timeout(timeout, TcpStream::connect(target.addr)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {timeout:?}"),
        )),
    }
}

async fn connection(client: TcpStream, peer: SocketAddrV4, pool: Arc<Pool>) {
    let vs = pool.config.addr;
    let Some(first) = pool.pick(*peer.ip(), None) else {
        debug!("virtual_server {vs}: no real server available for {peer}; closing");
        return;
    };
    let guard = ActiveGuard(first.counters.clone());
    let (backend, target, _guard) = match connect(&first, pool.config.connect_timeout).await {
        Ok(b) => (b, first, guard),
        Err(e) => {
            first
                .counters
                .connect_failures
                .fetch_add(1, Ordering::Relaxed);
            drop(guard);
            debug!("virtual_server {vs}: {peer} -> {}: {e}", first.addr);
            let Some(second) = pool.pick(*peer.ip(), first.index.or(Some(usize::MAX))) else {
                reset(&client);
                return;
            };
            let guard = ActiveGuard(second.counters.clone());
            match connect(&second, pool.config.connect_timeout).await {
                Ok(b) => (b, second, guard),
                Err(e) => {
                    second
                        .counters
                        .connect_failures
                        .fetch_add(1, Ordering::Relaxed);
                    debug!(
                        "virtual_server {vs}: {peer} -> {}: {e}; giving up",
                        second.addr
                    );
                    reset(&client);
                    return;
                }
            }
        }
    };
    tune(&backend);
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
    // One timer per connection, woken every HALF_CLOSED_TIMEOUT at most.
    let idle = async {
        let mut seen = activity.load(Ordering::Relaxed);
        let mut quiet = Duration::ZERO;
        loop {
            tokio::time::sleep(HALF_CLOSED_TIMEOUT).await;
            let now = activity.load(Ordering::Relaxed);
            if now != seen {
                seen = now;
                quiet = Duration::ZERO;
                continue;
            }
            quiet += HALF_CLOSED_TIMEOUT;
            if finished.load(Ordering::Relaxed) > 0 || quiet >= IDLE_TIMEOUT {
                return quiet;
            }
        }
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
