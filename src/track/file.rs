//! `vrrp_track_file`: the integer in a file (the maintenance-file pattern), read twice a
//! second on the check's own thread (see [`super::poll`]). A missing or unreadable file, or
//! one without a number, reads as 0, as in keepalived.
//!
//! Like keepalived, the file is opened non-blocking and only its first 128 bytes are read, so
//! a FIFO or a device cannot hold the read: a FIFO reads what a writer has put in it since
//! the last look (consuming it) and 0 when nothing is there, at once; `/dev/zero` reads as
//! "not a number". Only a file system that does not answer (a hung NFS mount) can still
//! hold the read, and then just this check's thread waits.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::info;

use super::poll::{self, Check};
use super::{CheckState, CheckWatch};

/// How often the file is read.
const PERIOD: Duration = Duration::from_millis(500);

/// How much of the file is read: keepalived reads 127 bytes; a number needs far fewer.
const READ_LIMIT: u64 = 128;

/// The value a file's text stands for, and how it was read.
fn parse(text: Option<&str>) -> (i64, String) {
    match text {
        None => (0, "missing (reads as 0)".to_string()),
        Some(t) => match t.split_whitespace().next().map(str::parse::<i64>) {
            Some(Ok(v)) => (v, format!("reads {v}")),
            Some(Err(_)) => (0, "not a number (reads as 0)".to_string()),
            None => (0, "empty (reads as 0)".to_string()),
        },
    }
}

/// Reads `path` once, without waiting on a FIFO or a device: its value and how it was read.
fn read(path: &Path) -> (i64, String) {
    let Ok(file) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    else {
        return parse(None);
    };
    let fifo = file.metadata().is_ok_and(|m| m.file_type().is_fifo());
    let mut bytes = Vec::new();
    match File::take(file, READ_LIMIT).read_to_end(&mut bytes) {
        Ok(_) => {}
        // A FIFO with a writer and nothing written yet: what is there is all there is.
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Err(_) => return parse(None),
    }
    if fifo && bytes.is_empty() {
        return (
            0,
            "a FIFO with nothing written to it (reads as 0)".to_string(),
        );
    }
    parse(Some(&String::from_utf8_lossy(&bytes)))
}

/// Starts watching `file`, once its first read is in (or has taken too long); it runs
/// until the watch's last reader is gone.
pub(crate) async fn spawn(name: String, file: PathBuf) -> CheckWatch {
    let check = Check {
        thread: format!("file {name}"),
        what: format!("the read of {}", file.display()),
        period: PERIOD,
        fallback: state(parse(None)),
        read: move || state(read(&file)),
    };
    poll::spawn(check, move |old, new| {
        if new.value != old.value {
            info!("vrrp_track_file {name}: {}", new.detail);
        }
    })
    .await
}

fn state((value, detail): (i64, String)) -> CheckState {
    CheckState {
        ok: true,
        value,
        detail,
    }
}

#[cfg(test)]
mod test {
    use std::io::Write;
    use std::time::Duration;

    use nix::sys::stat::Mode;

    use super::super::poll::testing::{longest_tick_gap, within};
    use super::*;

    #[test]
    fn values_as_keepalived_reads_them() {
        assert_eq!(parse(Some("1\n")).0, 1);
        assert_eq!(parse(Some("-20 maintenance")).0, -20);
        assert_eq!(parse(Some("")).0, 0);
        assert_eq!(parse(Some("on")).0, 0);
        assert_eq!(parse(None), (0, "missing (reads as 0)".to_string()));
    }

    fn fifo(dir: &tempfile::TempDir) -> PathBuf {
        let path = dir.path().join("maint");
        nix::unistd::mkfifo(&path, Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
        path
    }

    /// A FIFO nobody writes at the tracked path: the check reads it as 0 at once, and the
    /// runtime (current-thread, as vipd's) keeps its rhythm while it is watched.
    #[test]
    fn a_fifo_nobody_writes_does_not_stop_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = fifo(&dir);
        let (state, gap) = within(Duration::from_secs(10), async move || {
            let rx = spawn("maint".into(), path).await;
            // Two seconds: four reads of the FIFO.
            let gap = longest_tick_gap(Duration::from_secs(2)).await;
            let state = rx.borrow().clone();
            (state, gap)
        });
        assert!(
            gap < Duration::from_millis(200),
            "the runtime stalled {gap:?}"
        );
        assert_eq!(state.value, 0);
        assert_eq!(
            state.detail,
            "a FIFO with nothing written to it (reads as 0)"
        );
    }

    /// What a writer put in the FIFO is read; the next look finds it gone.
    #[test]
    fn a_fifo_reads_what_was_written_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = fifo(&dir);
        // Read-write: opening does not wait for a reader, and the FIFO has a writer.
        let mut writer = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let reads = within(Duration::from_secs(5), async move || {
            let empty = read(&path).0;
            writer.write_all(b"-20\n").unwrap();
            (empty, read(&path), read(&path).0)
        });
        assert_eq!(reads.0, 0, "a writer, nothing written: no wait");
        assert_eq!(reads.1, (-20, "reads -20".to_string()));
        assert_eq!(reads.2, 0, "consumed");
    }

    /// A device that never ends is read as its first bytes, not to the end.
    #[test]
    fn an_endless_device_reads_as_its_first_bytes() {
        let (value, detail) = within(Duration::from_secs(5), async || {
            read(Path::new("/dev/zero"))
        });
        assert_eq!((value, detail.as_str()), (0, "not a number (reads as 0)"));
    }

    #[test]
    fn a_plain_file_and_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("maint");
        assert_eq!(read(&path), parse(None));
        std::fs::write(&path, "1\n").unwrap();
        assert_eq!(read(&path), (1, "reads 1".to_string()));
    }
}
