//! A planned switchover (`vipctl handover`): the master resigns with priority 0 but keeps its
//! VIPs until a new master advertises (make-before-break, bounded), and every request waiting
//! for it is answered with how it ended.

use std::net::IpAddr;

use tokio::sync::oneshot;
use tracing::{info, warn};

use super::{Instance, now};
use crate::status::HandoverResult;
use crate::vrrp::doors::Doors;

impl<D: Doors> Instance<D> {
    /// A request to hand over: a master resigns; a second request joins the first; a backup
    /// answers at once that it is not master.
    pub(super) fn on_handover(&mut self, reply: oneshot::Sender<HandoverResult>) {
        let now = now();
        if self.fsm.releasing() {
            // A second request for the same handover: answer it with the first.
            self.handovers.push((reply, now));
        } else if self.fsm.handle_handover(now) {
            info!(
                "{}: handover requested: resigning (priority 0), keeping the VIPs until a new \
                 master advertises (at most {:.1} s)",
                self.name,
                self.fsm.release_bound().as_secs_f64()
            );
            self.handovers.push((reply, now));
        } else {
            let _ = reply.send(HandoverResult {
                instance: self.name.clone(),
                outcome: "not_master".into(),
                new_master: None,
                waited_ms: 0,
            });
        }
    }

    /// The end of a handover: the new master advertised (or the bound ran out).
    pub(super) async fn release_vips(&mut self, new_master: Option<IpAddr>) {
        self.routes_on = false;
        self.sync_routes().await;
        self.vips.release().await;
        let outcome = match new_master {
            Some(m) => {
                info!("{}: handover done: {m} advertises; VIPs removed", self.name);
                "released"
            }
            None => {
                warn!(
                    "{}: handover: no new master advertised within {:.1} s; VIPs removed anyway",
                    self.name,
                    self.fsm.release_bound().as_secs_f64()
                );
                "timed_out"
            }
        };
        // tokio's clock, as when the handover began (a test's paused time included).
        let done = now();
        for (reply, since) in self.handovers.drain(..) {
            let _ = reply.send(HandoverResult {
                instance: self.name.clone(),
                outcome: outcome.into(),
                new_master: new_master.map(|m| m.to_string()),
                waited_ms: done.duration_since(since).as_millis() as u64,
            });
        }
    }
}
