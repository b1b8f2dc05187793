//! Reload (SIGHUP or `vipctl reload`), all or nothing: the new file is loaded, validated and
//! resolved against the kernel (interfaces, sockets, listeners) before anything running
//! changes; then each instance is left alone, given its new VIP list, restarted, added or
//! removed, and the forwarder's pools are switched.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use tracing::{info, warn};

use super::checks::find;
use super::{Daemon, Running, bind_vips, group_notifiers, group_of, remove_vmac, shutdown};
use crate::config::{Config, Tracks, VrrpInstance};
use crate::control::proto::ReloadSummary;
use crate::metrics;
use crate::vip;
use crate::vrrp::instance::{BoundVip, Command, Setup};

/// How a reload treats one instance of the new file.
enum Plan {
    /// Same configuration: left alone.
    Unchanged(usize),
    /// Only the VIP list changed: the running instance adds and removes the difference.
    Vips(usize, Vec<BoundVip>),
    /// Other settings changed: stopped, then started from this setup.
    Restart(Box<Setup>),
    /// New: started from this setup.
    Add(Box<Setup>),
}

/// How long a reload waits for the file (and its includes) to be read and checked.
const LOAD_BOUND: Duration = Duration::from_secs(10);

/// Loads the file on a thread of its own: the runtime's one thread also sends every
/// instance's adverts, and a file on a hung NFS mount (or a FIFO in an include) must not
/// stop them. A load that does not finish within `bound` refuses the reload; its thread is
/// left to finish or hang alone.
async fn load_off_thread(
    path: &std::path::Path,
    options: &crate::config::LoadOptions,
    bound: Duration,
) -> Result<crate::config::Loaded, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let shown = path.display().to_string();
    let refused = |why: String| {
        format!("{why}\nreload refused: the running configuration is unchanged ({shown})")
    };
    let (path, options) = (path.to_path_buf(), options.clone());
    let spawned = std::thread::Builder::new()
        .name("vipd-reload".into())
        .spawn(move || {
            let _ = tx.send(crate::config::load_with(&path, &options));
        });
    if let Err(e) = spawned {
        return Err(refused(format!("cannot start a thread to read it: {e}")));
    }
    match tokio::time::timeout(bound, rx).await {
        Ok(Ok(Ok(loaded))) => Ok(loaded),
        Ok(Ok(Err(e))) => Err(format!(
            "{e}\nreload refused: {shown} is not valid; the running configuration is unchanged"
        )),
        Ok(Err(_)) => Err(refused("reading it failed (its thread ended)".into())),
        Err(_) => Err(refused(format!(
            "reading it did not finish within {:.1} s (a hung mount, a FIFO?)",
            bound.as_secs_f64()
        ))),
    }
}

