//! `vrrp_track_process`: counts running processes by name from /proc four times a second,
//! without forking anything, on the check's own thread (see [`super::poll`]): reading the
//! command line of a process stuck in the kernel can wait as long as that process does.

use std::time::Duration;

use tracing::info;

use super::poll::{self, Check};
use super::{CheckState, CheckWatch};
use crate::config::TrackProcess;

/// How often /proc is scanned.
const PERIOD: Duration = Duration::from_millis(250);

/// The kernel cuts process names (comm) to 15 bytes.
const COMM_LEN: usize = 15;

/// Whether one process matches: its name (comm), or with `full_command` its command line
/// (arguments joined by spaces).
fn matches(track: &TrackProcess, comm: &str, cmdline: Option<&str>) -> bool {
    if track.full_command {
        return cmdline.is_some_and(|c| c == track.process);
    }
    let want = track
        .process
        .char_indices()
        .nth(COMM_LEN)
        .map_or(track.process.as_str(), |(i, _)| &track.process[..i]);
    comm == want
}

/// How many processes in /proc match.
fn count(track: &TrackProcess) -> u32 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut n = 0;
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue; // gone meanwhile
        };
        if is_zombie(pid) {
            // Dead, not yet reaped: a killed nginx's workers stay zombies until init reaps
            // them, which a container's init may do seconds later or never.
            continue;
        }
        let cmdline = track.full_command.then(|| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| {
                    String::from_utf8_lossy(&b)
                        .trim_end_matches('\0')
                        .replace('\0', " ")
                })
                .unwrap_or_default()
        });
        if matches(track, comm.trim_end_matches('\n'), cmdline.as_deref()) {
            n += 1;
        }
    }
    n
}

/// True when process `pid` has exited and waits to be reaped (state Z or X in its stat line,
/// the field after the parenthesised name, which may itself hold spaces and parentheses).
fn is_zombie(pid: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true; // gone meanwhile
    };
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|st| st == "Z" || st == "X")
}

fn state(track: &TrackProcess, running: u32) -> CheckState {
    CheckState {
        ok: running >= track.quorum,
        value: 0,
        detail: format!("{running} running, {} needed", track.quorum),
    }
}

/// Starts counting, once the first count is in (or has taken too long); it runs until the
/// watch's last reader is gone. Until a first count, no process counts as running.
pub(crate) async fn spawn(track: TrackProcess) -> CheckWatch {
    let name = track.name.clone();
    let check = Check {
        thread: format!("proc {name}"),
        what: "the scan of /proc".to_string(),
        period: PERIOD,
        fallback: state(&track, 0),
        read: move || state(&track, count(&track)),
    };
    poll::spawn(check, move |old, new| {
        if new.ok != old.ok {
            info!(
                "vrrp_track_process {name}: {} ({})",
                if new.ok { "running" } else { "not running" },
                new.detail
            );
        }
    })
    .await
}

#[cfg(test)]
mod test {
    use super::*;

    fn track(process: &str, full_command: bool) -> TrackProcess {
        TrackProcess {
            name: "p".into(),
            process: process.into(),
            weight: 0,
            quorum: 1,
            full_command,
        }
    }

    #[test]
    fn names_match_as_the_kernel_cuts_them() {
        assert!(matches(&track("nginx", false), "nginx", None));
        assert!(!matches(&track("nginx", false), "nginx-debug", None));
        assert!(matches(
            &track("a-very-long-process-name", false),
            "a-very-long-pro",
            None
        ));
        assert!(matches(
            &track("nginx: master process", true),
            "nginx",
            Some("nginx: master process")
        ));
    }

    #[test]
    fn counts_real_processes() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        // spawn() can return before the kernel renames the child (comm is set late in exec).
        let comm = format!("/proc/{}/comm", child.id());
        let started = std::time::Instant::now();
        while std::fs::read_to_string(&comm).unwrap_or_default() != "sleep\n" {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "child never became sleep"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut t = track("sleep", false);
        assert!(count(&t) >= 1);
        t.process = "no-such-proc-xyz".into();
        assert_eq!(count(&t), 0);
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_zombie_is_not_running() {
        // A copy of sleep under a name no other process has.
        let dir = tempfile::tempdir().unwrap();
        let name = format!("zz{}", std::process::id());
        let bin = dir.path().join(&name);
        std::fs::copy("/bin/sleep", &bin).unwrap();
        let mut child = std::process::Command::new(&bin).arg("30").spawn().unwrap();
        let t = track(&name, false);
        let started = std::time::Instant::now();
        while count(&t) != 1 {
            assert!(started.elapsed() < Duration::from_secs(5), "never counted");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Killed and not reaped: a zombie until the wait below.
        child.kill().unwrap();
        let pid = child.id().to_string();
        while !is_zombie(&pid) {
            assert!(started.elapsed() < Duration::from_secs(5), "never a zombie");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(count(&t), 0, "a zombie counted as running");
        child.wait().unwrap();
    }
}
