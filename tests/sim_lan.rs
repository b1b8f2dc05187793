//! A simulated LAN in virtual time (the harness is `sim/`): 2 to 8 state machines exchanging
//! adverts with loss, delay, duplicates and partitions, checked against the promises of RFC
//! 3768 (VRRPv2) and RFC 9568 (VRRPv3). The properties vary priorities (address owners at 255
//! included), preempt on and off, preempt_delay and the advert interval: 1 to 3 s for VRRPv2;
//! 10 ms, 20 ms, 50 ms or 1 s for VRRPv3, one for the LAN or each router its own, which the
//! backups learn from the master. `SIM_CASES` sets the cases per property (see [`cases`]).

mod sim;

use std::time::Duration;

use proptest::prelude::*;
use sim::{Lan, Scenario, Spec, rfc_master_down, rfc_skew};
use vipd::vrrp::fsm::{Reason, State};
use vipd::vrrp::packet::Version::{V2, V3};

/// The advert interval of the hand-written VRRPv2 scenarios.
const ADVERT_INT: Duration = Duration::from_secs(1);

/// The VRRPv3 intervals of the generated scenarios, in milliseconds.
const V3_INTS_MS: [u64; 4] = [10, 20, 50, 1000];

/// A VRRPv2 LAN of routers with these priorities, preempting, at [`ADVERT_INT`].
fn lan_v2(priorities: &[u8], seed: u64) -> Lan {
    let specs: Vec<Spec> = priorities
        .iter()
        .map(|&p| Spec::new(p, ADVERT_INT))
        .collect();
    Lan::with(V2, &specs, seed)
}

/// A VRRPv3 LAN of routers with these priorities and intervals, preempting.
fn lan_v3(routers: &[(u8, Duration)], seed: u64) -> Lan {
    let specs: Vec<Spec> = routers.iter().map(|&(p, int)| Spec::new(p, int)).collect();
    Lan::with(V3, &specs, seed)
}

/// Cases per property: `SIM_CASES`, else 1,000 for VRRPv2 and 300 for VRRPv3, whose
/// 10 ms routers make each case several times dearer, so that the file stays well under a
/// minute.
fn cases(default: u32) -> u32 {
    std::env::var("SIM_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A router's priority, preempt and preempt_delay; its interval is the scenario's to set.
fn spec() -> impl Strategy<Value = Spec> {
    (
        1u8..=254,
        prop::bool::weighted(0.8),
        prop_oneof![3 => Just(0u64), 1 => 1u64..=3000],
    )
        .prop_map(|(priority, preempt, delay_ms)| Spec {
            preempt,
            preempt_delay: Duration::from_millis(delay_ms),
            ..Spec::new(priority, ADVERT_INT)
        })
}

/// VRRPv2: 2 to 8 routers; sometimes the first is the address owner (255, which always
/// preempts); preempt off for about one in five, preempt_delay for one in four; an advert
/// interval of 1 to 3 s; loss up to 30 %, delay up to 20 ms, duplicates up to 20 %.
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
                let int = Duration::from_secs(int);
                if owner {
                    routers[0] = Spec::new(255, int);
                }
                for r in &mut routers {
                    r.advert_int = int;
                }
                Scenario {
                    version: V2,
                    routers,
                    seed,
                    loss,
                    max_delay: Duration::from_millis(delay_ms),
                    duplicate,
                }
            },
        )
}

/// VRRPv3: as [`scenario`], with 2 to 6 routers, on one interval of [`V3_INTS_MS`] for the
/// LAN or, two times in five, each router on its own; the delay is at most a fifth of the
/// shortest interval (and 20 ms).
fn scenario_v3() -> impl Strategy<Value = Scenario> {
    let int = || (0..V3_INTS_MS.len()).prop_map(|i| Duration::from_millis(V3_INTS_MS[i]));
    (
        prop::collection::vec((spec(), int()), 2..=6),
        prop::bool::weighted(0.15),
        int(),
        prop::bool::weighted(0.4),
        any::<u64>(),
        0.0f64..0.3,
        0u32..=100,
        0.0f64..0.2,
    )
        .prop_map(
            |(routers, owner, lan_int, mixed, seed, loss, delay_pct, duplicate)| {
                let mut routers: Vec<Spec> = routers
                    .into_iter()
                    .map(|(spec, own)| Spec {
                        advert_int: if mixed { own } else { lan_int },
                        ..spec
                    })
                    .collect();
                if owner {
                    routers[0] = Spec::new(255, routers[0].advert_int);
                }
                let shortest = routers
                    .iter()
                    .map(|r| r.advert_int)
                    .min()
                    .unwrap_or(lan_int);
                let max_delay = Duration::from_millis(20).min(shortest / 5) * delay_pct / 100;
                Scenario {
                    version: V3,
                    routers,
                    seed,
                    loss,
                    max_delay,
                    duplicate,
                }
            },
        )
}

