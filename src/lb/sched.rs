//! Schedulers: which real server a new connection goes to. Pure: the caller passes the
//! servers' current weights, health and active connection counts, and the time.
//!
//! `rr`, `wrr` (nginx's smooth weighted round robin, so weights interleave instead of
//! bursting), `lc`, `wlc` (active / weight, as IPVS), `sh` (a hash of the client address over
//! the weights of the available servers). A server with weight 0, down, or full (at its
//! connection limit) is never picked: weight 0 drains it. `persistence_timeout` sends a client address back to the server it
//! used last, until the timeout passes without a new connection, the server is unavailable,
//! or [`Scheduler::forget`] drops it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::config::LbAlgo;

/// What the scheduler needs to know of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Candidate {
    /// Its current weight; 0 = drain.
    pub(super) weight: u32,
    /// True while its health checks pass.
    pub(super) up: bool,
    /// Connections open to it now.
    pub(super) active: u32,
    /// At its connection limit (maxconn, uthreshold): skipped, like a drained server.
    pub(super) full: bool,
}

impl Candidate {
    fn eligible(&self) -> bool {
        self.up && self.weight > 0 && !self.full
    }
}

/// How many picks between sweeps of expired persistence entries.
const SWEEP_EVERY: u32 = 1024;

/// The state of one virtual server's scheduler.
#[derive(Debug)]
pub(super) struct Scheduler {
    algo: LbAlgo,
    /// Where round robin (and the tie-break of lc/wlc) starts next.
    next: usize,
    /// Smooth WRR: each server's current score.
    current: Vec<i64>,
    persistence: Option<Duration>,
    /// Client address -> (server index, expiry).
    sticky: HashMap<IpAddr, (usize, Instant)>,
    picks: u32,
}

impl Scheduler {
    /// A scheduler for `servers` servers.
    pub(super) fn new(algo: LbAlgo, servers: usize, persistence: Option<Duration>) -> Self {
        Self {
            algo,
            next: 0,
            current: vec![0; servers],
            persistence,
            sticky: HashMap::new(),
            picks: 0,
        }
    }

    /// The server for a new connection from `client`, never `skip` (a server that just
    /// refused this connection). `None` when no server is available.
    #[must_use]
    pub(super) fn pick(
        &mut self,
        servers: &[Candidate],
        client: IpAddr,
        now: Instant,
        skip: Option<usize>,
    ) -> Option<usize> {
        let ok = |i: usize| servers.get(i).is_some_and(Candidate::eligible) && Some(i) != skip;
        self.picks = self.picks.wrapping_add(1);
        if self.picks.is_multiple_of(SWEEP_EVERY) {
            self.sticky.retain(|_, (_, until)| *until > now);
        }
        if let Some(timeout) = self.persistence {
            if let Some(&(i, until)) = self.sticky.get(&client)
                && until > now
                && ok(i)
            {
                self.sticky.insert(client, (i, now + timeout));
                return Some(i);
            }
            let i = self.choose(servers, client, &ok)?;
            self.sticky.insert(client, (i, now + timeout));
            return Some(i);
        }
        self.choose(servers, client, &ok)
    }

    /// Drops every client's affinity to server `index` (it went down or was removed).
    pub(super) fn forget(&mut self, index: usize) {
        self.sticky.retain(|_, (i, _)| *i != index);
    }

    /// Clients with a live affinity.
    #[cfg(test)]
    fn sticky_clients(&self, now: Instant) -> usize {
        self.sticky.values().filter(|(_, u)| *u > now).count()
    }

