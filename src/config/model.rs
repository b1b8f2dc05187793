//! The typed, validated configuration every loader produces and the daemon consumes.
//!
//! Field names follow keepalived's keywords so users recognise them.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// A whole vipd configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// `global_defs { router_id }`: a name for this node in logs and status.
    pub router_id: Option<String>,
    /// `global_defs { metrics_listen ADDR:PORT }`: where to serve Prometheus metrics at
    /// `/metrics`; `None` = no metrics page.
    pub metrics_listen: Option<SocketAddr>,
    /// Every `vrrp_instance`, in file order.
    pub instances: Vec<VrrpInstance>,
    /// Every `vrrp_script`: health checks that instances track by name.
    pub vrrp_script: Vec<VrrpScript>,
    /// Every `vrrp_track_file`: files whose number moves priorities (maintenance files).
    pub vrrp_track_file: Vec<TrackFile>,
    /// Every `vrrp_track_process`: processes whose presence moves priorities.
    pub vrrp_track_process: Vec<TrackProcess>,
    /// Every `vrrp_sync_group`: instances that change state together.
    pub vrrp_sync_group: Vec<SyncGroup>,
    /// `global_defs { script_user USER [GROUP] }`: who scripts run as by default.
    pub script_user: Option<ScriptUser>,
    /// `global_defs { enable_script_security }`: refuse scripts that non-root users could
    /// change. vipd refuses them whenever it runs as root; this keyword is accepted for
    /// keepalived files.
    pub enable_script_security: bool,
}

/// A program and its arguments, run directly: never spliced into a shell command line.
pub type Argv = Vec<String>;

/// `USER [GROUP]` a script runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptUser {
    /// User name.
    pub user: String,
    /// Group name; `None` = the user's primary group.
    pub group: Option<String>,
}

/// One `vrrp_script NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpScript {
    /// The name instances refer to in `track_script`.
    pub name: String,
    /// `script`: the check; exit status 0 means healthy.
    pub script: Argv,
    /// `interval`: time between checks. Default 1 s.
    pub interval: Duration,
    /// `timeout`: a check running longer is killed and counts as a failure. Default: interval.
    pub timeout: Duration,
    /// `weight`: 0 = failure puts the instance in FAULT; negative = subtracted on failure;
    /// positive = added on success. Default 0.
    pub weight: i32,
    /// `rise`: successes in a row that make a failed check healthy. Default 1.
    pub rise: u32,
    /// `fall`: failures in a row that make a healthy check failed. Default 1.
    pub fall: u32,
    /// `user USER [GROUP]`: who it runs as; `None` = `script_user` or the daemon's user.
    pub user: Option<ScriptUser>,
    /// `init_fail`: start as failed until the check succeeds `rise` times.
    pub init_fail: bool,
}

/// One `vrrp_track_file NAME { file PATH; weight W }`: the integer in the file, times the
/// weight, is added to the priority; with weight 0 any non-zero value means FAULT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackFile {
    /// The name instances refer to in `track_file`.
    pub name: String,
    /// The file; missing or unreadable counts as 0.
    pub file: PathBuf,
    /// Default 1.
    pub weight: i32,
}

/// One `vrrp_track_process NAME { process NAME; weight W; quorum N }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackProcess {
    /// The name instances refer to in `track_process`.
    pub name: String,
    /// The process name as in /proc/PID/comm (or the full command line with
    /// `full_command`).
    pub process: String,
    /// As a script's weight: 0 = fewer than `quorum` running means FAULT. Default 0.
    pub weight: i32,
    /// How many must run for the check to be healthy. Default 1.
    pub quorum: u32,
    /// Match `process` against the whole command line instead of the process name.
    pub full_command: bool,
}

/// A reference from an instance to a named check, with an optional weight override
/// (`track_script { chk_nginx weight -20 }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackRef {
    /// The `vrrp_script` / `vrrp_track_file` / `vrrp_track_process` name.
    pub name: String,
    /// Overrides the check's own weight.
    pub weight: Option<i32>,
}

/// `track_interface { IF [weight W] }`: weight 0 (default) = down means FAULT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInterface {
    /// The interface.
    pub interface: String,
    /// As a script's weight, with "up" as success.
    pub weight: i32,
}

/// Scripts run on state changes, as keepalived's `notify*` keywords.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notify {
    /// `notify_master`.
    pub master: Option<Argv>,
    /// `notify_backup`.
    pub backup: Option<Argv>,
    /// `notify_fault`.
    pub fault: Option<Argv>,
    /// `notify_stop`: when vipd stops the instance.
    pub stop: Option<Argv>,
    /// `notify`: every change, with `INSTANCE|GROUP NAME STATE PRIORITY` appended.
    pub any: Option<Argv>,
}

