//! The control protocol: one set of serde types for `vipd` (server) and `vipctl` (client).
//!
//! Framing is newline-delimited JSON: one [`Request`] line in, one [`Response`] line out,
//! except [`Request::Watch`], answered by [`Response::Watching`] and then one
//! [`Response::Event`] line per transition until the client hangs up.
//! The status schema is versioned by [`SCHEMA_VERSION`]; fields are only ever added (new ones
//! carry `#[serde(default)]` so that a newer vipctl still reads an older vipd).

use serde::{Deserialize, Serialize};

pub use crate::status::{
    Event, HandoverResult, InstanceStatus, SCHEMA_VERSION, Status, VirtualServerStatus,
};

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// The state of every instance.
    Status,
    /// Stream transitions as they happen.
    Watch,
    /// Re-read the configuration file, all or nothing. Changes state.
    Reload,
    /// Planned switchover of master instances (all when `instance` is `None`). Changes state.
    Handover {
        /// One instance by name, or every master.
        instance: Option<String>,
    },
    /// Maintenance mode on or off (all instances when `instance` is `None`). Changes state.
    Maintenance {
        /// On or off.
        on: bool,
        /// One instance by name, or all.
        instance: Option<String>,
    },
    /// Re-execute vipd in place (after a package upgrade), keeping VIPs and roles. Changes
    /// state.
    Upgrade,
}

impl Request {
    /// True for requests that change the daemon's state: only root or the socket's group
    /// may send them.
    pub(crate) fn changes_state(&self) -> bool {
        !matches!(self, Request::Status | Request::Watch)
    }
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
    /// The peer may not send this request (it changes state; see `Request::changes_state`).
    Denied {
        /// Why, naming the peer's uid and the group that may.
        message: String,
    },
    /// The answer to [`Request::Watch`]; [`Response::Event`]s follow.
    Watching,
    /// One transition, on a watch stream.
    Event(Event),
    /// The answer to [`Request::Reload`]: the new configuration is running.
    Reloaded(ReloadSummary),
    /// The answer to [`Request::Handover`], once every instance asked has finished.
    HandedOver {
        /// One entry per instance asked.
        results: Vec<HandoverResult>,
    },
    /// The answer to [`Request::Upgrade`], sent just before vipd re-executes itself.
    Upgrading {
        /// The binary it runs.
        exe: String,
        /// Its process id, which the new binary keeps.
        pid: u32,
    },
    /// The answer to [`Request::Maintenance`].
    Maintenance {
        /// On or off, as asked.
        on: bool,
        /// The instances it now applies to.
        instances: Vec<String>,
    },
}

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadSummary {
    /// Instances left running as they were (state kept, no election).
    pub unchanged: Vec<String>,
    /// Instances started.
    pub added: Vec<String>,
    /// Instances stopped (priority 0 if master, VIPs removed).
    pub removed: Vec<String>,
    /// Instances whose VIP list changed in place (only those VIPs added or removed).
    pub vips_changed: Vec<String>,
    /// Instances restarted because other settings changed.
    pub restarted: Vec<String>,
    /// Warnings of the new configuration (keywords vipd accepts but ignores, ...).
    pub warnings: Vec<String>,
    /// Virtual servers (`IP:PORT`) left as they were.
    #[serde(default)]
    pub pools_unchanged: Vec<String>,
    /// Virtual servers reconfigured on their listeners (servers keep their state).
    #[serde(default)]
    pub pools_changed: Vec<String>,
    /// Virtual servers now listening.
    #[serde(default)]
    pub pools_added: Vec<String>,
    /// Virtual servers no longer listening (their open connections finish).
    #[serde(default)]
    pub pools_removed: Vec<String>,
    /// Route instances that took new settings in place (a new priority moves the metric
    /// make-before-break; only VIPs no longer listed are withdrawn).
    #[serde(default)]
    pub routes_changed: Vec<String>,
}
