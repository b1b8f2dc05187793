//! Health tracking: checks that move an instance's priority or put it in FAULT, as
//! keepalived's `track_script`, `track_interface`, `track_file` and `track_process`.
//!
//! Each check runs as its own task and publishes a [`CheckState`] on a watch channel; any
//! number of instances read it, each with its own weight. [`eval`] turns what they read into
//! an effective priority or a fault, purely.

pub mod eval;
pub mod file;
pub mod process;
pub mod script;

use std::time::Duration;

use tokio::sync::watch;

/// What one check says now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckState {
    /// Healthy (script exit 0, enough processes, interface up). Files use `value` instead.
    pub ok: bool,
    /// The number a tracked file holds (0 for other checks).
    pub value: i64,
    /// What the last observation was, in words: "exit status 7", "2 running", "down".
    pub detail: String,
}

impl CheckState {
    /// A check's state before its first observation.
    pub fn initial(ok: bool) -> Self {
        Self {
            ok,
            value: 0,
            detail: "not checked yet".to_string(),
        }
    }
}

/// The reading end of a check: clone it for every instance that tracks the check.
pub type CheckWatch = watch::Receiver<CheckState>;

/// Starts a check that looks every `period`: `observe` gets the current state and returns a
/// new one when there is news. It runs until the watch's last reader is gone.
pub(crate) fn poll(
    period: Duration,
    initial: CheckState,
    mut observe: impl FnMut(&CheckState) -> Option<CheckState> + Send + 'static,
) -> CheckWatch {
    let (tx, rx) = watch::channel(initial);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = tx.closed() => return,
            }
            let news = observe(&tx.borrow());
            if let Some(state) = news {
                tx.send_replace(state);
            }
        }
    });
    rx
}
