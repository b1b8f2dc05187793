//! vipd: a virtual-IP failover agent that speaks VRRPv2 (RFC 3768) like keepalived.
//!
//! # Layout
//! - [`config`]: keepalived.conf or TOML in, one typed and validated model out.
//! - [`vrrp`]: the wire format, the pure RFC 3768 state machine and the task that drives
//!   one instance.
//! - [`vip`]: making a VIP reachable here; for now, when a master re-announces its VIPs after
//!   another host claimed one.
//! - [`net`]: every call that touches the kernel: raw socket, netlink, gratuitous ARP.
//! - [`control`]: the Unix control socket spoken by `vipd` and `vipctl`.
//! - [`lb`]: `virtual_server` pools: a TCP forwarder with schedulers and health checks.
//! - [`daemon`]: builds everything from the config; owns signals, reload and shutdown order.
//! - [`metrics`]: the optional Prometheus page.
//! - [`status`]: the status model every room writes or reads; it imports nothing of vipd.
//! - `exec`: the one child-process runner (checks and notify scripts): process group, timeout,
//!   user, clean environment, no inherited descriptors.
//! - `ratelimit`: log lines others can trigger, at most one per window.
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
pub mod metrics;
pub mod net;
pub mod notify;
mod ratelimit;
pub mod status;
pub mod track;
pub mod vip;
pub mod vrrp;
