//! The simulated LAN of `tests/sim_lan.rs`: state machines exchanging adverts in virtual
//! time, with loss, delay, duplicates and partitions, each transition checked for a cause, and
//! the RFC's timer formulas computed here rather than asked of the fsm, so that a wrong timer
//! in the fsm fails the bounds.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use vipd::vrrp::fsm::{Action, Fsm, FsmConfig, Reason, State};
use vipd::vrrp::packet::Version;

/// Skew_Time: (256 - priority) / 256 s in VRRPv2 (RFC 3768 §6.1), to the microsecond;
/// ((256 - priority) x Master_Adver_Interval) / 256 in VRRPv3 (RFC 9568 §6.1), to the
/// nanosecond.
pub fn rfc_skew(version: Version, priority: u8, interval: Duration) -> Duration {
    let weight = 256 - u64::from(priority);
    match version {
        Version::V2 => Duration::from_micros(weight * 1_000_000 / 256),
        Version::V3 => {
            Duration::from_nanos((interval.as_nanos() * u128::from(weight) / 256) as u64)
        }
    }
}

/// Master_Down_Interval: 3 x the interval + Skew_Time (RFC 3768 §6.1, RFC 9568 §6.1), with
/// the master's interval (VRRPv3: as the backup learned it).
pub fn rfc_master_down(version: Version, priority: u8, interval: Duration) -> Duration {
    3 * interval + rfc_skew(version, priority, interval)
}

/// One router of a scenario.
#[derive(Debug, Clone)]
pub struct Spec {
    pub priority: u8,
    pub preempt: bool,
    pub preempt_delay: Duration,
    /// Its own Advertisement_Interval.
    pub advert_int: Duration,
}

impl Spec {
    /// A router with preemption on and no delay.
    pub fn new(priority: u8, advert_int: Duration) -> Self {
        Self {
            priority,
            preempt: true,
            preempt_delay: Duration::ZERO,
            advert_int,
        }
    }
}

/// A generated LAN: its routers and what the network does to their adverts.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub version: Version,
    pub routers: Vec<Spec>,
    pub seed: u64,
    /// Loss while the LAN settles (properties measure their bounds on a clean network).
    pub loss: f64,
    pub max_delay: Duration,
    /// Chance that an advert arrives twice.
    pub duplicate: f64,
}

/// A tiny deterministic generator so every failing case replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 1_000_000) as f64 / 1_000_000.0 < p
    }
    fn upto(&mut self, max: Duration) -> Duration {
        let micros = max.as_micros() as u64;
        Duration::from_micros(if micros == 0 {
            0
        } else {
            self.next() % (micros + 1)
        })
    }
}

pub struct Router {
    pub fsm: Fsm,
    pub addr: IpAddr,
    /// Its own interval: every advert it sends carries it.
    pub advert_int: Duration,
    /// False once crashed: it neither sends nor receives.
    pub alive: bool,
    /// True while it holds the VIPs (between AddVips and RemoveVips/ReleaseVips).
    pub holds_vips: bool,
}

struct Delivery {
    at: Instant,
    from: usize,
    to: usize,
    priority: u8,
}

/// One transition as the simulation saw it.
#[derive(Debug, Clone)]
#[allow(dead_code)] // `from` is read only when a failing case prints the log
pub struct Seen {
    pub at: Instant,
    pub router: usize,
    pub from: State,
    pub to: State,
    pub reason: Reason,
}

pub struct Lan {
    pub t0: Instant,
    pub version: Version,
    duplicate: f64,
    pub now: Instant,
    pub routers: Vec<Router>,
    in_flight: Vec<Delivery>,
    pub loss: f64,
    pub max_delay: Duration,
    pub blocked: HashSet<(usize, usize)>,
    rng: Rng,
    pub log: Vec<Seen>,
    /// The last advert each router received from each sender, for checking causes.
    pub last_rx: Vec<Vec<Option<Instant>>>,
    /// Each handover release: (when, router, the new master it heard, whether another
    /// router held the VIPs at that moment).
    pub releases: Vec<(Instant, usize, Option<IpAddr>, bool)>,
}

impl Lan {
    pub fn scenario(s: &Scenario) -> Self {
        let mut lan = Self::with(s.version, &s.routers, s.seed);
        lan.loss = s.loss;
        lan.max_delay = s.max_delay;
        lan.duplicate = s.duplicate;
        lan
    }

