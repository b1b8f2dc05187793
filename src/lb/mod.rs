//! `virtual_server`: vipd's user-space L4 TCP and UDP forwarder with health-checked pools,
//! for machines without the kernel's IPVS (what keepalived's `lb_kind NAT` does there).
//!
//! # Layout
//! - `sched`: the schedulers (rr, wrr, lc, wlc, sh) and persistence. Pure.
//! - `pool`: one virtual server's live state: health, quorum, counters, status.
//! - `check`: TCP_CHECK, HTTP_GET, MISC_CHECK and the loop that runs them; `check_udp`:
//!   UDP_CHECK.
//! - `proxy`: the listener (IP_FREEBIND, SO_REUSEPORT) and each connection's life, a
//!   state machine driven by events, ticks and deadlines (connects, held ACKs).
//! - `proxy_header`: the PROXY protocol header (v1, v2) real servers may want first. Pure.
//! - `pump`: the bytes: small bursts copied, bulk by splice(2) through pooled pipes.
//! - `worker`: the forwarding threads, each an event loop over its own epoll (mio), with
//!   one listener per virtual server each.
//! - `busy`: when those threads poll without sleeping for a moment after work.
//! - `fds`: how many client connections the descriptors allow, with a reserve kept for the
//!   rest of vipd, and the count that holds the forwarding threads to it (and each
//!   virtual server to its `maxconn`).
//! - `limits`: a real server's `maxconn` and IPVS-style `uthreshold`/`lthreshold`. Pure.
//! - `udp`: the UDP forwarder (`protocol UDP`), a thread of its own; `udp_flows`: its
//!   bounded flow table, pure.
//!
//! A virtual server is known by its address and protocol: `IP PORT` may have a TCP pool
//! and a UDP pool (DNS).
//!
//! [`Lb::start`] binds every listener first (so a port in use stops the daemon before it
//! changes anything), then starts the forwarding threads and, on the caller's runtime, the
//! checkers. A reload is two steps in the same spirit: [`Lb::prepare`] binds what is new
//! (and can fail, changing nothing), [`Lb::apply`] switches. [`Lb::stop`] ends it all.

mod busy;
mod check;
mod check_udp;
#[cfg(fuzzing)]
pub(crate) use check::judge_http;
mod fds;
mod limits;
mod pool;
mod proxy;
mod proxy_header;
mod pump;
mod sched;
mod udp;
mod udp_flows;
mod worker;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::info;

use crate::config::{Protocol, VirtualServer};
use crate::status::VirtualServerStatus;
use pool::{Pool, PoolCell};
use udp::{UdpCounters, UdpThread};
use worker::Workers;

/// How a virtual server is known: `IP PORT` and protocol.
type Key = (SocketAddr, Protocol);

fn key(vs: &VirtualServer) -> Key {
    (vs.addr, vs.protocol)
}

/// `IP:PORT`, with `/udp` for a UDP pool (so the two pools of one address differ).
fn name(vs: &VirtualServer) -> String {
    match vs.protocol {
        Protocol::Tcp => vs.addr.to_string(),
        Protocol::Udp => format!("{}/udp", vs.addr),
    }
}

/// A listener that could not be opened, or a forwarding thread that could not start.
#[derive(Debug, thiserror::Error)]
#[error("virtual_server {addr}: cannot listen: {source}")]
pub struct LbError {
    /// The virtual server's address.
    addr: SocketAddr,
    /// Why.
    source: std::io::Error,
}

/// The forwarding threads to run when not told: one per CPU vipd may use.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How the forwarder runs.
#[derive(Debug, Clone, Copy)]
pub struct LbOptions {
    /// Forwarding threads (0 counts as 1).
    pub threads: usize,
    /// How often each thread looks at its connections' idleness; only tests change it from
    /// [`LbOptions::new`]'s minute.
    pub tick: Duration,
    /// The longest a thread goes on polling without sleeping after it last had work,
    /// unless that was a bulk transfer (zero: it sleeps at once); the window adapts below
    /// it (see `busy`) and `DEFAULT_BUSY_POLL`.
    pub busy_poll: Duration,
}