/// After lossy chaos, a clean network converges to one rightful master, whose interval the
/// backups follow, and stays there.
fn converges(sc: &Scenario) -> Result<(), TestCaseError> {
    let mut lan = Lan::scenario(sc);
    lan.settle();
    let quiet_since = lan.now;
    lan.run_for(10 * lan.longest_int());
    prop_assert!(
        lan.transitions_since(quiet_since).is_empty(),
        "no flapping without a cause: {:#?}",
        lan.transitions_since(quiet_since)
    );
    Ok(())
}

/// Settles the LAN, takes its master away with `remove` (a shutdown or a crash) and lets the
/// rest elect. Returns the LAN, the old master, the priority of its rightful successor, and
/// how long after the removal the first takeover came, for what reason.
fn replace_master(
    sc: &Scenario,
    remove: fn(&mut Lan, usize),
) -> (Lan, usize, u8, Duration, Reason) {
    let mut lan = Lan::scenario(sc);
    lan.settle();
    let old = lan.masters()[0];
    let at = lan.now;
    remove(&mut lan, old);
    lan.run_for(lan.settle_time());
    lan.assert_converged();
    let next = lan.rightful_master(&lan.alive());
    let first = lan.first_master_since(at).expect("someone takes over");
    let (took, reason) = (first.at - at, first.reason.clone());
    let priority = lan.routers[next].fsm.priority();
    (lan, old, priority, took, reason)
}

/// A master that resigns (priority 0) is replaced within the new master's Skew_Time, on the
/// interval it learned from the old master.
fn priority_zero_within_skew(sc: &Scenario) -> Result<(), TestCaseError> {
    let (lan, old, next, took, _) = replace_master(sc, Lan::shutdown);
    let learned = lan.routers[old].advert_int;
    let bound = rfc_skew(sc.version, next, learned) + lan.max_delay;
    prop_assert!(took <= bound, "handover took {:?}, bound {:?}", took, bound);
    Ok(())
}

/// A planned handover never leaves the VIPs unheld: the old master lets go only once the new
/// one advertises (and so already holds them), and it does not preempt back.
fn handover_keeps_the_vips(sc: &Scenario) -> Result<(), TestCaseError> {
    let mut lan = Lan::scenario(sc);
    lan.settle();
    let old = lan.masters()[0];
    let releases_before = lan.releases.len();
    prop_assert!(lan.handover(old));
    let step = Duration::from_millis(5).min(lan.shortest_int() / 4);
    let mut t = Duration::ZERO;
    // Long enough for the rest to elect, a preempt_delay included.
    let end = 6 * lan.longest_int() + lan.settle_time();
    while t < end {
        lan.run_for(step);
        t += step;
        prop_assert!(
            !lan.holders().is_empty(),
            "nobody holds the VIPs at {:?}",
            t
        );
    }
    let releases = &lan.releases[releases_before..];
    prop_assert_eq!(releases.len(), 1, "one release: {:?}", releases);
    let (_, who, new_master, other_holds) = releases[0];
    prop_assert_eq!(who, old);
    prop_assert!(
        new_master.is_some(),
        "released by the new master's advert, not the bound"
    );
    prop_assert!(
        other_holds,
        "the new master held the VIPs when the old let go"
    );
    let rest: Vec<usize> = lan.alive().into_iter().filter(|&i| i != old).collect();
    if !lan.one_interval() {
        // See `Lan::one_interval`: the old master, yielding, may follow a faster transient
        // master and take over when it falls silent. The LAN still settles.
        lan.run_for(lan.settle_time());
        let masters = lan.masters();
        prop_assert_eq!(masters.len(), 1);
        let among = if masters[0] == old { lan.alive() } else { rest };
        lan.assert_rightful(masters[0], &among);
        lan.assert_following(masters[0]);
        return Ok(());
    }
    let masters = lan.masters();
    prop_assert_eq!(masters.len(), 1);
    prop_assert!(masters[0] != old, "the old master does not preempt back");
    // The rest elect as after any resign: the highest, unless a lower one's advert came first
    // (delay) to a higher one that does not preempt (RFC 3768 / RFC 9568 §6.4.2).
    lan.assert_rightful(masters[0], &rest);
    Ok(())
}

