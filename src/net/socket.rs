//! The raw socket for IP protocol 112 (VRRP), IPv4 or IPv6, one per instance, on tokio.
//!
//! # IPv4, as keepalived 2.2 sets it
//! Bound to the interface (`SO_BINDTODEVICE`), `IP_TTL` 255, `IP_TOS` 0xc0 (network control).
//! Multicast: joins the group (224.0.0.18 by default) on the interface (`ip_mreqn` by
//! ifindex), `IP_MULTICAST_IF` = that ifindex and the source address, `IP_MULTICAST_TTL` 255,
//! `IP_MULTICAST_LOOP` 0, `IP_MULTICAST_ALL` 0. Unicast: `bind()` to the source address.
//!
//! Why an IPv4 multicast socket is not `bind()`-ed to the source address: the kernel delivers
//! a datagram to a bound raw IPv4 socket only when its destination equals the bound address
//! (`raw_v4_match` in net/ipv4/raw.c), so a bound socket never sees 224.0.0.18. keepalived
//! leaves its multicast receive socket unbound for the same reason. The source of what we send
//! is still `src`: it is the `imr_address` given to `IP_MULTICAST_IF`, which the kernel uses when
//! the socket has no bound address (`raw_sendmsg`).
//!
//! Received IPv4 datagrams include the IPv4 header (that is how raw IPv4 sockets work); it is
//! left in place, because the parser checks TTL 255 and reads IHL from it.
//!
//! # IPv6, as keepalived 2.2 sets it, but for the checksum
//! `AF_INET6`, bound to the interface, `IPV6_UNICAST_HOPS` and `IPV6_MULTICAST_HOPS` 255,
//! `IPV6_TCLASS` 0xc0, and `IPV6_RECVHOPLIMIT` with `IPV6_RECVPKTINFO`: a raw IPv6 socket hands
//! up the payload alone, so the hop limit RFC 9568 §7.1 checks and the destination the
//! checksum covers come as control messages. Multicast: joins the group (ff02::12 by default)
//! on the interface, `IPV6_MULTICAST_IF` = ifindex, `IPV6_MULTICAST_LOOP` 0,
//! `IPV6_MULTICAST_ALL` 0 where the kernel has it (Linux 4.20).
//!
//! The socket is `bind()`-ed to `src` (the interface's link-local address with its scope, or
//! `unicast_src_ip`): that is the source of what we send. Unlike IPv4, a bound raw IPv6 socket
//! still receives the multicast groups it joined (`raw_v6_match` in net/ipv6/raw.c accepts a
//! multicast destination the socket is a member of).
//!
//! keepalived sets `IPV6_CHECKSUM` (offset 6), so that the kernel fills the checksum of what it
//! sends and silently drops what arrives with a wrong one. We leave it unset: the packet layer
//! computes the same RFC 8200 pseudo-header checksum for what we send (the bytes on the wire
//! are the same), and verifies it on receipt, so that a bad checksum is counted and logged
//! like any other drop instead of vanishing in the kernel.
//!
//! # Tokio
//! The socket is non-blocking and wrapped in an `AsyncFd`. tokio 1.53.3 deprecated
//! `AsyncFd::new` (unsound without I/O safety) in favour of the `unsafe` `AsyncFd::register`;
//! Cargo.lock pins tokio 1.54.1, where both exist, and we use `register`.

use std::io::{self, IoSliceMut};
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{self as nix_socket, ControlMessageOwned, MsgFlags, SockaddrIn6, sockopt};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::{NetError, read_when_ready, require_runtime};

/// IP protocol number of VRRP.
const IPPROTO_VRRP: i32 = 112;
/// The IPv4 VRRP multicast group (RFC 3768 §5.2.2, RFC 9568 §5.1.1.2).
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 VRRP multicast group (RFC 9568 §5.1.2.2).
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The TTL / hop limit every VRRP packet is sent with (RFC 9568 §5.1.1.3, §5.1.2.3).
const VRRP_TTL: u32 = 255;
/// The TOS byte / traffic class keepalived sends with: IPTOS_PREC_INTERNETCONTROL (CS6).
const VRRP_TOS: u32 = 0xc0;