/// The longest busy-polling window, unless told otherwise: none. vipd runs on the host or
/// in the container of the server it protects, and a thread that polls takes CPU from that
/// server whenever light work keeps coming (one keep-alive client sending back to back kept
/// a thread at 98.6 % of a CPU with a 200 us window, against 35.7 % without). HAProxy's
/// `busy-polling` and the kernel's socket busy polling are off by default for the same
/// reason. `--lb-busy-poll 200` (Linux's default for its guest halt-polling) is the opt-in
/// for a dedicated forwarder; docs/load-balancer.md has the figures either way.
const DEFAULT_BUSY_POLL: Duration = Duration::ZERO;

impl LbOptions {
    /// `threads` forwarding threads, the default tick, and no busy polling.
    pub fn new(threads: usize) -> Self {
        Self {
            threads,
            tick: proxy::TICK,
            busy_poll: DEFAULT_BUSY_POLL,
        }
    }
}

/// One virtual server being served.
struct Served {
    key: Key,
    /// Its listeners' id in the workers (or the UDP thread).
    id: u64,
    cell: Arc<PoolCell>,
    /// A UDP pool's counters.
    udp: Option<Arc<UdpCounters>>,
    checkers: Vec<JoinHandle<()>>,
}

impl Served {
    fn stop_checkers(&mut self) {
        for t in self.checkers.drain(..) {
            t.abort();
        }
    }
}

/// The running forwarder: every pool's state, its checkers and the forwarding threads.
pub struct Lb {
    served: Vec<Served>,
    workers: Option<Workers>,
    /// The UDP forwarding thread, from the first UDP pool on.
    udp: Option<UdpThread>,
    /// The descriptors' budget, and the count of TCP connections and UDP flows held
    /// against it by every forwarding thread.
    budget: fds::Budget,
    descriptors: Arc<fds::Gate>,
    options: LbOptions,
    next_id: u64,
    view: LbView,
}

/// A pool as status sees it: its state, and a UDP pool's counters.
type Shown = (Arc<PoolCell>, Option<Arc<UdpCounters>>);

/// A cheap handle on the pools' state, for the control socket; follows reloads.
#[derive(Clone, Default)]
pub struct LbView {
    cells: Arc<RwLock<Vec<Shown>>>,
}

impl LbView {
    /// The status of every virtual server, in config order.
    pub fn status(&self) -> Vec<VirtualServerStatus> {
        let cells = self.cells.read().unwrap_or_else(|e| e.into_inner());
        cells
            .iter()
            .map(|(c, udp)| VirtualServerStatus {
                udp: udp.as_ref().map(|u| u.status()),
                ..c.status()
            })
            .collect()
    }
}

/// What [`Lb::prepare`] readied: the new configuration, the listeners of its new virtual
/// servers, bound already, and the forwarding threads if they were not running. Dropping
/// it unused closes the listeners and ends the threads.
pub struct LbPlan {
    config: Vec<VirtualServer>,
    bound: HashMap<SocketAddr, Vec<std::net::TcpListener>>,
    /// The sockets of new UDP virtual servers.
    bound_udp: HashMap<SocketAddr, std::net::UdpSocket>,
    /// The forwarding threads, when the first TCP virtual server comes.
    workers: Option<Workers>,
    /// The UDP thread, when the first UDP virtual server comes.
    udp: Option<UdpThread>,
}

/// What a reload did to the virtual servers (their `IP:PORT`s).
#[derive(Debug, Default)]
pub struct LbChanges {
    /// Left as they were.
    pub unchanged: Vec<String>,
    /// Reconfigured in place: same listeners, servers keep their state.
    pub changed: Vec<String>,
    /// Listening now.
    pub added: Vec<String>,
    /// No longer listening; their open connections finish.
    pub removed: Vec<String>,
}

