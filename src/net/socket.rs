//! The raw IPv4 socket for IP protocol 112 (VRRP), one per instance, on tokio.
//!
//! Options match what keepalived 2.2 sets: bound to the interface (`SO_BINDTODEVICE`),
//! `IP_TTL` 255, `IP_TOS` 0xc0 (network control). Multicast: joins 224.0.0.18 on the interface
//! (`ip_mreqn` by ifindex), `IP_MULTICAST_IF` = that ifindex and the source address,
//! `IP_MULTICAST_TTL` 255, `IP_MULTICAST_LOOP` 0, `IP_MULTICAST_ALL` 0. Unicast: `bind()` to the
//! source address.
//!
//! Why a multicast socket is not `bind()`-ed to the source address: the kernel delivers a
//! datagram to a bound raw socket only when its destination equals the bound address
//! (`raw_v4_match` in net/ipv4/raw.c), so a bound socket never sees 224.0.0.18. keepalived
//! leaves its multicast receive socket unbound for the same reason. The source of what we send
//! is still `src`: it is the `imr_address` given to `IP_MULTICAST_IF`, which the kernel uses when
//! the socket has no bound address (`raw_sendmsg`).
//!
//! Received datagrams include the IPv4 header (that is how raw IPv4 sockets work); it is left in
//! place, because the parser checks TTL 255 and reads IHL from it.
//!
//! Tokio registration: the socket is non-blocking and wrapped in an `AsyncFd`. tokio 1.53.3
//! deprecated `AsyncFd::new` (unsound without I/O safety) in favour of the `unsafe`
//! `AsyncFd::register`; Cargo.lock pins tokio 1.54.1, where both exist, and we use
//! `register`.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::{NetError, read_when_ready, require_runtime};

/// IP protocol number of VRRP.
const IPPROTO_VRRP: i32 = 112;
/// The VRRP multicast group (RFC 3768 §5.2.2).
const VRRP_MCAST_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The TTL every VRRP packet is sent with and must arrive with (RFC 3768 §5.2.3).
const VRRP_TTL: u32 = 255;
/// The TOS byte keepalived sends with: IPTOS_PREC_INTERNETCONTROL.
const VRRP_TOS: u32 = 0xc0;

/// Where adverts go and which ones arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// To the group 224.0.0.18 on the interface.
    Multicast,
    /// To each peer's address (keepalived's `unicast_peer`), from `unicast_src_ip`.
    Unicast {
        /// The peers, in configuration order.
        peers: Vec<Ipv4Addr>,
    },
}

/// A raw IPv4 socket for IP protocol 112 on one interface, registered with tokio.
#[derive(Debug)]
pub struct VrrpSocket {
    /// The socket, non-blocking, owned by tokio's reactor registration.
    fd: AsyncFd<Socket>,
    /// Interface name, for error messages.
    ifname: String,
    /// Interface index the socket is bound to.
    ifindex: u32,
    /// Source address of what we send.
    src: Ipv4Addr,
    /// Multicast or unicast, as opened.
    transport: Transport,
    /// Where `send` sends to: the group, or each peer.
    dests: Vec<SockAddr>,
}

impl VrrpSocket {
    /// Opens a raw socket for protocol 112 bound to interface `ifname` (SO_BINDTODEVICE) with
    /// source address `src`.
    ///
    /// Multicast: joins 224.0.0.18 on `ifindex` (ip_mreqn), IP_MULTICAST_IF = (`ifindex`,
    /// `src`), IP_MULTICAST_TTL 255, IP_MULTICAST_LOOP 0, IP_MULTICAST_ALL 0; not `bind()`-ed
    /// (see the module doc). Unicast: `bind()` to `src`.
    /// Always: IP_TTL 255, IP_TOS 0xc0, non-blocking, registered with tokio (so this must be
    /// called inside a tokio runtime, and the socket used on that runtime).
    pub fn open(
        ifname: &str,
        ifindex: u32,
        src: Ipv4Addr,
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

        let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_VRRP)))
            .map_err(sys("socket", "AF_INET, SOCK_RAW, 112"))?;
        sock.bind_device(Some(ifname.as_bytes()))
            .map_err(sys("setsockopt", "SO_BINDTODEVICE"))?;
        sock.set_ttl_v4(VRRP_TTL)
            .map_err(sys("setsockopt", "IP_TTL 255"))?;
        sock.set_tos_v4(VRRP_TOS)
            .map_err(sys("setsockopt", "IP_TOS 0xc0"))?;

        let dests = match &transport {
            Transport::Multicast => {
                sock.set_multicast_all_v4(false)
                    .map_err(sys("setsockopt", "IP_MULTICAST_ALL 0"))?;
                sock.join_multicast_v4_n(
                    &VRRP_MCAST_GROUP,
                    &InterfaceIndexOrAddress::Index(ifindex),
                )
                .map_err(sys("setsockopt", "IP_ADD_MEMBERSHIP 224.0.0.18"))?;
                set_multicast_if(&sock, ifindex, src)
                    .map_err(sys("setsockopt", "IP_MULTICAST_IF"))?;
                sock.set_multicast_ttl_v4(VRRP_TTL)
                    .map_err(sys("setsockopt", "IP_MULTICAST_TTL 255"))?;
                sock.set_multicast_loop_v4(false)
                    .map_err(sys("setsockopt", "IP_MULTICAST_LOOP 0"))?;
                vec![to_sockaddr(VRRP_MCAST_GROUP)]
            }
            Transport::Unicast { peers } => {
                sock.bind(&to_sockaddr(src))
                    .map_err(sys("bind", &src.to_string()))?;
                peers.iter().copied().map(to_sockaddr).collect()
            }
        };
        sock.set_nonblocking(true)
            .map_err(sys("fcntl", "O_NONBLOCK"))?;

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

    /// Receives one whole IPv4 datagram (header included) into `buf`; returns its length.
    ///
    /// A datagram longer than `buf` is truncated (use 1500 bytes or more). Cancel-safe: a
    /// datagram is never lost by dropping this future before it completes.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<usize, NetError> {
        read_when_ready(&self.fd, buf)
            .await
            .map_err(|e| self.err("recv", "IPPROTO_VRRP", e))
    }

    /// Sends one VRRP message (no IP header; the kernel adds it) to 224.0.0.18, or to each
    /// unicast peer.
    ///
    /// Never waits: a full socket buffer is an error (`EAGAIN`), as is any other. In unicast
    /// mode every peer is tried; the first error is returned.
    pub fn send(&self, vrrp: &[u8]) -> Result<(), NetError> {
        let mut first_err = None;
        for dest in &self.dests {
            let res = loop {
                match self.fd.get_ref().send_to(vrrp, dest) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            if let Err(e) = res {
                let to = dest
                    .as_socket_ipv4()
                    .map_or_else(|| "?".to_owned(), |a| a.ip().to_string());
                first_err.get_or_insert(NetError::syscall("sendto", to, &self.ifname, e));
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// The interface index the socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The source address of what we send.
    pub fn src(&self) -> Ipv4Addr {
        self.src
    }

    /// Multicast or unicast (with the peers), as opened.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    fn err(&self, call: &'static str, what: &str, e: io::Error) -> NetError {
        NetError::syscall(call, what, &self.ifname, e)
    }
}

fn to_sockaddr(ip: Ipv4Addr) -> SockAddr {
    SockAddr::from(SocketAddrV4::new(ip, 0))
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
