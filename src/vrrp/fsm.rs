//! The state machine of one virtual router (RFC 3768 §6 for VRRPv2, RFC 9568 §6 for VRRPv3),
//! with no IO and no clock.
//!
//! [`Fsm`] is handed the current time with every input and answers with [`Action`]s for its
//! driver to carry out. It never sleeps, reads a clock or opens a socket, so elections can be
//! tested in virtual time (see `tests/sim_lan.rs`).
//!
//! Timers by version ([`FsmConfig::version`]):
//! - VRRPv2: Skew_Time = (256 - Priority) / 256 s and Master_Down_Interval =
//!   3 x Advertisement_Interval + Skew_Time; the interval in received adverts is ignored (the
//!   receive path drops adverts whose interval differs from ours).
//! - VRRPv3: Master_Adver_Interval starts as our own interval and a backup learns it from every
//!   advert it accepts; Skew_Time = (256 - Priority) x Master_Adver_Interval / 256 and
//!   Master_Down_Interval = 3 x Master_Adver_Interval + Skew_Time. A master always advertises at
//!   its own interval.
//!
//! Call order for a driver:
//! 1. feed one input: [`Fsm::handle_startup`], [`Fsm::handle_advert`], [`Fsm::handle_timeout`],
//!    [`Fsm::handle_fault`], [`Fsm::handle_recovered`], [`Fsm::handle_priority`],
//!    [`Fsm::handle_sync`] or [`Fsm::handle_shutdown`], or an operator's
//!    [`Fsm::handle_handover`] or [`Fsm::handle_maintenance`];
//! 2. drain [`Fsm::poll_action`] until it returns `None`, executing each action in order;
//! 3. sleep until [`Fsm::poll_timeout`], then call [`Fsm::handle_timeout`] with the clock's time.

use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub use crate::config::PRIORITY_OWNER;
use crate::vrrp::packet::Version;
/// The priority a master sends when it stops being master (RFC 3768 §5.3.4).
pub const PRIORITY_RESIGN: u8 = 0;

/// The shortest interval the timers run on: one centisecond, the least VRRPv3's Max Adver Int
/// can carry. RFC 9568 §7.1 has adverts with an interval of 0 discarded; should one get
/// through anyway (or a config say 0), a zero Master_Adver_Interval would make
/// Master_Down_Interval zero and a zero Advertisement_Interval would re-arm Adver_Timer at
/// `now`: either timer would fire on every call, and the driver would spin.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// What the state machine needs to know of its instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsmConfig {
    /// VRRPv2 or VRRPv3: which timer rules apply (see the module doc).
    pub version: Version,
    /// Our priority, 1..=255.
    pub priority: u8,
    /// Advertisement_Interval: how often we advertise as master, and, until a VRRPv3 backup
    /// learns the master's, Master_Adver_Interval.
    pub advert_int: Duration,
    /// Preempt_Mode: false with `nopreempt`.
    pub preempt: bool,
    /// keepalived's `preempt_delay`: how long a lower-priority master is tolerated.
    pub preempt_delay: Duration,
    /// Our primary address (IPv6: link-local): breaks ties between equal priorities (RFC 3768
    /// §6.4.3, RFC 9568 §6.4.3).
    pub local_addr: IpAddr,
    /// Delay before the VIPs are announced a second time after becoming master (keepalived's
    /// `garp_master_delay`); zero = once only.
    pub announce_again_after: Duration,
    /// Period of announcements while master (`garp_master_refresh`); `None` = none.
    pub refresh_every: Option<Duration>,
    /// False with keepalived's `lower_prio_no_advert`: a master does not answer a
    /// lower-priority advert with its own.
    pub answer_lower_prio: bool,
}

/// The states of RFC 3768 §6.4, plus keepalived's FAULT for a dead interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not started, or stopped (RFC 3768 §6.4.1).
    Init,
    /// Listening for the master (RFC 3768 §6.4.2).
    Backup,
    /// Holding the virtual addresses and advertising (RFC 3768 §6.4.3).
    Master,
    /// The interface is down: no VIPs, no adverts (keepalived's FAULT).
    Fault,
}

impl State {
    /// keepalived's upper-case name, used in logs, status and notify arguments.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a transition happened: every transition carries one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The instance started and waits to hear a master.
    Startup,
    /// We own the addresses (priority 255) and take over at once.
    AddressOwner,
    /// Master_Down_Timer fired: nobody advertised a priority we accept.
    MasterDown {
        /// The master we last heard, if any.
        master: Option<IpAddr>,
        /// How long ago we last heard it (or since we started listening).
        silent: Duration,
    },
    /// The master sent priority 0, and our Skew_Time passed without a better backup.
    MasterResigned {
        /// The master that resigned.
        master: IpAddr,
    },
    /// The master has a lower priority than ours and preemption is on.
    Preempt {
        /// The master being preempted.
        master: IpAddr,
        /// Its priority.
        priority: u8,
    },
    /// A peer advertised a higher priority than ours (or an equal one from a higher address).
    Superseded {
        /// The new master.
        peer: IpAddr,
        /// Its priority.
        priority: u8,
        /// True when the priorities were equal and its address is higher.
        by_address: bool,
    },
    /// The daemon is stopping.
    Shutdown,
    /// Something the instance needs failed: its interface, or a check of weight 0.
    Fault {
        /// What, e.g. "interface eth0 is down".
        why: String,
    },
    /// Every cause of FAULT is gone.
    Recovered {
        /// What, e.g. "interface eth0 is up again".
        why: String,
    },
    /// As master, our priority fell and a silent backup may now outrank us: we resign
    /// (priority 0) so that it takes over after its Skew_Time, keeping the VIPs until a new
    /// master advertises.
    Demoted {
        /// Our new priority.
        priority: u8,
        /// The strongest router we have heard that outranks the new priority, with its
        /// priority as last heard; `None` when we know of none (backups are silent).
        peer: Option<(IpAddr, u8)>,
        /// Why ours fell, e.g. "chk_nginx failed".
        why: String,
    },
    /// We resigned after our priority fell, and no router outranking us took over: we are
    /// master again (the VIPs never left).
    Resumed {
        /// What happened instead: "nobody advertised within 3.0 s" or the weaker router that
        /// answered.
        why: String,
    },
    /// The master lowered its priority below ours: take over after Skew_Time, as if it had
    /// resigned, instead of waiting Master_Down_Interval.
    MasterDemoted {
        /// The master.
        master: IpAddr,
        /// The priority it now advertises.
        priority: u8,
    },
    /// A member of our sync group changed state, and the group moves together.
    Sync {
        /// Which member and what it did.
        why: String,
    },
    /// An operator asked this master to hand over (`vipctl handover`).
    Handover,
    /// An operator put the instance in maintenance (`vipctl maint on`): it stays backup.
    Maintenance,
    /// We restarted holding the VIPs the previous run left as master, and no router
    /// outranking us advertised while we listened: master again, the VIPs never left.
    Restarted {
        /// What was heard: "nobody advertised within 1.25 s", or the weaker master.
        why: String,
    },
    /// We restarted and found the VIPs our previous run held as master: kept while we
    /// listen for a stronger master.
    Restarting {
        /// How long we listen.
        listen: Duration,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Startup => f.write_str("starting, waiting for adverts"),
            Reason::AddressOwner => f.write_str("priority 255: we own the addresses"),
            Reason::MasterDown {
                master: Some(m),
                silent,
            } => write!(f, "no advert from {m} for {:.2} s", silent.as_secs_f64()),
            Reason::MasterDown {
                master: None,
                silent,
            } => write!(
                f,
                "no advert from any master for {:.2} s",
                silent.as_secs_f64()
            ),
            Reason::MasterResigned { master } => write!(f, "{master} resigned (sent priority 0)"),
            Reason::Preempt { master, priority } => {
                write!(f, "preempting {master}, whose priority {priority} is lower")
            }
            Reason::Superseded {
                peer,
                priority,
                by_address: false,
            } => write!(f, "{peer} advertises higher priority {priority}"),
            Reason::Superseded {
                peer,
                priority,
                by_address: true,
            } => write!(
                f,
                "{peer} advertises the same priority {priority} from a higher address"
            ),
            Reason::Shutdown => f.write_str("shutting down"),
            Reason::Fault { why } | Reason::Recovered { why } | Reason::Sync { why } => {
                f.write_str(why)
            }
            Reason::Demoted {
                priority,
                peer: Some((peer, peer_priority)),
                why,
            } => write!(
                f,
                "priority fell to {priority} ({why}), below {peer}'s {peer_priority}: handing \
                 over, VIPs kept until a new master advertises"
            ),
            Reason::Demoted {
                priority,
                peer: None,
                why,
            } => write!(
                f,
                "priority fell to {priority} ({why}): resigning so that a stronger backup can \
                 take over, VIPs kept until a new master advertises"
            ),
            Reason::Resumed { why } => write!(f, "no stronger router took over ({why}): resuming"),
            Reason::MasterDemoted { master, priority } => write!(
                f,
                "master {master} lowered its priority to {priority}, below ours"
            ),
            Reason::Handover => {
                f.write_str("handing over on request; VIPs kept until a new master advertises")
            }
            Reason::Maintenance => f.write_str("maintenance mode: staying backup"),
            Reason::Restarted { why } => write!(
                f,
                "restarted with the VIPs our previous run held as master, and no stronger \
                 router advertised ({why}): master again"
            ),
            Reason::Restarting { listen } => write!(
                f,
                "restarted with the VIPs our previous run held as master: keeping them while \
                 listening {:.2} s for a stronger master",
                listen.as_secs_f64()
            ),
        }
    }
}

/// What the driver must do, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send one advert with this priority.
    SendAdvert {
        /// Our priority, or 0 when resigning.
        priority: u8,
    },
    /// Add the virtual addresses to their interfaces.
    AddVips,
    /// Remove the virtual addresses.
    RemoveVips,
    /// Announce every virtual address, so that neighbours send its traffic here (how is the
    /// announcer's business: gratuitous ARPs today).
    Announce,
    /// Answer a lower-priority master's advert: announce the virtual addresses so that its
    /// neighbours come back to us (the announcer decides how much: `garp_lower_prio_repeat`).
    AnswerLowerPrio,
    /// A handover finished: remove the virtual addresses, which were kept while the new
    /// master took over.
    ReleaseVips {
        /// The router whose advert ended the handover; `None` when the bound ran out first.
        new_master: Option<IpAddr>,
    },
    /// The state changed; log it and tell whoever listens.
    Transition {
        /// The old state.
        from: State,
        /// The new state.
        to: State,
        /// Why.
        reason: Reason,
    },
}

