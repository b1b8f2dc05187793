//! The route announcer: a VIP made reachable through a routing daemon instead of ARP. The
//! address is held on the route interface (lo) so the host accepts and answers its traffic;
//! the host route in vipd's table is the signal the routing daemon (BIRD) exports over BGP,
//! its metric the MED. Routes go through a [`RouteDoor`] and addresses through a [`VipSet`],
//! so the logic is tested with fakes; only addresses this set added are removed.
//!
//! A metric change is make-before-break: the route with the new metric is added before the
//! old one is deleted (in the kernel the metric is part of an IPv4 route's key, so a replace
//! would leave both), and the VIP is never without a route in between.

use std::collections::BTreeMap;
use std::net::IpAddr;

use tracing::{info, warn};

use super::set::{Announcer, VipSet};
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
}

/// Where routes go: the table and the interface they point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteTarget {
    /// The routing table (never 253..=255).
    pub table: u32,
    /// The route interface's index.
    pub ifindex: u32,
}

/// The routes of one instance, and the addresses it holds for them.
#[derive(Debug)]
pub struct RouteSet<A, R> {
    /// The instance, for logs.
    name: String,
    addresses: VipSet<A>,
    door: R,
    target: RouteTarget,
    /// Each VIP's route as it is in the kernel now: address → metric. Kept per VIP so that a
    /// failed add or delete is retried by the next [`Self::announce`] or [`Self::withdraw`].
    routes: BTreeMap<IpAddr, u32>,
}

impl<A: Announcer, R: RouteDoor> RouteSet<A, R> {
    /// The routes of instance `name` for the addresses of `addresses`, none announced yet.
    pub fn new(name: &str, addresses: VipSet<A>, door: R, target: RouteTarget) -> Self {
        Self {
            name: name.to_string(),
            addresses,
            door,
            target,
            routes: BTreeMap::new(),
        }
    }

    /// Takes `addr`'s route with `metric`, left in the table by an earlier run, as this set's
    /// own: the next [`Self::announce`] moves it make-before-break, [`Self::withdraw`]
    /// deletes it.
    pub fn adopt_route(&mut self, addr: IpAddr, metric: u32) {
        if self.addresses.addrs().contains(&addr) {
            self.routes.insert(addr, metric);
        }
    }

    /// Each VIP's route in the kernel now, as this set knows it.
    pub fn routes(&self) -> &BTreeMap<IpAddr, u32> {
        &self.routes
    }

    /// The VIPs.
    pub fn addrs(&self) -> &[IpAddr] {
        self.addresses.addrs()
    }

    /// True when every VIP has its route with `metric`.
    pub fn announced_at(&self, metric: u32) -> bool {
        (self.addrs().iter()).all(|a| self.routes.get(a) == Some(&metric))
    }

    /// Puts every VIP's address on the route interface.
    pub async fn hold(&mut self) {
        self.addresses.hold().await;
    }

    /// Takes off every address this set added.
    pub async fn release(&mut self) {
        self.addresses.release().await;
    }

