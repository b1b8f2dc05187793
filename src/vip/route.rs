//! The route announcer: a VIP made reachable through a routing daemon instead of (or beside)
//! ARP. The host route in vipd's table is the signal the routing daemon (BIRD) exports over
//! BGP, its metric the MED; the address itself is held by whoever owns the VIP (a route
//! instance's [`super::VipSet`] on lo, or a VRRP instance's). Routes go through a
//! [`RouteDoor`], so the logic is tested with a fake.
//!
//! A metric change is make-before-break: the route with the new metric is added before the
//! old one is deleted (in the kernel the metric is part of an IPv4 route's key, so a replace
//! would leave both), and the VIP is never without a route in between.

use std::collections::BTreeMap;
use std::net::IpAddr;

use tracing::{info, warn};

use crate::net::NetError;
use crate::net::addr::Netlink;

/// The metric of a route announced at effective priority `priority`: the higher the
/// priority, the lower (more preferred) the metric; 1..=255 for priorities 255..=1.
pub fn metric(priority: u8) -> u32 {
    256 - u32::from(priority)
}

/// How routes are put in and taken out of the kernel: [`Netlink`], or a test's fake.
pub trait RouteDoor {
    /// Adds `addr`'s host route via `ifindex` to `table` with `metric`; `Ok(false)` when
    /// exactly that route was there.
    fn add_route(
        &self,
        addr: IpAddr,
        ifindex: u32,
        table: u32,
        metric: u32,
    ) -> impl Future<Output = Result<bool, NetError>> + Send;
    /// Deletes vipd's route to `addr` with `metric` from `table`; `Ok(false)` when none was
    /// there.
    fn del_route(
        &self,
        addr: IpAddr,
        table: u32,
        metric: u32,
    ) -> impl Future<Output = Result<bool, NetError>> + Send;
    /// vipd's routes in `table` now: (address, metric).
    fn list_routes(
        &self,
        table: u32,
    ) -> impl Future<Output = Result<Vec<(IpAddr, u32)>, NetError>> + Send;
}

impl RouteDoor for Netlink {
    async fn add_route(
        &self,
        addr: IpAddr,
        ifindex: u32,
        table: u32,
        metric: u32,
    ) -> Result<bool, NetError> {
        self.add_host_route(addr, ifindex, table, metric).await
    }

    async fn del_route(&self, addr: IpAddr, table: u32, metric: u32) -> Result<bool, NetError> {
        self.del_host_route(addr, table, metric).await
    }

    async fn list_routes(&self, table: u32) -> Result<Vec<(IpAddr, u32)>, NetError> {
        let routes = self.vipd_routes(table).await?;
        Ok(routes.iter().map(|r| (r.addr, r.metric)).collect())
    }
}

/// One VIP's route: its address and the interface it points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteTarget {
    /// The VIP.
    pub addr: IpAddr,
    /// The interface the VIP is held on.
    pub ifindex: u32,
}

/// The host routes of one instance's VIPs in one table.
#[derive(Debug)]
pub struct RouteSet<R> {
    /// The instance, for logs.
    name: String,
    door: R,
    /// The routing table (never 253..=255).
    table: u32,
    vips: Vec<RouteTarget>,
    /// Each VIP's route as it is in the kernel now: address → metric. Kept per VIP so that a
    /// failed add or delete is retried by the next [`Self::announce`] or [`Self::withdraw`].
    routes: BTreeMap<IpAddr, u32>,
}

impl<R: RouteDoor> RouteSet<R> {
    /// The routes of instance `name` for `vips` in `table`, none announced yet.
    pub fn new(name: &str, door: R, table: u32, vips: Vec<RouteTarget>) -> Self {
        Self {
            name: name.to_string(),
            door,
            table,
            vips,
            routes: BTreeMap::new(),
        }
    }

    /// Takes `addr`'s route with `metric`, left in the table by an earlier run, as this set's
    /// own: the next [`Self::announce`] moves it make-before-break, [`Self::withdraw`]
    /// deletes it.
    pub fn adopt_route(&mut self, addr: IpAddr, metric: u32) {
        if self.vips.iter().any(|v| v.addr == addr) {
            self.routes.insert(addr, metric);
        }
    }

