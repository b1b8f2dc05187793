//! The checks that instances (VRRP and route) track (`vrrp_script`, `vrrp_track_file`,
//! `vrrp_track_process`, `track_interface`): each is started once, however many instances
//! track it, and shared through a watch channel; a reload keeps the ones whose definition
//! did not change.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;

use super::DaemonError;
use crate::config::{Config, Tracks};
use crate::net::addr::{LinkInfo, Netlink};
use crate::track::Tracked;
use crate::track::eval::Rule;
use crate::track::{CheckState, CheckWatch};

/// The checks instances track, each started once however many instances track it.
pub(super) struct Checks {
    config: Arc<Config>,
    started: HashMap<(&'static str, String), CheckWatch>,
    /// Tracked interfaces by name, updated from link events.
    interfaces: HashMap<String, watch::Sender<CheckState>>,
}

impl Checks {
    pub(super) fn new(config: &Config) -> Self {
        Self {
            config: Arc::new(config.clone()),
            started: HashMap::new(),
            interfaces: HashMap::new(),
        }
    }

    /// Everything instance `name` tracks, starting checks not started yet.
    pub(super) async fn tracked(
        &mut self,
        name: &str,
        inst: &Tracks,
        netlink: &Netlink,
    ) -> Result<Vec<Tracked>, DaemonError> {
        let c = Arc::clone(&self.config);
        let mut out = Vec::new();
        // Config validation guarantees every name exists.
        for r in &inst.track_script {
            let Some(s) = c.vrrp_script.iter().find(|s| s.name == r.name) else {
                continue;
            };
            let watch = self
                .shared("script", &s.name, async || {
                    crate::track::script::spawn(s.clone())
                })
                .await;
            let weight = r.weight.unwrap_or(s.weight);
            out.push(tracked(
                "check",
                "script",
                &s.name,
                Rule::Status { weight },
                watch,
            ));
        }
        for r in &inst.track_file {
            let Some(f) = c.vrrp_track_file.iter().find(|f| f.name == r.name) else {
                continue;
            };
            let watch = self
                .shared("file", &f.name, async || {
                    crate::track::file::spawn(f.name.clone(), f.file.clone()).await
                })
                .await;
            let weight = r.weight.unwrap_or(f.weight);
            out.push(tracked(
                "file",
                "file",
                &f.name,
                Rule::Value { weight },
                watch,
            ));
        }
        for r in &inst.track_process {
            let Some(p) = c.vrrp_track_process.iter().find(|p| p.name == r.name) else {
                continue;
            };
            let watch = self
                .shared("process", &p.name, async || {
                    crate::track::process::spawn(p.clone()).await
                })
                .await;
            let weight = r.weight.unwrap_or(p.weight);
            out.push(tracked(
                "process",
                "process",
                &p.name,
                Rule::Status { weight },
                watch,
            ));
        }
        for t in &inst.track_interface {
            let watch = match self.interfaces.get(&t.interface) {
                Some(tx) => tx.subscribe(),
                None => {
                    let link = super::resolve::lookup(netlink, name, &t.interface).await?;
                    let (tx, rx) = watch::channel(link_state(link.up));
                    self.interfaces.insert(t.interface.clone(), tx);
                    rx
                }
            };
            let rule = Rule::Status { weight: t.weight };
            out.push(tracked("interface", "interface", &t.interface, rule, watch));
        }
        Ok(out)
    }

    /// The check `kind` `name`, started on first use and shared by every instance after.
    /// Starting a file or process check waits for its first reading (at most a second), so
    /// an instance starts from what the check says, not from a default.
    async fn shared(
        &mut self,
        kind: &'static str,
        name: &str,
        start: impl AsyncFnOnce() -> CheckWatch,
    ) -> CheckWatch {
        let key = (kind, name.to_string());
        if let Some(watch) = self.started.get(&key) {
            return watch.clone();
        }
        let watch = start().await;
        self.started.insert(key, watch.clone());
        watch
    }

    /// Switches to a reloaded configuration: checks whose definition changed are started
    /// anew for whoever tracks them from now on (instances tracking them are restarted).
    pub(super) fn reconfigure(&mut self, new: &Config) {
        let old = Arc::clone(&self.config);
        self.started.retain(|(kind, name), _| match *kind {
            "script" => {
                find(&old.vrrp_script, name, |s| &s.name)
                    == find(&new.vrrp_script, name, |s| &s.name)
            }
            "file" => {
                find(&old.vrrp_track_file, name, |f| &f.name)
                    == find(&new.vrrp_track_file, name, |f| &f.name)
            }
            "process" => {
                find(&old.vrrp_track_process, name, |p| &p.name)
                    == find(&new.vrrp_track_process, name, |p| &p.name)
            }
            _ => false,
        });
        self.config = Arc::new(new.clone());
    }

    pub(super) fn link_changed(&self, link: &LinkInfo) {
        if let Some(tx) = self.interfaces.get(&link.name) {
            tx.send_if_modified(|s| {
                let changed = s.ok != link.up;
                *s = link_state(link.up);
                changed
            });
        }
    }
}

/// One tracked check as an instance holds it; `label` names it in logs ("check chk_nginx").
fn tracked(label: &str, kind: &'static str, name: &str, rule: Rule, watch: CheckWatch) -> Tracked {
    Tracked {
        source: format!("{label} {name}"),
        kind,
        rule,
        watch,
    }
}

fn link_state(up: bool) -> CheckState {
    CheckState {
        ok: up,
        value: 0,
        detail: if up { "up" } else { "down" }.to_string(),
    }
}

/// The item of `items` named `name`.
pub(super) fn find<'a, T>(
    items: &'a [T],
    name: &str,
    key: impl Fn(&T) -> &String,
) -> Option<&'a T> {
    items.iter().find(|i| key(i) == name)
}
