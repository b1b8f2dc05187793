//! `vrrp_script`: runs a check program every `interval`, kills it after `timeout`, and
//! turns exit statuses into a healthy/failed state with keepalived's `rise` and `fall`.
//!
//! The program runs directly (argv, no shell) through [`crate::exec`]: in its own process
//! group, so a hung check and its children are killed together.

use tokio::sync::watch;
use tracing::info;

use super::{CheckState, CheckWatch};
use crate::config::VrrpScript;
use crate::exec::Job;

/// keepalived's rise/fall counting: a state changes only after enough results in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RiseFall {
    rise: u32,
    fall: u32,
    ok: bool,
    /// Results in a row that disagree with `ok`.
    against: u32,
}

impl RiseFall {
    /// Starts healthy, or failed with `init_fail`.
    fn new(rise: u32, fall: u32, init_fail: bool) -> Self {
        Self {
            rise: rise.max(1),
            fall: fall.max(1),
            ok: !init_fail,
            against: 0,
        }
    }

    /// The current state.
    fn ok(&self) -> bool {
        self.ok
    }

    /// Records one result; returns true when the state changed.
    fn record(&mut self, success: bool) -> bool {
        if success == self.ok {
            self.against = 0;
            return false;
        }
        self.against += 1;
        let needed = if self.ok { self.fall } else { self.rise };
        if self.against >= needed {
            self.ok = success;
            self.against = 0;
            return true;
        }
        false
    }

    /// Results in a row against the current state.
    fn against(&self) -> u32 {
        self.against
    }
}

/// Starts the check; it runs until the returned watch's last reader is gone.
pub(crate) fn spawn(script: VrrpScript) -> CheckWatch {
    let counter = RiseFall::new(script.rise, script.fall, script.init_fail);
    let (tx, rx) = watch::channel(CheckState::initial(counter.ok()));
    tokio::spawn(run(script, counter, tx));
    rx
}

async fn run(script: VrrpScript, mut counter: RiseFall, tx: watch::Sender<CheckState>) {
    let job = Job::new(&script.script);
    let mut ticker = tokio::time::interval(script.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = tx.closed() => return,
        }
        let outcome = job.run(script.timeout).await;
        let (success, detail) = (outcome.success(), outcome.to_string());
        let changed = counter.record(success);
        if changed {
            let (from, to) = if counter.ok() {
                ("FAILED", "OK")
            } else {
                ("OK", "FAILED")
            };
            info!("vrrp_script {}: {from} -> {to} ({detail})", script.name);
        } else if !success && counter.ok() {
            info!(
                "vrrp_script {}: failed ({detail}), {} of {} failures before it counts",
                script.name,
                counter.against(),
                script.fall
            );
        }
        let state = CheckState {
            ok: counter.ok(),
            value: 0,
            detail,
        };
        // Only a change of state is news; a new detail alone is not worth waking instances.
        tx.send_if_modified(|current| {
            let news = current.ok != state.ok;
            *current = state;
            news
        });
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn fall_needs_failures_in_a_row() {
        let mut rf = RiseFall::new(1, 2, false);
        assert!(!rf.record(false));
        assert!(rf.ok());
        assert!(!rf.record(true), "a success resets the count");
        assert!(!rf.record(false));
        assert!(rf.record(false));
        assert!(!rf.ok());
    }

    #[test]
    fn rise_needs_successes_in_a_row() {
        let mut rf = RiseFall::new(3, 1, true);
        assert!(!rf.ok(), "init_fail starts failed");
        assert!(!rf.record(true));
        assert!(!rf.record(true));
        assert!(!rf.record(false), "a failure resets the count");
        assert!(!rf.record(true));
        assert!(!rf.record(true));
        assert!(rf.record(true));
        assert!(rf.ok());
    }
}
