//! Builds the running agent from a validated [`Config`]: resolves interfaces, opens sockets,
//! clears stale VIPs, starts one task per instance, serves the control socket, and owns the
//! shutdown order (priority 0, VIPs removed, exit) on SIGTERM or SIGINT.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};

use crate::config::{Config, SyncGroup, VrrpInstance};
use crate::control::server::{ControlSocket, InstanceView, View};
use crate::net::NetError;
use crate::net::addr::{LinkInfo, LinkWatcher, Netlink};
use crate::net::arp::GarpSender;
use crate::net::socket::{Transport, VrrpSocket};
use crate::notify::{Notifier, Owner};
use crate::track::eval::Rule;
use crate::track::{CheckState, CheckWatch};
use crate::vrrp::fsm::State;
use crate::vrrp::instance::{BoundVip, Command, Instance, MemberChange, Setup, Tracked};

/// Why the daemon could not start or keep running. Each reads as one sentence.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The kernel refused an operation that needs privileges.
    #[error("vipd needs CAP_NET_ADMIN and CAP_NET_RAW: run it as root or grant both ({0})")]
    Permission(NetError),
    /// A configured interface does not exist.
    #[error("{instance}: interface {interface} does not exist")]
    NoInterface {
        /// The instance naming it.
        instance: String,
        /// The missing interface.
        interface: String,
    },
    /// The VRRP interface has no IPv4 address to send adverts from.
    #[error(
        "{instance}: interface {interface} has no IPv4 address to send adverts from \
         (add one, or set unicast_src_ip)"
    )]
    NoSourceAddress {
        /// The instance.
        instance: String,
        /// Its interface.
        interface: String,
    },
    /// Any other kernel error, naming the call and interface.
    #[error("{0}")]
    Net(#[from] NetError),
    /// The control socket could not be bound.
    #[error("control socket {path}: {source}")]
    ControlSocket {
        /// Its path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

fn classify(e: NetError) -> DaemonError {
    if e.is_permission() {
        DaemonError::Permission(e)
    } else {
        DaemonError::Net(e)
    }
}

/// A started instance, as the daemon keeps it.
struct Running {
    name: String,
    interface: String,
    ifindex: u32,
    commands: mpsc::Sender<Command>,
}

/// Runs the agent until SIGTERM or SIGINT, then leaves cleanly.
///
/// Must run inside a tokio runtime with IO and time enabled. Nothing on any interface is
/// touched before every interface, address and socket has been checked.
pub async fn run(config: Config, socket_path: &Path) -> Result<(), DaemonError> {
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;

    let netlink = Netlink::connect().map_err(classify)?;
    let mut watcher = LinkWatcher::open().map_err(classify)?;
    let mut setups = Vec::new();
    let mut garps: HashMap<u32, Arc<GarpSender>> = HashMap::new();
    let mut checks = Checks::new(&config);
    let (sync_tx, mut sync_rx) = mpsc::unbounded_channel();
    for inst in &config.instances {
        let mut setup = prepare(inst, &netlink, &mut garps).await?;
        setup.tracked = checks.tracked(inst, &netlink).await?;
        setup.notifier = Some(Notifier::new(
            Owner::Instance,
            &inst.name,
            inst.notify.clone(),
            config.script_user.clone(),
        ));
        if group_of(&config.vrrp_sync_group, &inst.name).is_some() {
            setup.sync = Some(sync_tx.clone());
        }
        setups.push(setup);
    }
    let group_notifiers: HashMap<String, Notifier> = config
        .vrrp_sync_group
        .iter()
        .map(|g| {
            let n = Notifier::new(
                Owner::Group,
                &g.name,
                g.notify.clone(),
                config.script_user.clone(),
            );
            (g.name.clone(), n)
        })
        .collect();
    let control =
        ControlSocket::bind(socket_path)
            .await
            .map_err(|source| DaemonError::ControlSocket {
                path: socket_path.to_path_buf(),
                source,
            })?;

    // Every check passed: from here on the daemon changes the system.
    for setup in &setups {
        clear_stale_vips(&setup.config.name, &setup.vips, &netlink).await;
    }

    let mut running = Vec::new();
    let mut views = Vec::new();
    for setup in setups {
        let name = setup.config.name.clone();
        let interface = setup.config.interface.clone();
        let ifindex = setup.socket.ifindex();
        let vips = setup.vips.iter().map(|v| (v.ifindex, v.addr)).collect();
        let (instance, status) = Instance::new(setup);
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(instance.run(rx));
        views.push(InstanceView { status, vips });
        running.push(Running {
            name,
            interface,
            ifindex,
            commands: tx,
        });
    }
    info!(
        "vipd {} running {} instance(s); control socket {}",
        env!("CARGO_PKG_VERSION"),
        running.len(),
        socket_path.display()
    );

    let view = View {
        router_id: config.router_id.clone(),
        instances: views,
        netlink: netlink.clone(),
    };
    let serve = control.serve(view);
    tokio::pin!(serve);
    let signal_name = loop {
        tokio::select! {
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            _ = hup.recv() => warn!("SIGHUP: reload is not supported yet; configuration unchanged"),
            Some(change) = sync_rx.recv() => {
                sync_group(&config.vrrp_sync_group, &group_notifiers, &running, change).await;
            }
            event = watcher.next() => match event {
                Some(link) => {
                    checks.link_changed(&link);
                    forward_link(&running, &link).await;
                }
                None => {
                    warn!("link watch lost (netlink overflow?); reopening and re-reading link state");
                    watcher = LinkWatcher::open().map_err(classify)?;
                    resync_links(&running, &netlink).await;
                }
            },
            () = &mut serve => {},
        }
    };
    shutdown(running, signal_name).await;
    for (_, n) in group_notifiers {
        n.finish(crate::notify::TIMEOUT).await;
    }
    Ok(()) // dropping `control` removes the socket file
}

/// Resolves one instance against the kernel: interfaces, source address, sockets.
async fn prepare(
    inst: &VrrpInstance,
    netlink: &Netlink,
    garps: &mut HashMap<u32, Arc<GarpSender>>,
) -> Result<Setup, DaemonError> {
    let link = lookup(netlink, &inst.name, &inst.interface).await?;
    let mut vips = Vec::new();
    for vip in &inst.virtual_ipaddress {
        let dev = vip.dev.clone().unwrap_or_else(|| inst.interface.clone());
        let vip_link = if dev == inst.interface {
            link.clone()
        } else {
            lookup(netlink, &inst.name, &dev).await?
        };
        let garp = match garps.get(&vip_link.index) {
            Some(g) => g.clone(),
            None => {
                let g = Arc::new(GarpSender::open(vip_link.index, vip_link.mac).map_err(classify)?);
                garps.insert(vip_link.index, g.clone());
                g
            }
        };
        vips.push(BoundVip {
            addr: vip.addr,
            prefix_len: vip.prefix_len,
            label: vip.label.clone(),
            ifindex: vip_link.index,
            dev,
            garp,
        });
    }
    let vip_addrs: Vec<Ipv4Addr> = vips.iter().map(|v| v.addr).collect();
    let source = match inst.unicast_src_ip {
        Some(src) => src,
        None => netlink
            .primary_ipv4(link.index, &vip_addrs)
            .await
            .map_err(classify)?
            .ok_or_else(|| DaemonError::NoSourceAddress {
                instance: inst.name.clone(),
                interface: inst.interface.clone(),
            })?,
    };
    let transport = if inst.unicast_peer.is_empty() {
        Transport::Multicast
    } else {
        Transport::Unicast {
            peers: inst.unicast_peer.clone(),
        }
    };
    let socket =
        VrrpSocket::open(&inst.interface, link.index, source, transport).map_err(classify)?;
    Ok(Setup {
        config: inst.clone(),
        source,
        socket,
        vips,
        netlink: netlink.clone(),
        link_up: link.up,
        tracked: Vec::new(),
        notifier: None,
        sync: None,
    })
}

/// The checks instances track, each started once however many instances track it.
struct Checks<'a> {
    config: &'a Config,
    started: HashMap<(&'static str, String), CheckWatch>,
    /// Tracked interfaces by name, updated from link events.
    interfaces: HashMap<String, watch::Sender<CheckState>>,
}

impl<'a> Checks<'a> {
    fn new(config: &'a Config) -> Self {
        Self {
            config,
            started: HashMap::new(),
            interfaces: HashMap::new(),
        }
    }

    /// Everything `inst` tracks, starting checks not started yet.
    async fn tracked(
        &mut self,
        inst: &VrrpInstance,
        netlink: &Netlink,
    ) -> Result<Vec<Tracked>, DaemonError> {
        let c = self.config;
        let mut out = Vec::new();
        for r in &inst.track_script {
            // Config validation guarantees the name exists.
            let Some(s) = c.vrrp_script.iter().find(|s| s.name == r.name) else {
                continue;
            };
            let watch = self
                .started
                .entry(("script", s.name.clone()))
                .or_insert_with(|| {
                    let user = s.user.clone().or_else(|| c.script_user.clone());
                    crate::track::script::spawn(s.clone(), user)
                })
                .clone();
            out.push(Tracked {
                source: format!("check {}", s.name),
                kind: "script",
                rule: Rule::Status {
                    weight: r.weight.unwrap_or(s.weight),
                },
                watch,
            });
        }
        for r in &inst.track_file {
            let Some(f) = c.vrrp_track_file.iter().find(|f| f.name == r.name) else {
                continue;
            };
            let watch = self
                .started
                .entry(("file", f.name.clone()))
                .or_insert_with(|| crate::track::file::spawn(f.name.clone(), f.file.clone()))
                .clone();
            out.push(Tracked {
                source: format!("file {}", f.name),
                kind: "file",
                rule: Rule::Value {
                    weight: r.weight.unwrap_or(f.weight),
                },
                watch,
            });
        }
        for r in &inst.track_process {
            let Some(p) = c.vrrp_track_process.iter().find(|p| p.name == r.name) else {
                continue;
            };
            let watch = self
                .started
                .entry(("process", p.name.clone()))
                .or_insert_with(|| crate::track::process::spawn(p.clone()))
                .clone();
            out.push(Tracked {
                source: format!("process {}", p.name),
                kind: "process",
                rule: Rule::Status {
                    weight: r.weight.unwrap_or(p.weight),
                },
                watch,
            });
        }
        for t in &inst.track_interface {
            let watch = match self.interfaces.get(&t.interface) {
                Some(tx) => tx.subscribe(),
                None => {
                    let link = lookup(netlink, &inst.name, &t.interface).await?;
                    let (tx, rx) = watch::channel(link_state(link.up));
                    self.interfaces.insert(t.interface.clone(), tx);
                    rx
                }
            };
            out.push(Tracked {
                source: format!("interface {}", t.interface),
                kind: "interface",
                rule: Rule::Status { weight: t.weight },
                watch,
            });
        }
        Ok(out)
    }

    fn link_changed(&self, link: &LinkInfo) {
        if let Some(tx) = self.interfaces.get(&link.name) {
            tx.send_if_modified(|s| {
                let changed = s.ok != link.up;
                *s = link_state(link.up);
                changed
            });
        }
    }
}

fn link_state(up: bool) -> CheckState {
    CheckState {
        ok: up,
        value: 0,
        detail: if up { "up" } else { "down" }.to_string(),
    }
}

fn group_of<'a>(groups: &'a [SyncGroup], instance: &str) -> Option<&'a SyncGroup> {
    groups
        .iter()
        .find(|g| g.group.iter().any(|m| m == instance))
}

