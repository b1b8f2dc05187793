//! keepalived-compatible notify scripts: `notify_master`, `notify_backup`, `notify_fault`,
//! `notify_stop`, and `notify` with `INSTANCE|GROUP NAME STATE PRIORITY` appended.
//!
//! Each instance (and sync group) has one [`Notifier`] whose scripts run one at a time, in
//! the order the state changes happened (keepalived runs them concurrently, out of order).
//! Only the newest state waits: a state that is superseded while an earlier script still
//! runs is skipped (and logged), so a flapping instance never runs `notify_master` long
//! after it became backup, and nothing queues up without bound.
//! Arguments are passed as argv, never through a shell; scripts run through [`crate::exec`];
//! one that hangs is killed after [`TIMEOUT`] and logged; nothing it prints is read.

use std::time::Duration;

use std::sync::{Arc, Mutex};

use tokio::sync::Notify as Wakeup;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::{Notify, Program};
use crate::exec::{Job, NOTIFY_TIMEOUT};

/// A notify script still running after this is killed.
pub(crate) const TIMEOUT: Duration = NOTIFY_TIMEOUT;

/// What a notify belongs to, as the first argument of `notify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// A `vrrp_instance`.
    Instance,
    /// A `vrrp_sync_group`.
    Group,
}

impl Owner {
    fn as_str(self) -> &'static str {
        match self {
            Owner::Instance => "INSTANCE",
            Owner::Group => "GROUP",
        }
    }
}

/// The scripts of one instance or group, and the queue that runs them in order.
pub struct Notifier {
    owner: Owner,
    name: String,
    scripts: Jobs,
    queue: Option<Arc<Queue>>,
    runner: Option<JoinHandle<()>>,
}

/// [`Notify`]'s scripts, their users looked up.
struct Jobs {
    master: Option<Job>,
    backup: Option<Job>,
    fault: Option<Job>,
    stop: Option<Job>,
    any: Option<Job>,
}

/// The scripts of the newest state not yet started, and the runner's wake-up.
#[derive(Default)]
struct Queue {
    pending: Mutex<Pending>,
    wakeup: Wakeup,
}

