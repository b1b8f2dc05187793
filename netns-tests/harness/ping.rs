//! What the user feels: a 10 ms ping to the VIP from the client namespace, and the longest
//! silence between two replies around an event.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::proc::{Registry, kill_group_and_reap};

/// Wall-clock seconds since the epoch: the clock of ping's `-D` timestamps.
pub fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Parses one line of `ping -D` output; `Some(timestamp)` for a reply line.
pub fn parse_reply(line: &str) -> Option<f64> {
    let rest = line.strip_prefix('[')?;
    let (ts, tail) = rest.split_once(']')?;
    if !tail.contains(" bytes from ") {
        return None;
    }
    ts.trim().parse().ok()
}

/// The `icmp_seq` of a reply line of `ping -D`.
pub fn parse_seq(line: &str) -> Option<u64> {
    parse_reply(line)?;
    let rest = &line[line.find("icmp_seq=")? + "icmp_seq=".len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Longest silence in `[from, to]` between successive replies (epoch seconds, sorted). The
/// reply just before `from` and just after `to` close the window; with none there, the window
/// edge stands in, so a VIP that never answers again yields `to - last reply`.
pub fn longest_gap(replies: &[f64], from: f64, to: f64) -> Duration {
    let mut points = Vec::new();
    let first_in = replies.partition_point(|&t| t < from);
    points.push(if first_in > 0 {
        replies[first_in - 1]
    } else {
        from
    });
    let mut i = first_in;
    while i < replies.len() && replies[i] <= to {
        points.push(replies[i]);
        i += 1;
    }
    points.push(replies.get(i).copied().unwrap_or(to));
    let max = points
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(0.0_f64, f64::max);
    Duration::from_secs_f64(max.max(0.0))
}

/// A running `ping -i 0.01 -D -O -w DEADLINE VIP` in the client namespace.
pub struct Pinger {
    child: Option<Child>,
    registry: Registry,
    replies: Arc<Mutex<Vec<f64>>>,
    /// (timestamp, icmp_seq) of every reply.
    seqs: Arc<Mutex<Vec<(f64, u64)>>>,
    reader: Option<JoinHandle<()>>,
}

impl Pinger {
    pub(crate) fn spawn(mut child: Child, registry: Registry) -> Pinger {
        let stdout: ChildStdout = child.stdout.take().expect("ping stdout is piped");
        let replies = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&replies);
        let seqs = Arc::new(Mutex::new(Vec::new()));
        let seq_sink = Arc::clone(&seqs);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(ts) = parse_reply(&line) {
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push(ts);
                    if let Some(seq) = parse_seq(&line) {
                        seq_sink
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((ts, seq));
                    }
                }
            }
        });
        Pinger {
            child: Some(child),
            registry,
            replies,
            seqs,
            reader: Some(reader),
        }
    }

    /// A copy of every reply timestamp so far (epoch seconds, in arrival order).
    pub fn replies(&self) -> Vec<f64> {
        self.replies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The share of pings lost among those sent between the first and the last reply in
    /// `[from, to]`: `(unanswered, sent)` by `icmp_seq`.
    pub fn lost_between(&self, from: f64, to: f64) -> (u64, u64) {
        let seqs = self.seqs.lock().unwrap_or_else(|e| e.into_inner());
        let mut got: Vec<u64> = seqs
            .iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .map(|&(_, s)| s)
            .collect();
        got.sort_unstable();
        got.dedup();
        match (got.first(), got.last()) {
            (Some(&lo), Some(&hi)) => {
                let sent = hi - lo + 1;
                (sent - got.len() as u64, sent)
            }
            _ => (0, 0),
        }
    }

    /// Longest silence between replies in `[from, to]` (epoch seconds).
    pub fn longest_gap(&self, from: f64, to: f64) -> Duration {
        let mut r = self.replies();
        r.sort_by(f64::total_cmp);
        longest_gap(&r, from, to)
    }

    /// Waits until a reply stamped after `after` (epoch seconds) arrives; false on timeout.
    pub fn wait_reply_after(&self, after: f64, timeout: Duration) -> bool {
        let start = Instant::now();
        loop {
            if self.replies().iter().any(|&t| t > after) {
                return true;
            }
            if start.elapsed() >= timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops ping and returns every reply timestamp.
    pub fn stop(mut self) -> Vec<f64> {
        self.shutdown();
        self.replies()
    }

    fn shutdown(&mut self) {
        if let Some(child) = self.child.take() {
            kill_group_and_reap(&self.registry, child);
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        self.shutdown();
    }
}
