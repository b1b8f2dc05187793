//! The kernel doors of the VRRP side: the raw VRRP socket, rtnetlink, ARP and neighbour
//! advertisements.
//!
//! Everything an instance asks of the kernel goes through here, behind `vrrp::doors`, so a
//! test double can stand in for the whole of it (`tests/instance.rs` runs instances on fakes).
//! This is also the only module allowed `unsafe` (besides `exec`'s hook between fork and exec,
//! see there): it is needed for two socket options socket2 does not wrap (`IP_MULTICAST_IF`
//! with an `ip_mreqn`, a `sockaddr_ll` for `AF_PACKET`) and for registering a file descriptor
//! with tokio (`AsyncFd::register`, see [`socket`]).
//!
//! - [`socket`]: raw IPv4 or IPv6 socket for IP protocol 112, multicast (224.0.0.18,
//!   ff02::12) or unicast peers.
//! - [`addr`]: rtnetlink: links, IPv4 and IPv6 addresses (the VIPs, IPv6 ones without DAD),
//!   the link-local source of IPv6 adverts, and link and address events.
//! - [`route`]: rtnetlink host routes with vipd's protocol (220) in a table no rule
//!   points at: the signal a routing daemon exports (`route_instance`, `route_table`).
//! - [`arp`]: gratuitous ARP frames over `AF_PACKET`, as keepalived sends them, and a watch
//!   for the ARP claims of other hosts.
//! - [`nd`]: unsolicited neighbour advertisements over `AF_PACKET`, as keepalived sends
//!   them: the IPv6 gratuitous ARP.
//!
//! Errors are one [`NetError`] whose message names the interface and the syscall or netlink
//! operation that failed, e.g. `setsockopt(SO_BINDTODEVICE, eth0): Operation not permitted`.
//!
//! # Rooms that make their own system calls, and why
//! Each of these calls is its room's own business, made through the safe wrappers of std,
//! tokio, mio, socket2 or nix, and tested against the real kernel (loopback sockets,
//! temporary files, child processes; without root, but for running a script as another
//! user): a door here would hide why each call is made as it is and make nothing easier to
//! test.
//! - `lb`: the forwarder is sockets and bytes. Its listeners (`IP_FREEBIND`, `SO_REUSEPORT`),
//!   its connects (quick ACKs off to hold the handshake's last ACK), each connection's
//!   options (keepalive, `SO_LINGER` 0 to reset), `splice(2)` through pipes and its own epoll
//!   (mio) are the forwarding design itself and its hot path, where a door would cost a call
//!   per event; the open-file limit it reads sets how many connections it takes; its health
//!   checks connect through tokio.
//! - `control` and `metrics`: their own listening sockets through tokio (the control socket
//!   with its group and mode, and its peers' credentials for `control::access`).
//! - `track`: reads files and `/proc` (a tracked file opened non-blocking, so a FIFO cannot
//!   hold the read).
//! - `exec`: starts programs: process groups, users, `close_range(2)`, killing a group.
//! - `daemon`: signals, and raising the open-file limit at startup.
//! - `config`: user and group lookups and file ownership, to refuse scripts root should not
//!   run.
#![allow(unsafe_code)]

pub mod addr;
pub mod arp;
pub mod nd;
pub mod route;
pub mod socket;
pub mod vmac;

use std::io;

/// An error from the kernel, or from setting up the plumbing to reach it.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A socket syscall failed: `call(what, ifname): error`.
    #[error("{call}({what}, {ifname}): {source}")]
    Syscall {
        /// The syscall, e.g. `setsockopt`, `socket`, `bind`, `sendto`.
        call: &'static str,
        /// Its argument that tells the calls apart, e.g. `SO_BINDTODEVICE` or `224.0.0.18`.
        what: String,
        /// The interface the socket belongs to (a name, or `ifindex N`).
        ifname: String,
        /// The error the kernel returned.
        #[source]
        source: io::Error,
    },
    /// A netlink request failed: `netlink op (target): error`.
    #[error("netlink {op} ({target}): {source}")]
    Netlink {
        /// The request, e.g. `RTM_NEWADDR 10.0.0.1/24`.
        op: String,
        /// The interface it was about (a name, or `ifindex N`).
        target: String,
        /// The error the kernel returned (or a decoding error, as `ErrorKind::Other`).
        #[source]
        source: io::Error,
    },
    /// Opening a netlink socket failed.
    #[error("netlink: cannot open a NETLINK_ROUTE socket ({what}): {source}")]
    NetlinkOpen {
        /// Which socket: requests, or the link event subscription.
        what: &'static str,
        /// The error the kernel returned.
        #[source]
        source: io::Error,
    },
    /// The named interface does not exist (in this network namespace).
    #[error(
        "no such network interface: {0:?} (check the interface name and the network namespace)"
    )]
    NoSuchInterface(String),
    /// A function that registers with tokio was called outside a tokio runtime.
    #[error("{0}: must be called inside a tokio runtime")]
    NoRuntime(&'static str),
    /// An argument the kernel would reject anyway, caught before the call.
    #[error("{what} ({target}): invalid argument: {why}")]
    Invalid {
        /// The call it was meant for.
        what: &'static str,
        /// The interface it was about.
        target: String,
        /// What is wrong with it.
        why: String,
    },
}

impl NetError {
    /// True when the kernel said EPERM or EACCES: the process lacks CAP_NET_ADMIN or
    /// CAP_NET_RAW. The binary turns this into "vipd needs CAP_NET_ADMIN and CAP_NET_RAW: run
    /// it as root or grant both".
    pub fn is_permission(&self) -> bool {
        match self {
            NetError::Syscall { source, .. }
            | NetError::Netlink { source, .. }
            | NetError::NetlinkOpen { source, .. } => is_permission(source),
            NetError::NoSuchInterface(_) | NetError::NoRuntime(_) | NetError::Invalid { .. } => {
                false
            }
        }
    }

