//! The live state of one virtual server: its real servers' health, weights and counters, the
//! scheduler, and the quorum. Health checkers report into it; new connections ask it where
//! to go; `vipctl status` reads it.
//!
//! Quorum, as keepalived: the sum of the weights of healthy servers. Below `quorum -
//! hysteresis` the pool has lost quorum and, when a `sorry_server` is configured, every new
//! connection goes there; at `quorum + hysteresis` it is regained. With no healthy server at
//! all, new connections go to the sorry server (or are closed when there is none).
//!
//! A real server at its `maxconn`, or overloaded by its `uthreshold` (see `limits`), is
//! skipped; when every server that could take a connection is full, it goes to the sorry
//! server, or is closed without one. Each episode of a full server is logged when it
//! starts and when it ends, with how many new connections found it full meanwhile.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{info, warn};

use super::fds::Gate;
use super::limits::{Limits, Load};
use super::sched::{Candidate, Scheduler};
use crate::config::{ProxyProtocol, RealServer, VirtualServer};
use crate::ratelimit::{LogLimit, held_back};
use crate::status::{RealServerStatus, Transition, VirtualServerStatus};

/// Counters of one real server, updated without the pool lock.
#[derive(Debug, Default)]
pub(super) struct Counters {
    /// Connections open now.
    pub(super) active: AtomicU32,
    /// Connections forwarded since start.
    pub(super) total: AtomicU64,
    /// Client -> server bytes.
    pub(super) bytes_in: AtomicU64,
    /// Server -> client bytes.
    pub(super) bytes_out: AtomicU64,
    /// Forwarding connects that failed (refused, timed out).
    pub(super) connect_failures: AtomicU64,
    /// Failed health checks.
    pub(super) check_failures: AtomicU64,
    /// New connections that found it full (at `maxconn` or overloaded) and went elsewhere.
    pub(super) cap_hits: AtomicU64,
}

/// A server's full episodes, and a pool's "every server is full", are logged at most once
/// per this.
const CAP_LOG_WINDOW: Duration = Duration::from_secs(60);

/// Where a new connection goes.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// Index of the real server; `None` = the sorry server.
    pub(super) index: Option<usize>,
    /// Its address.
    pub(super) addr: SocketAddr,
    /// Its counters.
    pub(super) counters: Arc<Counters>,
    /// The PROXY protocol header it gets before the client's bytes.
    pub(super) proxy: Option<ProxyProtocol>,
}

struct Server {
    config: RealServer,
    /// Per checker: passing now?
    checks_up: Vec<bool>,
    up: bool,
    transitions: u64,
    last: Option<Transition>,
    counters: Arc<Counters>,
    limits: Limits,
    load: Load,
    /// While full: since when, how many new connections found it so, and whether the
    /// start was logged (so the end is too).
    full: Option<(Instant, u64, bool)>,
    /// Its full episodes' log lines.
    cap_log: LogLimit,
}

impl Server {
    /// Whether it is full with the connections open now, noting the start or end of an
    /// episode; a new connection that finds it full while it could otherwise take it is
    /// counted.
    fn full_now(&mut self, vs: SocketAddr, now: Instant) -> bool {
        if !self.limits.any() {
            return false;
        }
        let open = self.counters.active.load(Ordering::Relaxed);
        let full = self.load.full(&self.limits, open);
        let addr = self.config.addr;
        match (&mut self.full, full) {
            (None, true) => {
                let logged = self.cap_log.allow(now).map(|n| {
                    warn!(
                        "virtual_server {vs}: real_server {addr} is full ({open} open; {}): new \
                         connections go to other servers{}",
                        self.limits_text(),
                        held_back(n)
                    );
                });
                self.full = Some((now, 0, logged.is_some()));
            }
            (Some((since, hits, logged)), false) => {
                if *logged {
                    info!(
                        "virtual_server {vs}: real_server {addr} takes connections again \
                         after {:.1} s; {hits} new connection(s) found it full",
                        now.duration_since(*since).as_secs_f64()
                    );
                }
                self.full = None;
            }
            _ => {}
        }
        if let Some((_, hits, _)) = &mut self.full
            && self.up
            && self.config.weight > 0
        {
            *hits += 1;
            self.counters.cap_hits.fetch_add(1, Ordering::Relaxed);
        }
        full
    }

