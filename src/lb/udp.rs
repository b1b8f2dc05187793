//! The UDP forwarder: `virtual_server` blocks with `protocol UDP`.
//!
//! Each UDP virtual server has one socket on VIP:PORT (IP_FREEBIND, so it exists on the
//! backup before the VIP arrives). A datagram from a client address and port that has no
//! flow yet picks a real server with the pool's scheduler (for lc and wlc a flow counts as
//! an active connection), and opens a UDP socket connected to it; that client's datagrams
//! go out on it, and what the server sends back on it goes to the client from the VIP:PORT
//! socket, so the client sees answers from the address it asked. A flow ends after
//! `persistence_timeout` without a datagram either way, else [`DEFAULT_IDLE`]; a flow whose
//! server went down (or was removed by a reload) is moved to another server by the client's
//! next datagram.
//!
//! Bounded: at most [`MAX_FLOWS`] flows per virtual server (each holds a descriptor);
//! datagrams of new clients beyond that are dropped and counted, and logged once a minute
//! at most, as are datagrams no server can take. One receive buffer of 65,535 bytes (the
//! largest UDP payload) serves every datagram.
//!
//! It runs on a thread of its own, one mio event loop for every UDP virtual server, not in
//! the TCP forwarding threads (`worker`): those are built around accepting connections
//! under the descriptor [`super::fds::Gate`] and each has its own listener per pool
//! (SO_REUSEPORT), where a UDP pool wants one flow table with one cap and one socket; and
//! one thread moves far more datagrams than the DNS-style request/response pools this is
//! for (see docs/load-balancer.md for the benchmark). Like the TCP threads, it never waits
//! on the daemon's runtime, polls busily for a moment after work as they do (`busy`: a
//! request's answer then needs no wakeup; the window adapts, and an idle thread sleeps in
//! epoll, with a one-second sweep timer only while flows exist) and is told what to serve
//! through a channel and a waker.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use socket2::{Domain, Protocol, Socket, Type};
use tracing::{debug, warn};

use super::busy::{BusyPoll, Work};
use super::fds::{Gate, Slot};
use super::pool::{ActiveGuard, PoolCell, Target};
use super::proxy::free_bind;
use super::udp_flows::{FlowTable, SWEEP};
use crate::config::VirtualServer;
use crate::status::UdpStatus;

/// A flow's idle timeout when `persistence_timeout` is not set. IPVS keeps UDP entries 300
/// s, which suits it: an entry costs it a few hundred bytes of kernel memory. Here each
/// flow holds a socket, and the traffic this serves is mostly request/response (DNS,
/// RADIUS, syslog, NTP) where every query may come from a new source port: at 300 s a DNS
/// pool would hold a descriptor for each of the last five minutes' queries. 10 s outlives
/// a client's retries (glibc and dig wait 5 s before asking again); a longer-lived stream
/// (a VPN, QUIC) sends keepalives more often than that, or sets `persistence_timeout`.
pub(crate) const DEFAULT_IDLE: Duration = Duration::from_secs(10);
/// Flows per UDP virtual server, each a descriptor (see `fds` for the TCP side's share).
pub(crate) const MAX_FLOWS: usize = 16_384;
/// The largest UDP payload over IPv4 (IPv6 jumbograms aside).
const MAX_DATAGRAM: usize = 65_535;
/// Remote-triggered complaints are logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);
const EVENTS: usize = 256;
const WAKER: Token = Token(usize::MAX);
/// A token is `service << SERVICE_SHIFT | (flow + 1)`; 0 below the shift is the listener.
const SERVICE_SHIFT: u32 = 32;

/// A flow's idle timeout for `vs`.
pub(super) fn idle_timeout(vs: &VirtualServer) -> Duration {
    vs.persistence_timeout.unwrap_or(DEFAULT_IDLE)
}

