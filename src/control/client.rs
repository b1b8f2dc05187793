//! `vipctl`'s side of the control socket.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::control::proto::{Request, Response};

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

/// Sends one request and waits (at most 5 s) for its answer.
pub fn request(path: &Path, request: &Request) -> Result<Response, ClientError> {
    let unreachable = |source| ClientError::Unreachable {
        path: path.display().to_string(),
        source,
    };
    let mut stream = UnixStream::connect(path).map_err(unreachable)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(unreachable)?;
    let mut line =
        serde_json::to_string(request).map_err(|e| ClientError::Protocol(e.to_string()))?;
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(unreachable)?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .map_err(unreachable)?;
    serde_json::from_str(&answer).map_err(|e| ClientError::Protocol(format!("{e}: {answer}")))
}
