//! Moves the bytes of one direction of a proxied connection, without waiting: the
//! forwarding thread calls [`Dir::pump`] whenever the poller reports the source readable or
//! the destination writable. Small bursts (requests, short answers) are copied through the
//! thread's scratch buffer: one recv and one send. Bulk transfers go socket -> pipe ->
//! socket with splice(2), so their payload never enters user space (copied too where the
//! kernel refuses splice).
//!
//! Nothing is allocated for an idle connection: a pipe is taken from a pool when bytes
//! arrive and given back as soon as it is empty again, so thousands of idle connections hold
//! no pipes, and the copy buffer is the thread's. Only what the destination did not take at
//! once is kept on the heap. A pipe that still holds bytes when a connection dies is closed,
//! never pooled.

use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use mio::net::TcpStream;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};
use socket2::SockRef;

/// Bytes moved per splice call; also the pipe size asked for.
const CHUNK: usize = 1 << 18;
/// Pipes kept for reuse; more are closed when given back.
pub(super) const POOL_MAX: usize = 64;
/// Bursts up to this size are copied, bigger ones spliced (see [`Dir::pump`]), through a
/// buffer of this size per thread.
pub(super) const SMALL: usize = 16 * 1024;
/// Bytes one way, with nothing the other way meanwhile, that make a bulk transfer: more
/// than an answer (a 100 KB page is not one), as much as a few wakeups of a stream move.
const STREAM: usize = 1 << 20;

/// An empty pipe: (read end, write end).
struct Pipe {
    r: OwnedFd,
    w: OwnedFd,
}

static POOL: Mutex<Vec<Pipe>> = Mutex::new(Vec::new());
/// Set when the kernel refused splice once: every later transfer copies.
static NO_SPLICE: AtomicBool = AtomicBool::new(false);

fn take_pipe() -> io::Result<Pipe> {
    if let Some(p) = POOL.lock().unwrap_or_else(|e| e.into_inner()).pop() {
        return Ok(p);
    }
    let (r, w) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
    // A bigger pipe means fewer wakeups for bulk transfers; refusal is harmless.
    let _ = fcntl(&w, FcntlArg::F_SETPIPE_SZ(CHUNK as i32));
    Ok(Pipe { r, w })
}

fn give_back(p: Pipe) {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if pool.len() < POOL_MAX {
        pool.push(p);
    }
}

/// What the poller has said about one socket since we last found out otherwise. The
/// poller is edge-triggered: a flag stays set until a call says EAGAIN (or a short read or
/// write shows the socket drained or full), and the next change comes as a new event.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Ready {
    pub(super) readable: bool,
    pub(super) writable: bool,
    /// The peer's FIN has arrived (it stays so).
    pub(super) read_closed: bool,
    /// The socket has an error pending, perhaps a reset (only a read tells).
    pub(super) error: bool,
}

impl Ready {
    /// Adds what one event reports.
    pub(super) fn add(&mut self, event: &mio::event::Event) {
        self.readable |= event.is_readable();
        self.writable |= event.is_writable();
        self.read_closed |= event.is_read_closed();
        self.error |= event.is_error();
    }

    fn may_read(&self) -> bool {
        self.readable || self.read_closed || self.error
    }
}

/// Why a direction stopped.
#[derive(Debug)]
pub(super) enum PumpError {
    /// Reading from the source failed (it reset or vanished).
    Read(io::Error),
    /// Writing to the destination failed.
    Write(io::Error),
}

/// Bytes read from the source that the destination has not taken yet.
#[derive(Default)]
enum Held {
    #[default]
    Nothing,
    /// Copied: the bytes not sent yet.
    Copied(Vec<u8>),
    /// Spliced: a pipe and how many bytes it holds.
    Piped(Pipe, usize),
}

/// Both ends of a direction, as one call of [`Dir::pump`] sees them: the source and its
/// readiness, the destination and its readiness, and whether the other direction has
/// finished.
pub(super) struct Ends<'a> {
    from: &'a TcpStream,
    src: &'a mut Ready,
    to: &'a TcpStream,
    dst: &'a mut Ready,
    other_done: bool,
}

impl<'a> Ends<'a> {
    pub(super) fn new(
        (from, src): (&'a TcpStream, &'a mut Ready),
        (to, dst): (&'a TcpStream, &'a mut Ready),
        other_done: bool,
    ) -> Self {
        Ends {
            from,
            src,
            to,
            dst,
            other_done,
        }
    }
}

