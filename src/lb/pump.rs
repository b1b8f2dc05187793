//! Moves the bytes of one direction of a proxied connection: socket -> pipe -> socket with
//! splice(2), so payload never enters user space, or, where splice is refused, through a
//! small buffer.
//!
//! Nothing is allocated for an idle connection: a pipe (or buffer) is taken from a pool when
//! bytes arrive and given back as soon as it is empty again, so thousands of idle
//! connections hold no pipes. A pipe that still holds bytes when a connection dies is closed,
//! never pooled.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Bytes moved per splice call; also the pipe size asked for.
const CHUNK: usize = 1 << 18;
/// Pipes kept for reuse; more are closed when given back.
const POOL_MAX: usize = 64;
/// The copy fallback's buffer.
const COPY_BUF: usize = 16 * 1024;

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
pub(super) async fn pump(
    from: &TcpStream,
    to: &TcpStream,
    bytes: &AtomicU64,
    activity: &AtomicU64,
    finished: &AtomicU8,
) -> Result<(), PumpError> {
    loop {
        let n = if NO_SPLICE.load(Ordering::Relaxed) {
            copy_burst(from, to).await?
        } else {
            match splice_burst(from, to).await {
                Err(PumpError::Read(e)) if e.raw_os_error() == Some(Errno::EINVAL as i32) => {
                    tracing::warn!("splice(2) refused ({e}): forwarding by copying instead");
                    NO_SPLICE.store(true, Ordering::Relaxed);
                    continue;
                }
                r => r?,
            }
        };
        if n == 0 {
            // EOF: pass the half-close on. The peer may already be gone; that is fine.
            if finished.fetch_add(1, Ordering::Relaxed) == 0 {
                let _ = socket2::SockRef::from(to).shutdown(std::net::Shutdown::Write);
            }
            return Ok(());
        }
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

/// The same through a buffer that lives only while bytes are in flight.
async fn copy_burst(from: &TcpStream, to: &TcpStream) -> Result<usize, PumpError> {
    let mut buf = vec![0u8; COPY_BUF];
    let n = loop {
        from.readable().await.map_err(PumpError::Read)?;
        match from.try_read(&mut buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(PumpError::Read(e)),
        }
    };
    let mut done = 0;
    while done < n {
        to.writable().await.map_err(PumpError::Write)?;
        match to.try_write(&buf[done..n]) {
            Ok(k) => done += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(PumpError::Write(e)),
        }
    }
    Ok(n)
}
