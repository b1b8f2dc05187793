//! Descriptors. The forwarder shares one open-file limit with the rest of vipd (VRRP
//! sockets, netlink, the control socket, health checks, scripts), so its client connections
//! are capped ([`Budget`]) to keep a reserve for the rest: clients beyond the cap are not
//! accepted but wait in the kernel's listen backlog until connections close.
//!
//! [`Gate`] counts the connections of every forwarding thread against the cap and wakes
//! the threads that stopped at it when room comes back. It also logs the episodes in which
//! a thread stops accepting, once when one starts and once when it ends (with how many
//! clients had waited meanwhile), at most one start per minute: whether for the cap or
//! because accept(2) itself fails (descriptors used up elsewhere, memory).
//!
//! A virtual server's `maxconn` is a gate of the same kind ([`Gate::pool`]), whose cap a
//! reload may change: at it, that virtual server's listeners stop accepting (others go
//! on), and its clients wait in its backlog. A connection holds a place under both, so
//! the smaller cap wins.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::Waker;
use tracing::{info, warn};

use super::pump::POOL_MAX;
use crate::ratelimit::{LogLimit, held_back};

/// Descriptors one proxied connection can hold: its two sockets and, while it moves bulk,
/// two pipes.
const FDS_PER_CONNECTION: u64 = 6;
/// Descriptors kept for the rest of vipd, or a quarter of the limit when that is less.
const RESERVE: u64 = 256;
/// Below this many connections allowed, the forwarder says so at startup.
const FEW_CONNECTIONS: usize = 10_000;
/// Episodes of one kind logged at most once per this.
const LOG_WINDOW: Duration = Duration::from_secs(60);

/// How many client connections the forwarder may hold, from the open-file limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Budget {
    /// The soft RLIMIT_NOFILE.
    pub(super) limit: u64,
    /// Descriptors the forwarder leaves to the rest of vipd.
    pub(super) reserve: u64,
    /// Client connections open at once.
    pub(super) cap: usize,
}

impl Budget {
    /// The budget within `limit` descriptors: the reserve, the pipes the pump keeps pooled,
    /// and [`FDS_PER_CONNECTION`] for each connection (at least one connection).
    pub(super) fn within(limit: u64) -> Budget {
        let reserve = RESERVE.min(limit / 4);
        let pooled = 2 * POOL_MAX as u64;
        let cap = limit.saturating_sub(reserve + pooled) / FDS_PER_CONNECTION;
        Budget {
            limit,
            reserve,
            cap: usize::try_from(cap).unwrap_or(usize::MAX).max(1),
        }
    }

    /// The budget within the process's soft open-file limit now.
    pub(super) fn now() -> Budget {
        use nix::sys::resource::{Resource, getrlimit};
        Budget::within(getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft))
    }

    /// Says what the cap is, and warns when it is low.
    pub(super) fn log(&self) {
        let Budget {
            limit,
            reserve,
            cap,
        } = *self;
        if cap < FEW_CONNECTIONS {
            let want = FEW_CONNECTIONS as u64 * FDS_PER_CONNECTION + 2 * RESERVE;
            warn!(
                "open-file limit is {limit}: the forwarder holds at most {cap} client \
                 connections at once (each may need {FDS_PER_CONNECTION} descriptors, {reserve} \
                 are kept for VRRP, checks and scripts); raise it to {want} or more (systemd \
                 LimitNOFILE=, ulimit -n)"
            );
        } else {
            info!(
                "the forwarder holds at most {cap} client connections at once (open-file limit \
                 {limit}, {reserve} descriptors kept for VRRP, checks and scripts)"
            );
        }
    }
}

/// Why a forwarding thread stopped accepting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pause {
    /// The forwarder holds [`Budget::cap`] connections.
    AtCap = 0,
    /// accept(2) failed for want of descriptors or memory.
    AcceptFails = 1,
}

/// One kind of episode, across threads.
#[derive(Debug, Default)]
struct Episode {
    /// Threads in it; it ends when the last leaves.
    threads: usize,
    since: Option<Instant>,
    /// Clients accepted by threads in it, after they had waited.
    waited: u64,
    /// Its start was logged, so its end is too.
    logged: bool,
}

/// Whose cap a gate holds.
#[derive(Debug)]
enum Scope {
    /// The whole forwarder's, from the descriptors.
    Forwarder(Budget),
    /// One virtual server's `maxconn` (named by its address).
    Pool(String),
}

