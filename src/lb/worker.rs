//! The forwarding threads. Each runs its own event loop over one epoll instance (mio), with
//! its own listening socket per virtual server (SO_REUSEPORT: the kernel spreads new
//! connections over them), so connections never move between threads and the daemon's
//! runtime, where VRRP runs, never waits behind a busy forwarder.
//!
//! A loop of its own rather than an async runtime: a connection is a state machine
//! ([`proxy::Conn`]) that needs no task, no waker and no timer, and a closed socket leaves
//! epoll with its close, where tokio removes each one first (two system calls per
//! connection). Per thread, one clock ticks for the idle timeouts of all its connections,
//! and a heap holds the deadlines connections ask for: handshakes still under way, and
//! handshake ACKs held back for the client's first bytes.
//!
//! The daemon tells the workers what to serve through a channel each, and wakes the loop:
//! a listener to start accepting on, a listener to retire (its open connections finish).
//! Dropping the channel stops the thread, and with it every connection still open there.
//!
//! A thread stops accepting, its listeners out of epoll so that new clients cannot wake it,
//! while the forwarder holds as many connections as its descriptors allow ([`Gate`]
//! wakes it when one closes anywhere), or while accept(2) fails for want of descriptors or
//! memory (it tries again after 100 ms, then after twice as long each time, up to 1 s).
//! Clients wait in the listen backlog meanwhile. A virtual server at its `maxconn` has
//! its own gate: only its listener leaves epoll, until one of its connections closes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use tracing::{debug, warn};

use super::LbOptions;
use super::busy::{BusyPoll, Work};
use super::fds::{Gate, Pause, Slot};
use super::pool::PoolCell;
use super::proxy::{self, BACKEND, CLIENT, Conn, Ctx, Step};
use super::pump::SMALL;

/// The token of the command channel's waker; listeners count down from below it,
/// connections up from 0 (see [`proxy::token`]).
const WAKER: Token = Token(usize::MAX);
/// How long a thread stops accepting after accept failed (descriptors or memory ran out),
/// the first time, and at most, while it goes on failing.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
const EVENTS: usize = 1024;

fn listener_token(key: usize) -> Token {
    Token(usize::MAX - 1 - key)
}

enum Command {
    /// Accept on `listener` (one of the virtual server's, bound already) for `pool`.
    Serve {
        id: u64,
        listener: std::net::TcpListener,
        pool: Arc<PoolCell>,
    },
    /// Stop accepting for `id`; its connections finish.
    Retire { id: u64 },
}

struct Worker {
    commands: Sender<Command>,
    waker: Arc<Waker>,
    thread: JoinHandle<()>,
}

/// The running forwarding threads.
pub(super) struct Workers(Vec<Worker>);

impl Workers {
    /// Starts `options.threads` threads (at least one), each idle until told to serve, each
    /// with a clock that ticks every `options.tick`, and busy polling as `options` say,
    /// holding together (with the UDP flows) at most the client connections `gate` allows.
    pub(super) fn spawn(options: &LbOptions, gate: Arc<Gate>) -> io::Result<Workers> {
        let mut polls = Vec::new();
        for _ in 0..options.threads.max(1) {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            polls.push((poll, waker));
        }
        gate.add_wakers(polls.iter().map(|(_, w)| w.clone()));
        let mut workers = Vec::new();
        for (i, (poll, waker)) in polls.into_iter().enumerate() {
            let (tx, rx) = channel();
            let (tick, busy_poll) = (options.tick, options.busy_poll);
            let gate = gate.clone();
            let thread = std::thread::Builder::new()
                .name(format!("vipd-lb-{i}"))
                .spawn(move || Thread::new(poll, rx, gate, tick, busy_poll).run())?;
            workers.push(Worker {
                commands: tx,
                waker,
                thread,
            });
        }
        Ok(Workers(workers))
    }

    /// Every thread's waker, for a gate to wake them when room comes back.
    pub(super) fn wakers(&self) -> Vec<Arc<Waker>> {
        self.0.iter().map(|w| w.waker.clone()).collect()
    }