impl Daemon {
    /// Re-reads the configuration file and applies it, all or nothing: the new file is
    /// loaded, validated and resolved against the kernel (interfaces, sockets, metrics
    /// listener) before anything running is touched. Unchanged instances keep running as
    /// they are: no VIP removal, no gratuitous ARP, no election.
    pub(super) async fn reload(&mut self) -> Result<ReloadSummary, String> {
        let path = self.options.config_path.clone();
        let loaded = match load_off_thread(&path, &self.options.load, LOAD_BOUND).await {
            Ok(l) => l,
            Err(message) => {
                warn!("{message}");
                return Err(message);
            }
        };
        let new = loaded.config;
        let mut summary = ReloadSummary {
            warnings: loaded.warnings.iter().map(|w| w.to_string()).collect(),
            ..ReloadSummary::default()
        };
        for w in &summary.warnings {
            warn!("{w}");
        }

        // Resolve everything new first; an error here leaves the running daemon untouched.
        let mut plans = Vec::new();
        self.checks.reconfigure(&new);
        for inst in &new.instances {
            let old = self.running.iter().position(|r| r.config.name == inst.name);
            let deps = dependencies_unchanged(&self.config, &new, inst);
            let plan = match old {
                Some(i) if deps && self.running[i].config == *inst => Ok(Plan::Unchanged(i)),
                Some(i) if deps && same_but_vips(&self.running[i].config, inst) => {
                    bind_vips(inst, &self.netlink)
                        .await
                        .map(|vips| Plan::Vips(i, vips))
                }
                Some(_) => self
                    .setup(inst, &new)
                    .await
                    .map(|s| Plan::Restart(Box::new(s))),
                None => self.setup(inst, &new).await.map(|s| Plan::Add(Box::new(s))),
            };
            match plan {
                Ok(p) => plans.push(p),
                Err(e) => {
                    return Err(self.refuse(&e.to_string()));
                }
            }
        }
        let route_plans = match self.reload_routes(&new).await {
            Ok(p) => p,
            Err(e) => return Err(self.refuse(&e.to_string())),
        };
        let pools = match self.lb.prepare(&new.virtual_servers) {
            Ok(p) => p,
            Err(e) => return Err(self.refuse(&e.to_string())),
        };
        let mut metrics = None;
        if let Some(addr) = new.metrics_listen
            && new.metrics_listen != self.metrics.as_ref().map(|m| m.addr)
        {
            match metrics::bind(addr).await {
                Ok(l) => metrics = Some((addr, l)),
                Err(e) => {
                    return Err(self.refuse(&e.to_string()));
                }
            }
        }

        // Apply. First stop what goes away or restarts, so that VRIDs and VIPs are free.
        let keep: BTreeSet<usize> = plans
            .iter()
            .filter_map(|p| match p {
                Plan::Unchanged(i) | Plan::Vips(i, _) => Some(*i),
                Plan::Restart(..) | Plan::Add(_) => None,
            })
            .collect();
        let mut old: Vec<Option<Running>> = std::mem::take(&mut self.running)
            .into_iter()
            .map(Some)
            .collect();
        let mut stopping = Vec::new();
        for (i, slot) in old.iter_mut().enumerate() {
            if !keep.contains(&i)
                && let Some(r) = slot.take()
            {
                if !new.instances.iter().any(|n| n.name == r.config.name) {
                    summary.removed.push(r.config.name.clone());
                }
                stopping.push(r);
            }
        }
        for vmac in shutdown(stopping, "reload").await {
            // A restarted instance adopted its macvlan already (and takes over what to
            // restore on the base); only those no longer configured go.
            let adopter = plans.iter_mut().find_map(|p| match p {
                Plan::Restart(s) | Plan::Add(s) => s
                    .vmac
                    .as_mut()
                    .filter(|v| v.name == vmac.name && v.base == vmac.base),
                Plan::Unchanged(_) | Plan::Vips(..) => None,
            });
            match adopter {
                Some(v) => v.base_before = v.base_before.or(vmac.base_before),
                None => remove_vmac(&self.netlink, &vmac).await,
            }
        }
        let held: Vec<IpAddr> = keep
            .iter()
            .filter_map(|&i| old[i].as_ref())
            .flat_map(|r| r.view.vips.iter().map(|&(_, a)| a))
            .collect();
        for plan in plans {
            match plan {
                Plan::Unchanged(i) => {
                    if let Some(r) = old[i].take() {
                        summary.unchanged.push(r.config.name.clone());
                        self.running.push(r);
                    }
                }
                Plan::Vips(i, vips) => {
                    if let Some(mut r) = old[i].take() {
                        let name = r.config.name.clone();
                        if let Some(inst) = new.instances.iter().find(|n| n.name == name) {
                            r.config = inst.clone();
                        }
                        r.view.vips = vips.iter().map(|v| (v.ifindex, v.addr)).collect();
                        let _ = r.commands.send(Command::UpdateVips(vips)).await;
                        summary.vips_changed.push(name);
                        self.running.push(r);
                    }
                }
                Plan::Restart(setup) => {
                    summary.restarted.push(setup.config.name.clone());
                    let running = self.start(*setup);
                    self.running.push(running);
                }
                Plan::Add(setup) => {
                    let stale: Vec<BoundVip> = setup
                        .vips
                        .iter()
                        .filter(|v| !held.contains(&v.addr))
                        .cloned()
                        .collect();
                    vip::clear_stale(&setup.config.name, &stale, &self.netlink).await;
                    summary.added.push(setup.config.name.clone());
                    let running = self.start(*setup);
                    self.running.push(running);
                }
            }
        }
        let [added, removed, changed, unchanged] = self.apply_routes(route_plans).await;
        summary.unchanged.extend(unchanged);
        summary.added.extend(added);
        summary.removed.extend(removed);
        summary.routes_changed = changed;
        self.maintenance.retain(|name| {
            (new.instances.iter().any(|n| &n.name == name))
                || new.route_instances.iter().any(|n| &n.name == name)
        });
        if new.metrics_listen != self.metrics.as_ref().map(|m| m.addr) {
            self.metrics = metrics.map(|(addr, l)| self.serve_metrics(addr, l));
        }
        if new.vrrp_sync_group != self.config.vrrp_sync_group
            || new.script_user != self.config.script_user
        {
            let old = std::mem::replace(&mut self.group_notifiers, group_notifiers(&new));
            for (_, n) in old {
                n.finish(crate::notify::TIMEOUT).await;
            }
        }
        let pools = self.lb.apply(pools);
        summary.pools_unchanged = pools.unchanged;
        summary.pools_changed = pools.changed;
        summary.pools_added = pools.added;
        summary.pools_removed = pools.removed;
        self.config = new;
        self.publish();
        info!(
            "reloaded {}: {} unchanged, {} added, {} removed, {} with new VIPs, {} restarted; \
             virtual servers: {} unchanged, {} changed, {} added, {} removed",
            path.display(),
            summary.unchanged.len(),
            summary.added.len(),
            summary.removed.len(),
            summary.vips_changed.len(),
            summary.restarted.len(),
            summary.pools_unchanged.len(),
            summary.pools_changed.len(),
            summary.pools_added.len(),
            summary.pools_removed.len()
        );
        Ok(summary)
    }

