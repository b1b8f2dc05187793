//! The status model: what vipd knows of its instances and virtual servers, as `vipctl status`,
//! its JSON, `vipctl watch` and the metrics page render it. The instances and the forwarder
//! write it; the control socket (which re-exports these types in its protocol) and the
//! metrics page read it. It imports nothing of vipd, so every room can use it.
//!
//! The schema is versioned by [`SCHEMA_VERSION`]; fields are only ever added (new ones carry
//! `#[serde(default)]` so that a newer vipctl still reads an older vipd).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// Version of the status schema; bumped when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// An instance's status, written by the instance, read by the control socket and metrics.
pub type SharedStatus = Arc<Mutex<InstanceStatus>>;

/// A state change of one instance, as `vipctl watch` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// The instance.
    pub instance: String,
    /// The old state.
    pub from: String,
    /// The new state.
    pub to: String,
    /// Why, as logged.
    pub reason: String,
}

/// How a handover of one instance ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoverResult {
    /// The instance.
    pub instance: String,
    /// `released` (the new master advertised, then the VIPs went), `timed_out` (nobody
    /// advertised within 3 × advert_int; the VIPs went anyway), `not_master` (nothing to do)
    /// or `interrupted` (the instance stopped meanwhile).
    pub outcome: String,
    /// The new master, when one advertised.
    pub new_master: Option<String>,
    /// Milliseconds from the priority-0 advert to the VIPs' removal.
    pub waited_ms: u64,
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
    /// Every virtual_server (TCP pool), in config order. Absent from older daemons.
    #[serde(default)]
    pub virtual_servers: Vec<VirtualServerStatus>,
    /// Every route_instance, in config order. Absent from older daemons.
    #[serde(default)]
    pub route_instances: Vec<RouteInstanceStatus>,
}

/// A route instance's status, written by the instance, read by the control socket and metrics.
pub type SharedRouteStatus = Arc<Mutex<RouteInstanceStatus>>;

/// One route_instance: VIPs announced as host routes for a routing daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteInstanceStatus {
    /// The instance name.
    pub name: String,
    /// ANNOUNCING, WITHDRAWN (in maintenance), FAULT, or STOPPING (SIGTERM: routes withdrawn,
    /// addresses kept for withdraw_delay).
    pub state: String,
    /// True in maintenance mode (`vipctl maintenance on`): routes withdrawn.
    pub maintenance: bool,
    /// The configured priority.
    pub priority: u8,
    /// The priority tracked checks leave: the metric follows it.
    pub effective_priority: u8,
    /// 256 - effective priority: the metric of the routes while announced.
    pub metric: u32,
    /// The routing table of the routes.
    pub table: u32,
    /// Where the addresses are held and the routes point.
    pub interface: String,
    /// Each VIP's route.
    pub routes: Vec<RouteStatus>,
    /// Why the state is what it is, as logged (the failed check for FAULT).
    pub reason: String,
    /// The most recent state change.
    pub last_transition: Option<Transition>,
    /// Tracked checks and what they say.
    pub tracks: Vec<TrackStatus>,
}

/// One VIP's host route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteStatus {
    /// `ADDR/32` or `ADDR/128`.
    pub prefix: String,
    /// True when the kernel has vipd's route to it in the table now.
    pub announced: bool,
    /// The metric of that route, when it is there.
    pub metric: Option<u32>,
}

/// One VRRP instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    /// The instance name.
    pub name: String,
    /// The VRRP interface (the macvlan with `use_vmac`).
    pub interface: String,
    /// The virtual router id.
    pub vrid: u8,
    /// The VRRP version: 2 or 3.
    #[serde(default = "default_version")]
    pub version: u8,
    /// The instance's family: `ipv4` or `ipv6`.
    #[serde(default = "default_family")]
    pub family: String,
    /// Our own advert interval, in milliseconds.
    #[serde(default)]
    pub advert_int_ms: u64,
    /// INIT, BACKUP, MASTER or FAULT.
    pub state: String,
    /// The configured (base) priority.
    pub priority: u8,
    /// The priority this node advertises now: the base priority adjusted by tracked checks.
    #[serde(default)]
    pub effective_priority: u8,
    /// True in maintenance mode (`vipctl maint on`): the instance stays backup.
    #[serde(default)]
    pub maintenance: bool,
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

fn default_version() -> u8 {
    2
}

