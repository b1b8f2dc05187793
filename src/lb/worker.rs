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

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::SocketAddr;
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
use super::pool::PoolCell;
use super::proxy::{self, BACKEND, CLIENT, Conn, Ctx, Step};
use super::pump::SMALL;

/// The token of the command channel's waker; listeners count down from below it,
/// connections up from 0 (see [`proxy::token`]).
const WAKER: Token = Token(usize::MAX);
/// How long a listener rests after accept failed for want of descriptors or memory.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
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
    /// with a clock that ticks every `options.tick`, and busy polling as `options` say.
    pub(super) fn spawn(options: &LbOptions) -> io::Result<Workers> {
        let mut workers = Vec::new();
        for i in 0..options.threads.max(1) {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            let (tx, rx) = channel();
            let (tick, busy_poll) = (options.tick, options.busy_poll);
            let thread = std::thread::Builder::new()
                .name(format!("vipd-lb-{i}"))
                .spawn(move || Thread::new(poll, rx, tick, busy_poll).run())?;
            workers.push(Worker {
                commands: tx,
                waker,
                thread,
            });
        }
        Ok(Workers(workers))
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

/// One virtual server's listener on this thread.
struct Listening {
    id: u64,
    listener: TcpListener,
    cell: Arc<PoolCell>,
    /// Accept failed (descriptors or memory ran out): try again then.
    resting_until: Option<Instant>,
}

/// A connection, and whether it closed during the batch of events being handled.
struct Entry {
    conn: Conn,
    closed: bool,
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
}

impl Thread {
    fn new(poll: Poll, commands: Receiver<Command>, tick: Duration, busy: Duration) -> Thread {
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

    /// The soonest of the clock's tick, a connection's deadline and a resting listener.
    fn next_timer(&self) -> Instant {
        let deadline = self.deadlines.peek().map(|Reverse((t, _))| *t);
        let resting = self.listeners.iter().filter_map(|(_, l)| l.resting_until);
        [self.next_tick]
            .into_iter()
            .chain(deadline)
            .chain(resting)
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
                        self.listeners.remove(k);
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
        if let Err(e) = self
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
            resting_until: None,
        });
        // Connections that came before it was polled.
        self.accept_all(key, Instant::now());
    }

    /// Accepts every connection waiting on listener `key`.
    fn accept_all(&mut self, key: usize, now: Instant) {
        loop {
            let Some(l) = self.listeners.get_mut(key) else {
                return;
            };
            let (mut client, peer) = match l.listener.accept() {
                Ok((client, SocketAddr::V4(peer))) => (client, peer),
                Ok((_, other)) => {
                    let vs = l.cell.get().config.addr;
                    debug!("virtual_server {vs}: dropping non-IPv4 client {other}");
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE/ENFILE/ENOBUFS: rest instead of spinning.
                    let vs = l.cell.get().config.addr;
                    warn!("virtual_server {vs}: accept failed: {e}");
                    l.resting_until = Some(now + ACCEPT_BACKOFF);
                    return;
                }
            };
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
            });
            debug_assert_eq!(key, conn_key);
            self.step(key, now, Conn::connect);
        }
    }

    /// The clock's tick, connections' deadlines and resting listeners that are due.
    fn timers(&mut self, now: Instant) {
        while let Some(&Reverse((when, key))) = self.deadlines.peek() {
            if when > now {
                break;
            }
            self.deadlines.pop();
            self.step(key, now, |conn, ctx| conn.on_deadline(when, ctx));
        }
        let resting: Vec<usize> = self
            .listeners
            .iter()
            .filter(|(_, l)| l.resting_until.is_some_and(|t| t <= now))
            .map(|(k, _)| k)
            .collect();
        for key in resting {
            self.listeners[key].resting_until = None;
            self.accept_all(key, now);
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

// The side constants must fit the token arithmetic above.
const _: () = assert!(CLIENT == 0 && BACKEND == 1);
