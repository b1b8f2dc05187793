//! `vrrp_track_file`: the integer in a file (the maintenance-file pattern), read twice a
//! second. A missing or unreadable file, or one without a number, reads as 0, as in keepalived.

use std::path::PathBuf;
use std::time::Duration;

use tracing::info;

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

/// Starts watching `file`; it runs until the watch's last reader is gone.
pub fn spawn(name: String, file: PathBuf) -> CheckWatch {
    let read = move || parse(std::fs::read_to_string(&file).ok().as_deref());
    let (value, detail) = read();
    let initial = CheckState {
        ok: true,
        value,
        detail,
    };
    super::poll(PERIOD, initial, move |current| {
        let (value, detail) = read();
        (value != current.value).then(|| {
            info!("vrrp_track_file {name}: {detail}");
            CheckState {
                ok: true,
                value,
                detail,
            }
        })
    })
}

#[cfg(test)]
mod test {
    use super::parse;

    #[test]
    fn values_as_keepalived_reads_them() {
        assert_eq!(parse(Some("1\n")).0, 1);
        assert_eq!(parse(Some("-20 maintenance")).0, -20);
        assert_eq!(parse(Some("")).0, 0);
        assert_eq!(parse(Some("on")).0, 0);
        assert_eq!(parse(None), (0, "missing (reads as 0)".to_string()));
    }
}