    fn send(w: &Worker, command: Command) {
        if w.commands.send(command).is_ok() {
            let _ = w.waker.wake();
        }
    }

    /// Hands one listener to each thread (as many listeners as threads).
    pub(super) fn serve(
        &self,
        id: u64,
        listeners: Vec<std::net::TcpListener>,
        pool: &Arc<PoolCell>,
    ) {
        for (w, listener) in self.0.iter().zip(listeners) {
            let pool = pool.clone();
            Self::send(w, Command::Serve { id, listener, pool });
        }
    }

    /// Closes the listeners of `id` on every thread.
    pub(super) fn retire(&self, id: u64) {
        for w in &self.0 {
            Self::send(w, Command::Retire { id });
        }
    }

    /// Ends every thread, closing every connection, and waits for them.
    pub(super) fn stop(self) {
        let mut running = Vec::new();
        for w in self.0 {
            drop(w.commands);
            let _ = w.waker.wake();
            // The waker lives until the thread has seen it: closing its eventfd would take
            // the wakeup out of epoll before the thread reads it.
            running.push((w.thread, w.waker));
        }
        for (thread, _waker) in running {
            let _ = thread.join();
        }
    }
}

/// One virtual server's listener on this thread; in epoll unless the thread or the
/// listener is paused.
struct Listening {
    id: u64,
    listener: TcpListener,
    cell: Arc<PoolCell>,
    /// Out of epoll: its virtual server is at its `maxconn`.
    paused: bool,
    /// In an episode of its gate (paused, or resumed and not yet through its backlog),
    /// with how many clients it accepted meanwhile: they had waited.
    episode: bool,
    waited: u64,
}

/// A connection, and whether it closed during the batch of events being handled.
struct Entry {
    conn: Conn,
    closed: bool,
    /// Its place under the cap, given back once its sockets are closed.
    _slot: Slot,
    /// Its place under its virtual server's `maxconn`.
    _pool_slot: Slot,
}

/// Until when a thread does not accept.
#[derive(Debug, Clone, Copy)]
enum Paused {
    /// Until there is room under the cap again (the gate wakes the thread).
    AtCap,
    /// Until then, when accept failed.
    Until(Instant),
}

/// One forwarding thread's state.
struct Thread {
    poll: Poll,
    commands: Receiver<Command>,
    listeners: Slab<Listening>,
    conns: Slab<Entry>,
    /// Connections closed while handling one batch of events, removed after it, so a
    /// later event of the batch cannot reach a newcomer in the same slot.
    closed: Vec<usize>,
    /// Connections' deadlines: (when, connection). Stale entries are skipped when they come.
    deadlines: BinaryHeap<Reverse<(Instant, usize)>>,
    tick: Duration,
    next_tick: Instant,
    busy: BusyPoll,
    scratch: Box<[u8]>,
    /// A connection handled since the thread last woke is in a bulk transfer.
    bulk: bool,
    /// Counts client connections against the forwarder's cap.
    gate: Arc<Gate>,
    /// Not accepting (the listeners are out of epoll): why, and until when.
    paused: Option<Paused>,
    /// The episodes of [`Pause`] this thread is in (by `Pause as usize`): it has stopped
    /// accepting for that reason and not yet found its listeners empty since.
    episodes: [bool; 2],
    /// Clients accepted during those episodes: they had waited.
    waited: u64,
    /// The next pause's length while accept goes on failing.
    backoff: Duration,
    /// Listeners paused at their virtual server's `maxconn`.
    paused_listeners: usize,
}