/// A sync group member changed state on its own: the others follow, and the group's notify
/// scripts run.
async fn sync_group(
    groups: &[SyncGroup],
    notifiers: &HashMap<String, Notifier>,
    running: &[Running],
    change: MemberChange,
) {
    let Some(group) = group_of(groups, &change.instance) else {
        return;
    };
    let target = match change.to {
        State::Master | State::Backup | State::Fault => change.to,
        State::Init => return,
    };
    let why = format!(
        "sync group {}: {} went {}",
        group.name, change.instance, change.to
    );
    for r in running
        .iter()
        .filter(|r| r.name != change.instance && group.group.contains(&r.name))
    {
        let _ = r
            .commands
            .send(Command::Sync {
                target,
                why: why.clone(),
            })
            .await;
    }
    if let Some(n) = notifiers.get(&group.name) {
        n.state_changed(target.as_str(), change.priority);
    }
}

async fn lookup(netlink: &Netlink, instance: &str, name: &str) -> Result<LinkInfo, DaemonError> {
    match netlink.link_by_name(name).await {
        Ok(link) => Ok(link),
        Err(NetError::NoSuchInterface(_)) => Err(DaemonError::NoInterface {
            instance: instance.to_string(),
            interface: name.to_string(),
        }),
        Err(e) => Err(classify(e)),
    }
}

