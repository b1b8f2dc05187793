//! What one run of vipd leaves for the next, one small JSON file per instance in the state
//! directory (`/run/vipd` by default, a tmpfs: a reboot forgets it): whether the instance was
//! master and which VIPs it had added itself. A restart (after `kill -9`, a crash, or an
//! in-place upgrade) reads it to tell its own leftovers from an administrator's addresses,
//! and keeps them instead of clearing them (see `daemon::resume`).
//!
//! Written atomically (a temporary file renamed over the old one) whenever the instance's
//! role or its VIPs change, by one thread of its own ([`Writer`]): the VRRP loop never waits
//! on a file system (a state directory on a busy disk stalled it for seconds in a test); a
//! missing, unreadable or foreign file means "nothing left".

use std::collections::HashMap;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The format's version: a file of another version is ignored.
const FORMAT: u32 = 1;

/// One instance as its run left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leftover {
    /// [`FORMAT`].
    pub format: u32,
    /// `virtual_router_id`: a file of another router is not ours.
    pub vrid: u8,
    /// The VRRP interface.
    pub interface: String,
    /// Master (holding its VIPs) when written.
    pub master: bool,
    /// The VIPs this run added itself (an address that was already there is not listed).
    pub vips: Vec<LeftVip>,
    /// Written just before an in-place upgrade re-executed vipd.
    #[serde(default)]
    pub handoff: bool,
    /// When written, in milliseconds since the epoch.
    pub at_unix_ms: u64,
}

/// One VIP a run added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftVip {
    /// The address.
    pub addr: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// The interface it went on.
    pub dev: String,
}

impl Leftover {
    /// A record of now.
    pub fn new(vrid: u8, interface: &str, master: bool, vips: Vec<LeftVip>) -> Self {
        Self {
            format: FORMAT,
            vrid,
            interface: interface.to_string(),
            master,
            vips,
            handoff: false,
            at_unix_ms: unix_ms(),
        }
    }

    /// How long ago it was written (zero if the clock went back).
    pub fn age_ms(&self) -> u64 {
        unix_ms().saturating_sub(self.at_unix_ms)
    }
}

/// How often a master writes its record again, so that the record's age says how long it
/// has been silent: its advert interval, but not more often than every 100 ms (a file write
/// on tmpfs each time).
pub fn heartbeat(advert_int: Duration) -> Duration {
    advert_int.max(Duration::from_millis(100))
}

/// The file of instance `name` in `dir`, named after the daemon's `tag` (its control
/// socket's name, so that several vipds sharing a directory keep apart) and the instance's
/// name with anything but letters, digits, `-`, `_` and `.` replaced, so that no instance
/// name reaches outside `dir`.
pub fn path_for(dir: &Path, tag: &str, name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{tag}.instance-{safe}.json"))
}

/// Writes `record` to `path` atomically.
pub fn write(path: &Path, record: &Leftover) -> io::Result<()> {
    let text = serde_json::to_vec(record).map_err(io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, text)?;
    fs::rename(&tmp, path)
}

/// The thread that writes records: [`Writer::submit`] hands it the newest record of a file
/// and returns at once; a record not yet written when a newer one comes is replaced by it.
#[derive(Debug, Clone)]
pub struct Writer {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// The newest record of each file not written yet.
    queue: Mutex<HashMap<PathBuf, Leftover>>,
    ready: Condvar,
    /// Held while writing, by the thread or by [`Writer::write_now`], so that an older record
    /// never lands after a newer one.
    io: Mutex<()>,
}

impl Writer {
    /// The process's writer, its thread started on first use.
    pub fn global() -> &'static Writer {
        static WRITER: OnceLock<Writer> = OnceLock::new();
        WRITER.get_or_init(|| {
            let writer = Writer {
                shared: Arc::new(Shared::default()),
            };
            let shared = Arc::clone(&writer.shared);
            let spawned = std::thread::Builder::new()
                .name("vipd-records".into())
                .spawn(move || write_forever(&shared));
            if let Err(e) = spawned {
                tracing::warn!("cannot start the thread that writes restart records: {e}");
            }
            writer
        })
    }

    /// Queues `record` for `path`, replacing one queued before it.
    pub fn submit(&self, path: PathBuf, record: Leftover) {
        lock(&self.shared.queue).insert(path, record);
        self.shared.ready.notify_one();
    }

    /// Writes `record` to `path` now, dropping what was queued for it (the last record
    /// before vipd re-executes itself).
    pub fn write_now(&self, path: &Path, record: &Leftover) -> io::Result<()> {
        let _io = lock(&self.shared.io);
        lock(&self.shared.queue).remove(path);
        write(path, record)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn write_forever(shared: &Shared) {
    // When each file last failed: one warning a minute each, not one per advert.
    let mut failed: HashMap<PathBuf, Instant> = HashMap::new();
    loop {
        {
            let mut pending = lock(&shared.queue);
            while pending.is_empty() {
                pending = shared
                    .ready
                    .wait(pending)
                    .unwrap_or_else(|p| p.into_inner());
            }
        }
        let _io = lock(&shared.io);
        let batch = std::mem::take(&mut *lock(&shared.queue));
        for (path, record) in batch {
            match write(&path, &record) {
                Ok(()) => {
                    failed.remove(&path);
                }
                Err(e) => {
                    let quiet = failed
                        .get(&path)
                        .is_some_and(|at| at.elapsed() < Duration::from_secs(60));
                    if !quiet {
                        tracing::warn!(
                            "cannot write {}: {e}; a restart will not keep this instance's VIPs",
                            path.display()
                        );
                        failed.insert(path, Instant::now());
                    }
                }
            }
        }
    }
}

/// Reads the record at `path`: `None` when there is none, or it is unreadable or of another
/// format (a restart then starts as any start does).
pub fn read(path: &Path) -> Option<Leftover> {
    // A record is a few hundred bytes; a bigger file is not ours.
    let meta = fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 64 * 1024 {
        return None;
    }
    let record: Leftover = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
    (record.format == FORMAT).then_some(record)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_names_stay_inside_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), "vipd.sock", "../VI 1/x");
        assert_eq!(path.parent(), Some(dir.path()));
        assert_eq!(
            path.file_name().unwrap(),
            "vipd.sock.instance-.._VI_1_x.json"
        );
        assert_eq!(read(&path), None, "nothing written yet");
        let vip = LeftVip {
            addr: "10.0.0.100".parse().unwrap(),
            prefix_len: 32,
            dev: "eth0".into(),
        };
        let record = Leftover::new(51, "eth0", true, vec![vip]);
        write(&path, &record).unwrap();
        assert_eq!(read(&path), Some(record));
        assert!(read(&path).unwrap().age_ms() < 60_000);
    }

    #[test]
    fn the_writer_writes_the_newest_record_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.json");
        let first = Leftover::new(51, "eth0", false, Vec::new());
        let newest = Leftover::new(51, "eth0", true, Vec::new());
        Writer::global().submit(path.clone(), first);
        Writer::global().submit(path.clone(), newest.clone());
        let deadline = Instant::now() + Duration::from_secs(5);
        while read(&path).as_ref() != Some(&newest) {
            assert!(Instant::now() < deadline, "not written within 5 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn garbage_another_format_or_a_huge_file_is_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        fs::write(&path, b"{not json").unwrap();
        assert_eq!(read(&path), None);
        let mut record = Leftover::new(51, "eth0", true, Vec::new());
        record.format = 2;
        fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
        assert_eq!(read(&path), None);
        fs::write(&path, vec![b' '; 100_000]).unwrap();
        assert_eq!(read(&path), None);
    }
}