    /// Every VIP's route with `metric`: added where missing; where it has another metric, the
    /// new route is added first and the old one deleted after.
    pub async fn announce(&mut self, metric: u32) {
        let RouteTarget { table, ifindex } = self.target;
        for addr in self.addresses.addrs().to_vec() {
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

    /// A reload changed the VIPs or where routes go: the routes of VIPs no longer listed, and
    /// every route when the table or interface changed, are deleted; the addresses follow the
    /// list (new ones added, gone ones removed if ours). The next [`Self::announce`] puts the
    /// missing routes in.
    pub async fn update(&mut self, vips: Vec<super::BoundVip>, target: RouteTarget) {
        let moved = target != self.target;
        let table = self.target.table;
        let listed: Vec<IpAddr> = vips.iter().map(|v| v.addr).collect();
        let gone: Vec<(IpAddr, u32)> = (self.routes.iter())
            .filter(|(a, _)| moved || !listed.contains(a))
            .map(|(a, m)| (*a, *m))
            .collect();
        for (addr, metric) in gone {
            match self.door.del_route(addr, table, metric).await {
                Ok(_) => {
                    self.routes.remove(&addr);
                }
                Err(e) => warn!(
                    "{}: cannot withdraw {addr} from table {table} (metric {metric}): {e}",
                    self.name
                ),
            }
        }
        if moved {
            // What could not be deleted from the old table is not this set's to track now.
            self.routes.clear();
        }
        self.target = target;
        self.addresses.update(vips, true, 0).await;
    }

    /// Deletes every VIP's route; the addresses stay.
    pub async fn withdraw(&mut self) {
        let table = self.target.table;
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

#[cfg(test)]
mod test {
    use std::collections::HashSet;
    use std::sync::Mutex;

    use super::*;
    use crate::vip::BoundVip;

    /// A pretend kernel: addresses, routes (address, table, metric), and every route change
    /// in order.
    #[derive(Default)]
    struct Kernel {
        addresses: Mutex<HashSet<IpAddr>>,
        routes: Mutex<HashSet<(IpAddr, u32, u32)>>,
        log: Mutex<Vec<String>>,
        refuse_adds: Mutex<bool>,
    }

    impl Announcer for &Kernel {
        async fn add(&self, vip: &BoundVip) -> Result<bool, NetError> {
            Ok(self.addresses.lock().unwrap().insert(vip.addr))
        }
        async fn remove(&self, vip: &BoundVip) -> Result<(), NetError> {
            self.addresses.lock().unwrap().remove(&vip.addr);
            Ok(())
        }
        fn announce(&self, _: &BoundVip, _: u32) -> Result<u32, NetError> {
            panic!("a route instance never sends ARP");
        }
    }

    impl RouteDoor for &Kernel {
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
    }

    fn vip(last: u8) -> BoundVip {
        BoundVip {
            addr: std::net::Ipv4Addr::new(10, 99, 0, last).into(),
            prefix_len: 32,
            label: None,
            ifindex: 1,
            dev: "lo".into(),
            mac: [0; 6],
            excluded: false,
        }
    }

    fn set(kernel: &Kernel) -> RouteSet<&Kernel, &Kernel> {
        let vips = VipSet::new("WEB", kernel, vec![vip(10), vip(11)]);
        let target = RouteTarget {
            table: 200,
            ifindex: 1,
        };
        RouteSet::new("WEB", vips, kernel, target)
    }

    fn routes(kernel: &Kernel) -> Vec<(IpAddr, u32, u32)> {
        let mut r: Vec<_> = kernel.routes.lock().unwrap().iter().copied().collect();
        r.sort_unstable();
        r
    }

    #[test]
    fn metric_falls_as_priority_rises() {
        assert_eq!(metric(150), 106);
        assert_eq!(metric(255), 1);
        assert_eq!(metric(1), 255);
    }

    #[tokio::test]
    async fn a_new_metric_is_added_before_the_old_is_deleted() {
        let kernel = Kernel::default();
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
    async fn withdraw_keeps_the_addresses_and_release_removes_only_ours() {
        let kernel = Kernel::default();
        kernel.addresses.lock().unwrap().insert(vip(11).addr);
        let mut s = set(&kernel);
        s.hold().await;
        s.announce(100).await;
        s.withdraw().await;
        assert!(routes(&kernel).is_empty());
        assert!(s.routes().is_empty());
        assert_eq!(kernel.addresses.lock().unwrap().len(), 2, "addresses stay");
        s.release().await;
        let left: Vec<IpAddr> = kernel.addresses.lock().unwrap().iter().copied().collect();
        assert_eq!(
            left,
            [vip(11).addr],
            "the address that was there before stays"
        );
    }

    #[tokio::test]
    async fn an_adopted_route_is_moved_make_before_break_and_others_are_not_adopted() {
        let kernel = Kernel::default();
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
        let kernel = Kernel::default();
        let mut s = set(&kernel);
        s.hold().await;
        s.announce(100).await;
        let same = RouteTarget {
            table: 200,
            ifindex: 1,
        };
        s.update(vec![vip(10), vip(12)], same).await;
        assert_eq!(routes(&kernel), [(vip(10).addr, 200, 100)]);
        s.announce(100).await;
        assert_eq!(routes(&kernel).len(), 2);
        let addresses = kernel.addresses.lock().unwrap().clone();
        assert!(addresses.contains(&vip(12).addr) && !addresses.contains(&vip(11).addr));
        let other = RouteTarget {
            table: 300,
            ifindex: 1,
        };
        s.update(vec![vip(10), vip(12)], other).await;
        assert!(routes(&kernel).is_empty());
        s.announce(90).await;
        assert!(routes(&kernel).iter().all(|&(_, t, m)| (t, m) == (300, 90)));
    }

    #[tokio::test]
    async fn a_refused_add_is_retried_at_the_next_announce() {
        let kernel = Kernel::default();
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