/// Where adverts go and which ones arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// To a multicast group on the interface: 224.0.0.18 or ff02::12 unless the config
    /// names another (`vrrp_mcast_group4/6`).
    Multicast {
        /// The group, of the source address's family.
        group: IpAddr,
    },
    /// To each peer's address (keepalived's `unicast_peer`), from `unicast_src_ip`.
    Unicast {
        /// The peers, in configuration order, of the source address's family.
        peers: Vec<IpAddr>,
    },
}

impl Transport {
    /// Multicast to the standard group of `src`'s family: 224.0.0.18 or ff02::12.
    pub fn multicast_for(src: IpAddr) -> Transport {
        let group = match src {
            IpAddr::V4(_) => IpAddr::V4(GROUP_V4),
            IpAddr::V6(_) => IpAddr::V6(GROUP_V6),
        };
        Transport::Multicast { group }
    }

    /// Where adverts are sent: the group, or every peer.
    pub fn dests(&self) -> Vec<IpAddr> {
        match self {
            Transport::Multicast { group } => vec![*group],
            Transport::Unicast { peers } => peers.clone(),
        }
    }
}

/// What an IPv6 datagram came with, from its control messages (a raw IPv6 socket hands up no
/// header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Meta {
    /// The IPv6 source address (the sender's link-local address, or its unicast source).
    pub src: Ipv6Addr,
    /// The IPv6 destination address (`IPV6_PKTINFO`): the group, or our address.
    pub dst: Ipv6Addr,
    /// The hop limit it arrived with (`IPV6_HOPLIMIT`).
    pub hop_limit: u8,
}

/// One datagram received into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inbound {
    /// Bytes written to the buffer: the whole IPv4 datagram (header included), or the VRRP
    /// message of an IPv6 packet.
    pub len: usize,
    /// `Some` for IPv6: the addresses and hop limit the buffer does not hold.
    pub ipv6: Option<Ipv6Meta>,
}

/// A raw socket for IP protocol 112 on one interface, registered with tokio.
#[derive(Debug)]
pub struct VrrpSocket {
    /// The socket, non-blocking, owned by tokio's reactor registration.
    fd: AsyncFd<Socket>,
    /// Interface name, for error messages.
    ifname: String,
    /// Interface index the socket is bound to.
    ifindex: u32,
    /// Source address of what we send.
    src: IpAddr,
    /// Multicast or unicast, as opened.
    transport: Transport,
    /// Where `send` sends to, in order: the group, or each peer; with the socket address.
    dests: Vec<(IpAddr, SockAddr)>,
}

impl VrrpSocket {
    /// Opens a raw socket for protocol 112 bound to interface `ifname` (SO_BINDTODEVICE) that
    /// sends from `src`, with every option of the module doc for `src`'s family. The group or
    /// peers of `transport` must be of that family too.
    ///
    /// Non-blocking and registered with tokio: this must be called inside a tokio runtime,
    /// and the socket used on that runtime.
    pub fn open(
        ifname: &str,
        ifindex: u32,
        src: IpAddr,
        transport: Transport,
    ) -> Result<Self, NetError> {
        require_runtime("VrrpSocket::open")?;
        let sys = |call: &'static str, what: &str| {
            let what = what.to_owned();
            let ifname = ifname.to_owned();
            move |e: io::Error| NetError::syscall(call, what, ifname, e)
        };
        if ifname.is_empty() || ifname.len() >= libc::IFNAMSIZ {
            return Err(NetError::Invalid {
                what: "SO_BINDTODEVICE",
                target: ifname.to_owned(),
                why: format!("an interface name has 1 to {} bytes", libc::IFNAMSIZ - 1),
            });
        }
        let family_error = |other: IpAddr| NetError::Invalid {
            what: "VRRP socket",
            target: ifname.to_owned(),
            why: format!("{other} and the source address {src} are of different families"),
        };
        if let Some(other) = (transport.dests().into_iter()).find(|d| d.is_ipv4() != src.is_ipv4())
        {
            return Err(family_error(other));
        }
        let group = match &transport {
            Transport::Multicast { group } => Some(*group),
            Transport::Unicast { .. } => None,
        };