    /// Each VIP's route in the kernel now, as this set knows it.
    pub fn routes(&self) -> &BTreeMap<IpAddr, u32> {
        &self.routes
    }

    /// The VIPs, in config order.
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.vips.iter().map(|v| v.addr)
    }

    /// The routing table.
    pub fn table(&self) -> u32 {
        self.table
    }

    /// True when every VIP has its route with `metric`.
    pub fn announced_at(&self, metric: u32) -> bool {
        (self.vips.iter()).all(|v| self.routes.get(&v.addr) == Some(&metric))
    }

    /// Every VIP's route with `metric`: added where missing; where it has another metric, the
    /// new route is added first and the old one deleted after.
    pub async fn announce(&mut self, metric: u32) {
        let table = self.table;
        for RouteTarget { addr, ifindex } in self.vips.clone() {
            let old = self.routes.get(&addr).copied();
            if old == Some(metric) {
                continue;
            }
            if let Err(e) = self.door.add_route(addr, ifindex, table, metric).await {
                warn!(
                    "{}: cannot announce {addr} (table {table}, metric {metric}): {e}; \
                     retried at the next change",
                    self.name
                );
                continue;
            }
            self.routes.insert(addr, metric);
            if let Some(old) = old {
                if let Err(e) = self.door.del_route(addr, table, old).await {
                    warn!(
                        "{}: announced {addr} with metric {metric}, but the old route (metric \
                         {old}) stays: {e}",
                        self.name
                    );
                }
                info!(
                    "{}: {addr} announced with metric {metric} (was {old}) in table {table}",
                    self.name
                );
            } else {
                info!(
                    "{}: {addr} announced with metric {metric} in table {table}",
                    self.name
                );
            }
        }
    }

    /// A reload changed the VIPs or the table, or an interface was re-created: the routes of
    /// VIPs no longer listed or whose interface changed, and every route when the table
    /// changed, are deleted. The next [`Self::announce`] puts the missing routes in.
    pub async fn update(&mut self, vips: Vec<RouteTarget>, table: u32) {
        let old_table = self.table;
        let gone: Vec<(IpAddr, u32)> = (self.routes.iter())
            .filter(|(a, _)| table != old_table || !vips.iter().any(|v| self.stays(v, **a)))
            .map(|(a, m)| (*a, *m))
            .collect();
        for (addr, metric) in gone {
            if let Err(e) = self.door.del_route(addr, old_table, metric).await {
                warn!(
                    "{}: cannot withdraw {addr} from table {old_table} (metric {metric}): {e}",
                    self.name
                );
            }
            // What could not be deleted is not this set's to track now.
            self.routes.remove(&addr);
        }
        self.table = table;
        self.vips = vips;
    }

    /// The VIPs' interfaces were re-created: the kernel dropped the routes through the old
    /// ones with them; the next [`Self::announce`] puts them on the new ones.
    pub fn rebind(&mut self, vips: Vec<RouteTarget>) {
        for old in &self.vips {
            if !vips.contains(old) {
                self.routes.remove(&old.addr);
            }
        }
        self.vips = vips;
    }

    /// True when `v` is `addr` on the interface its route points at now.
    fn stays(&self, v: &RouteTarget, addr: IpAddr) -> bool {
        v.addr == addr && self.vips.iter().any(|old| old == v)
    }

    /// Compares what this set has announced with the kernel: a route someone else deleted
    /// (`ip route flush table 200`) is forgotten, so that the next [`Self::announce`] puts it
    /// back. True when one was missing.
    pub async fn resync(&mut self) -> bool {
        if self.routes.is_empty() {
            return false;
        }
        let table = self.table;
        let there = match self.door.list_routes(table).await {
            Ok(there) => there,
            Err(e) => {
                warn!("{}: cannot list table {table}: {e}", self.name);
                return false;
            }
        };
        let before = self.routes.len();
        self.routes.retain(|addr, metric| {
            let kept = there.contains(&(*addr, *metric));
            if !kept {
                warn!(
                    "{}: the route to {addr} (metric {metric}) left table {table} without vipd \
                     (deleted by hand?): announcing it again",
                    self.name
                );
            }
            kept
        });
        self.routes.len() != before
    }

    /// Deletes every VIP's route; the addresses stay.
    pub async fn withdraw(&mut self) {
        let table = self.table;
        let routes = std::mem::take(&mut self.routes);
        for (addr, metric) in routes {
            match self.door.del_route(addr, table, metric).await {
                Ok(_) => info!("{}: {addr} withdrawn from table {table}", self.name),
                Err(e) => {
                    warn!(
                        "{}: cannot withdraw {addr} (table {table}, metric {metric}): {e}; \
                         retried at the next change",
                        self.name
                    );
                    self.routes.insert(addr, metric);
                }
            }
        }
    }
}

