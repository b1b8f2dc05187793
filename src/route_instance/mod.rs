//! One `route_instance`: VIPs announced as host routes for a routing daemon (BIRD) to export
//! over BGP, instead of by VRRP. No socket, no election: the host carries the VIPs while its
//! checks say it is healthy and the operator has not put it in maintenance; the fabric's
//! best-path choice (the metric as MED) picks between hosts.
//!
//! `decide` is the decision, pure; the driver here owns the task: it holds the addresses,
//! re-evaluates on every change of a tracked check or an operator's request, carries the
//! decision out through a [`RouteSet`] (the addresses through a [`VipSet`]) and publishes the
//! status. Stopping withdraws the
//! routes first, keeps the addresses for `withdraw_delay` (clients already routed here are
//! served while the fabric moves to the host that still announces), then removes them.

mod decide;

use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{info, warn};

pub use decide::{Health, RouteState, decide};

use crate::config::RouteInstance;
use crate::status::{
    Event, RouteInstanceStatus, RouteStatus, SharedRouteStatus, TrackStatus, Transition,
    unix_ms_now,
};
use crate::track::Tracked;
use crate::vip::{Announcer, BoundVip, RouteDoor, RouteSet, RouteTarget, VipSet, metric};

/// How long a route or address the kernel refused waits before it is tried again.
const RETRY: Duration = Duration::from_secs(5);

/// What the daemon asks of a running route instance.
pub enum RouteCommand {
    /// `vipctl maintenance on|off`: withdraw, or announce again.
    Maintenance(bool),
    /// A reload changed it: its new settings, checks, bound VIPs and route target.
    Reconfigure(Box<Reconfigure>),
    /// Withdraw, wait `withdraw_delay`, remove the addresses it added, answer, end.
    Stop(oneshot::Sender<()>),
}

/// A reloaded route instance.
pub struct Reconfigure {
    /// Its new configuration.
    pub config: RouteInstance,
    /// What it tracks now.
    pub tracked: Vec<Tracked>,
    /// Its VIPs, bound to the route interface.
    pub vips: Vec<BoundVip>,
}

/// The route of each of `vips`, through the interface it is held on.
pub fn route_targets(vips: &[BoundVip]) -> Vec<RouteTarget> {
    (vips.iter())
        .map(|v| RouteTarget {
            addr: v.addr,
            ifindex: v.ifindex,
        })
        .collect()
}

/// The task of one route instance.
pub struct RouteInstanceTask<A, R> {
    config: RouteInstance,
    /// The addresses, held on the route interface from start to stop.
    addresses: VipSet<A>,
    routes: RouteSet<R>,
    tracked: Vec<Tracked>,
    maintenance: bool,
    state: RouteState,
    /// The effective priority last evaluated.
    priority: u8,
    status: SharedRouteStatus,
    events: Option<broadcast::Sender<Event>>,
}

impl<A: Announcer, R: RouteDoor> RouteInstanceTask<A, R> {
    /// The task for `config` holding `addresses` and announcing `routes`, tracking `tracked`;
    /// and the status it publishes.
    pub fn new(
        config: RouteInstance,
        addresses: VipSet<A>,
        routes: RouteSet<R>,
        tracked: Vec<Tracked>,
    ) -> (Self, SharedRouteStatus) {
        let status = SharedRouteStatus::default();
        let task = Self {
            priority: config.priority,
            config,
            addresses,
            routes,
            tracked,
            maintenance: false,
            state: RouteState::Init,
            status: status.clone(),
            events: None,
        };
        task.publish("not started", Vec::new());
        (task, status)
    }

    /// Starts in maintenance (kept across reloads and restarts of the instance).
    pub fn with_maintenance(mut self, on: bool) -> Self {
        self.maintenance = on;
        self
    }

    /// Sends its state changes to `vipctl watch`.
    pub fn with_events(mut self, events: broadcast::Sender<Event>) -> Self {
        self.events = Some(events);
        self
    }

