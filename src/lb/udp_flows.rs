//! The UDP forwarder's flow table: one entry per client address and port, holding what the
//! forwarder keeps for it (its socket to the server, its claim on the server's count), when
//! it last carried a datagram, and nothing else. Pure: time comes in as `now`.
//!
//! Bounded: at most `cap` flows; a new client finds the table full and its datagrams are
//! dropped until a flow expires (the caller counts and logs that). Expiry is a sweep the
//! forwarder runs every [`SWEEP`]: a flow idle for the timeout or longer is removed, so a
//! flow lives between `idle` and `idle + SWEEP` after its last datagram.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use slab::Slab;

/// How often the forwarder sweeps for idle flows (while it has any).
pub(super) const SWEEP: Duration = Duration::from_secs(1);

/// One client's flow.
pub(super) struct Flow<F> {
    pub(super) client: SocketAddr,
    /// When it last carried a datagram, either way.
    pub(super) last: Instant,
    pub(super) value: F,
}

/// The flows of one UDP virtual server.
pub(super) struct FlowTable<F> {
    flows: Slab<Flow<F>>,
    by_client: HashMap<SocketAddr, usize>,
    cap: usize,
    /// Reused by [`FlowTable::expire`], so a sweep allocates nothing once warm.
    gone: Vec<usize>,
}

impl<F> FlowTable<F> {
    /// An empty table for at most `cap` flows.
    pub(super) fn new(cap: usize) -> Self {
        Self {
            flows: Slab::new(),
            by_client: HashMap::new(),
            cap,
            gone: Vec::new(),
        }
    }

    /// The key of `client`'s flow.
    pub(super) fn find(&self, client: &SocketAddr) -> Option<usize> {
        self.by_client.get(client).copied()
    }

    pub(super) fn get_mut(&mut self, key: usize) -> Option<&mut Flow<F>> {
        self.flows.get_mut(key)
    }

    /// The key the next [`FlowTable::insert`] will use (to register its socket first).
    pub(super) fn vacant_key(&self) -> usize {
        self.flows.vacant_key()
    }

    pub(super) fn is_full(&self) -> bool {
        self.flows.len() >= self.cap
    }

    pub(super) fn len(&self) -> usize {
        self.flows.len()
    }

    /// Adds `client`'s flow, last active `now`; gives `value` back when the table is full
    /// or the client has a flow already.
    pub(super) fn insert(
        &mut self,
        client: SocketAddr,
        now: Instant,
        value: F,
    ) -> Result<usize, F> {
        if self.is_full() || self.by_client.contains_key(&client) {
            return Err(value);
        }
        let key = self.flows.insert(Flow {
            client,
            last: now,
            value,
        });
        self.by_client.insert(client, key);
        Ok(key)
    }

    /// Removes flow `key`, giving back its value.
    pub(super) fn remove(&mut self, key: usize) -> Option<F> {
        let flow = self.flows.try_remove(key)?;
        self.by_client.remove(&flow.client);
        Some(flow.value)
    }

    /// Removes every flow idle for `idle` or longer at `now`; returns how many.
    pub(super) fn expire(&mut self, now: Instant, idle: Duration) -> usize {
        let mut gone = std::mem::take(&mut self.gone);
        gone.clear();
        gone.extend(
            self.flows
                .iter()
                .filter(|(_, f)| now.saturating_duration_since(f.last) >= idle)
                .map(|(k, _)| k),
        );
        for &k in &gone {
            self.remove(k);
        }
        let n = gone.len();
        self.gone = gone;
        n
    }