/// Opens the socket of a UDP virtual server.
pub(super) fn bind(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    free_bind(&s, addr)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// A UDP pool's counters, shared with status.
#[derive(Debug, Default)]
pub(super) struct UdpCounters {
    flows: AtomicU64,
    datagrams_in: AtomicU64,
    datagrams_out: AtomicU64,
    dropped_table_full: AtomicU64,
    dropped_no_server: AtomicU64,
    dropped_send: AtomicU64,
}

impl UdpCounters {
    pub(super) fn status(&self) -> UdpStatus {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        UdpStatus {
            flows: get(&self.flows),
            datagrams_in: get(&self.datagrams_in),
            datagrams_out: get(&self.datagrams_out),
            dropped_table_full: get(&self.dropped_table_full),
            dropped_no_server: get(&self.dropped_no_server),
            dropped_send: get(&self.dropped_send),
        }
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

enum Command {
    Serve {
        id: u64,
        socket: std::net::UdpSocket,
        cell: Arc<PoolCell>,
        counters: Arc<UdpCounters>,
    },
    /// Stop serving `id`: its socket and flows close.
    Retire { id: u64 },
}

/// The running UDP forwarding thread.
pub(super) struct UdpThread {
    commands: Sender<Command>,
    waker: Arc<Waker>,
    thread: JoinHandle<()>,
}

impl UdpThread {
    /// Starts the thread, idle until told to serve, polling busily as `busy_poll` says; each
    /// flow holds a place under `descriptors`, the budget TCP connections are held to.
    pub(super) fn spawn(busy_poll: Duration, descriptors: Arc<Gate>) -> io::Result<UdpThread> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name("vipd-lb-udp".into())
            .spawn(move || Loop::new(poll, rx, busy_poll, descriptors).run())?;
        Ok(UdpThread {
            commands: tx,
            waker,
            thread,
        })
    }

    fn send(&self, c: Command) {
        if self.commands.send(c).is_ok() {
            let _ = self.waker.wake();
        }
    }

    pub(super) fn serve(
        &self,
        id: u64,
        socket: std::net::UdpSocket,
        cell: &Arc<PoolCell>,
        counters: &Arc<UdpCounters>,
    ) {
        self.send(Command::Serve {
            id,
            socket,
            cell: cell.clone(),
            counters: counters.clone(),
        });
    }

    pub(super) fn retire(&self, id: u64) {
        self.send(Command::Retire { id });
    }

    /// Ends the thread (every socket and flow closes with it) and waits for it.
    pub(super) fn stop(self) {
        drop(self.commands);
        let _ = self.waker.wake();
        let _ = self.thread.join();
    }
}

/// A log line that a remote host can trigger: once per [`LOG_EVERY`] at most, saying how
/// many were not logged in between.
#[derive(Default)]
struct Limited {
    last: Option<Instant>,
    quiet: u64,
}

impl Limited {
    /// Whether to log now, and how many went unlogged since the last line.
    fn allow(&mut self, now: Instant) -> Option<u64> {
        if self.last.is_some_and(|l| now.duration_since(l) < LOG_EVERY) {
            self.quiet += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.quiet))
    }
}

/// What a flow holds.
struct FlowData {
    socket: UdpSocket,
    target: Target,
    /// Its claim on the server's active count (lc, wlc, status).
    _active: ActiveGuard,
    /// Its place under the descriptor budget, shared with the TCP connections.
    _slot: Slot,
}

/// One UDP virtual server being served.
struct Service {
    id: u64,
    socket: UdpSocket,
    cell: Arc<PoolCell>,
    counters: Arc<UdpCounters>,
    flows: FlowTable<FlowData>,
    full_log: Limited,
    no_server_log: Limited,
}

struct Loop {
    poll: Poll,
    commands: Receiver<Command>,
    services: Slab<Service>,
    /// The one receive buffer.
    buf: Vec<u8>,
    next_sweep: Option<Instant>,
    busy: BusyPoll,
    descriptors: Arc<Gate>,
}

fn token(service: usize, flow: Option<usize>) -> Token {
    Token((service << SERVICE_SHIFT) | flow.map_or(0, |f| f + 1))
}

impl Loop {
    fn new(
        poll: Poll,
        commands: Receiver<Command>,
        busy_poll: Duration,
        descriptors: Arc<Gate>,
    ) -> Loop {
        Loop {
            poll,
            commands,
            services: Slab::new(),
            buf: vec![0; MAX_DATAGRAM],
            next_sweep: None,
            busy: BusyPoll::new(busy_poll),
            descriptors,
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS);
        loop {
            let now = Instant::now();
            let timeout = if self.busy.poll_now(now) {
                Some(Duration::ZERO)
            } else {
                self.next_sweep.map(|at| at.saturating_duration_since(now))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                warn!("UDP forwarder: epoll failed, stopping: {e}");
                return;
            }
            let now = Instant::now();
            let mut worked = false;
            for ev in events.iter() {
                let t = ev.token();
                if t == WAKER {
                    continue;
                }
                worked = true;
                let service = t.0 >> SERVICE_SHIFT;
                match t.0 & ((1 << SERVICE_SHIFT) - 1) {
                    0 => self.on_clients(service, now),
                    f => self.on_server(service, f - 1, now),
                }
            }
            // A datagram is at most 64 KiB: always light work.
            self.busy
                .woke(now, if worked { Work::Light } else { Work::Nothing });
            if !self.commands() {
                return;
            }
            if self.next_sweep.is_some_and(|at| at <= now) {
                self.sweep(now);
            }
            let any = self.services.iter().any(|(_, s)| s.flows.len() > 0);
            self.next_sweep = match self.next_sweep {
                _ if !any => None,
                None => Some(now + SWEEP),
                Some(at) if at <= now => Some(now + SWEEP),
                keep => keep,
            };
        }
    }

    /// Applies the daemon's commands; false once it is gone (stop).
    fn commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Serve {
                    id,
                    socket,
                    cell,
                    counters,
                }) => {
                    let key = self.services.vacant_key();
                    let mut socket = UdpSocket::from_std(socket);
                    if let Err(e) = self.poll.registry().register(
                        &mut socket,
                        token(key, None),
                        Interest::READABLE,
                    ) {
                        warn!("UDP forwarder: cannot watch a virtual server's socket: {e}");
                        continue;
                    }
                    self.services.insert(Service {
                        id,
                        socket,
                        cell,
                        counters,
                        flows: FlowTable::new(MAX_FLOWS),
                        full_log: Limited::default(),
                        no_server_log: Limited::default(),
                    });
                }
                Ok(Command::Retire { id }) => {
                    let gone: Vec<usize> = self
                        .services
                        .iter()
                        .filter(|(_, s)| s.id == id)
                        .map(|(k, _)| k)
                        .collect();
                    for k in gone {
                        let mut s = self.services.remove(k);
                        s.flows.clear();
                        s.counters.flows.store(0, Ordering::Relaxed);
                    }
                }
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn sweep(&mut self, now: Instant) {
        for (_, s) in self.services.iter_mut() {
            let idle = idle_timeout(&s.cell.get().config);
            if s.flows.expire(now, idle) > 0 {
                s.counters
                    .flows
                    .store(s.flows.len() as u64, Ordering::Relaxed);
            }
        }
    }

    /// Every datagram waiting on service `key`'s socket.
    fn on_clients(&mut self, key: usize, now: Instant) {
        let Some(s) = self.services.get_mut(key) else {
            return;
        };
        loop {
            let (n, client) = match s.socket.recv_from(&mut self.buf) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // An ICMP error for an earlier answer to a client: nothing to do.
                    debug!("UDP virtual_server {}: {e}", s.cell.get().config.addr);
                    continue;
                }
            };
            forward_in(
                &self.poll,
                &self.descriptors,
                key,
                s,
                client,
                &self.buf[..n],
                now,
            );
        }
    }

    /// Every datagram waiting on flow `flow` of service `key`, to its client.
    fn on_server(&mut self, key: usize, flow: usize, now: Instant) {
        let Some(s) = self.services.get_mut(key) else {
            return;
        };
        let Some(f) = s.flows.get_mut(flow) else {
            return;
        };
        loop {
            let n = match f.value.socket.recv(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // ECONNREFUSED: the server's port is closed (ICMP); its check will say.
                    f.value
                        .target
                        .counters
                        .connect_failures
                        .fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            f.last = now;
            match s.socket.send_to(&self.buf[..n], f.client) {
                Ok(_) => {
                    bump(&s.counters.datagrams_out);
                    f.value
                        .target
                        .counters
                        .bytes_out
                        .fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(_) => bump(&s.counters.dropped_send),
            }
        }
    }
}

/// One client datagram of service `s` (token `key`): on its flow, or a new one.
fn forward_in(
    poll: &Poll,
    descriptors: &Arc<Gate>,
    key: usize,
    s: &mut Service,
    client: SocketAddr,
    data: &[u8],
    now: Instant,
) {
    let pool = s.cell.get();
    let existing = s.flows.find(&client);
    if let Some(k) = existing
        && s.flows
            .get_mut(k)
            .is_some_and(|f| !pool.still_serves(&f.value.target))
    {
        s.flows.remove(k);
        s.counters
            .flows
            .store(s.flows.len() as u64, Ordering::Relaxed);
    }
    let k = match s.flows.find(&client) {
        Some(k) => k,
        None => {
            // A flow holds a descriptor: it takes a place under the budget the TCP
            // connections are held to, so neither starves the rest of vipd.
            let slot = (!s.flows.is_full()).then(|| descriptors.take()).flatten();
            let Some(slot) = slot else {
                bump(&s.counters.dropped_table_full);
                if let Some(quiet) = s.full_log.allow(now) {
                    let why = if s.flows.is_full() {
                        format!("{MAX_FLOWS} flows open, the most it holds")
                    } else {
                        "the forwarder holds all the connections and flows its descriptors \
                         allow"
                            .to_string()
                    };
                    warn!(
                        "UDP virtual_server {}: {why}: dropping new clients' datagrams until \
                         flows expire ({quiet} more since the last such line)",
                        pool.config.addr
                    );
                }
                return;
            };
            let Some(target) = pool.pick(client.ip(), None) else {
                bump(&s.counters.dropped_no_server);
                if let Some(quiet) = s.no_server_log.allow(now) {
                    warn!(
                        "UDP virtual_server {}: no real server is up: dropping datagrams \
                         ({quiet} more since the last such line)",
                        pool.config.addr
                    );
                }
                return;
            };
            let active = ActiveGuard(target.counters.clone());
            let flow = s.flows.vacant_key();
            let socket = match connect(target.addr) {
                Ok(mut socket) => {
                    let t = token(key, Some(flow));
                    match poll.registry().register(&mut socket, t, Interest::READABLE) {
                        Ok(()) => socket,
                        Err(e) => {
                            warn!("UDP virtual_server {}: {e}", pool.config.addr);
                            return;
                        }
                    }
                }
                Err(e) => {
                    // Descriptors or memory ran out: the same for every client, so limited.
                    target
                        .counters
                        .connect_failures
                        .fetch_add(1, Ordering::Relaxed);
                    bump(&s.counters.dropped_no_server);
                    if let Some(quiet) = s.no_server_log.allow(now) {
                        warn!(
                            "UDP virtual_server {}: cannot open a socket to {}: {e} ({quiet} \
                             more since the last such line)",
                            pool.config.addr, target.addr
                        );
                    }
                    return;
                }
            };
            let value = FlowData {
                socket,
                target,
                _active: active,
                _slot: slot,
            };
            match s.flows.insert(client, now, value) {
                Ok(k) => {
                    s.counters
                        .flows
                        .store(s.flows.len() as u64, Ordering::Relaxed);
                    k
                }
                Err(_) => return,
            }
        }
    };
    let Some(f) = s.flows.get_mut(k) else {
        return;
    };
    f.last = now;
    match f.value.socket.send(data) {
        Ok(_) => {
            bump(&s.counters.datagrams_in);
            f.value
                .target
                .counters
                .bytes_in
                .fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        Err(_) => bump(&s.counters.dropped_send),
    }
}

/// A UDP socket connected to a real server, from the VIP's family.
fn connect(server: SocketAddr) -> io::Result<UdpSocket> {
    let s = Socket::new(
        Domain::for_address(server),
        Type::DGRAM.nonblocking(),
        Some(Protocol::UDP),
    )?;
    s.connect(&server.into())?;
    Ok(UdpSocket::from_std(s.into()))
}
