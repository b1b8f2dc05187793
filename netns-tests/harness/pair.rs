//! The two-host pair most scenarios run (host [`A`] at priority 100, host [`B`] at 90): how it
//! is elected and what a scenario asserts of it, shared by the failover and VRRPv3 suites.

use std::time::{Duration, Instant};

use super::{Kind, Lab, PairOpts, Pinger, epoch_now, wait_for};

/// The priority-100 host.
pub const A: usize = 0;
/// The priority-90 host.
pub const B: usize = 1;

/// Both agents' log tails, for failure messages.
pub fn logs(lab: &Lab) -> String {
    format!(
        "--- h1 ---\n{}\n--- h2 ---\n{}",
        lab.log_tail(A, 25),
        lab.log_tail(B, 25)
    )
}

/// Starts both nodes with the pair config and waits until A alone holds the VIP (on eth0).
/// Returns the time from starting the first node.
pub fn elect(lab: &mut Lab, a: Kind, b: Kind, opts: &PairOpts) -> Duration {
    elect_on(lab, a, b, opts, "eth0")
}

/// [`elect`] with the VIP on interface `dev` (the macvlan `vrrp.51` with `use_vmac`).
pub fn elect_on(lab: &mut Lab, a: Kind, b: Kind, opts: &PairOpts, dev: &str) -> Duration {
    let t0 = Instant::now();
    let conf_a = lab.pair_conf(A, opts);
    let conf_b = lab.pair_conf(B, opts);
    lab.start(A, a, &conf_a);
    lab.start(B, b, &conf_b);
    let vip = lab.vip();
    let on = |lab: &Lab, h: usize| lab.has_vip_on(h, &vip, dev);
    wait_for(|| on(lab, A) && !on(lab, B), Duration::from_secs(20)).unwrap_or_else(|| {
        panic!(
            "no election on {dev} within 20 s: A holds it {}, B {}\n{}",
            on(lab, A),
            on(lab, B),
            logs(lab)
        )
    });
    let took = t0.elapsed();
    expect_vipd_state(lab, A, "MASTER");
    expect_vipd_state(lab, B, "BACKUP");
    took
}

/// For a vipd node, waits (5 s) until vipctl reports `state`; nothing for keepalived. A vipd
/// still starting (no control socket yet: the other node may win the election first) is
/// waited for, not a failure.
pub fn expect_vipd_state(lab: &Lab, host: usize, state: &str) {
    if lab.kind(host) != Some(Kind::Vipd) {
        return;
    }
    let ok = wait_for(
        || lab.try_vipd_state(host).as_deref() == Some(state),
        Duration::from_secs(5),
    );
    assert!(
        ok.is_some(),
        "vipctl on h{} says {:?}, expected {state}\n{}",
        host + 1,
        lab.try_vipd_state(host),
        logs(lab)
    );
}

/// Asserts that for `hold`, A alone keeps the VIP (looked at every 50 ms).
pub fn assert_stable(lab: &Lab, hold: Duration, why: &str) {
    let end = Instant::now() + hold;
    while Instant::now() < end {
        assert!(
            lab.holds_vip(A) && !lab.holds_vip(B),
            "{why}: holders became {:?}\n{}",
            lab.vip_holders(),
            logs(lab)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a 90 s pinger and waits (5 s) for its first reply from the VIP.
pub fn ping_works(lab: &Lab) -> Pinger {
    let ping = lab.pinger(Duration::from_secs(90));
    assert!(
        ping.wait_reply_after(epoch_now(), Duration::from_secs(5)),
        "the client gets no reply from the VIP\n{}",
        logs(lab)
    );
    ping
}

/// Fails when the client's longest gap is above `bound_s` seconds: the RFC's timer plus a
/// margin for a loaded 2-core machine, tight enough that losing the fast path fails.
pub fn assert_gap_at_most(gap: Duration, bound_s: f64, what: &str, lab: &Lab) {
    assert!(
        gap.as_secs_f64() <= bound_s,
        "ping gap {gap:?} {what}: above the bound {bound_s:.3} s\n{}",
        logs(lab)
    );
}
