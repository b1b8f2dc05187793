//! rtnetlink: look up links, list/add/remove IPv4 and IPv6 addresses (the VIPs), find the
//! addresses adverts go from, watch links and addresses.
//!
//! Two kinds of netlink socket, each with its connection future spawned on the tokio runtime
//! that opened it (rtnetlink's `Connection` must be polled or every request hangs):
//! - [`Netlink`]: request/response (`RTM_GETLINK`, `RTM_GETADDR`, `RTM_NEWADDR`,
//!   `RTM_DELADDR`). Cheap to clone; the connection task ends when the last clone drops.
//! - [`LinkWatcher`]: a subscription to the `RTNLGRP_LINK`, `RTNLGRP_IPV4_IFADDR` and
//!   `RTNLGRP_IPV6_IFADDR` multicast groups, yielding every link change
//!   (`RTM_NEWLINK`/`RTM_DELLINK`) and every address added or removed that the kernel
//!   broadcasts.
//!
//! IPv6 VIPs are added with `IFA_F_NODAD`, as keepalived adds them: without it the address
//! stays tentative for the second or more duplicate address detection takes, and cannot be
//! used (or bound) until then, which would make every takeover that much longer.
//!
//! Both work in the network namespace of the thread that opened them; they keep using it when
//! the runtime moves between threads.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::{StreamExt, TryStreamExt};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::sys::SocketAddr;
use rtnetlink::{AddressMessageBuilder, Handle, MulticastGroup};

use super::{NetError, require_runtime};

/// What we need to know about a network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Hardware address; all zeros when the link has none of 6 bytes.
    pub mac: [u8; 6],
    /// Administratively up (`IFF_UP`) and with carrier (`IFF_LOWER_UP`).
    pub up: bool,
}

/// One IPv4 address on an interface, as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4AddrInfo {
    /// The interface's own address (`IFA_LOCAL`).
    pub addr: Ipv4Addr,
    /// Prefix length.
    pub prefix_len: u8,
    /// `IFA_F_SECONDARY`: another address on the interface already covers this subnet.
    pub secondary: bool,
    /// `IFA_LABEL`, e.g. `eth0` or `eth0:vip`.
    pub label: Option<String>,
}

/// One IPv6 address on an interface, as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6AddrInfo {
    /// The address.
    pub addr: Ipv6Addr,
    /// Prefix length.
    pub prefix_len: u8,
    /// `IFA_F_TENTATIVE`: duplicate address detection has not finished; the address cannot
    /// be used as a source yet.
    pub tentative: bool,
    /// `IFA_F_DADFAILED`: another host has it; it will never be usable.
    pub dad_failed: bool,
}

impl Ipv6AddrInfo {
    /// Usable as a source address: neither tentative nor failed.
    pub fn usable(&self) -> bool {
        !self.tentative && !self.dad_failed
    }
}

/// A request/response rtnetlink connection.
#[derive(Debug, Clone)]
pub struct Netlink {
    /// rtnetlink's handle; its connection future runs as a spawned task.
    pub(super) handle: Handle,
    /// A second connection with `NETLINK_GET_STRICT_CHK`, for route dumps the kernel
    /// filters by table and protocol (`net::route`): a host with a full BGP table in `main`
    /// would otherwise send every route of it for each look at vipd's few.
    pub(super) strict: Handle,
}

impl Netlink {
    /// Opens a NETLINK_ROUTE socket and spawns its connection task.
    ///
    /// Must be called inside a tokio runtime; the connection lives on that runtime.
    pub fn connect() -> Result<Netlink, NetError> {
        require_runtime("Netlink::connect")?;
        let (conn, handle, _unsolicited) =
            rtnetlink::new_connection().map_err(|source| NetError::NetlinkOpen {
                what: "requests",
                source,
            })?;
        tokio::spawn(conn);
        // Kernels before 4.20 have no strict checking: their dumps are filtered here instead.
        let strict = match rtnetlink::new_connection_with_strict_check() {
            Ok((conn, strict, _unsolicited)) => {
                tokio::spawn(conn);
                strict
            }
            Err(e) => {
                tracing::debug!("netlink: no strict checking ({e}): route dumps unfiltered");
                handle.clone()
            }
        };
        Ok(Netlink { handle, strict })
    }

