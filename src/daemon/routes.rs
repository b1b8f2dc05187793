//! The daemon's side of route instances: resolving one against the kernel (its route
//! interface must exist, as any configured interface), clearing what an earlier run left in
//! the tables (vipd's routes to VIPs no longer configured go; those to configured VIPs are
//! adopted and moved make-before-break; other protocols' routes are never touched),
//! starting, reconfiguring and stopping the tasks.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::checks::Checks;
use super::resolve::lookup;
use super::{Daemon, DaemonError};
use crate::config::{Config, RouteInstance};
use crate::net::addr::Netlink;
use crate::net::route::HostRoute;
pub(super) use crate::route_instance::RouteCommand;
use crate::route_instance::{Reconfigure, RouteInstanceTask, route_targets};
use crate::status::SharedRouteStatus;
use crate::track::Tracked;
use crate::vip::{BoundVip, KernelAnnouncer, RouteSet, RouteTarget, VipSet};

/// A route instance resolved against the kernel, not started yet.
pub(super) struct RouteSetup {
    pub(super) config: RouteInstance,
    pub(super) vips: Vec<BoundVip>,
    pub(super) tracked: Vec<Tracked>,
    /// vipd's routes an earlier run left for these VIPs, adopted at start.
    leftovers: Vec<HostRoute>,
}

/// A started route instance, as the daemon keeps it.
pub(super) struct RunningRoute {
    pub(super) config: RouteInstance,
    pub(super) commands: mpsc::Sender<RouteCommand>,
    pub(super) status: SharedRouteStatus,
}

/// Resolves `inst`: its route interface and VIPs, and the checks it tracks.
pub(super) async fn prepare(
    inst: &RouteInstance,
    checks: &mut Checks,
    netlink: &Netlink,
) -> Result<RouteSetup, DaemonError> {
    let vips = bind(inst, netlink).await?;
    let tracked = checks.tracked(&inst.name, &inst.tracks, netlink).await?;
    Ok(RouteSetup {
        config: inst.clone(),
        vips,
        tracked,
        leftovers: Vec::new(),
    })
}

/// `inst`'s VIPs as host addresses on its route interface.
async fn bind(inst: &RouteInstance, netlink: &Netlink) -> Result<Vec<BoundVip>, DaemonError> {
    let link = lookup(netlink, &inst.name, &inst.route_interface).await?;
    let vips = (inst.virtual_ipaddress.iter())
        .map(|&addr| BoundVip {
            addr,
            prefix_len: if addr.is_ipv6() { 128 } else { 32 },
            label: None,
            ifindex: link.index,
            dev: link.name.clone(),
            mac: link.mac,
            excluded: false,
        })
        .collect();
    Ok(vips)
}

/// At start: in every table vipd's configuration uses, each of vipd's routes to a VIP of a
/// route instance there (through its interface) is given to that instance, which moves it to
/// its metric make-before-break; every other route of vipd's protocol is deleted. Routes of
/// other protocols are never looked at.
pub(super) async fn clear_stale(config: &Config, setups: &mut [RouteSetup], netlink: &Netlink) {
    let tables: BTreeSet<u32> = (config.route_instances.iter())
        .map(|r| r.route_table)
        .chain(config.instances.iter().filter_map(|i| i.route_table))
        .collect();
    for table in tables {
        let found = match netlink.vipd_routes(table).await {
            Ok(found) => found,
            Err(e) => {
                warn!("cannot list vipd's routes in table {table}: {e}; stale ones stay");
                continue;
            }
        };
        for route in found {
            let here = RouteTarget {
                addr: route.addr,
                ifindex: route.ifindex,
            };
            let owner = setups.iter_mut().find(|s| {
                s.config.route_table == table
                    && route_targets(&s.vips).contains(&here)
                    && !s.leftovers.iter().any(|l| l.addr == route.addr)
            });
            if let Some(s) = owner {
                info!(
                    "{}: found {} in table {table} with metric {} from an earlier run; taken over",
                    s.config.name, route.addr, route.metric
                );
                s.leftovers.push(route);
                continue;
            }
            match netlink
                .del_host_route(route.addr, table, route.metric)
                .await
            {
                Ok(_) => info!(
                    "removed stale route {}/{} (table {table}, metric {}): no route instance \
                     announces it now",
                    route.addr, route.prefix_len, route.metric
                ),
                Err(e) => warn!(
                    "cannot remove stale route {} in table {table}: {e}",
                    route.addr
                ),
            }
        }
    }
}

