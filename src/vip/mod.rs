//! Making a virtual address reachable here: holding it, announcing it, keeping it ours.
//!
//! This is the seam between the VRRP driver, which decides *when* this host serves its VIPs,
//! and the kernel doors in `net/`, which carry out *how* (addresses, ARP frames). The
//! logic is kept apart from the IO ([`Announcer`]), so that it is tested without a kernel.
//!
//! - [`VipSet`]: the VIPs of one instance, held, released, announced and updated through an
//!   [`Announcer`]; only the addresses it added are ever removed.
//! - [`ArpAnnouncer`]: today's announcer, netlink and gratuitous ARP.
//! - [`Defender`]: when a master re-announces its VIPs after another host claimed one.
//! - [`clear_stale`]: at startup, the VIPs an earlier run left behind.

mod arp;
mod defend;
mod set;
mod stale;

pub use arp::ArpAnnouncer;
pub use defend::{COALESCE_DELAY, Defender, MAX_COOLDOWN};
pub use set::{Announcer, BoundVip, Update, VipSet};
pub use stale::clear_stale;