/// One direction of a connection: source to destination.
#[derive(Default)]
pub(super) struct Dir {
    held: Held,
    /// The last burst filled [`SMALL`]: the next go through a pipe.
    splicing: bool,
    /// Bytes moved since the other direction last moved any.
    streak: usize,
    /// The source has ended; the destination is to be told (or has been).
    eof: bool,
    /// Finished: the end was passed on.
    pub(super) done: bool,
}

impl Dir {
    /// A direction that starts with `early`, bytes read before the destination existed.
    pub(super) fn with_early(rest: Vec<u8>) -> Dir {
        Dir {
            held: if rest.is_empty() {
                Held::Nothing
            } else {
                Held::Copied(rest)
            },
            ..Dir::default()
        }
    }

    /// Whether a bulk transfer is under way: the last burst filled [`SMALL`], and
    /// [`STREAM`] bytes went this way since any went the other way. An answer, however
    /// big, is followed by the next request, and is not one.
    pub(super) fn bulk(&self) -> bool {
        self.splicing && self.streak >= STREAM
    }

    /// The other direction moved bytes: a turn in a conversation, not a stream.
    pub(super) fn other_moved(&mut self) {
        self.streak = 0;
    }

    /// Moves what can be moved now from source to destination, until a call would wait. At
    /// the source's end it shuts the destination's write side down, so a half-close travels
    /// through, unless the other direction has finished too: then both sockets are about to
    /// be closed, which says the same with one system call less. Returns the bytes read.
    ///
    /// Small bursts are copied: for a few hundred bytes one recv and one send cost less than
    /// two splices. A burst that fills [`SMALL`] means a bulk transfer is under way, and the
    /// next bursts go through a pipe until one is small again.
    pub(super) fn pump(&mut self, mut e: Ends, scratch: &mut [u8]) -> Result<usize, PumpError> {
        let mut moved = 0;
        loop {
            if !self.flush(e.to, e.dst)? {
                return Ok(moved);
            }
            if self.eof {
                if !self.done {
                    self.done = true;
                    if !e.other_done {
                        // The peer may already be gone; that is fine.
                        let _ = SockRef::from(e.to).shutdown(std::net::Shutdown::Write);
                    }
                }
                return Ok(moved);
            }
            if !e.src.may_read() {
                return Ok(moved);
            }
            let n = if self.splicing && !NO_SPLICE.load(Ordering::Relaxed) {
                match self.splice_burst(&mut e) {
                    Err(PumpError::Read(e)) if e.raw_os_error() == Some(Errno::EINVAL as i32) => {
                        tracing::warn!("splice(2) refused ({e}): forwarding by copying instead");
                        NO_SPLICE.store(true, Ordering::Relaxed);
                        continue;
                    }
                    r => r?,
                }
            } else {
                self.copy_burst(&mut e, scratch)?
            };
            let Some(n) = n else {
                return Ok(moved);
            };
            moved += n;
            if n > 0 {
                self.splicing = n >= SMALL;
                self.streak = self.streak.saturating_add(n);
            }
        }
    }

