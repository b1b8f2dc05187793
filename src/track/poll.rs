//! Periodic checks whose observation can block (a file on a hung NFS mount, a /proc read of a
//! process stuck in the kernel): the observation runs on the check's own OS thread, never on
//! the runtime thread that also sends adverts and handles signals.
//!
//! One thread per check, one observation at a time: a period that finds the last one still
//! running asks for no other, so a read that never returns pins one thread and no more. While
//! it is out, the check keeps its last state and its detail says how long the read has not
//! returned; that is logged once, and once more when it comes back.
//!
//! A plain thread rather than `spawn_blocking`: dropping a tokio runtime waits for its
//! blocking tasks, so a stuck read would hang vipd's exit after SIGTERM.

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{info, warn};

use super::{CheckState, CheckWatch};

/// How long an observation may take before the check says it has not returned. Also how
/// long a new check waits for its first one.
pub(super) const STUCK_AFTER: Duration = Duration::from_secs(1);

/// What a check is and how it looks.
pub(super) struct Check<R> {
    /// Names the check's thread (`ps -T`); the kernel keeps 15 bytes.
    pub(super) thread: String,
    /// The observation in words, for the detail of a stuck one: "the read of /etc/maint".
    pub(super) what: String,
    /// How often it looks.
    pub(super) period: Duration,
    /// Its state when the first observation does not return in time.
    pub(super) fallback: CheckState,
    /// One observation; runs on the check's thread and may block.
    pub(super) read: R,
}

/// Starts `check`: waits up to [`STUCK_AFTER`] for the first observation, then looks every
/// period until the watch's last reader is gone. Any change, the detail too, is published
/// (status shows the detail), after `changed(old, new)`, which logs what is worth a line.
pub(super) async fn spawn<R>(
    check: Check<R>,
    mut changed: impl FnMut(&CheckState, &CheckState) + Send + 'static,
) -> CheckWatch
where
    R: FnMut() -> CheckState + Send + 'static,
{
    let Check {
        thread,
        what,
        period,
        fallback,
        read,
    } = check;
    let mut reader = match Reader::start(&thread, read) {
        Ok(r) => r,
        Err(e) => {
            warn!("{what}: cannot start a thread for it ({e}); the check stays as it is");
            let state = CheckState {
                detail: format!("cannot start a thread for {what}: {e}"),
                ..fallback
            };
            return watch::channel(state).1;
        }
    };
    let asked = Instant::now();
    reader.ask();
    let first = tokio::time::timeout(STUCK_AFTER, reader.results.recv()).await;
    let (initial, mut out, mut last_detail) = match first {
        Ok(Some(state)) => {
            let detail = state.detail.clone();
            (state, None, detail)
        }
        _ => {
            let mut stuck = Outstanding::new(asked);
            let secs = stuck
                .overdue(Instant::now())
                .map_or(STUCK_AFTER.as_secs(), |o| o.secs);
            warn!(
                "{what} has not returned for {secs} s; the check starts as {} until it does",
                fallback.detail
            );
            let state = CheckState {
                detail: stuck_detail(&what, secs, &fallback.detail),
                ..fallback.clone()
            };
            (state, Some(stuck), fallback.detail)
        }
    };
    let (tx, rx) = watch::channel(initial);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => match &mut out {
                    None => {
                        reader.ask();
                        out = Some(Outstanding::new(Instant::now()));
                    }
                    Some(o) => {
                        let Some(overdue) = o.overdue(Instant::now()) else { continue };
                        if overdue.first {
                            warn!(
                                "{what} has not returned for {} s; the check keeps its last \
                                 state ({last_detail}) until it does",
                                overdue.secs
                            );
                        }
                        let detail = stuck_detail(&what, overdue.secs, &last_detail);
                        tx.send_modify(|s| s.detail = detail);
                    }
                },
                got = reader.results.recv() => {
                    let Some(state) = got else {
                        warn!("{what}: its thread is gone; the check stays as it is");
                        tx.send_modify(|s| s.detail = format!("{what}: its thread is gone"));
                        return;
                    };
                    if let Some(o) = out.take().filter(|o| o.reported) {
                        info!(
                            "{what} returned after {:.1} s: {}",
                            o.since.elapsed().as_secs_f64(),
                            state.detail
                        );
                    }
                    last_detail.clone_from(&state.detail);
                    tx.send_if_modified(|current| {
                        if *current == state {
                            return false;
                        }
                        changed(current, &state);
                        *current = state;
                        true
                    });
                }
                () = tx.closed() => return,
            }
        }
    });
    rx
}