/// A pretend kernel for the tests of route announcers and their drivers.
#[cfg(test)]
pub(crate) mod fake {
    use std::collections::HashSet;
    use std::net::IpAddr;
    use std::sync::{Arc, Mutex};

    use super::RouteDoor;
    use crate::net::NetError;
    use crate::vip::{Announcer, BoundVip};

    /// Routes (address, table, metric), addresses, and every change in order.
    #[derive(Default)]
    pub(crate) struct Kernel {
        pub(crate) routes: Mutex<HashSet<(IpAddr, u32, u32)>>,
        pub(crate) addresses: Mutex<HashSet<IpAddr>>,
        pub(crate) log: Mutex<Vec<String>>,
        pub(crate) refuse_adds: Mutex<bool>,
    }

    impl Kernel {
        /// The routes, sorted.
        pub(crate) fn routes(&self) -> Vec<(IpAddr, u32, u32)> {
            let mut r: Vec<_> = self.routes.lock().unwrap().iter().copied().collect();
            r.sort_unstable();
            r
        }
    }

    impl RouteDoor for Arc<Kernel> {
        async fn add_route(&self, a: IpAddr, _: u32, t: u32, m: u32) -> Result<bool, NetError> {
            if *self.refuse_adds.lock().unwrap() {
                return Err(NetError::NoSuchInterface("lo".into()));
            }
            self.log.lock().unwrap().push(format!("add {a} {m}"));
            Ok(self.routes.lock().unwrap().insert((a, t, m)))
        }
        async fn del_route(&self, a: IpAddr, t: u32, m: u32) -> Result<bool, NetError> {
            self.log.lock().unwrap().push(format!("del {a} {m}"));
            Ok(self.routes.lock().unwrap().remove(&(a, t, m)))
        }
        async fn list_routes(&self, table: u32) -> Result<Vec<(IpAddr, u32)>, NetError> {
            let routes = self.routes.lock().unwrap();
            Ok(routes
                .iter()
                .filter(|r| r.1 == table)
                .map(|r| (r.0, r.2))
                .collect())
        }
    }

    impl Announcer for Arc<Kernel> {
        async fn add(&self, vip: &BoundVip) -> Result<bool, NetError> {
            self.log.lock().unwrap().push(format!("hold {}", vip.addr));
            Ok(self.addresses.lock().unwrap().insert(vip.addr))
        }
        async fn remove(&self, vip: &BoundVip) -> Result<(), NetError> {
            self.log
                .lock()
                .unwrap()
                .push(format!("release {}", vip.addr));
            self.addresses.lock().unwrap().remove(&vip.addr);
            Ok(())
        }
        fn announce(&self, _: &BoundVip, count: u32) -> Result<u32, NetError> {
            assert_eq!(count, 0, "a route's VIP is never announced by ARP");
            Ok(0)
        }
    }
}

#[cfg(test)]
mod test {
    use std::sync::Arc;

    use super::fake::Kernel;
    use super::*;

    fn vip(last: u8) -> RouteTarget {
        RouteTarget {
            addr: std::net::Ipv4Addr::new(10, 99, 0, last).into(),
            ifindex: 1,
        }
    }