impl Thread {
    fn new(
        poll: Poll,
        commands: Receiver<Command>,
        gate: Arc<Gate>,
        tick: Duration,
        busy: Duration,
    ) -> Thread {
        Thread {
            poll,
            commands,
            listeners: Slab::new(),
            conns: Slab::new(),
            closed: Vec::new(),
            deadlines: BinaryHeap::new(),
            tick,
            next_tick: Instant::now() + tick,
            busy: BusyPoll::new(busy),
            scratch: vec![0; SMALL].into_boxed_slice(),
            bulk: false,
            gate,
            paused: None,
            episodes: [false; 2],
            waited: 0,
            backoff: BACKOFF_FIRST,
            paused_listeners: 0,
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS);
        let mut now = Instant::now();
        loop {
            let timeout = if self.busy.poll_now(now) {
                Duration::ZERO
            } else {
                self.next_timer().saturating_duration_since(now)
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
                && e.kind() != io::ErrorKind::Interrupted
            {
                warn!("forwarder thread: epoll_wait failed: {e}; stopping");
                return;
            }
            now = Instant::now();
            let mut worked = false;
            self.bulk = false;
            for event in events.iter() {
                match event.token() {
                    WAKER => {
                        if !self.commands_now() {
                            return;
                        }
                    }
                    Token(t) if t > usize::MAX / 2 => {
                        worked = true;
                        self.accept_all(usize::MAX - 1 - t, now);
                    }
                    Token(t) => {
                        worked = true;
                        let (key, side) = (t / 2, t % 2);
                        self.step(key, now, |conn, ctx| conn.on_event(side, event, ctx));
                    }
                }
            }
            let work = match (worked, self.bulk) {
                (false, _) => Work::Nothing,
                (true, false) => Work::Light,
                (true, true) => Work::Bulk,
            };
            self.busy.woke(now, work);
            self.timers(now);
            for key in self.closed.drain(..) {
                // Its sockets close here, which takes them out of epoll too.
                self.conns.try_remove(key);
            }
        }
    }

    /// The soonest of the clock's tick, a connection's deadline and the end of a pause.
    fn next_timer(&self) -> Instant {
        let deadline = self.deadlines.peek().map(|Reverse((t, _))| *t);
        let paused = match self.paused {
            Some(Paused::Until(t)) => Some(t),
            _ => None,
        };
        [self.next_tick]
            .into_iter()
            .chain(deadline)
            .chain(paused)
            .min()
            .unwrap_or(self.next_tick)
    }

    /// Runs `f` on connection `key` (if it still lives), arms the deadlines it asks for and
    /// notes it closed if it says so.
    fn step(&mut self, key: usize, now: Instant, f: impl FnOnce(&mut Conn, &mut Ctx) -> Step) {
        let open = self.conns.len() - self.closed.len();
        let Some(entry) = self.conns.get_mut(key).filter(|e| !e.closed) else {
            return;
        };
        let mut ctx = Ctx {
            registry: self.poll.registry(),
            key,
            now,
            scratch: &mut self.scratch,
            deadlines: [None; 2],
            bulk: false,
            open,
        };
        let step = f(&mut entry.conn, &mut ctx);
        self.bulk |= ctx.bulk;
        for d in ctx.deadlines.into_iter().flatten() {
            self.deadlines.push(Reverse((d, key)));
        }
        if step == Step::Closed {
            entry.closed = true;
            self.closed.push(key);
        }
    }

    /// Takes commands until none is left; `false` when the daemon is gone (stop).
    fn commands_now(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Serve { id, listener, pool }) => self.serve(id, listener, pool),
                Ok(Command::Retire { id }) => {
                    let retired: Vec<usize> = self
                        .listeners
                        .iter()
                        .filter(|(_, l)| l.id == id)
                        .map(|(k, _)| k)
                        .collect();
                    for k in retired {
                        let l = self.listeners.remove(k);
                        if l.paused {
                            self.paused_listeners -= 1;
                        }
                        if l.episode {
                            l.cell.gate().leave(Pause::AtCap, l.waited, Instant::now());
                        }
                    }
                }
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn serve(&mut self, id: u64, listener: std::net::TcpListener, cell: Arc<PoolCell>) {
        let entry = self.listeners.vacant_entry();
        let mut listener = TcpListener::from_std(listener);
        let token = listener_token(entry.key());
        // A paused thread polls it when it resumes.
        if self.paused.is_none()
            && let Err(e) = self
                .poll
                .registry()
                .register(&mut listener, token, Interest::READABLE)
        {
            warn!("forwarder thread: cannot poll a listener: {e}");
            return;
        }
        let key = entry.key();
        entry.insert(Listening {
            id,
            listener,
            cell,
            paused: false,
            episode: false,
            waited: 0,
        });
        // Connections that came before it was polled.
        self.accept_all(key, Instant::now());
    }

    /// Stops accepting for `why`: the listeners leave epoll, so new clients wait in the
    /// backlog without waking the thread.
    fn pause(&mut self, why: Pause, error: Option<&io::Error>, now: Instant) {
        let paused = match why {
            Pause::AtCap => Paused::AtCap,
            Pause::AcceptFails => {
                // Doubles while accept goes on failing, from the first failure of an
                // episode on.
                let wait = if self.episodes[why as usize] {
                    let wait = (self.backoff * 2).min(BACKOFF_MAX);
                    if let Some(e) = error {
                        debug!("forwarder thread: accept still fails: {e}; next try in {wait:?}");
                    }
                    wait
                } else {
                    BACKOFF_FIRST
                };
                self.backoff = wait;
                Paused::Until(now + wait)
            }
        };
        if self.paused.is_none() {
            for (_, l) in self.listeners.iter_mut() {
                let _ = self.poll.registry().deregister(&mut l.listener);
            }
        }
        self.paused = Some(paused);
        if !std::mem::replace(&mut self.episodes[why as usize], true) {
            self.gate.join(why, error, now);
        }
    }

    /// Accepts again: the listeners go back into epoll and what waited in their backlogs
    /// is taken. When that empties them without another pause, this thread's episodes end.
    fn resume(&mut self, now: Instant) {
        self.paused = None;
        let keys: Vec<usize> = self.listeners.iter().map(|(k, _)| k).collect();
        for &key in &keys {
            let l = &mut self.listeners[key];
            if l.paused {
                // At its virtual server's maxconn: it comes back with room there.
                continue;
            }
            let token = listener_token(key);
            if let Err(e) =
                self.poll
                    .registry()
                    .register(&mut l.listener, token, Interest::READABLE)
            {
                let vs = l.cell.get().config.addr;
                warn!("virtual_server {vs}: cannot poll a listener again: {e}; it stops");
                self.listeners.remove(key);
            }
        }
        for key in keys {
            self.accept_all(key, now);
            if self.paused.is_some() {
                return;
            }
        }
        let waited = std::mem::take(&mut self.waited);
        for why in [Pause::AtCap, Pause::AcceptFails] {
            if std::mem::replace(&mut self.episodes[why as usize], false) {
                self.gate.leave(why, waited, now);
            }
        }
    }

    /// Stops accepting on listener `key` while its virtual server is at its `maxconn`: it
    /// leaves epoll, its clients wait in its backlog; the gate wakes the thread when one of
    /// the virtual server's connections closes.
    fn pause_listener(&mut self, key: usize, now: Instant) {
        let Some(l) = self.listeners.get_mut(key) else {
            return;
        };
        if self.paused.is_none() {
            let _ = self.poll.registry().deregister(&mut l.listener);
        }
        l.paused = true;
        self.paused_listeners += 1;
        if !std::mem::replace(&mut l.episode, true) {
            l.cell.gate().join(Pause::AtCap, None, now);
        }
    }

    /// Takes back the listeners whose virtual server has room again; each ends its
    /// episode once its backlog is empty.
    fn resume_listeners(&mut self, now: Instant) {
        let ready: Vec<usize> = self
            .listeners
            .iter()
            .filter(|(_, l)| l.paused && l.cell.gate().wait_for_room())
            .map(|(k, _)| k)
            .collect();
        for key in ready {
            let l = &mut self.listeners[key];
            l.paused = false;
            self.paused_listeners -= 1;
            if self.paused.is_none()
                && let Err(e) = self.poll.registry().register(
                    &mut l.listener,
                    listener_token(key),
                    Interest::READABLE,
                )
            {
                let vs = l.cell.get().config.addr;
                warn!("virtual_server {vs}: cannot poll a listener again: {e}; it stops");
                if l.episode {
                    l.cell.gate().leave(Pause::AtCap, l.waited, now);
                }
                self.listeners.remove(key);
                continue;
            }
            self.accept_all(key, now);
        }
    }

    /// Accepts every connection waiting on listener `key`, while there is room under the
    /// caps and accept works; otherwise pauses (the thread, or this listener alone at its
    /// virtual server's `maxconn`).
    fn accept_all(&mut self, key: usize, now: Instant) {
        loop {
            // Events of the batch that paused the thread may still come.
            if self.paused.is_some() {
                return;
            }
            let Some(slot) = self.gate.take() else {
                if !self.gate.wait_for_room() {
                    self.pause(Pause::AtCap, None, now);
                }
                continue;
            };
            let Some(l) = self.listeners.get_mut(key) else {
                return;
            };
            if l.paused {
                return;
            }
            let Some(pool_slot) = l.cell.gate().take() else {
                if !l.cell.gate().wait_for_room() {
                    self.pause_listener(key, now);
                    return;
                }
                continue;
            };
            let (mut client, peer) = match l.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Its backlog is empty: whoever waited at its maxconn is in.
                    if std::mem::replace(&mut l.episode, false) {
                        let waited = std::mem::take(&mut l.waited);
                        l.cell.gate().leave(Pause::AtCap, waited, now);
                    }
                    return;
                }
                Err(e) if gone_before_accept(&e) => continue,
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM: the backlog keeps the client.
                    self.pause(Pause::AcceptFails, Some(&e), now);
                    return;
                }
            };
            if self.episodes.contains(&true) {
                self.waited += 1;
            }
            if l.episode {
                l.waited += 1;
                l.cell.gate().waited_one();
            }
            let pool = l.cell.get();
            let vs = pool.config.addr;
            let conn_key = self.conns.vacant_key();
            let interest = Interest::READABLE | Interest::WRITABLE;
            let registry = self.poll.registry();
            if let Err(e) = registry.register(&mut client, proxy::token(conn_key, CLIENT), interest)
            {
                warn!("virtual_server {vs}: cannot poll a connection: {e}");
                continue;
            }
            let conn = Conn::start(client, peer, pool, &mut self.scratch);
            let key = self.conns.insert(Entry {
                conn,
                closed: false,
                _slot: slot,
                _pool_slot: pool_slot,
            });
            debug_assert_eq!(key, conn_key);
            self.step(key, now, Conn::connect);
        }
    }

    /// The clock's tick, connections' deadlines and the end of a pause.
    fn timers(&mut self, now: Instant) {
        while let Some(&Reverse((when, key))) = self.deadlines.peek() {
            if when > now {
                break;
            }
            self.deadlines.pop();
            self.step(key, now, |conn, ctx| conn.on_deadline(when, ctx));
        }
        let resume = match self.paused {
            Some(Paused::Until(t)) => t <= now,
            // Asks again each time: another thread may have taken the place that woke it.
            Some(Paused::AtCap) => self.gate.wait_for_room(),
            None => false,
        };
        if resume {
            self.resume(now);
        }
        if self.paused_listeners > 0 {
            self.resume_listeners(now);
        }
        if now >= self.next_tick {
            self.next_tick += self.tick;
            if self.next_tick <= now {
                self.next_tick = now + self.tick;
            }
            let tick = self.tick;
            for (key, entry) in self.conns.iter_mut() {
                if !entry.closed && entry.conn.on_tick(tick) == Step::Closed {
                    entry.closed = true;
                    self.closed.push(key);
                }
            }
        }
    }
}

/// accept(2) errors that concern one client only, gone before it was taken (accept(2):
/// "treat them like EAGAIN by retrying"): the next one is taken.
fn gone_before_accept(e: &io::Error) -> bool {
    use nix::errno::Errno;
    e.kind() == io::ErrorKind::Interrupted
        || e.raw_os_error().is_some_and(|n| {
            [
                Errno::ECONNABORTED,
                Errno::EPROTO,
                Errno::EPERM,
                Errno::ENETDOWN,
                Errno::ENOPROTOOPT,
                Errno::EHOSTDOWN,
                Errno::ENONET,
                Errno::EHOSTUNREACH,
                Errno::EOPNOTSUPP,
                Errno::ENETUNREACH,
            ]
            .contains(&Errno::from_raw(n))
        })
}

// The side constants must fit the token arithmetic above.
const _: () = assert!(CLIENT == 0 && BACKEND == 1);
