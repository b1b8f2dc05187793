//! Busy polling on a forwarding thread. For a short window after the thread last had work,
//! it asks the poller for more without sleeping (epoll_wait with a zero timeout) instead of
//! going to sleep in it. A peer on another CPU that hands the thread bytes meanwhile then
//! has no one to wake: on a virtual machine each such wakeup is an inter-processor
//! interrupt, paid for by the sender, and a halted CPU is slow to come back.
//!
//! The window adapts as Linux's haltpoll cpuidle governor adapts its own (which does the
//! same for a whole virtual CPU, where the provider has not turned it off): it starts at
//! zero; when work comes after the window ended but within the longest window, polling that
//! long would have caught it, so the window doubles (to a quarter of the longest at first);
//! when work comes later than that, polling was wasted, so it halves, and goes back to zero
//! below a quarter. A forwarder whose work comes in quick exchanges (one keep-alive
//! connection, a stream of short connections) polls through the other side's reply; one
//! whose work comes rarely stops polling after a few wakeups; an idle one never polls.
//! A thread moving a bulk transfer does not poll: each of its wakeups moves so many bytes
//! that the wakeup costs little beside them, and polling between its bursts only adds CPU
//! to every byte moved.
//! Pure: the thread tells it the time.

use std::time::{Duration, Instant};

/// What one wakeup of the thread found to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Work {
    Nothing,
    /// Requests, answers, handshakes: a few hundred bytes per connection, each waiting for
    /// the other side's reply, where a wakeup saved shortens the round trip.
    Light,
    /// A bulk transfer's bytes: each wakeup moves so much that waking costs little beside
    /// it, while polling between its bursts would only add CPU to every byte moved.
    Bulk,
}

/// One thread's polling policy.
pub(super) struct BusyPoll {
    /// The longest window; zero: never poll.
    max: Duration,
    /// The window now, between zero and `max`.
    window: Duration,
    /// When the thread last had work.
    last_work: Option<Instant>,
    /// Polling now, since the last light work.
    polling: Option<Instant>,
}

impl BusyPoll {
    pub(super) fn new(max: Duration) -> Self {
        Self {
            max,
            window: Duration::ZERO,
            last_work: None,
            polling: None,
        }
    }

    /// The window a wakeup that first meets a short enough gap opens.
    fn grow_start(&self) -> Duration {
        self.max / 4
    }

    /// The thread woke at `now` and found `work`.
    pub(super) fn woke(&mut self, now: Instant, work: Work) {
        if self.max.is_zero() || work == Work::Nothing {
            return;
        }
        let gap = self.last_work.map(|t| now.duration_since(t));
        self.last_work = Some(now);
        if work == Work::Bulk {
            self.polling = None;
            return;
        }
        match gap {
            Some(g) if g <= self.window => {}
            Some(g) if g <= self.max => {
                self.window = (self.window * 2).clamp(self.grow_start(), self.max);
            }
            _ => {
                self.window /= 2;
                if self.window < self.grow_start() {
                    self.window = Duration::ZERO;
                }
            }
        }
        self.polling = (!self.window.is_zero()).then_some(now);
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

    const MAX: Duration = Duration::from_micros(200);

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn quick_exchanges_grow_the_window_and_polling_lasts_it() {
        let t0 = Instant::now();
        let mut b = BusyPoll::new(MAX);
        b.woke(t0, Work::Light);
        assert!(!b.poll_now(t0), "one wakeup says nothing yet");
        // Work 60 us later: a 50 us window opens, then 100, then 200, and no further.
        b.woke(t0 + us(60), Work::Light);
        assert!(b.poll_now(t0 + us(60) + us(49)));
        assert!(!b.poll_now(t0 + us(60) + us(50)));
        b.woke(t0 + us(120), Work::Light);
        b.woke(t0 + us(180), Work::Light);
        assert!(
            !b.poll_now(t0 + us(180) + us(100)),
            "60 us gaps, within 100: no growth"
        );
        b.woke(t0 + us(330), Work::Light);
        assert!(b.poll_now(t0 + us(330) + us(199)));
        assert!(!b.poll_now(t0 + us(330) + us(200)));
        // Work while polling extends it.
        b.woke(t0 + us(430), Work::Light);
        assert!(b.poll_now(t0 + us(430) + us(199)));
        // 200 us is the most.
        b.woke(t0 + us(630), Work::Light);
        assert!(!b.poll_now(t0 + us(630) + us(200)));
    }

    #[test]
    fn rare_work_shrinks_the_window_to_nothing() {
        let t0 = Instant::now();
        let mut b = BusyPoll::new(MAX);
        b.woke(t0, Work::Light);
        b.woke(t0 + us(100), Work::Light);
        b.woke(t0 + us(200), Work::Light);
        b.woke(t0 + us(400), Work::Light);
        let mut t = t0 + us(400);
        assert!(b.poll_now(t + us(199)));
        // Work a millisecond apart: 100 us, 50, then none.
        for window in [100, 50, 0] {
            t += us(1000);
            b.woke(t, Work::Light);
            assert_eq!(b.poll_now(t + us(window.max(1) - 1)), window > 0);
            assert!(!b.poll_now(t + us(window)));
        }
    }

    #[test]
    fn wakeups_without_work_change_nothing() {
        let t0 = Instant::now();
        let mut b = BusyPoll::new(MAX);
        b.woke(t0, Work::Light);
        b.woke(t0 + us(10), Work::Nothing);
        b.woke(t0 + us(50), Work::Nothing);
        assert!(!b.poll_now(t0 + us(50)));
        // The gap counts from the last work, wakeups without work in between or not.
        b.woke(t0 + us(100), Work::Light);
        assert!(b.poll_now(t0 + us(101)));
    }

    #[test]
    fn a_bulk_transfer_stops_polling() {
        let t0 = Instant::now();
        let mut b = BusyPoll::new(MAX);
        b.woke(t0, Work::Light);
        b.woke(t0 + us(10), Work::Light);
        assert!(b.poll_now(t0 + us(10)));
        b.woke(t0 + us(20), Work::Bulk);
        assert!(!b.poll_now(t0 + us(20)));
        // Nor does a bulk burst soon after start it.
        b.woke(t0 + us(30), Work::Bulk);
        assert!(!b.poll_now(t0 + us(30)));
    }

    #[test]
    fn a_zero_window_never_polls() {
        let t0 = Instant::now();
        let mut b = BusyPoll::new(Duration::ZERO);
        for i in 0..5 {
            b.woke(t0 + us(i), Work::Light);
        }
        assert!(!b.poll_now(t0 + us(5)));
    }
}
