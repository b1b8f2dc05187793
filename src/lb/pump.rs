//! Moves the bytes of one direction of a proxied connection. Small bursts (requests, short
//! answers) are copied through one buffer per thread: one recv and one send. Bulk transfers
//! go socket -> pipe -> socket with splice(2), so their payload never enters user space
//! (copied too where the kernel refuses splice).
//!
//! Nothing is allocated for an idle connection: a pipe is taken from a pool when bytes
//! arrive and given back as soon as it is empty again, so thousands of idle connections hold
//! no pipes, and the copy buffer is the thread's. A pipe that still holds bytes when
//! a connection dies is closed, never pooled.

use std::cell::RefCell;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};
use socket2::SockRef;
use tokio::io::{Interest, Ready};
use tokio::net::TcpStream;

use super::busy;

/// Bytes moved per splice call; also the pipe size asked for.
const CHUNK: usize = 1 << 18;
/// Pipes kept for reuse; more are closed when given back.
const POOL_MAX: usize = 64;
/// Bursts up to this size are copied, bigger ones spliced (see [`pump`]), through a buffer
/// of this size per thread.
const SMALL: usize = 16 * 1024;

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

/// Pipes waiting in the pool (each is two file descriptors).
pub fn pooled_pipes() -> usize {
    POOL.lock().unwrap_or_else(|e| e.into_inner()).len()
}

/// Why a direction stopped.
#[derive(Debug)]
pub(super) enum PumpError {
    /// Reading from the source failed (it reset or vanished).
    Read(io::Error),
    /// Writing to the destination failed.
    Write(io::Error),
}

/// Copies `from` -> `to` until `from` says EOF, then shuts down `to`'s write side (so a
/// half-close travels through) unless the other direction has already finished (`finished`
/// counts finished directions): then both sockets are about to be closed, which says the
/// same with one syscall less. Every moved chunk is added to `bytes` and bumps `activity`.
///
/// Small bursts (requests, short answers) are copied: for a few hundred bytes one recv and
/// one send cost less than two splices. A burst that fills [`SMALL`] means a bulk transfer
/// is under way, and the next bursts go through a pipe until one is small again.
pub(super) async fn pump(
    from: &TcpStream,
    to: &TcpStream,
    bytes: &AtomicU64,
    activity: &AtomicU64,
    finished: &AtomicU8,
) -> Result<(), PumpError> {
    let mut bulk = false;
    loop {
        let burst = if bulk && !NO_SPLICE.load(Ordering::Relaxed) {
            match splice_burst(from, to, finished).await {
                Err(PumpError::Read(e)) if e.raw_os_error() == Some(Errno::EINVAL as i32) => {
                    tracing::warn!("splice(2) refused ({e}): forwarding by copying instead");
                    NO_SPLICE.store(true, Ordering::Relaxed);
                    continue;
                }
                r => r?,
            }
        } else {
            copy_burst(from, to, finished).await?
        };
        busy::worked();
        if burst.moved > 0 {
            bulk = burst.moved >= SMALL;
            bytes.fetch_add(burst.moved as u64, Ordering::Relaxed);
            activity.fetch_add(1, Ordering::Relaxed);
        }
        if burst.eof {
            // Pass the half-close on. The peer may already be gone; that is fine.
            if finished.fetch_add(1, Ordering::Relaxed) == 0 {
                let _ = socket2::SockRef::from(to).shutdown(std::net::Shutdown::Write);
            }
            return Ok(());
        }
    }
}

/// What one burst did.
struct Burst {
    /// Bytes moved.
    moved: usize,
    /// `from` is at its end after them.
    eof: bool,
}

/// Waits until `from` has bytes, its end or an error to read.
async fn wait_readable(from: &TcpStream) -> Result<Ready, PumpError> {
    from.ready(Interest::READABLE | Interest::ERROR)
        .await
        .map_err(PumpError::Read)
}

/// Whether a read that returned `n` of the `asked` bytes, after the poller said `ready`,
/// has reached the end of the stream. A short read drains the socket, and a FIN the poller
/// had reported before it (read-closed) means nothing can follow: asking again would only
/// return 0, a system call per connection for nothing. Not when the poller saw an error
/// too: that may be a reset, which only a read reports (and which is passed on as one).
fn ends_stream(ready: Ready, n: usize, asked: usize) -> bool {
    n == 0 || (n < asked && ready.is_read_closed() && !ready.is_error())
}

/// Whether `to` is shut down as soon as `burst` is written (see [`pump`]): then its bytes
/// are sent with "more to come" (MSG_MORE), the FIN joins them, and both leave in one
/// segment, which the peer acknowledges once: two packets per connection fewer.
fn fin_follows(burst: &Burst, finished: &AtomicU8) -> bool {
    burst.eof && burst.moved > 0 && finished.load(Ordering::Relaxed) == 0
}

/// The error for a wakeup that reported an error while the socket has nothing to read: the
/// error itself was taken by another call, and waiting again would only wake at once.
fn spent_error() -> PumpError {
    PumpError::Read(io::ErrorKind::ConnectionReset.into())
}

