//! Drives one `vrrp_instance`: feeds its [`Fsm`] packets, timers and link events, and carries
//! out the actions it returns: adverts through its socket, VIPs through its [`VipSet`], both
//! reached through [`Doors`] (the kernel, or a test's fakes).
//!
//! The instance owns its socket and its timers, and reads tokio's clock (a test can pause
//! it); it publishes what it knows to a shared
//! [`InstanceStatus`](crate::status::InstanceStatus) that the control socket reads. An
//! address it did not add (an administrator's) is never removed.
//!
//! This file is the driver: the run loop, which waits on every input, and the execution of
//! the state machine's actions. The rest has a room each:
//! - `setup`: what an instance is built from ([`Setup`]) and its starting values;
//! - `network`: the interface, the source address, the socket, sending adverts and the
//!   faults of the network ([`Interface`], [`NET_RETRY`]);
//! - `receive`: the checks of RFC 3768 section 7.1 on what comes in, and the drop counters;
//! - `tracking`: tracked checks, FAULT and the effective priority ([`Tracked`]);
//! - `claims`: the ARP watches and the defence of the VIPs against other hosts' claims;
//! - `handover`: a planned switchover and the replies waiting for it;
//! - `leftovers`: the record a restart reads to keep this run's VIPs;
//! - `report`: the shared status, transitions, the sync group and notify scripts
//!   ([`MemberChange`]).

use std::net::IpAddr;
use std::time::Instant;

use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::info;

use crate::net::arp::ArpClaim;
use crate::net::socket::Transport;
use crate::notify::Notifier;
use crate::ratelimit::LogLimits;
use crate::status::{Event, HandoverResult, SharedStatus};
use crate::track::eval::Fault;
pub use crate::vip::BoundVip;
use crate::vip::{Defender, RouteSet, VipSet};
use crate::vrrp::doors::{AdvertSocket, Doors, Kernel};
use crate::vrrp::fsm::{Action, Fsm, Reason, State};
use crate::vrrp::packet::{AdvertInterval, Auth, ChecksumForm, Version};

mod claims;
mod handover;
mod leftovers;
mod network;
mod receive;
#[cfg(fuzzing)]
pub(crate) use receive::{Filter, Verdict, judge};
mod report;
mod setup;
mod tracking;

pub use crate::track::Tracked;
pub use network::{Interface, NET_RETRY};
pub use report::MemberChange;
pub use setup::Setup;

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
    /// vipd is about to re-execute itself (an in-place upgrade): write the record the next
    /// run resumes from, change nothing, then answer.
    Freeze(oneshot::Sender<()>),
    /// Planned switchover; answered once the VIPs are released (or at once if not master).
    Handover(oneshot::Sender<HandoverResult>),
    /// Maintenance mode on or off.
    Maintenance(bool),
    /// A reload changed only the VIP list: add and remove just the difference.
    UpdateVips(Vec<BoundVip>),
}

/// One running instance. Its fields are grouped by the room that keeps them.
pub struct Instance<D: Doors = Kernel> {
    name: String,
    fsm: Fsm,
    doors: D,
    /// The VIPs, and which of them this instance added.
    vips: VipSet<D::Announcer>,
    garp_repeat: u32,
    garp_lower_prio_repeat: u32,

    // network: the interface, the socket, the network's faults.
    interface: String,
    ifindex: u32,
    transport: Transport,
    /// `None` while the interface has no address to send from.
    socket: Option<D::Socket>,
    /// The address adverts go from: IPv4, or the IPv6 link-local address.
    source: Option<IpAddr>,
    link_up: bool,
    /// Why the network cannot carry our adverts (no address, sends failing), if so.
    net_fault: Option<Fault>,
    /// Since when the interface has had no address to send from.
    no_source_since: Option<Instant>,
    /// Adverts that failed in a row.
    send_failures: u32,
    /// When a network fault is retried.
    net_retry_at: Option<Instant>,

    // receive (and the adverts sent): what an advert of this virtual router carries.
    auth: Auth,
    vrid: u8,
    version: Version,
    /// What the checksum of our adverts covers: the message alone (VRRPv2, and VRRPv3 over
    /// IPv4 with `v3_checksum_as_v2`), or the pseudo-header too.
    checksum_form: ChecksumForm,
    interval: AdvertInterval,
    unicast_peers: Vec<IpAddr>,
    /// Logs a remote host can trigger (drops, claims), per kind.
    rate_limit: LogLimits,

    // routes (`route_table`)
    /// A host route per VIP for a routing daemon, while the VIPs are held here.
    routes: Option<RouteSet<D::Routes>>,
    /// The VIPs are held (master, or a master handing over): the routes are in.
    routes_on: bool,

