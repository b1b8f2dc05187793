//! The typed, validated configuration every loader produces and the daemon consumes.
//!
//! Field names follow keepalived's keywords so users recognise them.

use std::net::{Ipv4Addr, SocketAddr};
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