    /// Abandons a reload after the checks were switched to the new file: back to the
    /// running one. Returns the message for the caller, also logged.
    fn refuse(&mut self, why: &str) -> String {
        let running = self.config.clone();
        self.checks.reconfigure(&running);
        let message = format!("reload refused: {why}; the running configuration is unchanged");
        warn!("{message}");
        message
    }
}

/// True when two instance configurations differ at most in their VIP lists.
fn same_but_vips(a: &VrrpInstance, b: &VrrpInstance) -> bool {
    let mut a = a.clone();
    a.virtual_ipaddress = b.virtual_ipaddress.clone();
    a == *b
}

/// True when nothing `inst` depends on outside its own block changed between `old` and
/// `new`: the checks it tracks, its sync group, the script user of its notify scripts.
fn dependencies_unchanged(old: &Config, new: &Config, inst: &VrrpInstance) -> bool {
    checks_unchanged(old, new, &inst.tracks())
        && group_of(&old.vrrp_sync_group, &inst.name) == group_of(&new.vrrp_sync_group, &inst.name)
        && old.script_user == new.script_user
}

/// True when the checks of `tracks` are defined the same in `old` and `new`.
pub(super) fn checks_unchanged(old: &Config, new: &Config, inst: &Tracks) -> bool {
    let scripts = inst.track_script.iter().all(|r| {
        find(&old.vrrp_script, &r.name, |s| &s.name) == find(&new.vrrp_script, &r.name, |s| &s.name)
    });
    let files = inst.track_file.iter().all(|r| {
        find(&old.vrrp_track_file, &r.name, |f| &f.name)
            == find(&new.vrrp_track_file, &r.name, |f| &f.name)
    });
    let processes = inst.track_process.iter().all(|r| {
        find(&old.vrrp_track_process, &r.name, |p| &p.name)
            == find(&new.vrrp_track_process, &r.name, |p| &p.name)
    });
    scripts && files && processes
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::config::{VirtualIp, VrrpInstance};
    use std::net::Ipv4Addr;

    /// A config path that blocks on open (a FIFO nobody writes) refuses the reload within
    /// the bound, and the runtime's thread keeps running meanwhile.
    #[tokio::test(flavor = "current_thread")]
    async fn a_file_that_blocks_refuses_the_reload_without_stopping_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("keepalived.conf");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counter = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let options = crate::config::LoadOptions::default();
        let started = std::time::Instant::now();
        let err = load_off_thread(&fifo, &options, Duration::from_millis(400))
            .await
            .expect_err("a FIFO nobody writes cannot load");
        ticker.abort();
        assert!(err.contains("did not finish within 0.4 s"), "{err}");
        assert!(err.contains("running configuration is unchanged"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
        let n = ticks.load(std::sync::atomic::Ordering::Relaxed);
        assert!(n >= 10, "the runtime stalled: {n} ticks of 10 ms in 400 ms");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_invalid_file_is_refused_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keepalived.conf");
        std::fs::write(&path, "vrrp_instance VI_1 {\n  priority x\n}\n").unwrap();
        let options = crate::config::LoadOptions::default();
        let err = load_off_thread(&path, &options, LOAD_BOUND)
            .await
            .err()
            .unwrap();
        assert!(
            err.contains("is not valid; the running configuration is unchanged"),
            "{err}"
        );
        assert!(err.contains(":2"), "the error names the line: {err}");
    }

    fn vip(last: u8) -> VirtualIp {
        VirtualIp {
            addr: Ipv4Addr::new(10, 0, 0, last).into(),
            prefix_len: 32,
            dev: None,
            label: None,
        }
    }

    #[test]
    fn a_vip_list_change_is_applied_in_place_anything_else_restarts() {
        let mut old = VrrpInstance::with_defaults("VI_1", "eth0", 51);
        old.virtual_ipaddress = vec![vip(100)];
        let mut vips = old.clone();
        vips.virtual_ipaddress.push(vip(101));
        assert!(same_but_vips(&old, &vips));
        let mut prio = vips.clone();
        prio.priority = 110;
        assert!(!same_but_vips(&old, &prio));
    }

    #[test]
    fn a_changed_check_or_group_counts_as_a_change_of_its_instances() {
        let text = "vrrp_script chk {\n script /bin/true\n}\n\
                    vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
                    track_script {\n chk\n }\n virtual_ipaddress {\n 10.0.0.100\n }\n}\n\
                    vrrp_instance VI_2 {\n interface eth0\n virtual_router_id 52\n \
                    virtual_ipaddress {\n 10.0.0.101\n }\n}\n";
        let load = |t: &str| {
            crate::config::load_str(t, std::path::Path::new("k.conf"))
                .unwrap()
                .config
        };
        let old = load(text);
        let new = load(&text.replace("/bin/true", "/bin/false"));
        assert!(!dependencies_unchanged(&old, &new, &new.instances[0]));
        assert!(dependencies_unchanged(&old, &new, &new.instances[1]));
        assert!(dependencies_unchanged(&old, &old, &old.instances[0]));
    }
}
