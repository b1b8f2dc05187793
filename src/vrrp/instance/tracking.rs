//! What the instance tracks and what follows from it: the checks' changes woken on, and
//! FAULT and the effective priority recomputed from the link, the network and every check.

use tokio::sync::mpsc;
use tracing::info;

use super::{Instance, now};
use crate::status::TrackStatus;
use crate::track::eval::{self, Fault, Input, Rule};
use crate::track::{CheckState, CheckWatch};
use crate::vrrp::doors::Doors;

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
    fn status(&self, s: &CheckState) -> TrackStatus {
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

impl<D: Doors> Instance<D> {
    /// One wake-up per change of any tracked check (coalesced).
    pub(super) fn forward_track_changes(&self) -> mpsc::Receiver<()> {
        let (tx, rx) = mpsc::channel(1);
        for t in &self.tracked {
            let mut watch = t.watch.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                while watch.changed().await.is_ok() {
                    let _ = tx.try_send(());
                }
            });
        }
        rx
    }

    /// Recomputes FAULT and the effective priority from the link and every tracked check.
    pub(super) fn reevaluate(&mut self) {
        let now = now();
        let states: Vec<_> = self
            .tracked
            .iter()
            .map(|t| t.watch.borrow().clone())
            .collect();
        let inputs: Vec<Input<'_>> = self
            .tracked
            .iter()
            .zip(&states)
            .map(|(t, state)| Input {
                source: &t.source,
                rule: t.rule,
                state,
            })
            .collect();
        let outcome = eval::evaluate(self.base_priority, &inputs);
        let fault = if !self.link_up {
            Some(Fault {
                source: format!("interface {}", self.interface),
                detail: "down".to_string(),
            })
        } else {
            self.net_fault.clone().or(outcome.fault)
        };
        match (&self.fault, &fault) {
            (None, Some(f)) => self.fsm.handle_fault(now, f.to_string()),
            (Some(old), Some(new)) if old != new => {
                info!("{}: still FAULT, now because {new}", self.name);
            }
            (Some(old), None) => self
                .fsm
                .handle_recovered(now, format!("{}: healthy again", old.source)),
            _ => {}
        }
        self.fault = fault;
        self.fsm.handle_priority(now, outcome.priority, outcome.why);
        let tracks = self
            .tracked
            .iter()
            .zip(&states)
            .map(|(t, s)| t.status(s))
            .collect();
        let mut status = self.status();
        status.effective_priority = self.fsm.priority();
        status.tracks = tracks;
    }
}