    /// Removes every flow.
    pub(super) fn clear(&mut self) {
        self.flows.clear();
        self.by_client.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::config::{LbAlgo, Protocol, RealServer, VirtualServer};
    use crate::lb::pool::{ActiveGuard, Pool};

    fn client(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 168, 0, 1], port))
    }

    #[test]
    fn a_client_keeps_its_flow_and_the_cap_holds() {
        let now = Instant::now();
        let mut t = FlowTable::new(2);
        let a = t.insert(client(1), now, "a").unwrap();
        assert_eq!(t.insert(client(1), now, "again"), Err("again"));
        assert_eq!(t.find(&client(1)), Some(a));
        t.insert(client(2), now, "b").unwrap();
        assert!(t.is_full());
        assert_eq!(t.insert(client(3), now, "c"), Err("c"), "full: dropped");
        assert_eq!(t.remove(a), Some("a"));
        assert_eq!(t.find(&client(1)), None);
        assert!(t.insert(client(3), now, "c").is_ok(), "room again");
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn idle_flows_expire_and_busy_ones_stay() {
        let start = Instant::now();
        let idle = Duration::from_secs(10);
        let mut t = FlowTable::new(10);
        let quiet = t.insert(client(1), start, ()).unwrap();
        let busy = t.insert(client(2), start, ()).unwrap();
        assert_eq!(t.expire(start + Duration::from_secs(9), idle), 0);
        t.get_mut(busy).unwrap().last = start + Duration::from_secs(9);
        assert_eq!(
            t.expire(start + idle, idle),
            1,
            "the quiet one, at its timeout"
        );
        assert!(t.get_mut(quiet).is_none() && t.find(&client(1)).is_none());
        assert!(t.get_mut(busy).is_some());
        assert_eq!(t.expire(start + Duration::from_secs(19), idle), 1);
        assert_eq!(t.len(), 0);
    }

    fn pool(algo: LbAlgo) -> Arc<Pool> {
        Pool::new(VirtualServer {
            addr: "10.0.0.100:53".parse().unwrap(),
            protocol: Protocol::Udp,
            delay_loop: Duration::from_secs(1),
            lb_algo: algo,
            persistence_timeout: None,
            sorry_server: None,
            quorum: 1,
            hysteresis: 0,
            alpha: false,
            omega: false,
            connect_timeout: Duration::from_secs(1),
            proxy_protocol: None,
            maxconn: None,
            real_servers: (1..=2)
                .map(|i| RealServer {
                    addr: SocketAddr::from(([10, 0, 0, i], 53)),
                    weight: 1,
                    inhibit_on_failure: false,
                    notify_up: None,
                    notify_down: None,
                    checks: Vec::new(),
                    proxy_protocol: None,
                    maxconn: None,
                    uthreshold: 0,
                    lthreshold: 0,
                })
                .collect(),
        })
    }

    /// A flow as the forwarder holds one: the server it was given and its claim there.
    fn open(t: &mut FlowTable<(usize, ActiveGuard)>, p: &Pool, port: u16, now: Instant) {
        let target = p.pick(client(port).ip(), None).unwrap();
        let guard = ActiveGuard(target.counters.clone());
        t.insert(client(port), now, (target.index.unwrap(), guard))
            .unwrap_or_else(|_| panic!("room for {port}"));
    }

    fn active(p: &Pool) -> Vec<u32> {
        (0..2)
            .map(|i| p.counters(i).unwrap().active.load(Ordering::Relaxed))
            .collect()
    }

    #[test]
    fn least_connection_counts_open_flows_and_expiry_releases_them() {
        let start = Instant::now();
        let p = pool(LbAlgo::Lc);
        let mut t = FlowTable::new(100);
        for port in 1..=4 {
            open(&mut t, &p, port, start);
        }
        assert_eq!(active(&p), [2, 2], "lc spreads flows");
        // Two flows of server 0 stay busy; the rest expire.
        let late = start + Duration::from_secs(5);
        for port in 1..=4 {
            let k = t.find(&client(port)).unwrap();
            if t.get_mut(k).unwrap().value.0 == 0 {
                t.get_mut(k).unwrap().last = late;
            }
        }
        assert_eq!(
            t.expire(start + Duration::from_secs(6), Duration::from_secs(3)),
            2
        );
        assert_eq!(active(&p), [2, 0], "expired flows leave the server's count");
        open(&mut t, &p, 5, late);
        open(&mut t, &p, 6, late);
        assert_eq!(active(&p), [2, 2], "new flows go to the idle server");
        t.clear();
        assert_eq!(active(&p), [0, 0]);
    }

    #[test]
    fn round_robin_gives_each_new_flow_the_next_server() {
        let p = pool(LbAlgo::Rr);
        let mut t = FlowTable::new(100);
        let now = Instant::now();
        for port in 1..=6 {
            open(&mut t, &p, port, now);
        }
        let servers: Vec<usize> = (1..=6)
            .map(|port| {
                let k = t.find(&client(port)).unwrap();
                t.get_mut(k).unwrap().value.0
            })
            .collect();
        assert_eq!(servers, [0, 1, 0, 1, 0, 1]);
    }
}
