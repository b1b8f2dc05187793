//! vipd: a virtual-IP failover agent that speaks VRRP like keepalived (VRRPv2, RFC 3768, and
//! VRRPv3, RFC 9568, over IPv4 and IPv6).
//!
//! # Layout
//! - [`config`]: keepalived.conf or TOML in, one typed and validated model out.
//! - [`vrrp`]: the wire format (v2 and v3, IPv4 and IPv6), the pure RFC 3768 state machine
//!   and the driver of one instance (`vrrp::instance`, testable with fake kernel doors).
//! - [`route_instance`]: `route_instance`: VIPs announced as host routes for a routing daemon
//!   (BIRD) to export over BGP, from health and maintenance; no VRRP.
//! - [`vip`]: making a VIP reachable here: the VIP set an instance holds, releases and
//!   diffs, its announcers (gratuitous ARP, neighbour advertisements, host routes), defending VIPs another
//!   host claims, and clearing VIPs an earlier run left behind.
//! - [`runstate`]: what one run leaves for the next (master or not, the VIPs it added), so a
//!   restart keeps its own VIPs.
//! - [`net`]: the kernel doors of the VRRP path: raw sockets, netlink, ARP. Which other
//!   rooms make their own system calls, and why, is in its module doc.
//! - [`control`]: the Unix control socket spoken by `vipd` and `vipctl`.
//! - [`lb`]: `virtual_server` pools: a TCP forwarder with schedulers and health checks.
//! - [`daemon`]: builds everything from the config; owns signals, reload and shutdown order.
//! - `metrics`: the optional Prometheus page.
//! - [`status`]: the status model every room writes or reads; it imports nothing of vipd.
//! - `exec`: the one child-process runner (checks and notify scripts): process group, timeout,
//!   user, clean environment, no inherited descriptors.
//! - `ratelimit`: log lines others can trigger, at most one per window.
//! - `fuzzing` (only with `--cfg fuzzing`): entry points of the fuzz targets in `fuzz/`.
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
mod exec;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
pub mod lb;
mod metrics;
pub mod net;
pub mod notify;
mod ratelimit;
pub mod route_instance;
pub mod runstate;
pub mod status;
pub mod track;
pub mod vip;
pub mod vrrp;