    /// Looks up a link by name. A missing interface is [`NetError::NoSuchInterface`].
    pub async fn link_by_name(&self, name: &str) -> Result<LinkInfo, NetError> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(NetError::NoSuchInterface(name.to_owned()));
        }
        let mut links = self.handle.link().get().match_name(name).execute();
        match links.try_next().await {
            Ok(Some(msg)) => Ok(link_info(&msg, false)),
            Ok(None) => Err(NetError::NoSuchInterface(name.to_owned())),
            Err(e) => {
                let e = to_io(e);
                if e.raw_os_error() == Some(libc::ENODEV) {
                    Err(NetError::NoSuchInterface(name.to_owned()))
                } else {
                    Err(nl_err("RTM_GETLINK", name, e))
                }
            }
        }
    }

    /// The IPv4 addresses on interface `index` with their flags and labels: kernel order,
    /// primary addresses first, then secondaries.
    pub async fn ipv4_addr_infos(&self, index: u32) -> Result<Vec<Ipv4AddrInfo>, NetError> {
        let msgs = self.addr_messages(index, AddressFamily::Inet).await?;
        let mut infos: Vec<Ipv4AddrInfo> = msgs.iter().filter_map(addr_info).collect();
        // Stable: keeps the kernel's order within primaries and within secondaries.
        infos.sort_by_key(|a| a.secondary);
        Ok(infos)
    }

    /// The IPv6 addresses on interface `index` with their DAD state, in kernel order.
    pub async fn ipv6_addr_infos(&self, index: u32) -> Result<Vec<Ipv6AddrInfo>, NetError> {
        let msgs = self.addr_messages(index, AddressFamily::Inet6).await?;
        Ok(msgs.iter().filter_map(addr6_info).collect())
    }

    /// The link-local IPv6 address (fe80::/10) of interface `index` that adverts go from
    /// (RFC 9568 §5.1.2.1), the first usable one; `None` when it has none, or only a
    /// tentative one (duplicate address detection still running).
    pub async fn link_local_ipv6(&self, index: u32) -> Result<Option<Ipv6Addr>, NetError> {
        Ok(self
            .ipv6_addr_infos(index)
            .await?
            .into_iter()
            .find(|a| a.addr.is_unicast_link_local() && a.usable())
            .map(|a| a.addr))
    }

    async fn addr_messages(
        &self,
        index: u32,
        family: AddressFamily,
    ) -> Result<Vec<AddressMessage>, NetError> {
        let mut req = self.handle.address().get().set_link_index_filter(index);
        req.message_mut().header.family = family;
        req.message_mut().header.index = index;
        req.execute()
            .try_collect()
            .await
            .map_err(|e| nl_err("RTM_GETADDR", &ifindex(index), to_io(e)))
    }

    /// The IPv4 addresses (and prefix lengths) on interface `index`: kernel order, primary
    /// addresses first.
    pub async fn ipv4_addrs(&self, index: u32) -> Result<Vec<(Ipv4Addr, u8)>, NetError> {
        Ok(self
            .ipv4_addr_infos(index)
            .await?
            .into_iter()
            .map(|a| (a.addr, a.prefix_len))
            .collect())
    }

    /// The first primary (non-secondary) IPv4 address of interface `index` that is not in
    /// `exclude` (our VIPs), or `None`.
    pub async fn primary_ipv4(
        &self,
        index: u32,
        exclude: &[Ipv4Addr],
    ) -> Result<Option<Ipv4Addr>, NetError> {
        Ok(self
            .ipv4_addr_infos(index)
            .await?
            .into_iter()
            .find(|a| !a.secondary && !exclude.contains(&a.addr))
            .map(|a| a.addr))
    }

    /// Adds `addr/prefix_len` to interface `index`, with `label` as `IFA_LABEL` when given
    /// (keepalived's `dev eth0 label eth0:1`; by convention it starts with the interface
    /// name). An IPv6 address is added with `IFA_F_NODAD`, usable at once (see the module
    /// doc). Returns whether this call added it: `Ok(false)` when the address was already
    /// there (an administrator's, or another instance's), which the caller must not remove.
    pub async fn add_address(
        &self,
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
        label: Option<&str>,
    ) -> Result<bool, NetError> {
        let op = format!("RTM_NEWADDR {addr}/{prefix_len}");
        check_prefix(addr, prefix_len, index)?;
        let mut req = self.handle.address().add(index, addr, prefix_len);
        if addr.is_ipv6() {
            req.message_mut().header.flags |= AddressHeaderFlags::Nodad;
        }
        if let Some(label) = label {
            if label.is_empty() || label.len() >= libc::IFNAMSIZ {
                return Err(NetError::Invalid {
                    what: "IFA_LABEL",
                    target: ifindex(index),
                    why: format!(
                        "label {label:?}: a label has 1 to {} bytes",
                        libc::IFNAMSIZ - 1
                    ),
                });
            }
            req.message_mut()
                .attributes
                .push(AddressAttribute::Label(label.to_owned()));
        }
        match req.execute().await.map_err(to_io) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(nl_err(&op, &ifindex(index), e)),
        }
    }

    /// Removes `addr/prefix_len` from interface `index`: `Ok(true)` if it was removed,
    /// `Ok(false)` if it was not there (with that prefix length).
    pub async fn del_address(
        &self,
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
    ) -> Result<bool, NetError> {
        let op = format!("RTM_DELADDR {addr}/{prefix_len}");
        check_prefix(addr, prefix_len, index)?;
        let msg = match addr {
            IpAddr::V4(a) => AddressMessageBuilder::<Ipv4Addr>::new()
                .index(index)
                .address(a, prefix_len)
                .build(),
            IpAddr::V6(a) => AddressMessageBuilder::<std::net::Ipv6Addr>::new()
                .index(index)
                .address(a, prefix_len)
                .build(),
        };
        match self
            .handle
            .address()
            .del(msg)
            .execute()
            .await
            .map_err(to_io)
        {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => Ok(false),
            Err(e) => Err(nl_err(&op, &ifindex(index), e)),
        }
    }

    /// Whether `addr` (with any prefix length) is on interface `index`; an IPv6 address
    /// counts while tentative too.
    pub async fn has_address(&self, index: u32, addr: IpAddr) -> Result<bool, NetError> {
        Ok(match addr {
            IpAddr::V4(addr) => (self.ipv4_addr_infos(index).await?)
                .iter()
                .any(|a| a.addr == addr),
            IpAddr::V6(addr) => (self.ipv6_addr_infos(index).await?)
                .iter()
                .any(|a| a.addr == addr),
        })
    }
}

