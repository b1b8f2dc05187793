//! Making a virtual address reachable here: holding it, announcing it, keeping it ours.
//!
//! This is the seam between the VRRP driver, which decides *when* this host serves its VIPs,
//! and the kernel doors in `net/`, which carry out *how* (addresses, ARP frames, neighbour
//! advertisements). The logic is kept apart from the IO ([`Announcer`]), so that it is
//! tested without a kernel.
//!
//! - [`VipSet`]: the VIPs of one instance, held, released, announced and updated through an
//!   [`Announcer`]; only the addresses it added are ever removed.
//! - [`KernelAnnouncer`]: the kernel's announcer: netlink, and gratuitous ARP for IPv4 or
//!   unsolicited neighbour advertisements for IPv6.
//! - [`Defender`]: when a master re-announces its VIPs after another host claimed one.
//! - [`RouteSet`]: VIPs made reachable through a routing daemon: a host route each, with
//!   vipd's protocol, in a table the daemon exports, the metric from the priority, moved
//!   make-before-break ([`RouteDoor`]).
//! - [`clear_stale`]: at startup, the VIPs an earlier run left behind.

mod defend;
mod kernel;
mod route;
mod set;
mod stale;

pub use defend::{COALESCE_DELAY, Defender, MAX_COOLDOWN};
pub use kernel::KernelAnnouncer;
#[cfg(test)]
pub(crate) use route::fake;
pub use route::{RouteDoor, RouteSet, RouteTarget, metric};
pub use set::{Announcer, BoundVip, Update, VipSet};
pub use stale::clear_stale;
