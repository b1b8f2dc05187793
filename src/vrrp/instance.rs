//! Drives one `vrrp_instance`: feeds its [`Fsm`] packets, timers and link events, and carries
//! out the actions it returns: adverts through its socket, VIPs through its [`VipSet`], both
//! reached through [`Doors`] (the kernel, or a test's fakes).
//!
//! The instance owns its socket and its timers, and reads tokio's clock (a test can pause
//! it); it publishes what it knows to a shared [`InstanceStatus`] that the control socket
//! reads.
//!
//! Faults of the host it rides out (the daemon tells it what the kernel says about its
//! interface, see [`Interface`]):
//! - renumbered: adverts go from the new primary address at once (a new socket); with no
//!   address for a whole advert interval, FAULT;
//! - adverts that cannot be sent twice in a row: FAULT (never hold VIPs that no advert
//!   defends), retried every [`NET_RETRY`];
//! - interface deleted and re-created: FAULT, then the new interface by name (new index,
//!   socket and ARP senders), back to BACKUP once it is up with an address;
//! - an address it did not add (an administrator's) is never removed;
//! - another host claims one of its VIPs by ARP (a backup that took over for a moment, an
//!   address conflict): a master re-announces, at most once per advert interval
//!   ([`Defender`]), so clients come back within one interval whatever agent the peer runs.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::config::VrrpInstance;
use crate::net::arp::ArpClaim;
use crate::net::socket::Transport;
use crate::notify::Notifier;
use crate::ratelimit::{LogLimits, held_back};
use crate::status::{
    Counters, Event, HandoverResult, InstanceStatus, Peer, SharedStatus, TrackStatus, Transition,
    VipStatus,
};
use crate::track::CheckWatch;
use crate::track::eval::{self, Fault, Input, Rule};
pub use crate::vip::BoundVip;
use crate::vip::{Defender, VipSet};
use crate::vrrp::doors::{AdvertSocket, Doors, Kernel};
use crate::vrrp::fsm::{Action, Fsm, FsmConfig, Reason, State};
use crate::vrrp::packet::{
    self, AdvertInterval, AdvertRepr, Auth, ChecksumOver, Expected, PacketError, Version,
};

/// What the daemon tells a running instance.
#[derive(Debug)]
pub enum Command {
    /// What the kernel now says about the instance's interface (after a link or address
    /// event on it).
    Interface(Interface),
    /// A member of this instance's sync group changed state: follow it.
    Sync {
        /// The state to follow into.
        target: State,
        /// Which member did what, for the log.
        why: String,
    },
    /// Leave cleanly (priority 0 if master, VIPs removed, notify_stop run), then answer.
    Shutdown(oneshot::Sender<()>),
    /// Planned switchover; answered once the VIPs are released (or at once if not master).
    Handover(oneshot::Sender<HandoverResult>),
    /// Maintenance mode on or off.
    Maintenance(bool),
    /// A reload changed only the VIP list: add and remove just the difference.
    UpdateVips(Vec<BoundVip>),
}

/// The instance's interface as the kernel has it now.
#[derive(Debug)]
pub struct Interface {
    /// Its index: a new one means the interface was deleted and re-created.
    pub ifindex: u32,
    /// Up with carrier.
    pub up: bool,
    /// The address to send adverts from (primary address, or `unicast_src_ip` while it is
    /// configured on the interface); `None` when there is none.
    pub source: Option<Ipv4Addr>,
    /// The VIPs bound again to the re-created interface; `None` when the index is unchanged.
    pub vips: Option<Vec<BoundVip>>,
}

/// How long a failed network (no address to send from, adverts that cannot be sent) keeps an
/// instance in FAULT before it tries again.
pub const NET_RETRY: Duration = Duration::from_secs(5);

/// Adverts that fail in a row before a master gives up its VIPs.
const MAX_SEND_FAILURES: u32 = 2;

/// A state change of a sync group member, told to the daemon so the others follow.
#[derive(Debug, Clone)]
pub struct MemberChange {
    /// The instance that changed.
    pub instance: String,
    /// Its new state.
    pub to: State,
    /// Its priority.
    pub priority: u8,
}

