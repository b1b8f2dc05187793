//! The announcer of today: a VIP is held with rtnetlink and announced with gratuitous ARPs
//! from its interface's MAC, byte for byte as keepalived sends them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::set::{Announcer, BoundVip};
use crate::net::NetError;
use crate::net::addr::Netlink;
use crate::net::arp::GarpSender;

/// One gratuitous-ARP sender per (interface index, MAC).
type Senders = HashMap<(u32, [u8; 6]), Arc<GarpSender>>;

/// Holds VIPs through netlink and announces them by gratuitous ARP; the ARP sockets are
/// opened on first use, one per interface and MAC.
#[derive(Debug)]
pub struct ArpAnnouncer {
    netlink: Netlink,
    senders: Mutex<Senders>,
}

impl ArpAnnouncer {
    /// An announcer over `netlink`.
    pub fn new(netlink: Netlink) -> Self {
        Self {
            netlink,
            senders: Mutex::new(HashMap::new()),
        }
    }

    fn sender(&self, vip: &BoundVip) -> Result<Arc<GarpSender>, NetError> {
        let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = senders.get(&(vip.ifindex, vip.mac)) {
            return Ok(Arc::clone(s));
        }
        let sender = Arc::new(GarpSender::open(vip.ifindex, vip.mac)?);
        senders.insert((vip.ifindex, vip.mac), Arc::clone(&sender));
        Ok(sender)
    }
}

impl Announcer for ArpAnnouncer {
    async fn add(&self, vip: &BoundVip) -> Result<bool, NetError> {
        self.netlink
            .add_address(vip.ifindex, vip.addr, vip.prefix_len, vip.label.as_deref())
            .await
    }

    async fn remove(&self, vip: &BoundVip) -> Result<(), NetError> {
        self.netlink
            .del_address(vip.ifindex, vip.addr, vip.prefix_len)
            .await
            .map(|_| ())
    }

    /// Stops at the first frame the kernel refuses; what went out before it counts. IPv4
    /// only: IPv6 VIPs are announced by neighbour advertisements, which come with VRRPv3
    /// (until then the config refuses IPv6 VIPs).
    fn announce(&self, vip: &BoundVip, count: u32) -> Result<u32, NetError> {
        let IpAddr::V4(addr) = vip.addr else {
            return Err(NetError::Invalid {
                what: "gratuitous ARP",
                target: vip.dev.clone(),
                why: format!("{} is IPv6: ARP announces IPv4 addresses only", vip.addr),
            });
        };
        let sender = self.sender(vip)?;
        for sent in 0..count {
            if let Err(e) = sender.send(addr) {
                return if sent == 0 { Err(e) } else { Ok(sent) };
            }
        }
        Ok(count)
    }
}
