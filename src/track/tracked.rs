//! A check as an instance tracks it (its weight and what it says), and what follows from all
//! of an instance's checks: one wake-up per change, the effective priority or FAULT, and the
//! lines of `vipctl status`. VRRP and route instances both use these.

use tokio::sync::mpsc;

use super::CheckWatch;
use super::eval::{self, Evaluation, Input, Rule};
use crate::status::TrackStatus;

/// One check an instance tracks.
pub struct Tracked {
    /// Names it in logs: "check chk_nginx", "interface eth1".
    pub source: String,
    /// "script", "file", "process" or "interface", for status.
    pub kind: &'static str,
    /// How it moves the priority.
    pub rule: Rule,
    /// What it says.
    pub watch: CheckWatch,
}

impl Tracked {
    /// How `vipctl status` shows this check saying `s`.
    fn status(&self, s: &super::CheckState) -> TrackStatus {
        TrackStatus {
            name: self.source.clone(),
            kind: self.kind.to_string(),
            ok: match self.rule {
                Rule::Status { .. } => s.ok,
                Rule::Value { weight: 0 } => s.value == 0,
                Rule::Value { .. } => true,
            },
            weight: match self.rule {
                Rule::Status { weight } | Rule::Value { weight } => weight,
            },
            detail: s.detail.clone(),
        }
    }
}

/// One wake-up per change of any of `tracked` (coalesced: a wake-up waiting is enough). The
/// forwarding tasks end when their checks stop or the receiver is dropped.
pub(crate) fn forward_changes(tracked: &[Tracked]) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(1);
    for t in tracked {
        let mut watch = t.watch.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            while watch.changed().await.is_ok() {
                if tx.is_closed() {
                    break;
                }
                let _ = tx.try_send(());
            }
        });
    }
    rx
}

/// The effective priority and FAULT from what every check says now, with each check's status.
pub(crate) fn evaluate(base: u8, tracked: &[Tracked]) -> (Evaluation, Vec<TrackStatus>) {
    let states: Vec<_> = tracked.iter().map(|t| t.watch.borrow().clone()).collect();
    let inputs: Vec<Input<'_>> = tracked
        .iter()
        .zip(&states)
        .map(|(t, state)| Input {
            source: &t.source,
            rule: t.rule,
            state,
        })
        .collect();
    let outcome = eval::evaluate(base, &inputs);
    let lines = tracked
        .iter()
        .zip(&states)
        .map(|(t, s)| t.status(s))
        .collect();
    (outcome, lines)
}