    /// Runs until told to stop (or until the daemon drops its sender, which stops it too).
    pub async fn run(mut self, mut commands: mpsc::Receiver<RouteCommand>) {
        self.addresses.hold().await;
        let mut changes = crate::track::forward_changes(&self.tracked);
        self.step().await;
        loop {
            let pending = !self.in_place();
            tokio::select! {
                Some(()) = changes.recv() => self.step().await,
                () = tokio::time::sleep(RETRY), if pending => self.step().await,
                command = commands.recv() => match command {
                    Some(RouteCommand::Maintenance(on)) => {
                        info!("{}: maintenance {}", self.config.name, if on { "on" } else { "off" });
                        self.maintenance = on;
                        self.step().await;
                    }
                    Some(RouteCommand::Reconfigure(new)) => {
                        let Reconfigure { config, tracked, vips } = *new;
                        self.routes.update(route_targets(&vips), config.route_table).await;
                        self.addresses.update(vips, true, 0).await;
                        self.config = config;
                        self.tracked = tracked;
                        changes = crate::track::forward_changes(&self.tracked);
                        self.step().await;
                    }
                    Some(RouteCommand::Stop(done)) => {
                        self.stop().await;
                        let _ = done.send(());
                        return;
                    }
                    None => return self.stop().await,
                },
            }
        }
    }

    /// Re-evaluates the checks and carries the decision out.
    async fn step(&mut self) {
        let (outcome, tracks) = crate::track::evaluate(self.config.priority, &self.tracked);
        let health = Health {
            priority: outcome.priority,
            fault: outcome.fault.is_some(),
        };
        let to = decide(health, self.maintenance, false);
        let reason = match (&outcome.fault, to) {
            (Some(f), _) => f.to_string(),
            (None, RouteState::Maintenance) => "maintenance".to_string(),
            (None, _) if outcome.why.is_empty() => "healthy".to_string(),
            (None, _) => outcome.why.clone(),
        };
        if outcome.priority != self.priority {
            info!(
                "{}: effective priority {} -> {} ({reason})",
                self.config.name, self.priority, outcome.priority
            );
            self.priority = outcome.priority;
        }
        match to {
            RouteState::Announcing => self.routes.announce(metric(self.priority)).await,
            _ => self.routes.withdraw().await,
        }
        self.transition(to, &reason);
        self.publish(&reason, tracks);
    }

    /// True when the kernel has what the state asks for (else it is tried again).
    fn in_place(&self) -> bool {
        match self.state {
            RouteState::Announcing => self.routes.announced_at(metric(self.priority)),
            _ => self.routes.routes().is_empty(),
        }
    }

    async fn stop(&mut self) {
        self.transition(RouteState::Stopping, "stopping");
        self.routes.withdraw().await;
        let tracks = self.status().tracks.clone();
        self.publish("stopping", tracks);
        let delay = self.config.withdraw_delay;
        if !delay.is_zero() {
            info!(
                "{}: routes withdrawn; the addresses stay {:.1} s for clients already routed here",
                self.config.name,
                delay.as_secs_f64()
            );
            tokio::time::sleep(delay).await;
        }
        self.addresses.release().await;
        info!("{}: stopped", self.config.name);
    }

    fn transition(&mut self, to: RouteState, reason: &str) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        let name = &self.config.name;
        match to {
            RouteState::Fault => warn!("{name}: {from} -> FAULT, routes withdrawn: {reason}"),
            _ => info!("{name}: {from} -> {to} ({reason})"),
        }
        let t = Transition {
            at_unix_ms: unix_ms_now(),
            from: from.to_string(),
            to: to.to_string(),
            reason: reason.to_string(),
        };
        if let Some(events) = &self.events {
            // No subscriber is not an error: `send` fails only then.
            let _ = events.send(t.event(name));
        }
        self.status().last_transition = Some(t);
    }

    fn status(&self) -> std::sync::MutexGuard<'_, RouteInstanceStatus> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes what the instance knows; the control socket checks the kernel for the routes.
    fn publish(&self, reason: &str, tracks: Vec<TrackStatus>) {
        let routes = (self.routes.addrs())
            .map(|a| {
                let metric = self.routes.routes().get(&a).copied();
                RouteStatus {
                    prefix: format!("{a}/{}", if a.is_ipv6() { 128 } else { 32 }),
                    announced: metric.is_some(),
                    metric,
                }
            })
            .collect();
        let c = &self.config;
        let last_transition = self.status().last_transition.clone();
        *self.status() = RouteInstanceStatus {
            name: c.name.clone(),
            state: self.state.to_string(),
            maintenance: self.maintenance,
            priority: c.priority,
            effective_priority: self.priority,
            metric: metric(self.priority),
            table: c.route_table,
            interface: c.route_interface.clone(),
            routes,
            reason: reason.to_string(),
            last_transition,
            tracks,
        };
    }
}
