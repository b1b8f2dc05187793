//! Health checkers for real servers, as keepalived's: `TCP_CHECK` (a connect succeeds),
//! `HTTP_GET` (each url answers with the expected status and, when given, the MD5 of its
//! body), `MISC_CHECK` (a program exits 0 within its timeout; run directly, no shell, through
//! [`crate::exec`] as every script).
//!
//! Each checker runs every `delay_loop`; while failing, every `delay_before_retry`. A server
//! goes down after `retry` consecutive failures and comes back after `rise` (default 1)
//! consecutive successes. Every verdict change goes to the [`Pool`], which logs it with its
//! reason; notify_up / notify_down run on the server's own changes, each on a task of its
//! own, killed if still running after notify's timeout.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tracing::debug;

use super::pool::Pool;
use super::proxy_header;
use crate::config::{Check, CheckKind, HttpUrl, Program, ProxyProtocol};
use crate::exec::{Job, NOTIFY_TIMEOUT, Outcome};

/// At most this much of an HTTP answer is read (keepalived reads the whole body too, but a
/// health page is small).
const HTTP_MAX: usize = 1 << 20;

/// Runs one checker once: `Ok` or why it failed. `proxy`: the server wants a PROXY protocol
/// header, which HTTP_GET sends in its LOCAL (v2) or UNKNOWN (v1) form before its request
/// (nginx's `listen ... proxy_protocol` refuses a request without one); TCP_CHECK only
/// connects and closes, which such a server takes without complaint.
pub(super) async fn run_once(
    check: &Check,
    default_timeout: Duration,
    proxy: Option<ProxyProtocol>,
) -> Result<(), String> {
    match &check.kind {
        CheckKind::Tcp { target } => connect(*target, check.bindto, check.connect_timeout)
            .await
            .map(drop),
        CheckKind::Http { target, urls } => {
            for url in urls {
                http_get(*target, check.bindto, url, check.connect_timeout, proxy).await?;
            }
            Ok(())
        }
        CheckKind::Misc {
            program, timeout, ..
        } => misc(program, timeout.unwrap_or(default_timeout)).await,
        CheckKind::Udp {
            target,
            payload,
            require_reply,
            reply_length,
        } => {
            let want = super::check_udp::Want {
                require_reply: *require_reply,
                reply_length: *reply_length,
            };
            let (target, timeout) = (*target, check.connect_timeout);
            super::check_udp::probe(target, check.bindto, payload, want, timeout).await
        }
    }
}

/// A TCP connection to `target`, from `from` (`bindto`) when given.
async fn connect(
    target: SocketAddr,
    from: Option<IpAddr>,
    timeout: Duration,
) -> Result<TcpStream, String> {
    let attempt = async {
        let Some(ip) = from else {
            return TcpStream::connect(target).await;
        };
        let s = match target {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        s.bind(SocketAddr::new(ip, 0))?;
        s.connect(target).await
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("connect to {target}: {e}")),
        Err(_) => Err(format!(
            "connect to {target}: no answer within {:?}",
            timeout
        )),
    }
}

async fn http_get(
    target: SocketAddr,
    from: Option<IpAddr>,
    url: &HttpUrl,
    timeout: Duration,
    proxy: Option<ProxyProtocol>,
) -> Result<(), String> {
    let work = async {
        let mut s = connect(target, from, timeout).await?;
        let mut req = proxy.map_or(Vec::new(), |v| proxy_header::local(v).to_vec());
        req.extend_from_slice(
            format!(
                "GET {} HTTP/1.0\r\nHost: {target}\r\nUser-Agent: vipd-check\r\nConnection: close\r\n\r\n",
                url.path
            )
            .as_bytes(),
        );
        s.write_all(&req)
            .await
            .map_err(|e| format!("GET {} on {target}: {e}", url.path))?;
        let mut answer = Vec::new();
        (&mut s)
            .take(HTTP_MAX as u64)
            .read_to_end(&mut answer)
            .await
            .map_err(|e| format!("GET {} on {target}: {e}", url.path))?;
        Ok::<_, String>(answer)
    };
    let answer = tokio::time::timeout(timeout * 2, work)
        .await
        .map_err(|_| format!("GET {} on {target}: no full answer in time", url.path))??;
    judge_http(&answer, url).map_err(|why| format!("GET {} on {target}: {why}", url.path))
}

