//! The typed, validated configuration every loader produces and the daemon consumes.
//!
//! Field names follow keepalived's keywords so users recognise them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// The priority of the router that owns the virtual addresses (RFC 3768 §5.3.4): it takes
/// over at once, and tracked checks do not move it.
pub const PRIORITY_OWNER: u8 = 255;
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
    /// Every `route_instance` (vipd's own), in file order: VIPs announced as host routes to
    /// a routing daemon instead of by VRRP.
    pub route_instances: Vec<RouteInstance>,
    /// Every `virtual_server`, in file order: pools served by vipd's TCP forwarder.
    pub virtual_servers: Vec<VirtualServer>,
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

/// A program to run (a check or a notify script), as the load found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The words as written; the program sees `argv[0]` as its name.
    pub argv: Argv,
    /// The file executed: the one the load checked, absolute and with symlinks resolved, so
    /// that neither a change of PATH nor a link replaced after the check changes what runs.
    /// `argv[0]` as written when the load did not look at programs.
    pub path: PathBuf,
    /// Who it runs as: its own `user`, else `script_user`; `None` = vipd's own user. The
    /// load fills it in, as keepalived does.
    pub user: Option<ScriptUser>,
}

impl Program {
    /// `argv` as written, unchecked, run as vipd's own user.
    pub fn new(argv: Argv) -> Self {
        Self {
            path: PathBuf::from(argv.first().map(String::as_str).unwrap_or_default()),
            argv,
            user: None,
        }
    }
}

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
    pub script: Program,
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
    /// `user USER [GROUP]` as written; `None` = `script_user` or the daemon's user (the
    /// outcome is the script's [`Program::user`]).
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
    pub master: Option<Program>,
    /// `notify_backup`.
    pub backup: Option<Program>,
    /// `notify_fault`.
    pub fault: Option<Program>,
    /// `notify_stop`: when vipd stops the instance.
    pub stop: Option<Program>,
    /// `notify`: every change, with `INSTANCE|GROUP NAME STATE PRIORITY` appended.
    pub any: Option<Program>,
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

/// The VRRP version an instance speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VrrpVersion {
    /// VRRPv2 (RFC 3768): IPv4 only, whole-second adverts, optional PASS authentication.
    #[default]
    V2,
    /// VRRPv3 (RFC 9568): IPv4 or IPv6, adverts in centiseconds, no authentication.
    V3,
}

