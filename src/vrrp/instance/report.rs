//! What the instance tells others: the shared status that `vipctl` and metrics read, each
//! transition (the log, `vipctl watch`, its sync group) and the notify scripts, which run once
//! the actions of a step are done.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::info;

use super::Instance;
use crate::config::{VrrpInstance, VrrpVersion};
use crate::status::{
    Counters, InstanceStatus, Peer, SharedStatus, Transition, VipStatus, unix_ms_now,
};
use crate::vip::BoundVip;
use crate::vrrp::doors::Doors;
use crate::vrrp::fsm::{Reason, State};

/// A state change of a sync group member, told to the daemon so the others follow.
#[derive(Debug, Clone)]
pub struct MemberChange {
    /// The instance that changed.
    pub instance: String,
    /// Its new state.
    pub to: State,
    /// Its priority.
    pub priority: u8,
}

/// The status of an instance that has not started yet.
pub(super) fn initial_status(
    cfg: &VrrpInstance,
    interface: &str,
    source: IpAddr,
    vips: &[BoundVip],
) -> SharedStatus {
    Arc::new(Mutex::new(InstanceStatus {
        name: cfg.name.clone(),
        interface: interface.to_string(),
        vrid: cfg.virtual_router_id,
        version: match cfg.version {
            VrrpVersion::V2 => 2,
            VrrpVersion::V3 => 3,
        },
        family: if cfg.is_ipv6() { "ipv6" } else { "ipv4" }.to_string(),
        advert_int_ms: u64::try_from(cfg.advert_int.as_millis()).unwrap_or(u64::MAX),
        state: State::Init.to_string(),
        priority: cfg.priority,
        effective_priority: cfg.priority,
        maintenance: false,
        source: source.to_string(),
        master: None,
        vips: vip_statuses(vips),
        last_transition: None,
        counters: Counters::default(),
        tracks: Vec::new(),
    }))
}

/// How `vipctl status` lists `vips` before the kernel has been asked whether they are there.
pub(super) fn vip_statuses(vips: &[BoundVip]) -> Vec<VipStatus> {
    vips.iter()
        .map(|v| VipStatus {
            addr: format!("{}/{}", v.addr, v.prefix_len),
            dev: v.dev.clone(),
            present: false,
        })
        .collect()
}

impl<D: Doors> Instance<D> {
    /// The shared status; a panic elsewhere while it was held does not make it unusable.
    pub(super) fn status(&self) -> MutexGuard<'_, InstanceStatus> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a step's actions: the notify scripts queued by its transitions (the VIPs are in
    /// place, or gone, as keepalived's notify_master promises), and the state and master.
    pub(super) fn publish(&mut self) {
        if let Some(n) = &self.notifier {
            for (state, priority) in self.pending_notify.drain(..) {
                n.state_changed(state, priority);
            }
        }
        self.pending_notify.clear();
        let master = self.fsm.master().map(|(addr, priority)| Peer {
            addr: addr.to_string(),
            priority,
        });
        let mut status = self.status();
        status.state = self.fsm.state().to_string();
        status.master = master;
    }

    pub(super) fn on_transition(&mut self, from: State, to: State, reason: &Reason) {
        info!("{}: {from} -> {to}: {reason}", self.name);
        let priority = self.fsm.priority();
        // keepalived names the stopped state STOP in notify arguments.
        let name = if to == State::Init {
            "STOP"
        } else {
            to.as_str()
        };
        self.pending_notify.push((name, priority));
        if let Some(sync) = &self.sync
            && !matches!(reason, Reason::Sync { .. })
            && to != State::Init
        {
            let _ = sync.send(MemberChange {
                instance: self.name.clone(),
                to,
                priority,
            });
        }
        let t = Transition {
            at_unix_ms: unix_ms_now(),
            from: from.to_string(),
            to: to.to_string(),
            reason: reason.to_string(),
        };
        {
            let mut status = self.status();
            status.counters.transitions += 1;
            if to == State::Master {
                status.counters.became_master += 1;
            }
            if from == State::Master {
                status.counters.released_master += 1;
            }
            status.last_transition = Some(t.clone());
        }
        if let Some(events) = &self.events {
            // No subscriber is not an error: `send` fails only then.
            let _ = events.send(t.event(&self.name));
        }
    }
}
