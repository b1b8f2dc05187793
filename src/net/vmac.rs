//! keepalived's `use_vmac`: a macvlan interface that carries the VRRP virtual MAC address
//! (RFC 9568 §7.3: 00-00-5E-00-01-VRID for IPv4, 00-00-5E-00-02-VRID for IPv6), so that a VIP
//! keeps one MAC address whichever host holds it and the neighbours' ARP caches never point
//! at a host that no longer holds it.
//!
//! As keepalived does (vrrp_vmac.c, vrrp_if_config.c): the macvlan is in private mode on the
//! base interface; on it `arp_ignore=1` (never answer ARP for the base's addresses),
//! `accept_local=1` (hear other instances on the same host) and `rp_filter=0` (receive while it
//! has no address); on the base `arp_ignore=1` and `arp_filter=1` (never answer ARP for a VIP
//! with the base's MAC), restored when the macvlan is removed. One more than keepalived: on
//! the base `arp_announce=2`, or the host's own ARP requests (for a client it answers from
//! the VIP) would name the VIP as their sender with the base's MAC, and the client's cache
//! would follow them to this host's own MAC (a netns test saw it with keepalived). IPv6 address generation is off
//! on the macvlan: two hosts' macvlans share a MAC, so their generated link-local addresses
//! would collide (RFC 9568 §7.4). These settings go through netlink (`IFLA_AF_SPEC`), not
//! `/proc/sys`, which a hardened unit mounts read-only.

use futures::TryStreamExt;
use rtnetlink::packet_core::{DefaultNla, NLA_F_NESTED};
use rtnetlink::packet_route::link::{
    AfSpecInet, AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoKind, LinkAttribute, LinkInfo,
    LinkMessage, MacVlanMode,
};
use rtnetlink::{LinkMacVlan, LinkUnspec};

use super::NetError;
use super::addr::{Netlink, ifindex, link_info, nl_err, to_io};

/// `IFLA_INET_CONF` inside `IFLA_AF_SPEC`/`AF_INET`.
const IFLA_INET_CONF: u16 = 1;
/// `IPV4_DEVCONF_*` numbers from linux/ip.h.
const DEVCONF_RP_FILTER: u16 = 8;
const DEVCONF_ARP_FILTER: u16 = 13;
const DEVCONF_ARP_ANNOUNCE: u16 = 18;
const DEVCONF_ARP_IGNORE: u16 = 19;
const DEVCONF_ACCEPT_LOCAL: u16 = 23;

/// The VRRP virtual MAC address of `vrid` (RFC 9568 §7.3).
pub const fn virtual_mac(vrid: u8, ipv6: bool) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, if ipv6 { 0x02 } else { 0x01 }, vrid]
}

/// The ARP parameters of a base interface that a macvlan changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BaseArp {
    /// `arp_ignore`.
    pub arp_ignore: u32,
    /// `arp_filter`.
    pub arp_filter: u32,
    /// `arp_announce`.
    pub arp_announce: u32,
}

/// A macvlan carrying a virtual MAC, as [`Netlink::ensure_vmac`] left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vmac {
    /// Its interface index.
    pub index: u32,
    /// Its name (keepalived's default: `vrrp.VRID`).
    pub name: String,
    /// The virtual MAC.
    pub mac: [u8; 6],
    /// The base interface's index.
    pub base: u32,
    /// The base's `arp_ignore`, `arp_filter` and `arp_announce` before we changed them, to
    /// restore on removal; `None` when the macvlan was there already (a previous run changed
    /// them).
    pub base_before: Option<BaseArp>,
}