/// RFC 3768 §5.2.2 / RFC 9568 §5.1.1.2: where IPv4 adverts go unless `vrrp_mcast_group4`.
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// RFC 9568 §5.1.2.2: where IPv6 adverts go unless `vrrp_mcast_group6`.
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

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
    /// `version`, else `global_defs { vrrp_version }`, else 2. An IPv6 instance is always
    /// VRRPv3, as keepalived forces it.
    pub version: VrrpVersion,
    /// `advert_int`: VRRPv2 whole seconds 1..=255 (a fraction is rounded, as keepalived
    /// does); VRRPv3 centiseconds 0.01..=40.95 s. Default 1 s.
    pub advert_int: Duration,
    /// `native_ipv6`: the instance is IPv6 even before (or without) an IPv6 address.
    pub native_ipv6: bool,
    /// False when `nopreempt` is set.
    pub preempt: bool,
    /// `preempt_delay`: how long a backup accepts a lower-priority master before preempting.
    pub preempt_delay: Duration,
    /// `authentication { auth_type PASS; auth_pass X }`: the password, at most 8 bytes
    /// (keepalived cuts longer ones to 8). `None` = no authentication.
    pub auth_pass: Option<Vec<u8>>,
    /// `virtual_ipaddress { ... }`: all of the instance's family ([`Self::is_ipv6`]), listed
    /// in adverts.
    pub virtual_ipaddress: Vec<VirtualIp>,
    /// `virtual_ipaddress_excluded { ... }`: added and removed with the VIPs, never listed in
    /// adverts; either family.
    pub virtual_ipaddress_excluded: Vec<VirtualIp>,
    /// `unicast_src_ip`: source of unicast adverts, of the instance's family.
    pub unicast_src_ip: Option<IpAddr>,
    /// `unicast_peer { ... }`: when non-empty, adverts go to each peer and only peers are
    /// heard. Of the instance's family.
    pub unicast_peer: Vec<IpAddr>,
    /// `global_defs { vrrp_mcast_group4 | vrrp_mcast_group6 }` for the instance's family;
    /// `None` = the RFC group ([`VRRP_GROUP_V4`], [`VRRP_GROUP_V6`]).
    pub mcast_group: Option<IpAddr>,
    /// `v3_checksum_as_v2` (instance, else `global_defs`): a VRRPv3 IPv4 advert's checksum
    /// leaves out the pseudo-header (RFC 9568's reading; keepalived includes it by default).
    pub v3_checksum_as_v2: bool,
    /// `accept` / `no_accept`: a master accepts traffic to its VIPs (RFC 9568 Accept_Mode).
    /// keepalived's default without `vrrp_strict`: true.
    pub accept: bool,
    /// `use_vmac [NAME]`: the macvlan carrying the virtual MAC 00:00:5e:00:01:VRID (IPv6:
    /// 00:00:5e:00:02:VRID); keepalived's default name is `vrrp.VRID`. `None` = no vmac.
    pub use_vmac: Option<String>,
    /// `vmac_xmit_base`: with a vmac, adverts go out from the base interface.
    pub vmac_xmit_base: bool,
    /// `route_table N` (vipd's own): while master, a host route per VIP in table N as well
    /// ([`RouteInstance`] says what the route is for). `None` = no routes.
    pub route_table: Option<u32>,
    /// `garp_master_delay`: delay before the second burst of gratuitous ARPs. Default 5 s.
    pub garp_master_delay: Duration,
    /// `garp_master_repeat`: gratuitous ARPs per burst. Default 5, or `global_defs {
    /// vrrp_garp_master_repeat }`.
    pub garp_master_repeat: u32,
    /// `garp_master_refresh`: re-send gratuitous ARPs this often while master. `None` = never.
    pub garp_master_refresh: Option<Duration>,
    /// `lower_prio_no_advert`: a master that receives a lower-priority advert does not answer
    /// it with an advert of its own. keepalived's switch: RFC 3768 §6.4.3 says to discard such
    /// an advert, keepalived answers it by default (which makes the sender, a backup that took
    /// over, step down at once). Only the advert is suppressed: the gratuitous ARPs of
    /// [`Self::garp_lower_prio_repeat`] still go out, as in keepalived. Default false, or
    /// `global_defs { vrrp_lower_prio_no_advert }`.
    pub lower_prio_no_advert: bool,
    /// `garp_lower_prio_repeat`: gratuitous ARPs per VIP that a master sends when it receives a
    /// lower-priority advert, whether or not it answers with an advert (0 = none), so that
    /// hosts that followed a backup's takeover come back. keepalived's default, resolved at
    /// load: `global_defs { vrrp_garp_lower_prio_repeat }`, else the global
    /// `vrrp_garp_master_repeat`, else 5; never this instance's own `garp_master_repeat`.
    pub garp_lower_prio_repeat: u32,
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
            version: VrrpVersion::V2,
            advert_int: Duration::from_secs(1),
            native_ipv6: false,
            preempt: true,
            preempt_delay: Duration::ZERO,
            auth_pass: None,
            virtual_ipaddress: Vec::new(),
            virtual_ipaddress_excluded: Vec::new(),
            unicast_src_ip: None,
            unicast_peer: Vec::new(),
            mcast_group: None,
            v3_checksum_as_v2: false,
            accept: true,
            use_vmac: None,
            vmac_xmit_base: false,
            route_table: None,
            garp_master_delay: Duration::from_secs(5),
            garp_master_repeat: 5,
            garp_master_refresh: None,
            lower_prio_no_advert: false,
            garp_lower_prio_repeat: 5,
            track_script: Vec::new(),
            track_interface: Vec::new(),
            track_file: Vec::new(),
            track_process: Vec::new(),
            notify: Notify::default(),
        }
    }

    /// Whether the instance is IPv6, as keepalived decides it: `native_ipv6`, else the first
    /// VIP, else the unicast addresses; IPv4 when nothing says.
    pub fn is_ipv6(&self) -> bool {
        let first = (self.virtual_ipaddress.first().map(|v| v.addr))
            .or(self.unicast_src_ip)
            .or(self.unicast_peer.first().copied());
        self.native_ipv6 || first.is_some_and(|a| a.is_ipv6())
    }

    /// Where adverts go when they are multicast: [`Self::mcast_group`] or the RFC group.
    pub fn advert_group(&self) -> IpAddr {
        match (self.mcast_group, self.is_ipv6()) {
            (Some(group), _) => group,
            (None, false) => VRRP_GROUP_V4.into(),
            (None, true) => VRRP_GROUP_V6.into(),
        }
    }
}

