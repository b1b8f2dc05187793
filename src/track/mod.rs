//! Health tracking: checks that move an instance's priority or put it in FAULT, as
//! keepalived's `track_script`, `track_interface`, `track_file` and `track_process`.
//!
//! Each check runs as its own task and publishes a [`CheckState`] on a watch channel; any
//! number of instances read it, each with its own weight. Files and /proc are read on a thread
//! per check ([`poll`]), never on the runtime thread. [`eval`] turns what they read into an
//! effective priority or a fault, purely.

pub mod eval;
pub(crate) mod file;
mod poll;
pub(crate) mod process;
pub(crate) mod script;
mod tracked;

pub use tracked::Tracked;
pub(crate) use tracked::{evaluate, forward_changes};

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