#[derive(Default)]
struct Pending {
    /// The state the scripts are for, and the scripts.
    next: Option<(String, Vec<Job>)>,
    /// No more states will come: run what is pending, then stop.
    closed: bool,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Notifier {
    /// Starts the runner (none when no script is configured).
    pub(crate) fn new(owner: Owner, name: &str, scripts: Notify) -> Self {
        let (queue, runner) = if scripts.is_empty() {
            (None, None)
        } else {
            let queue = Arc::new(Queue::default());
            (
                Some(Arc::clone(&queue)),
                Some(tokio::spawn(run(name.to_string(), queue))),
            )
        };
        let job = |p: &Option<Program>| p.as_ref().map(Job::new);
        Self {
            owner,
            name: name.to_string(),
            scripts: Jobs {
                master: job(&scripts.master),
                backup: job(&scripts.backup),
                fault: job(&scripts.fault),
                stop: job(&scripts.stop),
                any: job(&scripts.any),
            },
            queue,
            runner,
        }
    }

    /// Queues the scripts for a new state (`MASTER`, `BACKUP`, `FAULT`, `STOP`): the specific
    /// one first, then `notify` with its four arguments, as keepalived orders them.
    pub(crate) fn state_changed(&self, state: &str, priority: u8) {
        let Some(queue) = &self.queue else {
            return;
        };
        let specific = match state {
            "MASTER" => &self.scripts.master,
            "BACKUP" => &self.scripts.backup,
            "FAULT" => &self.scripts.fault,
            "STOP" => &self.scripts.stop,
            _ => &None,
        };
        let mut scripts = Vec::new();
        if let Some(job) = specific {
            scripts.push(job.clone());
        }
        if let Some(job) = &self.scripts.any {
            scripts.push(job.clone().with_args([
                self.owner.as_str().to_string(),
                self.name.clone(),
                state.to_string(),
                priority.to_string(),
            ]));
        }
        if scripts.is_empty() {
            return;
        }
        let superseded = queue.lock().next.replace((state.to_string(), scripts));
        if let Some((old, _)) = superseded {
            info!(
                "{}: notify scripts for {old} skipped: the state is {state} before they could start",
                self.name
            );
        }
        queue.wakeup.notify_one();
    }

    /// Lets queued scripts finish (at most `bound`), then stops the runner.
    pub(crate) async fn finish(mut self, bound: Duration) {
        if let Some(queue) = self.queue.take() {
            queue.lock().closed = true;
            queue.wakeup.notify_one();
        }
        if let Some(runner) = self.runner.take()
            && tokio::time::timeout(bound, runner).await.is_err()
        {
            warn!(
                "{}: notify scripts still running after {bound:?}: left behind",
                self.name
            );
        }
    }
}

async fn run(name: String, queue: Arc<Queue>) {
    loop {
        let (next, closed) = {
            let mut p = queue.lock();
            (p.next.take(), p.closed)
        };
        match next {
            Some((_, scripts)) => {
                for job in scripts {
                    job.run_logged(&name, TIMEOUT).await;
                }
            }
            None if closed => return,
            None => queue.wakeup.notified().await,
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[tokio::test]
    async fn scripts_run_one_at_a_time_in_event_order_with_keepalived_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let sh = |what: &str| {
            Program::new(vec![
                "/bin/sh".into(),
                "-c".into(),
                // A random short sleep would reorder concurrent runs; ours must not.
                format!(
                    "sleep 0.0$(( $$ % 9 )); echo \"{what} $*\" >> {}",
                    log.display()
                ),
                "notify".into(),
            ])
        };
        let scripts = Notify {
            master: Some(sh("master")),
            backup: Some(sh("backup")),
            fault: None,
            stop: Some(sh("stop")),
            any: Some(sh("any")),
        };
        let n = Notifier::new(Owner::Instance, "VI_1", scripts);
        let lines = |n: usize| {
            let log = log.clone();
            async move {
                for _ in 0..500 {
                    let got = std::fs::read_to_string(&log).unwrap_or_default();
                    if got.lines().count() >= n {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!("fewer than {n} notify lines after 5 s");
            }
        };
        n.state_changed("BACKUP", 100);
        lines(2).await;
        n.state_changed("MASTER", 100);
        lines(4).await;
        n.state_changed("FAULT", 100);
        lines(5).await;
        n.state_changed("STOP", 100);
        n.finish(Duration::from_secs(10)).await;
        let got = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            got,
            "backup \nany INSTANCE VI_1 BACKUP 100\nmaster \nany INSTANCE VI_1 MASTER 100\n\
             any INSTANCE VI_1 FAULT 100\nstop \nany INSTANCE VI_1 STOP 100\n"
        );
    }

    #[tokio::test]
    async fn states_superseded_before_their_scripts_start_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let scripts = Notify {
            any: Some(Program::new(vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("sleep 0.3; echo \"$*\" >> {}", log.display()),
                "notify".into(),
            ])),
            ..Notify::default()
        };
        let n = Notifier::new(Owner::Instance, "VI_1", scripts);
        n.state_changed("MASTER", 100);
        tokio::time::sleep(Duration::from_millis(100)).await;
        // A flap while MASTER's script runs: only the newest state is still worth a script.
        for _ in 0..50 {
            n.state_changed("BACKUP", 90);
            n.state_changed("MASTER", 100);
        }
        n.state_changed("BACKUP", 80);
        n.finish(Duration::from_secs(10)).await;
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "INSTANCE VI_1 MASTER 100\nINSTANCE VI_1 BACKUP 80\n"
        );
    }

    #[tokio::test]
    async fn a_hung_script_is_killed_and_the_queue_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let scripts = Notify {
            master: Some(Program::new(vec!["/bin/sleep".into(), "60".into()])),
            backup: Some(Program::new(vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("echo after >> {}", log.display()),
            ])),
            ..Notify::default()
        };
        let n = Notifier::new(Owner::Group, "VG", scripts);
        let started = std::time::Instant::now();
        n.state_changed("MASTER", 100);
        // Started before BACKUP comes, so it is not skipped but killed.
        tokio::time::sleep(Duration::from_millis(200)).await;
        n.state_changed("BACKUP", 100);
        n.finish(TIMEOUT + Duration::from_secs(5)).await;
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "after\n");
        assert!(started.elapsed() < TIMEOUT + Duration::from_secs(3));
    }
}
