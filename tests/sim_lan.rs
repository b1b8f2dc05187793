//! A simulated LAN in virtual time: 2 to 8 state machines exchanging adverts with loss,
//! delay, duplicates and partitions, checked against RFC 3768's promises. The properties vary
//! priorities (address owners at 255 included), preempt on and off, preempt_delay and the
//! advert interval; `SIM_CASES` sets the cases per property (1,000 by default).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use vipd::vrrp::fsm::{Action, Fsm, FsmConfig, Reason, State};
use vipd::vrrp::packet::Version;

/// The advert interval of the hand-written scenarios.
const ADVERT_INT: Duration = Duration::from_secs(1);

/// Skew_Time of RFC 3768 §6.1, computed here rather than asked of the fsm, so a wrong timer
/// in the fsm fails the bounds: (256 - priority) / 256 s, to the microsecond.
fn rfc_skew(priority: u8) -> Duration {
    Duration::from_micros((256 - u64::from(priority)) * 1_000_000 / 256)
}

/// Master_Down_Interval of RFC 3768 §6.1: 3 x Advertisement_Interval + Skew_Time.
fn rfc_master_down(priority: u8, advert_int: Duration) -> Duration {
    3 * advert_int + rfc_skew(priority)
}

/// One router of a generated scenario.
#[derive(Debug, Clone)]
struct Spec {
    priority: u8,
    preempt: bool,
    preempt_delay: Duration,
}

/// A generated LAN: its routers and what the network does to their adverts.
#[derive(Debug, Clone)]
struct Scenario {
    routers: Vec<Spec>,
    advert_int: Duration,
    seed: u64,
    /// Loss while the LAN settles (properties measure their bounds on a clean network).
    loss: f64,
    max_delay: Duration,
    /// Chance that an advert arrives twice.
    duplicate: f64,
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

struct Router {
    fsm: Fsm,
    addr: IpAddr,
    /// False once crashed: it neither sends nor receives.
    alive: bool,
    /// True while it holds the VIPs (between AddVips and RemoveVips/ReleaseVips).
    holds_vips: bool,
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
struct Seen {
    at: Instant,
    router: usize,
    from: State,
    to: State,
    reason: Reason,
}

struct Lan {
    t0: Instant,
    advert_int: Duration,
    duplicate: f64,
    now: Instant,
    routers: Vec<Router>,
    in_flight: Vec<Delivery>,
    loss: f64,
    max_delay: Duration,
    blocked: HashSet<(usize, usize)>,
    rng: Rng,
    log: Vec<Seen>,
    /// The last advert each router received from each sender, for checking causes.
    last_rx: Vec<Vec<Option<Instant>>>,
    /// Each handover release: (when, router, the new master it heard, whether another
    /// router held the VIPs at that moment).
    releases: Vec<(Instant, usize, Option<IpAddr>, bool)>,
}

impl Lan {
    fn new(priorities: &[u8], seed: u64) -> Self {
        let routers: Vec<Spec> = priorities
            .iter()
            .map(|&priority| Spec {
                priority,
                preempt: true,
                preempt_delay: Duration::ZERO,
            })
            .collect();
        Self::with(&routers, ADVERT_INT, seed)
    }

    fn scenario(s: &Scenario) -> Self {
        let mut lan = Self::with(&s.routers, s.advert_int, s.seed);
        lan.loss = s.loss;
        lan.max_delay = s.max_delay;
        lan.duplicate = s.duplicate;
        lan
    }

