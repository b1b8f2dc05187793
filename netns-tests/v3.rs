//! VRRPv3 (RFC 9568) scenarios in network namespaces, over IPv4 and IPv6, at keepalived's
//! sub-second `advert_int 0.05` (needs root; see `harness`).
//!
//! Every scenario runs for each pair of agents (host 0: priority 100, host 1: priority 90):
//! `ka_ka` (keepalived only: validates the lab), `vipd_vipd`, `vipd_ka` and `ka_vipd`, in
//! both families (`v4::`, `v6::`). Run one with a filter, e.g.
//! `cargo test --test netns_v3 v6::vipd_ka:: -- --nocapture`. Side-by-side numbers:
//! `netns-tests/bench/failover.sh`.
//!
//! Bounds come from RFC 9568 §6.1 at advert_int 0.05 s for the priority-90 backup:
//! Skew_Time = (256 - 90) x 0.05 / 256 = 0.032 s, Master_Down_Interval = 3 x 0.05 + Skew_Time
//! = 0.182 s; each gets a margin for a loaded 2-core machine and the client's 10 ms pings.

mod harness;

use std::time::Duration;

use harness::pair::{A, B, assert_gap_at_most, assert_stable, elect, elect_on, logs, ping_works};
use harness::{Family, Kind, Lab, PairOpts, epoch_now, measure, wait_for};
/// The advert interval of every scenario, as written in the config.
const ADVERT_INT: &str = "0.05";
/// The same in seconds.
const ADVERT_S: f64 = 0.05;
/// Skew_Time of B (priority 90) under RFC 9568: scaled by the advert interval.
const SKEW_B: f64 = (256.0 - 90.0) * ADVERT_S / 256.0;
/// Master_Down_Interval of B.
const MASTER_DOWN_B: f64 = 3.0 * ADVERT_S + SKEW_B;
/// What a loaded machine may add to a timer (scheduling, a missed advert, ping cadence).
const MARGIN: f64 = 0.3;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn opts(unicast: bool) -> PairOpts {
    PairOpts {
        unicast,
        version3: true,
        advert_int: Some(ADVERT_INT),
        ..PairOpts::default()
    }
}

fn name(family: Family, a: Kind, b: Kind) -> String {
    let f = match family {
        Family::V4 => "v3-ipv4",
        Family::V6 => "v3-ipv6",
    };
    format!("{f} {a}+{b}")
}

/// A host crash: the agent dies without a word and the host drops off the link (a VIP left
/// on a live interface would still answer the client).
fn crash_host(lab: &mut Lab, host: usize) {
    lab.kill9(host);
    lab.link_down(host);
}

/// After an event at `t`, waits for B to hold the VIP and the client to be answered, and
/// returns the client's longest gap.
fn gap_until_b_serves(lab: &Lab, ping: &harness::Pinger, t: f64, what: &str) -> Duration {
    wait_for(|| lab.holds_vip(B), secs(10))
        .unwrap_or_else(|| panic!("B did not take the VIP after {what}\n{}", logs(lab)));
    assert!(
        ping.wait_reply_after(t + 0.05, secs(5)),
        "no reply via B after {what}\n{}",
        logs(lab)
    );
    std::thread::sleep(Duration::from_millis(500));
    ping.longest_gap(t, epoch_now())
}

/// The higher priority wins and keeps the VIP; the client reaches it.
fn election(family: Family, a: Kind, b: Kind) {
    let mut lab = Lab::setup_family("v3elect", 2, family);
    let took = elect(&mut lab, a, b, &opts(false));
    let ping = ping_works(&lab);
    assert_stable(&lab, secs(3), "after the election");
    drop(ping);
    measure(&format!(
        "{} election_s={:.2}",
        name(family, a, b),
        took.as_secs_f64()
    ));
}

/// The master's host dies (kill -9 and its link cut, so its stale VIP answers nobody): the
/// backup takes over after its Master_Down_Interval.
fn crash(family: Family, a: Kind, b: Kind) {
    let mut lab = Lab::setup_family("v3crash", 2, family);
    elect(&mut lab, a, b, &opts(false));
    let ping = ping_works(&lab);
    let t = epoch_now();
    crash_host(&mut lab, A);
    let gap = gap_until_b_serves(&lab, &ping, t, "A's crash");
    assert_gap_at_most(gap, MASTER_DOWN_B + MARGIN, "on a crash", &lab);
    measure(&format!(
        "{} crash_gap_s={:.3}",
        name(family, a, b),
        gap.as_secs_f64()
    ));
}

