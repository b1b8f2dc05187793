//! `vrrp_track_file`: the integer in a file (the maintenance-file pattern), read twice a
//! second on the check's own thread (see [`super::poll`]). A missing or unreadable file, or
//! one without a number, reads as 0, as in keepalived.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::info;

use super::poll::{self, Check};
use super::{CheckState, CheckWatch};

/// How often the file is read.
const PERIOD: Duration = Duration::from_millis(500);

/// The value a file's text stands for, and how it was read.
pub fn parse(text: Option<&str>) -> (i64, String) {
    match text {
        None => (0, "missing (reads as 0)".to_string()),
        Some(t) => match t.split_whitespace().next().map(str::parse::<i64>) {
            Some(Ok(v)) => (v, format!("reads {v}")),
            Some(Err(_)) => (0, "not a number (reads as 0)".to_string()),
            None => (0, "empty (reads as 0)".to_string()),
        },
    }
}

/// Reads `path` once: its value and how it was read.
pub fn read(path: &Path) -> (i64, String) {
    parse(std::fs::read_to_string(path).ok().as_deref())
}

/// Starts watching `file`, once its first read is in (or has taken too long); it runs
/// until the watch's last reader is gone.
pub async fn spawn(name: String, file: PathBuf) -> CheckWatch {
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
    use super::*;

    #[test]
    fn values_as_keepalived_reads_them() {
        assert_eq!(parse(Some("1\n")).0, 1);
        assert_eq!(parse(Some("-20 maintenance")).0, -20);
        assert_eq!(parse(Some("")).0, 0);
        assert_eq!(parse(Some("on")).0, 0);
        assert_eq!(parse(None), (0, "missing (reads as 0)".to_string()));
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
