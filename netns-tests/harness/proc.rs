//! Processes the lab starts: each in its own process group (so keepalived's children go with
//! it), signalled only by the ids we got from spawn, and only while not yet reaped (a zombie
//! keeps its id reserved, so a signal can never reach a stranger that reused it).

use std::collections::HashSet;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;

/// Process-group ids started by one lab and not yet reaped.
pub type Registry = Arc<Mutex<HashSet<i32>>>;

fn lock(r: &Registry) -> std::sync::MutexGuard<'_, HashSet<i32>> {
    r.lock().unwrap_or_else(|e| e.into_inner())
}

/// Spawns `cmd` as leader of a new process group, registered in `registry`. The child is also
/// told to die (SIGKILL) if the spawning thread goes away without cleaning up.
pub fn spawn_group(registry: &Registry, cmd: &mut Command) -> std::io::Result<Child> {
    cmd.process_group(0);
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    lock(registry).insert(child.id() as i32);
    Ok(child)
}

/// True when `child` has exited; it is NOT reaped, so its id stays ours.
pub fn has_exited(child: &Child) -> bool {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    match waitid(Id::Pid(Pid::from_raw(child.id() as i32)), flags) {
        Ok(WaitStatus::StillAlive) => false,
        Ok(_) => true,
        Err(Errno::EINTR) => false,
        Err(_) => true,
    }
}

/// Sends `sig` to the leader only (keepalived's parent forwards SIGTERM to its children).
pub fn signal_leader(child: &Child, sig: Signal) {
    if !has_exited(child) {
        let _ = kill(Pid::from_raw(child.id() as i32), sig);
    }
}

/// Waits up to `timeout` for the leader to exit, without reaping it.
pub fn wait_exit(child: &Child, timeout: Duration) -> bool {
    let start = Instant::now();
    while !has_exited(child) {
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// SIGKILLs the whole group (leader still unreaped, so the id is ours), then reaps the leader.
pub fn kill_group_and_reap(registry: &Registry, mut child: Child) -> std::process::ExitStatus {
    let pgid = child.id() as i32;
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    lock(registry).remove(&pgid);
    child.wait().expect("wait for a child we spawned")
}

/// SIGKILLs every group still registered (used by the lab's drop guard).
pub fn kill_all(registry: &Registry) {
    for pgid in lock(registry).iter() {
        let _ = killpg(Pid::from_raw(*pgid), Signal::SIGKILL);
    }
}
