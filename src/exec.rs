//! The one way vipd starts a program: `vrrp_script` checks, notify scripts, `MISC_CHECK` and
//! `notify_up` / `notify_down` all run as a [`Job`], and each gets the same treatment:
//!
//! - **The file the load checked.** [`Program::path`] is executed, with `argv[0]` as written:
//!   never a name looked up in PATH again, so nothing put in its place after the check runs.
//! - **Its user.** [`Program::user`] (a `vrrp_script`'s or `MISC_CHECK`'s own `user`, else
//!   `script_user`): uid and gid are switched and supplementary groups dropped, as keepalived
//!   does by default.
//! - **A process group of its own.** At the timeout the whole group is killed (SIGKILL), so a
//!   hung script's children die with it, and the program is reaped. What it leaves running
//!   after ending by itself is its own business, as in keepalived. A job dropped unfinished
//!   (its task cancelled) kills its group the same way.
//! - **Descriptors 0, 1 and 2 on /dev/null, no others.** vipd opens every descriptor
//!   close-on-exec (Rust's default); any it inherited from whoever started it is marked so
//!   between fork and exec, with close_range(2) as keepalived does.
//! - **A clean environment:** `PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`
//!   plus `LANG`, `LANGUAGE`, `LC_*` and `TZ` when vipd has them; nothing else. keepalived
//!   hands its scripts its own environment (less `IFS`, `LD_PRELOAD` and `LD_LIBRARY_PATH`);
//!   started by systemd, that is systemd's PATH (this one), the locale and systemd's own
//!   bookkeeping. This is what a script written for keepalived finds there, wherever vipd was
//!   started from, and no secret in vipd's environment reaches a script.
//! - **A bounded wait:** every run has a timeout; notify scripts [`NOTIFY_TIMEOUT`].
//!
//! This is the one module besides `net` allowed `unsafe`: the hook that runs between fork and
//! exec has no safe form, and close_range(2) no safe wrapper.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tracing::{debug, warn};

use crate::config::{Argv, Program, ScriptUser};

/// A notify script (of an instance, a group or a real server) still running after this is
/// killed.
pub(crate) const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// The PATH programs run with: systemd's default for services.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long a killed group's leader is waited for; one that does not die (stuck in the
/// kernel) is left to tokio, which reaps it in the background when it does.
const REAP_WAIT: Duration = Duration::from_secs(1);

/// Where close_range(2) is missing (Linux before 5.11), descriptors below this are marked
/// one by one: those a launcher leaves open are low; vipd's own are close-on-exec already.
const FALLBACK_FDS: libc::c_int = 1024;

/// A program ready to run, any number of times.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    path: PathBuf,
    argv: Argv,
    user: RunAs,
}

/// Who a job runs as.
#[derive(Debug, Clone)]
enum RunAs {
    /// vipd's own user.
    Vipd,
    /// This uid and gid.
    Ids(u32, u32),
    /// A user or group that could not be found: every run fails with this.
    Unknown(String),
}

/// How one run ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// It ended by itself (or by a signal someone else sent).
    Exited(ExitStatus),
    /// It was still running at the timeout, and its process group was killed.
    TimedOut(Duration),
    /// It could not be started, or not waited for: why, naming the program.
    Failed(String),
}

impl Outcome {
    /// Exit status 0.
    pub(crate) fn success(&self) -> bool {
        matches!(self, Outcome::Exited(status) if status.success())
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Exited(status) => match (status.code(), status.signal()) {
                (Some(code), _) => write!(f, "exit status {code}"),
                (None, Some(sig)) => write!(f, "killed by signal {sig}"),
                (None, None) => write!(f, "ended without a status"),
            },
            Outcome::TimedOut(after) => {
                write!(f, "timed out after {:.1} s, killed", after.as_secs_f64())
            }
            Outcome::Failed(why) => f.write_str(why),
        }
    }
}

impl Job {
    /// Looks the program's user up once, so that a check run every second does not repeat
    /// it (user databases can be slow or remote).
    pub(crate) fn new(program: &Program) -> Self {
        Self {
            path: program.path.clone(),
            argv: program.argv.clone(),
            user: program.user.as_ref().map_or(RunAs::Vipd, resolve),
        }
    }