impl VrrpInstance {
    /// Its `track_*` lists, as route instances hold them.
    pub fn tracks(&self) -> Tracks {
        Tracks {
            track_script: self.track_script.clone(),
            track_interface: self.track_interface.clone(),
            track_file: self.track_file.clone(),
            track_process: self.track_process.clone(),
        }
    }
}

/// The `track_*` lists of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tracks {
    /// `track_script { NAME [weight W] }`.
    pub track_script: Vec<TrackRef>,
    /// `track_interface { IF [weight W] }`.
    pub track_interface: Vec<TrackInterface>,
    /// `track_file { NAME [weight W] }`.
    pub track_file: Vec<TrackRef>,
    /// `track_process { NAME [weight W] }`.
    pub track_process: Vec<TrackRef>,
}

/// The routing table of `route_instance` unless it sets `route_table`.
pub const DEFAULT_ROUTE_TABLE: u32 = 200;

/// One `route_instance NAME { ... }` (vipd's own): no VRRP at all. While healthy, each VIP is
/// held on [`Self::route_interface`] and a host route to it sits in [`Self::route_table`],
/// which no `ip rule` points at: the route is a signal that a routing daemon (BIRD's `kernel`
/// protocol with `learn`) exports over BGP, with the metric as MED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInstance {
    /// The instance name, in logs, status and `vipctl maintenance`.
    pub name: String,
    /// `virtual_ipaddress`: host addresses only (/32 or /128).
    pub virtual_ipaddress: Vec<IpAddr>,
    /// `priority`, 1..=255. Default 100; the route's metric is 256 minus the effective one.
    pub priority: u8,
    /// `route_table`: 1..=u32::MAX but not 253, 254 or 255 (default, main, local). Default
    /// [`DEFAULT_ROUTE_TABLE`].
    pub route_table: u32,
    /// `route_interface`: where the addresses are held and the routes point. Default `lo`.
    pub route_interface: String,
    /// `withdraw_delay`: on stop, how long the addresses stay after the routes went, so that
    /// clients routed here are served while the fabric converges. Default 2 s.
    pub withdraw_delay: Duration,
    /// `track_*`.
    pub tracks: Tracks,
}

impl RouteInstance {
    /// An instance with the defaults for everything but its name.
    pub fn with_defaults(name: &str) -> Self {
        Self {
            name: name.to_string(),
            virtual_ipaddress: Vec::new(),
            priority: 100,
            route_table: DEFAULT_ROUTE_TABLE,
            route_interface: "lo".to_string(),
            withdraw_delay: Duration::from_secs(2),
            tracks: Tracks::default(),
        }
    }
}

/// One line of `virtual_ipaddress`: `ADDR[/LEN] [dev IF] [label L]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualIp {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length; keepalived's default is the host's: 32 (IPv4) or 128 (IPv6).
    pub prefix_len: u8,
    /// `dev IF`: the interface to add it to; `None` = the instance's interface.
    pub dev: Option<String>,
    /// `label L`: the address label (`eth0:1`).
    pub label: Option<String>,
}

