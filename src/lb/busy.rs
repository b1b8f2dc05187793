//! Busy polling on a forwarding thread. For a short window after the thread last had work,
//! it asks the poller for more without sleeping (epoll_wait with a zero timeout) instead of
//! going to sleep in it. A peer on another CPU that hands the thread bytes meanwhile then
//! has no one to wake: on a virtual machine each such wakeup is an inter-processor
//! interrupt, paid for by the sender, and a halted CPU is slow to come back.
//!
//! Only a busy thread polls: one whose last sleep was short (under [`BUSY_SLEEP`] windows),
//! so work comes faster than it could sleep between. It polls until a whole window passes
//! without work, then sleeps as before. A lightly loaded or idle forwarder never polls and
//! costs nothing; a busy one spends at most a window of polling after each burst of work.
//! Pure: the thread tells it the time.

use std::time::{Duration, Instant};

/// A sleep shorter than this many polling windows means the thread is busy.
const BUSY_SLEEP: u32 = 20;

/// One thread's polling policy.
pub(super) struct BusyPoll {
    /// How long polling goes on after the last work; zero: never poll.
    window: Duration,
    /// Polling now, and when the thread last had work.
    polling: Option<Instant>,
}

impl BusyPoll {
    pub(super) fn new(window: Duration) -> Self {
        Self {
            window,
            polling: None,
        }
    }

    /// The thread woke at `now` from a wait that blocked for `slept`, and did work
    /// (`worked`) or not.
    pub(super) fn woke(&mut self, now: Instant, slept: Option<Duration>, worked: bool) {
        if self.window.is_zero() {
            return;
        }
        let short_sleep = slept.is_some_and(|s| s < self.window * BUSY_SLEEP);
        if worked && (short_sleep || self.polling.is_some()) {
            self.polling = Some(now);
        }
    }

    /// Whether the next wait must not block: still within a window of the last work.
    pub(super) fn poll_now(&mut self, now: Instant) -> bool {
        match self.polling {
            Some(last) if now.duration_since(last) < self.window => true,
            _ => {
                self.polling = None;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_micros(20);

    #[test]
    fn polls_after_a_short_sleep_until_a_window_without_work() {
        let t0 = Instant::now();
        let mut b = BusyPoll::new(W);
        assert!(!b.poll_now(t0));
        b.woke(t0, Some(W * 5), true);
        assert!(b.poll_now(t0 + W / 2));
        // Work while polling extends the window.
        b.woke(t0 + W / 2, None, true);
        assert!(b.poll_now(t0 + W));
        // Nothing: a window later it sleeps again.
        b.woke(t0 + W, None, false);
        assert!(!b.poll_now(t0 + W * 2));
        assert!(!b.poll_now(t0 + W * 2));
    }

    #[test]
    fn a_long_sleep_or_a_wakeup_without_work_does_not_start_polling() {
        let t0 = Instant::now();
        let mut b = BusyPoll::new(W);
        b.woke(t0, Some(W * BUSY_SLEEP), true);
        assert!(!b.poll_now(t0));
        b.woke(t0, Some(W), false);
        assert!(!b.poll_now(t0));
        // Work after a non-blocking wait (a timer) while not polling starts nothing either.
        b.woke(t0, None, true);
        assert!(!b.poll_now(t0));
    }

    #[test]
    fn a_zero_window_never_polls() {
        let t0 = Instant::now();
        let mut b = BusyPoll::new(Duration::ZERO);
        b.woke(t0, Some(Duration::from_nanos(1)), true);
        assert!(!b.poll_now(t0));
    }
}