/// One check an instance tracks.
pub struct Tracked {
    /// Names it in logs: "check chk_nginx", "interface eth1".
    pub source: String,
    /// "script", "file", "process" or "interface", for status.
    pub kind: &'static str,
    /// How it moves the priority.
    pub rule: Rule,
    /// What it says.
    pub watch: CheckWatch,
}

/// Everything an instance needs from the daemon, resolved against the kernel.
pub struct Setup<D: Doors = Kernel> {
    /// The instance's configuration.
    pub config: VrrpInstance,
    /// The address adverts come from (primary address or `unicast_src_ip`).
    pub source: Ipv4Addr,
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
}

/// One running instance.
pub struct Instance<D: Doors = Kernel> {
    name: String,
    fsm: Fsm,
    doors: D,
    /// `None` while the interface has no address to send from.
    socket: Option<D::Socket>,
    ifindex: u32,
    transport: Transport,
    /// The VIPs, and which of them this instance added.
    vips: VipSet<D::Announcer>,
    auth: Auth,
    vrid: u8,
    advert_int_secs: u8,
    unicast_peers: Vec<Ipv4Addr>,
    source: Option<Ipv4Addr>,
    garp_repeat: u32,
    garp_lower_prio_repeat: u32,
    link_up: bool,
    /// Why the network cannot carry our adverts (no address, sends failing), if so.
    net_fault: Option<Fault>,
    /// Since when the interface has had no address to send from.
    no_source_since: Option<Instant>,
    /// Adverts that failed in a row.
    send_failures: u32,
    /// When a network fault is retried.
    net_retry_at: Option<Instant>,
    /// Notify scripts to queue once the current actions are done (VIPs in place first).
    pending_notify: Vec<(&'static str, u8)>,
    /// When to re-announce after another host claimed a VIP.
    defender: Defender,
    /// ARP claims from the watch tasks (one per VIP interface), and where they send them.
    claims: mpsc::Receiver<ArpClaim>,
    claims_tx: mpsc::Sender<ArpClaim>,
    arp_watches: Vec<tokio::task::JoinHandle<()>>,
    interface: String,
    base_priority: u8,
    tracked: Vec<Tracked>,
    /// Why the instance is in FAULT, if it is.
    fault: Option<Fault>,
    notifier: Option<Notifier>,
    sync: Option<mpsc::UnboundedSender<MemberChange>>,
    status: SharedStatus,
    /// Logs a remote host can trigger (drops, claims), per kind.
    rate_limit: LogLimits,
    /// Where transitions are announced (`vipctl watch`); `None` = nobody listens.
    events: Option<broadcast::Sender<Event>>,
    /// Handovers waiting for the VIPs to be released, with when they started.
    handovers: Vec<(oneshot::Sender<HandoverResult>, Instant)>,
}

impl<D: Doors> Instance<D> {
    /// Builds the instance and its initial status; nothing is sent until [`Instance::run`].
    pub fn new(setup: Setup<D>) -> (Self, SharedStatus) {
        let cfg = &setup.config;
        let fsm = Fsm::new(FsmConfig {
            priority: cfg.priority,
            advert_int: cfg.advert_int,
            preempt: cfg.preempt,
            preempt_delay: cfg.preempt_delay,
            local_addr: setup.source,
            announce_again_after: cfg.garp_master_delay,
            refresh_every: cfg.garp_master_refresh,
            answer_lower_prio: !cfg.lower_prio_no_advert,
        });
        let status = Arc::new(Mutex::new(InstanceStatus {
            name: cfg.name.clone(),
            interface: cfg.interface.clone(),
            vrid: cfg.virtual_router_id,
            state: State::Init.to_string(),
            priority: cfg.priority,
            effective_priority: cfg.priority,
            maintenance: false,
            source: setup.source.to_string(),
            master: None,
            vips: vip_statuses(&setup.vips),
            last_transition: None,
            counters: Counters::default(),
            tracks: Vec::new(),
        }));
        // A burst of claims larger than this is one claim as far as defence goes.
        let (claims_tx, claims) = mpsc::channel(16);
        let instance = Self {
            name: cfg.name.clone(),
            fsm,
            auth: Auth::from_config(cfg.auth_pass.as_deref()),
            vrid: cfg.virtual_router_id,
            advert_int_secs: u8::try_from(cfg.advert_int.as_secs()).unwrap_or(u8::MAX),
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
            interface: cfg.interface.clone(),
            base_priority: cfg.priority,
            tracked: setup.tracked,
            fault: None,
            notifier: setup.notifier,
            sync: setup.sync,
            socket: Some(setup.socket),
            vips: VipSet::new(&cfg.name, setup.doors.announcer(), setup.vips),
            doors: setup.doors,
            status: status.clone(),
            rate_limit: LogLimits::new(Duration::from_secs(10)),
            events: None,
            handovers: Vec::new(),
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

    /// Runs until told to shut down.
    pub async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut track_changes = self.forward_track_changes();
        self.watch_arp();
        self.fsm.handle_startup(now());
        self.reevaluate();
        self.execute().await;
        let mut buf = vec![0u8; 2048];
        loop {
            let deadline = self.fsm.poll_timeout();
            let sleep = sleep_until(deadline);
            let net_timer = sleep_until(self.net_deadline());
            let socket = self.socket.as_ref();
            let receive = async {
                match socket {
                    Some(s) => s.recv(&mut buf).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                received = receive => match received {
                    Ok(len) => self.on_datagram(&buf[..len]),
                    Err(e) => self.on_receive_error(&e).await,
                },
                () = sleep => self.fsm.handle_timeout(now()),
                () = net_timer => self.on_net_timer(),
                Some(claim) = self.claims.recv() => self.on_claim(&claim),
                () = sleep_until(self.defender.poll_timeout()) => {
                    if self.defender.handle_timeout(now()) {
                        self.defend();
                    }
                }
                Some(()) = track_changes.recv() => self.reevaluate(),
                command = commands.recv() => match command {
                    Some(Command::Interface(now)) => self.on_interface(now),
                    Some(Command::Sync { target, why }) => {
                        self.fsm.handle_sync(now(), target, why);
                    }
                    Some(Command::Shutdown(done)) => {
                        self.fsm.handle_shutdown(now());
                        self.execute().await;
                        if let Some(n) = self.notifier.take() {
                            n.finish(crate::notify::TIMEOUT).await;
                        }
                        let _ = done.send(());
                        return;
                    }
                    Some(Command::Handover(reply)) => self.on_handover(reply),
                    Some(Command::Maintenance(on)) => {
                        info!("{}: maintenance {}", self.name, if on { "on" } else { "off" });
                        self.fsm.handle_maintenance(now(), on);
                        self.status().maintenance = on;
                    }
                    Some(Command::UpdateVips(vips)) => self.update_vips(vips).await,
                    None => return,
                },
            }
            self.execute().await;
        }
    }

    /// When [`Instance::on_net_timer`] is due: the end of the grace for a lost address, or
    /// the retry of a network fault.
    fn net_deadline(&self) -> Option<Instant> {
        let grace = self
            .no_source_since
            .map(|t| t + self.fsm.config().advert_int);
        match (grace, self.net_retry_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_net_timer(&mut self) {
        let now = now();
        if let Some(since) = self.no_source_since
            && now >= since + self.fsm.config().advert_int
            && self.net_fault.is_none()
        {
            // The grace is over: from here on the retry timer alone wakes us.
            self.no_source_since = None;
            self.set_net_fault(format!(
                "interface {} has no IPv4 address to send adverts from",
                self.interface
            ));
        }
        if self.net_retry_at.is_some_and(|at| now >= at) {
            self.net_retry_at = None;
            if self.source.is_some() && self.socket.is_some() {
                info!("{}: trying the network again", self.name);
                self.net_fault = None;
                self.send_failures = 0;
                self.reevaluate();
            } else {
                self.net_retry_at = Some(now + NET_RETRY);
            }
        }
    }

    /// The network cannot carry our adverts: FAULT (VIPs removed at once), retried later.
    fn set_net_fault(&mut self, why: String) {
        self.net_fault = Some(Fault {
            source: format!("interface {}", self.interface),
            detail: why,
        });
        self.net_retry_at = Some(now() + NET_RETRY);
        self.reevaluate();
    }

    /// The daemon re-read the interface after a link or address event.
    fn on_interface(&mut self, now: Interface) {
        if now.ifindex != self.ifindex {
            info!(
                "{}: interface {} was re-created (index {} -> {}): following it",
                self.name, self.interface, self.ifindex, now.ifindex
            );
            self.ifindex = now.ifindex;
            self.socket = None;
            if let Some(vips) = now.vips {
                self.vips.rebind(vips);
            }
            self.watch_arp();
        }
        if now.source != self.source || (now.source.is_some() && self.socket.is_none()) {
            self.change_source(now.source);
        }
        self.link_up = now.up;
        self.reevaluate();
    }

    /// Sends from `source` from now on, on a new socket; `None` starts the grace after which
    /// an instance without an address goes FAULT.
    fn change_source(&mut self, source: Option<Ipv4Addr>) {
        let old = self.source;
        self.source = source;
        let Some(addr) = source else {
            warn!(
                "{}: {} lost {}, the address adverts are sent from; FAULT unless another                  address appears within {:.1} s",
                self.name,
                self.interface,
                old.map_or_else(|| "its address".to_string(), |a| a.to_string()),
                self.fsm.config().advert_int.as_secs_f64()
            );
            self.socket = None;
            self.no_source_since.get_or_insert_with(now);
            return;
        };
        match self
            .doors
            .open_socket(&self.interface, self.ifindex, addr, &self.transport)
        {
            Ok(socket) => {
                if old != Some(addr) {
                    info!(
                        "{}: adverts now go from {addr} (was {})",
                        self.name,
                        old.map_or_else(|| "none".to_string(), |a| a.to_string())
                    );
                }
                self.socket = Some(socket);
                self.fsm.set_local_addr(addr);
                self.status().source = addr.to_string();
                self.no_source_since = None;
                self.send_failures = 0;
                self.net_fault = None;
                self.net_retry_at = None;
            }
            Err(e) => {
                self.socket = None;
                self.set_net_fault(format!("cannot open the VRRP socket from {addr}: {e}"));
            }
        }
    }

    /// A receive error is reported once by the kernel (a link gone down, an ICMP error):
    /// logged, rate-limited, and a short pause so that a socket stuck in error cannot spin.
    async fn on_receive_error(&mut self, e: &crate::net::NetError) {
        if let Some(suppressed) = self.rate_limit.allow("receive", now()) {
            warn!(
                "{}: receive failed: {e}{}",
                self.name,
                held_back(suppressed)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// Watches ARP on every interface a VIP lives on, for claims by other hosts; a watch
    /// that cannot be opened costs the defence on that interface, not the instance.
    fn watch_arp(&mut self) {
        for task in self.arp_watches.drain(..) {
            task.abort();
        }
        let mut seen = HashSet::new();
        for vip in self.vips.vips() {
            if !seen.insert(vip.ifindex) {
                continue;
            }
            match self
                .doors
                .watch_arp(vip.ifindex, vip.mac, self.claims_tx.clone())
            {
                Ok(task) => self.arp_watches.push(task),
                Err(e) => warn!(
                    "{}: cannot watch ARP on {}, VIPs there are not defended: {e}",
                    self.name, vip.dev
                ),
            }
        }
    }

    /// Another host says it has `claim.sender_ip`: if that is one of our VIPs and we are
    /// master, its neighbours now send our clients' traffic there.
    fn on_claim(&mut self, claim: &ArpClaim) {
        let now = now();
        let m = claim.sender_mac;
        let mac = format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        );
        // The kernel drops adverts from our own address before we see them (a martian
        // source), so a duplicate address shows up here, in ARP, or nowhere.
        if Some(claim.sender_ip) == self.source {
            if let Some(suppressed) = self.rate_limit.allow("own_address", now) {
                warn!(
                    "{}: {mac} claims {}, the address our adverts come from: another host uses \
                     it (a duplicate IP address: peers cannot tell us apart){}",
                    self.name,
                    claim.sender_ip,
                    held_back(suppressed)
                );
            }
            return;
        }
        if self.fsm.state() != State::Master || !self.vips.addrs().contains(&claim.sender_ip) {
            return;
        }
        self.defender.claim(now, claim.sender_ip);
        self.status().counters.vip_claims_seen += 1;
        if let Some(suppressed) = self.rate_limit.allow("vip_claim", now) {
            warn!(
                "{}: {mac} claims {}, one of our VIPs: re-announcing it{}",
                self.name,
                claim.sender_ip,
                held_back(suppressed)
            );
        }
    }

    /// Re-announces every VIP after foreign claims.
    fn defend(&mut self) {
        if self.fsm.state() != State::Master {
            return;
        }
        self.send_garps(self.garp_repeat);
        self.status().counters.vip_defenses += 1;
    }

    /// One wake-up per change of any tracked check (coalesced).
    fn forward_track_changes(&self) -> mpsc::Receiver<()> {
        let (tx, rx) = mpsc::channel(1);
        for t in &self.tracked {
            let mut watch = t.watch.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                while watch.changed().await.is_ok() {
                    let _ = tx.try_send(());
                }
            });
        }
        rx
    }

    /// Recomputes FAULT and the effective priority from the link and every tracked check.
    fn reevaluate(&mut self) {
        let now = now();
        let states: Vec<_> = self
            .tracked
            .iter()
            .map(|t| t.watch.borrow().clone())
            .collect();
        let inputs: Vec<Input<'_>> = self
            .tracked
            .iter()
            .zip(&states)
            .map(|(t, state)| Input {
                source: &t.source,
                rule: t.rule,
                state,
            })
            .collect();
        let outcome = eval::evaluate(self.base_priority, &inputs);
        let fault = if !self.link_up {
            Some(Fault {
                source: format!("interface {}", self.interface),
                detail: "down".to_string(),
            })
        } else {
            self.net_fault.clone().or(outcome.fault)
        };
        match (&self.fault, &fault) {
            (None, Some(f)) => self.fsm.handle_fault(now, f.to_string()),
            (Some(old), Some(new)) if old != new => {
                info!("{}: still FAULT, now because {new}", self.name);
            }
            (Some(old), None) => self
                .fsm
                .handle_recovered(now, format!("{}: healthy again", old.source)),
            _ => {}
        }
        self.fault = fault;
        self.fsm.handle_priority(now, outcome.priority, outcome.why);
        let tracks = self
            .tracked
            .iter()
            .zip(&states)
            .map(|(t, s)| TrackStatus {
                name: t.source.clone(),
                kind: t.kind.to_string(),
                ok: match t.rule {
                    Rule::Status { .. } => s.ok,
                    Rule::Value { weight: 0 } => s.value == 0,
                    Rule::Value { .. } => true,
                },
                weight: match t.rule {
                    Rule::Status { weight } | Rule::Value { weight } => weight,
                },
                detail: s.detail.clone(),
            })
            .collect();
        let mut status = self.status();
        status.effective_priority = self.fsm.priority();
        status.tracks = tracks;
    }

    /// The shared status; a panic elsewhere while it was held does not make it unusable.
    fn status(&self) -> std::sync::MutexGuard<'_, InstanceStatus> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// RFC 3768 §7.1: every check, then the state machine.
    fn on_datagram(&mut self, datagram: &[u8]) {
        let parsed = if self.unicast_peers.is_empty() {
            packet::parse_ipv4(datagram)
        } else {
            packet::parse_ipv4_unicast(datagram)
        };
        let received = match parsed {
            Ok(r) => r,
            Err(e) => return self.drop_packet(None, &e),
        };
        // parse_ipv4 gives IPv4 sources only.
        let IpAddr::V4(src) = received.src else {
            return;
        };
        if Some(src) == self.source {
            // Our own advert comes back only when the unicast peer list names us (a config
            // shared by all nodes); otherwise another host uses our address.
            if self.unicast_peers.contains(&src) {
                return;
            }
            return self.drop_packet(Some(src), &PacketError::OwnAddress { src: received.src });
        }
        if received.advert.vrid != self.vrid {
            // Another virtual router on the same link: counted, not worth a log line.
            self.count_drop(&PacketError::VridMismatch {
                got: received.advert.vrid,
                want: self.vrid,
            });
            return;
        }
        if !self.unicast_peers.is_empty() && !self.unicast_peers.contains(&src) {
            return self.drop_packet(Some(src), &PacketError::UnknownPeer { src: received.src });
        }
        let addrs: Vec<IpAddr> = self.vips.addrs().iter().map(|&a| a.into()).collect();
        let expected = Expected {
            version: Version::V2,
            vrid: self.vrid,
            auth: &self.auth,
            interval: AdvertInterval::from_secs(self.advert_int_secs),
            addrs: &addrs,
        };
        if let Err(e) = packet::validate(&received.advert, &expected) {
            return self.drop_packet(Some(src), &e);
        }
        self.status().counters.adverts_received += 1;
        self.fsm.handle_advert(now(), src, received.advert.priority);
    }

    fn count_drop(&self, e: &PacketError) {
        let mut status = self.status();
        *status
            .counters
            .drops
            .entry(e.counter_name().to_string())
            .or_default() += 1;
    }

    fn drop_packet(&mut self, from: Option<Ipv4Addr>, e: &PacketError) {
        self.count_drop(e);
        if let Some(suppressed) = self.rate_limit.allow(e.counter_name(), now()) {
            let from = from.map_or_else(String::new, |a| format!(" from {a}"));
            let more = held_back(suppressed);
            warn!("{}: dropped advert{from}: {e}{more}", self.name);
        }
    }

    /// Carries out every pending action of the state machine, in order.
    async fn execute(&mut self) {
        while let Some(action) = self.fsm.poll_action() {
            match action {
                Action::SendAdvert { priority } => self.send_advert(priority),
                Action::AddVips => self.vips.hold().await,
                Action::RemoveVips => self.vips.release().await,
                Action::Announce => self.send_garps(self.garp_repeat),
                Action::AnswerLowerPrio => self.send_garps(self.garp_lower_prio_repeat),
                Action::Transition { from, to, reason } => {
                    // Taking over after silence may be a mistake of a lossy link: then the real
                    // master's defence must not be answered before its next advert sets us
                    // right (see Defender).
                    if to == State::Master && matches!(reason, Reason::MasterDown { .. }) {
                        self.defender.announced(now());
                    }
                    self.on_transition(from, to, &reason);
                }
                Action::ReleaseVips { new_master } => self.release_vips(new_master).await,
            }
        }
        if self.fsm.state() != State::Master {
            self.defender.reset();
        }
        // After the VIPs are in place (or gone), as keepalived's notify_master promises.
        if let Some(n) = &self.notifier {
            for (state, priority) in self.pending_notify.drain(..) {
                n.state_changed(state, priority);
            }
        }
        self.pending_notify.clear();
        let master = self.fsm.master().map(|(addr, priority)| Peer {
            addr: addr.to_string(),
            priority,
        });
        let mut status = self.status();
        status.state = self.fsm.state().to_string();
        status.master = master;
    }

    fn on_handover(&mut self, reply: oneshot::Sender<HandoverResult>) {
        let now = now();
        if self.fsm.releasing() {
            // A second request for the same handover: answer it with the first.
            self.handovers.push((reply, now));
        } else if self.fsm.handle_handover(now) {
            info!(
                "{}: handover requested: resigning (priority 0), keeping the VIPs until a new \
                 master advertises (at most {:.1} s)",
                self.name,
                self.fsm.release_bound().as_secs_f64()
            );
            self.handovers.push((reply, now));
        } else {
            let _ = reply.send(HandoverResult {
                instance: self.name.clone(),
                outcome: "not_master".into(),
                new_master: None,
                waited_ms: 0,
            });
        }
    }

    /// The end of a handover: the new master advertised (or the bound ran out).
    async fn release_vips(&mut self, new_master: Option<Ipv4Addr>) {
        self.vips.release().await;
        let outcome = match new_master {
            Some(m) => {
                info!("{}: handover done: {m} advertises; VIPs removed", self.name);
                "released"
            }
            None => {
                warn!(
                    "{}: handover: no new master advertised within {:.1} s; VIPs removed anyway",
                    self.name,
                    self.fsm.release_bound().as_secs_f64()
                );
                "timed_out"
            }
        };
        for (reply, since) in self.handovers.drain(..) {
            let _ = reply.send(HandoverResult {
                instance: self.name.clone(),
                outcome: outcome.into(),
                new_master: new_master.map(|m| m.to_string()),
                waited_ms: since.elapsed().as_millis() as u64,
            });
        }
    }

    /// A reload changed the VIP list only: a master adds and removes just the difference,
    /// and announces the added ones; nothing else changes.
    async fn update_vips(&mut self, new: Vec<BoundVip>) {
        let holding = self.fsm.state() == State::Master || self.fsm.releasing();
        let done = self.vips.update(new, holding, self.garp_repeat).await;
        info!(
            "{}: reload: {} VIP(s) added, {} removed{}",
            self.name,
            done.added,
            done.removed,
            if holding { " on this master" } else { "" }
        );
        let mut status = self.status();
        status.vips = vip_statuses(self.vips.vips());
        status.counters.garps_sent += done.announced;
    }

    fn send_advert(&mut self, priority: u8) {
        let advert = AdvertRepr {
            version: Version::V2,
            vrid: self.vrid,
            priority,
            interval: AdvertInterval::from_secs(self.advert_int_secs),
            auth: self.auth.clone(),
            addrs: self.vips.addrs().iter().map(|&a| a.into()).collect(),
        };
        let sent = match &self.socket {
            Some(socket) => socket
                .send(&advert.to_bytes(&ChecksumOver::MessageOnly))
                .map_err(|e| e.to_string()),
            None => Err(format!(
                "interface {} has no IPv4 address to send from",
                self.interface
            )),
        };
        match sent {
            Ok(()) => {
                self.send_failures = 0;
                self.status().counters.adverts_sent += 1;
            }
            // Expected while the link is down: the resign advert is only worth a try.
            Err(e) if self.fsm.state() != State::Master || !self.link_up => {
                debug!("{}: advert not sent: {e}", self.name)
            }
            Err(e) => {
                self.send_failures += 1;
                warn!(
                    "{}: advert not sent ({} in a row): {e}",
                    self.name, self.send_failures
                );
                if self.send_failures >= MAX_SEND_FAILURES {
                    // The backup cannot hear us: holding the VIPs now means two holders.
                    self.set_net_fault(format!("adverts cannot be sent: {e}"));
                }
            }
        }
    }

    fn send_garps(&mut self, repeat: u32) {
        let sent = self.vips.announce(repeat);
        self.status().counters.garps_sent += sent;
    }

    fn on_transition(&mut self, from: State, to: State, reason: &Reason) {
        info!("{}: {from} -> {to}: {reason}", self.name);
        let priority = self.fsm.priority();
        // keepalived names the stopped state STOP in notify arguments.
        let name = if to == State::Init {
            "STOP"
        } else {
            to.as_str()
        };
        self.pending_notify.push((name, priority));
        if let Some(sync) = &self.sync
            && !matches!(reason, Reason::Sync { .. })
            && to != State::Init
        {
            let _ = sync.send(MemberChange {
                instance: self.name.clone(),
                to,
                priority,
            });
        }
        let at_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        {
            let mut status = self.status();
            status.counters.transitions += 1;
            if to == State::Master {
                status.counters.became_master += 1;
            }
            if from == State::Master {
                status.counters.released_master += 1;
            }
            status.last_transition = Some(Transition {
                at_unix_ms,
                from: from.to_string(),
                to: to.to_string(),
                reason: reason.to_string(),
            });
        }
        if let Some(events) = &self.events {
            // No subscriber is not an error: `send` fails only then.
            let _ = events.send(Event {
                at_unix_ms,
                instance: self.name.clone(),
                from: from.to_string(),
                to: to.to_string(),
                reason: reason.to_string(),
            });
        }
    }
}

impl<D: Doors> Drop for Instance<D> {
    /// The ARP watches hold sockets: they go with the instance (a stop, a reload).
    fn drop(&mut self) {
        for task in &self.arp_watches {
            task.abort();
        }
    }
}

/// The time on tokio's clock (which a test can pause and advance), as the fsm takes it.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Sleeps until `at`, or forever when there is no deadline.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

/// How `vipctl status` lists `vips` before the kernel has been asked whether they are there.
fn vip_statuses(vips: &[BoundVip]) -> Vec<VipStatus> {
    vips.iter()
        .map(|v| VipStatus {
            addr: format!("{}/{}", v.addr, v.prefix_len),
            dev: v.dev.clone(),
            present: false,
        })
        .collect()
}