/// `lb_algo` (alias `lvs_sched`): how a new connection picks its real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LbAlgo {
    /// `rr`: round robin, weights only as on/off (0 = drain).
    Rr,
    /// `wrr`: weighted round robin.
    Wrr,
    /// `lc`: least active connections.
    Lc,
    /// `wlc`: least active connections per unit of weight (keepalived's default).
    #[default]
    Wlc,
    /// `sh`: source hashing: a client address always maps to the same server while the set
    /// of available servers is unchanged.
    Sh,
}

impl LbAlgo {
    /// The keepalived spelling (`rr`, `wlc`...).
    pub fn as_str(self) -> &'static str {
        match self {
            LbAlgo::Rr => "rr",
            LbAlgo::Wrr => "wrr",
            LbAlgo::Lc => "lc",
            LbAlgo::Wlc => "wlc",
            LbAlgo::Sh => "sh",
        }
    }
}

/// `proxy_protocol`: the PROXY protocol header (HAProxy's) that tells a real server the
/// client's address, sent before the client's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyProtocol {
    /// `v1`: one text line.
    V1,
    /// `v2`: binary.
    V2,
}

impl ProxyProtocol {
    /// The spelling in the config (`v1`, `v2`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyProtocol::V1 => "v1",
            ProxyProtocol::V2 => "v2",
        }
    }
}

/// What a virtual server carries (`protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP connections, each forwarded to a real server (keepalived's default).
    Tcp,
    /// UDP datagrams, forwarded per client address and port (a flow) to a real server.
    Udp,
}

impl Protocol {
    /// The keepalived spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

/// One `virtual_server IP PORT { ... }` with `lb_kind NAT`: vipd accepts connections (or
/// datagrams) on `addr` and forwards them to its real servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServer {
    /// The address and port clients connect to (usually a VIP of a vrrp_instance).
    pub addr: SocketAddr,
    /// `protocol TCP|UDP`. Default TCP, as keepalived.
    pub protocol: Protocol,
    /// `delay_loop`: the health-check interval of its real servers. Default 60 s.
    pub delay_loop: Duration,
    /// `lb_algo`. Default `wlc`, as keepalived.
    pub lb_algo: LbAlgo,
    /// `persistence_timeout`: a client address sticks to its server this long after its
    /// last connection. `None` = no persistence. For UDP, also how long a flow lives
    /// without a datagram.
    pub persistence_timeout: Option<Duration>,
    /// `sorry_server IP PORT`: where connections go while quorum is lost.
    pub sorry_server: Option<SocketAddr>,
    /// `quorum`: the sum of the weights of healthy servers below which the pool is down.
    /// Default 1.
    pub quorum: u32,
    /// `hysteresis`: quorum is lost below `quorum - hysteresis` and regained at
    /// `quorum + hysteresis`. Default 0.
    pub hysteresis: u32,
    /// `alpha`: real servers start down and come up on their first good check.
    pub alpha: bool,
    /// `omega`: run every up server's `notify_down` when the pool stops.
    pub omega: bool,
    /// `connect_timeout` at this level: the forwarder's timeout for connecting to a real
    /// server. Default 5 s.
    pub connect_timeout: Duration,
    /// `proxy_protocol` (vipd only): the PROXY header to every real server and the
    /// sorry_server, unless a real server says otherwise. `None` = none.
    pub proxy_protocol: Option<ProxyProtocol>,
    /// `maxconn` (vipd only): client connections open at most; more wait in the listen
    /// backlog. `None` = only the descriptor budget limits them.
    pub maxconn: Option<u32>,
    /// Every `real_server`, in file order.
    pub real_servers: Vec<RealServer>,
}