    /// Writes what is held; whether all of it went (`false`: wait for `to`).
    fn flush(&mut self, to: &TcpStream, dst: &mut Ready) -> Result<bool, PumpError> {
        loop {
            match &mut self.held {
                Held::Nothing => return Ok(true),
                _ if !dst.writable => return Ok(false),
                Held::Copied(rest) => match SockRef::from(to).send(rest) {
                    Ok(k) if k == rest.len() => self.held = Held::Nothing,
                    Ok(k) => {
                        rest.drain(..k);
                        dst.writable = false;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => dst.writable = false,
                    Err(e) => return Err(PumpError::Write(e)),
                },
                Held::Piped(pipe, left) => {
                    let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
                    match splice(pipe.r.as_fd(), None, to.as_fd(), None, *left, flags) {
                        Ok(k) => {
                            *left -= k;
                            if *left == 0
                                && let Held::Piped(pipe, _) = std::mem::take(&mut self.held)
                            {
                                give_back(pipe);
                            }
                        }
                        Err(Errno::EAGAIN) => dst.writable = false,
                        // The pipe still holds bytes: it is dropped with the connection.
                        Err(e) => return Err(PumpError::Write(e.into())),
                    }
                }
            }
        }
    }

    /// One recv into `scratch` and one send: bytes read (`Some(0)` at the end), or `None`
    /// when there was nothing to read.
    fn copy_burst(&mut self, e: &mut Ends, scratch: &mut [u8]) -> Result<Option<usize>, PumpError> {
        let asked = scratch.len();
        let recv = || (&*SockRef::from(e.from)).read(scratch);
        let Some(n) = self.read(e.src, Some(asked), recv)? else {
            return Ok(None);
        };
        if n == 0 {
            return Ok(Some(0));
        }
        let sent = if e.dst.writable {
            let flags = self.more_flag(e.other_done, libc::MSG_MORE, 0);
            match SockRef::from(e.to).send_with_flags(&scratch[..n], flags) {
                Ok(k) => k,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
                Err(err) => return Err(PumpError::Write(err)),
            }
        } else {
            0
        };
        if sent < n {
            e.dst.writable = false;
            self.held = Held::Copied(scratch[sent..n].to_vec());
        }
        Ok(Some(n))
    }

    /// Moves what is there through a pipe, taken only once bytes are really there, so an
    /// idle connection never holds one.
    fn splice_burst(&mut self, e: &mut Ends) -> Result<Option<usize>, PumpError> {
        let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
        let pipe = take_pipe().map_err(PumpError::Read)?;
        // A short splice does not mean the socket is drained (the pipe may have run out of
        // slots first), so only EAGAIN says so here.
        let read = self.read(e.src, None, || {
            splice(e.from.as_fd(), None, pipe.w.as_fd(), None, CHUNK, flags)
                .map_err(io::Error::from)
        });
        let n = match read {
            Ok(Some(n)) if n > 0 => n,
            // Nothing, the end, or an error: the pipe goes back (it is empty).
            r => {
                give_back(pipe);
                return r;
            }
        };
        let out = self.more_flag(e.other_done, flags | SpliceFFlags::SPLICE_F_MORE, flags);
        let mut left = n;
        while left > 0 && e.dst.writable {
            match splice(pipe.r.as_fd(), None, e.to.as_fd(), None, left, out) {
                Ok(k) => left -= k,
                Err(Errno::EAGAIN) => e.dst.writable = false,
                Err(err) => return Err(PumpError::Write(err.into())),
            }
        }
        if left > 0 {
            self.held = Held::Piped(pipe, left);
        } else {
            give_back(pipe);
        }
        Ok(Some(n))
    }

    /// `more` when the destination is shut down as soon as this burst is written (its end
    /// came with it): its bytes are sent with "more to come" (MSG_MORE), the FIN joins
    /// them, and both leave in one segment, which the peer acknowledges once: two packets
    /// per connection fewer.
    fn more_flag<F>(&self, other_done: bool, more: F, plain: F) -> F {
        if self.eof && !other_done { more } else { plain }
    }

    /// One read: what it got (`Some(0)` at the end), or `None` when there was nothing after
    /// all. A read that returns less than `drained_below` (recv: the socket's whole queue
    /// up to the size asked) means the socket is drained, so `src` stops saying readable
    /// without one more read that fails with EAGAIN; and a FIN the poller had reported
    /// before it means nothing can follow: asking again would only return 0, a system call
    /// per connection for nothing. Not when the poller saw an error too: that may be a
    /// reset, which only a read reports (and which is passed on as one).
    fn read(
        &mut self,
        src: &mut Ready,
        drained_below: Option<usize>,
        read: impl FnOnce() -> io::Result<usize>,
    ) -> Result<Option<usize>, PumpError> {
        match read() {
            Ok(0) => {
                self.eof = true;
                Ok(Some(0))
            }
            Ok(n) => {
                if drained_below.is_some_and(|asked| n < asked) {
                    src.readable = false;
                    self.eof = src.read_closed && !src.error;
                }
                Ok(Some(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                src.readable = false;
                if src.error {
                    // The error itself was taken by another call; waiting again would only
                    // wake at once.
                    return Err(PumpError::Read(io::ErrorKind::ConnectionReset.into()));
                }
                Ok(None)
            }
            Err(e) => Err(PumpError::Read(e)),
        }
    }
}