impl Daemon {
    /// Spawns one route instance task.
    pub(super) fn start_route(&self, setup: RouteSetup) -> RunningRoute {
        let RouteSetup {
            config,
            vips,
            tracked,
            leftovers,
        } = setup;
        let table = config.route_table;
        let mut routes = RouteSet::new(
            &config.name,
            self.netlink.clone(),
            table,
            route_targets(&vips),
        );
        let announcer = KernelAnnouncer::new(self.netlink.clone());
        let mut addresses = VipSet::new(&config.name, announcer, vips);
        // A route an earlier run left (a crash, an upgrade) says that run held the address
        // as well: both are this run's now, removed at its stop.
        for l in leftovers {
            routes.adopt_route(l.addr, l.metric);
            addresses.adopt_addr(l.addr);
        }
        let (task, status) = RouteInstanceTask::new(config.clone(), addresses, routes, tracked);
        let task = task
            .with_events(self.events.clone())
            .with_maintenance(self.maintenance.contains(&config.name));
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(task.run(rx));
        RunningRoute {
            config,
            commands: tx,
            status,
        }
    }

    /// A reload: route instances of `new` are reconfigured in place (no withdraw for what
    /// stays: a new priority moves the metric make-before-break), added, or stopped. Everything
    /// is resolved before anything changes; an error leaves them all as they were.
    pub(super) async fn reload_routes(
        &mut self,
        new: &Config,
    ) -> Result<Vec<RoutePlan>, DaemonError> {
        let mut plans = Vec::new();
        for inst in &new.route_instances {
            match self.routes.iter().position(|r| r.config.name == inst.name) {
                Some(i)
                    if self.routes[i].config == *inst
                        && super::reload::checks_unchanged(&self.config, new, &inst.tracks) =>
                {
                    plans.push(RoutePlan::Unchanged(i));
                }
                Some(i) => {
                    let s = prepare(inst, &mut self.checks, &self.netlink).await?;
                    plans.push(RoutePlan::Reconfigure(i, Box::new(s)));
                }
                None => {
                    let s = prepare(inst, &mut self.checks, &self.netlink).await?;
                    plans.push(RoutePlan::Add(Box::new(s)));
                }
            }
        }
        Ok(plans)
    }

    /// Carries out [`Self::reload_routes`]' plans; returns the names added, removed, changed
    /// and left unchanged.
    pub(super) async fn apply_routes(&mut self, plans: Vec<RoutePlan>) -> [Vec<String>; 4] {
        let mut old: Vec<Option<RunningRoute>> = std::mem::take(&mut self.routes)
            .into_iter()
            .map(Some)
            .collect();
        let (mut added, mut changed, mut unchanged) = (Vec::new(), Vec::new(), Vec::new());
        for plan in plans {
            match plan {
                RoutePlan::Unchanged(i) => {
                    let Some(r) = old[i].take() else { continue };
                    unchanged.push(r.config.name.clone());
                    self.routes.push(r);
                }
                RoutePlan::Reconfigure(i, setup) => {
                    let Some(mut r) = old[i].take() else { continue };
                    let RouteSetup {
                        config,
                        vips,
                        tracked,
                        ..
                    } = *setup;
                    r.config = config.clone();
                    let command = Reconfigure {
                        config,
                        tracked,
                        vips,
                    };
                    let _ = r
                        .commands
                        .send(RouteCommand::Reconfigure(Box::new(command)))
                        .await;
                    changed.push(r.config.name.clone());
                    self.routes.push(r);
                }
                RoutePlan::Add(setup) => {
                    added.push(setup.config.name.clone());
                    let r = self.start_route(*setup);
                    self.routes.push(r);
                }
            }
        }
        let gone: Vec<RunningRoute> = old.into_iter().flatten().collect();
        let removed = gone.iter().map(|r| r.config.name.clone()).collect();
        // Their withdraw_delay runs on their own tasks: the reload does not wait for it.
        for r in gone {
            let (tx, _) = oneshot::channel();
            let _ = r.commands.send(RouteCommand::Stop(tx)).await;
        }
        [added, removed, changed, unchanged]
    }
}

/// How a reload treats one route instance of the new file.
pub(super) enum RoutePlan {
    /// The same, with the same checks: left alone.
    Unchanged(usize),
    /// Changed: the running task takes the new settings.
    Reconfigure(usize, Box<RouteSetup>),
    /// New.
    Add(Box<RouteSetup>),
}

/// Stops every route instance of `routes` at once: each withdraws its routes now, keeps its
/// addresses for its withdraw_delay, then removes them. Returns the waits, to be awaited
/// (within a bound) once the rest of the shutdown is done.
pub(super) async fn stop_all(
    routes: Vec<RunningRoute>,
) -> Vec<(String, Duration, oneshot::Receiver<()>)> {
    let mut waits = Vec::new();
    for r in routes {
        let (tx, rx) = oneshot::channel();
        if r.commands.send(RouteCommand::Stop(tx)).await.is_ok() {
            waits.push((r.config.name.clone(), r.config.withdraw_delay, rx));
        }
    }
    waits
}

/// Waits for the stops [`stop_all`] began: each within its withdraw_delay and a margin.
pub(super) async fn stopped(waits: Vec<(String, Duration, oneshot::Receiver<()>)>) {
    for (name, delay, rx) in waits {
        let bound = delay + Duration::from_secs(2);
        if tokio::time::timeout(bound, rx).await.is_err() {
            warn!("{name}: did not finish stopping within {bound:?}");
        }
    }
}
