//! One instance resolved against the kernel: the interface its adverts use (its own, or the
//! virtual-MAC macvlan of `use_vmac`), the address they come from (the primary IPv4 address,
//! the IPv6 link-local address, or `unicast_src_ip`), where they go, its VIPs bound to their
//! interfaces, and its socket.

use std::net::{IpAddr, Ipv4Addr};

use super::{DaemonError, classify};
use crate::config::VrrpInstance;
use crate::net::NetError;
use crate::net::addr::{LinkInfo, Netlink};
use crate::net::socket::{Transport, VrrpSocket};
use crate::net::vmac::{Vmac, virtual_mac};
use crate::vrrp::doors::Kernel;
use crate::vrrp::instance::{BoundVip, Setup};

/// The interface adverts go out of and come in on: the macvlan with `use_vmac` (unless
/// `vmac_xmit_base`), else `interface`.
pub(super) fn advert_interface(inst: &VrrpInstance) -> &str {
    match &inst.use_vmac {
        Some(vmac) if !inst.vmac_xmit_base => vmac,
        _ => &inst.interface,
    }
}

/// Where a VIP without `dev` goes: the macvlan with `use_vmac`, so that it answers with the
/// virtual MAC; else `interface`.
fn vip_interface(inst: &VrrpInstance) -> &str {
    inst.use_vmac.as_deref().unwrap_or(&inst.interface)
}

/// Resolves one instance: creates (or adopts) its macvlan, binds its VIPs, finds its source
/// and opens its socket. The caller removes [`Setup::vmac`] if it goes no further.
pub(super) async fn prepare(inst: &VrrpInstance, netlink: &Netlink) -> Result<Setup, DaemonError> {
    if !inst.accept {
        tracing::warn!(
            "{}: no_accept is not enforced: vipd does not filter traffic to the VIPs as \
             keepalived's firewall rules do, so a master accepts it (as with `accept`)",
            inst.name
        );
    }
    let base = lookup(netlink, &inst.name, &inst.interface).await?;
    let vmac = ensure_vmac(inst, netlink, &base).await?;
    let resolved = resolve(inst, netlink, &base).await;
    match resolved {
        Ok(setup) => Ok(Setup { vmac, ..setup }),
        Err(e) => {
            if let Some(v) = vmac {
                remove_vmac(netlink, &v).await;
            }
            Err(e)
        }
    }
}

async fn resolve(
    inst: &VrrpInstance,
    netlink: &Netlink,
    base: &LinkInfo,
) -> Result<Setup, DaemonError> {
    let link = lookup(netlink, &inst.name, advert_interface(inst)).await?;
    let vips = bind_vips(inst, netlink).await?;
    let vip_addrs: Vec<IpAddr> = vips.iter().map(|v| v.addr).collect();
    let source = source(inst, netlink, base.index, &vip_addrs)
        .await
        .map_err(classify)?
        .ok_or_else(|| DaemonError::NoSourceAddress {
            instance: inst.name.clone(),
            interface: inst.interface.clone(),
            family: if inst.is_ipv6() {
                "IPv6 link-local"
            } else {
                "IPv4"
            },
        })?;
    if inst.is_ipv6() && inst.use_vmac.as_deref() == Some(link.name.as_str()) {
        // RFC 9568 §7.4: adverts leave the macvlan from a link-local address of its own; as
        // keepalived, the base's (the macvlan generates none, see net/vmac.rs).
        netlink
            .add_address(link.index, source, 64, None)
            .await
            .map_err(classify)?;
    }
    let transport = transport(inst);
    let socket =
        VrrpSocket::open(&link.name, link.index, source, transport.clone()).map_err(classify)?;
    Ok(Setup {
        config: inst.clone(),
        interface: link.name.clone(),
        source,
        socket,
        ifindex: link.index,
        transport,
        vips,
        doors: Kernel::new(netlink.clone()),
        link_up: link.up,
        tracked: Vec::new(),
        notifier: None,
        sync: None,
        vmac: None,
        state_file: None,
        resume: None,
    })
}