    /// Its limits as written, for logs.
    fn limits_text(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = self.limits.maxconn {
            parts.push(format!("maxconn {m}"));
        }
        if let Some(u) = self.limits.upper {
            parts.push(format!("uthreshold {u}"));
            match self.limits.lower {
                Some(l) => parts.push(format!("lthreshold {l}")),
                None => parts.push("overloaded until below 3/4 of it".into()),
            }
        }
        parts.join(", ")
    }
}

/// The limits `rs` sets.
fn limits_of(rs: &RealServer) -> Limits {
    let nonzero = |n: u32| (n > 0).then_some(n);
    Limits {
        maxconn: rs.maxconn,
        upper: nonzero(rs.uthreshold),
        lower: nonzero(rs.lthreshold),
    }
}

struct State {
    servers: Vec<Server>,
    /// Reused for every pick, so a new connection allocates nothing here.
    candidates: Vec<Candidate>,
    sched: Scheduler,
    quorum_up: bool,
}

/// One virtual server's shared state.
pub(super) struct Pool {
    /// The configuration it was built from.
    pub(super) config: VirtualServer,
    state: Mutex<State>,
    sorry: Arc<Counters>,
    /// "Every server is full" lines.
    all_full_log: LogLimit,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Pool {
    /// A pool in its starting state: servers without checkers are up; servers with checkers
    /// are up too unless `alpha` is set (then they wait for a good check), as keepalived.
    pub(super) fn new(config: VirtualServer) -> Arc<Self> {
        Self::build(config, None)
    }

    /// The pool a reload puts in this one's place. A real server that keeps its address
    /// keeps its state (up or down, with the checks it still has), its counters (so the
    /// connections it has open are still counted) and its history; the sorry server keeps
    /// its counters too. New servers start as in [`Pool::new`]. Persistence starts afresh.
    pub(super) fn successor(&self, config: VirtualServer) -> Arc<Self> {
        Self::build(config, Some(self))
    }

    fn build(config: VirtualServer, before: Option<&Pool>) -> Arc<Self> {
        let old = before.map(|p| p.lock());
        let servers: Vec<Server> = config
            .real_servers
            .iter()
            .map(|rs| {
                let start_up = rs.checks.is_empty() || !config.alpha;
                let fresh = Server {
                    config: rs.clone(),
                    checks_up: vec![start_up; rs.checks.len()],
                    up: start_up,
                    transitions: 0,
                    last: None,
                    counters: Arc::new(Counters::default()),
                    limits: limits_of(rs),
                    load: Load::default(),
                    full: None,
                    cap_log: LogLimit::new(CAP_LOG_WINDOW),
                };
                let Some(was) = old
                    .as_ref()
                    .and_then(|st| st.servers.iter().find(|s| s.config.addr == rs.addr))
                else {
                    return fresh;
                };
                // A server whose checks changed counts as passing all of them while it was
                // up: its checkers take it down after `retry` failures, as any other.
                let checks_up = if was.config.checks == rs.checks {
                    was.checks_up.clone()
                } else {
                    vec![was.up; rs.checks.len()]
                };
                Server {
                    up: checks_up.iter().all(|&c| c),
                    checks_up,
                    transitions: was.transitions,
                    last: was.last.clone(),
                    counters: was.counters.clone(),
                    load: was.load,
                    full: was.full,
                    ..fresh
                }
            })
            .collect();
        let sorry = match before {
            Some(p) if p.config.sorry_server == config.sorry_server => p.sorry.clone(),
            _ => Arc::new(Counters::default()),
        };
        let quorum_up = old.as_ref().is_none_or(|st| st.quorum_up);
        drop(old);
        let sched = Scheduler::new(config.lb_algo, servers.len(), config.persistence_timeout);
        let pool = Arc::new(Self {
            state: Mutex::new(State {
                candidates: Vec::with_capacity(servers.len()),
                servers,
                sched,
                quorum_up,
            }),
            sorry,
            all_full_log: LogLimit::new(CAP_LOG_WINDOW),
            config,
        });
        {
            let mut st = pool.lock();
            pool.update_quorum(&mut st);
        }
        pool
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The real server's configured weight while up; 0 while down.
    fn weight_now(s: &Server) -> u32 {
        if s.up { s.config.weight } else { 0 }
    }

    /// The PROXY protocol header real server `rs` gets: its own, else the pool's.
    pub(super) fn proxy_protocol(&self, rs: &RealServer) -> Option<ProxyProtocol> {
        rs.proxy_protocol.or(self.config.proxy_protocol)
    }

    /// Picks the target of a new connection from `client`, counting it as active there.
    /// `skip` is a server that just refused this same connection.
    pub(super) fn pick(&self, client: IpAddr, skip: Option<usize>) -> Option<Target> {
        let mut st = self.lock();
        let sorry = self.config.sorry_server.map(|addr| Target {
            index: None,
            addr,
            counters: self.sorry.clone(),
            proxy: self.config.proxy_protocol,
        });
        let target = if !st.quorum_up && sorry.is_some() {
            sorry
        } else {
            let st = &mut *st;
            let now = Instant::now();
            let vs = self.config.addr;
            st.candidates.clear();
            st.candidates
                .extend(st.servers.iter_mut().map(|s| Candidate {
                    full: s.full_now(vs, now),
                    weight: Self::weight_now(s),
                    up: s.up,
                    active: s.counters.active.load(Ordering::Relaxed),
                }));
            let picked = st.sched.pick(&st.candidates, client, now, skip);
            if picked.is_none()
                && skip.is_none()
                && st.candidates.iter().any(|c| c.up && c.weight > 0)
                && let Some(n) = self.all_full_log.allow(now)
            {
                match self.config.sorry_server {
                    Some(s) => warn!(
                        "virtual_server {vs}: every real server is full: new connections go to \
                         sorry_server {s}{}",
                        held_back(n)
                    ),
                    None => warn!(
                        "virtual_server {vs}: every real server is full and there is no \
                         sorry_server: new connections are closed (a maxconn on the \
                         virtual_server makes them wait instead){}",
                        held_back(n)
                    ),
                }
            }
            match picked {
                Some(i) => Some(Target {
                    index: Some(i),
                    addr: st.servers[i].config.addr,
                    counters: st.servers[i].counters.clone(),
                    proxy: self.proxy_protocol(&st.servers[i].config),
                }),
                None if skip.is_none() => sorry,
                None => None,
            }
        };
        if let Some(t) = &target {
            let open = t.counters.active.fetch_add(1, Ordering::Relaxed) + 1;
            t.counters.total.fetch_add(1, Ordering::Relaxed);
            if let Some(s) = t.index.and_then(|i| st.servers.get_mut(i)) {
                s.load.opened(&s.limits, open);
            }
        }
        target
    }

    /// A checker's verdict on server `index`. Logs and counts a change of the server's
    /// state (up only when all its checkers pass) and returns it, for notify scripts.
    pub(super) fn report(
        &self,
        index: usize,
        check: usize,
        up: bool,
        reason: &str,
    ) -> Option<bool> {
        let mut st = self.lock();
        let s = st.servers.get_mut(index)?;
        *s.checks_up.get_mut(check)? = up;
        let now_up = s.checks_up.iter().all(|&c| c);
        if now_up == s.up {
            return None;
        }
        s.up = now_up;
        s.transitions += 1;
        let (from, to) = if now_up {
            ("DOWN", "UP")
        } else {
            ("UP", "DOWN")
        };
        s.last = Some(Transition {
            at_unix_ms: now_ms(),
            from: from.into(),
            to: to.into(),
            reason: reason.to_string(),
        });
        let addr = s.config.addr;
        let inhibit = s.config.inhibit_on_failure;
        if now_up {
            info!(
                "virtual_server {}: real_server {addr} is UP: {reason}",
                self.config.addr
            );
        } else {
            let how = if inhibit {
                "weight set to 0 (inhibit_on_failure)"
            } else {
                "removed from the pool"
            };
            warn!(
                "virtual_server {}: real_server {addr} is DOWN ({how}): {reason}",
                self.config.addr
            );
            st.sched.forget(index);
        }
        self.update_quorum(&mut st);
        Some(now_up)
    }

    fn update_quorum(&self, st: &mut State) {
        let sum: u64 = st
            .servers
            .iter()
            .map(|s| u64::from(Self::weight_now(s)))
            .sum();
        let q = u64::from(self.config.quorum);
        let h = u64::from(self.config.hysteresis);
        let vs = self.config.addr;
        if st.quorum_up && (sum == 0 || sum < q.saturating_sub(h)) {
            st.quorum_up = false;
            match self.config.sorry_server {
                Some(s) => warn!(
                    "virtual_server {vs}: quorum lost (healthy weight {sum} < {q} - {h}): new \
                     connections go to sorry_server {s}"
                ),
                None => warn!(
                    "virtual_server {vs}: quorum lost (healthy weight {sum} < {q} - {h}); no \
                     sorry_server, so the remaining healthy servers keep serving"
                ),
            }
        } else if !st.quorum_up && sum > 0 && sum >= q + h {
            st.quorum_up = true;
            info!("virtual_server {vs}: quorum regained (healthy weight {sum} >= {q} + {h})");
        }
    }

    /// The real servers' addresses and configs, for starting checkers.
    pub(super) fn real_servers(&self) -> Vec<RealServer> {
        self.lock()
            .servers
            .iter()
            .map(|s| s.config.clone())
            .collect()
    }

    /// Counters of server `index`.
    pub(super) fn counters(&self, index: usize) -> Option<Arc<Counters>> {
        self.lock().servers.get(index).map(|s| s.counters.clone())
    }

    /// Whether checker `check` of server `index` passes now (where a restarted checker
    /// starts from).
    pub(super) fn check_passing(&self, index: usize, check: usize) -> Option<bool> {
        self.lock()
            .servers
            .get(index)?
            .checks_up
            .get(check)
            .copied()
    }

    /// Whether a new flow could still be sent to `target` now: a real server that is up
    /// (found by address, so it holds across a reload), or the sorry server while quorum
    /// is lost. The UDP forwarder moves a flow whose server fails this.
    pub(super) fn still_serves(&self, target: &Target) -> bool {
        let st = self.lock();
        match target.index {
            None => !st.quorum_up && self.config.sorry_server == Some(target.addr),
            Some(_) => st
                .servers
                .iter()
                .any(|s| s.up && s.config.addr == target.addr),
        }
    }

    /// Up servers' configs (for `omega` at shutdown).
    pub(super) fn up_servers(&self) -> Vec<RealServer> {
        self.lock()
            .servers
            .iter()
            .filter(|s| s.up)
            .map(|s| s.config.clone())
            .collect()
    }

    /// The status `vipctl` shows.
    pub(super) fn status(&self) -> VirtualServerStatus {
        let st = self.lock();
        let load = |c: &Counters| {
            (
                c.active.load(Ordering::Relaxed),
                c.total.load(Ordering::Relaxed),
                c.bytes_in.load(Ordering::Relaxed),
                c.bytes_out.load(Ordering::Relaxed),
            )
        };
        let real_servers = st
            .servers
            .iter()
            .map(|s| {
                let (active, total, bytes_in, bytes_out) = load(&s.counters);
                RealServerStatus {
                    addr: s.config.addr.to_string(),
                    state: if s.up { "UP" } else { "DOWN" }.into(),
                    weight: s.config.weight,
                    effective_weight: Self::weight_now(s),
                    active_connections: active,
                    total_connections: total,
                    bytes_in,
                    bytes_out,
                    connect_failures: s.counters.connect_failures.load(Ordering::Relaxed),
                    check_failures: s.counters.check_failures.load(Ordering::Relaxed),
                    transitions: s.transitions,
                    last_transition: s.last.clone(),
                    proxy_protocol: self.proxy_protocol(&s.config).map(|p| p.as_str().into()),
                    maxconn: s.limits.maxconn,
                    uthreshold: s.limits.upper,
                    lthreshold: s.limits.lower,
                    full: s.limits.any() && { s.load }.full(&s.limits, active),
                    cap_hits: s.counters.cap_hits.load(Ordering::Relaxed),
                }
            })
            .collect();
        let (sorry_active, sorry_total, _, _) = load(&self.sorry);
        VirtualServerStatus {
            addr: self.config.addr.to_string(),
            udp: None,
            lb_algo: self.config.lb_algo.as_str().into(),
            quorum_up: st.quorum_up,
            sorry_server: self.config.sorry_server.map(|s| s.to_string()),
            sorry_active_connections: sorry_active,
            sorry_total_connections: sorry_total,
            proxy_protocol: self.config.proxy_protocol.map(|p| p.as_str().into()),
            maxconn: self.config.maxconn,
            // The listeners' count: PoolCell::status fills them in.
            connections: 0,
            cap_hits: 0,
            real_servers,
        }
    }
}

/// The pool a virtual server's listeners serve now, and the gate of its `maxconn`. A
/// reload swaps in the successor (and the gate's cap); connections already open keep the
/// pool they started with, and their place under the gate.
pub(super) struct PoolCell {
    pool: RwLock<Arc<Pool>>,
    gate: Arc<Gate>,
}

impl PoolCell {
    pub(super) fn new(pool: Arc<Pool>, gate: Arc<Gate>) -> Arc<Self> {
        Arc::new(Self {
            pool: RwLock::new(pool),
            gate,
        })
    }

    /// The pool now.
    pub(super) fn get(&self) -> Arc<Pool> {
        self.pool.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The virtual server's `maxconn` gate.
    pub(super) fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// Puts `pool` in place of the current one, with its `maxconn`.
    pub(super) fn replace(&self, pool: Arc<Pool>) {
        self.gate.set_cap(pool.config.maxconn);
        *self.pool.write().unwrap_or_else(|e| e.into_inner()) = pool;
    }

    /// The status `vipctl` shows, with the virtual server's connections counted by its
    /// gate.
    pub(super) fn status(&self) -> VirtualServerStatus {
        VirtualServerStatus {
            connections: self.gate.open() as u64,
            cap_hits: self.gate.waited_total(),
            ..self.get().status()
        }
    }
}

/// Ends one connection's claim on its server when dropped (also on error or cancel).
pub(super) struct ActiveGuard(pub(super) Arc<Counters>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{Check, CheckKind, LbAlgo};

    fn vs(weights: &[u32], quorum: u32, sorry: bool) -> VirtualServer {
        VirtualServer {
            addr: "10.0.0.100:80".parse().unwrap(),
            protocol: crate::config::Protocol::Tcp,
            delay_loop: Duration::from_secs(1),
            lb_algo: LbAlgo::Rr,
            persistence_timeout: None,
            sorry_server: sorry.then(|| "10.0.0.9:80".parse().unwrap()),
            quorum,
            hysteresis: 0,
            alpha: false,
            omega: false,
            connect_timeout: Duration::from_secs(1),
            proxy_protocol: None,
            maxconn: None,
            real_servers: weights
                .iter()
                .enumerate()
                .map(|(i, &w)| RealServer {
                    addr: SocketAddr::from((std::net::Ipv4Addr::new(10, 0, 0, i as u8 + 1), 80)),
                    weight: w,
                    inhibit_on_failure: false,
                    notify_up: None,
                    notify_down: None,
                    proxy_protocol: None,
                    maxconn: None,
                    uthreshold: 0,
                    lthreshold: 0,
                    checks: vec![Check {
                        kind: CheckKind::Tcp {
                            target: "10.0.0.1:80".parse().unwrap(),
                        },
                        connect_timeout: Duration::from_secs(1),
                        retry: 1,
                        delay_before_retry: Duration::from_secs(1),
                        rise: 1,
                        delay_loop: None,
                        bindto: None,
                    }],
                })
                .collect(),
        }
    }

    fn client() -> IpAddr {
        std::net::Ipv4Addr::new(192, 168, 0, 1).into()
    }

    #[test]
    fn all_down_goes_to_sorry_and_back() {
        let p = Pool::new(vs(&[1, 1], 1, true));
        assert_eq!(p.pick(client(), None).unwrap().index, Some(0));
        assert_eq!(p.report(0, 0, false, "refused"), Some(false));
        assert_eq!(
            p.report(0, 0, false, "refused"),
            None,
            "no change, no transition"
        );
        assert_eq!(p.pick(client(), None).unwrap().index, Some(1));
        p.report(1, 0, false, "timeout");
        let t = p.pick(client(), None).unwrap();
        assert_eq!((t.index, t.addr.to_string()), (None, "10.0.0.9:80".into()));
        assert!(!p.status().quorum_up);
        p.report(1, 0, true, "connected");
        assert_eq!(p.pick(client(), None).unwrap().index, Some(1));
        let st = p.status();
        assert_eq!(st.real_servers[1].transitions, 2);
        assert_eq!(st.real_servers[0].state, "DOWN");
        assert_eq!(st.sorry_total_connections, 1);
    }

    #[test]
    fn quorum_by_weight_with_sorry_server() {
        // Quorum 3 of weights 2+2: losing one server (2 < 3) sends traffic to sorry.
        let p = Pool::new(vs(&[2, 2], 3, true));
        p.report(0, 0, false, "x");
        assert_eq!(p.pick(client(), None).unwrap().index, None);
        p.report(0, 0, true, "y");
        assert!(p.pick(client(), None).unwrap().index.is_some());
        // Without a sorry server the survivors keep serving.
        let p = Pool::new(vs(&[2, 2], 3, false));
        p.report(0, 0, false, "x");
        assert_eq!(p.pick(client(), None).unwrap().index, Some(1));
    }

    #[test]
    fn no_server_and_no_sorry_is_none() {
        let p = Pool::new(vs(&[1], 1, false));
        p.report(0, 0, false, "x");
        assert!(p.pick(client(), None).is_none());
    }

    #[test]
    fn active_counts_follow_guards() {
        let p = Pool::new(vs(&[1], 1, false));
        let t = p.pick(client(), None).unwrap();
        let g = ActiveGuard(t.counters.clone());
        assert_eq!(p.status().real_servers[0].active_connections, 1);
        drop(g);
        let st = p.status();
        assert_eq!(st.real_servers[0].active_connections, 0);
        assert_eq!(st.real_servers[0].total_connections, 1);
    }

    #[test]
    fn a_successor_keeps_state_counters_and_history_by_address() {
        let p = Pool::new(vs(&[1, 1], 1, true));
        p.report(1, 0, false, "refused");
        let t = p.pick(client(), None).unwrap();
        assert_eq!(t.index, Some(0));
        let open = ActiveGuard(t.counters.clone());
        // Server .2 stays (down) and comes first, a new one second, .1 moves to the end.
        let mut next = vs(&[1, 1, 1], 1, true);
        next.real_servers[2].addr = "10.0.0.7:80".parse().unwrap();
        next.real_servers.rotate_left(1);
        let q = p.successor(next);
        let st = q.status();
        let by = |a: &str| {
            st.real_servers
                .iter()
                .find(|r| r.addr == a)
                .unwrap()
                .clone()
        };
        assert_eq!(by("10.0.0.7:80").state, "UP", "new server starts up");
        assert_eq!(by("10.0.0.2:80").state, "DOWN", "kept its state");
        assert_eq!(by("10.0.0.2:80").transitions, 1, "kept its history");
        assert_eq!(
            by("10.0.0.1:80").active_connections,
            1,
            "open connection counted"
        );
        drop(open);
        assert_eq!(q.status().real_servers[2].active_connections, 0);
        assert_eq!(
            q.check_passing(0, 0),
            Some(false),
            "its checker starts from down"
        );
    }

    #[test]
    fn full_servers_are_skipped_counted_and_all_full_goes_to_sorry() {
        // Server 0: uthreshold 2 (free again below 2, lthreshold 0: 4 x 1 < 6); server 1:
        // maxconn 1.
        let mut c = vs(&[1, 1], 1, true);
        c.lb_algo = crate::config::LbAlgo::Wrr;
        c.real_servers[0].weight = 10;
        c.real_servers[0].uthreshold = 2;
        c.real_servers[1].maxconn = Some(1);
        let p = Pool::new(c);
        let mut open = Vec::new();
        let mut pick = |p: &Pool| {
            let t = p.pick(client(), None).unwrap();
            open.push(ActiveGuard(t.counters.clone()));
            t.index
        };
        assert_eq!(pick(&p), Some(0));
        assert_eq!(pick(&p), Some(0));
        assert_eq!(pick(&p), Some(1), "the third goes to the other server");
        assert_eq!(pick(&p), None, "both full: the sorry server");
        let st = p.status();
        assert!(st.real_servers.iter().all(|r| r.full), "{st:?}");
        assert_eq!(st.real_servers[0].cap_hits, 2);
        assert_eq!(st.real_servers[0].uthreshold, Some(2));
        assert_eq!(st.real_servers[1].maxconn, Some(1));
        // One of server 0's closes: 1 open, below 3/4 of 2: it takes connections again.
        drop(open.remove(0));
        assert_eq!(p.pick(client(), None).unwrap().index, Some(0));
        // Without a sorry server, all full is no target: the connection is closed.
        let mut c = vs(&[1], 1, false);
        c.real_servers[0].maxconn = Some(1);
        let p = Pool::new(c);
        let _held = ActiveGuard(p.pick(client(), None).unwrap().counters);
        assert!(p.pick(client(), None).is_none());
    }

    #[test]
    fn alpha_starts_down() {
        let mut c = vs(&[1], 1, false);
        c.alpha = true;
        let p = Pool::new(c);
        assert!(p.pick(client(), None).is_none());
        assert_eq!(p.report(0, 0, true, "ok"), Some(true));
        assert!(p.pick(client(), None).is_some());
    }
}