    /// The same job with `args` appended (notify's `INSTANCE NAME STATE PRIORITY`).
    pub(crate) fn with_args(mut self, args: impl IntoIterator<Item = String>) -> Self {
        self.argv.extend(args);
        self
    }

    /// The command line, for logs.
    pub(crate) fn shown(&self) -> String {
        self.argv.join(" ")
    }

    /// Runs the program once, for at most `timeout`.
    pub(crate) async fn run(&self, timeout: Duration) -> Outcome {
        let Some((name, args)) = self.argv.split_first() else {
            return Outcome::Failed("empty command".into());
        };
        let mut cmd = tokio::process::Command::new(&self.path);
        cmd.arg0(name)
            .args(args)
            .env_clear()
            .envs(environment())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        match &self.user {
            RunAs::Vipd => {}
            RunAs::Ids(uid, gid) => {
                cmd.uid(*uid).gid(*gid);
            }
            RunAs::Unknown(why) => return Outcome::Failed(why.clone()),
        }
        close_inherited_at_exec(&mut cmd);
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => return Outcome::Failed(format!("cannot run {}: {e}", self.path.display())),
        };
        let mut group = Group(child);
        match tokio::time::timeout(timeout, group.0.wait()).await {
            Ok(Ok(status)) => Outcome::Exited(status),
            Ok(Err(e)) => Outcome::Failed(format!("waiting for {}: {e}", self.path.display())),
            Err(_) => {
                group.kill();
                let _ = tokio::time::timeout(REAP_WAIT, group.0.wait()).await;
                Outcome::TimedOut(timeout)
            }
        }
    }

    /// Runs a program nobody waits on for a verdict (a notify script) and logs how it
    /// ended: a failure or a hang as a warning. `what` names whose script it is.
    pub(crate) async fn run_logged(&self, what: &str, timeout: Duration) {
        let outcome = self.run(timeout).await;
        let shown = self.shown();
        match outcome {
            Outcome::Exited(_) if outcome.success() => {
                debug!("{what}: notify `{shown}`: {outcome}")
            }
            Outcome::TimedOut(_) => warn!("{what}: notify `{shown}` hung: {outcome}"),
            _ => warn!("{what}: notify `{shown}` failed: {outcome}"),
        }
    }
}

/// A started child, leading its own process group.
struct Group(tokio::process::Child);

