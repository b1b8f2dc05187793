//! Defending a master's VIPs against another host's ARP claims, with no IO and no clock.
//!
//! Why: under VRRP loss a backup may miss three adverts, become master for a moment, send its
//! gratuitous ARPs and step down when it hears the real master again. Clients then keep the
//! backup's MAC until their ARP entry ages out (seconds). A master that answers every such
//! claim with its own announcement brings them back within one cooldown, whatever agent the
//! backup runs.
//!
//! Rules:
//! - A claim schedules one re-announce [`COALESCE_DELAY`] later, so it follows the last frame
//!   of the other host's burst; claims while one is scheduled join it.
//! - Re-announces are at least one cooldown apart (the advert interval, at most
//!   [`MAX_COOLDOWN`]): a claim inside the cooldown is answered at its end.
//! - A master that took over because the old one fell silent may be wrong (adverts lost on a
//!   lossy link): its own announcement starts a cooldown ([`Defender::announced`]), so it
//!   does not answer the real master's defence before the next advert sets it right. One
//!   that took over knowing it should (it resumed, preempted, was handed the role) does not
//!   call it and answers at once: another host's burst may follow its own by milliseconds. No claim goes unanswered: each is followed by a
//!   re-announce within `max(COALESCE_DELAY, cooldown)`. This also bounds the traffic when
//!   two masters fight (a split brain): one burst per cooldown each.
//!
//! Call order for a driver, while master:
//! 1. for each ARP claim by another MAC on one of the instance's VIPs: [`Defender::claim`];
//! 2. on taking over after silence, once: [`Defender::announced`];
//! 3. sleep until [`Defender::poll_timeout`], then call [`Defender::handle_timeout`] with the
//!    clock's time; `true` means "announce every VIP now" (the call records it);
//! 4. on leaving MASTER: [`Defender::reset`].

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// How long a re-announce waits after the first claim: another host sends its burst of
/// gratuitous ARPs at once, so ours goes out after its last frame.
pub const COALESCE_DELAY: Duration = Duration::from_millis(20);
/// The longest cooldown between re-announces, whatever the advert interval.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(1);

/// Decides when a master re-announces its VIPs after foreign ARP claims (see the module doc).
#[derive(Debug, Clone)]
pub struct Defender {
    /// Least time between two announcements: the advert interval, capped.
    cooldown: Duration,
    /// When the scheduled re-announce is due.
    due: Option<Instant>,
    /// The last re-announce, or the announcement of a master unsure of its role: the
    /// cooldown starts there.
    last_announce: Option<Instant>,
    /// The VIP the last claim was about, for logs and status.
    last_claimed: Option<Ipv4Addr>,
    /// Claims seen, over the whole life of the instance.
    claims: u64,
    /// Re-announces made, over the whole life of the instance.
    reannounces: u64,
}

impl Defender {
    /// A defender whose cooldown is `advert_interval`, capped at [`MAX_COOLDOWN`].
    pub fn new(advert_interval: Duration) -> Self {
        Defender {
            cooldown: advert_interval.min(MAX_COOLDOWN),
            due: None,
            last_announce: None,
            last_claimed: None,
            claims: 0,
            reannounces: 0,
        }
    }

    /// Another MAC claimed `ip`, one of our VIPs, at `now`: schedules a re-announce unless
    /// one is already scheduled.
    pub fn claim(&mut self, now: Instant, ip: Ipv4Addr) {
        self.claims += 1;
        self.last_claimed = Some(ip);
        if self.due.is_some() {
            return;
        }
        let coalesced = now + COALESCE_DELAY;
        self.due = Some(match self.last_announce {
            Some(last) => coalesced.max(last + self.cooldown),
            None => coalesced,
        });
    }

    /// The instance announced its VIPs at `now` after taking over from a master that fell
    /// silent: the cooldown starts, so a claim right after is answered only at its end. A
    /// re-announce already scheduled stays (it answers a claim).
    pub fn announced(&mut self, now: Instant) {
        self.last_announce = Some(now);
    }