impl Notify {
    /// True when no script is configured.
    pub fn is_empty(&self) -> bool {
        *self == Notify::default()
    }
}

/// One `vrrp_sync_group NAME { group { VI_1 VI_2 } notify_* }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroup {
    /// The group name, used in logs and `notify` arguments.
    pub name: String,
    /// Member instance names.
    pub group: Vec<String>,
    /// The group's notify scripts.
    pub notify: Notify,
}

/// The state an instance asks for at startup (`state MASTER|BACKUP`).
///
/// As in keepalived, `MASTER` does not skip the election: only an address owner
/// (priority 255) starts as master at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitialState {
    /// `state BACKUP` (the default).
    #[default]
    Backup,
    /// `state MASTER`.
    Master,
}

/// One `vrrp_instance NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpInstance {
    /// The instance name (`VI_1`), used in logs, status and notify arguments.
    pub name: String,
    /// `state`.
    pub state: InitialState,
    /// `interface`: where adverts are sent and received.
    pub interface: String,
    /// `virtual_router_id`, 1..=255.
    pub virtual_router_id: u8,
    /// `priority`, 1..=255 (255 = address owner). Default 100.
    pub priority: u8,
    /// `advert_int`: whole seconds for VRRPv2, 1..=255. Default 1 s.
    pub advert_int: Duration,
    /// False when `nopreempt` is set.
    pub preempt: bool,
    /// `preempt_delay`: how long a backup accepts a lower-priority master before preempting.
    pub preempt_delay: Duration,
    /// `authentication { auth_type PASS; auth_pass X }`: the password, at most 8 bytes
    /// (keepalived cuts longer ones to 8). `None` = no authentication.
    pub auth_pass: Option<Vec<u8>>,
    /// `virtual_ipaddress { ... }`.
    pub virtual_ipaddress: Vec<VirtualIp>,
    /// `unicast_src_ip`: source of unicast adverts.
    pub unicast_src_ip: Option<Ipv4Addr>,
    /// `unicast_peer { ... }`: when non-empty, adverts go to each peer and only peers are heard.
    pub unicast_peer: Vec<Ipv4Addr>,
    /// `garp_master_delay`: delay before the second burst of gratuitous ARPs. Default 5 s.
    pub garp_master_delay: Duration,
    /// `garp_master_repeat`: gratuitous ARPs per burst. Default 5.
    pub garp_master_repeat: u32,
    /// `garp_master_refresh`: re-send gratuitous ARPs this often while master. `None` = never.
    pub garp_master_refresh: Option<Duration>,
    /// `track_script { NAME [weight W] }`.
    pub track_script: Vec<TrackRef>,
    /// `track_interface { IF [weight W] }`.
    pub track_interface: Vec<TrackInterface>,
    /// `track_file { NAME [weight W] }`.
    pub track_file: Vec<TrackRef>,
    /// `track_process { NAME [weight W] }`.
    pub track_process: Vec<TrackRef>,
    /// `notify_master`, `notify_backup`, `notify_fault`, `notify_stop`, `notify`.
    pub notify: Notify,
}

impl VrrpInstance {
    /// An instance with keepalived's defaults for everything but what identifies it.
    pub fn with_defaults(name: &str, interface: &str, virtual_router_id: u8) -> Self {
        Self {
            name: name.to_string(),
            state: InitialState::Backup,
            interface: interface.to_string(),
            virtual_router_id,
            priority: 100,
            advert_int: Duration::from_secs(1),
            preempt: true,
            preempt_delay: Duration::ZERO,
            auth_pass: None,
            virtual_ipaddress: Vec::new(),
            unicast_src_ip: None,
            unicast_peer: Vec::new(),
            garp_master_delay: Duration::from_secs(5),
            garp_master_repeat: 5,
            garp_master_refresh: None,
            track_script: Vec::new(),
            track_interface: Vec::new(),
            track_file: Vec::new(),
            track_process: Vec::new(),
            notify: Notify::default(),
        }
    }
}

/// One line of `virtual_ipaddress`: `ADDR[/LEN] [dev IF] [label L]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualIp {
    /// The address.
    pub addr: Ipv4Addr,
    /// Prefix length; keepalived's default is 32.
    pub prefix_len: u8,
    /// `dev IF`: the interface to add it to; `None` = the instance's interface.
    pub dev: Option<String>,
    /// `label L`: the address label (`eth0:1`).
    pub label: Option<String>,
}
