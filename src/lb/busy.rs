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
//! A thread moving a bulk transfer does not poll: each of its wakeups moves so many bytes
//! that the wakeup costs little beside them, and polling between its bursts cost 15 %
//! more CPU per gigabit than sleeping (benchmark, iperf3 through one connection).
//! Pure: the thread tells it the time.

use std::time::{Duration, Instant};

/// A sleep shorter than this many polling windows means the thread is busy.
const BUSY_SLEEP: u32 = 20;

/// What one wakeup of the thread found to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Work {
    Nothing,
    /// Requests, answers, handshakes: a few hundred bytes per connection, each waiting for
    /// the other side's reply, where a wakeup saved shortens the round trip.
    Light,
    /// A bulk transfer's bytes: each wakeup moves so much that waking costs little beside
    /// it, while polling between its bursts would cost a CPU's worth per gigabit moved.
    Bulk,
}

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

    /// The thread woke at `now` from a wait that blocked for `slept`, and found `work`.
    pub(super) fn woke(&mut self, now: Instant, slept: Option<Duration>, work: Work) {
        if self.window.is_zero() {
            return;
        }
        let short_sleep = slept.is_some_and(|s| s < self.window * BUSY_SLEEP);
        match work {
            Work::Nothing => {}
            Work::Light if short_sleep || self.polling.is_some() => self.polling = Some(now),
            Work::Light => {}
            Work::Bulk => self.polling = None,
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
        b.woke(t0, Some(W * 5), Work::Light);
        assert!(b.poll_now(t0 + W / 2));
        // Work while polling extends the window.
        b.woke(t0 + W / 2, None, Work::Light);
        assert!(b.poll_now(t0 + W));
        // Nothing: a window later it sleeps again.
        b.woke(t0 + W, None, Work::Nothing);
        assert!(!b.poll_now(t0 + W * 2));
        assert!(!b.poll_now(t0 + W * 2));
    }

    #[test]
    fn a_long_sleep_or_a_wakeup_without_work_does_not_start_polling() {
        let t0 = Instant::now();
        let mut b = BusyPoll::new(W);
        b.woke(t0, Some(W * BUSY_SLEEP), Work::Light);
        assert!(!b.poll_now(t0));
        b.woke(t0, Some(W), Work::Nothing);
        assert!(!b.poll_now(t0));
        // Work after a non-blocking wait (a timer) while not polling starts nothing either.
        b.woke(t0, None, Work::Light);
        assert!(!b.poll_now(t0));
    }

    #[test]
    fn a_bulk_transfer_stops_polling() {
        let t0 = Instant::now();
        let mut b = BusyPoll::new(W);
        b.woke(t0, Some(W), Work::Light);
        assert!(b.poll_now(t0));
        b.woke(t0, None, Work::Bulk);
        assert!(!b.poll_now(t0));
        // Nor does a bulk burst after a short sleep start it.
        b.woke(t0, Some(W), Work::Bulk);
        assert!(!b.poll_now(t0));
    }

    #[test]
    fn a_zero_window_never_polls() {
        let t0 = Instant::now();
        let mut b = BusyPoll::new(Duration::ZERO);
        b.woke(t0, Some(Duration::from_nanos(1)), Work::Light);
        assert!(!b.poll_now(t0));
    }
}