impl Lb {
    /// Binds every virtual server's listeners (one per forwarding thread), then starts the
    /// forwarding threads (none without virtual servers) and the checkers.
    pub fn start(config: &[VirtualServer], options: LbOptions) -> Result<Lb, LbError> {
        let budget = fds::Budget::now();
        let mut lb = Lb {
            served: Vec::new(),
            workers: None,
            udp: None,
            budget,
            descriptors: Arc::new(fds::Gate::new(budget, Vec::new())),
            options: LbOptions {
                threads: options.threads.max(1),
                ..options
            },
            next_id: 0,
            view: LbView::default(),
        };
        let plan = lb.prepare(config)?;
        lb.apply(plan);
        Ok(lb)
    }

    /// Binds the listeners of the virtual servers in `config` that are not served yet, and
    /// starts the forwarding threads if none run yet. An error leaves everything as it was.
    pub fn prepare(&self, config: &[VirtualServer]) -> Result<LbPlan, LbError> {
        let mut bound = HashMap::new();
        let mut bound_udp = HashMap::new();
        let mut workers = None;
        let mut udp = None;
        let first_thread = self.workers.is_none() && self.udp.is_none();
        if let Some(first) = config.iter().find(|v| v.protocol == Protocol::Udp)
            && self.udp.is_none()
        {
            let descriptors = self.descriptors.clone();
            udp = Some(
                UdpThread::spawn(self.options.busy_poll, descriptors).map_err(|source| {
                    LbError {
                        addr: first.addr,
                        source,
                    }
                })?,
            );
        }
        if let Some(first) = config.iter().find(|v| v.protocol == Protocol::Tcp)
            && self.workers.is_none()
        {
            workers = Some(
                Workers::spawn(&self.options, self.descriptors.clone()).map_err(|source| {
                    LbError {
                        addr: first.addr,
                        source,
                    }
                })?,
            );
        }
        if first_thread && (workers.is_some() || udp.is_some()) {
            self.budget.log();
        }
        for vs in config {
            if self.served.iter().any(|s| s.key == key(vs)) {
                continue;
            }
            if vs.protocol == Protocol::Udp {
                let socket = udp::bind(vs.addr).map_err(|source| LbError {
                    addr: vs.addr,
                    source,
                })?;
                bound_udp.insert(vs.addr, socket);
                continue;
            }
            let listeners = (0..self.options.threads)
                .map(|_| proxy::listen(vs.addr))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| LbError {
                    addr: vs.addr,
                    source,
                })?;
            bound.insert(vs.addr, listeners);
        }
        Ok(LbPlan {
            config: config.to_vec(),
            bound,
            bound_udp,
            workers,
            udp,
        })
    }

    /// Serves `plan`'s configuration: new virtual servers start, removed ones stop
    /// listening (open connections finish), changed ones get a successor pool on the same
    /// listeners, unchanged ones are left alone.
    pub fn apply(&mut self, mut plan: LbPlan) -> LbChanges {
        let mut changes = LbChanges::default();
        if let Some(w) = plan.workers.take() {
            self.workers = Some(w);
        }
        if let Some(u) = plan.udp.take() {
            self.udp = Some(u);
        }
        let mut old: Vec<Option<Served>> = self.served.drain(..).map(Some).collect();
        for vs in &plan.config {
            let addr = name(vs);
            let before = old
                .iter_mut()
                .find(|s| s.as_ref().is_some_and(|s| s.key == key(vs)))
                .and_then(Option::take);
            let served = match before {
                Some(s) if s.cell.get().config == *vs => {
                    changes.unchanged.push(addr);
                    s
                }
                Some(mut s) => {
                    s.stop_checkers();
                    let pool = s.cell.get().successor(vs.clone());
                    s.checkers = start_checkers(&pool);
                    s.cell.replace(pool);
                    info!(
                        "virtual_server {addr}: reconfigured ({} real server(s), lb_algo {})",
                        vs.real_servers.len(),
                        vs.lb_algo.as_str()
                    );
                    changes.changed.push(addr);
                    s
                }
                None if vs.protocol == Protocol::Udp => {
                    let Some(socket) = plan.bound_udp.remove(&vs.addr) else {
                        continue;
                    };
                    let pool = Pool::new(vs.clone());
                    // A UDP pool's flows are capped by its flow table, not by `maxconn`.
                    let gate = fds::Gate::pool(addr.clone(), None, Vec::new());
                    let served = Served {
                        key: key(vs),
                        id: self.next_id,
                        checkers: start_checkers(&pool),
                        cell: PoolCell::new(pool, Arc::new(gate)),
                        udp: Some(Arc::default()),
                    };
                    self.next_id += 1;
                    if let (Some(u), Some(counters)) = (&self.udp, &served.udp) {
                        u.serve(served.id, socket, &served.cell, counters);
                    }
                    info!(
                        "virtual_server {addr}: listening ({} real server(s), lb_algo {}, flows \
                         idle out after {:?})",
                        vs.real_servers.len(),
                        vs.lb_algo.as_str(),
                        udp::idle_timeout(vs)
                    );
                    changes.added.push(addr);
                    served
                }
                None => {
                    let Some(listeners) = plan.bound.remove(&vs.addr) else {
                        continue;
                    };
                    let pool = Pool::new(vs.clone());
                    let wakers = self.workers.as_ref().map(Workers::wakers);
                    let gate = fds::Gate::pool(
                        vs.addr.to_string(),
                        vs.maxconn,
                        wakers.unwrap_or_default(),
                    );
                    let served = Served {
                        key: key(vs),
                        id: self.next_id,
                        checkers: start_checkers(&pool),
                        cell: PoolCell::new(pool, Arc::new(gate)),
                        udp: None,
                    };
                    self.next_id += 1;
                    if let Some(w) = &self.workers {
                        w.serve(served.id, listeners, &served.cell);
                    }
                    info!(
                        "virtual_server {addr}: listening ({} real server(s), lb_algo {}, {} thread(s))",
                        vs.real_servers.len(),
                        vs.lb_algo.as_str(),
                        self.options.threads
                    );
                    changes.added.push(addr);
                    served
                }
            };
            self.served.push(served);
        }
        for mut gone in old.into_iter().flatten() {
            gone.stop_checkers();
            let vs = gone.cell.get().config.clone();
            if vs.protocol == Protocol::Udp {
                if let Some(u) = &self.udp {
                    u.retire(gone.id);
                }
                info!("virtual_server {}: removed with its flows", name(&vs));
            } else {
                if let Some(w) = &self.workers {
                    w.retire(gone.id);
                }
                info!(
                    "virtual_server {}: removed; its open connections finish",
                    name(&vs)
                );
            }
            changes.removed.push(name(&vs));
        }
        *self.view.cells.write().unwrap_or_else(|e| e.into_inner()) = self
            .served
            .iter()
            .map(|s| (s.cell.clone(), s.udp.clone()))
            .collect();
        changes
    }

    /// A handle for status.
    pub fn view(&self) -> LbView {
        self.view.clone()
    }

    /// Stops listening, forwarding and checking; with `omega`, starts notify_down of every up
    /// server, which the caller may wait for.
    pub fn stop(mut self) -> Omega {
        let mut scripts = Vec::new();
        for s in &mut self.served {
            s.stop_checkers();
        }
        if let Some(w) = self.workers.take() {
            w.stop();
        }
        if let Some(u) = self.udp.take() {
            u.stop();
        }
        for s in &self.served {
            let pool = s.cell.get();
            if pool.config.omega {
                for rs in pool.up_servers() {
                    if let Some(program) = &rs.notify_down {
                        let what = format!("real_server {} (omega)", rs.addr);
                        scripts.push(check::notify(program, &what));
                    }
                }
            }
        }
        Omega(scripts)
    }
}

/// The `notify_down` scripts `omega` started as the forwarder stopped.
pub struct Omega(Vec<JoinHandle<()>>);

impl Omega {
    /// Waits for them; each ends, or is killed, within notify's timeout.
    pub async fn finish(self) {
        for script in self.0 {
            let _ = script.await;
        }
    }
}

/// Starts a checker task per checker of every real server of `pool`.
fn start_checkers(pool: &Arc<Pool>) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    for (i, rs) in pool.config.real_servers.iter().enumerate() {
        for c in 0..rs.checks.len() {
            tasks.push(tokio::spawn(check::run(pool.clone(), i, c)));
        }
    }
    tasks
}
