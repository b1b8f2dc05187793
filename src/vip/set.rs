//! The VIPs of one instance on this host: holding them (on their interfaces), letting them
//! go, announcing them and applying a new list, through an [`Announcer`]. The bookkeeping
//! that matters on a bad day lives here and is tested without a kernel: an address this
//! instance did not add (an administrator's, already there) is never removed.

use std::collections::HashSet;
use std::future::Future;
use std::net::IpAddr;

use tracing::{debug, info, warn};

use crate::net::NetError;

/// A virtual address resolved to the interface it goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundVip {
    /// The address.
    pub addr: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// Its label, if any.
    pub label: Option<String>,
    /// Index of the interface it goes on.
    pub ifindex: u32,
    /// Name of that interface.
    pub dev: String,
    /// That interface's MAC address: announcements come from it.
    pub mac: [u8; 6],
    /// From `virtual_ipaddress_excluded`: held and announced with the others, never listed
    /// in adverts (so it may be of the other family).
    pub excluded: bool,
}

impl BoundVip {
    /// The same address on the same interface (label aside).
    fn same_place(&self, other: &BoundVip) -> bool {
        self.addr == other.addr
            && self.prefix_len == other.prefix_len
            && self.ifindex == other.ifindex
    }
}

/// How a VIP is held and made reachable on this host: netlink, and gratuitous ARP or
/// neighbour advertisements ([`super::KernelAnnouncer`]); a test's fake records what it is
/// asked.
pub trait Announcer {
    /// Puts `vip` on its interface: `Ok(true)` when this call added it, `Ok(false)` when it
    /// was there already (then it is not ours to remove).
    fn add(&self, vip: &BoundVip) -> impl Future<Output = Result<bool, NetError>> + Send;
    /// Takes `vip` off its interface.
    fn remove(&self, vip: &BoundVip) -> impl Future<Output = Result<(), NetError>> + Send;
    /// Tells the neighbours that `vip` is here, `count` times; how many went out.
    fn announce(&self, vip: &BoundVip, count: u32) -> Result<u32, NetError>;
}

/// The VIPs of one instance and which of them it added.
#[derive(Debug)]
pub struct VipSet<A> {
    /// The instance, for logs.
    name: String,
    announcer: A,
    vips: Vec<BoundVip>,
    /// The addresses adverts list (the excluded ones left out), kept with them: every advert
    /// sent or received needs the list.
    addrs: Vec<IpAddr>,
    /// The (interface, address) pairs this set added: only these are ever removed.
    ours: HashSet<(u32, IpAddr)>,
}

/// What [`VipSet::update`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Update {
    /// VIPs new in the list.
    pub added: usize,
    /// VIPs gone from the list.
    pub removed: usize,
    /// Announcements sent for the new ones (only when holding).
    pub announced: u64,
}

/// The addresses of `vips` that adverts list.
fn advertised(vips: &[BoundVip]) -> Vec<IpAddr> {
    vips.iter()
        .filter(|v| !v.excluded)
        .map(|v| v.addr)
        .collect()
}

impl<A: Announcer> VipSet<A> {
    /// The VIPs of instance `name`, not held yet.
    pub fn new(name: &str, announcer: A, vips: Vec<BoundVip>) -> Self {
        Self {
            name: name.to_string(),
            announcer,
            addrs: advertised(&vips),
            vips,
            ours: HashSet::new(),
        }
    }

    /// The VIPs, in config order.
    pub fn vips(&self) -> &[BoundVip] {
        &self.vips
    }

    /// The addresses adverts carry: every VIP but the excluded ones.
    pub fn addrs(&self) -> &[IpAddr] {
        &self.addrs
    }

    /// Replaces the list (the addresses follow).
    fn set(&mut self, vips: Vec<BoundVip>) {
        self.addrs = advertised(&vips);
        self.vips = vips;
    }

    /// The VIPs this set added (and so would remove), in config order.
    pub fn ours(&self) -> impl Iterator<Item = &BoundVip> {
        self.vips
            .iter()
            .filter(|v| self.ours.contains(&(v.ifindex, v.addr)))
    }

