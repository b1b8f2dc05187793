//! The kernel's announcer: a VIP is held with rtnetlink (an IPv6 one without duplicate
//! address detection) and announced from its interface's MAC, byte for byte as keepalived
//! does: an IPv4 VIP by gratuitous ARP, an IPv6 one by unsolicited neighbour advertisement.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::set::{Announcer, BoundVip};
use crate::net::NetError;
use crate::net::addr::Netlink;
use crate::net::arp::GarpSender;
use crate::net::nd::{self, NaSender};

/// One sender per (interface index, MAC).
type Senders<S> = Mutex<HashMap<(u32, [u8; 6]), Arc<S>>>;

/// Holds VIPs through netlink and announces them by gratuitous ARP (IPv4) or neighbour
/// advertisement (IPv6); the packet sockets are opened on first use, one per interface, MAC
/// and family.
#[derive(Debug)]
pub struct KernelAnnouncer {
    netlink: Netlink,
    arp: Senders<GarpSender>,
    nd: Senders<NaSender>,
}

impl KernelAnnouncer {
    /// An announcer over `netlink`.
    pub fn new(netlink: Netlink) -> Self {
        Self {
            netlink,
            arp: Mutex::new(HashMap::new()),
            nd: Mutex::new(HashMap::new()),
        }
    }
}

/// The sender of `senders` for `vip`'s interface and MAC, opened by `open` the first time.
fn sender<S>(
    senders: &Senders<S>,
    vip: &BoundVip,
    open: impl FnOnce(u32, [u8; 6]) -> Result<S, NetError>,
) -> Result<Arc<S>, NetError> {
    let mut senders = senders.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = senders.get(&(vip.ifindex, vip.mac)) {
        return Ok(Arc::clone(s));
    }
    let sender = Arc::new(open(vip.ifindex, vip.mac)?);
    senders.insert((vip.ifindex, vip.mac), Arc::clone(&sender));
    Ok(sender)
}

/// Sends `count` frames with `send`; stops at the first the kernel refuses, and what went
/// out before it counts.
fn repeat(count: u32, send: impl Fn() -> Result<(), NetError>) -> Result<u32, NetError> {
    for sent in 0..count {
        if let Err(e) = send() {
            return if sent == 0 { Err(e) } else { Ok(sent) };
        }
    }
    Ok(count)
}

impl Announcer for KernelAnnouncer {
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

    fn announce(&self, vip: &BoundVip, count: u32) -> Result<u32, NetError> {
        match vip.addr {
            IpAddr::V4(addr) => {
                let sender = sender(&self.arp, vip, GarpSender::open)?;
                repeat(count, || sender.send(addr))
            }
            IpAddr::V6(addr) => {
                let sender = sender(&self.nd, vip, NaSender::open)?;
                let router = nd::forwards_ipv6(&vip.dev);
                repeat(count, || sender.send(addr, router))
            }
        }
    }
}