/// SIGTERM on the master: priority 0; a vipd master keeps the VIP until the backup
/// advertises, keepalived's removes it at once (the backup's Skew_Time of silence).
fn sigterm(family: Family, a: Kind, b: Kind) {
    let mut lab = Lab::setup_family("v3term", 2, family);
    elect(&mut lab, a, b, &opts(false));
    let ping = ping_works(&lab);
    let t = epoch_now();
    let (status, _) = lab.stop_term(A);
    assert!(status.success(), "{a} exited with {status} on SIGTERM");
    assert!(!lab.holds_vip(A), "{a} left the VIP behind on SIGTERM");
    let gap = gap_until_b_serves(&lab, &ping, t, "SIGTERM of A");
    let bound = if a == Kind::Vipd {
        0.1
    } else {
        SKEW_B + MARGIN
    };
    assert_gap_at_most(gap, bound, "on SIGTERM", &lab);
    measure(&format!(
        "{} sigterm_gap_s={:.3}",
        name(family, a, b),
        gap.as_secs_f64()
    ));
}

/// The master's link goes down (B takes over) and comes back: A preempts.
fn preempt(family: Family, a: Kind, b: Kind) {
    let mut lab = Lab::setup_family("v3preempt", 2, family);
    elect(&mut lab, a, b, &opts(false));
    let ping = ping_works(&lab);
    let t = epoch_now();
    lab.link_down(A);
    let gap = gap_until_b_serves(&lab, &ping, t, "A's link went down");
    assert_gap_at_most(gap, MASTER_DOWN_B + MARGIN, "on link down", &lab);
    lab.link_up(A);
    let took = wait_for(|| lab.holds_vip(A) && !lab.holds_vip(B), secs(10))
        .unwrap_or_else(|| panic!("A did not preempt within 10 s\n{}", logs(&lab)));
    assert!(
        ping.wait_reply_after(epoch_now(), secs(5)),
        "no reply after preemption\n{}",
        logs(&lab)
    );
    assert_stable(&lab, secs(1), "after preemption");
    measure(&format!(
        "{} link_down_gap_s={:.3} preempt_s={:.2}",
        name(family, a, b),
        gap.as_secs_f64(),
        took.as_secs_f64()
    ));
}

/// Unicast peers with multicast VRRP blocked: they elect, and a crash still moves the VIP.
fn unicast(family: Family, a: Kind, b: Kind) {
    let mut lab = Lab::setup_family("v3ucast", 2, family);
    lab.block_multicast_vrrp(A);
    lab.block_multicast_vrrp(B);
    elect(&mut lab, a, b, &opts(true));
    let ping = ping_works(&lab);
    assert_stable(&lab, secs(2), "unicast adverts not heard");
    let t = epoch_now();
    crash_host(&mut lab, A);
    let gap = gap_until_b_serves(&lab, &ping, t, "A's crash");
    assert_gap_at_most(gap, MASTER_DOWN_B + MARGIN, "on a crash (unicast)", &lab);
    measure(&format!(
        "{} unicast_crash_gap_s={:.3}",
        name(family, a, b),
        gap.as_secs_f64()
    ));
}