    /// When [`Defender::handle_timeout`] wants to be called; `None` when nothing is scheduled.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.due
    }

    /// Returns `true` when the VIPs are to be announced now, and records that they are.
    #[must_use]
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        match self.due {
            Some(due) if due <= now => {
                self.due = None;
                self.last_announce = Some(now);
                self.reannounces += 1;
                true
            }
            _ => false,
        }
    }

    /// We stopped being master: forgets the schedule, the cooldown and the last claim. The
    /// counters are lifetime totals (metrics never go back) and stay.
    pub fn reset(&mut self) {
        self.due = None;
        self.last_announce = None;
        self.last_claimed = None;
    }

    /// The least time between two announcements.
    pub fn cooldown(&self) -> Duration {
        self.cooldown
    }

    /// How many claims on our VIPs were seen.
    pub fn claims_seen(&self) -> u64 {
        self.claims
    }

    /// How many re-announces [`Defender::handle_timeout`] asked for.
    pub fn reannounces(&self) -> u64 {
        self.reannounces
    }

    /// The VIP named by the last claim since the last reset.
    pub fn last_claimed(&self) -> Option<Ipv4Addr> {
        self.last_claimed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
    const SEC: Duration = Duration::from_secs(1);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Feeds claims at `t0 + offsets` (sorted) and fires every due timeout on time, in time
    /// order (a timeout due at a claim's instant fires first); returns the re-announce times.
    fn drive(d: &mut Defender, t0: Instant, offsets: &[Duration]) -> Vec<Instant> {
        let mut out = Vec::new();
        let mut claims = offsets.iter().map(|o| t0 + *o).peekable();
        loop {
            match (d.poll_timeout(), claims.peek().copied()) {
                (Some(due), c) if c.is_none_or(|c| due <= c) => {
                    assert!(d.handle_timeout(due), "due at {due:?} but not fired");
                    out.push(due);
                }
                (_, Some(c)) => {
                    d.claim(c, VIP);
                    claims.next();
                }
                (None, None) => return out,
                (Some(_), None) => unreachable!("covered by the first arm"),
            }
        }
    }

    #[test]
    fn a_burst_of_five_claims_gives_one_announce_20ms_later() {
        let t0 = Instant::now();
        let mut d = Defender::new(SEC);
        for i in 0..5 {
            d.claim(t0 + Duration::from_micros(200 * i), VIP);
        }
        assert_eq!(d.poll_timeout(), Some(t0 + ms(20)));
        assert!(!d.handle_timeout(t0 + ms(19)), "not before 20 ms");
        assert_eq!(d.poll_timeout(), Some(t0 + ms(20)), "still scheduled");
        assert!(d.handle_timeout(t0 + ms(20)));
        assert_eq!(d.poll_timeout(), None);
        assert!(!d.handle_timeout(t0 + ms(40)), "exactly one");
        assert_eq!((d.claims_seen(), d.reannounces()), (5, 1));
        assert_eq!(d.last_claimed(), Some(VIP));
    }

    #[test]
    fn steady_claims_get_at_most_one_announce_per_cooldown() {
        let t0 = Instant::now();
        let mut d = Defender::new(SEC);
        let claims: Vec<Duration> = (0..50).map(|i| ms(100 * i)).collect();
        let out = drive(&mut d, t0, &claims);
        assert_eq!(out.first(), Some(&(t0 + ms(20))), "the first claim at once");
        for pair in out.windows(2) {
            assert!(pair[1] - pair[0] >= SEC, "{:?} apart", pair[1] - pair[0]);
        }
        // 4.9 s of claims: answered at 0.02, 1.02, 2.02, 3.02, 4.02 and 5.02 s.
        assert_eq!(out.len(), 6, "{out:?}");
        let last_claim = t0 + ms(4900);
        assert!(
            *out.last().unwrap() >= last_claim,
            "the last claim is answered"
        );
        assert_eq!(d.reannounces(), 6);
        assert_eq!(d.claims_seen(), 50);
    }

    #[test]
    fn a_claim_right_after_an_announce_is_answered_at_the_end_of_the_cooldown() {
        let t0 = Instant::now();
        let mut d = Defender::new(SEC);
        d.claim(t0, VIP);
        assert!(d.handle_timeout(t0 + ms(20)));
        d.claim(t0 + ms(21), VIP);
        assert_eq!(d.poll_timeout(), Some(t0 + ms(1020)));
        assert!(!d.handle_timeout(t0 + ms(1019)));
        assert!(d.handle_timeout(t0 + ms(1020)));
        // Near the end of the cooldown the coalescing delay still applies.
        d.claim(t0 + ms(2015), VIP);
        assert_eq!(d.poll_timeout(), Some(t0 + ms(2035)));
    }

    #[test]
    fn a_late_driver_still_gets_its_announce_and_the_cooldown_counts_from_it() {
        let t0 = Instant::now();
        let mut d = Defender::new(SEC);
        d.claim(t0, VIP);
        assert!(d.handle_timeout(t0 + ms(300)));
        d.claim(t0 + ms(301), VIP);
        assert_eq!(d.poll_timeout(), Some(t0 + ms(1300)));
    }

    #[test]
    fn the_cooldown_is_the_advert_interval_capped_at_one_second() {
        let t0 = Instant::now();
        assert_eq!(Defender::new(Duration::from_secs(3)).cooldown(), SEC);
        let mut d = Defender::new(ms(100));
        assert_eq!(d.cooldown(), ms(100));
        d.claim(t0, VIP);
        assert!(d.handle_timeout(t0 + ms(20)));
        d.claim(t0 + ms(30), VIP);
        assert_eq!(d.poll_timeout(), Some(t0 + ms(120)));
    }

    #[test]
    fn a_master_unsure_of_its_role_answers_claims_only_after_a_cooldown() {
        let t0 = Instant::now();
        let mut d = Defender::new(SEC);
        // Took over after silence: the real master's defence comes 20 ms after our burst.
        d.announced(t0);
        d.claim(t0 + ms(20), VIP);
        assert_eq!(d.poll_timeout(), Some(t0 + SEC));
        // A scheduled re-announce is not cancelled by a later announcement.
        d.announced(t0 + ms(500));
        assert_eq!(d.poll_timeout(), Some(t0 + SEC));
        // Without it, the same claim is answered 20 ms later.
        let mut sure = Defender::new(SEC);
        sure.claim(t0 + ms(20), VIP);
        assert_eq!(sure.poll_timeout(), Some(t0 + ms(40)));
    }

    #[test]
    fn reset_forgets_the_schedule_the_cooldown_and_the_claim() {
        let t0 = Instant::now();
        let mut d = Defender::new(SEC);
        d.claim(t0, VIP);
        assert!(d.handle_timeout(t0 + ms(20)));
        d.claim(t0 + ms(30), VIP);
        assert!(d.poll_timeout().is_some());
        d.reset();
        assert_eq!(d.poll_timeout(), None);
        assert!(!d.handle_timeout(t0 + ms(2000)));
        assert_eq!(d.last_claimed(), None);
        // No cooldown left over: the next claim (master again) is answered after 20 ms.
        d.claim(t0 + ms(40), VIP);
        assert_eq!(d.poll_timeout(), Some(t0 + ms(60)));
        assert_eq!(
            (d.claims_seen(), d.reannounces()),
            (3, 1),
            "lifetime totals"
        );
    }

    use proptest::prelude::*;

    proptest! {
        /// Whatever the claims and the interval: re-announces are one cooldown apart, each
        /// answers a claim, and every claim is answered within max(20 ms, cooldown).
        #[test]
        fn every_claim_is_answered_and_the_rate_is_bounded(
            interval_ms in 10u64..3000,
            mut offsets_ms in proptest::collection::vec(0u64..10_000, 0..60),
        ) {
            offsets_ms.sort_unstable();
            let offsets: Vec<Duration> = offsets_ms.iter().map(|&m| ms(m)).collect();
            let t0 = Instant::now();
            let mut d = Defender::new(ms(interval_ms));
            let cooldown = d.cooldown();
            let out = drive(&mut d, t0, &offsets);
            for pair in out.windows(2) {
                prop_assert!(pair[1] - pair[0] >= cooldown);
            }
            let bound = COALESCE_DELAY.max(cooldown);
            for c in offsets.iter().map(|o| t0 + *o) {
                prop_assert!(
                    out.iter().any(|&a| a >= c && a <= c + bound),
                    "claim at {:?} unanswered in {:?}", c - t0, out
                );
            }
            let mut prev = None;
            for &a in &out {
                // A claim at the very instant of the previous re-announce came after it.
                let answers = offsets
                    .iter()
                    .map(|o| t0 + *o)
                    .any(|c| c <= a && prev.is_none_or(|p| c >= p));
                prop_assert!(answers, "re-announce at {:?} answers no claim", a - t0);
                prev = Some(a);
            }
            prop_assert_eq!(d.claims_seen(), offsets.len() as u64);
            prop_assert_eq!(d.reannounces(), out.len() as u64);
        }
    }
}