    // tracking
    base_priority: u8,
    tracked: Vec<Tracked>,
    /// Why the instance is in FAULT, if it is.
    fault: Option<Fault>,

    // claims
    /// When to re-announce after another host claimed a VIP.
    defender: Defender,
    /// ARP claims from the watch tasks (one per VIP interface), and where they send them.
    claims: mpsc::Receiver<ArpClaim>,
    claims_tx: mpsc::Sender<ArpClaim>,
    arp_watches: Vec<tokio::task::JoinHandle<()>>,

    // handover
    /// Handovers waiting for the VIPs to be released, with when they started.
    handovers: Vec<(oneshot::Sender<HandoverResult>, Instant)>,

    // leftovers
    /// Where this run's record goes; `None` = nowhere (tests, `--state-dir ''`).
    state_file: Option<std::path::PathBuf>,
    /// The last record written.
    written: Option<leftovers::Written>,
    /// Set until startup: resume holding the previous run's VIPs after listening this long.
    resume: Option<std::time::Duration>,

    // report
    status: SharedStatus,
    /// Notify scripts to queue once the current actions are done (VIPs in place first).
    pending_notify: Vec<(&'static str, u8)>,
    notifier: Option<Notifier>,
    sync: Option<mpsc::UnboundedSender<MemberChange>>,
    /// Where transitions are announced (`vipctl watch`); `None` = nobody listens.
    events: Option<broadcast::Sender<Event>>,
}

impl<D: Doors> Instance<D> {
    /// Runs until told to shut down.
    pub async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut track_changes = self.forward_track_changes();
        self.watch_arp();
        match self.resume.take() {
            Some(listen) => {
                // The daemon found our previous run's VIPs in place: they are ours again.
                self.vips.adopt();
                self.fsm.handle_startup_restarted(now(), listen);
            }
            None => self.fsm.handle_startup(now()),
        }
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
                    Ok(inbound) => self.on_datagram(&buf[..inbound.len], inbound.ipv6),
                    Err(e) => self.on_receive_error(&e).await,
                },
                () = sleep => self.fsm.handle_timeout(now()),
                () = net_timer => self.on_net_timer(),
                Some(claim) = self.claims.recv() => self.on_claim(&claim),
                () = sleep_until(self.defender.poll_timeout()) => self.on_defence_timer(),
                Some(()) = track_changes.recv() => self.reevaluate(),
                command = commands.recv() => match command {
                    Some(Command::Interface(now)) => self.on_interface(now),
                    Some(Command::Sync { target, why }) => {
                        self.fsm.handle_sync(now(), target, why);
                    }
                    Some(Command::Freeze(done)) => {
                        self.record_handoff();
                        let _ = done.send(());
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

    /// Carries out every pending action of the state machine, in order.
    async fn execute(&mut self) {
        while let Some(action) = self.fsm.poll_action() {
            match action {
                Action::SendAdvert { priority } => self.send_advert(priority),
                Action::AddVips => {
                    self.vips.hold().await;
                    self.routes_on = true;
                }
                Action::RemoveVips => {
                    self.routes_on = false;
                    self.sync_routes().await;
                    self.vips.release().await;
                }
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
        self.sync_routes().await;
        self.publish();
        self.record();
    }

    /// The routes of `route_table` as the VIPs are: in, with the metric of the priority now,
    /// while they are held; out otherwise. A change of metric is make-before-break.
    async fn sync_routes(&mut self) {
        let Some(routes) = &mut self.routes else {
            return;
        };
        if self.routes_on {
            routes
                .announce(crate::vip::metric(self.fsm.priority()))
                .await;
        } else if !routes.routes().is_empty() {
            routes.withdraw().await;
        }
    }

    /// A reload changed the VIP list only: a master adds and removes just the difference,
    /// and announces the added ones; nothing else changes.
    async fn update_vips(&mut self, new: Vec<BoundVip>) {
        let holding = self.fsm.state() == State::Master || self.fsm.releasing();
        if let Some(routes) = &mut self.routes {
            let table = routes.table();
            routes.update(setup::routed(&new), table).await;
        }
        let done = self.vips.update(new, holding, self.garp_repeat).await;
        info!(
            "{}: reload: {} VIP(s) added, {} removed{}",
            self.name,
            done.added,
            done.removed,
            if holding { " on this master" } else { "" }
        );
        let mut status = self.status();
        status.vips = report::vip_statuses(self.vips.vips());
        status.counters.garps_sent += done.announced;
    }

    fn send_garps(&mut self, repeat: u32) {
        let sent = self.vips.announce(repeat);
        self.status().counters.garps_sent += sent;
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