    fn with(specs: &[Spec], advert_int: Duration, seed: u64) -> Self {
        let t0 = Instant::now();
        let routers = specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let addr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + i as u8));
                Router {
                    fsm: Fsm::new(FsmConfig {
                        version: Version::V2,
                        priority: spec.priority,
                        advert_int,
                        preempt: spec.preempt,
                        preempt_delay: spec.preempt_delay,
                        local_addr: addr,
                        announce_again_after: Duration::from_secs(5),
                        refresh_every: None,
                        answer_lower_prio: true,
                    }),
                    addr,
                    alive: true,
                    holds_vips: false,
                }
            })
            .collect();
        let n = specs.len();
        Self {
            t0,
            advert_int,
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

    fn start(&mut self, i: usize) {
        self.routers[i].fsm.handle_startup(self.now);
        self.drain(i);
    }

    fn start_all_staggered(&mut self, spread: Duration) {
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
                assert!(
                    *silent >= rfc_master_down(fsm.priority(), self.advert_int),
                    "router {i} took over after only {silent:?} of silence"
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

    fn index_of(&self, addr: IpAddr) -> usize {
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

    fn run_until(&mut self, end: Instant) {
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
                let from = self.routers[d.from].addr;
                self.routers[d.to]
                    .fsm
                    .handle_advert(self.now, from, d.priority, self.advert_int);
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

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(end);
    }

    fn masters(&self) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|&i| self.routers[i].alive && self.routers[i].fsm.state() == State::Master)
            .collect()
    }

    /// The router that should win: highest priority, then highest address.
    fn rightful_master(&self, among: &[usize]) -> usize {
        *among
            .iter()
            .max_by_key(|&&i| (self.routers[i].fsm.config().priority, self.routers[i].addr))
            .unwrap()
    }

    fn alive(&self) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|&i| self.routers[i].alive)
            .collect()
    }

    fn crash(&mut self, i: usize) {
        self.routers[i].alive = false;
    }

    fn shutdown(&mut self, i: usize) {
        self.routers[i].fsm.handle_shutdown(self.now);
        self.drain(i);
        self.routers[i].alive = false;
    }

    fn handover(&mut self, i: usize) -> bool {
        let handed = self.routers[i].fsm.handle_handover(self.now);
        self.drain(i);
        handed
    }

    fn holders(&self) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|&i| self.routers[i].alive && self.routers[i].holds_vips)
            .collect()
    }

    fn set_priority(&mut self, i: usize, priority: u8) {
        self.routers[i]
            .fsm
            .handle_priority(self.now, priority, "check failed".into());
        self.drain(i);
    }

    fn partition(&mut self, group: &[usize]) {
        for &a in group {
            for b in 0..self.routers.len() {
                if !group.contains(&b) {
                    self.blocked.insert((a, b));
                    self.blocked.insert((b, a));
                }
            }
        }
    }

    fn transitions_since(&self, since: Instant) -> Vec<&Seen> {
        self.log.iter().filter(|s| s.at > since).collect()
    }

    fn first_master_since(&self, since: Instant) -> Option<&Seen> {
        self.log
            .iter()
            .find(|s| s.at >= since && s.to == State::Master)
    }

    /// Long enough for any election, preemption (after its delay) and answer to finish.
    fn settle_time(&self) -> Duration {
        let longest_delay = self
            .routers
            .iter()
            .map(|r| r.fsm.config().preempt_delay)
            .max()
            .unwrap_or_default();
        longest_delay + 2 * (3 * self.advert_int + Duration::from_secs(1)) + self.advert_int
    }

    /// Starts every router within 2 s, lets the LAN run lossy for 15 intervals, then clean
    /// until it must have converged, and checks that it has.
    /// The loss stays off after: the properties measure their bounds on a clean network.
    fn settle(&mut self) {
        self.start_all_staggered(Duration::from_secs(2));
        self.run_for(15 * self.advert_int);
        self.loss = 0.0;
        self.run_for(self.settle_time());
        self.assert_converged();
    }

    /// Exactly one master among the living, and a rightful one (see [`Lan::assert_rightful`]).
    fn assert_converged(&self) {
        let masters = self.masters();
        assert_eq!(masters.len(), 1, "exactly one master; log: {:#?}", self.log);
        self.assert_rightful(masters[0], &self.alive());
    }

    /// `master` has the highest priority among `among`, or every router above it has preempt
    /// off (RFC 3768 §6.4.2: it accepts a lower master). RFC 3768 breaks a tie by address only
    /// between two masters (§6.4.3): a backup of equal priority and higher address does not
    /// preempt, so among equal priorities any one may hold the role.
    fn assert_rightful(&self, master: usize, among: &[usize]) {
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

/// Cases per property: `SIM_CASES`, 1,000 by default.
fn cases() -> u32 {
    std::env::var("SIM_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        1u8..=254,
        prop::bool::weighted(0.8),
        prop_oneof![3 => Just(0u64), 1 => 1u64..=3000],
    )
        .prop_map(|(priority, preempt, delay_ms)| Spec {
            priority,
            preempt,
            preempt_delay: Duration::from_millis(delay_ms),
        })
}

/// 2 to 8 routers; sometimes the first is the address owner (255, which always preempts);
/// preempt off for about one in five, preempt_delay for one in four; an advert interval of 1
/// to 3 s; loss up to 30 %, delay up to 20 ms, duplicates up to 20 %.
fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(spec(), 2..=8),
        prop::bool::weighted(0.15),
        1u64..=3,
        any::<u64>(),
        0.0f64..0.3,
        0u64..=20,
        0.0f64..0.2,
    )
        .prop_map(
            |(mut routers, owner, int, seed, loss, delay_ms, duplicate)| {
                if owner {
                    routers[0] = Spec {
                        priority: 255,
                        preempt: true,
                        preempt_delay: Duration::ZERO,
                    };
                }
                Scenario {
                    routers,
                    advert_int: Duration::from_secs(int),
                    seed,
                    loss,
                    max_delay: Duration::from_millis(delay_ms),
                    duplicate,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// After lossy chaos, a clean network converges to one rightful master and stays there.
    #[test]
    fn converges_to_one_rightful_master(sc in scenario()) {
        let mut lan = Lan::scenario(&sc);
        lan.settle();
        let quiet_since = lan.now;
        lan.run_for(10 * lan.advert_int);
        prop_assert!(
            lan.transitions_since(quiet_since).is_empty(),
            "no flapping without a cause: {:#?}",
            lan.transitions_since(quiet_since)
        );
    }

    /// A master that resigns (priority 0) is replaced within the new master's Skew_Time.
    #[test]
    fn priority_zero_hands_over_within_skew_time(sc in scenario()) {
        let mut lan = Lan::scenario(&sc);
        lan.settle();
        let old = lan.masters()[0];
        let at = lan.now;
        lan.shutdown(old);
        lan.run_for(lan.settle_time());
        lan.assert_converged();
        let next = lan.rightful_master(&lan.alive());
        let first = lan.first_master_since(at).expect("someone takes over").clone();
        let bound = rfc_skew(lan.routers[next].fsm.priority()) + lan.max_delay;
        prop_assert!(first.at - at <= bound, "handover took {:?}, bound {:?}", first.at - at, bound);
    }

    /// A planned handover never leaves the VIPs unheld: the old master lets go only once the
    /// new one advertises (and so already holds them), and it does not preempt back.
    #[test]
    fn handover_keeps_the_vips_held_throughout(sc in scenario()) {
        let mut lan = Lan::scenario(&sc);
        lan.settle();
        let old = lan.masters()[0];
        let releases_before = lan.releases.len();
        prop_assert!(lan.handover(old));
        let step = Duration::from_millis(5);
        let mut t = Duration::ZERO;
        while t < 6 * lan.advert_int {
            lan.run_for(step);
            t += step;
            prop_assert!(!lan.holders().is_empty(), "nobody holds the VIPs at {:?}", t);
        }
        let releases = &lan.releases[releases_before..];
        prop_assert_eq!(releases.len(), 1, "one release: {:?}", releases);
        let (_, who, new_master, other_holds) = releases[0];
        prop_assert_eq!(who, old);
        prop_assert!(new_master.is_some(), "released by the new master's advert, not the bound");
        prop_assert!(other_holds, "the new master held the VIPs when the old let go");
        let masters = lan.masters();
        prop_assert_eq!(masters.len(), 1);
        prop_assert!(masters[0] != old, "the old master does not preempt back");
        let rest: Vec<usize> = lan.alive().into_iter().filter(|&i| i != old).collect();
        // The rest elect as after any resign: the highest, unless a lower one's advert came
        // first (delay) to a higher one that does not preempt (RFC 3768 §6.4.2).
        lan.assert_rightful(masters[0], &rest);
    }

    /// When the master vanishes, the next takes over within Master_Down_Interval + one interval.
    #[test]
    fn crash_is_detected_within_master_down_interval(sc in scenario()) {
        let mut lan = Lan::scenario(&sc);
        lan.settle();
        let old = lan.masters()[0];
        let at = lan.now;
        lan.crash(old);
        lan.run_for(lan.settle_time());
        lan.assert_converged();
        let next = lan.rightful_master(&lan.alive());
        let first = lan.first_master_since(at).expect("someone takes over").clone();
        let bound = rfc_master_down(lan.routers[next].fsm.priority(), lan.advert_int)
            + lan.advert_int
            + lan.max_delay;
        prop_assert!(first.at - at <= bound, "takeover took {:?}, bound {:?}", first.at - at, bound);
        prop_assert!(matches!(first.reason, Reason::MasterDown { .. }), "{:?}", first.reason);
    }

    /// After a partition heals there is one master within one advert interval.
    #[test]
    fn healed_partition_has_one_master_within_an_interval(sc in scenario(), cut in 1usize..8) {
        let mut lan = Lan::scenario(&sc);
        let n = sc.routers.len();
        let cut = cut.min(n - 1);
        let left: Vec<usize> = (0..cut).collect();
        let right: Vec<usize> = (cut..n).collect();
        lan.settle();
        lan.partition(&left);
        lan.run_for(lan.settle_time());
        let masters = lan.masters();
        prop_assert_eq!(masters.len(), 2, "each side elects its own master");
        for side in [&left, &right] {
            let master = *masters.iter().find(|m| side.contains(m)).expect("a master per side");
            lan.assert_rightful(master, side);
        }
        lan.blocked.clear();
        lan.run_for(lan.advert_int + 2 * lan.max_delay + Duration::from_millis(1));
        prop_assert_eq!(lan.masters().len(), 1, "one master an interval after healing");
        lan.run_for(lan.settle_time());
        lan.assert_converged();
    }
}

#[test]
fn two_routers_elect_the_higher_after_master_down_interval() {
    let mut lan = Lan::new(&[100, 90], 7);
    lan.start(0);
    lan.start(1);
    lan.run_for(Duration::from_secs(5));
    lan.assert_converged();
    let took = lan.first_master_since(lan.t0).unwrap();
    assert_eq!(took.router, 0);
    assert_eq!(
        took.at - lan.t0,
        rfc_master_down(100, ADVERT_INT),
        "cold start takes one Master_Down_Interval, as keepalived's 3.6 s"
    );
}

#[test]
fn returning_higher_priority_router_preempts() {
    let mut lan = Lan::new(&[100, 90], 11);
    lan.start(1);
    lan.run_for(Duration::from_secs(5));
    assert_eq!(lan.masters(), vec![1]);
    let back = lan.now;
    lan.start(0);
    lan.run_for(Duration::from_secs(6));
    lan.assert_converged();
    let took = lan.first_master_since(back).unwrap();
    assert_eq!(took.router, 0);
    assert!(matches!(took.reason, Reason::Preempt { priority: 90, .. }));
    let yielded = lan
        .transitions_since(back)
        .into_iter()
        .find(|s| s.router == 1)
        .unwrap();
    assert_eq!(yielded.to, State::Backup);
    assert!(matches!(
        yielded.reason,
        Reason::Superseded {
            priority: 100,
            by_address: false,
            ..
        }
    ));
}

#[test]
fn equal_priorities_elect_the_higher_address() {
    let mut lan = Lan::new(&[100, 100, 100], 3);
    for i in 0..3 {
        lan.start(i);
    }
    lan.run_for(Duration::from_secs(10));
    lan.assert_converged();
    assert_eq!(lan.masters(), vec![2]);
}

/// A master whose check fails drops below the backup: the backup serves within its
/// Skew_Time, whether the master knows the backup's priority or not: backups are silent, so
/// a master that heard nobody resigns too (a keepalived backup ignores lower adverts).
#[test]
fn a_demoted_master_is_replaced_within_skew_time() {
    for knows_peer in [false, true] {
        let mut lan = Lan::new(&[100, 90], 5);
        if knows_peer {
            lan.start(1);
            lan.run_for(Duration::from_secs(5));
            lan.start(0);
        } else {
            lan.start(0);
            lan.start(1);
        }
        lan.run_for(Duration::from_secs(10));
        assert_eq!(lan.masters(), vec![0]);
        let at = lan.now + Duration::from_millis(400);
        lan.run_until(at);
        lan.set_priority(0, 80);
        lan.run_for(Duration::from_secs(10));
        assert_eq!(
            lan.masters(),
            vec![1],
            "knows_peer={knows_peer}: {:#?}",
            lan.log
        );
        let took = lan.first_master_since(at).unwrap();
        assert_eq!(took.router, 1);
        assert_eq!(
            took.at - at,
            rfc_skew(90),
            "knows_peer={knows_peer}: {:?}",
            took.reason
        );
        assert!(
            took.reason.to_string().contains("resigned"),
            "{}",
            took.reason
        );
        assert!(
            lan.transitions_since(took.at).is_empty(),
            "no flapping after"
        );
    }
}

/// A master whose priority falls but stays above the backup's keeps serving: the backup
/// answers its resign, the master takes over again at once, and it never lets go of the VIPs.
/// The second fall, with the backup's priority now known, costs no resign at all.
#[test]
fn a_demoted_master_still_above_the_backup_keeps_the_vips() {
    let mut lan = Lan::new(&[100, 90], 11);
    lan.start(0);
    lan.start(1);
    lan.run_for(Duration::from_secs(10));
    assert_eq!(lan.masters(), vec![0]);
    let at = lan.now;
    lan.set_priority(0, 95);
    for _ in 0..100 {
        lan.run_for(Duration::from_millis(50));
        assert!(lan.routers[0].holds_vips, "router 0 let go: {:#?}", lan.log);
    }
    assert_eq!(lan.masters(), vec![0]);
    assert_eq!(lan.holders(), vec![0]);
    let back = lan.first_master_since(at).map(|s| s.router);
    assert_eq!(back, Some(1), "the backup answered the resign");
    let settled = lan.now;
    lan.set_priority(0, 92);
    lan.run_for(Duration::from_secs(10));
    assert!(
        lan.transitions_since(settled).is_empty(),
        "{:#?}",
        lan.transitions_since(settled)
    );
}

/// A stronger master died long ago; ours, demoted later, resigns into silence: it keeps the
/// VIPs and resumes after the release bound, so clients see no gap.
#[test]
fn a_demoted_master_never_resigns_into_silence() {
    let mut lan = Lan::new(&[100, 120], 3);
    lan.start(1);
    lan.run_for(Duration::from_secs(5));
    lan.start(0);
    lan.run_for(Duration::from_secs(5));
    assert_eq!(lan.masters(), vec![1]);
    lan.crash(1);
    lan.run_for(Duration::from_secs(10));
    assert_eq!(lan.masters(), vec![0]);
    lan.set_priority(0, 70);
    for _ in 0..200 {
        lan.run_for(Duration::from_millis(50));
        assert!(lan.routers[0].holds_vips, "router 0 let go: {:#?}", lan.log);
    }
    assert_eq!(lan.masters(), vec![0]);
}