/// When the master vanishes, the next takes over within Master_Down_Interval (on the
/// interval learned from the old master) + one of its intervals.
fn crash_within_master_down(sc: &Scenario) -> Result<(), TestCaseError> {
    let (lan, old, next, took, reason) = replace_master(sc, Lan::crash);
    let learned = lan.routers[old].advert_int;
    let bound = rfc_master_down(sc.version, next, learned) + learned + lan.max_delay;
    prop_assert!(took <= bound, "takeover took {:?}, bound {:?}", took, bound);
    prop_assert!(matches!(reason, Reason::MasterDown { .. }), "{:?}", reason);
    Ok(())
}

/// After a partition heals there is one master within one advert interval.
fn healed_partition(sc: &Scenario, cut: usize) -> Result<(), TestCaseError> {
    let mut lan = Lan::scenario(sc);
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
        let master = *masters
            .iter()
            .find(|m| side.contains(m))
            .expect("a master per side");
        lan.assert_rightful(master, side);
    }
    lan.blocked.clear();
    lan.run_for(lan.longest_int() + 2 * lan.max_delay + Duration::from_millis(1));
    if lan.one_interval() {
        // With several intervals a backup may follow the faster master of the two for a
        // moment, then take over (see `Lan::one_interval`); the LAN still settles.
        prop_assert_eq!(
            lan.masters().len(),
            1,
            "one master an interval after healing"
        );
    }
    lan.run_for(lan.settle_time());
    lan.assert_converged();
    Ok(())
}

/// The five properties over one version's scenarios, under the test names given.
macro_rules! properties {
    ($cases:expr, $scenario:expr, $cuts:expr, $converges:ident, $resign:ident, $handover:ident,
     $crash:ident, $heal:ident) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases($cases))]

            #[test]
            fn $converges(sc in $scenario) {
                converges(&sc)?;
            }

            #[test]
            fn $resign(sc in $scenario) {
                priority_zero_within_skew(&sc)?;
            }

            #[test]
            fn $handover(sc in $scenario) {
                handover_keeps_the_vips(&sc)?;
            }

            #[test]
            fn $crash(sc in $scenario) {
                crash_within_master_down(&sc)?;
            }

            #[test]
            fn $heal(sc in $scenario, cut in $cuts) {
                healed_partition(&sc, cut)?;
            }
        }
    };
}

properties!(
    cases(1000),
    scenario(),
    1usize..8,
    converges_to_one_rightful_master,
    priority_zero_hands_over_within_skew_time,
    handover_keeps_the_vips_held_throughout,
    crash_is_detected_within_master_down_interval,
    healed_partition_has_one_master_within_an_interval
);

properties!(
    cases(300),
    scenario_v3(),
    1usize..6,
    v3_converges_to_one_rightful_master,
    v3_priority_zero_hands_over_within_learned_skew_time,
    v3_handover_keeps_the_vips_held_throughout,
    v3_crash_is_detected_within_learned_master_down_interval,
    v3_healed_partition_has_one_master_within_an_interval
);

#[test]
fn two_routers_elect_the_higher_after_master_down_interval() {
    let mut lan = lan_v2(&[100, 90], 7);
    lan.start(0);
    lan.start(1);
    lan.run_for(Duration::from_secs(5));
    lan.assert_converged();
    let took = lan.first_master_since(lan.t0).unwrap();
    assert_eq!(took.router, 0);
    assert_eq!(
        took.at - lan.t0,
        rfc_master_down(V2, 100, ADVERT_INT),
        "cold start takes one Master_Down_Interval, as keepalived's 3.6 s"
    );
}

