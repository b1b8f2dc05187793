//! The control protocol: one set of serde types for `vipd` (server) and `vipctl` (client).
//!
//! Framing is newline-delimited JSON: one [`Request`] line in, one [`Response`] line out.
//! The status schema is versioned by [`SCHEMA_VERSION`]; fields are only ever added.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the status schema; bumped when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// The state of every instance.
    Status,
}

/// What the daemon answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    /// The answer to [`Request::Status`].
    Status(Status),
    /// The request could not be served.
    Error {
        /// Why, in words for an operator.
        message: String,
    },
}

/// The whole daemon's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// `router_id` from `global_defs`.
    pub router_id: Option<String>,
    /// The daemon's process id.
    pub pid: u32,
    /// Every instance, in config order.
    pub instances: Vec<InstanceStatus>,
}

/// One VRRP instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    /// The instance name.
    pub name: String,
    /// The VRRP interface.
    pub interface: String,
    /// The virtual router id.
    pub vrid: u8,
    /// INIT, BACKUP, MASTER or FAULT.
    pub state: String,
    /// The configured priority.
    pub priority: u8,
    /// The priority advertised now: the configured one moved by tracked checks.
    #[serde(default)]
    pub effective_priority: u8,
    /// The address adverts are sent from.
    pub source: String,
    /// The current master as far as this node knows.
    pub master: Option<Peer>,
    /// Every virtual address and whether the kernel really has it here.
    pub vips: Vec<VipStatus>,
    /// The most recent state change.
    pub last_transition: Option<Transition>,
    /// Traffic and drop counters.
    pub counters: Counters,
    /// Tracked checks and what they say.
    #[serde(default)]
    pub tracks: Vec<TrackStatus>,
}

/// One tracked check as an instance sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackStatus {
    /// "check chk_nginx", "interface eth1", "file maint", "process nginx".
    pub name: String,
    /// "script", "interface", "file" or "process".
    pub kind: String,
    /// Healthy as far as this instance's weight goes.
    pub ok: bool,
    /// The weight this instance applies.
    pub weight: i32,
    /// The last observation: "exit status 7", "down", "reads 1".
    pub detail: String,
}

/// A router heard on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// Its address.
    pub addr: String,
    /// The priority it advertised.
    pub priority: u8,
}

/// One virtual address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipStatus {
    /// `ADDR/LEN`.
    pub addr: String,
    /// The interface it goes on.
    pub dev: String,
    /// True when the kernel has the address on that interface now.
    pub present: bool,
}

/// A state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// When, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// The old state.
    pub from: String,
    /// The new state.
    pub to: String,
    /// Why, as logged.
    pub reason: String,
}

/// Counters of one instance since the daemon started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Adverts sent, including priority-0 ones.
    pub adverts_sent: u64,
    /// Adverts that passed every check.
    pub adverts_received: u64,
    /// Gratuitous ARP packets sent.
    pub garps_sent: u64,
    /// State changes.
    pub transitions: u64,
    /// Received packets dropped, by reason (`auth_password`, `ttl`, ...).
    pub drops: BTreeMap<String, u64>,
}