/// Waits for bytes, moves what is there through a pipe. The pipe is taken only once bytes
/// are really there, so an idle connection never holds one.
async fn splice_burst(
    from: &TcpStream,
    to: &TcpStream,
    finished: &AtomicU8,
) -> Result<Burst, PumpError> {
    let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
    let (pipe, burst) = loop {
        let ready = wait_readable(from).await?;
        let pipe = take_pipe().map_err(PumpError::Read)?;
        let read = read_now(from, ready, CHUNK, || {
            splice(from.as_fd(), None, pipe.w.as_fd(), None, CHUNK, flags).map_err(io::Error::from)
        });
        match read {
            Ok(Some(burst)) => break (pipe, burst),
            // A wakeup without bytes, or an error: the pipe goes back (it is empty).
            r => {
                give_back(pipe);
                r?;
            }
        }
    };
    let out = if fin_follows(&burst, finished) {
        flags | SpliceFFlags::SPLICE_F_MORE
    } else {
        flags
    };
    let mut left = burst.moved;
    while left > 0 {
        let r = to.try_io(Interest::WRITABLE, || {
            splice(pipe.r.as_fd(), None, to.as_fd(), None, left, out).map_err(io::Error::from)
        });
        match r {
            Ok(n) => left -= n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                to.writable().await.map_err(PumpError::Write)?;
            }
            // The pipe still holds bytes: drop it rather than pool it.
            Err(e) => return Err(PumpError::Write(e)),
        }
    }
    give_back(pipe);
    Ok(burst)
}

/// Waits for bytes and forwards what is there through the thread's scratch buffer. Only
/// what `to` does not take at once is kept on the heap (and so in the connection's future)
/// until it is written.
async fn copy_burst(
    from: &TcpStream,
    to: &TcpStream,
    finished: &AtomicU8,
) -> Result<Burst, PumpError> {
    let (burst, rest) = loop {
        let ready = wait_readable(from).await?;
        if let Some(moved) = with_scratch(|buf| copy_now(from, to, buf, ready, finished))? {
            break moved;
        }
    };
    let mut done = 0;
    while done < rest.len() {
        match to.try_write(&rest[done..]) {
            Ok(k) => done += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                to.writable().await.map_err(PumpError::Write)?;
            }
            Err(e) => return Err(PumpError::Write(e)),
        }
    }
    Ok(burst)
}

/// One recv into `buf` and one send, without waiting: what was moved and the bytes `to` did
/// not take yet; `None` when there was nothing to read after all.
fn copy_now(
    from: &TcpStream,
    to: &TcpStream,
    buf: &mut [u8],
    ready: Ready,
    finished: &AtomicU8,
) -> Result<Option<(Burst, Vec<u8>)>, PumpError> {
    let asked = buf.len();
    let Some(burst) = read_now(from, ready, asked, || (&*SockRef::from(from)).read(buf))? else {
        return Ok(None);
    };
    let n = burst.moved;
    if n == 0 {
        return Ok(Some((burst, Vec::new())));
    }
    let flags = if fin_follows(&burst, finished) {
        libc::MSG_MORE
    } else {
        0
    };
    let sent = match to.try_io(Interest::WRITABLE, || {
        SockRef::from(to).send_with_flags(&buf[..n], flags)
    }) {
        Ok(k) => k,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(PumpError::Write(e)),
    };
    Ok(Some((burst, buf[sent..n].to_vec())))
}

/// One `read` of up to `asked` bytes from `from` after the poller said `ready`, without
/// waiting: what it got and whether the stream ended there, or `None` when there was nothing
/// after all. Fewer bytes than asked for means the socket is drained: tokio hears so now (by
/// a WouldBlock), instead of learning it from one more read that fails with EAGAIN (it keeps
/// the readiness if an event came in meanwhile).
fn read_now(
    from: &TcpStream,
    ready: Ready,
    asked: usize,
    read: impl FnOnce() -> io::Result<usize>,
) -> Result<Option<Burst>, PumpError> {
    let mut drained = None;
    let r = from.try_io(Interest::READABLE, || {
        let n = read()?;
        if n > 0 && n < asked {
            drained = Some(n);
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    let n = match r {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => match drained {
            Some(n) => n,
            None if ready.is_error() => return Err(spent_error()),
            None => return Ok(None),
        },
        Err(e) => return Err(PumpError::Read(e)),
    };
    Ok(Some(Burst {
        moved: n,
        eof: ends_stream(ready, n, asked),
    }))
}

thread_local! {
    /// Each forwarding thread's buffer for copied bursts and early bytes, zeroed once: a
    /// fresh 16 KiB buffer on the stack cost a memset per read.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SMALL].into_boxed_slice());
}

/// Runs `f` with this thread's scratch buffer ([`SMALL`] bytes). `f` must not wait.
pub(super) fn with_scratch<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => f(&mut buf),
        // Only if `f` itself asked for it again: a buffer of its own then.
        Err(_) => f(&mut [0u8; SMALL]),
    })
}