/// What [`LinkWatcher::next_event`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NetEvent {
    /// A link appeared, changed or was deleted (`up: false`).
    Link(LinkInfo),
    /// An IPv4 or IPv6 address was added to or removed from the interface `index` (or an
    /// IPv6 address finished duplicate address detection).
    Address {
        /// The interface.
        index: u32,
    },
}

/// Link up/down changes from the kernel (RTMGRP_LINK multicast subscription on a second
/// netlink socket).
#[derive(Debug)]
pub struct LinkWatcher {
    /// Unsolicited messages forwarded by the spawned connection task.
    messages: futures::channel::mpsc::UnboundedReceiver<(
        NetlinkMessage<RouteNetlinkMessage>,
        SocketAddr,
    )>,
}

impl LinkWatcher {
    /// Subscribes to `RTNLGRP_LINK` and both address groups and spawns the connection task. Must be called inside a
    /// tokio runtime.
    pub fn open() -> Result<LinkWatcher, NetError> {
        require_runtime("LinkWatcher::open")?;
        let (conn, _handle, messages) = rtnetlink::new_multicast_connection(&[
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
        ])
        .map_err(|source| NetError::NetlinkOpen {
            what: "RTNLGRP_LINK and RTNLGRP_IPV4/6_IFADDR subscription",
            source,
        })?;
        // The task runs while `messages` is alive, even with the handle dropped.
        tokio::spawn(conn);
        Ok(LinkWatcher { messages })
    }

    /// Next link event (index, name, up) — only the link messages, every
    /// RTM_NEWLINK/DELLINK (a deleted link reports `up: false`). Events are not deduplicated:
    /// the kernel sends `RTM_NEWLINK` for changes other than up/down too.
    ///
    /// `None` means the subscription ended (e.g. the socket overflowed and was closed): open
    /// a new watcher and re-read the links' state with [`Netlink::link_by_name`].
    /// Cancel-safe.
    pub async fn next(&mut self) -> Option<LinkInfo> {
        loop {
            if let NetEvent::Link(link) = self.next_event().await? {
                return Some(link);
            }
        }
    }

