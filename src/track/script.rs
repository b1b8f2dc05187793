//! `vrrp_script`: runs a check program every `interval`, kills it after `timeout`, and
//! turns exit statuses into a healthy/failed state with keepalived's `rise` and `fall`.
//!
//! The program runs directly (argv, no shell), with no stdin and its output discarded, in
//! its own process group so a hung check and its children are killed together.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use super::{CheckState, CheckWatch};
use crate::config::{ScriptUser, VrrpScript};

/// keepalived's rise/fall counting: a state changes only after enough results in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiseFall {
    rise: u32,
    fall: u32,
    ok: bool,
    /// Results in a row that disagree with `ok`.
    against: u32,
}

impl RiseFall {
    /// Starts healthy, or failed with `init_fail`.
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> Self {
        Self {
            rise: rise.max(1),
            fall: fall.max(1),
            ok: !init_fail,
            against: 0,
        }
    }

    /// The current state.
    pub fn ok(&self) -> bool {
        self.ok
    }

    /// Records one result; returns true when the state changed.
    pub fn record(&mut self, success: bool) -> bool {
        if success == self.ok {
            self.against = 0;
            return false;
        }
        self.against += 1;
        let needed = if self.ok { self.fall } else { self.rise };
        if self.against >= needed {
            self.ok = success;
            self.against = 0;
            return true;
        }
        false
    }

    /// Results in a row against the current state.
    pub fn against(&self) -> u32 {
        self.against
    }
}

/// Starts the check; it runs until the returned watch's last reader is gone.
pub fn spawn(script: VrrpScript, user: Option<ScriptUser>) -> CheckWatch {
    let counter = RiseFall::new(script.rise, script.fall, script.init_fail);
    let (tx, rx) = watch::channel(CheckState::initial(counter.ok()));
    tokio::spawn(run(script, resolve(user.as_ref()), counter, tx));
    rx
}

async fn run(
    script: VrrpScript,
    user: RunAs,
    mut counter: RiseFall,
    tx: watch::Sender<CheckState>,
) {
    let mut ticker = tokio::time::interval(script.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = tx.closed() => return,
        }
        let (success, detail) = run_once(&script.script.argv, &user, script.timeout).await;
        let changed = counter.record(success);
        if changed {
            let (from, to) = if counter.ok() {
                ("FAILED", "OK")
            } else {
                ("OK", "FAILED")
            };
            info!("vrrp_script {}: {from} -> {to} ({detail})", script.name);
        } else if !success && counter.ok() {
            info!(
                "vrrp_script {}: failed ({detail}), {} of {} failures before it counts",
                script.name,
                counter.against(),
                script.fall
            );
        }
        let state = CheckState {
            ok: counter.ok(),
            value: 0,
            detail,
        };
        // Only a change of state is news; a new detail alone is not worth waking instances.
        tx.send_if_modified(|current| {
            let news = current.ok != state.ok;
            *current = state;
            news
        });
    }
}

/// Runs the program once: (exit status 0, what happened).
pub async fn run_once(argv: &[String], user: &RunAs, timeout: Duration) -> (bool, String) {
    let Some((program, args)) = argv.split_first() else {
        return (false, "empty command".to_string());
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    match user {
        Some(Ok((uid, gid))) => {
            cmd.uid(*uid).gid(*gid);
        }
        Some(Err(why)) => return (false, why.clone()),
        None => {}
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (false, format!("cannot run {program}: {e}")),
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => match (status.code(), status.signal()) {
            (Some(0), _) => (true, "exit status 0".to_string()),
            (Some(code), _) => (false, format!("exit status {code}")),
            (None, Some(sig)) => (false, format!("killed by signal {sig}")),
            (None, None) => (false, "ended without a status".to_string()),
        },
        Ok(Err(e)) => (false, format!("wait failed: {e}")),
        Err(_) => {
            kill_group(&child);
            let _ = child.wait().await;
            (
                false,
                format!("timed out after {:.1} s, killed", timeout.as_secs_f64()),
            )
        }
    }
}

/// Kills the child's whole process group (it leads its own).
pub fn kill_group(child: &tokio::process::Child) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ =
            nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
    }
}

/// Who a program runs as: `None` = vipd's own user; otherwise its uid and gid, or why they
/// could not be found (then every run fails with that reason).
pub type RunAs = Option<Result<(u32, u32), String>>;

/// Looks `USER [GROUP]` up once, so checks that run every second do not repeat it.
pub fn resolve(user: Option<&ScriptUser>) -> RunAs {
    let u = user?;
    if u.user != "root" && !nix::unistd::geteuid().is_root() {
        warn!(
            "scripts can only run as {} when vipd runs as root; they will fail to start",
            u.user
        );
    }
    Some(credentials(u))
}

/// uid and gid for `USER [GROUP]`.
fn credentials(u: &ScriptUser) -> Result<(u32, u32), String> {
    let user = nix::unistd::User::from_name(&u.user)
        .ok()
        .flatten()
        .ok_or_else(|| format!("no such user `{}`", u.user))?;
    let gid = match &u.group {
        Some(g) => {
            nix::unistd::Group::from_name(g)
                .ok()
                .flatten()
                .ok_or_else(|| format!("no such group `{g}`"))?
                .gid
        }
        None => user.gid,
    };
    Ok((user.uid.as_raw(), gid.as_raw()))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn fall_needs_failures_in_a_row() {
        let mut rf = RiseFall::new(1, 2, false);
        assert!(!rf.record(false));
        assert!(rf.ok());
        assert!(!rf.record(true), "a success resets the count");
        assert!(!rf.record(false));
        assert!(rf.record(false));
        assert!(!rf.ok());
    }

    #[test]
    fn rise_needs_successes_in_a_row() {
        let mut rf = RiseFall::new(3, 1, true);
        assert!(!rf.ok(), "init_fail starts failed");
        assert!(!rf.record(true));
        assert!(!rf.record(true));
        assert!(!rf.record(false), "a failure resets the count");
        assert!(!rf.record(true));
        assert!(!rf.record(true));
        assert!(rf.record(true));
        assert!(rf.ok());
    }

    #[tokio::test]
    async fn exit_status_and_timeout() {
        let sh = |s: &str| vec!["/bin/sh".to_string(), "-c".to_string(), s.to_string()];
        let t = Duration::from_secs(5);
        assert_eq!(
            run_once(&sh("exit 0"), &None, t).await,
            (true, "exit status 0".into())
        );
        assert_eq!(
            run_once(&sh("exit 7"), &None, t).await,
            (false, "exit status 7".into())
        );
        let (ok, detail) =
            run_once(&sh("echo lots; yes | head -c 100000 >&2; exit 0"), &None, t).await;
        assert!(ok, "output is discarded: {detail}");
        let started = std::time::Instant::now();
        let (ok, detail) = run_once(
            &sh("sleep 30 & sleep 30"),
            &None,
            Duration::from_millis(300),
        )
        .await;
        assert!(!ok);
        assert_eq!(detail, "timed out after 0.3 s, killed");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "did not wait for the sleep"
        );
        let (ok, detail) = run_once(&["/no/such/check".to_string()], &None, t).await;
        assert!(
            !ok && detail.starts_with("cannot run /no/such/check"),
            "{detail}"
        );
    }
}