/// Multicast to the instance's group, or to its unicast peers.
fn transport(inst: &VrrpInstance) -> Transport {
    if inst.unicast_peer.is_empty() {
        Transport::Multicast {
            group: inst.advert_group(),
        }
    } else {
        Transport::Unicast {
            peers: inst.unicast_peer.clone(),
        }
    }
}

/// The address adverts come from: `unicast_src_ip`, else the base interface's primary IPv4
/// address (never one of the VIPs) or its IPv6 link-local address. `None` while it has none
/// (a link-local address is not usable while DAD runs).
pub(super) async fn source(
    inst: &VrrpInstance,
    netlink: &Netlink,
    base_index: u32,
    vips: &[IpAddr],
) -> Result<Option<IpAddr>, NetError> {
    if let Some(src) = inst.unicast_src_ip {
        return Ok(Some(src));
    }
    if inst.is_ipv6() {
        return Ok(netlink.link_local_ipv6(base_index).await?.map(IpAddr::V6));
    }
    let exclude: Vec<Ipv4Addr> = vips
        .iter()
        .filter_map(|a| match a {
            IpAddr::V4(a) => Some(*a),
            IpAddr::V6(_) => None,
        })
        .collect();
    Ok(netlink
        .primary_ipv4(base_index, &exclude)
        .await?
        .map(IpAddr::V4))
}

/// Creates or adopts the instance's macvlan (`use_vmac`) on `base`.
pub(super) async fn ensure_vmac(
    inst: &VrrpInstance,
    netlink: &Netlink,
    base: &LinkInfo,
) -> Result<Option<Vmac>, DaemonError> {
    let Some(name) = &inst.use_vmac else {
        return Ok(None);
    };
    let mac = virtual_mac(inst.virtual_router_id, inst.is_ipv6());
    netlink
        .ensure_vmac(name, base.index, mac)
        .await
        .map(Some)
        .map_err(classify)
}

/// Removes a macvlan vipd made, logging instead of failing: it runs while leaving.
pub(super) async fn remove_vmac(netlink: &Netlink, vmac: &Vmac) {
    match netlink.remove_vmac(vmac).await {
        Ok(()) => tracing::info!("removed virtual-MAC interface {}", vmac.name),
        Err(e) => tracing::warn!("cannot remove virtual-MAC interface {}: {e}", vmac.name),
    }
}

/// Resolves an instance's VIPs (and its excluded ones) to their interfaces (index and MAC).
pub(super) async fn bind_vips(
    inst: &VrrpInstance,
    netlink: &Netlink,
) -> Result<Vec<BoundVip>, DaemonError> {
    let default_dev = vip_interface(inst);
    let link = lookup(netlink, &inst.name, default_dev).await?;
    let listed = inst.virtual_ipaddress.iter().map(|v| (v, false));
    let excluded = inst.virtual_ipaddress_excluded.iter().map(|v| (v, true));
    let mut vips = Vec::new();
    for (vip, excluded) in listed.chain(excluded) {
        let dev = vip.dev.clone().unwrap_or_else(|| default_dev.to_string());
        let vip_link = if dev == default_dev {
            link.clone()
        } else {
            lookup(netlink, &inst.name, &dev).await?
        };
        vips.push(BoundVip {
            addr: vip.addr,
            prefix_len: vip.prefix_len,
            label: vip.label.clone(),
            ifindex: vip_link.index,
            dev,
            mac: vip_link.mac,
            excluded,
        });
    }
    Ok(vips)
}

/// Looks up interface `name` for `instance`; a missing one is [`DaemonError::NoInterface`].
pub(super) async fn lookup(
    netlink: &Netlink,
    instance: &str,
    name: &str,
) -> Result<LinkInfo, DaemonError> {
    match netlink.link_by_name(name).await {
        Ok(link) => Ok(link),
        Err(NetError::NoSuchInterface(_)) => Err(DaemonError::NoInterface {
            instance: instance.to_string(),
            interface: name.to_string(),
        }),
        Err(e) => Err(classify(e)),
    }
}