/// "the read of /x has not returned for 3 s (last: reads 1)".
fn stuck_detail(what: &str, secs: u64, last: &str) -> String {
    format!("{what} has not returned for {secs} s (last: {last})")
}

/// The check's thread: asked for one observation at a time, answers on `results`.
struct Reader {
    ask: std_mpsc::SyncSender<()>,
    results: mpsc::Receiver<CheckState>,
}

impl Reader {
    fn start(
        name: &str,
        mut read: impl FnMut() -> CheckState + Send + 'static,
    ) -> std::io::Result<Self> {
        let (ask, asked) = std_mpsc::sync_channel::<()>(1);
        let (answer, results) = mpsc::channel(1);
        std::thread::Builder::new()
            .name(name.to_string())
            // It ends when the check's task drops `ask` (the check is gone), or, if a read
            // never returns, with the process.
            .spawn(move || {
                while asked.recv().is_ok() {
                    if answer.blocking_send(read()).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Self { ask, results })
    }

    /// Asks for one observation. The caller asks only when none is outstanding, so the
    /// one-slot channel always has room.
    fn ask(&self) {
        let _ = self.ask.try_send(());
    }
}

/// An observation asked for and not answered yet.
#[derive(Debug)]
struct Outstanding {
    since: Instant,
    /// Whether it was reported as stuck (logged once).
    reported: bool,
    /// The whole seconds last put in the detail.
    shown: u64,
}

/// A stuck observation worth a new detail.
#[derive(Debug, PartialEq, Eq)]
struct Overdue {
    /// How long it has been out, in whole seconds.
    secs: u64,
    /// The first report of it: log then, not every period.
    first: bool,
}

impl Outstanding {
    fn new(since: Instant) -> Self {
        Self {
            since,
            reported: false,
            shown: 0,
        }
    }

    /// At `now`: `Some` when the observation has been out [`STUCK_AFTER`] or more and the
    /// whole seconds have moved since the last report, so the detail changes once a second.
    fn overdue(&mut self, now: Instant) -> Option<Overdue> {
        let out = now.saturating_duration_since(self.since);
        if out < STUCK_AFTER || (self.reported && out.as_secs() == self.shown) {
            return None;
        }
        let first = !self.reported;
        self.reported = true;
        self.shown = out.as_secs();
        Some(Overdue {
            secs: self.shown,
            first,
        })
    }
}

/// Test helpers shared by the checks' tests.
#[cfg(test)]
pub(super) mod testing {
    use std::time::Duration;

    /// Runs `f` on a current-thread runtime of its own thread (as vipd runs) and fails the
    /// test if it has not finished after `limit`: a frozen runtime fails instead of hanging.
    pub(in crate::track) fn within<T: Send + 'static>(
        limit: Duration,
        f: impl AsyncFnOnce() -> T + Send + 'static,
    ) -> T {
        let (done, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let _ = done.send(rt.block_on(f()));
        });
        match result.recv_timeout(limit) {
            Ok(t) => t,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("the runtime froze: no result in {limit:?}")
            }
            Err(e) => panic!("the test failed on its runtime's thread (see above): {e}"),
        }
    }

    /// Threads of this process with the kernel name `name`.
    pub(in crate::track) fn threads_named(name: &str) -> usize {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == name)
            })
            .count()
    }

    /// The longest wait between ticks of a 10 ms interval over `span`.
    pub(in crate::track) async fn longest_tick_gap(span: Duration) -> Duration {
        let mut ticker = tokio::time::interval(Duration::from_millis(10));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let started = tokio::time::Instant::now();
        let mut last = started;
        let mut longest = Duration::ZERO;
        while started.elapsed() < span {
            ticker.tick().await;
            let now = tokio::time::Instant::now();
            longest = longest.max(now - last);
            last = now;
        }
        longest
    }
}

#[cfg(test)]
mod test {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::testing::{longest_tick_gap, threads_named, within};
    use super::*;

    fn state(value: i64, detail: &str) -> CheckState {
        CheckState {
            ok: true,
            value,
            detail: detail.to_string(),
        }
    }