/// Checks an HTTP answer (status line, headers, body) against `url`.
pub(crate) fn judge_http(answer: &[u8], url: &HttpUrl) -> Result<(), String> {
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no complete HTTP header")?;
    let status_line = answer[..head_end]
        .split(|&b| b == b'\n')
        .next()
        .map(|l| String::from_utf8_lossy(l).trim().to_string())
        .unwrap_or_default();
    let code: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line `{status_line}`"))?;
    match url.status_code {
        Some(want) if code != want => return Err(format!("status {code}, expected {want}")),
        None if !(200..300).contains(&code) => return Err(format!("status {code}, expected 2xx")),
        _ => {}
    }
    if let Some(want) = &url.digest {
        let body = &answer[head_end + 4..];
        let got: String = Md5::digest(body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if &got != want {
            return Err(format!("body digest {got}, expected {want}"));
        }
    }
    Ok(())
}

async fn misc(program: &Program, timeout: Duration) -> Result<(), String> {
    let prog = program.argv.first().map_or("", String::as_str);
    match Job::new(program).run(timeout).await {
        Outcome::Exited(st) if st.success() => Ok(()),
        Outcome::Exited(st) => Err(format!("{prog} exited with {st}")),
        Outcome::TimedOut(_) => Err(format!("{prog} did not finish within {timeout:?}; killed")),
        Outcome::Failed(why) => Err(why),
    }
}

/// Runs a notify_up / notify_down script on a task of its own; it is killed if still running
/// after [`NOTIFY_TIMEOUT`]. `what` names the server in the log.
pub(super) fn notify(program: &Program, what: &str) -> JoinHandle<()> {
    notify_within(program, what, NOTIFY_TIMEOUT)
}

fn notify_within(program: &Program, what: &str, timeout: Duration) -> JoinHandle<()> {
    let job = Job::new(program);
    let what = what.to_string();
    tokio::spawn(async move { job.run_logged(&what, timeout).await })
}

/// The checker loop for checker `check_index` of real server `index` of `pool`; runs until
/// the task is aborted.
pub(super) async fn run(pool: Arc<Pool>, index: usize, check_index: usize) {
    let servers = pool.real_servers();
    let Some(server) = servers.get(index) else {
        return;
    };
    let Some(check) = server.checks.get(check_index) else {
        return;
    };
    let delay_loop = check.delay_loop.unwrap_or(pool.config.delay_loop);
    let proxy = pool.proxy_protocol(server);
    let Some(counters) = pool.counters(index) else {
        return;
    };
    let vs = pool.config.addr;
    let rs = server.addr;
    // Where the pool stands: up unless alpha at start; after a reload, as it was.
    let Some(mut up) = pool.check_passing(index, check_index) else {
        return;
    };
    let mut failures = 0u32;
    let mut successes = 0u32;
    loop {
        let result = run_once(check, delay_loop, proxy).await;
        match result {
            Ok(()) => {
                failures = 0;
                successes += 1;
                if !up && successes >= check.rise {
                    up = true;
                    let reason = format!("check passed {successes} time(s) in a row");
                    changed(&pool, index, check_index, true, &reason);
                }
            }
            Err(why) => {
                successes = 0;
                failures += 1;
                counters.check_failures.fetch_add(1, Ordering::Relaxed);
                debug!(
                    "virtual_server {vs}: real_server {rs}: check failed ({failures}/{}): {why}",
                    check.retry
                );
                if up && failures >= check.retry {
                    up = false;
                    let reason = format!("{why} ({failures} failure(s) in a row)");
                    changed(&pool, index, check_index, false, &reason);
                }
            }
        }
        let pause = if failures > 0 {
            check.delay_before_retry
        } else {
            delay_loop
        };
        tokio::time::sleep(pause).await;
    }
}

fn changed(pool: &Pool, index: usize, check_index: usize, up: bool, reason: &str) {
    if let Some(now_up) = pool.report(index, check_index, up, reason) {
        let servers = pool.real_servers();
        let Some(rs) = servers.get(index) else {
            return;
        };
        let script = if now_up {
            &rs.notify_up
        } else {
            &rs.notify_down
        };
        if let Some(program) = script {
            notify(program, &format!("real_server {}", rs.addr));
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;
    use crate::exec::test::{dies, hangs_with_a_grandchild, pid_in};

    fn check(kind: CheckKind) -> Check {
        Check {
            kind,
            connect_timeout: Duration::from_secs(2),
            retry: 1,
            delay_before_retry: Duration::from_millis(10),
            rise: 1,
            delay_loop: None,
            bindto: None,
        }
    }

    fn v4(l: &TcpListener) -> SocketAddr {
        l.local_addr().unwrap()
    }

    #[tokio::test]
    async fn bindto_is_the_source_of_the_check() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = v4(&l);
        let mut c = check(CheckKind::Tcp { target });
        c.bindto = Some("127.0.0.2".parse().unwrap());
        let (checked, accepted) =
            tokio::join!(run_once(&c, Duration::from_secs(2), None), l.accept());
        checked.unwrap();
        assert_eq!(accepted.unwrap().1.ip().to_string(), "127.0.0.2");
    }

    /// A one-shot HTTP server on 127.0.0.1 answering every request with `answer`.
    async fn http_server(answer: &'static str) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = v4(&l);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                assert!(buf[..n].starts_with(b"GET /health HTTP/1.0\r\n"));
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        addr
    }

    fn url(status: Option<u16>, digest: Option<&str>) -> HttpUrl {
        HttpUrl {
            path: "/health".into(),
            status_code: status,
            digest: digest.map(str::to_string),
        }
    }

    #[tokio::test]
    async fn tcp_check_against_a_listener_and_a_closed_port() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = v4(&l);
        let ok = check(CheckKind::Tcp { target: addr });
        assert_eq!(run_once(&ok, Duration::from_secs(1), None).await, Ok(()));
        drop(l);
        let err = run_once(&ok, Duration::from_secs(1), None)
            .await
            .unwrap_err();
        assert!(err.contains("refused"), "{err}");
    }

    #[tokio::test]
    async fn http_get_sends_the_local_proxy_header_first() {
        for (version, head) in [
            (ProxyProtocol::V1, b"PROXY UNKNOWN\r\n".to_vec()),
            (
                ProxyProtocol::V2,
                proxy_header::local(ProxyProtocol::V2).to_vec(),
            ),
        ] {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = v4(&l);
            let server = tokio::spawn(async move {
                let (mut s, _) = l.accept().await.unwrap();
                let mut got = Vec::new();
                while !got.ends_with(b"\r\n\r\n") {
                    let mut buf = [0u8; 1024];
                    let n = s.read(&mut buf).await.unwrap();
                    assert!(n > 0, "closed before the end of the request");
                    got.extend_from_slice(&buf[..n]);
                }
                s.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
                got
            });
            let c = check(CheckKind::Http {
                target: addr,
                urls: vec![url(None, None)],
            });
            assert_eq!(
                run_once(&c, Duration::from_secs(1), Some(version)).await,
                Ok(())
            );
            let got = server.await.unwrap();
            assert!(got.starts_with(&head), "{version:?}: {got:?}");
            assert!(got[head.len()..].starts_with(b"GET /health HTTP/1.0\r\n"));
        }
    }

    #[tokio::test]
    async fn http_get_status_and_digest() {
        // md5("hello") = 5d41402abc4b2a76b9719d911017c592
        let good = http_server("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").await;
        let missing = http_server("HTTP/1.1 404 Not Found\r\n\r\nnope").await;
        let md5 = "5d41402abc4b2a76b9719d911017c592";
        let t = Duration::from_secs(1);
        let c = |target, u| {
            check(CheckKind::Http {
                target,
                urls: vec![u],
            })
        };
        assert_eq!(
            run_once(&c(good, url(Some(200), Some(md5))), t, None).await,
            Ok(())
        );
        assert_eq!(run_once(&c(good, url(None, None)), t, None).await, Ok(()));
        let e = run_once(&c(good, url(Some(200), Some(&"0".repeat(32)))), t, None)
            .await
            .unwrap_err();
        assert!(e.contains(&format!("body digest {md5}")), "{e}");
        let e = run_once(&c(missing, url(None, None)), t, None)
            .await
            .unwrap_err();
        assert!(e.contains("status 404, expected 2xx"), "{e}");
        let e = run_once(&c(good, url(Some(204), None)), t, None)
            .await
            .unwrap_err();
        assert!(e.contains("status 200, expected 204"), "{e}");
    }

    #[tokio::test]
    async fn http_get_times_out_on_a_silent_server() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = v4(&l);
        // Accepts (the kernel does) but never answers.
        let mut c = check(CheckKind::Http {
            target: addr,
            urls: vec![url(None, None)],
        });
        c.connect_timeout = Duration::from_millis(100);
        let e = run_once(&c, Duration::from_secs(1), None)
            .await
            .unwrap_err();
        assert!(e.contains("no full answer in time"), "{e}");
        drop(l);
    }

    #[tokio::test]
    async fn misc_check_exit_status_and_timeout() {
        let m = |argv: &[&str], t: Option<u64>| {
            check(CheckKind::Misc {
                program: Program::new(argv.iter().map(|s| s.to_string()).collect()),
                timeout: t.map(Duration::from_millis),
                user: None,
            })
        };
        let d = Duration::from_secs(5);
        assert_eq!(run_once(&m(&["true"], None), d, None).await, Ok(()));
        let e = run_once(&m(&["false"], None), d, None).await.unwrap_err();
        assert!(e.contains("exited with"), "{e}");
        let e = run_once(&m(&["sh", "-c", "exit 3"], None), d, None)
            .await
            .unwrap_err();
        assert!(e.contains("exit status: 3"), "{e}");
        let e = run_once(&m(&["sleep", "5"], Some(100)), d, None)
            .await
            .unwrap_err();
        assert!(e.contains("did not finish"), "{e}");
        let e = run_once(&m(&["/nonexistent/check"], None), d, None)
            .await
            .unwrap_err();
        assert!(e.contains("cannot run"), "{e}");
    }

    #[tokio::test]
    async fn a_misc_check_runs_as_its_user() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("not root: the switch to nobody is not tried");
            return;
        }
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        let mut program = Program::new(vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("test \"$(id -u)\" = {}", nobody.uid),
        ]);
        program.user = Some(crate::config::ScriptUser {
            user: "nobody".into(),
            group: None,
        });
        let c = check(CheckKind::Misc {
            program,
            timeout: None,
            user: None,
        });
        assert_eq!(run_once(&c, Duration::from_secs(5), None).await, Ok(()));
    }

    #[tokio::test]
    async fn a_misc_check_that_times_out_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let c = check(CheckKind::Misc {
            program: hangs_with_a_grandchild(dir.path()),
            timeout: Some(Duration::from_millis(300)),
            user: None,
        });
        let e = run_once(&c, Duration::from_secs(5), None)
            .await
            .unwrap_err();
        assert!(e.contains("did not finish"), "{e}");
        let grandchild = pid_in(dir.path(), "grandchild").await;
        assert!(dies(grandchild).await, "the check's sleep 60 is killed too");
    }

    #[tokio::test]
    async fn notify_up_and_down_are_killed_after_their_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        notify_within(
            &hangs_with_a_grandchild(dir.path()),
            "real_server 10.0.0.1:80",
            Duration::from_millis(300),
        )
        .await
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(dies(pid_in(dir.path(), "leader").await).await);
        assert!(dies(pid_in(dir.path(), "grandchild").await).await);
    }
}