#[test]
fn returning_higher_priority_router_preempts() {
    let mut lan = lan_v2(&[100, 90], 11);
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
    let mut lan = lan_v2(&[100, 100, 100], 3);
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
        let mut lan = lan_v2(&[100, 90], 5);
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
            rfc_skew(V2, 90, ADVERT_INT),
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
    let mut lan = lan_v2(&[100, 90], 11);
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
    let mut lan = lan_v2(&[100, 120], 3);
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

// VRRPv3 by hand: figures from RFC 9568 §6.1 on the interval the backups learned.

const MS10: Duration = Duration::from_millis(10);
const MS20: Duration = Duration::from_millis(20);
const MS50: Duration = Duration::from_millis(50);
const SEC: Duration = Duration::from_secs(1);

/// Each router's first takeover after `since`.
fn took_over_since(lan: &Lan, since: std::time::Instant) -> (usize, Duration, Reason) {
    let took = lan.first_master_since(since).expect("someone takes over");
    (took.router, took.at - since, took.reason.clone())
}

/// A cold start elects the higher router after one Master_Down_Interval on its own interval
/// (it has heard nobody): 36.09 ms at 10 ms, 72.19 ms at 20 ms, 180.47 ms at 50 ms, 3.61 s at 1 s.
#[test]
fn v3_cold_start_takes_one_master_down_interval_at_every_interval() {
    for ms in V3_INTS_MS {
        let int = Duration::from_millis(ms);
        let mut lan = lan_v3(&[(100, int), (90, int)], 7);
        lan.start(0);
        lan.start(1);
        lan.run_for(10 * int);
        lan.assert_converged();
        let (router, after, _) = took_over_since(&lan, lan.t0);
        assert_eq!(router, 0);
        assert_eq!(after, rfc_master_down(V3, 100, int), "at {ms} ms");
    }
    let mut lan = lan_v3(&[(100, MS50), (90, MS50)], 7);
    lan.start(0);
    lan.start(1);
    lan.run_for(SEC);
    let (_, after, _) = took_over_since(&lan, lan.t0);
    assert_eq!(after, Duration::from_nanos(180_468_750));
}

/// Backups configured at 1 s and 50 ms follow a master at 20 ms. When it crashes, the next
/// takes over 3 x 20 ms + (156 x 20 ms) / 256 = 72.19 ms after its last advert, not 3.61 s;
/// the last backup then learns the new master's 1 s, and on its resign waits its Skew_Time
/// on 1 s: (206 x 1 s) / 256 = 0.8047 s.
#[test]
fn v3_backups_learn_the_masters_interval_and_fail_over_on_it() {
    let mut lan = lan_v3(&[(200, MS20), (100, SEC), (50, MS50)], 3);
    for i in 0..3 {
        lan.start(i);
    }
    lan.run_for(Duration::from_secs(5));
    lan.assert_converged();
    assert_eq!(lan.masters(), vec![0]);
    assert_eq!(lan.routers[1].fsm.master_adver_interval(), MS20);
    lan.crash(0);
    lan.run_for(SEC);
    let last = lan.last_rx[1][0].unwrap();
    let (router, after, reason) = took_over_since(&lan, last);
    assert_eq!(router, 1);
    assert_eq!(after, Duration::from_nanos(72_187_500));
    assert_eq!(after, rfc_master_down(V3, 100, MS20));
    assert!(matches!(reason, Reason::MasterDown { .. }), "{reason}");
    lan.run_for(Duration::from_secs(5));
    lan.assert_converged();
    assert_eq!(lan.routers[2].fsm.master_adver_interval(), SEC);
    let at = lan.now;
    lan.shutdown(1);
    lan.run_for(Duration::from_secs(2));
    let (router, after, reason) = took_over_since(&lan, at);
    assert_eq!(router, 2);
    assert_eq!(after, Duration::from_nanos(804_687_500));
    assert_eq!(
        reason,
        Reason::MasterResigned {
            master: lan.routers[1].addr
        }
    );
}

/// An address owner at 10 ms joins a LAN whose master runs at 1 s: it takes over at once, the
/// old master steps down learning 10 ms, and when the owner crashes the next takes over
/// 3 x 10 ms + (106 x 10 ms) / 256 = 34.14 ms after its last advert.
#[test]
fn v3_an_owner_takes_over_at_once_and_is_followed_at_its_interval() {
    let mut lan = lan_v3(&[(255, MS10), (150, SEC), (100, MS50)], 5);
    lan.start(1);
    lan.start(2);
    lan.run_for(Duration::from_secs(6));
    assert_eq!(lan.masters(), vec![1]);
    assert_eq!(lan.routers[2].fsm.master_adver_interval(), SEC);
    let back = lan.now;
    lan.start(0);
    let (router, after, reason) = took_over_since(&lan, back);
    assert_eq!(
        (router, after, reason),
        (0, Duration::ZERO, Reason::AddressOwner)
    );
    lan.run_for(Duration::from_millis(1));
    assert_eq!(lan.masters(), vec![0]);
    lan.assert_converged();
    lan.run_for(Duration::from_millis(95));
    lan.crash(0);
    lan.run_for(SEC);
    let last = lan.last_rx[1][0].unwrap();
    let (router, after, _) = took_over_since(&lan, last);
    assert_eq!(router, 1);
    assert_eq!(after, Duration::from_nanos(34_140_625));
    assert_eq!(after, rfc_master_down(V3, 150, MS10));
}

/// A higher backup with preempt off follows a lower master at 20 ms rather than preempting
/// it, and on its crash takes over after 3 x 20 ms + (56 x 20 ms) / 256 = 64.38 ms.
#[test]
fn v3_a_nopreempt_backup_follows_a_lower_faster_master() {
    let specs = [
        Spec::new(100, MS20),
        Spec {
            preempt: false,
            ..Spec::new(200, SEC)
        },
    ];
    let mut lan = Lan::with(V3, &specs, 9);
    lan.start(0);
    lan.run_for(SEC);
    let joined = lan.now;
    lan.start(1);
    lan.run_for(Duration::from_secs(10));
    assert_eq!(lan.masters(), vec![0]);
    assert!(
        lan.transitions_since(joined)
            .iter()
            .all(|s| s.to != State::Master),
        "{:#?}",
        lan.log
    );
    lan.assert_following(0);
    lan.crash(0);
    lan.run_for(SEC);
    let last = lan.last_rx[1][0].unwrap();
    let (router, after, _) = took_over_since(&lan, last);
    assert_eq!(router, 1);
    assert_eq!(after, Duration::from_nanos(64_375_000));
}

/// preempt_delay: a higher router joining a lower master at 20 ms tolerates (and follows) it
/// for the delay, then preempts one learned Master_Down_Interval after the last advert it
/// accepted: 500 ms + 72.19 ms give or take one interval, not 500 ms + 3.61 s.
#[test]
fn v3_preempt_delay_then_preempts_on_the_learned_interval() {
    let delay = Duration::from_millis(500);
    let specs = [
        Spec::new(90, MS20),
        Spec {
            preempt_delay: delay,
            ..Spec::new(100, SEC)
        },
    ];
    let mut lan = Lan::with(V3, &specs, 13);
    lan.start(0);
    lan.run_for(SEC);
    let joined = lan.now;
    lan.start(1);
    lan.run_for(Duration::from_secs(5));
    assert_eq!(lan.masters(), vec![1]);
    let (router, after, reason) = took_over_since(&lan, joined);
    assert_eq!(router, 1);
    assert!(
        matches!(reason, Reason::Preempt { priority: 90, .. }),
        "{reason}"
    );
    let down = rfc_master_down(V3, 100, MS20);
    assert!(
        after > delay + down - MS20 && after <= delay + down + MS20,
        "{after:?}"
    );
}

/// A master whose check fails drops below a backup that follows it at 20 ms: the backup
/// serves within its Skew_Time on 20 ms, (166 x 20 ms) / 256 = 12.97 ms, not on its own 1 s.
#[test]
fn v3_a_demoted_master_is_replaced_within_the_learned_skew_time() {
    let mut lan = lan_v3(&[(100, MS20), (90, SEC)], 5);
    lan.start(0);
    lan.start(1);
    lan.run_for(Duration::from_secs(5));
    assert_eq!(lan.masters(), vec![0]);
    let at = lan.now + Duration::from_millis(7);
    lan.run_until(at);
    lan.set_priority(0, 80);
    lan.run_for(SEC);
    assert_eq!(lan.masters(), vec![1], "{:#?}", lan.log);
    let (router, after, reason) = took_over_since(&lan, at);
    assert_eq!(router, 1);
    assert_eq!(after, Duration::from_nanos(12_968_750));
    assert_eq!(after, rfc_skew(V3, 90, MS20));
    assert!(reason.to_string().contains("resigned"), "{reason}");
    lan.assert_following(1);
}