    /// Takes every VIP as added by this set: they are on their interfaces, left there by our
    /// previous run (the caller checked), and are ours to remove.
    pub fn adopt(&mut self) {
        self.ours = self.vips.iter().map(|v| (v.ifindex, v.addr)).collect();
    }

    /// Takes the VIP `addr` as added by this set, when it is one (a route instance's address
    /// whose route an earlier run left: that run added the address too).
    pub fn adopt_addr(&mut self, addr: IpAddr) {
        if let Some(v) = self.vips.iter().find(|v| v.addr == addr) {
            self.ours.insert((v.ifindex, v.addr));
        }
    }

    /// The announcer, for what only it knows.
    pub fn announcer(&self) -> &A {
        &self.announcer
    }

    /// Puts every VIP on its interface.
    pub async fn hold(&mut self) {
        let vips = self.vips.clone();
        self.add(&vips).await;
    }

    /// Takes off every VIP this set added; one that was there before stays.
    pub async fn release(&mut self) {
        let vips = self.vips.clone();
        self.remove(&vips).await;
    }

    /// Announces every VIP `count` times; returns how many announcements went out.
    pub fn announce(&self, count: u32) -> u64 {
        let mut sent = 0;
        for vip in &self.vips {
            match self.announcer.announce(vip, count) {
                Ok(n) => sent += u64::from(n),
                Err(e) => debug!("{}: announcing {} failed: {e}", self.name, vip.addr),
            }
        }
        sent
    }

    /// A reload changed the list: when `holding`, the new VIPs are added and announced
    /// `count` times and the gone ones removed (if ours); the others are not touched.
    pub async fn update(&mut self, new: Vec<BoundVip>, holding: bool, count: u32) -> Update {
        let removed: Vec<BoundVip> = self
            .vips
            .iter()
            .filter(|old| !new.iter().any(|n| n.same_place(old)))
            .cloned()
            .collect();
        let added: Vec<BoundVip> = new
            .iter()
            .filter(|n| !self.vips.iter().any(|old| old.same_place(n)))
            .cloned()
            .collect();
        let mut announced = 0;
        if holding {
            self.remove(&removed).await;
            self.add(&added).await;
            // No count, no announcer call: it would open a packet socket for nothing.
            for vip in added.iter().filter(|_| count > 0) {
                announced += u64::from(self.announcer.announce(vip, count).unwrap_or(0));
            }
        }
        self.set(new);
        Update {
            added: added.len(),
            removed: removed.len(),
            announced,
        }
    }

    /// The interface was re-created: its addresses went with it, and the VIPs now go on the
    /// new one.
    pub fn rebind(&mut self, vips: Vec<BoundVip>) {
        self.ours.clear();
        self.set(vips);
    }

    async fn add(&mut self, vips: &[BoundVip]) {
        for vip in vips {
            let key = (vip.ifindex, vip.addr);
            match self.announcer.add(vip).await {
                Ok(true) => {
                    self.ours.insert(key);
                }
                Ok(false) if !self.ours.contains(&key) => info!(
                    "{}: {}/{} is already on {} and not ours: it will be left there",
                    self.name, vip.addr, vip.prefix_len, vip.dev
                ),
                Ok(false) => {}
                Err(e) => warn!(
                    "{}: could not add {}/{} to {}: {e}",
                    self.name, vip.addr, vip.prefix_len, vip.dev
                ),
            }
        }
    }

    async fn remove(&mut self, vips: &[BoundVip]) {
        for vip in vips {
            if !self.ours.remove(&(vip.ifindex, vip.addr)) {
                continue;
            }
            if let Err(e) = self.announcer.remove(vip).await {
                warn!(
                    "{}: could not remove {}/{} from {}: {e}",
                    self.name, vip.addr, vip.prefix_len, vip.dev
                );
            }
        }
    }
}

#[cfg(test)]
mod test {
    use std::sync::Mutex;

    use super::*;

    /// Addresses on a pretend host, and what was announced.
    #[derive(Default)]
    struct Host {
        present: Mutex<HashSet<IpAddr>>,
        announced: Mutex<Vec<(IpAddr, u32)>>,
    }

