//! The kernel doors an instance goes through, behind one trait so that a test can stand in
//! for them: the VRRP socket of either family (opened again when the source address
//! changes), the VIP announcer, the host routes of `route_table` and the ARP watch.
//! [`Kernel`] is the real set.

use std::future::Future;
use std::net::IpAddr;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::net::NetError;
use crate::net::addr::Netlink;
use crate::net::arp::{ArpClaim, ArpWatch};
use crate::net::socket::{Inbound, Transport, VrrpSocket};
use crate::vip::{Announcer, KernelAnnouncer, RouteDoor};

/// Where adverts go out and come in.
pub trait AdvertSocket: Send + Sync + 'static {
    /// Sends one VRRP message to every destination: `message(dst)` builds the one for `dst`
    /// (a VRRPv3 checksum covers the destination address).
    fn send(&self, message: impl Fn(IpAddr) -> Vec<u8>) -> Result<(), NetError>;
    /// Receives one datagram into `buf`: an IPv4 datagram with its header, or the VRRP
    /// message of an IPv6 packet with its addresses and hop limit beside it; cancel-safe.
    fn recv(&self, buf: &mut [u8]) -> impl Future<Output = Result<Inbound, NetError>> + Send;
}

impl AdvertSocket for VrrpSocket {
    fn send(&self, message: impl Fn(IpAddr) -> Vec<u8>) -> Result<(), NetError> {
        VrrpSocket::send(self, message)
    }

    fn recv(&self, buf: &mut [u8]) -> impl Future<Output = Result<Inbound, NetError>> + Send {
        VrrpSocket::recv(self, buf)
    }
}

/// Everything an instance asks of the kernel.
pub trait Doors: Send + 'static {
    /// The socket adverts use.
    type Socket: AdvertSocket;
    /// How VIPs are held and announced.
    type Announcer: Announcer + Send + Sync + 'static;
    /// Where the host routes of `route_table` go.
    type Routes: RouteDoor + Send + Sync + 'static;

    /// Opens the VRRP socket on `ifname` (index `ifindex`) sending from `src`.
    fn open_socket(
        &self,
        ifname: &str,
        ifindex: u32,
        src: IpAddr,
        transport: &Transport,
    ) -> Result<Self::Socket, NetError>;

    /// The announcer for this instance's VIPs.
    fn announcer(&self) -> Self::Announcer;

    /// The door of this instance's host routes (`route_table`).
    fn routes(&self) -> Self::Routes;

    /// Reports other hosts' ARP claims on interface `ifindex` (whose MAC is `own_mac`) to
    /// `claims` until the task is aborted or `claims` is closed.
    fn watch_arp(
        &self,
        ifindex: u32,
        own_mac: [u8; 6],
        claims: mpsc::Sender<ArpClaim>,
    ) -> Result<JoinHandle<()>, NetError>;
}

/// The real doors: raw sockets, netlink, AF_PACKET.
#[derive(Debug, Clone)]
pub struct Kernel {
    netlink: Netlink,
}

impl Kernel {
    /// Doors that change addresses through `netlink`.
    pub fn new(netlink: Netlink) -> Self {
        Self { netlink }
    }
}

impl Doors for Kernel {
    type Socket = VrrpSocket;
    type Announcer = KernelAnnouncer;
    type Routes = Netlink;

    fn open_socket(
        &self,
        ifname: &str,
        ifindex: u32,
        src: IpAddr,
        transport: &Transport,
    ) -> Result<VrrpSocket, NetError> {
        VrrpSocket::open(ifname, ifindex, src, transport.clone())
    }

    fn announcer(&self) -> KernelAnnouncer {
        KernelAnnouncer::new(self.netlink.clone())
    }

    fn routes(&self) -> Netlink {
        self.netlink.clone()
    }

    fn watch_arp(
        &self,
        ifindex: u32,
        own_mac: [u8; 6],
        claims: mpsc::Sender<ArpClaim>,
    ) -> Result<JoinHandle<()>, NetError> {
        let watch = ArpWatch::open(ifindex, &[own_mac])?;
        Ok(tokio::spawn(async move {
            loop {
                match watch.next().await {
                    Ok(claim) => match claims.try_send(claim) {
                        // Full: a burst is being handled already.
                        Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                        Err(mpsc::error::TrySendError::Closed(_)) => return,
                    },
                    Err(e) => {
                        warn!("ARP watch on ifindex {ifindex} failed: {e}");
                        return;
                    }
                }
            }
        }))
    }
}