        let (domain, family) = match src {
            IpAddr::V4(_) => (Domain::IPV4, "AF_INET, SOCK_RAW, 112"),
            IpAddr::V6(_) => (Domain::IPV6, "AF_INET6, SOCK_RAW, 112"),
        };
        let sock = Socket::new(domain, Type::RAW, Some(Protocol::from(IPPROTO_VRRP)))
            .map_err(sys("socket", family))?;
        sock.bind_device(Some(ifname.as_bytes()))
            .map_err(sys("setsockopt", "SO_BINDTODEVICE"))?;
        match (src, group) {
            (IpAddr::V4(src), None) => set_up_v4(&sock, ifindex, src, None, &sys)?,
            (IpAddr::V4(src), Some(IpAddr::V4(group))) => {
                set_up_v4(&sock, ifindex, src, Some(group), &sys)?;
            }
            (IpAddr::V6(src), None) => set_up_v6(&sock, ifindex, src, None, &sys)?,
            (IpAddr::V6(src), Some(IpAddr::V6(group))) => {
                set_up_v6(&sock, ifindex, src, Some(group), &sys)?;
            }
            (_, Some(group)) => return Err(family_error(group)),
        }
        sock.set_nonblocking(true)
            .map_err(sys("fcntl", "O_NONBLOCK"))?;
        let dests = (transport.dests().into_iter())
            .map(|d| (d, to_sockaddr(d, ifindex)))
            .collect();