    fn choose(
        &mut self,
        servers: &[Candidate],
        client: IpAddr,
        ok: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = servers.len();
        if n == 0 {
            return None;
        }
        if self.current.len() != n {
            self.current = vec![0; n];
        }
        match self.algo {
            LbAlgo::Rr => {
                let i = (0..n).map(|k| (self.next + k) % n).find(|&i| ok(i))?;
                self.next = (i + 1) % n;
                Some(i)
            }
            LbAlgo::Wrr => {
                let mut total = 0i64;
                let mut best: Option<usize> = None;
                for i in (0..n).filter(|&i| ok(i)) {
                    let w = i64::from(servers[i].weight);
                    self.current[i] += w;
                    total += w;
                    if best.is_none_or(|b| self.current[i] > self.current[b]) {
                        best = Some(i);
                    }
                }
                let b = best?;
                self.current[b] -= total;
                Some(b)
            }
            LbAlgo::Lc | LbAlgo::Wlc => {
                let weighted = self.algo == LbAlgo::Wlc;
                // Fewer per unit of weight wins: a.active/a.w < b.active/b.w, cross-multiplied.
                let better = |a: &Candidate, b: &Candidate| {
                    if weighted {
                        u64::from(a.active) * u64::from(b.weight)
                            < u64::from(b.active) * u64::from(a.weight)
                    } else {
                        a.active < b.active
                    }
                };
                let mut best: Option<usize> = None;
                for i in (0..n).map(|k| (self.next + k) % n).filter(|&i| ok(i)) {
                    if best.is_none_or(|b| better(&servers[i], &servers[b])) {
                        best = Some(i);
                    }
                }
                let b = best?;
                self.next = (b + 1) % n;
                Some(b)
            }
            LbAlgo::Sh => {
                let total: u64 = (0..n)
                    .filter(|&i| ok(i))
                    .map(|i| u64::from(servers[i].weight))
                    .sum();
                if total == 0 {
                    return None;
                }
                let mut point = hash(client) % total;
                for i in (0..n).filter(|&i| ok(i)) {
                    let w = u64::from(servers[i].weight);
                    if point < w {
                        return Some(i);
                    }
                    point -= w;
                }
                None
            }
        }
    }
}

