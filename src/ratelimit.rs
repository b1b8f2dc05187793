//! A limit on log lines that someone else can trigger (a client of the control socket, a
//! host on the LAN): the first line of a kind goes out, the next ones within a window are
//! only counted, and the next line that goes out says how many were held back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One kind of log line, at most once per window. Shared between tasks.
#[derive(Debug)]
pub(crate) struct LogLimit {
    window: Duration,
    /// When the last line went out, and how many were held back since.
    last: Mutex<Option<(Instant, u64)>>,
}

impl LogLimit {
    /// At most one line per `window`.
    pub(crate) const fn new(window: Duration) -> Self {
        Self {
            window,
            last: Mutex::new(None),
        }
    }

    /// `Some(held back since the last line)` when a line may go out at `now`, else `None`
    /// (and it is counted).
    pub(crate) fn allow(&self, now: Instant) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *last {
            Some((at, held)) if now.saturating_duration_since(*at) < self.window => {
                *held += 1;
                None
            }
            Some((at, held)) => {
                let n = std::mem::take(held);
                *at = now;
                Some(n)
            }
            None => {
                *last = Some((now, 0));
                Some(0)
            }
        }
    }
}

/// A [`LogLimit`] per kind of line (a drop reason, say), each with its own window; for one
/// owner, so no lock is shared.
#[derive(Debug)]
pub(crate) struct LogLimits {
    window: Duration,
    kinds: HashMap<&'static str, LogLimit>,
}

impl LogLimits {
    /// At most one line of each kind per `window`.
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            kinds: HashMap::new(),
        }
    }

    /// [`LogLimit::allow`] for lines of `kind`.
    pub(crate) fn allow(&mut self, kind: &'static str, now: Instant) -> Option<u64> {
        let window = self.window;
        self.kinds
            .entry(kind)
            .or_insert_with(|| LogLimit::new(window))
            .allow(now)
    }
}

/// `" (N more like it not logged)"` when lines were held back, for the end of a line.
pub(crate) fn held_back(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} more like it not logged)")
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn first_line_goes_out_then_the_rest_are_counted_until_the_window_ends() {
        let limit = LogLimit::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(limit.allow(t0), Some(0));
        assert_eq!(limit.allow(t0 + Duration::from_secs(1)), None);
        assert_eq!(limit.allow(t0 + Duration::from_secs(9)), None);
        assert_eq!(limit.allow(t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(limit.allow(t0 + Duration::from_secs(11)), None);
        assert_eq!(held_back(0), "");
        assert_eq!(held_back(2), " (2 more like it not logged)");
    }

    #[test]
    fn kinds_are_limited_apart() {
        let mut limits = LogLimits::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(limits.allow("ttl", t0), Some(0));
        assert_eq!(limits.allow("ttl", t0 + Duration::from_secs(1)), None);
        assert_eq!(limits.allow("auth_password", t0), Some(0));
        assert_eq!(limits.allow("ttl", t0 + Duration::from_secs(11)), Some(1));
    }
}
