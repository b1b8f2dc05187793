//! Moves the bytes of one direction of a proxied connection. Small bursts (requests, short
//! answers) are copied through a buffer on the stack: one recv and one send. Bulk transfers
//! go socket -> pipe -> socket with splice(2), so their payload never enters user space
//! (copied too where the kernel refuses splice).
//!
//! Nothing is allocated for an idle connection: a pipe is taken from a pool when bytes
//! arrive and given back as soon as it is empty again, so thousands of idle connections hold
//! no pipes, and the copy buffer lives only during a call. A pipe that still holds bytes when
//! a connection dies is closed, never pooled.

use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};
use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Bytes moved per splice call; also the pipe size asked for.
const CHUNK: usize = 1 << 18;
/// Pipes kept for reuse; more are closed when given back.
const POOL_MAX: usize = 64;
/// Bursts up to this size are copied, bigger ones spliced (see [`pump`]). The buffer lives on
/// the stack only while a burst is moved.
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
        let n = if bulk && !NO_SPLICE.load(Ordering::Relaxed) {
            match splice_burst(from, to).await {
                Err(PumpError::Read(e)) if e.raw_os_error() == Some(Errno::EINVAL as i32) => {
                    tracing::warn!("splice(2) refused ({e}): forwarding by copying instead");
                    NO_SPLICE.store(true, Ordering::Relaxed);
                    continue;
                }
                r => r?,
            }
        } else {
            copy_burst(from, to).await?
        };
        if n == 0 {
            // EOF: pass the half-close on. The peer may already be gone; that is fine.
            if finished.fetch_add(1, Ordering::Relaxed) == 0 {
                let _ = socket2::SockRef::from(to).shutdown(std::net::Shutdown::Write);
            }
            return Ok(());
        }
        bulk = n >= SMALL;
        bytes.fetch_add(n as u64, Ordering::Relaxed);
        activity.fetch_add(1, Ordering::Relaxed);
    }
}

/// Waits for bytes, moves what is there through a pipe; 0 = EOF. The pipe is taken only
/// once bytes are really there, so an idle connection never holds one.
async fn splice_burst(from: &TcpStream, to: &TcpStream) -> Result<usize, PumpError> {
    let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
    let (pipe, filled) = loop {
        from.readable().await.map_err(PumpError::Read)?;
        let pipe = take_pipe().map_err(PumpError::Read)?;
        // Fewer bytes than asked for means the socket is drained: saying WouldBlock to
        // tokio clears its readiness now, instead of learning it from one more splice that
        // fails with EAGAIN (tokio keeps the readiness if an event came in meanwhile).
        let mut drained = None;
        match from.try_io(Interest::READABLE, || {
            let n = splice(from.as_fd(), None, pipe.w.as_fd(), None, CHUNK, flags)?;
            if n > 0 && n < CHUNK {
                drained = Some(n);
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        }) {
            Ok(n) => break (pipe, n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => match drained {
                Some(n) => break (pipe, n),
                // A wakeup without bytes: the pipe goes back (it is empty) before waiting.
                None => give_back(pipe),
            },
            Err(e) => {
                give_back(pipe);
                return Err(PumpError::Read(e));
            }
        }
    };
    let mut left = filled;
    while left > 0 {
        let r = to.try_io(Interest::WRITABLE, || {
            splice(pipe.r.as_fd(), None, to.as_fd(), None, left, flags).map_err(io::Error::from)
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
    Ok(filled)
}

/// Waits for bytes and forwards what is there through a buffer on the stack; 0 = EOF. Only
/// what `to` does not take at once is kept on the heap (and so in the connection's future)
/// until it is written.
async fn copy_burst(from: &TcpStream, to: &TcpStream) -> Result<usize, PumpError> {
    let (n, rest) = loop {
        from.readable().await.map_err(PumpError::Read)?;
        if let Some(moved) = copy_now(from, to)? {
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
    Ok(n)
}

/// One recv and one send, without waiting: the bytes read and those `to` did not take yet;
/// `None` when there was nothing to read after all.
fn copy_now(from: &TcpStream, to: &TcpStream) -> Result<Option<(usize, Vec<u8>)>, PumpError> {
    let mut buf = [0u8; SMALL];
    // As in splice_burst: a short read means drained, and tokio hears so now.
    let mut drained = None;
    let read = from.try_io(Interest::READABLE, || {
        let n = (&*SockRef::from(from)).read(&mut buf)?;
        if n > 0 && n < SMALL {
            drained = Some(n);
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    let n = match read {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => match drained {
            Some(n) => n,
            None => return Ok(None),
        },
        Err(e) => return Err(PumpError::Read(e)),
    };
    if n == 0 {
        return Ok(Some((0, Vec::new())));
    }
    let sent = match to.try_write(&buf[..n]) {
        Ok(k) => k,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(PumpError::Write(e)),
    };
    Ok(Some((n, buf[sent..n].to_vec())))
}