/// A well-mixed 64-bit hash of an address (splitmix64's finaliser): stable across runs.
fn hash(addr: IpAddr) -> u64 {
    let folded = match addr {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            (bits as u64) ^ ((bits >> 64) as u64)
        }
    };
    let mut z = folded.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(weight: u32) -> Candidate {
        Candidate {
            weight,
            up: true,
            active: 0,
            full: false,
        }
    }

    fn client(n: u32) -> IpAddr {
        std::net::Ipv4Addr::from(0x0a00_0000 + n).into()
    }

    /// Picks `count` times (one client each) and counts per server.
    fn counts(s: &mut Scheduler, servers: &[Candidate], count: u32) -> Vec<u32> {
        let now = Instant::now();
        let mut c = vec![0; servers.len()];
        for k in 0..count {
            c[s.pick(servers, client(k), now, None).expect("a server")] += 1;
        }
        c
    }

    #[test]
    fn rr_cycles_in_order_and_ignores_weights() {
        let servers = [up(1), up(5), up(1)];
        let mut s = Scheduler::new(LbAlgo::Rr, 3, None);
        let now = Instant::now();
        let order: Vec<usize> = (0..6)
            .map(|k| s.pick(&servers, client(k), now, None).unwrap())
            .collect();
        assert_eq!(order, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn wrr_follows_weights_and_interleaves() {
        let servers = [up(5), up(1), up(1)];
        let mut s = Scheduler::new(LbAlgo::Wrr, 3, None);
        let now = Instant::now();
        let order: Vec<usize> = (0..7)
            .map(|k| s.pick(&servers, client(k), now, None).unwrap())
            .collect();
        // nginx's smooth WRR: a a b a c a a.
        assert_eq!(order, [0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(counts(&mut s, &servers, 700), [500, 100, 100]);
    }

    #[test]
    fn down_and_zero_weight_servers_get_nothing() {
        let mut servers = [up(1), up(0), up(1)];
        servers[2].up = false;
        for algo in [LbAlgo::Rr, LbAlgo::Wrr, LbAlgo::Lc, LbAlgo::Wlc, LbAlgo::Sh] {
            let mut s = Scheduler::new(algo, 3, None);
            assert_eq!(counts(&mut s, &servers, 100), [100, 0, 0], "{algo:?}");
        }
        let none = [up(0), Candidate { up: false, ..up(1) }];
        let mut s = Scheduler::new(LbAlgo::Rr, 2, None);
        assert_eq!(s.pick(&none, client(1), Instant::now(), None), None);
    }

    #[test]
    fn full_servers_are_skipped_even_by_sticky_clients() {
        let mut servers = [
            up(1),
            Candidate {
                full: true,
                ..up(5)
            },
            up(1),
        ];
        for algo in [LbAlgo::Rr, LbAlgo::Wrr, LbAlgo::Lc, LbAlgo::Wlc, LbAlgo::Sh] {
            let mut s = Scheduler::new(algo, 3, None);
            let c = counts(&mut s, &servers, 100);
            assert_eq!(c[1], 0, "{algo:?}: {c:?}");
        }
        // A client sticks to server 1; while it is full it goes elsewhere, and back after.
        servers[1].full = false;
        let mut s = Scheduler::new(LbAlgo::Wrr, 3, Some(Duration::from_secs(60)));
        let now = Instant::now();
        assert_eq!(s.pick(&servers, client(1), now, None), Some(1));
        servers[1].full = true;
        let other = s.pick(&servers, client(1), now, None).unwrap();
        assert_ne!(other, 1);
        // Every server full: none (the pool then uses its sorry server).
        let all = [Candidate {
            full: true,
            ..up(1)
        }; 2];
        assert_eq!(s.pick(&all, client(2), now, None), None);
    }

    #[test]
    fn lc_and_wlc_prefer_the_least_loaded() {
        let servers = [
            Candidate { active: 5, ..up(1) },
            Candidate { active: 2, ..up(1) },
            Candidate { active: 3, ..up(3) },
        ];
        let now = Instant::now();
        let mut lc = Scheduler::new(LbAlgo::Lc, 3, None);
        assert_eq!(lc.pick(&servers, client(1), now, None), Some(1));
        // wlc: 5/1, 2/1, 3/3 = 1 -> the weighted one.
        let mut wlc = Scheduler::new(LbAlgo::Wlc, 3, None);
        assert_eq!(wlc.pick(&servers, client(1), now, None), Some(2));
    }

    #[test]
    fn lc_spreads_equal_loads() {
        let servers = [up(1), up(1), up(1)];
        let mut s = Scheduler::new(LbAlgo::Lc, 3, None);
        assert_eq!(counts(&mut s, &servers, 300), [100, 100, 100]);
    }

    #[test]
    fn wlc_converges_to_weights_when_connections_stay_open() {
        let mut servers = [up(1), up(2), up(3)];
        let mut s = Scheduler::new(LbAlgo::Wlc, 3, None);
        let now = Instant::now();
        for k in 0..600 {
            let i = s.pick(&servers, client(k), now, None).unwrap();
            servers[i].active += 1;
        }
        let got: Vec<u32> = servers.iter().map(|c| c.active).collect();
        assert_eq!(got, [100, 200, 300]);
    }

    #[test]
    fn sh_is_stable_per_client_and_spreads_clients() {
        let servers = [up(1), up(1), up(1)];
        let mut s = Scheduler::new(LbAlgo::Sh, 3, None);
        let now = Instant::now();
        for k in 0..50 {
            let a = s.pick(&servers, client(k), now, None);
            assert_eq!(a, s.pick(&servers, client(k), now, None));
        }
        let c = counts(&mut s, &servers, 3000);
        assert!(c.iter().all(|&n| (800..1200).contains(&n)), "{c:?}");
    }

    #[test]
    fn skip_tries_another_server() {
        let servers = [up(1), up(1)];
        let now = Instant::now();
        for algo in [LbAlgo::Rr, LbAlgo::Wrr, LbAlgo::Lc, LbAlgo::Wlc, LbAlgo::Sh] {
            let mut s = Scheduler::new(algo, 2, None);
            let first = s.pick(&servers, client(7), now, None).unwrap();
            let second = s.pick(&servers, client(7), now, Some(first)).unwrap();
            assert_ne!(first, second, "{algo:?}");
        }
        let one = [up(1)];
        let mut s = Scheduler::new(LbAlgo::Rr, 1, None);
        assert_eq!(s.pick(&one, client(1), now, Some(0)), None);
    }

    #[test]
    fn persistence_sticks_expires_and_is_dropped_with_its_server() {
        let mut servers = [up(1), up(1), up(1)];
        let t = Duration::from_secs(50);
        let mut s = Scheduler::new(LbAlgo::Rr, 3, Some(t));
        let now = Instant::now();
        let a = s.pick(&servers, client(1), now, None).unwrap();
        for k in 1..10 {
            let at = now + Duration::from_secs(k);
            assert_eq!(s.pick(&servers, client(1), at, None), Some(a));
        }
        // Another client moves round robin on; then 50 s of silence expires the affinity.
        let b = s.pick(&servers, client(2), now, None).unwrap();
        assert_ne!(a, b);
        let late = now + Duration::from_secs(9) + t;
        assert_eq!(s.sticky_clients(late), 0);
        assert_ne!(s.pick(&servers, client(1), late, None), Some(a));

        // Down: the client moves, and stays on its new server when the old one returns.
        let c = s.pick(&servers, client(3), now, None).unwrap();
        servers[c].up = false;
        s.forget(c);
        let moved = s.pick(&servers, client(3), now, None).unwrap();
        assert_ne!(moved, c);
        servers[c].up = true;
        assert_eq!(s.pick(&servers, client(3), now, None), Some(moved));

        // Drained (weight 0): no new connection goes there, even for a sticky client.
        servers[moved].weight = 0;
        assert_ne!(s.pick(&servers, client(3), now, None), Some(moved));
    }
}
