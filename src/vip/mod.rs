//! Making a virtual address reachable here: holding it, announcing it, keeping it ours.
//!
//! This is the seam between the VRRP driver, which decides *when* this host serves its VIPs,
//! and the kernel doors in `net/`, which carry out *how* (addresses, ARP frames). It holds
//! pure logic only; the driver does the IO.
//!
//! - [`Defender`]: when a master re-announces its VIPs after another host claimed one.

mod defend;

pub use defend::{COALESCE_DELAY, Defender, MAX_COOLDOWN};