    #[test]
    fn a_stuck_read_is_reported_once_then_once_a_second() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut o = Outstanding::new(t0);
        assert_eq!(o.overdue(ms(500)), None, "not late yet");
        assert_eq!(
            o.overdue(ms(1000)),
            Some(Overdue {
                secs: 1,
                first: true
            })
        );
        assert_eq!(o.overdue(ms(1500)), None, "same second: no new detail");
        assert_eq!(
            o.overdue(ms(2010)),
            Some(Overdue {
                secs: 2,
                first: false
            }),
            "logged once only"
        );
    }

    /// A read that blocks until the test lets it go: the runtime keeps running, the check
    /// says it is stuck, and no period asks for another read or starts another thread.
    #[test]
    fn a_read_that_blocks_pins_one_thread_and_keeps_the_last_state() {
        const NAME: &str = "poll-test-stk";
        let calls = Arc::new(AtomicUsize::new(0));
        let (release, wait) = std_mpsc::channel::<()>();
        let read = {
            let calls = Arc::clone(&calls);
            move || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                if n == 1 {
                    let _ = wait.recv(); // the second read blocks
                }
                state(7, &format!("read {n}"))
            }
        };
        within(Duration::from_secs(10), async move || {
            let check = Check {
                thread: NAME.to_string(),
                what: "the read of /test".to_string(),
                period: Duration::from_millis(10),
                fallback: state(0, "not read"),
                read,
            };
            let mut rx = spawn(check, |_, _| {}).await;
            assert_eq!(rx.borrow_and_update().detail, "read 0");

            // 1.6 s of 10 ms periods while the second read is stuck.
            let gap = longest_tick_gap(Duration::from_millis(1600)).await;
            assert!(
                gap < Duration::from_millis(200),
                "the runtime stalled {gap:?}"
            );
            assert_eq!(calls.load(Ordering::SeqCst), 2, "one read at a time");
            assert_eq!(threads_named(NAME), 1, "one thread for the check");
            let now = rx.borrow_and_update().clone();
            assert_eq!(now.value, 7, "the last state is kept");
            assert!(
                now.detail
                    .starts_with("the read of /test has not returned for ")
                    && now.detail.ends_with(" s (last: read 0)"),
                "{}",
                now.detail
            );

            release.send(()).unwrap();
            tokio::time::timeout(Duration::from_secs(2), async {
                while !rx.borrow_and_update().detail.starts_with("read ") {
                    rx.changed().await.unwrap();
                }
            })
            .await
            .expect("the check recovers, and says so, when the read returns");
            assert_eq!(threads_named(NAME), 1);
        });
    }

    /// A check whose first read does not return starts after STUCK_AFTER, from its fallback.
    #[test]
    fn a_first_read_that_blocks_starts_from_the_fallback() {
        let (release, wait) = std_mpsc::channel::<()>();
        within(Duration::from_secs(10), async move || {
            let check = Check {
                thread: "poll-test-fst".to_string(),
                what: "the read of /first".to_string(),
                period: Duration::from_millis(10),
                fallback: state(0, "missing (reads as 0)"),
                read: move || {
                    let _ = wait.recv();
                    state(1, "reads 1")
                },
            };
            let rx = spawn(check, |_, _| {}).await;
            let now = rx.borrow().clone();
            assert_eq!(now.value, 0);
            assert_eq!(
                now.detail,
                "the read of /first has not returned for 1 s (last: missing (reads as 0))"
            );
        });
        drop(release);
    }

    /// The check ends with its last reader, and its thread with it.
    #[test]
    fn the_thread_ends_with_the_check() {
        const NAME: &str = "poll-test-end";
        within(Duration::from_secs(10), async || {
            let check = Check {
                thread: NAME.to_string(),
                what: "the read of /end".to_string(),
                period: Duration::from_millis(10),
                fallback: state(0, "not read"),
                read: || state(0, "reads 0"),
            };
            let rx = spawn(check, |_, _| {}).await;
            assert_eq!(threads_named(NAME), 1);
            drop(rx);
            let started = Instant::now();
            while threads_named(NAME) > 0 {
                assert!(
                    started.elapsed() < Duration::from_secs(2),
                    "thread still there"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }
}
