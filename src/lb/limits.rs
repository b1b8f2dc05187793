//! A real server's connection limits, and whether it takes one more connection. Pure: the
//! pool passes the connections open to it.
//!
//! Two limits, and the stricter applies:
//! - `maxconn N` (vipd's, as HAProxy's server `maxconn`): no new connection while N are
//!   open; the next one may go as soon as one closes.
//! - `uthreshold U` / `lthreshold L` (keepalived's, handed to IPVS as `u_threshold` and
//!   `l_threshold`), with IPVS's semantics (net/netfilter/ipvs/ip_vs_conn.c): binding a
//!   connection that brings the server's connections to U or more marks it overloaded; it
//!   stays so until its connections fall below L, or, with L = 0, until 4 x connections < 3
//!   x U (below three quarters of U, rounded up). An overloaded server is skipped by every
//!   scheduler. IPVS counts active and inactive connections; vipd counts the connections
//!   it holds open to the server. U = 0 is no threshold.
//!
//! IPVS clears the flag as a connection ends; the pool here looks at the count when it
//! picks a server. The count only rises at a pick, so between two picks the count seen at
//! the second is the lowest there was, and the verdict is the same.

/// The limits of one real server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Limits {
    /// `maxconn`: connections open at most.
    pub(super) maxconn: Option<u32>,
    /// `uthreshold`, when not 0: overloaded at this many.
    pub(super) upper: Option<u32>,
    /// `lthreshold`, when not 0: no longer overloaded below this many.
    pub(super) lower: Option<u32>,
}

impl Limits {
    /// Whether any limit is set.
    pub(super) fn any(&self) -> bool {
        self.maxconn.is_some() || self.upper.is_some()
    }

    /// Whether an overloaded server with `open` connections is overloaded no longer.
    fn below_lower(&self, open: u32) -> bool {
        match (self.lower, self.upper) {
            (Some(l), _) => open < l,
            (None, Some(u)) => u64::from(open) * 4 < u64::from(u) * 3,
            (None, None) => true,
        }
    }

    fn reaches_upper(&self, open: u32) -> bool {
        self.upper.is_some_and(|u| open >= u)
    }
}

/// What the limits make of one server over time: its overload flag.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Load {
    overloaded: bool,
}

impl Load {
    /// Whether the server, with `open` connections, is full: at its `maxconn` or
    /// overloaded. Clears the overload flag first when `open` is below the lower threshold.
    pub(super) fn full(&mut self, limits: &Limits, open: u32) -> bool {
        if self.overloaded && limits.below_lower(open) {
            self.overloaded = false;
        }
        self.overloaded |= limits.reaches_upper(open);
        self.overloaded || limits.maxconn.is_some_and(|m| open >= m)
    }

    /// A connection was given to the server, which has `open` now (IPVS's bind).
    pub(super) fn opened(&mut self, limits: &Limits, open: u32) {
        self.overloaded |= limits.reaches_upper(open);
    }

    /// Whether it is overloaded by its thresholds now.
    #[cfg(test)]
    fn overloaded(&self) -> bool {
        self.overloaded
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn lim(maxconn: Option<u32>, upper: Option<u32>, lower: Option<u32>) -> Limits {
        Limits {
            maxconn,
            upper,
            lower,
        }
    }

    /// Opens and closes connections as `steps` say (+1 opens one if the server is not
    /// full, -1 closes one) and returns, per step, whether the server was full before it.
    fn run(limits: Limits, steps: &[i32]) -> Vec<bool> {
        let mut load = Load::default();
        let mut open = 0u32;
        let mut out = Vec::new();
        for &s in steps {
            let full = load.full(&limits, open);
            out.push(full);
            if s > 0 && !full {
                open += 1;
                load.opened(&limits, open);
            } else if s < 0 {
                open -= 1;
            }
        }
        out
    }

    #[test]
    fn maxconn_has_no_hysteresis() {
        let l = lim(Some(2), None, None);
        // Two open; full; one closes: room at once.
        assert_eq!(
            run(l, &[1, 1, 1, -1, 1, 1]),
            [false, false, true, true, false, true]
        );
    }

    #[test]
    fn uthreshold_with_lthreshold_is_ipvs_hysteresis() {
        let l = lim(None, Some(4), Some(2));
        // Up to 4: overloaded; 3 open: still; 1 open (< 2): clear again.
        let got = run(l, &[1, 1, 1, 1, 1, -1, 1, -1, -1, 1]);
        assert_eq!(
            got,
            [
                false, false, false, false, true, true, true, true, true, false
            ]
        );
    }

    #[test]
    fn lthreshold_zero_means_three_quarters_of_uthreshold() {
        // U = 4: clear below 3 (4 x 2 < 12), not at 3 (12 < 12 is false).
        let l = lim(None, Some(4), None);
        assert_eq!(
            run(l, &[1, 1, 1, 1, -1, 1, -1, 1]),
            [false, false, false, false, true, true, true, false]
        );
        // U = 2: IPVS clears at 1 (4 < 6), so the hysteresis is gone: as maxconn 2.
        let l = lim(None, Some(2), None);
        assert_eq!(run(l, &[1, 1, 1, -1, 1]), [false, false, true, true, false]);
    }

    #[test]
    fn a_close_that_dips_below_lthreshold_between_picks_is_seen() {
        // Overloaded at 3; a pick that finds 2 open (not below 2) skips it, one that
        // finds 1 open takes it, as IPVS would have cleared the flag at that close.
        let l = lim(None, Some(3), Some(2));
        let mut load = Load::default();
        for open in 1..=3 {
            assert!(!load.full(&l, open - 1));
            load.opened(&l, open);
        }
        assert!(load.overloaded());
        assert!(load.full(&l, 2), "2 is not below lthreshold 2");
        assert!(!load.full(&l, 1));
        assert!(!load.overloaded());
    }

    #[test]
    fn the_stricter_of_maxconn_and_uthreshold_applies() {
        let l = lim(Some(2), Some(5), None);
        assert_eq!(run(l, &[1, 1, 1]), [false, false, true]);
        let l = lim(Some(5), Some(2), Some(1));
        assert_eq!(run(l, &[1, 1, 1, -1, 1]), [false, false, true, true, true]);
        assert!(l.any() && !Limits::default().any());
    }
}
