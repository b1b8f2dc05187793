//! `vipctl`'s side of the control socket.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::control::proto::{Event, Request, Response};

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nobody answers on the socket.
    #[error("cannot reach vipd at {path}: {source} (is vipd running? try --socket or VIPD_SOCKET)")]
    Unreachable {
        /// The socket path.
        path: String,
        /// What connect or read said.
        source: io::Error,
    },
    /// The daemon answered something this vipctl does not understand.
    #[error("unexpected answer from vipd: {0}")]
    Protocol(String),
}

/// How long vipctl waits for an answer, unless the request is one vipd answers when done.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

fn connect(path: &Path) -> Result<UnixStream, ClientError> {
    UnixStream::connect(path).map_err(|source| unreachable(path, source))
}

fn unreachable(path: &Path, source: io::Error) -> ClientError {
    ClientError::Unreachable {
        path: path.display().to_string(),
        source,
    }
}

fn send(path: &Path, stream: &mut UnixStream, request: &Request) -> Result<(), ClientError> {
    let mut line =
        serde_json::to_string(request).map_err(|e| ClientError::Protocol(e.to_string()))?;
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .map_err(|e| unreachable(path, e))
}

fn parse(answer: &str) -> Result<Response, ClientError> {
    serde_json::from_str(answer).map_err(|e| ClientError::Protocol(format!("{e}: {answer}")))
}

/// Sends one request and waits for its answer, at most `timeout` (`None`: as long as it
/// takes, for requests the daemon answers when done, such as a handover).
pub fn request_within(
    path: &Path,
    request: &Request,
    timeout: Option<Duration>,
) -> Result<Response, ClientError> {
    let mut stream = connect(path)?;
    stream
        .set_read_timeout(timeout)
        .map_err(|e| unreachable(path, e))?;
    send(path, &mut stream, request)?;
    let mut answer = String::new();
    let n = BufReader::new(stream)
        .read_line(&mut answer)
        .map_err(|e| unreachable(path, e))?;
    if n == 0 {
        return Err(unreachable(
            path,
            io::Error::new(io::ErrorKind::UnexpectedEof, "vipd closed the connection"),
        ));
    }
    parse(&answer)
}

/// Subscribes to transitions and calls `on_event` for each until vipd goes away (an error)
/// or `on_event` returns false.
pub fn watch(path: &Path, mut on_event: impl FnMut(&Event) -> bool) -> Result<(), ClientError> {
    let mut stream = connect(path)?;
    send(path, &mut stream, &Request::Watch)?;
    let mut lines = BufReader::new(stream).lines();
    let mut next = || -> Result<Response, ClientError> {
        match lines.next() {
            Some(Ok(line)) => parse(&line),
            Some(Err(e)) => Err(unreachable(path, e)),
            None => Err(unreachable(
                path,
                io::Error::new(io::ErrorKind::UnexpectedEof, "vipd closed the watch"),
            )),
        }
    };
    match next()? {
        Response::Watching => {}
        other => return Err(ClientError::Protocol(format!("{other:?}"))),
    }
    loop {
        match next()? {
            Response::Event(e) => {
                if !on_event(&e) {
                    return Ok(());
                }
            }
            Response::Error { message } => eprintln!("vipctl: vipd says: {message}"),
            other => return Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }
}