impl Group {
    /// Kills the whole group, unless the leader was already reaped (then its pid, which
    /// names the group, may belong to someone else by now).
    fn kill(&self) {
        if let Some(pid) = self.0.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

impl Drop for Group {
    /// A run abandoned half-way (its task cancelled) takes its group with it.
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a program's environment holds: [`PATH`], and vipd's locale and time zone.
fn environment() -> impl Iterator<Item = (OsString, OsString)> {
    let kept = |name: &OsStr| {
        name == "LANG"
            || name == "LANGUAGE"
            || name == "TZ"
            || name.as_encoded_bytes().starts_with(b"LC_")
    };
    std::iter::once((OsString::from("PATH"), OsString::from(PATH)))
        .chain(std::env::vars_os().filter(move |(name, _)| kept(name)))
}

/// Closes every descriptor but 0, 1 and 2 at exec, whatever vipd inherited.
#[allow(unsafe_code)]
fn close_inherited_at_exec(cmd: &mut tokio::process::Command) {
    // SAFETY: the hook runs in the child between fork and exec, where only async-signal-safe
    // calls may be made: close_range(2) and fcntl(2) are single system calls that neither
    // allocate nor lock.
    unsafe {
        cmd.pre_exec(|| {
            let marked = libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            if marked != 0 {
                for fd in 3..FALLBACK_FDS {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
            Ok(())
        });
    }
}

/// uid and gid for `USER [GROUP]`, or why there are none.
fn resolve(u: &ScriptUser) -> RunAs {
    if u.user != "root" && !nix::unistd::geteuid().is_root() {
        warn!(
            "scripts can only run as {} when vipd runs as root; they will fail to start",
            u.user
        );
    }
    match credentials(u) {
        Ok((uid, gid)) => RunAs::Ids(uid, gid),
        Err(why) => RunAs::Unknown(why),
    }
}

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
pub(crate) mod test {
    use super::*;

    /// `/bin/sh -c LINE`, run as vipd's user.
    pub(crate) fn sh(line: &str) -> Program {
        Program::new(vec!["/bin/sh".into(), "-c".into(), line.into()])
    }

    /// A shell line that writes its own pid to `DIR/leader` and that of a child it leaves in
    /// the background (a grandchild of vipd, in the same process group) to `DIR/grandchild`,
    /// then hangs.
    pub(crate) fn hangs_with_a_grandchild(dir: &std::path::Path) -> Program {
        let d = dir.display();
        sh(&format!(
            "sleep 60 & echo $! > {d}/grandchild.tmp; mv {d}/grandchild.tmp {d}/grandchild; \
             echo $$ > {d}/leader.tmp; mv {d}/leader.tmp {d}/leader; wait"
        ))
    }

    /// The pid a [`hangs_with_a_grandchild`] wrote to `DIR/what`, once it is there.
    pub(crate) async fn pid_in(dir: &std::path::Path, what: &str) -> i32 {
        for _ in 0..500 {
            if let Ok(text) = std::fs::read_to_string(dir.join(what)) {
                return text.trim().parse().unwrap();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no {what} pid after 5 s");
    }

    /// The state letter of `pid` in /proc (`Z` = a zombie), or `None` when there is no such
    /// process.
    fn state(pid: i32) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(')')?.1.trim_start().chars().next()
    }

    /// Waits up to 2 s for `pid` to be dead: gone, or a zombie waiting for init to reap it
    /// (the parent of an orphan is init's business, not vipd's).
    pub(crate) async fn dies(pid: i32) -> bool {
        for _ in 0..200 {
            if matches!(state(pid), None | Some('Z')) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn exit_status_and_timeout() {
        let t = Duration::from_secs(5);
        let run = |p: Program| async move {
            let o = Job::new(&p).run(t).await;
            (o.success(), o.to_string())
        };
        assert_eq!(run(sh("exit 0")).await, (true, "exit status 0".into()));
        assert_eq!(run(sh("exit 7")).await, (false, "exit status 7".into()));
        assert_eq!(
            run(sh("kill -9 $$")).await,
            (false, "killed by signal 9".into())
        );
        let (ok, detail) = run(sh("echo lots; yes | head -c 100000 >&2; exit 0")).await;
        assert!(ok, "output is discarded: {detail}");
        let started = std::time::Instant::now();
        let o = Job::new(&sh("sleep 30 & sleep 30"))
            .run(Duration::from_millis(300))
            .await;
        assert!(!o.success());
        assert_eq!(o.to_string(), "timed out after 0.3 s, killed");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "did not wait for the sleep"
        );
        let (ok, detail) = run(Program::new(vec!["/no/such/check".into()])).await;
        assert!(
            !ok && detail.starts_with("cannot run /no/such/check"),
            "{detail}"
        );
    }

    #[tokio::test]
    async fn the_checked_file_runs_with_argv0_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        // A name no PATH holds: only the path can have run.
        let p = Program {
            argv: vec![
                "no-such-program-xyz".into(),
                "-c".into(),
                format!("head -c 22 /proc/$$/cmdline > {}", out.display()),
            ],
            path: "/bin/sh".into(),
            user: None,
        };
        let o = Job::new(&p).run(Duration::from_secs(5)).await;
        assert!(o.success(), "{o}");
        assert_eq!(std::fs::read(&out).unwrap(), b"no-such-program-xyz\0-c");
    }

    #[tokio::test]
    async fn a_timeout_kills_the_group_and_reaps_the_program() {
        let dir = tempfile::tempdir().unwrap();
        let o = Job::new(&hangs_with_a_grandchild(dir.path()))
            .run(Duration::from_millis(300))
            .await;
        assert!(matches!(o, Outcome::TimedOut(_)), "{o}");
        let leader = pid_in(dir.path(), "leader").await;
        assert_eq!(state(leader), None, "the program is reaped, no zombie");
        let grandchild = pid_in(dir.path(), "grandchild").await;
        assert!(dies(grandchild).await, "the group's sleep 60 is killed too");
    }

    #[tokio::test]
    async fn a_run_abandoned_half_way_kills_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let job = Job::new(&hangs_with_a_grandchild(dir.path()));
        let run = tokio::spawn(async move { job.run(Duration::from_secs(60)).await });
        let leader = pid_in(dir.path(), "leader").await;
        let grandchild = pid_in(dir.path(), "grandchild").await;
        run.abort();
        assert!(run.await.unwrap_err().is_cancelled());
        assert!(dies(leader).await);
        assert!(dies(grandchild).await);
    }

    #[tokio::test]
    async fn the_environment_is_clean() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env");
        // /proc/$$/environ is what the program was started with, before the shell adds its own.
        let o = Job::new(&sh(&format!(
            "tr '\\0' '\\n' < /proc/$$/environ > {}",
            out.display()
        )))
        .run(Duration::from_secs(5))
        .await;
        assert!(o.success(), "{o}");
        let got: Vec<String> = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        let mut want = vec![format!("PATH={PATH}")];
        let mut dropped = Vec::new();
        for (name, value) in std::env::vars() {
            if name == "LANG" || name == "LANGUAGE" || name == "TZ" || name.starts_with("LC_") {
                want.push(format!("{name}={value}"));
            } else if name != "PATH" {
                dropped.push(name);
            }
        }
        assert!(
            !dropped.is_empty(),
            "the test process has variables to leave out"
        );
        let (mut got_sorted, mut want_sorted) = (got.clone(), want);
        got_sorted.sort();
        want_sorted.sort();
        assert_eq!(got_sorted, want_sorted);
        for name in dropped {
            assert!(
                !got.iter().any(|l| l.starts_with(&format!("{name}="))),
                "{name} leaked"
            );
        }
    }

    #[tokio::test]
    async fn only_descriptors_0_1_2_are_open_all_on_dev_null() {
        // A descriptor vipd inherited without close-on-exec, as a careless launcher leaves one.
        let leaked = nix::unistd::dup(std::io::stderr()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        // The shell says who it is, then becomes `sleep` with the descriptors it was given.
        let job = Job::new(&sh(&format!(
            "echo $$ > {d}/pid.tmp; mv {d}/pid.tmp {d}/pid; exec sleep 5"
        )));
        let run = tokio::spawn(async move { job.run(Duration::from_secs(10)).await });
        let pid = pid_in(dir.path(), "pid").await;
        let fd_dir = format!("/proc/{pid}/fd");
        for _ in 0..500 {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "sleep" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut open: Vec<(String, String)> = std::fs::read_dir(&fd_dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let to = std::fs::read_link(e.path()).unwrap();
                (
                    e.file_name().to_string_lossy().into(),
                    to.display().to_string(),
                )
            })
            .collect();
        open.sort();
        run.abort();
        drop(leaked);
        let null = "/dev/null".to_string();
        assert_eq!(
            open,
            [
                ("0".into(), null.clone()),
                ("1".into(), null.clone()),
                ("2".into(), null)
            ]
        );
    }

    #[tokio::test]
    async fn runs_as_the_programs_user() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("id");
        let mut p = sh(&format!(
            "id -u > {o}; id -g >> {o}; id -G >> {o}",
            o = out.display()
        ));
        p.user = Some(ScriptUser {
            user: "no-such-user-xyz".into(),
            group: None,
        });
        let o = Job::new(&p).run(Duration::from_secs(5)).await;
        assert_eq!(o.to_string(), "no such user `no-such-user-xyz`");
        if !nix::unistd::geteuid().is_root() {
            eprintln!("not root: the switch to nobody is not tried");
            return;
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        p.user = Some(ScriptUser {
            user: "nobody".into(),
            group: None,
        });
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        let o = Job::new(&p).run(Duration::from_secs(5)).await;
        assert!(o.success(), "{o}");
        let (uid, gid) = (nobody.uid.as_raw(), nobody.gid.as_raw());
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            format!("{uid}\n{gid}\n{gid}\n"),
            "uid, gid, and no supplementary group of root's"
        );
    }
}