        // SAFETY: `sock` owns its file descriptor and the `AsyncFd` takes ownership of `sock`,
        // so the descriptor stays open and refers to this socket until the `AsyncFd` drops.
        let fd = unsafe { AsyncFd::register(sock) }
            .map_err(|e| NetError::syscall("epoll_ctl", "EPOLL_CTL_ADD", ifname, e.into()))?;
        Ok(VrrpSocket {
            fd,
            ifname: ifname.to_owned(),
            ifindex,
            src,
            transport,
            dests,
        })
    }

    /// Receives one datagram into `buf`: an IPv4 datagram with its header, or an IPv6
    /// payload with its addresses and hop limit beside it ([`Inbound`]).
    ///
    /// A datagram longer than `buf` is truncated (use 1500 bytes or more). Cancel-safe: a
    /// datagram is never lost by dropping this future before it completes.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<Inbound, NetError> {
        let got = match self.src {
            IpAddr::V4(_) => read_when_ready(&self.fd, buf)
                .await
                .map(|len| Inbound { len, ipv6: None }),
            IpAddr::V6(_) => self.recv_v6(buf).await,
        };
        got.map_err(|e| NetError::syscall("recv", "IPPROTO_VRRP", &self.ifname, e))
    }

    async fn recv_v6(&self, buf: &mut [u8]) -> io::Result<Inbound> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|inner| recvmsg_v6(inner.get_ref().as_raw_fd(), buf)) {
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(result) => return result,
                // Would block: readiness was stale and has been cleared; wait again.
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends one VRRP message (no IP header; the kernel adds it) to the group, or to each
    /// unicast peer: `message(dst)` builds the message for destination `dst`, because a
    /// VRRPv3 checksum covers it.
    ///
    /// Never waits: a full socket buffer is an error (`EAGAIN`), as is any other. In unicast
    /// mode every peer is tried; the first error is returned.
    pub fn send(&self, message: impl Fn(IpAddr) -> Vec<u8>) -> Result<(), NetError> {
        let mut first_err = None;
        for (ip, dest) in &self.dests {
            let bytes = message(*ip);
            let res = loop {
                match self.fd.get_ref().send_to(&bytes, dest) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            if let Err(e) = res {
                first_err.get_or_insert(NetError::syscall(
                    "sendto",
                    ip.to_string(),
                    &self.ifname,
                    e,
                ));
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// The interface index the socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The source address of what we send.
    pub fn src(&self) -> IpAddr {
        self.src
    }

    /// Multicast or unicast (with the peers), as opened.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }
}

/// The IPv4 options of the module doc.
fn set_up_v4<F>(
    sock: &Socket,
    ifindex: u32,
    src: Ipv4Addr,
    group: Option<Ipv4Addr>,
    sys: &impl Fn(&'static str, &str) -> F,
) -> Result<(), NetError>
where
    F: FnOnce(io::Error) -> NetError,
{
    sock.set_ttl_v4(VRRP_TTL)
        .map_err(sys("setsockopt", "IP_TTL 255"))?;
    sock.set_tos_v4(VRRP_TOS)
        .map_err(sys("setsockopt", "IP_TOS 0xc0"))?;
    match group {
        Some(group) => {
            sock.set_multicast_all_v4(false)
                .map_err(sys("setsockopt", "IP_MULTICAST_ALL 0"))?;
            sock.join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(ifindex))
                .map_err(sys("setsockopt", &format!("IP_ADD_MEMBERSHIP {group}")))?;
            set_multicast_if(sock, ifindex, src).map_err(sys("setsockopt", "IP_MULTICAST_IF"))?;
            sock.set_multicast_ttl_v4(VRRP_TTL)
                .map_err(sys("setsockopt", "IP_MULTICAST_TTL 255"))?;
            sock.set_multicast_loop_v4(false)
                .map_err(sys("setsockopt", "IP_MULTICAST_LOOP 0"))?;
        }
        None => {
            sock.bind(&to_sockaddr(src.into(), ifindex))
                .map_err(sys("bind", &src.to_string()))?;
        }
    }
    Ok(())
}

/// The IPv6 options of the module doc.
fn set_up_v6<F>(
    sock: &Socket,
    ifindex: u32,
    src: Ipv6Addr,
    group: Option<Ipv6Addr>,
    sys: &impl Fn(&'static str, &str) -> F,
) -> Result<(), NetError>
where
    F: FnOnce(io::Error) -> NetError,
{
    sock.set_unicast_hops_v6(VRRP_TTL)
        .map_err(sys("setsockopt", "IPV6_UNICAST_HOPS 255"))?;
    sock.set_tclass_v6(VRRP_TOS)
        .map_err(sys("setsockopt", "IPV6_TCLASS 0xc0"))?;
    sock.set_recv_hoplimit_v6(true)
        .map_err(sys("setsockopt", "IPV6_RECVHOPLIMIT"))?;
    nix_socket::setsockopt(sock, sockopt::Ipv6RecvPacketInfo, &true)
        .map_err(io::Error::from)
        .map_err(sys("setsockopt", "IPV6_RECVPKTINFO"))?;
    if let Some(group) = group {
        match sock.set_multicast_all_v6(false) {
            // Linux < 4.20 has no IPV6_MULTICAST_ALL; SO_BINDTODEVICE still keeps other
            // interfaces' groups out.
            Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => {}
            other => other.map_err(sys("setsockopt", "IPV6_MULTICAST_ALL 0"))?,
        }
        sock.join_multicast_v6(&group, ifindex)
            .map_err(sys("setsockopt", &format!("IPV6_ADD_MEMBERSHIP {group}")))?;
        sock.set_multicast_if_v6(ifindex)
            .map_err(sys("setsockopt", "IPV6_MULTICAST_IF"))?;
        sock.set_multicast_hops_v6(VRRP_TTL)
            .map_err(sys("setsockopt", "IPV6_MULTICAST_HOPS 255"))?;
        sock.set_multicast_loop_v6(false)
            .map_err(sys("setsockopt", "IPV6_MULTICAST_LOOP 0"))?;
    }
    sock.bind(&to_sockaddr(src.into(), ifindex))
        .map_err(sys("bind", &src.to_string()))?;
    Ok(())
}

/// One `recvmsg` on a raw IPv6 socket: the payload into `buf`, the source from the socket
/// address, the destination and hop limit from the control messages.
fn recvmsg_v6(fd: std::os::fd::RawFd, buf: &mut [u8]) -> io::Result<Inbound> {
    let mut cmsgs = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int);
    let mut iov = [IoSliceMut::new(buf)];
    let msg =
        nix_socket::recvmsg::<SockaddrIn6>(fd, &mut iov, Some(&mut cmsgs), MsgFlags::MSG_DONTWAIT)?;
    let missing = |what| io::Error::new(io::ErrorKind::InvalidData, what);
    let src = msg
        .address
        .map(|a| a.ip())
        .ok_or_else(|| missing("no source address"))?;
    let (mut dst, mut hop_limit) = (None, None);
    for cmsg in msg.cmsgs()? {
        match cmsg {
            ControlMessageOwned::Ipv6PacketInfo(info) => {
                dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
            }
            ControlMessageOwned::Ipv6HopLimit(h) => hop_limit = u8::try_from(h).ok(),
            _ => {}
        }
    }
    Ok(Inbound {
        len: msg.bytes,
        ipv6: Some(Ipv6Meta {
            src,
            dst: dst.ok_or_else(|| missing("no IPV6_PKTINFO control message"))?,
            hop_limit: hop_limit.ok_or_else(|| missing("no IPV6_HOPLIMIT control message"))?,
        }),
    })
}

/// The socket address of `ip`; an IPv6 address that needs a scope (link-local unicast,
/// interface- or link-local multicast) gets the interface's.
fn to_sockaddr(ip: IpAddr, ifindex: u32) -> SockAddr {
    match ip {
        IpAddr::V4(ip) => SockAddr::from(SocketAddrV4::new(ip, 0)),
        IpAddr::V6(ip) => {
            let scoped = ip.is_unicast_link_local()
                || (ip.is_multicast() && matches!(ip.segments()[0] & 0x000f, 1 | 2));
            let scope = if scoped { ifindex } else { 0 };
            SockAddr::from(SocketAddrV6::new(ip, 0, 0, scope))
        }
    }
}

/// `IP_MULTICAST_IF` with an `ip_mreqn`: outgoing interface by index, and the source address
/// for multicast sent from an unbound socket. socket2 only offers the `in_addr` form.
fn set_multicast_if(sock: &Socket, ifindex: u32, src: Ipv4Addr) -> io::Result<()> {
    let ifindex = i32::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "ifindex out of range"))?;
    let mreqn = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr {
            s_addr: u32::from(src).to_be(),
        },
        imr_ifindex: ifindex,
    };
    let len = libc::socklen_t::try_from(mem::size_of::<libc::ip_mreqn>())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "ip_mreqn size"))?;
    // SAFETY: the pointer and length describe `mreqn`, a valid `ip_mreqn` that outlives the
    // call; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&raw const mreqn).cast::<libc::c_void>(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_addresses_get_the_interface() {
        let scope = |ip: &str| {
            to_sockaddr(ip.parse().unwrap(), 7)
                .as_socket_ipv6()
                .map(|a| a.scope_id())
        };
        assert_eq!(scope("ff02::12"), Some(7));
        assert_eq!(scope("fe80::1"), Some(7));
        assert_eq!(scope("fd00::1"), Some(0));
        assert_eq!(scope("ff05::12"), Some(0));
        assert!(
            to_sockaddr("10.0.0.1".parse().unwrap(), 7)
                .as_socket_ipv4()
                .is_some()
        );
    }

    #[test]
    fn default_groups_follow_the_family() {
        assert_eq!(
            Transport::multicast_for(Ipv4Addr::LOCALHOST.into()).dests(),
            [IpAddr::V4(GROUP_V4)]
        );
        assert_eq!(
            Transport::multicast_for(Ipv6Addr::LOCALHOST.into()).dests(),
            [IpAddr::V6(GROUP_V6)]
        );
    }
}
