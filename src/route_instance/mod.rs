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
/// How often the routes are compared with the kernel's table, so that one deleted by
/// someone else is put back: a host that silently stopped announcing would carry no traffic
/// while every check says healthy. (One dump the kernel filters to vipd's routes.)
const RESYNC: Duration = Duration::from_secs(10);

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
        let mut resync = tokio::time::interval_at(tokio::time::Instant::now() + RESYNC, RESYNC);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let pending = !self.in_place();
            tokio::select! {
                Some(()) = changes.recv() => self.step().await,
                () = tokio::time::sleep(RETRY), if pending => self.step().await,
                _ = resync.tick() => {
                    if self.routes.resync().await {
                        self.step().await;
                    }
                }
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

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::Arc;

    use tokio::sync::watch;

    use super::*;
    use crate::track::CheckState;
    use crate::track::eval::Rule;
    use crate::vip::fake::Kernel;

    const VIP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 99, 0, 10));

    fn reads(value: i64) -> CheckState {
        CheckState {
            ok: true,
            value,
            detail: format!("reads {value}"),
        }
    }

    /// WEB (priority 150, withdraw_delay 2 s) on a pretend kernel, tracking a file `prio`
    /// (weight -10) and a file `down` (weight 0: non-zero is FAULT).
    fn start(
        kernel: &Arc<Kernel>,
    ) -> (
        mpsc::Sender<RouteCommand>,
        SharedRouteStatus,
        [watch::Sender<CheckState>; 2],
    ) {
        let mut config = RouteInstance::with_defaults("WEB");
        config.priority = 150;
        config.virtual_ipaddress = vec![VIP];
        let vips = vec![BoundVip {
            addr: VIP,
            prefix_len: 32,
            label: None,
            ifindex: 1,
            dev: "lo".into(),
            mac: [0; 6],
            excluded: false,
        }];
        let file = |name: &str, weight| {
            let (tx, watch) = watch::channel(reads(0));
            let t = Tracked {
                source: format!("file {name}"),
                kind: "file",
                rule: Rule::Value { weight },
                watch,
            };
            (tx, t)
        };
        let ((prio, p), (down, d)) = (file("prio", -10), file("down", 0));
        let routes = RouteSet::new("WEB", Arc::clone(kernel), 200, route_targets(&vips));
        let addresses = VipSet::new("WEB", Arc::clone(kernel), vips);
        let (task, status) = RouteInstanceTask::new(config, addresses, routes, vec![p, d]);
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(task.run(rx));
        (tx, status, [prio, down])
    }

    fn state(status: &SharedRouteStatus) -> (String, bool, u32) {
        let s = status.lock().unwrap();
        (s.state.clone(), s.maintenance, s.metric)
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn health_maintenance_and_stop_in_the_kernel() {
        let kernel = Arc::new(Kernel::default());
        let (commands, status, [prio, down]) = start(&kernel);
        settle().await;
        assert_eq!(kernel.routes(), [(VIP, 200, 106)]);
        assert_eq!(state(&status), ("ANNOUNCING".into(), false, 106));
        prio.send(reads(3)).unwrap();
        settle().await;
        assert_eq!(kernel.routes(), [(VIP, 200, 136)], "priority 120");
        down.send(reads(1)).unwrap();
        settle().await;
        assert!(kernel.routes().is_empty());
        assert!(
            kernel.addresses.lock().unwrap().contains(&VIP),
            "FAULT keeps the address"
        );
        assert_eq!(state(&status).0, "FAULT");
        down.send(reads(0)).unwrap();
        settle().await;
        assert_eq!(kernel.routes(), [(VIP, 200, 136)]);
        commands
            .send(RouteCommand::Maintenance(true))
            .await
            .unwrap();
        settle().await;
        assert!(kernel.routes().is_empty());
        assert_eq!(state(&status), ("WITHDRAWN".into(), true, 136));
        commands
            .send(RouteCommand::Maintenance(false))
            .await
            .unwrap();
        settle().await;
        assert_eq!(kernel.routes(), [(VIP, 200, 136)]);

        let (done, mut stopped) = oneshot::channel();
        commands.send(RouteCommand::Stop(done)).await.unwrap();
        settle().await;
        assert!(kernel.routes().is_empty(), "withdrawn first");
        assert!(
            kernel.addresses.lock().unwrap().contains(&VIP),
            "kept withdraw_delay"
        );
        assert_eq!(state(&status).0, "STOPPING");
        assert!(stopped.try_recv().is_err());
        tokio::time::sleep(Duration::from_secs(2)).await;
        stopped.await.unwrap();
        assert!(kernel.addresses.lock().unwrap().is_empty());
        let log = kernel.log.lock().unwrap().clone();
        assert_eq!(
            log[log.len() - 2..],
            ["del 10.99.0.10 136", "release 10.99.0.10"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_route_deleted_by_hand_comes_back_within_resync() {
        let kernel = Arc::new(Kernel::default());
        let (_commands, _status, _checks) = start(&kernel);
        settle().await;
        kernel.routes.lock().unwrap().clear();
        tokio::time::sleep(RESYNC).await;
        assert_eq!(kernel.routes(), [(VIP, 200, 106)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_route_is_tried_again_without_a_change() {
        let kernel = Arc::new(Kernel::default());
        *kernel.refuse_adds.lock().unwrap() = true;
        let (_commands, _status, _checks) = start(&kernel);
        settle().await;
        assert!(kernel.routes().is_empty());
        *kernel.refuse_adds.lock().unwrap() = false;
        tokio::time::sleep(RETRY).await;
        assert_eq!(kernel.routes(), [(VIP, 200, 106)]);
    }
}
