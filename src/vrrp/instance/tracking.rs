//! What the instance tracks and what follows from it: the checks' changes woken on, and
//! FAULT and the effective priority recomputed from the link, the network and every check.

use tokio::sync::mpsc;
use tracing::info;

use super::{Instance, now};
use crate::track::eval::Fault;
use crate::vrrp::doors::Doors;

impl<D: Doors> Instance<D> {
    /// One wake-up per change of any tracked check (coalesced).
    pub(super) fn forward_track_changes(&self) -> mpsc::Receiver<()> {
        crate::track::forward_changes(&self.tracked)
    }

    /// Recomputes FAULT and the effective priority from the link and every tracked check.
    pub(super) fn reevaluate(&mut self) {
        let now = now();
        let (outcome, tracks) = crate::track::evaluate(self.base_priority, &self.tracked);
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
        let mut status = self.status();
        status.effective_priority = self.fsm.priority();
        status.tracks = tracks;
    }
}