/// keepalived removes configured VIPs at startup: a killed earlier run may have left them.
async fn clear_stale_vips(instance: &str, vips: &[BoundVip], netlink: &Netlink) {
    for vip in vips {
        match netlink
            .del_address(vip.ifindex, vip.addr, vip.prefix_len)
            .await
        {
            Ok(true) => info!(
                "{instance}: removed {}/{} from {}, left there by an earlier run",
                vip.addr, vip.prefix_len, vip.dev
            ),
            Ok(false) => {}
            Err(e) => warn!("{instance}: could not clear {}: {e}", vip.addr),
        }
    }
}

async fn forward_link(running: &[Running], link: &LinkInfo) {
    for r in running.iter().filter(|r| r.ifindex == link.index) {
        let _ = r.commands.send(Command::Link { up: link.up }).await;
    }
}

async fn resync_links(running: &[Running], netlink: &Netlink) {
    for r in running {
        if let Ok(link) = netlink.link_by_name(&r.interface).await {
            let _ = r.commands.send(Command::Link { up: link.up }).await;
        }
    }
}

/// Resigns every instance (priority 0, VIPs removed) and waits for each, within a bound.
async fn shutdown(running: Vec<Running>, signal_name: &str) {
    let started = Instant::now();
    info!("{signal_name}: leaving: resigning mastership and removing VIPs");
    let mut waits = Vec::new();
    for r in &running {
        let (tx, rx) = oneshot::channel();
        if r.commands.send(Command::Shutdown(tx)).await.is_ok() {
            waits.push((r.name.as_str(), rx));
        }
    }
    for (name, rx) in waits {
        // VIPs go within milliseconds; the bound is for notify_stop scripts.
        let bound = crate::notify::TIMEOUT + Duration::from_secs(1);
        if tokio::time::timeout(bound, rx).await.is_err() {
            warn!("{name}: did not finish leaving within {bound:?}");
        }
    }
    info!(
        "stopped in {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
}
