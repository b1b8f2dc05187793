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
//!
//! How: one task per thread (`poll_while_busy`) keeps yielding while there is work, and
//! tokio polls the driver without blocking whenever a yielded task waits. The thread's
//! tasks report work with `worked`; the runtime's park and unpark hooks (`parking`,
//! `unparked`) time each sleep and start the task again after a short one.

use std::cell::Cell;
use std::future::poll_fn;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// A sleep shorter than this many polling windows means the thread is busy.
pub(super) const BUSY_SLEEP: u32 = 20;

thread_local! {
    /// When the thread last went to sleep.
    static PARKED_AT: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Work done on this thread so far (accepted connections, moved bursts).
    static WORK: Cell<u64> = const { Cell::new(0) };
    /// Set when the thread wakes from a real sleep; taken by the polling task.
    static UNPARKED: Cell<bool> = const { Cell::new(false) };
    /// The polling task, while it waits for the thread to wake.
    static POLLER: Cell<Option<Waker>> = const { Cell::new(None) };
}

/// Notes that this thread did some work: polling goes on for another window.
pub(super) fn worked() {
    WORK.with(|w| w.set(w.get().wrapping_add(1)));
}

/// The runtime's park hook: the thread is about to sleep.
pub(super) fn parking() {
    PARKED_AT.with(|p| p.set(Some(Instant::now())));
}

/// The runtime's unpark hook: the thread woke from a sleep, so work has come. If it slept
/// less than `busy_sleep`, the polling task starts.
pub(super) fn unparked(busy_sleep: Duration) {
    let short = PARKED_AT.with(|p| p.get().is_some_and(|t| t.elapsed() < busy_sleep));
    if short {
        UNPARKED.with(|u| u.set(true));
        if let Some(w) = POLLER.with(Cell::take) {
            w.wake();
        }
    }
}

/// Runs on each forwarding thread: after every wakeup, keeps the runtime polling without
/// sleeping until `window` passes without work.
pub(super) async fn poll_while_busy(window: Duration) {
    loop {
        until_unparked().await;
        let mut seen = WORK.with(Cell::get);
        let mut last = Instant::now();
        loop {
            tokio::task::yield_now().await;
            let now = WORK.with(Cell::get);
            if now != seen {
                seen = now;
                last = Instant::now();
            } else if last.elapsed() >= window {
                break;
            }
        }
    }
}

/// Waits until the thread has slept briefly and woken again.
async fn until_unparked() {
    UNPARKED.with(|u| u.set(false));
    poll_fn(|cx| {
        if UNPARKED.with(|u| u.replace(false)) {
            Poll::Ready(())
        } else {
            POLLER.with(|p| p.set(Some(cx.waker().clone())));
            Poll::Pending
        }
    })
    .await;
}
