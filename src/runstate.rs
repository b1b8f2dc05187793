//! What one run of vipd leaves for the next, one small JSON file per instance in the state
//! directory (`/run/vipd` by default, a tmpfs: a reboot forgets it): whether the instance was
//! master and which VIPs it had added itself. A restart (after `kill -9`, a crash, or an
//! in-place upgrade) reads it to tell its own leftovers from an administrator's addresses,
//! and keeps them instead of clearing them (see `daemon::resume`).
//!
//! Written atomically (a temporary file renamed over the old one) whenever the instance's
//! role or its VIPs change; a missing, unreadable or foreign file means "nothing left".

use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