/// The count of client connections against the cap, shared by the forwarding threads.
pub(super) struct Gate {
    scope: Scope,
    cap: AtomicUsize,
    open: AtomicUsize,
    /// Clients that waited at the cap and were then accepted, since start.
    waited_total: AtomicU64,
    /// A thread stopped at the cap: whoever gives a place back wakes every thread.
    waiting: AtomicBool,
    /// The threads to wake; forwarding threads started after the gate add theirs.
    wakers: Mutex<Vec<Arc<Waker>>>,
    episodes: Mutex<[Episode; 2]>,
    logs: [LogLimit; 2],
}

/// One client connection's place under the cap, given back when dropped.
pub(super) struct Slot(Arc<Gate>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
        if self.0.waiting.load(Ordering::SeqCst) && self.0.waiting.swap(false, Ordering::SeqCst) {
            self.0.wake_all();
        }
    }
}

impl Gate {
    /// A gate for `budget`, waking the threads of `wakers` when room comes back.
    pub(super) fn new(budget: Budget, wakers: Vec<Arc<Waker>>) -> Gate {
        Gate::with(Scope::Forwarder(budget), budget.cap, wakers)
    }

    /// A gate for the `maxconn` of the virtual server at `addr` (`None`: no cap).
    pub(super) fn pool(addr: String, maxconn: Option<u32>, wakers: Vec<Arc<Waker>>) -> Gate {
        Gate::with(Scope::Pool(addr), cap_of(maxconn), wakers)
    }

    /// A reload changed the virtual server's `maxconn`.
    pub(super) fn set_cap(&self, maxconn: Option<u32>) {
        self.cap.store(cap_of(maxconn), Ordering::SeqCst);
        // Room may have come with it.
        if self.waiting.swap(false, Ordering::SeqCst) {
            self.wake_all();
        }
    }

    /// Client connections holding a place now.
    pub(super) fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Clients that waited at the cap before they were accepted, since start.
    pub(super) fn waited_total(&self) -> u64 {
        self.waited_total.load(Ordering::Relaxed)
    }

    /// A client that had waited at the cap was accepted.
    pub(super) fn waited_one(&self) {
        self.waited_total.fetch_add(1, Ordering::Relaxed);
    }

    fn wake_all(&self) {
        for w in self.wakers.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = w.wake();
        }
    }

    /// Threads started after the gate, to be woken too when room comes back.
    pub(super) fn add_wakers(&self, wakers: impl IntoIterator<Item = Arc<Waker>>) {
        let mut all = self.wakers.lock().unwrap_or_else(|p| p.into_inner());
        all.extend(wakers);
    }

    fn with(scope: Scope, cap: usize, wakers: Vec<Arc<Waker>>) -> Gate {
        Gate {
            scope,
            cap: AtomicUsize::new(cap),
            open: AtomicUsize::new(0),
            waited_total: AtomicU64::new(0),
            waiting: AtomicBool::new(false),
            wakers: Mutex::new(wakers),
            episodes: Mutex::default(),
            logs: [LogLimit::new(LOG_WINDOW), LogLimit::new(LOG_WINDOW)],
        }
    }

    /// A place for one more client, unless the forwarder is at the cap.
    pub(super) fn take(self: &Arc<Self>) -> Option<Slot> {
        let cap = self.cap.load(Ordering::SeqCst);
        self.open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < cap).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(self.clone()))
    }

    /// Asks to be woken when a place is given back; `true` when one came back already (the
    /// caller takes it instead of waiting). Set before looking, so no place given back in
    /// between goes unnoticed.
    pub(super) fn wait_for_room(&self) -> bool {
        self.waiting.store(true, Ordering::SeqCst);
        self.has_room()
    }

    fn has_room(&self) -> bool {
        self.open.load(Ordering::SeqCst) < self.cap.load(Ordering::SeqCst)
    }

    /// A thread stopped accepting for `why` (`error`: accept's); the first logs it.
    pub(super) fn join(&self, why: Pause, error: Option<&std::io::Error>, now: Instant) {
        let mut episodes = self.episodes.lock().unwrap_or_else(|p| p.into_inner());
        let e = &mut episodes[why as usize];
        e.threads += 1;
        if e.threads > 1 {
            return;
        }
        e.since = Some(now);
        e.waited = 0;
        let Some(n) = self.logs[why as usize].allow(now) else {
            e.logged = false;
            return;
        };
        e.logged = true;
        let open = self.open.load(Ordering::SeqCst);
        let (limit, reserve, cap) = match &self.scope {
            Scope::Forwarder(b) => (b.limit, b.reserve, b.cap),
            Scope::Pool(addr) => {
                warn!(
                    "virtual_server {addr}: {open} client connections open, its maxconn; new \
                     clients wait in its listen backlog until some close{}",
                    held_back(n)
                );
                return;
            }
        };
        match why {
            Pause::AtCap => warn!(
                "forwarder: {open} client connections open, the most the open-file limit \
                 ({limit}) allows with {reserve} descriptors kept for VRRP, checks and scripts; \
                 new clients wait in the listen backlog until some close{}",
                held_back(n)
            ),
            Pause::AcceptFails => warn!(
                "forwarder: accept failed: {}; not accepting for 0.1 to 1 s at a time until it \
                 works again (clients wait in the listen backlog; {open} of at most {cap} \
                 client connections open){}",
                error.map_or_else(|| "?".into(), ToString::to_string),
                held_back(n)
            ),
        }
    }

    /// A thread that had stopped for `why` accepts again, and had `waited` clients waiting;
    /// the last one logs the end.
    pub(super) fn leave(&self, why: Pause, waited: u64, now: Instant) {
        let mut episodes = self.episodes.lock().unwrap_or_else(|p| p.into_inner());
        let e = &mut episodes[why as usize];
        e.threads = e.threads.saturating_sub(1);
        e.waited += waited;
        if e.threads > 0 || !e.logged {
            return;
        }
        let lasted = e.since.map_or(Duration::ZERO, |t| now.duration_since(t));
        let who = match &self.scope {
            Scope::Forwarder(_) => "forwarder".to_string(),
            Scope::Pool(addr) => format!("virtual_server {addr}"),
        };
        let what = match (why, &self.scope) {
            (Pause::AtCap, Scope::Forwarder(_)) => "below the connection cap",
            (Pause::AtCap, Scope::Pool(_)) => "below its maxconn",
            (Pause::AcceptFails, _) => "accept works",
        };
        info!(
            "{who}: {what} again after {:.1} s; {} client(s) had waited in the listen \
             backlog",
            lasted.as_secs_f64(),
            e.waited
        );
    }
}