/// The timers of one router: data, not tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// Adver_Timer (master) or Master_Down_Timer (backup): RFC 3768 never runs both.
    Election = 0,
    /// The second announcement after becoming master.
    AnnounceAgain = 1,
    /// The periodic announcement while master.
    Refresh = 2,
    /// The bound on how long a handing-over router keeps its VIPs without hearing a new master.
    Release = 3,
}

const TIMERS: [Timer; 4] = [
    Timer::Election,
    Timer::AnnounceAgain,
    Timer::Refresh,
    Timer::Release,
];

/// The master a backup last heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Heard {
    addr: IpAddr,
    priority: u8,
    at: Instant,
}

/// One virtual router's state machine (RFC 3768 / RFC 9568).
#[derive(Debug)]
pub struct Fsm {
    cfg: FsmConfig,
    state: State,
    /// Master_Adver_Interval (RFC 9568 §6.1): ours while we are master or have heard no master
    /// since starting; a VRRPv3 backup's is the interval of the last advert it accepted. Never
    /// below [`MIN_INTERVAL`]; VRRPv2 keeps our own.
    master_adver_int: Duration,
    timers: [Option<Instant>; 4],
    actions: VecDeque<Action>,
    /// The master we last heard (backup), for logs, status and preemption.
    heard: Option<Heard>,
    /// When we started waiting for a master, for "no advert for N s" without one.
    listening_since: Option<Instant>,
    /// Set while Master_Down_Timer runs at Skew_Time because this master sent priority 0.
    resigned: Option<IpAddr>,
    /// keepalived's preempt_time: after it, a lower-priority master is preempted.
    preempt_after: Option<Instant>,
    /// Our effective priority: the configured one moved by tracked checks.
    priority: u8,
    /// The last priority heard from each other router, to know when to hand over.
    peers: Vec<(IpAddr, u8)>,
    /// Set while Master_Down_Timer runs at Skew_Time because the master demoted itself.
    demoted: Option<(IpAddr, u8)>,
    /// Operator's maintenance mode: never become master while set.
    maintenance: bool,
    /// Set by a handover: accept a lower-priority master instead of preempting it, until we
    /// are master again (else the old master would take the VIPs straight back).
    yielded: bool,
    /// Set while a router that left MASTER still holds the VIPs, waiting for the new master.
    releasing: Option<Release>,
    /// When a master last answered a lower-priority advert: at most one answer per interval,
    /// so a host on the LAN cannot turn each 40-byte advert into a burst of broadcasts.
    last_lower_answer: Option<Instant>,
}

/// Why a router that left MASTER keeps its VIPs for a while (make-before-break).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Release {
    /// An operator's handover or maintenance: the VIPs go when a new master advertises, or
    /// when the bound runs out.
    Handover,
    /// Our priority fell: the VIPs go when a stronger master advertises; if nobody does, or
    /// only a weaker router, we take over again at once.
    Demoted,
    /// We restarted holding the VIPs our previous run left as master: listening for a while
    /// before resuming, as [`Fsm::handle_startup_restarted`] says.
    Restarted,
}

/// How many routers' priorities we remember; a VRRP group is a handful of routers.
const MAX_PEERS: usize = 32;

impl Fsm {
    /// A router in Initialize; nothing happens until [`Fsm::handle_startup`].
    pub fn new(cfg: FsmConfig) -> Self {
        Self {
            priority: cfg.priority,
            master_adver_int: cfg.advert_int.max(MIN_INTERVAL),
            peers: Vec::new(),
            demoted: None,
            cfg,
            state: State::Init,
            timers: [None; 4],
            actions: VecDeque::new(),
            heard: None,
            listening_since: None,
            resigned: None,
            preempt_after: None,
            maintenance: false,
            yielded: false,
            releasing: None,
            last_lower_answer: None,
        }
    }

    /// True while in maintenance mode ([`Fsm::handle_maintenance`]).
    pub fn maintenance(&self) -> bool {
        self.maintenance
    }

    /// True while a handover keeps the VIPs, waiting for the new master's first advert.
    pub fn releasing(&self) -> bool {
        self.releasing.is_some()
    }

    /// How long a handing-over router keeps its VIPs at most: 3 × our Advertisement_Interval,
    /// less than the backups' Master_Down_Interval (a VRRPv3 backup has learned our interval,
    /// we were its master), so that a peer that heard the priority-0 advert has long taken
    /// over by then.
    pub fn release_bound(&self) -> Duration {
        3 * self.advert_int()
    }

    /// An operator's planned switchover: a master resigns (priority 0) but keeps its VIPs
    /// until the new master's first advert arrives (or [`Fsm::release_bound`] passes), so
    /// that traffic keeps flowing while the backup waits out its Skew_Time. Afterwards it
    /// does not preempt the new master. Returns false (and does nothing) when not master.
    pub fn handle_handover(&mut self, now: Instant) -> bool {
        self.hand_over(now, Reason::Handover, Release::Handover)
    }

    /// Maintenance mode on or off. While on, the router never becomes master (not even as
    /// address owner); a master hands over as [`Fsm::handle_handover`] does. Turned off,
    /// the router behaves normally again, preemption included.
    pub fn handle_maintenance(&mut self, now: Instant, on: bool) {
        if on == self.maintenance {
            return;
        }
        self.maintenance = on;
        if on && self.releasing == Some(Release::Restarted) {
            self.drop_release();
        } else if on {
            let _ = self.hand_over(now, Reason::Maintenance, Release::Handover);
        } else {
            self.yielded = false;
        }
    }

    fn hand_over(&mut self, now: Instant, reason: Reason, release: Release) -> bool {
        if self.state != State::Master {
            return false;
        }
        self.actions.push_back(Action::SendAdvert {
            priority: PRIORITY_RESIGN,
        });
        self.become_backup(now, reason);
        self.yielded = release == Release::Handover;
        self.releasing = Some(release);
        let bound = self.release_bound();
        self.arm(Timer::Release, now + bound);
        true
    }

    /// Ends a handover: the VIPs go now.
    fn finish_release(&mut self, new_master: Option<IpAddr>) {
        if self.releasing.take().is_some() {
            self.timers[Timer::Release as usize] = None;
            self.actions.push_back(Action::ReleaseVips { new_master });
        }
    }

