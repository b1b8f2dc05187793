//! rtnetlink host routes that signal a routing daemon: `VIP/32` (or `/128`) `dev IF table T
//! proto 220 metric M`, added, moved to a new metric, deleted and listed, through the same
//! [`Netlink`] handle as addresses.
//!
//! Every route vipd makes carries [`VIPD_PROTO`], so a listing or a cleanup never confuses
//! them with routes of anyone else (`ip route`'s `static`, BIRD's `bird`, keepalived's 18).
//! Listings go through [`Netlink`]'s strict-checking connection, so the kernel sends only
//! the routes of that table and protocol.
//!
//! In the kernel the metric is part of an IPv4 route's key: `NLM_F_REPLACE` with a new metric
//! adds a second route instead of changing the first. A metric change is therefore an add of
//! the new route and a delete of the old one, in that order, by the caller (`vip::route`).

use std::net::IpAddr;

use futures::TryStreamExt;
use rtnetlink::RouteMessageBuilder;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope,
};

use super::NetError;
use super::addr::{Netlink, ifindex, nl_err, to_io};

/// vipd's routing protocol number (`proto 220` in `ip route`): not in iproute2's
/// `rt_protos` nor used by keepalived (18), BIRD (12), FRR (11, 186-192) or babel (42).
/// BIRD's `kernel` protocol imports `where krt_source = 220`.
pub const VIPD_PROTO: u8 = 220;

/// One of vipd's routes as the kernel lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostRoute {
    /// The destination host address (the VIP).
    pub addr: IpAddr,
    /// Its prefix length as the kernel has it (vipd adds 32 or 128 only).
    pub prefix_len: u8,
    /// The metric (`RTA_PRIORITY`).
    pub metric: u32,
    /// The output interface.
    pub ifindex: u32,
}

impl Netlink {
    /// Adds `addr`'s host route to `table` through interface `index` with `metric`;
    /// `Ok(false)` when exactly that route (address, table, metric) is already there.
    pub async fn add_host_route(
        &self,
        addr: IpAddr,
        index: u32,
        table: u32,
        metric: u32,
    ) -> Result<bool, NetError> {
        let msg = message(addr, table, metric).output_interface(index).build();
        match self.handle.route().add(msg).execute().await.map_err(to_io) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(nl_err(
                &op("RTM_NEWROUTE", addr, table, metric),
                &ifindex(index),
                e,
            )),
        }
    }

    /// Deletes vipd's route to `addr` with `metric` from `table`; `Ok(false)` when there was
    /// none.
    pub async fn del_host_route(
        &self,
        addr: IpAddr,
        table: u32,
        metric: u32,
    ) -> Result<bool, NetError> {
        let msg = message(addr, table, metric).build();
        match self.handle.route().del(msg).execute().await.map_err(to_io) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
            Err(e) => Err(nl_err(
                &op("RTM_DELROUTE", addr, table, metric),
                &format!("table {table}"),
                e,
            )),
        }
    }

    /// Every route in `table` with vipd's protocol, of both families. The kernel filters the
    /// dump (strict checking): only those routes cross the socket.
    pub async fn vipd_routes(&self, table: u32) -> Result<Vec<HostRoute>, NetError> {
        let mut out = Vec::new();
        let proto = RouteProtocol::Other(VIPD_PROTO);
        for filter in [
            (RouteMessageBuilder::<std::net::Ipv4Addr>::new().table_id(table))
                .protocol(proto)
                .build(),
            (RouteMessageBuilder::<std::net::Ipv6Addr>::new().table_id(table))
                .protocol(proto)
                .build(),
        ] {
            let mut dump = self.strict.route().get(filter).execute();
            while let Some(msg) = dump
                .try_next()
                .await
                .map_err(|e| nl_err("RTM_GETROUTE dump", &format!("table {table}"), to_io(e)))?
            {
                if let Some(route) = vipd_route(&msg, table) {
                    out.push(route);
                }
            }
        }
        Ok(out)
    }
}

/// The message for `addr`'s host route in `table` with `metric`: vipd's protocol, scope
/// link (a destination on the interface itself, as `ip route add ADDR dev lo` makes it).
fn message(addr: IpAddr, table: u32, metric: u32) -> RouteMessageBuilder<IpAddr> {
    let host = if addr.is_ipv6() { 128 } else { 32 };
    let mut b = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(addr, host)
        // A host prefix of the address's own family is always valid.
        .unwrap_or_else(|_| RouteMessageBuilder::<IpAddr>::new())
        .table_id(table)
        .protocol(RouteProtocol::Other(VIPD_PROTO))
        .scope(RouteScope::Link);
    b.get_mut()
        .attributes
        .push(RouteAttribute::Priority(metric));
    b
}

fn op(what: &str, addr: IpAddr, table: u32, metric: u32) -> String {
    format!("{what} {addr} table {table} proto {VIPD_PROTO} metric {metric}")
}

/// `msg` as one of vipd's routes in `table`, or `None` for anyone else's or another table's.
fn vipd_route(msg: &RouteMessage, table: u32) -> Option<HostRoute> {
    if u8::from(msg.header.protocol) != VIPD_PROTO {
        return None;
    }
    let mut in_table = u32::from(msg.header.table);
    let (mut addr, mut metric, mut index) = (None, 0, 0);
    for a in &msg.attributes {
        match a {
            RouteAttribute::Table(t) => in_table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(v4)) => addr = Some(IpAddr::V4(*v4)),
            RouteAttribute::Destination(RouteAddress::Inet6(v6)) => addr = Some(IpAddr::V6(*v6)),
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Oif(i) => index = *i,
            _ => {}
        }
    }
    (in_table == table).then_some(HostRoute {
        addr: addr?,
        prefix_len: msg.header.destination_prefix_length,
        metric,
        ifindex: index,
    })
}
