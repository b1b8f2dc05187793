//! A simulated LAN in virtual time: 2 to 8 state machines exchanging adverts with loss,
//! delay and partitions, checked against RFC 3768's promises.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use vipd::vrrp::fsm::{Action, Fsm, FsmConfig, Reason, State};

const ADVERT_INT: Duration = Duration::from_secs(1);

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
        let t0 = Instant::now();
        let routers = priorities
            .iter()
            .enumerate()
            .map(|(i, &priority)| {
                let addr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + i as u8));
                Router {
                    fsm: Fsm::new(FsmConfig {
                        priority,
                        advert_int: ADVERT_INT,
                        preempt: true,
                        preempt_delay: Duration::ZERO,
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
        let n = priorities.len();
        Self {
            t0,
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
            // A LAN delays but does not reorder: each link delivers in sending order.
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
    }

    /// No transition without a cause: each reason must match what the router really saw.
    fn check_cause(&self, i: usize, reason: &Reason, to: State) {
        let fsm = &self.routers[i].fsm;
        match reason {
            Reason::MasterDown { silent, .. } => {
                assert_eq!(to, State::Master);
                assert!(
                    *silent >= fsm.master_down_interval(),
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
                    .handle_advert(self.now, from, d.priority);
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

    /// Exactly one master, with the highest priority. RFC 3768 breaks a tie by address only
    /// between two masters (§6.4.3): a backup of equal priority and higher address does not
    /// preempt (§6.4.2), so among equal top priorities any one may hold the role.
    fn assert_converged(&self) {
        let alive = self.alive();
        let masters = self.masters();
        let top = self.routers[self.rightful_master(&alive)]
            .fsm
            .config()
            .priority;
        assert_eq!(masters.len(), 1, "exactly one master; log: {:#?}", self.log);
        assert_eq!(
            self.routers[masters[0]].fsm.config().priority,
            top,
            "the master has the highest priority; log: {:#?}",
            self.log
        );
    }
}

fn lan_strategy() -> impl Strategy<Value = (Vec<u8>, u64, f64, u64)> {
    (
        prop::collection::vec(1u8..=254, 2..=8),
        any::<u64>(),
        0.0f64..0.3,
        0u64..=20,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// After lossy chaos, a clean network converges to one rightful master and stays there.
    #[test]
    fn converges_to_one_rightful_master((prios, seed, loss, delay_ms) in lan_strategy()) {
        let mut lan = Lan::new(&prios, seed);
        lan.loss = loss;
        lan.max_delay = Duration::from_millis(delay_ms);
        lan.start_all_staggered(Duration::from_secs(2));
        lan.run_for(Duration::from_secs(15));
        lan.loss = 0.0;
        lan.run_for(Duration::from_secs(10));
        lan.assert_converged();
        let quiet_since = lan.now;
        lan.run_for(Duration::from_secs(10));
        prop_assert!(lan.transitions_since(quiet_since).is_empty(), "no flapping without a cause");
    }

    /// A master that resigns (priority 0) is replaced within the new master's Skew_Time.
    #[test]
    fn priority_zero_hands_over_within_skew_time((prios, seed, _loss, delay_ms) in lan_strategy()) {
        let mut lan = Lan::new(&prios, seed);
        lan.max_delay = Duration::from_millis(delay_ms);
        lan.start_all_staggered(Duration::from_secs(1));
        lan.run_for(Duration::from_secs(10));
        lan.assert_converged();
        let old = lan.masters()[0];
        let at = lan.now;
        lan.shutdown(old);
        lan.run_for(Duration::from_secs(10));
        lan.assert_converged();
        let next = lan.rightful_master(&lan.alive());
        let first = lan.first_master_since(at).expect("someone takes over").clone();
        let bound = lan.routers[next].fsm.skew_time() + lan.max_delay;
        prop_assert!(first.at - at <= bound, "handover took {:?}, bound {:?}", first.at - at, bound);
    }

    /// A planned handover never leaves the VIPs unheld: the old master lets go only once the
    /// new one advertises (and so already holds them), and it does not preempt back.
    #[test]
    fn handover_keeps_the_vips_held_throughout((prios, seed, _loss, delay_ms) in lan_strategy()) {
        let mut lan = Lan::new(&prios, seed);
        lan.max_delay = Duration::from_millis(delay_ms);
        lan.start_all_staggered(Duration::from_secs(1));
        lan.run_for(Duration::from_secs(10));
        lan.assert_converged();
        let old = lan.masters()[0];
        prop_assert!(lan.handover(old));
        let mut t = Duration::ZERO;
        while t < Duration::from_secs(20) {
            lan.run_for(Duration::from_millis(5));
            t += Duration::from_millis(5);
            prop_assert!(!lan.holders().is_empty(), "nobody holds the VIPs at {:?}", t);
        }
        prop_assert_eq!(lan.releases.len(), 1, "one release: {:?}", lan.releases);
        let (_, who, new_master, other_holds) = lan.releases[0];
        prop_assert_eq!(who, old);
        prop_assert!(new_master.is_some(), "released by the new master's advert, not the bound");
        prop_assert!(other_holds, "the new master held the VIPs when the old let go");
        let masters = lan.masters();
        prop_assert_eq!(masters.len(), 1);
        prop_assert!(masters[0] != old, "the old master does not preempt back");
        let rest: Vec<usize> = lan.alive().into_iter().filter(|&i| i != old).collect();
        let top = lan.routers[lan.rightful_master(&rest)].fsm.config().priority;
        prop_assert_eq!(lan.routers[masters[0]].fsm.config().priority, top);
    }

    /// When the master vanishes, the next takes over within Master_Down_Interval + one interval.
    #[test]
    fn crash_is_detected_within_master_down_interval((prios, seed, _loss, delay_ms) in lan_strategy()) {
        let mut lan = Lan::new(&prios, seed);
        lan.max_delay = Duration::from_millis(delay_ms);
        lan.start_all_staggered(Duration::from_secs(1));
        lan.run_for(Duration::from_secs(10));
        let old = lan.masters()[0];
        let at = lan.now;
        lan.crash(old);
        lan.run_for(Duration::from_secs(10));
        lan.assert_converged();
        let next = lan.rightful_master(&lan.alive());
        let first = lan.first_master_since(at).expect("someone takes over").clone();
        let bound = lan.routers[next].fsm.master_down_interval() + ADVERT_INT;
        prop_assert!(first.at - at <= bound, "takeover took {:?}, bound {:?}", first.at - at, bound);
        prop_assert!(matches!(first.reason, Reason::MasterDown { .. }), "{:?}", first.reason);
    }

    /// After a partition heals there is one master within one advert interval.
    #[test]
    fn healed_partition_has_one_master_within_an_interval(
        (prios, seed, _loss, delay_ms) in lan_strategy(),
        cut in 1usize..8,
    ) {
        let mut lan = Lan::new(&prios, seed);
        lan.max_delay = Duration::from_millis(delay_ms);
        let cut = cut.min(prios.len() - 1);
        let left: Vec<usize> = (0..cut).collect();
        let right: Vec<usize> = (cut..prios.len()).collect();
        lan.start_all_staggered(Duration::from_secs(1));
        lan.run_for(Duration::from_secs(10));
        lan.partition(&left);
        lan.run_for(Duration::from_secs(10));
        let masters = lan.masters();
        prop_assert_eq!(masters.len(), 2, "each side elects its own master");
        for side in [&left, &right] {
            let top = lan.routers[lan.rightful_master(side)].fsm.config().priority;
            let master = masters.iter().find(|m| side.contains(m)).expect("a master per side");
            prop_assert_eq!(lan.routers[*master].fsm.config().priority, top);
        }
        lan.blocked.clear();
        lan.run_for(ADVERT_INT + 2 * lan.max_delay + Duration::from_millis(1));
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
        lan.routers[0].fsm.master_down_interval(),
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
            lan.routers[1].fsm.skew_time(),
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