fn default_family() -> String {
    "ipv4".to_string()
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

/// Milliseconds since the Unix epoch now (0 before 1970), as transitions and events carry
/// their time.
pub fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
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

impl Transition {
    /// This change of `instance`, as `vipctl watch` shows it.
    pub fn event(&self, instance: &str) -> Event {
        Event {
            at_unix_ms: self.at_unix_ms,
            instance: instance.to_string(),
            from: self.from.clone(),
            to: self.to.clone(),
            reason: self.reason.clone(),
        }
    }
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
    /// Transitions into MASTER.
    #[serde(default)]
    pub became_master: u64,
    /// Transitions out of MASTER.
    #[serde(default)]
    pub released_master: u64,
    /// ARP frames from another host claiming one of our VIPs while we were master.
    #[serde(default)]
    pub vip_claims_seen: u64,
    /// Re-announces those claims caused (rate-limited: one per advert interval at most).
    #[serde(default)]
    pub vip_defenses: u64,
    /// Accepted VRRPv3 adverts over IPv4 whose checksum covers the pseudo-header
    /// (keepalived's default).
    #[serde(default)]
    pub v3_checksum_pseudo_header: u64,
    /// Accepted VRRPv3 adverts over IPv4 whose checksum covers the message alone (RFC 9568,
    /// keepalived's `v3_checksum_as_v2`).
    #[serde(default)]
    pub v3_checksum_message_only: u64,
    /// Received packets dropped, by reason (`auth_password`, `ttl`, ...).
    pub drops: BTreeMap<String, u64>,
}

/// One `virtual_server`: a TCP or UDP pool forwarded by vipd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualServerStatus {
    /// `IP:PORT` clients connect to.
    pub addr: String,
    /// A UDP pool's flows and datagrams; `None` for TCP. For UDP, a real server's
    /// `active_connections` are its flows and `total_connections` the flows it was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<UdpStatus>,
    /// The scheduler (`rr`, `wlc`...).
    pub lb_algo: String,
    /// False while the healthy weight is below quorum.
    pub quorum_up: bool,
    /// `IP:PORT` of the sorry server, if configured.
    pub sorry_server: Option<String>,
    /// Connections open to the sorry server now.
    pub sorry_active_connections: u32,
    /// Connections sent to the sorry server since start.
    pub sorry_total_connections: u64,
    /// `v1` or `v2`: the PROXY protocol header its real servers get (unless one of them
    /// says otherwise) and its sorry server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<String>,
    /// `maxconn`: client connections open at most (absent: only the descriptors limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxconn: Option<u32>,
    /// Client connections open now.
    #[serde(default)]
    pub connections: u64,
    /// Clients that waited in the listen backlog at `maxconn` before being accepted.
    #[serde(default)]
    pub cap_hits: u64,
    /// Every real server, in config order.
    pub real_servers: Vec<RealServerStatus>,
}

impl VirtualServerStatus {
    /// `IP:PORT`, with `/udp` for a UDP pool (one address may have a pool of each).
    pub fn name(&self) -> String {
        match self.udp {
            Some(_) => format!("{}/udp", self.addr),
            None => self.addr.clone(),
        }
    }
}

/// A UDP pool's forwarding counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdpStatus {
    /// Flows (client address and port, each with its server) open now.
    pub flows: u64,
    /// Datagrams from clients forwarded to servers.
    pub datagrams_in: u64,
    /// Datagrams from servers forwarded to clients.
    pub datagrams_out: u64,
    /// Datagrams of new clients dropped because the flow table was full, or the forwarder's
    /// descriptor budget was.
    pub dropped_table_full: u64,
    /// Datagrams of new clients dropped because no server was up.
    pub dropped_no_server: u64,
    /// Datagrams the kernel refused to send on either side (buffers full, ICMP errors).
    pub dropped_send: u64,
}

/// One real server of a pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealServerStatus {
    /// `IP:PORT`.
    pub addr: String,
    /// `UP` or `DOWN`.
    pub state: String,
    /// The configured weight (0 = drain).
    pub weight: u32,
    /// The weight the scheduler uses now (0 while down).
    pub effective_weight: u32,
    /// Connections open now.
    pub active_connections: u32,
    /// Connections forwarded since start.
    pub total_connections: u64,
    /// Bytes from clients to this server.
    pub bytes_in: u64,
    /// Bytes from this server to clients.
    pub bytes_out: u64,
    /// Forwarding connects that failed.
    pub connect_failures: u64,
    /// Health checks that failed.
    pub check_failures: u64,
    /// UP/DOWN changes since start.
    pub transitions: u64,
    /// The most recent UP/DOWN change and its reason.
    pub last_transition: Option<Transition>,
    /// `v1` or `v2`: the PROXY protocol header it gets (its own or its pool's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<String>,
    /// `maxconn`: connections open to it at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxconn: Option<u32>,
    /// `uthreshold`: overloaded at this many (IPVS's u_threshold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uthreshold: Option<u32>,
    /// `lthreshold`: overloaded until below this many (absent with uthreshold: below 3/4 of
    /// it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lthreshold: Option<u32>,
    /// True while it takes no new connection: at `maxconn` or overloaded.
    #[serde(default)]
    pub full: bool,
    /// New connections that found it full and went elsewhere.
    #[serde(default)]
    pub cap_hits: u64,
}
