//! The kernel doors of the VRRP side: the raw VRRP socket, rtnetlink and ARP.
//!
//! Everything an instance asks of the kernel goes through here, behind `vrrp::doors`, so a
//! test double can stand in for the whole of it (`tests/instance.rs` runs instances on fakes).
//! This is also the only module allowed `unsafe` (besides `exec`'s hook between fork and exec,
//! see there): it is needed for two socket options socket2 does not wrap (`IP_MULTICAST_IF`
//! with an `ip_mreqn`, a `sockaddr_ll` for `AF_PACKET`) and for registering a file descriptor
//! with tokio (`AsyncFd::register`, see [`socket`]).
//!
//! - [`socket`]: raw IPv4 socket for IP protocol 112, multicast 224.0.0.18 or unicast peers.
//! - [`addr`]: rtnetlink: links, IPv4 addresses (the VIPs) and link up/down events.
//! - [`arp`]: gratuitous ARP frames over `AF_PACKET`, as keepalived sends them, and a watch
//!   for the ARP claims of other hosts.
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