impl Netlink {
    /// Finds or creates the macvlan `name` with `mac` on interface `base`, sets the kernel
    /// parameters of the module doc and brings it up. A macvlan of that name with another MAC
    /// or base (a stale one) is replaced; an interface of that name that is not a macvlan is
    /// an error, never removed.
    pub async fn ensure_vmac(&self, name: &str, base: u32, mac: [u8; 6]) -> Result<Vmac, NetError> {
        let op = format!("RTM_NEWLINK macvlan {name}");
        let mut index = None;
        if let Some(msg) = self.link_message(name).await? {
            let (kind, link) = macvlan_of(&msg);
            let info = link_info(&msg, false);
            if kind != Some(InfoKind::MacVlan) {
                return Err(NetError::Invalid {
                    what: "use_vmac",
                    target: name.to_owned(),
                    why: "an interface of that name exists and is not a macvlan".to_owned(),
                });
            }
            if info.mac == mac && link == Some(base) {
                index = Some(info.index);
            } else {
                self.delete_link(info.index, name).await?;
            }
        }
        let adopted = index.is_some();
        let index = match index {
            Some(i) => i,
            None => {
                let msg = LinkMacVlan::new(name, base, MacVlanMode::Private)
                    .address(mac.to_vec())
                    .build();
                self.handle
                    .link()
                    .add(msg)
                    .execute()
                    .await
                    .map_err(|e| nl_err(&op, name, to_io(e)))?;
                self.link_by_name(name).await?.index
            }
        };
        let mut vmac_conf = vec![(DEVCONF_ARP_IGNORE, 1), (DEVCONF_ACCEPT_LOCAL, 1)];
        vmac_conf.push((DEVCONF_RP_FILTER, 0));
        self.set_ipv4_devconf(index, name, &vmac_conf).await?;
        self.set_link(
            LinkUnspec::new_with_index(index)
                .append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                    vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
                )]))
                .build(),
            name,
        )
        .await?;
        let base_before = if adopted {
            None
        } else {
            Some(self.ipv4_arp_conf(base).await?)
        };
        let arp = BaseArp {
            arp_ignore: 1,
            arp_filter: 1,
            arp_announce: 2,
        };
        self.set_base_arp(base, arp).await?;
        self.set_link(LinkUnspec::new_with_index(index).up().build(), name)
            .await?;
        Ok(Vmac {
            index,
            name: name.to_owned(),
            mac,
            base,
            base_before,
        })
    }

    /// Removes the macvlan and puts back the base's ARP parameters when we changed them.
    /// Gone already is not an error.
    pub async fn remove_vmac(&self, vmac: &Vmac) -> Result<(), NetError> {
        if let Some(arp) = vmac.base_before {
            self.set_base_arp(vmac.base, arp).await?;
        }
        self.delete_link(vmac.index, &vmac.name).await
    }

    async fn set_base_arp(&self, base: u32, arp: BaseArp) -> Result<(), NetError> {
        let params = [
            (DEVCONF_ARP_IGNORE, arp.arp_ignore),
            (DEVCONF_ARP_FILTER, arp.arp_filter),
            (DEVCONF_ARP_ANNOUNCE, arp.arp_announce),
        ];
        self.set_ipv4_devconf(base, &ifindex(base), &params).await
    }

    async fn link_message(&self, name: &str) -> Result<Option<LinkMessage>, NetError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute();
        match links.try_next().await {
            Ok(m) => Ok(m),
            Err(e) => {
                let e = to_io(e);
                if e.raw_os_error() == Some(libc::ENODEV) {
                    Ok(None)
                } else {
                    Err(nl_err("RTM_GETLINK", name, e))
                }
            }
        }
    }

    async fn delete_link(&self, index: u32, name: &str) -> Result<(), NetError> {
        match self.handle.link().del(index).execute().await.map_err(to_io) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(nl_err("RTM_DELLINK", name, e)),
        }
    }

    async fn set_link(&self, msg: LinkMessage, name: &str) -> Result<(), NetError> {
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|e| nl_err("RTM_SETLINK", name, to_io(e)))
    }

    /// Sets `IPV4_DEVCONF_*` parameters of interface `index`, zeros included (rtnetlink's own
    /// request type leaves zeros out).
    async fn set_ipv4_devconf(
        &self,
        index: u32,
        name: &str,
        params: &[(u16, u32)],
    ) -> Result<(), NetError> {
        let mut nested = Vec::with_capacity(params.len() * 8);
        for &(param, value) in params {
            nested.extend_from_slice(&8u16.to_ne_bytes());
            nested.extend_from_slice(&param.to_ne_bytes());
            nested.extend_from_slice(&value.to_ne_bytes());
        }
        let conf = DefaultNla::new(IFLA_INET_CONF | NLA_F_NESTED, nested);
        let msg = LinkUnspec::new_with_index(index)
            .append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet(vec![
                AfSpecInet::Other(conf),
            ])]))
            .build();
        self.set_link(msg, name).await
    }

    /// The ARP parameters of interface `index` that a macvlan changes.
    async fn ipv4_arp_conf(&self, index: u32) -> Result<BaseArp, NetError> {
        let mut links = self.handle.link().get().match_index(index).execute();
        let msg = links
            .try_next()
            .await
            .map_err(|e| nl_err("RTM_GETLINK", &ifindex(index), to_io(e)))?
            .ok_or_else(|| NetError::NoSuchInterface(ifindex(index)))?;
        for attr in &msg.attributes {
            let LinkAttribute::AfSpecUnspec(specs) = attr else {
                continue;
            };
            for spec in specs {
                let AfSpecUnspec::Inet(inet) = spec else {
                    continue;
                };
                for item in inet {
                    if let AfSpecInet::DevConf(c) = item {
                        let v = |x: i32| u32::try_from(x).unwrap_or(0);
                        return Ok(BaseArp {
                            arp_ignore: v(c.arp_ignore),
                            arp_filter: v(c.arpfilter),
                            arp_announce: v(c.arp_announce),
                        });
                    }
                }
            }
        }
        Ok(BaseArp::default())
    }
}

/// The link kind and, for a stacked link, the index of the link below it.
fn macvlan_of(msg: &LinkMessage) -> (Option<InfoKind>, Option<u32>) {
    let mut kind = None;
    let mut link = None;
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(k) = info {
                        kind = Some(k.clone());
                    }
                }
            }
            LinkAttribute::Link(l) => link = Some(*l),
            _ => {}
        }
    }
    (kind, link)
}

#[cfg(test)]
mod tests {
    use super::virtual_mac;

    #[test]
    fn virtual_macs_follow_rfc_9568() {
        assert_eq!(virtual_mac(51, false), [0, 0, 0x5e, 0, 1, 51]);
        assert_eq!(virtual_mac(255, true), [0, 0, 0x5e, 0, 2, 255]);
    }
}
