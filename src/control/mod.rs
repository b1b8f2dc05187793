//! The control socket: a Unix socket speaking newline-delimited JSON ([`proto`]), served by
//! `vipd` ([`server`]) and spoken by `vipctl` ([`client`]); who may change state is
//! [`access`]'s business.

pub(crate) mod access;
pub mod client;
pub mod proto;
pub mod render;
pub(crate) mod server;

/// Where the socket lives unless `--socket` or `VIPD_SOCKET` says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/vipd/vipd.sock";