/// `use_vmac`: the VIP lives on the macvlan `vrrp.51` with the virtual MAC (IPv4
/// 00:00:5e:00:01:33, IPv6 00:00:5e:00:02:33); adverts leave from it; a crash moves the VIP and
/// the client's neighbour entry stays the virtual MAC, so it needs no new announcement to
/// follow.
fn vmac(family: Family, a: Kind, b: Kind) {
    let mut lab = Lab::setup_family("v3vmac", 2, family);
    let opts = PairOpts {
        vmac: true,
        ..opts(false)
    };
    let vip = lab.vip();
    elect_on(&mut lab, a, b, &opts, "vrrp.51");
    let on_vmac = |lab: &Lab, h: usize| lab.has_vip_on(h, &vip, "vrrp.51");
    let ping = ping_works(&lab);
    let want = match family {
        Family::V4 => "00:00:5e:00:01:33",
        Family::V6 => "00:00:5e:00:02:33",
    };
    // A keepalived host's own ARP requests name the VIP with its eth0 MAC (it leaves
    // arp_announce alone), so the entry is checked while a vipd host holds the VIP.
    let check = |lab: &Lab, holder: Kind| {
        if holder == Kind::Vipd || family == Family::V6 {
            assert_eq!(
                lab.client_neighbour(&vip).as_deref(),
                Some(want),
                "holder {holder}"
            );
        }
    };
    check(&lab, a);
    let t = epoch_now();
    crash_host(&mut lab, A);
    wait_for(|| on_vmac(&lab, B), secs(10))
        .unwrap_or_else(|| panic!("B did not take the VIP\n{}", logs(&lab)));
    assert!(
        ping.wait_reply_after(t + 0.05, secs(5)),
        "no reply via B\n{}",
        logs(&lab)
    );
    std::thread::sleep(Duration::from_millis(500));
    let gap = ping.longest_gap(t, epoch_now());
    assert_gap_at_most(gap, MASTER_DOWN_B + MARGIN, "on a crash (vmac)", &lab);
    check(&lab, b);
    measure(&format!(
        "{} vmac_crash_gap_s={:.3}",
        name(family, a, b),
        gap.as_secs_f64()
    ));
}

/// VRRPv3 over IPv4, the two checksum forms, as a vipd backup B counts them: from a vipd
/// master with `v3_checksum_as_v2` (RFC 9568's form, the message alone), and from keepalived
/// 2.2.7's default (with the pseudo-header). B accepts both and stays backup. (keepalived
/// 2.2.7 itself knows only its own form: it would not hear the first master.)
fn checksum_form_counted(a: Kind, extra: Option<&'static str>, counter: &str, other: &str) {
    let mut lab = Lab::setup_family("v3csum", 2, Family::V4);
    let opts = PairOpts {
        extra_on: extra.map(|line| (A, line)),
        ..opts(false)
    };
    elect(&mut lab, a, Kind::Vipd, &opts);
    assert_stable(&lab, secs(2), "B does not hear A's checksums");
    let counters = &lab.vipctl_instance(B)["counters"];
    assert!(
        counters[counter].as_u64().unwrap_or(0) >= 20,
        "B counted {counters}"
    );
    assert_eq!(counters[other].as_u64(), Some(0), "{counters}");
}

#[test]
fn checksum_message_only_from_vipd_is_accepted_and_counted() {
    checksum_form_counted(
        Kind::Vipd,
        Some("v3_checksum_as_v2"),
        "v3_checksum_message_only",
        "v3_checksum_pseudo_header",
    );
}

#[test]
fn checksum_pseudo_header_from_keepalived_is_accepted_and_counted() {
    checksum_form_counted(
        Kind::Keepalived,
        None,
        "v3_checksum_pseudo_header",
        "v3_checksum_message_only",
    );
}

macro_rules! pair_tests {
    ($family:expr; $($module:ident: $a:expr, $b:expr;)*) => {$(
        mod $module {
            use super::{Family, Kind};
            const F: Family = $family;
            #[test]
            fn election() { super::super::election(F, $a, $b) }
            #[test]
            fn crash() { super::super::crash(F, $a, $b) }
            #[test]
            fn sigterm() { super::super::sigterm(F, $a, $b) }
            #[test]
            fn preempt() { super::super::preempt(F, $a, $b) }
            #[test]
            fn unicast() { super::super::unicast(F, $a, $b) }
            #[test]
            fn vmac() { super::super::vmac(F, $a, $b) }
        }
    )*};
}

mod v4 {
    use super::harness::{Family, Kind};
    pair_tests! { Family::V4;
        ka_ka: Kind::Keepalived, Kind::Keepalived;
        vipd_vipd: Kind::Vipd, Kind::Vipd;
        vipd_ka: Kind::Vipd, Kind::Keepalived;
        ka_vipd: Kind::Keepalived, Kind::Vipd;
    }
}

mod v6 {
    use super::harness::{Family, Kind};
    pair_tests! { Family::V6;
        ka_ka: Kind::Keepalived, Kind::Keepalived;
        vipd_vipd: Kind::Vipd, Kind::Vipd;
        vipd_ka: Kind::Vipd, Kind::Keepalived;
        ka_vipd: Kind::Keepalived, Kind::Vipd;
    }
}