/// One `real_server IP PORT { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServer {
    /// Where connections are forwarded.
    pub addr: SocketAddr,
    /// `weight`, 0 = drain (no new connections). Default 1.
    pub weight: u32,
    /// `inhibit_on_failure`: a failed server is set to weight 0 (its connections finish)
    /// instead of being removed.
    pub inhibit_on_failure: bool,
    /// `notify_up`: a program run when the server comes up (argv, no shell).
    pub notify_up: Option<Program>,
    /// `notify_down`: a program run when the server goes down (argv, no shell).
    pub notify_down: Option<Program>,
    /// `proxy_protocol` (vipd only) written in the real server: overrides the virtual
    /// server's. `None` = the virtual server's.
    pub proxy_protocol: Option<ProxyProtocol>,
    /// `maxconn` (vipd only): connections open to it at most. `None` = no cap.
    pub maxconn: Option<u32>,
    /// `uthreshold`: overloaded (skipped) once this many are open, as IPVS. 0 = none.
    pub uthreshold: u32,
    /// `lthreshold`: overloaded until fewer than this many are open; 0 = below three
    /// quarters of `uthreshold`, as IPVS.
    pub lthreshold: u32,
    /// Health checkers; none = always up.
    pub checks: Vec<Check>,
}

/// One health checker of a real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What is checked.
    pub kind: CheckKind,
    /// `connect_timeout` (TCP_CHECK, HTTP_GET): default 5 s.
    pub connect_timeout: Duration,
    /// `retry` (legacy `nb_get_retry`): consecutive failures before the server goes down.
    /// Default 1.
    pub retry: u32,
    /// `delay_before_retry`: the interval between checks while failing. Default 1 s.
    pub delay_before_retry: Duration,
    /// `rise` (vipd extension): consecutive successes before a down server is up again.
    /// Default 1, as keepalived.
    pub rise: u32,
    /// `delay_loop` inside the checker; `None` = the virtual server's.
    pub delay_loop: Option<Duration>,
    /// `bindto`: the source address of the check's socket (TCP_CHECK, HTTP_GET,
    /// UDP_CHECK), of the target's family; `None` = the kernel's choice.
    pub bindto: Option<IpAddr>,
}

/// The checker kinds vipd runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// `TCP_CHECK`: a TCP connect succeeds.
    Tcp {
        /// `connect_ip` / `connect_port`: where to connect; default the real server.
        target: SocketAddr,
    },
    /// `HTTP_GET`: every `url` answers with its status code (and body digest).
    Http {
        /// Where to connect; default the real server.
        target: SocketAddr,
        /// The URLs, each must pass.
        urls: Vec<HttpUrl>,
    },
    /// `UDP_CHECK`: a datagram sent draws no ICMP error (or, with `require_reply`, an
    /// answer) within `connect_timeout`.
    Udp {
        /// `connect_ip` / `connect_port`: where to send; default the real server.
        target: SocketAddr,
        /// `payload`: what is sent (empty when unset).
        payload: Vec<u8>,
        /// `require_reply`: an answer must come; else silence is success.
        require_reply: bool,
        /// `min_reply_length` / `max_reply_length`: the answer's bounds (0 and 255 by
        /// default, as keepalived).
        reply_length: (u16, u16),
    },
    /// `MISC_CHECK`: a program exits 0 within its timeout.
    Misc {
        /// `misc_path`: the program (split on spaces, quotes kept together; no shell).
        program: Program,
        /// `user USER [GROUP]` as written; `None` = `script_user` or the daemon's user (the
        /// outcome is the program's [`Program::user`]).
        user: Option<ScriptUser>,
        /// `misc_timeout`; default the virtual server's delay_loop.
        timeout: Option<Duration>,
    },
}

/// One `url { path; status_code; digest }` of an HTTP_GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `path`, e.g. `/health`.
    pub path: String,
    /// `status_code`: the expected status; `None` = any 2xx (keepalived's default).
    pub status_code: Option<u16>,
    /// `digest`: the MD5 of the body, lower-case hex.
    pub digest: Option<String>,
}
