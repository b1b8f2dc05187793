//! In-place upgrade (`vipctl upgrade`, or SIGUSR2): vipd re-executes the binary now at the
//! path it started from (a package upgrade replaced it), with the same arguments and process
//! id. Nothing is released and no priority 0 is sent: each instance writes its record with
//! `handoff` set ([`crate::runstate`]), and the new process resumes from it at once (see
//! `resume`), so the peers never see the master go silent for long. Forwarded connections of
//! `virtual_server` pools do not survive the exec; their listeners are opened again.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::{error, info, warn};

use super::Daemon;
use crate::vrrp::instance::Command;

impl Daemon {
    /// The binary an upgrade would run, if it can: it exists and is a file.
    pub(super) fn upgrade_target(&self) -> Result<PathBuf, String> {
        let exe = self.options.exe.clone().ok_or_else(|| {
            "vipd does not know the path it was started from; restart it instead".to_string()
        })?;
        match std::fs::metadata(&exe) {
            Ok(m) if m.is_file() => Ok(exe),
            Ok(_) => Err(format!("{} is not a file", exe.display())),
            Err(e) => Err(format!("{}: {e}", exe.display())),
        }
    }

    /// Writes every instance's handoff record, then replaces this process with `exe`.
    /// Returns only when the exec failed (logged); vipd then runs on unchanged.
    pub(super) async fn upgrade(&self, exe: PathBuf, why: &str) {
        let mut waits = Vec::new();
        for r in &self.running {
            let (tx, rx) = oneshot::channel();
            if r.commands.send(Command::Freeze(tx)).await.is_ok() {
                waits.push(rx);
            }
        }
        for rx in waits {
            if tokio::time::timeout(Duration::from_secs(1), rx)
                .await
                .is_err()
            {
                warn!("{why}: an instance did not write its record within 1 s");
            }
        }
        info!(
            "{why}: re-executing {} in place; VIPs and roles are kept",
            exe.display()
        );
        let e = std::process::Command::new(&exe)
            .args(&self.options.args)
            .exec();
        error!(
            "{why}: cannot execute {}: {e}; vipd runs on unchanged",
            exe.display()
        );
    }
}