    fn set(kernel: &Arc<Kernel>) -> RouteSet<Arc<Kernel>> {
        RouteSet::new("WEB", Arc::clone(kernel), 200, vec![vip(10), vip(11)])
    }

    fn routes(kernel: &Kernel) -> Vec<(IpAddr, u32, u32)> {
        kernel.routes()
    }

    #[test]
    fn metric_falls_as_priority_rises() {
        assert_eq!(metric(150), 106);
        assert_eq!(metric(255), 1);
        assert_eq!(metric(1), 255);
    }

    #[tokio::test]
    async fn a_new_metric_is_added_before_the_old_is_deleted() {
        let kernel = Arc::new(Kernel::default());
        let mut s = set(&kernel);
        s.announce(106).await;
        s.announce(166).await;
        let log = kernel.log.lock().unwrap().clone();
        assert_eq!(
            log,
            [
                "add 10.99.0.10 106",
                "add 10.99.0.11 106",
                "add 10.99.0.10 166",
                "del 10.99.0.10 106",
                "add 10.99.0.11 166",
                "del 10.99.0.11 106",
            ]
        );
        assert!(s.announced_at(166));
        assert_eq!(routes(&kernel).len(), 2);
        // The same metric again changes nothing.
        s.announce(166).await;
        assert_eq!(kernel.log.lock().unwrap().len(), 6);
    }

    #[tokio::test]
    async fn an_adopted_route_is_moved_make_before_break_and_others_are_not_adopted() {
        let kernel = Arc::new(Kernel::default());
        kernel
            .routes
            .lock()
            .unwrap()
            .insert((vip(10).addr, 200, 50));
        let mut s = set(&kernel);
        s.adopt_route(vip(10).addr, 50);
        s.adopt_route("10.99.0.99".parse().unwrap(), 50);
        assert_eq!(s.routes().len(), 1);
        s.announce(100).await;
        let log = kernel.log.lock().unwrap().clone();
        assert_eq!(log[..2], ["add 10.99.0.10 100", "del 10.99.0.10 50"]);
        assert!(s.announced_at(100));
    }

    #[tokio::test]
    async fn an_update_withdraws_gone_vips_and_a_new_table_moves_every_route() {
        let kernel = Arc::new(Kernel::default());
        let mut s = set(&kernel);
        s.announce(100).await;
        s.update(vec![vip(10), vip(12)], 200).await;
        assert_eq!(routes(&kernel), [(vip(10).addr, 200, 100)]);
        s.announce(100).await;
        assert_eq!(routes(&kernel).len(), 2);
        // The same VIP on a re-created interface: its route goes and comes back there.
        let moved = RouteTarget {
            ifindex: 7,
            ..vip(12)
        };
        s.update(vec![vip(10), moved], 200).await;
        assert_eq!(routes(&kernel), [(vip(10).addr, 200, 100)]);
        s.announce(100).await;
        s.update(vec![vip(10), moved], 300).await;
        assert!(routes(&kernel).is_empty());
        s.withdraw().await;
        s.announce(90).await;
        assert!(routes(&kernel).iter().all(|&(_, t, m)| (t, m) == (300, 90)));
        assert_eq!(s.table(), 300);
    }

    #[tokio::test]
    async fn a_route_deleted_by_someone_else_is_announced_again_after_a_resync() {
        let kernel = Arc::new(Kernel::default());
        let mut s = set(&kernel);
        s.announce(100).await;
        assert!(!s.resync().await, "all there");
        kernel.routes.lock().unwrap().clear();
        assert!(s.resync().await);
        s.announce(100).await;
        assert_eq!(routes(&kernel).len(), 2);
    }

    #[tokio::test]
    async fn a_refused_add_is_retried_at_the_next_announce() {
        let kernel = Arc::new(Kernel::default());
        let mut s = set(&kernel);
        *kernel.refuse_adds.lock().unwrap() = true;
        s.announce(100).await;
        assert!(!s.announced_at(100) && s.routes().is_empty());
        *kernel.refuse_adds.lock().unwrap() = false;
        s.announce(100).await;
        assert!(s.announced_at(100));
        assert_eq!(routes(&kernel).len(), 2);
    }
}
