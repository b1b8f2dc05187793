//! `UDP_CHECK`, as keepalived 2.2's: send one datagram (`payload`, empty by default) to the
//! server and wait `connect_timeout`. An ICMP port unreachable (the kernel reports it as
//! ECONNREFUSED on a connected socket) fails the check; an answer passes it (with
//! `require_reply`, only one whose length is within `min_reply_length..=max_reply_length`);
//! silence passes unless `require_reply` is set, since a UDP service need not answer an
//! arbitrary datagram. keepalived's `require_reply HEX` (compare the answer's bytes) is
//! refused when the config is read.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

/// What the check asks of an answer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Want {
    /// An answer must come within the timeout.
    pub(super) require_reply: bool,
    /// With `require_reply`: the answer's length must be within these.
    pub(super) reply_length: (u16, u16),
}

/// One probe of `target`, from `from` (`bindto`) when given: `Ok` or why it failed.
pub(super) async fn probe(
    target: SocketAddr,
    from: Option<IpAddr>,
    payload: &[u8],
    want: Want,
    timeout: Duration,
) -> Result<(), String> {
    let any: IpAddr = match target {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let local = SocketAddr::new(from.unwrap_or(any), 0);
    let fail = |what: &str, e: io::Error| format!("UDP {what} {target}: {e}");
    let s = UdpSocket::bind(local)
        .await
        .map_err(|e| fail("socket for", e))?;
    s.connect(target).await.map_err(|e| fail("connect to", e))?;
    s.send(payload).await.map_err(|e| fail("send to", e))?;
    // One byte more than the longest answer that counts, so a longer one is seen as such.
    let mut buf = vec![0u8; usize::from(want.reply_length.1) + 1];
    match tokio::time::timeout(timeout, s.recv(&mut buf)).await {
        Ok(Ok(n)) => judge(n, want).map_err(|why| format!("UDP answer from {target}: {why}")),
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            Err(format!("UDP to {target}: port unreachable (ICMP)"))
        }
        Ok(Err(e)) => Err(fail("receive from", e)),
        Err(_) if want.require_reply => Err(format!(
            "UDP to {target}: no answer within {timeout:?} (require_reply)"
        )),
        Err(_) => Ok(()),
    }
}

/// Whether an answer of `n` bytes passes.
fn judge(n: usize, want: Want) -> Result<(), String> {
    let (min, max) = (
        usize::from(want.reply_length.0),
        usize::from(want.reply_length.1),
    );
    if want.require_reply && !(min..=max).contains(&n) {
        return Err(format!(
            "{n} bytes, outside min_reply_length {min} .. max_reply_length {max}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Want = Want {
        require_reply: false,
        reply_length: (0, 255),
    };
    const REPLY: Want = Want {
        require_reply: true,
        reply_length: (2, 10),
    };
    const T: Duration = Duration::from_millis(300);

    /// A UDP server on loopback that answers each datagram with `answer` (or not at all).
    async fn server(answer: Option<&'static [u8]>) -> SocketAddr {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = s.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            while let Ok((_, from)) = s.recv_from(&mut buf).await {
                if let Some(a) = answer {
                    let _ = s.send_to(a, from).await;
                }
            }
        });
        addr
    }

    /// A loopback port with nothing behind it.
    fn closed_port() -> SocketAddr {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    }

    #[tokio::test]
    async fn an_icmp_error_fails_and_silence_passes_unless_a_reply_is_required() {
        let err = probe(closed_port(), None, b"x", QUIET, T)
            .await
            .unwrap_err();
        assert!(err.contains("port unreachable"), "{err}");
        let quiet = server(None).await;
        probe(quiet, None, b"x", QUIET, T).await.unwrap();
        let err = probe(quiet, None, b"x", REPLY, T).await.unwrap_err();
        assert!(err.contains("no answer"), "{err}");
    }

    #[tokio::test]
    async fn a_required_reply_must_fit_its_length_bounds() {
        probe(server(Some(b"pong")).await, None, b"ping", REPLY, T)
            .await
            .unwrap();
        let err = probe(server(Some(b"p")).await, None, b"ping", REPLY, T)
            .await
            .unwrap_err();
        assert!(err.contains("1 bytes"), "{err}");
        let long = server(Some(b"much too long an answer")).await;
        let err = probe(long, None, b"ping", REPLY, T).await.unwrap_err();
        assert!(
            err.contains("11 bytes"),
            "one byte past the bound is seen: {err}"
        );
        probe(long, None, b"ping", QUIET, T).await.unwrap();
    }
}