    impl Announcer for &Host {
        async fn add(&self, vip: &BoundVip) -> Result<bool, NetError> {
            Ok(self.present.lock().unwrap().insert(vip.addr))
        }
        async fn remove(&self, vip: &BoundVip) -> Result<(), NetError> {
            self.present.lock().unwrap().remove(&vip.addr);
            Ok(())
        }
        fn announce(&self, vip: &BoundVip, count: u32) -> Result<u32, NetError> {
            self.announced.lock().unwrap().push((vip.addr, count));
            Ok(count)
        }
    }

    fn vip(last: u8) -> BoundVip {
        BoundVip {
            addr: std::net::Ipv4Addr::new(10, 0, 0, last).into(),
            prefix_len: 32,
            label: None,
            ifindex: 2,
            dev: "eth0".into(),
            mac: [2, 0, 0, 0, 0, 1],
            excluded: false,
        }
    }

    fn present(host: &Host) -> Vec<u8> {
        let mut v: Vec<u8> = host
            .present
            .lock()
            .unwrap()
            .iter()
            .map(|a| match a {
                IpAddr::V4(a) => a.octets()[3],
                IpAddr::V6(a) => a.octets()[15],
            })
            .collect();
        v.sort_unstable();
        v
    }

    #[tokio::test]
    async fn an_address_that_was_there_is_not_removed() {
        let host = Host::default();
        host.present.lock().unwrap().insert(vip(101).addr);
        let mut set = VipSet::new("VI_1", &host, vec![vip(100), vip(101)]);
        set.hold().await;
        assert_eq!(present(&host), [100, 101]);
        set.release().await;
        assert_eq!(present(&host), [101], "the administrator's address stays");
        // Held and released again: still only what it added goes.
        set.hold().await;
        set.release().await;
        assert_eq!(present(&host), [101]);
    }

    #[tokio::test]
    async fn update_touches_only_the_difference_and_announces_the_new() {
        let host = Host::default();
        let mut set = VipSet::new("VI_1", &host, vec![vip(100), vip(101)]);
        set.hold().await;
        let done = set.update(vec![vip(100), vip(102)], true, 5).await;
        assert_eq!(
            done,
            Update {
                added: 1,
                removed: 1,
                announced: 5
            }
        );
        assert_eq!(present(&host), [100, 102]);
        assert_eq!(*host.announced.lock().unwrap(), [(vip(102).addr, 5)]);
        assert_eq!(set.addrs(), [vip(100).addr, vip(102).addr]);
    }

    #[tokio::test]
    async fn excluded_vips_are_held_and_announced_but_not_advertised() {
        let host = Host::default();
        let excluded = BoundVip {
            excluded: true,
            ..vip(105)
        };
        let mut set = VipSet::new("VI_1", &host, vec![vip(100), excluded.clone()]);
        assert_eq!(set.addrs(), [vip(100).addr]);
        set.hold().await;
        assert_eq!(present(&host), [100, 105]);
        assert_eq!(set.announce(3), 6);
        set.update(vec![excluded, vip(101)], true, 1).await;
        assert_eq!(set.addrs(), [vip(101).addr]);
        set.release().await;
        assert!(present(&host).is_empty());
    }

    #[tokio::test]
    async fn a_backup_updates_its_list_without_touching_the_host() {
        let host = Host::default();
        let mut set = VipSet::new("VI_1", &host, vec![vip(100)]);
        let done = set.update(vec![vip(103)], false, 5).await;
        assert_eq!((done.added, done.removed, done.announced), (1, 1, 0));
        assert!(present(&host).is_empty());
        assert_eq!(set.addrs(), [vip(103).addr]);
    }

    #[tokio::test]
    async fn after_a_rebind_nothing_is_ours_until_added_again() {
        let host = Host::default();
        let mut set = VipSet::new("VI_1", &host, vec![vip(100)]);
        set.hold().await;
        // The interface went, with its addresses; someone put the VIP on the new one.
        let mut moved = vip(100);
        moved.ifindex = 7;
        set.rebind(vec![moved]);
        set.release().await;
        assert_eq!(present(&host), [100], "not ours on the new interface");
    }

    #[tokio::test]
    async fn announce_counts_what_went_out() {
        let host = Host::default();
        let set = VipSet::new("VI_1", &host, vec![vip(100), vip(101)]);
        assert_eq!(set.announce(5), 10);
    }
}