/// A gate's cap for `maxconn` (none: no cap).
fn cap_of(maxconn: Option<u32>) -> usize {
    maxconn.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn the_budget_keeps_a_reserve_and_room_for_pooled_pipes() {
        // A typical hard limit: 256 kept, the rest in connections of 6 descriptors.
        let b = Budget::within(524_288);
        assert_eq!(b.reserve, 256);
        assert_eq!(b.cap, (524_288 - 256 - 128) / 6);
        // A small limit keeps a quarter.
        let b = Budget::within(512);
        assert_eq!((b.reserve, b.cap), (128, (512 - 128 - 128) / 6));
        // Too small for any: one connection all the same.
        assert_eq!(Budget::within(64).cap, 1);
    }

    #[test]
    fn places_are_counted_and_a_waiter_is_woken_when_one_comes_back() {
        let mut poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let budget = Budget {
            cap: 2,
            ..Budget::within(1024)
        };
        let gate = Arc::new(Gate::new(budget, vec![waker]));
        let (a, _b) = (gate.take().unwrap(), gate.take().unwrap());
        assert!(gate.take().is_none(), "at the cap");
        assert!(!gate.wait_for_room());
        drop(a);
        assert!(!gate.waiting.load(Ordering::SeqCst), "the waiter was woken");
        let mut events = mio::Events::with_capacity(4);
        poll.poll(&mut events, Some(Duration::ZERO)).unwrap();
        assert_eq!(events.iter().count(), 1);
        assert!(gate.take().is_some());
    }

    #[test]
    fn a_pools_cap_follows_reloads_and_counts_who_waited() {
        let gate = Arc::new(Gate::pool("10.0.0.1:80".into(), Some(1), Vec::new()));
        let a = gate.take().unwrap();
        assert!(gate.take().is_none(), "at maxconn 1");
        let now = Instant::now();
        gate.join(Pause::AtCap, None, now);
        gate.set_cap(Some(2));
        let b = gate.take().expect("room after the reload");
        gate.waited_one();
        gate.leave(Pause::AtCap, 1, now);
        assert_eq!((gate.open(), gate.waited_total()), (2, 1));
        gate.set_cap(None);
        assert!(gate.take().is_some(), "no cap");
        drop((a, b));
    }
}
