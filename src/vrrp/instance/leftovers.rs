//! What this run leaves for the next ([`crate::runstate`]): after every step that changes the
//! role or the VIPs this instance added, its record in the state directory, so that a restart
//! keeps them (and only them); while master, the same record again every
//! [`runstate::heartbeat`] at most, so its age tells a restart how long nobody advertised; and the
//! record an in-place upgrade writes just before vipd re-executes itself.

use std::time::Instant;

use tracing::warn;

use super::Instance;
use crate::runstate::{self, LeftVip, Leftover};
use crate::vrrp::doors::Doors;
use crate::vrrp::fsm::State;

/// What a record says, to write it again only when that changes (or the heartbeat is due),
/// and when it was written.
pub(super) type Written = ((bool, Vec<LeftVip>), Instant);

impl<D: Doors> Instance<D> {
    /// Writes the record when the role or the VIPs held changed since the last one.
    pub(super) fn record(&mut self) {
        let Some(path) = &self.state_file else {
            return;
        };
        let now = self.snapshot();
        let at = super::now();
        if let Some((last, when)) = &self.written
            && *last == now
            && !(now.0
                && at.duration_since(*when) >= runstate::heartbeat(self.fsm.config().advert_int))
        {
            return;
        }
        let record = Leftover::new(self.vrid, &self.interface, now.0, now.1.clone());
        // On the writer's thread: this loop never waits on a file system. A failure is its
        // to log; a restart then starts as any start does.
        runstate::Writer::global().submit(path.clone(), record);
        self.written = Some((now, at));
    }

    /// The record of an in-place upgrade, written here and now: vipd re-executes itself next.
    pub(super) fn record_handoff(&mut self) {
        let Some(path) = &self.state_file else {
            return;
        };
        let (master, vips) = self.snapshot();
        let mut record = Leftover::new(self.vrid, &self.interface, master, vips);
        record.handoff = true;
        if let Err(e) = runstate::Writer::global().write_now(path, &record) {
            warn!("{}: cannot write {}: {e}", self.name, path.display());
        }
    }

    fn snapshot(&self) -> (bool, Vec<LeftVip>) {
        let master = self.fsm.state() == State::Master;
        let vips = self
            .vips
            .ours()
            .map(|v| LeftVip {
                addr: v.addr,
                prefix_len: v.prefix_len,
                dev: v.dev.clone(),
            })
            .collect();
        (master, vips)
    }
}
