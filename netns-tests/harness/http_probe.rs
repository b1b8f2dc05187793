//! What a user of a routed VIP feels: a client loop of short HTTP requests (a new TCP connection
//! each, so each one is routed, and hashed over ECMP paths, on its own), every request's start,
//! end and the host that answered, and what a scenario asks of them: who served after an
//! event, how long nobody did, how many requests failed.
//!
//! The loop runs on a thread of its own inside the client's namespace, bounded in count and
//! time by its caller.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::epoch_now;

/// One request: epoch seconds at its start and end, and the host (0 = h1) whose page came
/// back, or `None` when it failed or timed out.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// When the connection was opened.
    pub start: f64,
    /// When the answer was read (or the request gave up).
    pub end: f64,
    /// The answering host's index, from the page's body (`h1` = 0).
    pub host: Option<usize>,
}

/// A running probe; [`Probe::finish`] stops it and hands back its samples.
pub struct Probe {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Sample>>>,
}

/// Settings of a probe loop.
#[derive(Clone, Copy, Debug)]
pub struct ProbeOpts {
    /// Pause between the end of one request and the start of the next.
    pub every: Duration,
    /// Bound on each request's connect and each read or write: a request to a dead host fails
    /// after it instead of waiting for TCP's 1 s SYN retry.
    pub timeout: Duration,
    /// The loop stops by itself after this long.
    pub max: Duration,
}

impl Probe {
    /// Starts requesting `http://addr/` from the namespace at `netns_path` (a file under
    /// /var/run/netns) as `opts` says.
    pub fn start(netns_path: String, addr: SocketAddr, opts: ProbeOpts) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let ns = std::fs::File::open(&netns_path)
                .unwrap_or_else(|e| panic!("open {netns_path}: {e}"));
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("setns {netns_path}: {e}"));
            let deadline = Instant::now() + opts.max;
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                let start = epoch_now();
                let host = request(addr, opts.timeout);
                samples.push(Sample {
                    start,
                    end: epoch_now(),
                    host,
                });
                std::thread::sleep(opts.every);
            }
            samples
        });
        Probe {
            stop,
            thread: Some(thread),
        }
    }

    /// Lets the loop run its course (`max`) and returns every sample, oldest first.
    pub fn wait(mut self) -> Samples {
        let thread = self.thread.take().expect("probe thread");
        Samples(
            thread
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
        )
    }

    /// Stops the loop and returns every sample, oldest first.
    pub fn finish(mut self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.take().expect("probe thread");
        Samples(
            thread
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
        )
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One `GET /` over a new connection; the host named by the body (`h1` -> 0, `h2` -> 1).
fn request(addr: SocketAddr, timeout: Duration) -> Option<usize> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n").ok()?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).ok()?;
    let text = String::from_utf8_lossy(&answer);
    if !text.starts_with("HTTP/1.1 200") {
        return None;
    }
    let body = text.split("\r\n\r\n").nth(1)?.trim();
    let n: usize = body.strip_prefix('h')?.parse().ok()?;
    n.checked_sub(1)
}

/// A finished probe's samples, oldest first.
#[derive(Clone, Debug)]
pub struct Samples(pub Vec<Sample>);

impl Samples {
    /// Requests that got no page.
    pub fn failures(&self) -> usize {
        self.0.iter().filter(|s| s.host.is_none()).count()
    }

    /// How many requests each host answered (index = host).
    pub fn served_by(&self) -> [usize; 2] {
        let mut n = [0; 2];
        for s in &self.0 {
            if let Some(h) = s.host
                && h < 2
            {
                n[h] += 1;
            }
        }
        n
    }

    /// The samples that started at or after `t`.
    pub fn since(&self, t: f64) -> Samples {
        Samples(self.0.iter().copied().filter(|s| s.start >= t).collect())
    }

    /// Seconds from `t` until the end of the first request started after `t` that `host`
    /// answered, if one did.
    pub fn first_from(&self, host: usize, t: f64) -> Option<f64> {
        self.0
            .iter()
            .find(|s| s.start >= t && s.host == Some(host))
            .map(|s| s.end - t)
    }

    /// Seconds from `t` until the last request `host` answered that started after `t`: how
    /// long it kept serving after an event.
    pub fn last_from(&self, host: usize, t: f64) -> Option<f64> {
        self.0
            .iter()
            .rev()
            .find(|s| s.start >= t && s.host == Some(host))
            .map(|s| s.end - t)
    }

    /// Longest time in `[from, last sample]` with no answered request: from one answer's end to
    /// the next one's end (so a failed request and its timeout count as silence).
    pub fn longest_gap(&self, from: f64) -> f64 {
        let mut last = from;
        let mut gap = 0.0_f64;
        for s in self.0.iter().filter(|s| s.end >= from) {
            if s.host.is_some() {
                gap = gap.max(s.end - last);
                last = s.end;
            }
        }
        if let Some(end) = self.0.last().map(|s| s.end) {
            gap = gap.max(end - last);
        }
        gap
    }

    /// When the failed requests started, in seconds after `t`, for failure messages.
    pub fn failed_after(&self, t: f64) -> Vec<String> {
        self.0
            .iter()
            .filter(|s| s.host.is_none())
            .map(|s| format!("{:+.3} ({:.3} s)", s.start - t, s.end - s.start))
            .collect()
    }

    /// A short account for failure messages: the requests around `t` (one line each).
    pub fn around(&self, t: f64, window: f64) -> String {
        self.0
            .iter()
            .filter(|s| (s.start - t).abs() <= window)
            .map(|s| {
                let who = s.host.map_or("-".to_string(), |h| format!("h{}", h + 1));
                format!("{:+.3} {:.3}s {who}", s.start - t, s.end - s.start)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}