    /// Next link or address event (either family); `None` as for [`LinkWatcher::next`]. Cancel-safe.
    pub(crate) async fn next_event(&mut self) -> Option<NetEvent> {
        while let Some((msg, _from)) = self.messages.next().await {
            match msg.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => {
                    return Some(NetEvent::Link(link_info(&link, false)));
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(link)) => {
                    return Some(NetEvent::Link(link_info(&link, true)));
                }
                NetlinkPayload::InnerMessage(
                    RouteNetlinkMessage::NewAddress(a) | RouteNetlinkMessage::DelAddress(a),
                ) if matches!(a.header.family, AddressFamily::Inet | AddressFamily::Inet6) => {
                    return Some(NetEvent::Address {
                        index: a.header.index,
                    });
                }
                _ => {}
            }
        }
        None
    }
}

pub(super) fn link_info(msg: &LinkMessage, deleted: bool) -> LinkInfo {
    let mut name = String::new();
    let mut mac = [0u8; 6];
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => name.clone_from(n),
            LinkAttribute::Address(a) => {
                if let Ok(m) = <[u8; 6]>::try_from(a.as_slice()) {
                    mac = m;
                }
            }
            _ => {}
        }
    }
    let flags = msg.header.flags;
    LinkInfo {
        index: msg.header.index,
        name,
        mac,
        up: !deleted && flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::LowerUp),
    }
}

fn addr_info(msg: &AddressMessage) -> Option<Ipv4AddrInfo> {
    if msg.header.family != AddressFamily::Inet {
        return None;
    }
    let mut local = None;
    let mut address = None;
    let mut label = None;
    let mut secondary = msg.header.flags.contains(AddressHeaderFlags::Secondary);
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(IpAddr::V4(a)) => local = Some(*a),
            AddressAttribute::Address(IpAddr::V4(a)) => address = Some(*a),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Flags(f) => secondary |= f.contains(AddressFlags::Secondary),
            _ => {}
        }
    }
    Some(Ipv4AddrInfo {
        // IFA_LOCAL is the interface's address; IFA_ADDRESS differs only on point-to-point
        // links (where it is the peer).
        addr: local.or(address)?,
        prefix_len: msg.header.prefix_len,
        secondary,
        label,
    })
}

fn addr6_info(msg: &AddressMessage) -> Option<Ipv6AddrInfo> {
    if msg.header.family != AddressFamily::Inet6 {
        return None;
    }
    let header = msg.header.flags;
    let (mut tentative, mut dad_failed) = (
        header.contains(AddressHeaderFlags::Tentative),
        header.contains(AddressHeaderFlags::Dadfailed),
    );
    let mut addr = None;
    for attr in &msg.attributes {
        match attr {
            // IFA_ADDRESS is the address for IPv6 (IFA_LOCAL only on point-to-point links).
            AddressAttribute::Address(IpAddr::V6(a)) => addr = Some(*a),
            AddressAttribute::Local(IpAddr::V6(a)) if addr.is_none() => addr = Some(*a),
            // IFA_FLAGS: all 32 bits, when the kernel sends it.
            AddressAttribute::Flags(f) => {
                tentative |= f.contains(AddressFlags::Tentative);
                dad_failed |= f.contains(AddressFlags::Dadfailed);
            }
            _ => {}
        }
    }
    Some(Ipv6AddrInfo {
        addr: addr?,
        prefix_len: msg.header.prefix_len,
        tentative,
        dad_failed,
    })
}

fn check_prefix(addr: IpAddr, prefix_len: u8, index: u32) -> Result<(), NetError> {
    let (what, max) = match addr {
        IpAddr::V4(_) => ("IPv4 prefix length", 32),
        IpAddr::V6(_) => ("IPv6 prefix length", 128),
    };
    if prefix_len > max {
        return Err(NetError::Invalid {
            what,
            target: ifindex(index),
            why: format!("{prefix_len} > {max}"),
        });
    }
    Ok(())
}

pub(super) fn ifindex(index: u32) -> String {
    format!("ifindex {index}")
}

pub(super) fn nl_err(op: &str, target: &str, source: io::Error) -> NetError {
    NetError::Netlink {
        op: op.to_owned(),
        target: target.to_owned(),
        source,
    }
}

/// The kernel's errno when there is one, so callers can test EEXIST/EPERM/ENODEV.
pub(super) fn to_io(e: rtnetlink::Error) -> io::Error {
    match e {
        rtnetlink::Error::NetlinkError(msg) => msg.to_io(),
        other => io::Error::other(other.to_string()),
    }
}
