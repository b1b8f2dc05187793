//! What an instance is built from ([`Setup`], resolved by the daemon against the kernel) and
//! the building: the state machine's configuration, the initial status and the starting
//! value of everything the driver keeps.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};

use super::{Instance, MemberChange, Tracked, now, report};
use crate::config::{VrrpInstance, VrrpVersion};
use crate::net::socket::Transport;
use crate::net::vmac::Vmac;
use crate::notify::Notifier;
use crate::ratelimit::LogLimits;
use crate::status::{Event, SharedStatus};
use crate::vip::{BoundVip, Defender, RouteSet, RouteTarget, VipSet};
use crate::vrrp::doors::{Doors, Kernel};
use crate::vrrp::fsm::{Fsm, FsmConfig};
use crate::vrrp::packet::{AdvertInterval, Auth, ChecksumForm, Version};

/// Everything an instance needs from the daemon, resolved against the kernel.
pub struct Setup<D: Doors = Kernel> {
    /// The instance's configuration.
    pub config: VrrpInstance,
    /// The interface adverts use: `interface`, or the macvlan of `use_vmac`.
    pub interface: String,
    /// The address adverts come from: the primary IPv4 address, the interface's IPv6
    /// link-local address, or `unicast_src_ip`.
    pub source: IpAddr,
    /// The VRRP socket.
    pub socket: D::Socket,
    /// Its interface's index, and how it sends (multicast or to unicast peers).
    pub ifindex: u32,
    /// Multicast, or the unicast peers.
    pub transport: Transport,
    /// The virtual addresses.
    pub vips: Vec<BoundVip>,
    /// How the instance reaches the kernel.
    pub doors: D,
    /// Whether the interface is up at startup.
    pub link_up: bool,
    /// The checks it tracks.
    pub tracked: Vec<Tracked>,
    /// Its notify scripts; `None` = none.
    pub notifier: Option<Notifier>,
    /// Where to report its own state changes when it is in a sync group.
    pub sync: Option<mpsc::UnboundedSender<MemberChange>>,
    /// The macvlan the daemon made for it (`use_vmac`): the daemon's to remove, unused by the
    /// instance.
    pub vmac: Option<Vmac>,
    /// Where the instance records what a restart needs ([`crate::runstate`]); `None` = no
    /// record.
    pub state_file: Option<PathBuf>,
    /// Our previous run's VIPs are on their interfaces and the instance was master: keep them
    /// and resume after listening this long (see [`crate::vrrp::fsm::Fsm::handle_startup_restarted`]).
    pub resume: Option<Duration>,
}

/// What the checksum of an advert covers, as keepalived sends it: the message alone for
/// VRRPv2, the pseudo-header too for VRRPv3 (over IPv4 as well, unless `v3_checksum_as_v2`
/// asks for RFC 9568's reading, the message alone).
fn checksum_form(version: Version, cfg: &VrrpInstance) -> ChecksumForm {
    match version {
        Version::V2 => ChecksumForm::MessageOnly,
        Version::V3 if cfg.v3_checksum_as_v2 && !cfg.is_ipv6() => ChecksumForm::MessageOnly,
        Version::V3 => ChecksumForm::PseudoHeader,
    }
}

/// The Adver Int field: whole seconds for VRRPv2, centiseconds for VRRPv3, as the config
/// validated them (clamped, never zero, should a caller bypass it).
fn advert_interval(version: Version, advert_int: Duration) -> AdvertInterval {
    match version {
        Version::V2 => {
            AdvertInterval::from_secs(u8::try_from(advert_int.as_secs()).unwrap_or(u8::MAX).max(1))
        }
        Version::V3 => {
            let centis = (advert_int.as_millis() / 10).clamp(1, 0x0fff);
            AdvertInterval::from_centis(u16::try_from(centis).unwrap_or(0x0fff))
        }
    }
}

/// The VIPs that get a host route with `route_table`: those adverts list (not the excluded).
pub(super) fn routed(vips: &[BoundVip]) -> Vec<RouteTarget> {
    (vips.iter().filter(|v| !v.excluded))
        .map(|v| RouteTarget {
            addr: v.addr,
            ifindex: v.ifindex,
        })
        .collect()
}

impl<D: Doors> Instance<D> {
    /// Builds the instance and its initial status; nothing is sent until [`Instance::run`].
    pub fn new(setup: Setup<D>) -> (Self, SharedStatus) {
        let cfg = &setup.config;
        let version = match cfg.version {
            VrrpVersion::V2 => Version::V2,
            VrrpVersion::V3 => Version::V3,
        };
        let fsm = Fsm::new(FsmConfig {
            version,
            priority: cfg.priority,
            advert_int: cfg.advert_int,
            preempt: cfg.preempt,
            preempt_delay: cfg.preempt_delay,
            local_addr: setup.source,
            announce_again_after: cfg.garp_master_delay,
            refresh_every: cfg.garp_master_refresh,
            answer_lower_prio: !cfg.lower_prio_no_advert,
        });
        let status = report::initial_status(cfg, &setup.interface, setup.source, &setup.vips);
        // A burst of claims larger than this is one claim as far as defence goes.
        let (claims_tx, claims) = mpsc::channel(16);
        let instance = Self {
            name: cfg.name.clone(),
            fsm,
            auth: Auth::from_config(cfg.auth_pass.as_deref()),
            vrid: cfg.virtual_router_id,
            version,
            checksum_form: checksum_form(version, cfg),
            interval: advert_interval(version, cfg.advert_int),
            unicast_peers: cfg.unicast_peer.clone(),
            source: Some(setup.source),
            garp_repeat: cfg.garp_master_repeat,
            garp_lower_prio_repeat: cfg.garp_lower_prio_repeat,
            link_up: setup.link_up,
            net_fault: None,
            no_source_since: None,
            send_failures: 0,
            net_retry_at: None,
            pending_notify: Vec::new(),
            defender: Defender::new(cfg.advert_int),
            claims,
            claims_tx,
            arp_watches: Vec::new(),
            ifindex: setup.ifindex,
            transport: setup.transport,
            interface: setup.interface.clone(),
            base_priority: cfg.priority,
            tracked: setup.tracked,
            fault: None,
            notifier: setup.notifier,
            sync: setup.sync,
            socket: Some(setup.socket),
            routes: (cfg.route_table)
                .map(|t| RouteSet::new(&cfg.name, setup.doors.routes(), t, routed(&setup.vips))),
            // A restart that kept its VIPs as master keeps its routes as well.
            routes_on: setup.resume.is_some(),
            vips: VipSet::new(&cfg.name, setup.doors.announcer(), setup.vips),
            doors: setup.doors,
            status: status.clone(),
            rate_limit: LogLimits::new(Duration::from_secs(10)),
            events: None,
            handovers: Vec::new(),
            state_file: setup.state_file,
            written: None,
            resume: setup.resume,
        };
        (instance, status)
    }

    /// Announces every transition on `events` (for `vipctl watch`).
    pub fn with_events(mut self, events: broadcast::Sender<Event>) -> Self {
        self.events = Some(events);
        self
    }

    /// Starts in maintenance mode (kept across reloads by the daemon).
    pub fn with_maintenance(mut self, on: bool) -> Self {
        self.fsm.handle_maintenance(now(), on);
        self.status().maintenance = on;
        self
    }
}