    pub fn with(version: Version, specs: &[Spec], seed: u64) -> Self {
        let t0 = Instant::now();
        let routers = specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let addr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + i as u8));
                Router {
                    fsm: Fsm::new(FsmConfig {
                        version,
                        priority: spec.priority,
                        advert_int: spec.advert_int,
                        preempt: spec.preempt,
                        preempt_delay: spec.preempt_delay,
                        local_addr: addr,
                        announce_again_after: Duration::from_secs(5),
                        refresh_every: None,
                        answer_lower_prio: true,
                    }),
                    addr,
                    advert_int: spec.advert_int,
                    alive: true,
                    holds_vips: false,
                }
            })
            .collect();
        let n = specs.len();
        Self {
            t0,
            version,
            duplicate: 0.0,
            now: t0,
            routers,
            in_flight: Vec::new(),
            loss: 0.0,
            max_delay: Duration::ZERO,
            blocked: HashSet::new(),
            rng: Rng(seed | 1),
            log: Vec::new(),
            last_rx: vec![vec![None; n]; n],
            releases: Vec::new(),
        }
    }

    pub fn start(&mut self, i: usize) {
        self.routers[i].fsm.handle_startup(self.now);
        self.drain(i);
    }

    pub fn start_all_staggered(&mut self, spread: Duration) {
        let mut starts: Vec<(Duration, usize)> = (0..self.routers.len())
            .map(|i| (self.rng.upto(spread), i))
            .collect();
        starts.sort();
        let base = self.now;
        for (offset, i) in starts {
            self.run_until(base + offset);
            self.start(i);
        }
    }

    fn drain(&mut self, i: usize) {
        while let Some(action) = self.routers[i].fsm.poll_action() {
            match action {
                Action::SendAdvert { priority } => self.broadcast(i, priority),
                Action::Transition { from, to, reason } => {
                    self.check_cause(i, &reason, to);
                    self.log.push(Seen {
                        at: self.now,
                        router: i,
                        from,
                        to,
                        reason,
                    });
                }
                Action::AddVips => self.routers[i].holds_vips = true,
                Action::RemoveVips => self.routers[i].holds_vips = false,
                Action::ReleaseVips { new_master } => {
                    self.routers[i].holds_vips = false;
                    let other_holds = (0..self.routers.len())
                        .any(|j| j != i && self.routers[j].alive && self.routers[j].holds_vips);
                    self.releases.push((self.now, i, new_master, other_holds));
                }
                Action::Announce | Action::AnswerLowerPrio => {}
            }
        }
    }

    fn broadcast(&mut self, from: usize, priority: u8) {
        if !self.routers[from].alive {
            return;
        }
        for to in 0..self.routers.len() {
            if to == from || self.blocked.contains(&(from, to)) || self.rng.chance(self.loss) {
                continue;
            }
            let copies = if self.rng.chance(self.duplicate) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                self.deliver_later(from, to, priority);
            }
        }
    }

    /// Queues one advert on the link `from` -> `to`. A LAN delays but does not reorder: each
    /// link delivers in sending order.
    fn deliver_later(&mut self, from: usize, to: usize, priority: u8) {
        let delay = self.rng.upto(self.max_delay);
        let queued_behind = self
            .in_flight
            .iter()
            .filter(|d| d.from == from && d.to == to)
            .map(|d| d.at)
            .max();
        let at = queued_behind.map_or(self.now + delay, |q| q.max(self.now + delay));
        self.in_flight.push(Delivery {
            at,
            from,
            to,
            priority,
        });
    }

    /// No transition without a cause: each reason must match what the router really saw.
    fn check_cause(&self, i: usize, reason: &Reason, to: State) {
        let fsm = &self.routers[i].fsm;
        match reason {
            Reason::MasterDown { silent, .. } => {
                assert_eq!(to, State::Master);
                // VRRPv3: the interval it may have learned is one of those it has heard, or
                // its own; the shortest gives the shortest bound it may not undercut.
                let shortest = (0..self.routers.len())
                    .filter(|&j| self.last_rx[i][j].is_some())
                    .map(|j| self.routers[j].advert_int)
                    .chain([self.routers[i].advert_int])
                    .min()
                    .unwrap_or_default();
                let bound = rfc_master_down(self.version, fsm.priority(), shortest);
                assert!(
                    *silent >= bound,
                    "router {i} took over after only {silent:?} of silence (bound {bound:?})"
                );
            }
            Reason::Superseded { peer, .. } | Reason::MasterResigned { master: peer } => {
                let from = self.index_of(*peer);
                assert!(
                    self.last_rx[i][from].is_some(),
                    "router {i} cites {peer} but never heard it"
                );
            }
            Reason::Preempt { master, priority } => {
                assert!(*priority < fsm.config().priority);
                assert!(self.last_rx[i][self.index_of(*master)].is_some());
            }
            Reason::Demoted { peer, priority, .. } => {
                if let Some((peer, peer_priority)) = peer {
                    assert!(peer_priority > priority);
                    assert!(self.last_rx[i][self.index_of(*peer)].is_some());
                }
            }
            Reason::MasterDemoted { master, priority } => {
                assert!(*priority < fsm.priority());
                assert!(self.last_rx[i][self.index_of(*master)].is_some());
            }
            Reason::Startup
            | Reason::AddressOwner
            | Reason::Shutdown
            | Reason::Handover
            | Reason::Maintenance
            | Reason::Resumed { .. } => {}
            other => panic!("router {i}: unexpected reason in simulation: {other}"),
        }
    }

    pub fn index_of(&self, addr: IpAddr) -> usize {
        self.routers.iter().position(|r| r.addr == addr).unwrap()
    }

    fn next_event(&self) -> Option<Instant> {
        let deliveries = self.in_flight.iter().map(|d| d.at);
        let timers = self
            .routers
            .iter()
            .filter(|r| r.alive)
            .filter_map(|r| r.fsm.poll_timeout());
        deliveries.chain(timers).min()
    }

    pub fn run_until(&mut self, end: Instant) {
        while let Some(at) = self.next_event().filter(|&at| at <= end) {
            self.now = at;
            let (due, rest): (Vec<_>, Vec<_>) =
                self.in_flight.drain(..).partition(|d| d.at <= self.now);
            self.in_flight = rest;
            for d in due {
                if !self.routers[d.to].alive {
                    continue;
                }
                self.last_rx[d.to][d.from] = Some(self.now);
                // A master always advertises at its own interval.
                let (from, interval) = (self.routers[d.from].addr, self.routers[d.from].advert_int);
                self.routers[d.to]
                    .fsm
                    .handle_advert(self.now, from, d.priority, interval);
                self.drain(d.to);
            }
            for i in 0..self.routers.len() {
                if self.routers[i].alive {
                    self.routers[i].fsm.handle_timeout(self.now);
                    self.drain(i);
                }
            }
        }
        self.now = end;
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(end);
    }

    pub fn masters(&self) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|&i| self.routers[i].alive && self.routers[i].fsm.state() == State::Master)
            .collect()
    }

    /// The router that should win: highest priority, then highest address.
    pub fn rightful_master(&self, among: &[usize]) -> usize {
        *among
            .iter()
            .max_by_key(|&&i| (self.routers[i].fsm.config().priority, self.routers[i].addr))
            .unwrap()
    }

    pub fn alive(&self) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|&i| self.routers[i].alive)
            .collect()
    }

    pub fn crash(&mut self, i: usize) {
        self.routers[i].alive = false;
    }

    pub fn shutdown(&mut self, i: usize) {
        self.routers[i].fsm.handle_shutdown(self.now);
        self.drain(i);
        self.routers[i].alive = false;
    }

    pub fn handover(&mut self, i: usize) -> bool {
        let handed = self.routers[i].fsm.handle_handover(self.now);
        self.drain(i);
        handed
    }

    pub fn holders(&self) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|&i| self.routers[i].alive && self.routers[i].holds_vips)
            .collect()
    }

    pub fn set_priority(&mut self, i: usize, priority: u8) {
        self.routers[i]
            .fsm
            .handle_priority(self.now, priority, "check failed".into());
        self.drain(i);
    }

    pub fn partition(&mut self, group: &[usize]) {
        for &a in group {
            for b in 0..self.routers.len() {
                if !group.contains(&b) {
                    self.blocked.insert((a, b));
                    self.blocked.insert((b, a));
                }
            }
        }
    }

    pub fn transitions_since(&self, since: Instant) -> Vec<&Seen> {
        self.log.iter().filter(|s| s.at > since).collect()
    }

    pub fn first_master_since(&self, since: Instant) -> Option<&Seen> {
        self.log
            .iter()
            .find(|s| s.at >= since && s.to == State::Master)
    }

    /// The longest advert interval on the LAN.
    pub fn longest_int(&self) -> Duration {
        self.routers
            .iter()
            .map(|r| r.advert_int)
            .max()
            .unwrap_or_default()
    }

    /// The shortest advert interval on the LAN.
    pub fn shortest_int(&self) -> Duration {
        self.routers
            .iter()
            .map(|r| r.advert_int)
            .min()
            .unwrap_or_default()
    }

    /// True when every router advertises at the same interval. Else RFC 9568 allows what
    /// some properties therefore do not forbid: a backup that does not preempt (or has
    /// yielded after a handover) follows any master it hears, and takes its interval. When
    /// two masters meet (a healed partition, two backups that both took over after a resign),
    /// the weaker one's last advert may reach such a backup after the stronger one's (delays
    /// reorder senders). The backup then follows the weaker master, which has just stepped
    /// down without a word, on its interval; if that is shorter than the stronger master's,
    /// the backup's Master_Down_Timer runs out before the stronger master's next advert, and
    /// it is master until that advert comes. keepalived 2.2 behaves alike. With one interval
    /// for all, the next advert always comes first.
    pub fn one_interval(&self) -> bool {
        self.shortest_int() == self.longest_int()
    }

    /// Long enough for any election, preemption (after its delay) and answer to finish.
    pub fn settle_time(&self) -> Duration {
        let longest_delay = self
            .routers
            .iter()
            .map(|r| r.fsm.config().preempt_delay)
            .max()
            .unwrap_or_default();
        let int = self.longest_int();
        let longest_skew = match self.version {
            Version::V2 => Duration::from_secs(1),
            Version::V3 => int,
        };
        longest_delay + 2 * (3 * int + longest_skew) + int
    }

    /// Starts every router within 2 s (20 intervals on a fast LAN), lets the LAN run lossy
    /// for 15 intervals, then clean until it must have converged, and checks that it has.
    /// The loss stays off after: the properties measure their bounds on a clean network.
    pub fn settle(&mut self) {
        let int = self.longest_int();
        self.start_all_staggered(Duration::from_secs(2).min(20 * int));
        self.run_for(15 * int);
        self.loss = 0.0;
        self.run_for(self.settle_time());
        self.assert_converged();
    }

    /// Exactly one master among the living, a rightful one (see [`Lan::assert_rightful`]),
    /// which every living backup follows (see [`Lan::assert_following`]).
    pub fn assert_converged(&self) {
        let masters = self.masters();
        assert_eq!(masters.len(), 1, "exactly one master; log: {:#?}", self.log);
        self.assert_rightful(masters[0], &self.alive());
        self.assert_following(masters[0]);
    }

    /// Every living router runs its timers on `master`'s interval (VRRPv3 learns it; in
    /// VRRPv2 all are equal).
    pub fn assert_following(&self, master: usize) {
        let int = self.routers[master].advert_int;
        for i in self.alive() {
            assert_eq!(
                self.routers[i].fsm.master_adver_interval(),
                int,
                "router {i} follows master {master}'s interval"
            );
        }
    }

    /// `master` has the highest priority among `among`, or every router above it has preempt
    /// off (RFC 3768 §6.4.2: it accepts a lower master). RFC 3768 breaks a tie by address only
    /// between two masters (§6.4.3): a backup of equal priority and higher address does not
    /// preempt, so among equal priorities any one may hold the role.
    pub fn assert_rightful(&self, master: usize, among: &[usize]) {
        let ours = self.routers[master].fsm.config().priority;
        for &i in among {
            let cfg = self.routers[i].fsm.config();
            assert!(
                cfg.priority <= ours || !cfg.preempt,
                "router {master} (priority {ours}) is master, but router {i} (priority {}) \
                 preempts; log: {:#?}",
                cfg.priority,
                self.log
            );
        }
    }
}