    /// Builds a [`NetError::Syscall`].
    pub(crate) fn syscall(
        call: &'static str,
        what: impl Into<String>,
        ifname: impl Into<String>,
        source: io::Error,
    ) -> Self {
        NetError::Syscall {
            call,
            what: what.into(),
            ifname: ifname.into(),
            source,
        }
    }
}

fn is_permission(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
        || e.kind() == io::ErrorKind::PermissionDenied
}

/// Fails with [`NetError::NoRuntime`] when there is no tokio runtime to register with, instead
/// of the panic tokio would raise.
fn require_runtime(what: &'static str) -> Result<(), NetError> {
    tokio::runtime::Handle::try_current()
        .map(|_| ())
        .map_err(|_| NetError::NoRuntime(what))
}

/// Reads one datagram or frame from a non-blocking socket registered with tokio, waiting for
/// it to be readable; an interrupted read or stale readiness is retried. Cancel-safe: nothing
/// is read unless it is returned.
async fn read_when_ready(
    fd: &tokio::io::unix::AsyncFd<socket2::Socket>,
    buf: &mut [u8],
) -> io::Result<usize> {
    use std::io::Read;
    loop {
        let mut guard = fd.readable().await?;
        match guard.try_io(|inner| {
            let mut sock: &socket2::Socket = inner.get_ref();
            sock.read(buf)
        }) {
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(result) => return result,
            // Would block: readiness was stale and has been cleared; wait again.
            Err(_would_block) => continue,
        }
    }
}

/// A send-only packet socket (`AF_PACKET`/`SOCK_RAW`, protocol 0: the kernel queues it no
/// received frame) and where its frames go: an interface, an EtherType and a MAC.
#[derive(Debug)]
struct FrameSender {
    sock: socket2::Socket,
    /// Interface index, for error messages.
    ifindex: u32,
    dest: socket2::SockAddr,
}

impl FrameSender {
    /// Opens one for interface `ifindex`, EtherType `protocol` (named `what`), to `mac`.
    fn open(ifindex: u32, protocol: i32, what: &str, mac: [u8; 6]) -> Result<Self, NetError> {
        use socket2::{Domain, Socket, Type};
        let ifname = format!("ifindex {ifindex}");
        let sock = Socket::new(Domain::PACKET, Type::RAW, None)
            .map_err(|e| NetError::syscall("socket", "AF_PACKET, SOCK_RAW, 0", &ifname, e))?;
        let dest = link_addr(ifindex, protocol, mac)
            .map_err(|e| NetError::syscall("sockaddr_ll", what, &ifname, e))?;
        Ok(FrameSender {
            sock,
            ifindex,
            dest,
        })
    }

    /// Sends one whole frame; never waits. `what` names it in the error.
    fn send(&self, frame: &[u8], what: impl FnOnce() -> String) -> Result<(), NetError> {
        loop {
            match (self.sock).send_to_with_flags(frame, &self.dest, libc::MSG_DONTWAIT) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let ifname = format!("ifindex {}", self.ifindex);
                    return Err(NetError::syscall("sendto", what(), ifname, e));
                }
            }
        }
    }
}

/// A `sockaddr_ll` for `sendto` or `bind` on an `AF_PACKET` socket.
fn link_addr(ifindex: u32, protocol: i32, addr: [u8; 6]) -> io::Result<socket2::SockAddr> {
    let invalid = |what| io::Error::new(io::ErrorKind::InvalidInput, what);
    let ifindex = i32::try_from(ifindex).map_err(|_| invalid("ifindex out of range"))?;
    let protocol = u16::try_from(protocol).map_err(|_| invalid("protocol out of range"))?;
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_ll>())
        .map_err(|_| invalid("sockaddr_ll size"))?;
    let family = libc::sa_family_t::try_from(libc::AF_PACKET)
        .map_err(|_| invalid("AF_PACKET out of range"))?;
    let mut storage = socket2::SockAddrStorage::zeroed();
    // SAFETY: `SockAddrStorage` is a `sockaddr_storage`, larger than and aligned for a
    // `sockaddr_ll`, and all-zero bytes are a valid `sockaddr_ll`.
    let sll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
    sll.sll_family = family;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(&addr);
    // SAFETY: `storage` holds an initialised `sockaddr_ll` of `len` bytes.
    Ok(unsafe { socket2::SockAddr::new(storage, len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_errors_are_recognised() {
        let e = NetError::syscall(
            "setsockopt",
            "SO_BINDTODEVICE",
            "eth0",
            io::Error::from_raw_os_error(libc::EPERM),
        );
        assert!(e.is_permission());
        assert_eq!(
            e.to_string(),
            "setsockopt(SO_BINDTODEVICE, eth0): Operation not permitted (os error 1)"
        );
        let e = NetError::Netlink {
            op: "RTM_NEWADDR 10.0.0.1/24".into(),
            target: "ifindex 2".into(),
            source: io::Error::from_raw_os_error(libc::EACCES),
        };
        assert!(e.is_permission());
        let e = NetError::syscall(
            "sendto",
            "224.0.0.18",
            "eth0",
            io::Error::from_raw_os_error(libc::ENOBUFS),
        );
        assert!(!e.is_permission());
        assert!(!NetError::NoSuchInterface("eth9".into()).is_permission());
    }
}