    /// Leaving Backup another way (shutdown, fault) while still holding VIPs from a handover.
    fn drop_release(&mut self) {
        if self.releasing.take().is_some() {
            self.timers[Timer::Release as usize] = None;
            self.actions.push_back(Action::RemoveVips);
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration this router runs with.
    pub fn config(&self) -> &FsmConfig {
        &self.cfg
    }

    /// The current master as far as we know: ourselves when master, else the last one heard.
    pub fn master(&self) -> Option<(IpAddr, u8)> {
        match self.state {
            State::Master => Some((self.cfg.local_addr, self.priority)),
            State::Backup => self.heard.map(|h| (h.addr, h.priority)),
            State::Init | State::Fault => None,
        }
    }

    /// Our address changed (the interface was renumbered): it breaks ties from now on.
    pub fn set_local_addr(&mut self, addr: IpAddr) {
        self.cfg.local_addr = addr;
    }

    /// Our effective priority: the configured one moved by tracked checks.
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// Advertisement_Interval, as the timers use it: at least [`MIN_INTERVAL`].
    fn advert_int(&self) -> Duration {
        self.cfg.advert_int.max(MIN_INTERVAL)
    }

    /// Master_Adver_Interval (RFC 9568 §6.1): the interval of the master we follow, learned
    /// from its adverts (VRRPv3), else our own Advertisement_Interval. For status.
    pub fn master_adver_interval(&self) -> Duration {
        self.master_adver_int
    }

    /// Skew_Time with our current priority: (256 - Priority) / 256 s for VRRPv2 (RFC 3768
    /// §6.1), to the microsecond as ever; ((256 - Priority) x Master_Adver_Interval) / 256 for
    /// VRRPv3 (RFC 9568 §6.1), to the nanosecond (at 10 ms a priority step is 39 µs).
    pub fn skew_time(&self) -> Duration {
        let weight = 256 - u64::from(self.priority);
        match self.cfg.version {
            Version::V2 => Duration::from_micros(weight * 1_000_000 / 256),
            Version::V3 => {
                let nanos = self.master_adver_int.as_nanos() * u128::from(weight) / 256;
                Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
            }
        }
    }

    /// Master_Down_Interval = 3 x Master_Adver_Interval + Skew_Time (RFC 9568 §6.1); for
    /// VRRPv2 Master_Adver_Interval is always our Advertisement_Interval (RFC 3768 §6.1).
    pub fn master_down_interval(&self) -> Duration {
        3 * self.master_adver_int + self.skew_time()
    }

    /// RFC 9568 §6.4.2 (Backup) and §6.4.3 (Active): an accepted advert's Max Adver Int
    /// becomes Master_Adver_Interval, before the caller re-arms Master_Down_Timer with it.
    /// VRRPv2 has one interval for all routers (RFC 3768 §7.1 drops the others): ignored.
    fn learn_interval(&mut self, interval: Duration) {
        if self.cfg.version == Version::V3 {
            self.master_adver_int = interval.max(MIN_INTERVAL);
        }
    }

    /// The next action to carry out, in order.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Fsm::handle_timeout`] must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().flatten().min().copied()
    }

    /// RFC 3768 §6.4.1: the Startup event.
    pub fn handle_startup(&mut self, now: Instant) {
        if self.state == State::Init {
            self.start(now, Reason::Startup);
        }
    }

    /// Startup after a restart that found the VIPs our previous run held as master still on
    /// their interfaces (the driver adopted them): listen for `listen`, holding them, then
    /// resume as master, so a restart shorter than the peers' Master_Down_Interval moves
    /// nothing. A master we accept advertising meanwhile (one that outranks us, or a weaker
    /// one when preemption is off) gets the role: the VIPs are released; a weaker one when
    /// preemption is on makes us master at once. `listen` zero: master at once (an in-place
    /// upgrade that was master a moment ago).
    pub fn handle_startup_restarted(&mut self, now: Instant, listen: Duration) {
        if self.state != State::Init {
            return;
        }
        if self.maintenance {
            self.start(now, Reason::Startup);
            self.actions.push_back(Action::RemoveVips);
            return;
        }
        if listen.is_zero() || self.priority == PRIORITY_OWNER {
            let why = "an in-place restart".to_string();
            self.master_adver_int = self.advert_int();
            self.become_master(now, Reason::Restarted { why });
            return;
        }
        self.start(now, Reason::Restarting { listen });
        self.releasing = Some(Release::Restarted);
        self.arm(Timer::Release, now + listen);
    }

    /// Leaves Initialize or Fault: the owner becomes master, everyone else listens, with our
    /// own interval as Master_Adver_Interval until a master is heard (RFC 9568 §6.4.1).
    fn start(&mut self, now: Instant, reason: Reason) {
        self.master_adver_int = self.advert_int();
        if self.priority == PRIORITY_OWNER && !self.maintenance {
            self.become_master(now, Reason::AddressOwner);
        } else {
            self.become_backup(now, reason);
        }
    }

    /// An advert that passed every receive check of RFC 3768 / RFC 9568 §7.1, from `from`
    /// with its `priority` and `interval` (VRRPv3's Max Adver Int; VRRPv2's Adver Int, which
    /// VRRPv2 ignores here).
    pub fn handle_advert(&mut self, now: Instant, from: IpAddr, priority: u8, interval: Duration) {
        self.remember_peer(from, priority);
        match self.state {
            State::Backup => self.backup_rx(now, from, priority, interval),
            State::Master => self.master_rx(now, from, priority, interval),
            State::Init | State::Fault => {}
        }
    }

    /// RFC 3768 / RFC 9568 §6.4.2: receiving an ADVERTISEMENT in Backup.
    fn backup_rx(&mut self, now: Instant, from: IpAddr, priority: u8, interval: Duration) {
        if priority != PRIORITY_RESIGN {
            // A demoted master that still outranks whoever answered takes over again at
            // once: it still holds the VIPs, so clients see no gap.
            if self.releasing == Some(Release::Demoted) && !self.outranked_by(from, priority) {
                self.releasing = None;
                self.timers[Timer::Release as usize] = None;
                let why = format!(
                    "{from} advertised priority {priority}, below our {}",
                    self.priority
                );
                self.become_master(now, Reason::Resumed { why });
                return;
            }
            if self.releasing == Some(Release::Restarted) {
                if self.restarted_rx(now, from, priority) {
                    return;
                }
            } else {
                // A handover ends with the new master's first advert.
                self.finish_release(Some(from));
            }
        }
        let previous = self.heard.filter(|h| h.addr == from).map(|h| h.priority);
        self.heard = Some(Heard {
            addr: from,
            priority,
            at: now,
        });
        if priority == PRIORITY_RESIGN {
            // Skew_Time on the interval learned so far: a resign carries no interval to learn
            // (RFC 9568 §6.4.2 learns only in the non-zero branch, as keepalived does).
            self.resigned = Some(from);
            let skew = self.skew_time();
            self.arm(Timer::Election, now + skew);
            return;
        }
        self.resigned = None;
        let lower = priority < self.priority;
        if !self.cfg.preempt || !lower || self.yielded || self.maintenance {
            self.preempt_after = None;
            self.demoted = None;
            self.learn_interval(interval);
            self.arm_master_down(now);
            return;
        }
        // The master we accepted just fell below us (its check failed): it will not resign,
        // so take over after Skew_Time as if it had, not after Master_Down_Interval.
        if self.cfg.preempt_delay.is_zero()
            && self.demoted.is_none()
            && previous.is_some_and(|p| p >= self.priority)
        {
            self.demoted = Some((from, priority));
            let skew = self.skew_time();
            self.arm(Timer::Election, now + skew);
            return;
        }
        // A lower-priority master: keepalived tolerates it for preempt_delay, then preempts.
        if !self.cfg.preempt_delay.is_zero() {
            let after = *self
                .preempt_after
                .get_or_insert(now + self.cfg.preempt_delay);
            if now < after {
                // Tolerated, so followed: its interval is learned as keepalived does.
                self.learn_interval(interval);
                self.arm_master_down(now);
            }
        }
        // Otherwise the advert is discarded (its interval with it) and Master_Down_Timer runs
        // out.
    }

    /// RFC 3768 / RFC 9568 §6.4.3: receiving an ADVERTISEMENT in Master (Active).
    fn master_rx(&mut self, now: Instant, from: IpAddr, priority: u8, interval: Duration) {
        let ours = self.priority;
        if priority == PRIORITY_RESIGN {
            // Another master resigned: our advert stops its backups from taking over.
            if self.may_answer(now) {
                self.advertise(now);
            }
            return;
        }
        // RFC 9568 §6.4.3: equal priorities go to the higher primary address, compared as
        // unsigned integers in network byte order, which is `IpAddr`'s order within a family.
        let by_address = priority == ours && from > self.cfg.local_addr;
        if priority > ours || by_address {
            self.heard = Some(Heard {
                addr: from,
                priority,
                at: now,
            });
            // RFC 9568 §6.4.3: learn the new master's interval before Master_Down_Timer is
            // set. keepalived 2.2 learns it too, then resets it to its own advert_int in
            // vrrp_state_leave_master (a TODO there doubts it), so its first Master_Down_Timer
            // runs on its own interval; we keep the RFC's.
            self.learn_interval(interval);
            self.leave_master();
            self.become_backup(
                now,
                Reason::Superseded {
                    peer: from,
                    priority,
                    by_address,
                },
            );
            return;
        }
        // Two masters (a partition healed): keepalived answers at once and refreshes the
        // neighbours' caches so the election ends within one interval. Once per interval
        // at most: the answer must not become an amplifier for whoever sends lower adverts.
        if !self.may_answer(now) {
            return;
        }
        if self.cfg.answer_lower_prio {
            self.advertise(now);
        }
        self.actions.push_back(Action::AnswerLowerPrio);
    }

    /// Answers to other masters' adverts: at most one per Advertisement_Interval.
    fn may_answer(&mut self, now: Instant) -> bool {
        let period = self.advert_int();
        if self
            .last_lower_answer
            .is_some_and(|at| now.duration_since(at) < period)
        {
            return false;
        }
        self.last_lower_answer = Some(now);
        true
    }

    /// A master advertises while we hold the previous run's VIPs. A weaker one with
    /// preemption on (and no delay): master again at once, true. Otherwise the VIPs go and
    /// the advert is handled as any backup would (false).
    fn restarted_rx(&mut self, now: Instant, from: IpAddr, priority: u8) -> bool {
        self.releasing = None;
        self.timers[Timer::Release as usize] = None;
        if !self.outranked_by(from, priority)
            && self.cfg.preempt
            && self.cfg.preempt_delay.is_zero()
        {
            let why = format!(
                "{from} advertised priority {priority}, below our {}",
                self.priority
            );
            self.become_master(now, Reason::Restarted { why });
            return true;
        }
        self.actions.push_back(Action::RemoveVips);
        false
    }

    /// True when a router advertising `priority` from `from` wins the election against us.
    fn outranked_by(&self, from: IpAddr, priority: u8) -> bool {
        priority > self.priority || (priority == self.priority && from > self.cfg.local_addr)
    }

    /// Fires every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for timer in TIMERS {
            match self.timers[timer as usize] {
                Some(at) if at <= now => {
                    self.timers[timer as usize] = None;
                    self.fire(now, timer);
                }
                _ => {}
            }
        }
    }

    fn fire(&mut self, now: Instant, timer: Timer) {
        match (self.state, timer) {
            (State::Master, Timer::Election) => self.advertise(now),
            (State::Backup, Timer::Election) if self.maintenance => {
                // Maintenance: keep listening, never take over.
                self.resigned = None;
                self.demoted = None;
                self.arm_master_down(now);
            }
            (State::Backup, Timer::Release) if self.releasing == Some(Release::Demoted) => {
                self.releasing = None;
                let why = format!(
                    "nobody advertised within {:.1} s",
                    self.release_bound().as_secs_f64()
                );
                self.become_master(now, Reason::Resumed { why });
            }
            (State::Backup, Timer::Release) if self.releasing == Some(Release::Restarted) => {
                if self.maintenance {
                    self.drop_release();
                    return;
                }
                self.releasing = None;
                let why = format!(
                    "nobody advertised within {:.2} s",
                    now.duration_since(self.listening_since.unwrap_or(now))
                        .as_secs_f64()
                );
                self.become_master(now, Reason::Restarted { why });
            }
            (State::Backup, Timer::Release) => self.finish_release(None),
            (State::Backup, Timer::Election) => {
                let reason = self.takeover_reason(now);
                self.become_master(now, reason);
            }
            (State::Master, Timer::AnnounceAgain) => self.actions.push_back(Action::Announce),
            (State::Master, Timer::Refresh) => {
                self.actions.push_back(Action::Announce);
                if let Some(period) = self.cfg.refresh_every {
                    self.arm(Timer::Refresh, now + period);
                }
            }
            _ => {}
        }
    }

    /// Says why Master_Down_Timer ran out.
    fn takeover_reason(&self, now: Instant) -> Reason {
        if let Some(master) = self.resigned {
            return Reason::MasterResigned { master };
        }
        if let Some((master, priority)) = self.demoted {
            return Reason::MasterDemoted { master, priority };
        }
        match self.heard {
            Some(h) if h.priority < self.priority && self.cfg.preempt => {
                if now.duration_since(h.at) < self.master_down_interval() {
                    return Reason::Preempt {
                        master: h.addr,
                        priority: h.priority,
                    };
                }
                Reason::MasterDown {
                    master: Some(h.addr),
                    silent: now.duration_since(h.at),
                }
            }
            Some(h) => Reason::MasterDown {
                master: Some(h.addr),
                silent: now.duration_since(h.at),
            },
            None => Reason::MasterDown {
                master: None,
                silent: self
                    .listening_since
                    .map_or(Duration::ZERO, |t| now.duration_since(t)),
            },
        }
    }

    /// RFC 3768 §6.4.2/§6.4.3: the Shutdown event; a master resigns with priority 0.
    pub fn handle_shutdown(&mut self, _now: Instant) {
        match self.state {
            State::Master => {
                self.actions.push_back(Action::SendAdvert {
                    priority: PRIORITY_RESIGN,
                });
                self.leave_master();
            }
            State::Backup => self.drop_release(),
            State::Fault => {}
            State::Init => return,
        }
        self.enter(State::Init, Reason::Shutdown);
        self.timers = [None; 4];
    }

    /// Something the instance needs failed (`why` says what): a master resigns with
    /// priority 0 and removes its VIPs; everyone enters FAULT and ignores adverts.
    pub fn handle_fault(&mut self, _now: Instant, why: String) {
        match self.state {
            State::Master => {
                // Worth a try: on a carrier loss the advert is lost, on some drivers not.
                self.actions.push_back(Action::SendAdvert {
                    priority: PRIORITY_RESIGN,
                });
                self.leave_master();
                self.enter_fault(why);
            }
            State::Backup => {
                self.drop_release();
                self.enter_fault(why);
            }
            State::Fault | State::Init => {}
        }
    }

    /// Every cause of FAULT is gone: back to listening (or master, for an owner).
    pub fn handle_recovered(&mut self, now: Instant, why: String) {
        if self.state == State::Fault {
            self.start(now, Reason::Recovered { why });
        }
    }

    /// Our effective priority changed (tracked checks). A rise is advertised at once. A fall
    /// is too, unless a router may now outrank us: one we have heard with a higher priority,
    /// or any at all when we have heard none, since backups are silent. Then we resign
    /// (priority 0) so that it takes over after its Skew_Time, whichever agent it runs, but
    /// keep the VIPs until a stronger master advertises; if nobody does within
    /// [`Fsm::release_bound`], or a weaker router answers, we are master again at once.
    pub fn handle_priority(&mut self, now: Instant, priority: u8, why: String) {
        if priority == self.priority {
            return;
        }
        let fell = priority < self.priority;
        self.priority = priority;
        if self.state != State::Master {
            return;
        }
        let stronger = self
            .peers
            .iter()
            .filter(|(addr, p)| self.outranked_by(*addr, *p))
            .max_by_key(|(addr, p)| (*p, *addr))
            .copied();
        if fell && (stronger.is_some() || self.peers.is_empty()) {
            let reason = Reason::Demoted {
                priority,
                peer: stronger,
                why,
            };
            self.hand_over(now, reason, Release::Demoted);
        } else {
            self.advertise(now);
        }
    }

    /// A member of our sync group moved to `target`; follow it (`why` names the member).
    pub fn handle_sync(&mut self, now: Instant, target: State, why: String) {
        let reason = Reason::Sync { why: why.clone() };
        match (self.state, target) {
            // Maintenance holds an instance backup, whatever its group does.
            (State::Backup, State::Master) if !self.maintenance => self.become_master(now, reason),
            (State::Master, State::Backup) => {
                self.actions.push_back(Action::SendAdvert {
                    priority: PRIORITY_RESIGN,
                });
                self.leave_master();
                self.become_backup(now, reason);
            }
            (State::Master | State::Backup, State::Fault) => self.handle_fault(now, why),
            (State::Fault, State::Backup) => self.start(now, reason),
            _ => {}
        }
    }

    fn remember_peer(&mut self, from: IpAddr, priority: u8) {
        match self.peers.iter_mut().find(|(a, _)| *a == from) {
            Some(entry) => entry.1 = priority,
            None => {
                if self.peers.len() == MAX_PEERS {
                    self.peers.remove(0);
                }
                self.peers.push((from, priority));
            }
        }
    }

    fn enter_fault(&mut self, why: String) {
        self.timers = [None; 4];
        self.heard = None;
        self.enter(State::Fault, Reason::Fault { why });
    }

    fn become_backup(&mut self, now: Instant, reason: Reason) {
        self.timers = [None; 4];
        self.resigned = None;
        self.demoted = None;
        self.preempt_after = None;
        self.listening_since = Some(now);
        self.arm_master_down(now);
        self.enter(State::Backup, reason);
    }

    fn become_master(&mut self, now: Instant, reason: Reason) {
        // A master's Master_Adver_Interval is its own: the one its backups learn from it.
        self.master_adver_int = self.advert_int();
        self.resigned = None;
        self.yielded = false;
        // Still holding VIPs from a handover (a third router resigned meanwhile): they stay.
        self.releasing = None;
        self.timers[Timer::Release as usize] = None;
        self.last_lower_answer = None;
        self.demoted = None;
        self.heard = None;
        self.enter(State::Master, reason);
        self.actions.push_back(Action::AddVips);
        self.advertise(now);
        self.actions.push_back(Action::Announce);
        if !self.cfg.announce_again_after.is_zero() {
            self.arm(Timer::AnnounceAgain, now + self.cfg.announce_again_after);
        }
        if let Some(period) = self.cfg.refresh_every {
            self.arm(Timer::Refresh, now + period);
        }
    }

    /// Stops acting as master: the caller has queued any resign advert first.
    fn leave_master(&mut self) {
        self.timers = [None; 4];
        self.actions.push_back(Action::RemoveVips);
    }

    /// Sends an advert and re-arms Adver_Timer: a master advertises at its own interval,
    /// whatever it has learned as a backup.
    fn advertise(&mut self, now: Instant) {
        self.actions.push_back(Action::SendAdvert {
            priority: self.priority,
        });
        let period = self.advert_int();
        self.arm(Timer::Election, now + period);
    }

    fn arm_master_down(&mut self, now: Instant) {
        let at = now + self.master_down_interval();
        self.arm(Timer::Election, at);
    }

    fn arm(&mut self, timer: Timer, at: Instant) {
        self.timers[timer as usize] = Some(at);
    }

    fn enter(&mut self, to: State, reason: Reason) {
        let from = self.state;
        self.state = to;
        self.actions
            .push_back(Action::Transition { from, to, reason });
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::net::Ipv4Addr;

    const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    /// The interval of the VRRPv2 tests' adverts, and of their routers.
    const SEC: Duration = Duration::from_secs(1);

    fn cfg(priority: u8) -> FsmConfig {
        FsmConfig {
            version: Version::V2,
            priority,
            advert_int: Duration::from_secs(1),
            preempt: true,
            preempt_delay: Duration::ZERO,
            local_addr: ME,
            announce_again_after: Duration::from_secs(5),
            refresh_every: None,
            answer_lower_prio: true,
        }
    }

    fn drain(fsm: &mut Fsm) -> Vec<Action> {
        std::iter::from_fn(|| fsm.poll_action()).collect()
    }

    fn started(priority: u8) -> (Fsm, Instant) {
        started_with(cfg(priority))
    }

    fn started_with(cfg: FsmConfig) -> (Fsm, Instant) {
        let t0 = Instant::now();
        let mut fsm = Fsm::new(cfg);
        fsm.handle_startup(t0);
        drain(&mut fsm);
        (fsm, t0)
    }

    fn master(priority: u8) -> (Fsm, Instant) {
        master_with(cfg(priority))
    }

    fn master_with(cfg: FsmConfig) -> (Fsm, Instant) {
        let (mut fsm, _) = started_with(cfg);
        let t = fsm.poll_timeout().unwrap();
        fsm.handle_timeout(t);
        drain(&mut fsm);
        assert_eq!(fsm.state(), State::Master);
        (fsm, t)
    }

    #[test]
    fn timers_have_sub_second_precision() {
        let fsm = Fsm::new(cfg(100));
        assert_eq!(fsm.skew_time(), Duration::from_micros(609_375));
        assert_eq!(fsm.master_down_interval(), Duration::from_micros(3_609_375));
        assert_eq!(Fsm::new(cfg(254)).skew_time(), Duration::from_micros(7_812));
        assert_eq!(Fsm::new(cfg(1)).skew_time(), Duration::from_micros(996_093));
    }

    #[test]
    fn startup_listens_for_master_down_interval() {
        let (fsm, t0) = started(100);
        assert_eq!(fsm.state(), State::Backup);
        assert_eq!(fsm.poll_timeout(), Some(t0 + fsm.master_down_interval()));
    }

    #[test]
    fn owner_becomes_master_at_once() {
        let t0 = Instant::now();
        let mut fsm = Fsm::new(cfg(255));
        fsm.handle_startup(t0);
        let actions = drain(&mut fsm);
        assert_eq!(
            actions,
            vec![
                Action::Transition {
                    from: State::Init,
                    to: State::Master,
                    reason: Reason::AddressOwner
                },
                Action::AddVips,
                Action::SendAdvert { priority: 255 },
                Action::Announce,
            ]
        );
    }

    #[test]
    fn silence_makes_backup_master_with_a_reason() {
        let (mut fsm, t0) = started(100);
        fsm.handle_advert(t0, PEER, 150, SEC);
        let down = t0 + fsm.master_down_interval();
        assert_eq!(fsm.poll_timeout(), Some(down));
        fsm.handle_timeout(down);
        let actions = drain(&mut fsm);
        assert_eq!(
            actions[0],
            Action::Transition {
                from: State::Backup,
                to: State::Master,
                reason: Reason::MasterDown {
                    master: Some(PEER),
                    silent: Duration::from_micros(3_609_375)
                }
            }
        );
        assert!(actions.contains(&Action::AddVips));
        assert!(actions.contains(&Action::SendAdvert { priority: 100 }));
        assert!(actions.contains(&Action::Announce));
        if let Action::Transition { reason, .. } = &actions[0] {
            assert_eq!(reason.to_string(), "no advert from 10.0.0.2 for 3.61 s");
        }
    }

    #[test]
    fn timeout_before_deadline_does_nothing() {
        let (mut fsm, t0) = started(100);
        fsm.handle_timeout(t0 + Duration::from_secs(3));
        assert!(drain(&mut fsm).is_empty());
        assert_eq!(fsm.state(), State::Backup);
    }

    #[test]
    fn higher_or_equal_advert_resets_master_down_timer() {
        let (mut fsm, t0) = started(100);
        let t1 = t0 + Duration::from_secs(2);
        fsm.handle_advert(t1, PEER, 100, SEC);
        assert_eq!(fsm.poll_timeout(), Some(t1 + fsm.master_down_interval()));
        assert_eq!(fsm.master(), Some((PEER, 100)));
    }

    #[test]
    fn lower_advert_is_discarded_so_backup_preempts() {
        let (mut fsm, t0) = started(100);
        let deadline = fsm.poll_timeout().unwrap();
        fsm.handle_advert(t0 + Duration::from_secs(1), PEER, 90, SEC);
        assert_eq!(fsm.poll_timeout(), Some(deadline), "timer not reset");
        fsm.handle_advert(t0 + Duration::from_secs(3), PEER, 90, SEC);
        fsm.handle_timeout(deadline);
        let actions = drain(&mut fsm);
        assert_eq!(
            actions[0],
            Action::Transition {
                from: State::Backup,
                to: State::Master,
                reason: Reason::Preempt {
                    master: PEER,
                    priority: 90
                }
            }
        );
    }

    #[test]
    fn nopreempt_accepts_a_lower_master() {
        let t0 = Instant::now();
        let mut fsm = Fsm::new(FsmConfig {
            preempt: false,
            ..cfg(100)
        });
        fsm.handle_startup(t0);
        let t1 = t0 + Duration::from_secs(3);
        fsm.handle_advert(t1, PEER, 90, SEC);
        assert_eq!(fsm.poll_timeout(), Some(t1 + fsm.master_down_interval()));
    }

    #[test]
    fn preempt_delay_tolerates_a_lower_master_then_preempts() {
        let t0 = Instant::now();
        let mut fsm = Fsm::new(FsmConfig {
            preempt_delay: Duration::from_secs(10),
            ..cfg(100)
        });
        fsm.handle_startup(t0);
        let mut t = t0;
        // Adverts every second from a lower master: tolerated for 10 s.
        for _ in 0..10 {
            t += Duration::from_secs(1);
            fsm.handle_advert(t, PEER, 90, SEC);
            fsm.handle_timeout(t);
            assert_eq!(fsm.state(), State::Backup, "at {:?}", t - t0);
        }
        for _ in 0..5 {
            t += Duration::from_secs(1);
            fsm.handle_advert(t, PEER, 90, SEC);
            fsm.handle_timeout(t);
        }
        assert_eq!(fsm.state(), State::Master);
        let preempted_at = t0 + Duration::from_secs(10) + fsm.master_down_interval();
        assert!(t >= preempted_at);
    }

    #[test]
    fn priority_zero_hands_over_after_skew_time() {
        let (mut fsm, t0) = started(100);
        fsm.handle_advert(t0, PEER, 200, SEC);
        let t1 = t0 + Duration::from_secs(1);
        fsm.handle_advert(t1, PEER, 0, SEC);
        assert_eq!(fsm.poll_timeout(), Some(t1 + fsm.skew_time()));
        fsm.handle_timeout(t1 + fsm.skew_time());
        let actions = drain(&mut fsm);
        assert_eq!(
            actions[0],
            Action::Transition {
                from: State::Backup,
                to: State::Master,
                reason: Reason::MasterResigned { master: PEER }
            }
        );
    }

    #[test]
    fn master_advertises_every_interval() {
        let (mut fsm, t) = master(100);
        assert_eq!(fsm.poll_timeout(), Some(t + Duration::from_secs(1)));
        fsm.handle_timeout(t + Duration::from_secs(1));
        assert_eq!(drain(&mut fsm), vec![Action::SendAdvert { priority: 100 }]);
        assert_eq!(fsm.poll_timeout(), Some(t + Duration::from_secs(2)));
    }

    #[test]
    fn master_announces_again_after_the_delay() {
        let (mut fsm, t) = master(100);
        let mut announces = 0;
        let mut now = t;
        while now < t + Duration::from_millis(5_500) {
            now = fsm.poll_timeout().unwrap();
            fsm.handle_timeout(now);
            announces += drain(&mut fsm)
                .iter()
                .filter(|a| **a == Action::Announce)
                .count();
        }
        assert_eq!(announces, 1, "one delayed announcement after the first");
    }

    #[test]
    fn master_yields_to_higher_priority() {
        let (mut fsm, t) = master(100);
        fsm.handle_advert(t, PEER, 101, SEC);
        let actions = drain(&mut fsm);
        assert_eq!(
            actions,
            vec![
                Action::RemoveVips,
                Action::Transition {
                    from: State::Master,
                    to: State::Backup,
                    reason: Reason::Superseded {
                        peer: PEER,
                        priority: 101,
                        by_address: false
                    }
                }
            ]
        );
        assert_eq!(fsm.poll_timeout(), Some(t + fsm.master_down_interval()));
    }

    #[test]
    fn equal_priority_is_broken_by_the_higher_address() {
        let (mut fsm, t) = master(100);
        fsm.handle_advert(t, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 100, SEC);
        assert_eq!(fsm.state(), State::Master, "lower address loses");
        fsm.handle_advert(t, PEER, 100, SEC);
        assert_eq!(fsm.state(), State::Backup, "higher address wins");
    }

    #[test]
    fn master_answers_a_lower_master_at_once() {
        let (mut fsm, t) = master(100);
        let t1 = t + Duration::from_millis(300);
        fsm.handle_advert(t1, PEER, 90, SEC);
        assert_eq!(
            drain(&mut fsm),
            vec![
                Action::SendAdvert { priority: 100 },
                Action::AnswerLowerPrio
            ]
        );
        assert_eq!(fsm.poll_timeout(), Some(t1 + Duration::from_secs(1)));
    }

    #[test]
    fn answers_to_lower_adverts_are_limited_to_one_per_interval() {
        let (mut fsm, t) = master(100);
        let mut answers = 0;
        // A host floods lower-priority (and priority-0) adverts, 100 a second, for 3 s.
        for i in 0..300 {
            let at = t + Duration::from_millis(10 * i);
            fsm.handle_advert(at, PEER, if i % 2 == 0 { 90 } else { 0 }, SEC);
            answers += drain(&mut fsm)
                .iter()
                .filter(|a| matches!(a, Action::AnswerLowerPrio))
                .count();
        }
        assert_eq!(answers, 3, "one answer per advert interval");
        assert_eq!(fsm.state(), State::Master);
    }

    #[test]
    fn lower_prio_no_advert_answers_with_arp_only() {
        let t0 = Instant::now();
        let mut fsm = Fsm::new(FsmConfig {
            answer_lower_prio: false,
            ..cfg(100)
        });
        fsm.handle_startup(t0);
        let t = fsm.poll_timeout().unwrap();
        fsm.handle_timeout(t);
        drain(&mut fsm);
        fsm.handle_advert(t + Duration::from_millis(300), PEER, 90, SEC);
        assert_eq!(drain(&mut fsm), vec![Action::AnswerLowerPrio]);
    }

    #[test]
    fn master_answers_priority_zero_with_an_advert() {
        let (mut fsm, t) = master(100);
        fsm.handle_advert(t, PEER, 0, SEC);
        assert_eq!(drain(&mut fsm), vec![Action::SendAdvert { priority: 100 }]);
        assert_eq!(fsm.state(), State::Master);
    }

    #[test]
    fn shutdown_of_master_resigns_then_removes_vips() {
        let (mut fsm, t) = master(100);
        fsm.handle_shutdown(t);
        assert_eq!(
            drain(&mut fsm),
            vec![
                Action::SendAdvert { priority: 0 },
                Action::RemoveVips,
                Action::Transition {
                    from: State::Master,
                    to: State::Init,
                    reason: Reason::Shutdown
                }
            ]
        );
        assert_eq!(fsm.poll_timeout(), None);
    }

    #[test]
    fn link_down_is_fault_and_link_up_is_backup() {
        let (mut fsm, t) = master(100);
        fsm.handle_fault(t, "interface eth0 is down".into());
        let actions = drain(&mut fsm);
        assert_eq!(
            actions,
            vec![
                Action::SendAdvert { priority: 0 },
                Action::RemoveVips,
                Action::Transition {
                    from: State::Master,
                    to: State::Fault,
                    reason: Reason::Fault {
                        why: "interface eth0 is down".into()
                    }
                }
            ]
        );
        assert_eq!(fsm.poll_timeout(), None);
        fsm.handle_advert(t, PEER, 50, SEC);
        assert!(drain(&mut fsm).is_empty(), "FAULT ignores adverts");
        let t1 = t + Duration::from_secs(1);
        fsm.handle_recovered(t1, "interface eth0 is up again".into());
        assert_eq!(fsm.state(), State::Backup);
        assert_eq!(fsm.poll_timeout(), Some(t1 + fsm.master_down_interval()));
    }

    #[test]
    fn handover_resigns_but_keeps_vips_until_the_new_master_advertises() {
        let (mut fsm, t) = master(100);
        assert!(fsm.handle_handover(t));
        assert_eq!(
            drain(&mut fsm),
            vec![
                Action::SendAdvert { priority: 0 },
                Action::Transition {
                    from: State::Master,
                    to: State::Backup,
                    reason: Reason::Handover
                }
            ],
            "no RemoveVips yet: traffic keeps flowing while the backup waits out its skew"
        );
        assert!(fsm.releasing());
        let t1 = t + Duration::from_millis(650);
        fsm.handle_advert(t1, PEER, 90, SEC);
        assert_eq!(
            drain(&mut fsm),
            vec![Action::ReleaseVips {
                new_master: Some(PEER)
            }]
        );
        assert!(!fsm.releasing());
        assert_eq!(fsm.master(), Some((PEER, 90)));
    }

    #[test]
    fn handover_does_not_preempt_the_new_lower_master() {
        let (mut fsm, t) = master(100);
        assert!(fsm.handle_handover(t));
        drain(&mut fsm);
        let mut now = t;
        for _ in 0..30 {
            now += Duration::from_secs(1);
            fsm.handle_advert(now, PEER, 90, SEC);
            fsm.handle_timeout(now);
        }
        assert_eq!(fsm.state(), State::Backup, "a lower master is accepted");
        // The new master dies: a handed-over router still takes over on silence.
        let down = fsm.poll_timeout().unwrap();
        fsm.handle_timeout(down);
        assert_eq!(fsm.state(), State::Master);
        // Being master again ends the yield: a lower master is preempted as usual.
        fsm.handle_advert(down, PEER, 110, SEC);
        assert_eq!(fsm.state(), State::Backup);
        let t2 = down + Duration::from_secs(1);
        fsm.handle_advert(t2, PEER, 90, SEC);
        fsm.handle_timeout(t2 + fsm.master_down_interval());
        assert_eq!(
            fsm.state(),
            State::Master,
            "preempts again after a normal election"
        );
    }

    #[test]
    fn handover_releases_vips_after_the_bound_when_nobody_takes_over() {
        let (mut fsm, t) = master(100);
        assert!(fsm.handle_handover(t));
        drain(&mut fsm);
        let bound = t + fsm.release_bound();
        assert_eq!(
            fsm.poll_timeout(),
            Some(bound),
            "bound comes before master down"
        );
        fsm.handle_timeout(bound);
        assert_eq!(
            drain(&mut fsm),
            vec![Action::ReleaseVips { new_master: None }]
        );
        assert_eq!(fsm.state(), State::Backup);
    }

    #[test]
    fn handover_ignores_priority_zero_and_is_a_no_op_on_a_backup() {
        let (mut fsm, t0) = started(100);
        assert!(!fsm.handle_handover(t0));
        assert!(drain(&mut fsm).is_empty());
        let (mut fsm, t) = master(100);
        assert!(fsm.handle_handover(t));
        drain(&mut fsm);
        fsm.handle_advert(t, PEER, 0, SEC);
        assert!(fsm.releasing(), "a resigning peer is not a new master");
    }

    #[test]
    fn shutdown_or_fault_while_releasing_removes_the_vips() {
        let (mut fsm, t) = master(100);
        assert!(fsm.handle_handover(t));
        drain(&mut fsm);
        fsm.handle_shutdown(t);
        assert_eq!(drain(&mut fsm)[0], Action::RemoveVips);
        let (mut fsm, t) = master(100);
        assert!(fsm.handle_handover(t));
        drain(&mut fsm);
        fsm.handle_fault(t, "interface eth0 is down".into());
        assert_eq!(drain(&mut fsm)[0], Action::RemoveVips);
        assert_eq!(fsm.state(), State::Fault);
    }

    #[test]
    fn maintenance_never_becomes_master() {
        let (mut fsm, t0) = started(200);
        fsm.handle_maintenance(t0, true);
        assert!(drain(&mut fsm).is_empty(), "a backup just stays backup");
        let mut now = t0;
        for _ in 0..5 {
            now = fsm.poll_timeout().unwrap();
            fsm.handle_timeout(now);
        }
        assert_eq!(
            fsm.state(),
            State::Backup,
            "silence does not make it master"
        );
        fsm.handle_advert(now, PEER, 0, SEC);
        fsm.handle_timeout(now + fsm.skew_time());
        assert_eq!(fsm.state(), State::Backup, "nor does a resigning master");
        fsm.handle_advert(now, PEER, 50, SEC);
        fsm.handle_timeout(now + fsm.master_down_interval() / 2);
        assert_eq!(fsm.state(), State::Backup, "nor a lower master");
        fsm.handle_maintenance(now, false);
        let down = fsm.poll_timeout().unwrap();
        fsm.handle_timeout(down);
        assert_eq!(
            fsm.state(),
            State::Master,
            "maintenance off: elections as usual"
        );
    }

    #[test]
    fn maintenance_on_a_master_hands_over() {
        let (mut fsm, t) = master(100);
        fsm.handle_maintenance(t, true);
        let actions = drain(&mut fsm);
        assert_eq!(actions[0], Action::SendAdvert { priority: 0 });
        assert!(!actions.contains(&Action::RemoveVips));
        assert!(fsm.maintenance() && fsm.releasing());
        fsm.handle_advert(t + Duration::from_millis(700), PEER, 90, SEC);
        assert!(drain(&mut fsm).contains(&Action::ReleaseVips {
            new_master: Some(PEER)
        }));
    }

    #[test]
    fn maintenance_holds_back_an_address_owner() {
        let t0 = Instant::now();
        let mut fsm = Fsm::new(cfg(255));
        fsm.handle_maintenance(t0, true);
        fsm.handle_startup(t0);
        assert_eq!(fsm.state(), State::Backup);
        fsm.handle_fault(t0, "interface eth0 is down".into());
        fsm.handle_recovered(t0, "interface eth0 is up again".into());
        assert_eq!(fsm.state(), State::Backup);
    }

    #[test]
    fn reasons_read_like_a_log_line() {
        let r = Reason::Superseded {
            peer: PEER,
            priority: 150,
            by_address: false,
        };
        assert_eq!(r.to_string(), "10.0.0.2 advertises higher priority 150");
        let r = Reason::Preempt {
            master: PEER,
            priority: 90,
        };
        assert_eq!(
            r.to_string(),
            "preempting 10.0.0.2, whose priority 90 is lower"
        );
    }

    #[test]
    fn demoted_master_hands_over_to_a_stronger_peer_it_has_heard() {
        let (mut fsm, t) = master(100);
        // The peer was master once, at priority 90.
        fsm.handle_advert(t, PEER, 90, SEC);
        drain(&mut fsm);
        fsm.handle_priority(t, 95, "check chk failed".into());
        assert_eq!(
            drain(&mut fsm),
            vec![Action::SendAdvert { priority: 95 }],
            "still the strongest: advertise the new priority at once"
        );
        fsm.handle_priority(t, 80, "check chk failed".into());
        assert_eq!(
            drain(&mut fsm),
            vec![
                Action::SendAdvert { priority: 0 },
                Action::Transition {
                    from: State::Master,
                    to: State::Backup,
                    reason: Reason::Demoted {
                        priority: 80,
                        peer: Some((PEER, 90)),
                        why: "check chk failed".into()
                    }
                }
            ],
            "resign, but keep the VIPs until the new master advertises"
        );
        assert_eq!(fsm.priority(), 80);
        assert_eq!(fsm.skew_time(), Duration::from_micros(687_500));
        fsm.handle_advert(t + Duration::from_millis(700), PEER, 90, SEC);
        assert_eq!(
            drain(&mut fsm),
            vec![Action::ReleaseVips {
                new_master: Some(PEER)
            }]
        );
        assert_eq!(fsm.state(), State::Backup);
    }

    #[test]
    fn demoted_master_that_heard_nobody_resigns_because_backups_are_silent() {
        let (mut fsm, t) = master(100);
        fsm.handle_priority(t, 80, "check chk failed".into());
        let actions = drain(&mut fsm);
        assert_eq!(actions[0], Action::SendAdvert { priority: 0 });
        assert!(!actions.contains(&Action::RemoveVips), "{actions:?}");
        assert!(fsm.releasing());
        // A keepalived backup at 90 takes over after its Skew_Time: we let go.
        fsm.handle_advert(t + Duration::from_millis(650), PEER, 90, SEC);
        assert_eq!(
            drain(&mut fsm),
            vec![Action::ReleaseVips {
                new_master: Some(PEER)
            }]
        );
    }

    /// The first action is a return to MASTER after a resign nobody stronger answered.
    fn assert_resumed(actions: &[Action]) {
        assert!(
            matches!(
                actions.first(),
                Some(Action::Transition {
                    to: State::Master,
                    reason: Reason::Resumed { .. },
                    ..
                })
            ),
            "{actions:?}"
        );
    }

    #[test]
    fn demoted_master_takes_back_at_once_from_a_weaker_router() {
        let (mut fsm, t) = master(100);
        fsm.handle_priority(t, 95, "check chk failed".into());
        drain(&mut fsm);
        assert_eq!(fsm.state(), State::Backup);
        // The backup at 90 took over after its Skew_Time; it is weaker than our 95.
        let t1 = t + Duration::from_millis(650);
        fsm.handle_advert(t1, PEER, 90, SEC);
        let actions = drain(&mut fsm);
        assert_resumed(&actions);
        assert!(actions.contains(&Action::SendAdvert { priority: 95 }));
        assert!(actions.contains(&Action::Announce));
        assert!(!actions.contains(&Action::RemoveVips));
        // Next time it knows the peer is weaker: no resign at all.
        fsm.handle_priority(t1, 92, "check chk failed".into());
        assert_eq!(drain(&mut fsm), vec![Action::SendAdvert { priority: 92 }]);
    }

    #[test]
    fn demoted_master_resumes_when_the_stronger_peer_is_dead() {
        let (mut fsm, t) = master(100);
        // A priority-120 master was heard long ago, then died; we took over.
        fsm.handle_advert(t, PEER, 120, SEC);
        drain(&mut fsm);
        let t1 = fsm.poll_timeout().unwrap();
        fsm.handle_timeout(t1);
        drain(&mut fsm);
        assert_eq!(fsm.state(), State::Master);
        let t2 = t1 + Duration::from_secs(60);
        fsm.handle_priority(t2, 70, "file lowered it".into());
        let actions = drain(&mut fsm);
        assert!(!actions.contains(&Action::RemoveVips), "{actions:?}");
        let resume = fsm.poll_timeout().unwrap();
        assert_eq!(resume, t2 + fsm.release_bound());
        fsm.handle_timeout(resume);
        let actions = drain(&mut fsm);
        assert_resumed(&actions);
        assert!(!actions.contains(&Action::RemoveVips));
        assert!(!fsm.releasing());
    }

    #[test]
    fn backup_takes_over_after_skew_when_the_master_demotes_itself() {
        let (mut fsm, t0) = started(90);
        fsm.handle_advert(t0, PEER, 100, SEC);
        let t1 = t0 + Duration::from_millis(1500);
        fsm.handle_advert(t1, PEER, 80, SEC);
        assert_eq!(fsm.poll_timeout(), Some(t1 + fsm.skew_time()));
        // Its next advert, still lower, does not push the takeover back.
        fsm.handle_advert(t1 + Duration::from_millis(100), PEER, 80, SEC);
        assert_eq!(fsm.poll_timeout(), Some(t1 + fsm.skew_time()));
        fsm.handle_timeout(t1 + fsm.skew_time());
        let actions = drain(&mut fsm);
        assert_eq!(
            actions[0],
            Action::Transition {
                from: State::Backup,
                to: State::Master,
                reason: Reason::MasterDemoted {
                    master: PEER,
                    priority: 80
                }
            }
        );
    }

    #[test]
    fn a_master_that_recovers_before_skew_keeps_its_role() {
        let (mut fsm, t0) = started(90);
        fsm.handle_advert(t0, PEER, 100, SEC);
        fsm.handle_advert(t0, PEER, 80, SEC);
        fsm.handle_advert(t0 + Duration::from_millis(300), PEER, 100, SEC);
        assert_eq!(
            fsm.poll_timeout(),
            Some(t0 + Duration::from_millis(300) + fsm.master_down_interval())
        );
    }

    #[test]
    fn backup_priority_changes_wait_for_the_rfc_rules() {
        let (mut fsm, t0) = started(90);
        fsm.handle_advert(t0, PEER, 100, SEC);
        fsm.handle_priority(t0, 70, "check failed".into());
        assert!(drain(&mut fsm).is_empty(), "a backup sends nothing");
        assert_eq!(fsm.priority(), 70);
    }

    #[test]
    fn sync_group_members_follow_each_other() {
        let (mut fsm, t0) = started(90);
        fsm.handle_sync(t0, State::Master, "sync group G: VI_2 went MASTER".into());
        let actions = drain(&mut fsm);
        assert_eq!(fsm.state(), State::Master);
        assert!(actions.contains(&Action::AddVips));
        fsm.handle_sync(t0, State::Fault, "sync group G: VI_2 went FAULT".into());
        assert_eq!(fsm.state(), State::Fault);
        assert!(drain(&mut fsm).contains(&Action::SendAdvert { priority: 0 }));
        fsm.handle_sync(t0, State::Backup, "sync group G: VI_2 went BACKUP".into());
        assert_eq!(fsm.state(), State::Backup);
    }

    // VRRPv3 (RFC 9568): timers on Master_Adver_Interval, learned from the master.

    const MS20: Duration = Duration::from_millis(20);
    /// Priority 100's timers: (256 - 100) x 1 s / 256, and 3 x 1 s + that.
    const SKEW_1S: Duration = Duration::from_micros(609_375);
    const DOWN_1S: Duration = Duration::from_micros(3_609_375);
    /// The same on a 20 ms interval: 12.1875 ms and 72.1875 ms.
    const SKEW_20MS: Duration = Duration::from_nanos(12_187_500);
    const DOWN_20MS: Duration = Duration::from_nanos(72_187_500);

    /// The transition of a backup that takes over, for `reason`.
    fn took_over(reason: Reason) -> Action {
        Action::Transition {
            from: State::Backup,
            to: State::Master,
            reason,
        }
    }

    fn cfg3(priority: u8, advert_int: Duration) -> FsmConfig {
        FsmConfig {
            version: Version::V3,
            advert_int,
            ..cfg(priority)
        }
    }

    #[test]
    fn v3_timers_scale_with_the_interval() {
        let fsm = Fsm::new(cfg3(100, SEC));
        assert_eq!(fsm.skew_time(), SKEW_1S);
        assert_eq!(fsm.master_down_interval(), DOWN_1S);
        let fsm = Fsm::new(cfg3(100, Duration::from_millis(50)));
        assert_eq!(fsm.skew_time(), Duration::from_nanos(30_468_750));
        assert_eq!(
            fsm.master_down_interval(),
            Duration::from_nanos(180_468_750)
        );
        // Sub-millisecond steps survive: a priority step at 10 ms is 39.0625 µs.
        let fsm = Fsm::new(cfg3(254, Duration::from_millis(10)));
        assert_eq!(fsm.skew_time(), Duration::from_nanos(78_125));
        let fsm = Fsm::new(cfg3(1, Duration::from_millis(10)));
        assert_eq!(fsm.skew_time(), Duration::from_nanos(9_960_937));
        let fsm = Fsm::new(cfg3(100, Duration::from_millis(40_950)));
        assert_eq!(fsm.master_adver_interval(), Duration::from_millis(40_950));
        assert_eq!(fsm.skew_time(), Duration::from_nanos(24_953_906_250));
    }

    #[test]
    fn v3_backup_learns_the_master_interval_and_fails_over_on_it() {
        let (mut fsm, t0) = started_with(cfg3(100, SEC));
        assert_eq!(fsm.poll_timeout(), Some(t0 + DOWN_1S));
        // A master at 20 ms: 3 x 20 ms + (156 x 20 ms) / 256 = 72.1875 ms, not 3.6 s.
        let mut t = t0;
        for _ in 0..10 {
            t += MS20;
            fsm.handle_advert(t, PEER, 150, MS20);
            fsm.handle_timeout(t);
        }
        assert_eq!(fsm.master_adver_interval(), MS20);
        assert_eq!(fsm.skew_time(), SKEW_20MS);
        let down = t + DOWN_20MS;
        assert_eq!(fsm.poll_timeout(), Some(down));
        fsm.handle_timeout(down - Duration::from_nanos(1));
        assert_eq!(fsm.state(), State::Backup);
        fsm.handle_timeout(down);
        let actions = drain(&mut fsm);
        let silent = DOWN_20MS;
        let reason = Reason::MasterDown {
            master: Some(PEER),
            silent,
        };
        assert_eq!(actions[0], took_over(reason));
        // A master advertises at its own interval, whatever it learned as a backup.
        assert_eq!(fsm.master_adver_interval(), SEC);
        assert_eq!(fsm.poll_timeout(), Some(down + SEC));
    }

    #[test]
    fn v3_backup_follows_a_slower_master_too() {
        let (mut fsm, t0) = started_with(cfg3(100, MS20));
        fsm.handle_advert(t0, PEER, 150, SEC);
        assert_eq!(fsm.poll_timeout(), Some(t0 + DOWN_1S));
        // The master speeds up: the next advert re-arms on the new interval.
        let t1 = t0 + SEC;
        fsm.handle_advert(t1, PEER, 150, Duration::from_millis(50));
        assert_eq!(
            fsm.poll_timeout(),
            Some(t1 + Duration::from_nanos(180_468_750))
        );
    }

    #[test]
    fn v3_priority_zero_waits_skew_on_the_learned_interval() {
        let (mut fsm, t0) = started_with(cfg3(100, SEC));
        fsm.handle_advert(t0, PEER, 150, MS20);
        let t1 = t0 + MS20;
        // A resign carries no interval to learn: whatever it says, skew is on 20 ms.
        fsm.handle_advert(t1, PEER, 0, Duration::from_secs(3));
        assert_eq!(fsm.master_adver_interval(), MS20);
        let at = t1 + SKEW_20MS;
        assert_eq!(fsm.poll_timeout(), Some(at));
        fsm.handle_timeout(at);
        let reason = Reason::MasterResigned { master: PEER };
        assert_eq!(drain(&mut fsm)[0], took_over(reason));
    }

    #[test]
    fn v3_priority_zero_before_any_master_uses_our_own_interval() {
        let (mut fsm, t0) = started_with(cfg3(100, Duration::from_millis(50)));
        fsm.handle_advert(t0, PEER, 0, MS20);
        assert_eq!(
            fsm.poll_timeout(),
            Some(t0 + Duration::from_nanos(30_468_750))
        );
    }

    #[test]
    fn v3_master_answers_priority_zero_at_its_own_interval() {
        let (mut fsm, t) = master_with(cfg3(100, Duration::from_millis(50)));
        let t1 = t + MS20;
        fsm.handle_advert(t1, PEER, 0, SEC);
        assert_eq!(drain(&mut fsm), vec![Action::SendAdvert { priority: 100 }]);
        assert_eq!(fsm.poll_timeout(), Some(t1 + Duration::from_millis(50)));
        assert_eq!(fsm.master_adver_interval(), Duration::from_millis(50));
    }

    #[test]
    fn v3_superseded_master_learns_the_new_masters_interval() {
        let (mut fsm, t) = master_with(cfg3(100, SEC));
        fsm.handle_advert(t, PEER, 200, MS20);
        assert_eq!(fsm.state(), State::Backup);
        assert_eq!(fsm.master_adver_interval(), MS20);
        assert_eq!(fsm.poll_timeout(), Some(t + DOWN_20MS));
    }

    #[test]
    fn v3_lower_advert_is_discarded_with_its_interval() {
        let (mut fsm, t0) = started_with(cfg3(100, SEC));
        let deadline = fsm.poll_timeout().unwrap();
        fsm.handle_advert(t0 + MS20, PEER, 90, MS20);
        assert_eq!(fsm.poll_timeout(), Some(deadline), "timer not reset");
        assert_eq!(fsm.master_adver_interval(), SEC, "interval not learned");
        assert_eq!(fsm.skew_time(), SKEW_1S);
        // A resign now waits the skew of our own interval, not of the discarded one.
        let t1 = t0 + SEC;
        fsm.handle_advert(t1, PEER, 0, MS20);
        assert_eq!(fsm.poll_timeout(), Some(t1 + SKEW_1S));
    }

    #[test]
    fn v3_nopreempt_and_preempt_delay_follow_a_lower_master_at_its_interval() {
        let (mut fsm, t0) = started_with(FsmConfig {
            preempt: false,
            ..cfg3(100, SEC)
        });
        fsm.handle_advert(t0, PEER, 90, MS20);
        assert_eq!(fsm.master_adver_interval(), MS20);
        assert_eq!(fsm.poll_timeout(), Some(t0 + DOWN_20MS));

        let delay = Duration::from_millis(500);
        let (mut fsm, t0) = started_with(FsmConfig {
            preempt_delay: delay,
            ..cfg3(100, SEC)
        });
        let mut t = t0;
        while fsm.state() == State::Backup {
            t += MS20;
            fsm.handle_advert(t, PEER, 90, MS20);
            fsm.handle_timeout(t);
            assert!(t < t0 + SEC, "preempted only after 3 s: {:?}", t - t0);
        }
        assert_eq!(fsm.master_adver_interval(), SEC, "master again: our own");
        // Tolerated for 500 ms, then one Master_Down_Interval on the learned 20 ms.
        let took = t - t0;
        assert!(took.abs_diff(delay + DOWN_20MS) <= MS20, "{took:?}");
    }

    #[test]
    fn v3_backup_takes_over_after_learned_skew_when_the_master_demotes_itself() {
        let (mut fsm, t0) = started_with(cfg3(90, SEC));
        fsm.handle_advert(t0, PEER, 100, MS20);
        let t1 = t0 + MS20;
        fsm.handle_advert(t1, PEER, 80, MS20);
        // (256 - 90) x 20 ms / 256 = 12.96875 ms.
        assert_eq!(
            fsm.poll_timeout(),
            Some(t1 + Duration::from_nanos(12_968_750))
        );
    }

    #[test]
    fn v3_equal_priorities_go_to_the_higher_ipv6_address() {
        let ours: IpAddr = "fe80::ff".parse().unwrap();
        let (mut fsm, t) = master_with(FsmConfig {
            local_addr: ours,
            ..cfg3(100, MS20)
        });
        fsm.handle_advert(t, "fe80::fe".parse().unwrap(), 100, MS20);
        assert_eq!(fsm.state(), State::Master, "lower address loses");
        // Unsigned, in network byte order: 0x8000 in a high group beats 0xff in the last.
        let higher: IpAddr = "fe80::8000:0:0".parse().unwrap();
        fsm.handle_advert(t, higher, 100, Duration::from_millis(50));
        assert_eq!(fsm.state(), State::Backup, "higher address wins");
        assert_eq!(fsm.master(), Some((higher, 100)));
        assert_eq!(fsm.master_adver_interval(), Duration::from_millis(50));
    }

    #[test]
    fn v3_a_zero_interval_is_clamped_so_no_timer_spins() {
        let (mut fsm, t0) = started_with(cfg3(100, SEC));
        fsm.handle_advert(t0, PEER, 150, Duration::ZERO);
        assert_eq!(fsm.master_adver_interval(), Duration::from_millis(10));
        assert_eq!(
            fsm.poll_timeout(),
            Some(t0 + Duration::from_nanos(36_093_750))
        );
        // Our own interval too: a master at 0 would re-arm Adver_Timer at `now` forever.
        let (mut fsm, t) = master_with(cfg3(100, Duration::ZERO));
        assert_eq!(fsm.poll_timeout(), Some(t + Duration::from_millis(10)));
        fsm.handle_timeout(t + Duration::from_millis(10));
        assert_eq!(fsm.poll_timeout(), Some(t + Duration::from_millis(20)));
    }

    #[test]
    fn v3_fault_recovery_and_handover_use_our_own_interval_again() {
        let (mut fsm, t0) = started_with(cfg3(100, SEC));
        fsm.handle_advert(t0, PEER, 150, MS20);
        fsm.handle_fault(t0, "interface eth0 is down".into());
        let t1 = t0 + SEC;
        fsm.handle_recovered(t1, "interface eth0 is up again".into());
        assert_eq!(fsm.master_adver_interval(), SEC);
        assert_eq!(fsm.poll_timeout(), Some(t1 + DOWN_1S));

        // A handover keeps the VIPs 3 x our interval at most, the one the backups learned.
        let (mut fsm, t) = master_with(cfg3(100, MS20));
        assert!(fsm.handle_handover(t));
        assert_eq!(fsm.release_bound(), Duration::from_millis(60));
        assert_eq!(fsm.poll_timeout(), Some(t + Duration::from_millis(60)));
    }

    #[test]
    fn v3_maintenance_and_sync_run_on_the_right_interval() {
        // In maintenance a lower master is followed, so its interval is learned:
        // 3 x 20 ms + (56 x 20 ms) / 256 = 64.375 ms.
        let down = Duration::from_nanos(64_375_000);
        let (mut fsm, t0) = started_with(cfg3(200, SEC));
        fsm.handle_maintenance(t0, true);
        fsm.handle_advert(t0, PEER, 90, MS20);
        assert_eq!(fsm.master_adver_interval(), MS20);
        assert_eq!(fsm.poll_timeout(), Some(t0 + down));
        // Silence: it keeps listening, on the learned interval.
        let t1 = t0 + down;
        fsm.handle_timeout(t1);
        assert_eq!(fsm.state(), State::Backup);
        assert_eq!(fsm.poll_timeout(), Some(t1 + down));
        // Its sync group takes it to master: it advertises at its own interval.
        fsm.handle_maintenance(t1, false);
        fsm.handle_sync(t1, State::Master, "sync group G: VI_2 went MASTER".into());
        assert_eq!(fsm.state(), State::Master);
        assert_eq!(fsm.master_adver_interval(), SEC);
        assert_eq!(fsm.poll_timeout(), Some(t1 + SEC));
    }

    #[test]
    fn v2_ignores_the_advert_interval() {
        let (mut fsm, t0) = started(100);
        fsm.handle_advert(t0, PEER, 150, MS20);
        assert_eq!(fsm.master_adver_interval(), SEC);
        assert_eq!(fsm.poll_timeout(), Some(t0 + DOWN_1S));
        fsm.handle_advert(t0, PEER, 0, MS20);
        assert_eq!(fsm.poll_timeout(), Some(t0 + SKEW_1S));
        let (mut fsm, t) = master(100);
        fsm.handle_advert(t, PEER, 200, MS20);
        assert_eq!(fsm.poll_timeout(), Some(t + DOWN_1S));
        // VRRPv2's Skew_Time is not scaled by the interval: (256 - 100) / 256 s at 3 s too.
        let fsm = Fsm::new(FsmConfig {
            advert_int: Duration::from_secs(3),
            ..cfg(100)
        });
        assert_eq!(fsm.skew_time(), SKEW_1S);
        assert_eq!(fsm.master_down_interval(), Duration::from_micros(9_609_375));
    }

    /// A router restarted holding its previous run's VIPs, listening `listen`.
    fn restarted(priority: u8, listen: Duration) -> (Fsm, Instant, Vec<Action>) {
        restarted_with(cfg(priority), listen)
    }

    fn restarted_with(cfg: FsmConfig, listen: Duration) -> (Fsm, Instant, Vec<Action>) {
        let t0 = Instant::now();
        let mut fsm = Fsm::new(cfg);
        fsm.handle_startup_restarted(t0, listen);
        let actions = drain(&mut fsm);
        (fsm, t0, actions)
    }

    fn holds_vip_actions(actions: &[Action]) -> (bool, bool) {
        (
            actions.contains(&Action::AddVips),
            actions.contains(&Action::RemoveVips)
                || actions
                    .iter()
                    .any(|a| matches!(a, Action::ReleaseVips { .. })),
        )
    }

    #[test]
    fn a_restart_keeps_the_vips_and_resumes_when_nobody_stronger_advertises() {
        let listen = Duration::from_millis(1250);
        let (mut fsm, t0, actions) = restarted(100, listen);
        assert_eq!(fsm.state(), State::Backup);
        assert_eq!(holds_vip_actions(&actions), (false, false), "{actions:?}");
        assert_eq!(
            fsm.poll_timeout(),
            Some(t0 + listen),
            "listen, not Master_Down_Interval"
        );
        fsm.handle_timeout(t0 + listen);
        let actions = drain(&mut fsm);
        assert_eq!(fsm.state(), State::Master);
        assert!(matches!(
            &actions[0],
            Action::Transition {
                to: State::Master,
                reason: Reason::Restarted { .. },
                ..
            }
        ));
        assert!(actions.contains(&Action::SendAdvert { priority: 100 }));
        assert!(!actions.contains(&Action::RemoveVips));
    }

    #[test]
    fn a_restart_releases_the_vips_to_a_stronger_master() {
        let (mut fsm, t0, _) = restarted(100, Duration::from_secs(1));
        let t = t0 + Duration::from_millis(300);
        fsm.handle_advert(t, PEER, 150, SEC);
        let actions = drain(&mut fsm);
        assert_eq!(actions, vec![Action::RemoveVips]);
        assert_eq!(fsm.state(), State::Backup);
        assert_eq!(fsm.poll_timeout(), Some(t + fsm.master_down_interval()));
        fsm.handle_timeout(t0 + Duration::from_secs(1));
        assert!(drain(&mut fsm).is_empty(), "the listen window is over");
    }

    #[test]
    fn a_restart_preempts_a_weaker_master_at_once_unless_nopreempt() {
        let (mut fsm, t0, _) = restarted(100, Duration::from_secs(1));
        fsm.handle_advert(t0 + Duration::from_millis(200), PEER, 90, SEC);
        assert_eq!(fsm.state(), State::Master);
        assert!(!drain(&mut fsm).contains(&Action::RemoveVips));

        let (mut fsm, t0, _) = restarted_with(
            FsmConfig {
                preempt: false,
                ..cfg(100)
            },
            Duration::from_secs(1),
        );
        fsm.handle_advert(t0 + Duration::from_millis(200), PEER, 90, SEC);
        assert_eq!(drain(&mut fsm), vec![Action::RemoveVips]);
        assert_eq!(fsm.state(), State::Backup);
    }

    #[test]
    fn a_restart_with_no_listen_window_is_master_at_once() {
        let (fsm, _, actions) = restarted(100, Duration::ZERO);
        assert_eq!(fsm.state(), State::Master);
        assert!(actions.contains(&Action::SendAdvert { priority: 100 }));
    }

    #[test]
    fn a_restart_in_maintenance_or_shutdown_releases_the_vips() {
        let t0 = Instant::now();
        let mut fsm = Fsm::new(cfg(100));
        fsm.handle_maintenance(t0, true);
        fsm.handle_startup_restarted(t0, Duration::from_secs(1));
        assert!(drain(&mut fsm).contains(&Action::RemoveVips));
        fsm.handle_timeout(t0 + Duration::from_secs(5));
        assert_eq!(fsm.state(), State::Backup);

        let (mut fsm, t0, _) = restarted(100, Duration::from_secs(1));
        fsm.handle_maintenance(t0, true);
        assert_eq!(drain(&mut fsm), vec![Action::RemoveVips]);
        fsm.handle_timeout(t0 + Duration::from_secs(1));
        assert_eq!(fsm.state(), State::Backup, "maintenance never resumes");

        let (mut fsm, t0, _) = restarted(100, Duration::from_secs(1));
        fsm.handle_shutdown(t0);
        assert!(drain(&mut fsm).contains(&Action::RemoveVips));
    }
}
