//! Builds the running agent from a validated [`Config`]: resolves interfaces, opens sockets,
//! clears stale VIPs (and vipd's stale routes), starts one task per instance (VRRP or route), serves the control socket and the
//! metrics page, runs tracked checks and sync groups, and owns reload (SIGHUP or `vipctl
//! reload`, all or nothing), the operator's handover and maintenance requests, and the
//! shutdown order on SIGTERM or SIGINT: masters hand over make-before-break (priority 0, VIPs
//! kept until the new master advertises), then the forwarder stops and every instance leaves.
//!
//! `checks` starts and shares the tracked checks; `reload` applies a new file; `routes` is the
//! route instances' side (resolve, stale routes, reload in place, stop: withdraw, wait
//! withdraw_delay, remove the addresses).

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::config::{Config, LoadOptions, SyncGroup, VrrpInstance};
use crate::control::access::Access;
use crate::control::proto::{Event, HandoverResult, Request, Response};
use crate::control::server::{
    Context, ControlSocket, DaemonRequest, InstanceView, Instances, View,
};
use crate::lb::{Lb, LbError, LbOptions};
use crate::metrics;
use crate::net::NetError;
use crate::net::addr::{LinkInfo, LinkWatcher, NetEvent, Netlink};
use crate::net::vmac::Vmac;
use crate::notify::{Notifier, Owner};
use crate::vip;
use crate::vrrp::fsm::State;
use crate::vrrp::instance::{Command, Instance, Interface, MemberChange, Setup};

mod checks;
mod reload;
mod resolve;
mod resume;
mod routes;
mod upgrade;

use checks::Checks;
use resolve::{advert_interface, bind_vips, prepare, remove_vmac};
use routes::RunningRoute;

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
    /// The VRRP interface has no address of the instance's family to send adverts from.
    #[error(
        "{instance}: interface {interface} has no {family} address to send adverts from \
         (add one, or set unicast_src_ip)"
    )]
    NoSourceAddress {
        /// The instance.
        instance: String,
        /// Its interface.
        interface: String,
        /// "IPv4" or "IPv6 link-local".
        family: &'static str,
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
    /// A virtual server's listener could not be opened.
    #[error("{0}")]
    Lb(#[from] LbError),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// `--socket-group` names no group.
    #[error("{0}")]
    SocketGroup(String),
    /// The metrics listener could not be bound.
    #[error("{0}")]
    Metrics(std::io::Error),
}

fn classify(e: NetError) -> DaemonError {
    if e.is_permission() {
        DaemonError::Permission(e)
    } else {
        DaemonError::Net(e)
    }
}

/// How the daemon was started: what it re-reads and where it listens.
#[derive(Debug, Clone)]
pub struct Options {
    /// The configuration file, re-read on reload.
    pub config_path: PathBuf,
    /// The control socket.
    pub socket_path: PathBuf,
    /// Where instances record what a restart needs ([`crate::runstate`]); `None` = nowhere.
    pub state_dir: Option<PathBuf>,
    /// This binary's path as it was at start (an upgrade re-executes the file now there),
    /// and the arguments to give it.
    pub exe: Option<PathBuf>,
    /// The command-line arguments, program name left out.
    pub args: Vec<std::ffi::OsString>,
    /// `--socket-group`: the group that owns the socket and may change state.
    pub socket_group: Option<String>,
    /// How the file was read at startup (config id, host checks); reload reads it the same.
    pub load: LoadOptions,
    /// `--lb-threads`, `--lb-busy-poll`: how the virtual servers' forwarder runs.
    pub lb: LbOptions,
}

/// A started instance, as the daemon keeps it.
struct Running {
    config: VrrpInstance,
    /// The interface adverts use ([`advert_interface`]) as last told to the instance: index,
    /// up, address adverts go from.
    ifindex: u32,
    link_up: bool,
    source: Option<IpAddr>,
    commands: mpsc::Sender<Command>,
    view: InstanceView,
    /// The macvlan made for it (`use_vmac`), removed when it stops for good.
    vmac: Option<Vmac>,
}

/// The metrics page, while `metrics_listen` is set.
struct MetricsServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The running agent: everything reload and the operator's requests change.
struct Daemon {
    options: Options,
    config: Config,
    netlink: Netlink,
    running: Vec<Running>,
    /// The route instances, in config order.
    routes: Vec<RunningRoute>,
    /// Instances (VRRP and route) in maintenance, by name: kept across reloads and restarts of an instance.
    maintenance: BTreeSet<String>,
    events: broadcast::Sender<Event>,
    view: View,
    metrics: Option<MetricsServer>,
    /// The tracked checks, started once however many instances track each.
    checks: Checks,
    /// Where sync group members report their own state changes.
    sync_tx: mpsc::UnboundedSender<MemberChange>,
    /// Notify scripts of each sync group, by group name.
    group_notifiers: HashMap<String, Notifier>,
    /// The virtual_server forwarder.
    lb: Lb,
}

/// Runs the agent until SIGTERM or SIGINT, then leaves cleanly.
///
/// Must run inside a tokio runtime with IO and time enabled. Nothing on any interface is
/// touched before every interface, address and socket has been checked.
pub async fn run(config: Config, options: Options) -> Result<(), DaemonError> {
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    let mut usr2 = signal(SignalKind::user_defined2()).map_err(DaemonError::Signals)?;
    let access =
        Access::from_group(options.socket_group.as_deref()).map_err(DaemonError::SocketGroup)?;
    raise_nofile();

    let netlink = Netlink::connect().map_err(classify)?;
    let mut watcher = LinkWatcher::open().map_err(classify)?;
    let mut checks = Checks::new(&config);
    let (sync_tx, mut sync_rx) = mpsc::unbounded_channel();
    let mut setups = Vec::new();
    let mut route_setups = Vec::new();
    let socket_path = options.socket_path.clone();
    let opened = async {
        for inst in &config.instances {
            let setup = prepare(inst, &netlink).await?;
            setups.push(complete(setup, &config, &mut checks, &netlink, &sync_tx).await?);
        }
        for setup in &mut setups {
            resume::plan(setup, &options, &netlink).await;
        }
        for inst in &config.route_instances {
            route_setups.push(routes::prepare(inst, &mut checks, &netlink).await?);
        }
        let control = ControlSocket::bind(&socket_path, access.gid())
            .await
            .map_err(|source| DaemonError::ControlSocket {
                path: socket_path.clone(),
                source,
            })?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some((
                addr,
                metrics::bind(addr).await.map_err(DaemonError::Metrics)?,
            )),
            None => None,
        };
        // Listeners last: a port in use stops the start before anything changes.
        let lb = Lb::start(&config.virtual_servers, options.lb)?;
        Ok::<_, DaemonError>((control, metrics_listener, lb))
    }
    .await;
    let (control, metrics_listener, lb) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            // Nothing may stay changed: the macvlans made so far go.
            for vmac in setups.iter().filter_map(|s| s.vmac.as_ref()) {
                remove_vmac(&netlink, vmac).await;
            }
            return Err(e);
        }
    };
    let group_notifiers = group_notifiers(&config);

    // Every check passed: from here on the daemon changes the system.
    for setup in setups.iter().filter(|s| s.resume.is_none()) {
        vip::clear_stale(&setup.config.name, &setup.vips, &netlink).await;
    }
    routes::clear_stale(&config, &mut route_setups, &netlink).await;
    let (events, _) = broadcast::channel(256);
    let view = View {
        instances: Arc::new(RwLock::new(Instances::default())),
        netlink: netlink.clone(),
        lb: lb.view(),
    };
    let mut daemon = Daemon {
        options,
        config,
        netlink,
        running: Vec::new(),
        routes: Vec::new(),
        maintenance: BTreeSet::new(),
        events: events.clone(),
        view: view.clone(),
        metrics: None,
        checks,
        sync_tx,
        group_notifiers,
        lb,
    };
    for setup in setups {
        let running = daemon.start(setup);
        daemon.running.push(running);
    }
    for setup in route_setups {
        let running = daemon.start_route(setup);
        daemon.routes.push(running);
    }
    daemon.publish();
    if let Some((addr, listener)) = metrics_listener {
        daemon.metrics = Some(daemon.serve_metrics(addr, listener));
    }
    info!(
        "vipd {} running {} instance(s), {} route instance(s), {} virtual server(s); control \
         socket {}{}",
        env!("CARGO_PKG_VERSION"),
        daemon.running.len(),
        daemon.routes.len(),
        daemon.config.virtual_servers.len(),
        socket_path.display(),
        daemon
            .metrics
            .as_ref()
            .map_or_else(String::new, |m| format!(
                "; metrics at http://{}/metrics",
                m.addr
            ))
    );

    let (requests_tx, mut requests) = mpsc::channel::<DaemonRequest>(16);
    let ctx = Context {
        view,
        events,
        daemon: requests_tx,
        access,
    };
    let serve = control.serve(ctx);
    tokio::pin!(serve);
    let signal_name = loop {
        tokio::select! {
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            _ = hup.recv() => {
                info!("SIGHUP: reloading {}", daemon.options.config_path.display());
                let _ = daemon.reload().await;
            }
            _ = usr2.recv() => match daemon.upgrade_target() {
                Ok(exe) => daemon.upgrade(exe, "SIGUSR2").await,
                Err(why) => warn!("SIGUSR2: cannot upgrade in place: {why}"),
            },
            request = requests.recv() => {
                if let Some(request) = request {
                    daemon.serve_request(request).await;
                }
            }
            Some(change) = sync_rx.recv() => daemon.sync_group(change).await,
            event = watcher.next_event() => match event {
                Some(NetEvent::Link(link)) => daemon.on_link(&link).await,
                Some(NetEvent::Address { index }) => daemon.on_addresses(index).await,
                None => {
                    warn!("link watch lost (netlink overflow?); reopening and re-reading link state");
                    watcher = LinkWatcher::open().map_err(classify)?;
                    daemon.resync_links().await;
                }
            },
            () = &mut serve => {},
        }
    };
    // Route instances withdraw at once (the other hosts already announce) and keep their
    // addresses for withdraw_delay, meanwhile the rest stops.
    let routes_stopping = routes::stop_all(std::mem::take(&mut daemon.routes)).await;
    // Make-before-break: masters hand over first, while the VIPs (and the forwarder behind
    // them) still serve; a second signal or the deadline cuts it short.
    daemon
        .hand_over_before_leaving(signal_name, &mut term, &mut int)
        .await;
    daemon.metrics = None;
    let omega = daemon.lb.stop();
    for vmac in shutdown(daemon.running, signal_name).await {
        remove_vmac(&daemon.netlink, &vmac).await;
    }
    for (_, n) in daemon.group_notifiers {
        n.finish(crate::notify::TIMEOUT).await;
    }
    routes::stopped(routes_stopping).await;
    omega.finish().await;
    Ok(()) // dropping `control` removes the socket file
}

impl Daemon {
    /// Spawns one instance task.
    fn start(&self, mut setup: Setup) -> Running {
        let config = setup.config.clone();
        let vmac = setup.vmac.take();
        let ifindex = setup.ifindex;
        let (link_up, source) = (setup.link_up, Some(setup.source));
        let vips = setup.vips.iter().map(|v| (v.ifindex, v.addr)).collect();
        let (instance, status) = Instance::new(setup);
        let instance = instance
            .with_events(self.events.clone())
            .with_maintenance(self.maintenance.contains(&config.name));
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(instance.run(rx));
        Running {
            config,
            ifindex,
            link_up,
            source,
            commands: tx,
            view: InstanceView { status, vips },
            vmac,
        }
    }

    /// Makes the current instances visible to status readers.
    fn publish(&self) {
        let mut shared = self
            .view
            .instances
            .write()
            .unwrap_or_else(|p| p.into_inner());
        *shared = Instances {
            router_id: self.config.router_id.clone(),
            list: self.running.iter().map(|r| r.view.clone()).collect(),
            routes: self.routes.iter().map(|r| r.status.clone()).collect(),
        };
    }

    fn serve_metrics(&self, addr: SocketAddr, listener: tokio::net::TcpListener) -> MetricsServer {
        let task = tokio::spawn(metrics::serve(listener, self.view.clone()));
        MetricsServer { addr, task }
    }

    async fn serve_request(&mut self, request: DaemonRequest) {
        let DaemonRequest { request, reply } = request;
        let response = match request {
            Request::Reload => match self.reload().await {
                Ok(summary) => Response::Reloaded(summary),
                Err(message) => Response::Error { message },
            },
            Request::Handover {
                instance: Some(name),
            } if self.routes.iter().any(|r| r.config.name == name) => Response::Error {
                message: format!(
                    "{name} is a route_instance: handover does not apply (it has no VRRP \
                     master to hand over); `vipctl maint on {name}` withdraws its routes (the \
                     other hosts carry its VIPs), `vipctl maint off {name}` announces them again"
                ),
            },
            Request::Handover { instance } => match self.targets(instance.as_deref()) {
                Ok(targets) => {
                    // Answered from a task: the daemon keeps serving while VIPs move.
                    let waits = self.hand_over(&targets).await;
                    tokio::spawn(async move {
                        let results = handover_results(waits).await;
                        let _ = reply.send(Response::HandedOver { results });
                    });
                    return;
                }
                Err(message) => Response::Error { message },
            },
            Request::Upgrade => match self.upgrade_target() {
                Ok(exe) => {
                    let _ = reply.send(Response::Upgrading {
                        exe: exe.display().to_string(),
                        pid: std::process::id(),
                    });
                    // Let the control task write the answer before the process is replaced.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    self.upgrade(exe, "vipctl upgrade").await;
                    return;
                }
                Err(message) => Response::Error { message },
            },
            Request::Maintenance { on, instance } => {
                match self.targets_and_routes(instance.as_deref()) {
                    Ok((targets, route_targets)) => {
                        let mut names = Vec::new();
                        for i in targets {
                            let r = &self.running[i];
                            let _ = r.commands.send(Command::Maintenance(on)).await;
                            names.push(r.config.name.clone());
                        }
                        for i in route_targets {
                            let r = &self.routes[i];
                            let _ = r.commands.send(routes::RouteCommand::Maintenance(on)).await;
                            names.push(r.config.name.clone());
                        }
                        for name in &names {
                            if on {
                                self.maintenance.insert(name.clone());
                            } else {
                                self.maintenance.remove(name);
                            }
                        }
                        Response::Maintenance {
                            on,
                            instances: names,
                        }
                    }
                    Err(message) => Response::Error { message },
                }
            }
            Request::Status | Request::Watch => Response::Error {
                message: "not a daemon request".into(),
            },
        };
        let _ = reply.send(response);
    }

    /// Indexes of the VRRP and route instances a request names: one by name, or all.
    fn targets_and_routes(&self, name: Option<&str>) -> Result<(Vec<usize>, Vec<usize>), String> {
        match name {
            None => Ok((
                (0..self.running.len()).collect(),
                (0..self.routes.len()).collect(),
            )),
            Some(n) => match self.routes.iter().position(|r| r.config.name == n) {
                Some(i) => Ok((Vec::new(), vec![i])),
                None => self.targets(name).map(|t| (t, Vec::new())),
            },
        }
    }

    /// Indexes of the instances a request names: one by name, or all.
    fn targets(&self, name: Option<&str>) -> Result<Vec<usize>, String> {
        match name {
            None => Ok((0..self.running.len()).collect()),
            Some(name) => match self.running.iter().position(|r| r.config.name == name) {
                Some(i) => Ok(vec![i]),
                None => {
                    let known: Vec<&str> = (self.running.iter().map(|r| r.config.name.as_str()))
                        .chain(self.routes.iter().map(|r| r.config.name.as_str()))
                        .collect();
                    Err(format!(
                        "no instance named {name} (running: {})",
                        known.join(", ")
                    ))
                }
            },
        }
    }

    async fn hand_over(
        &self,
        targets: &[usize],
    ) -> Vec<(String, oneshot::Receiver<HandoverResult>)> {
        let mut waits = Vec::new();
        for &i in targets {
            let r = &self.running[i];
            let (tx, rx) = oneshot::channel();
            if r.commands.send(Command::Handover(tx)).await.is_ok() {
                waits.push((r.config.name.clone(), rx));
            }
        }
        waits
    }

    /// On SIGTERM or SIGINT, every master hands over as `vipctl handover` does: priority 0
    /// sent, VIPs kept until the new master's first advert (or released after 3 x advert_int
    /// when nobody answers). Waits at most that long plus a second; a second SIGTERM or SIGINT
    /// stops waiting at once.
    async fn hand_over_before_leaving(
        &self,
        why: &str,
        term: &mut tokio::signal::unix::Signal,
        int: &mut tokio::signal::unix::Signal,
    ) {
        let all: Vec<usize> = (0..self.running.len()).collect();
        let waits = self.hand_over(&all).await;
        let longest = self
            .running
            .iter()
            .map(|r| r.config.advert_int)
            .max()
            .unwrap_or_default();
        let deadline = 3 * longest + Duration::from_secs(1);
        let started = Instant::now();
        let answers = handover_results(waits);
        tokio::select! {
            results = tokio::time::timeout(deadline, answers) => match results {
                Ok(results) => {
                    for r in results.iter().filter(|r| r.outcome != "not_master") {
                        match &r.new_master {
                            Some(m) => info!(
                                "{why}: {} handed over to {m} in {} ms",
                                r.instance, r.waited_ms
                            ),
                            None => warn!(
                                "{why}: {}: no router took over within 3 x advert_int; \
                                 VIPs released without a new master ({})",
                                r.instance, r.outcome
                            ),
                        }
                    }
                }
                Err(_) => warn!("{why}: handover not finished within {deadline:?}; leaving now"),
            },
            _ = term.recv() => warn!("second SIGTERM: leaving without waiting for the handover"),
            _ = int.recv() => warn!("SIGINT: leaving without waiting for the handover"),
        }
        debug!(
            "{why}: handover phase took {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }

    /// Resolves a new or changed instance of `config` against the kernel, with its checks,
    /// notify scripts and sync group.
    async fn setup(&mut self, inst: &VrrpInstance, config: &Config) -> Result<Setup, DaemonError> {
        let mut setup = prepare(inst, &self.netlink).await?;
        setup.state_file = resume::record_path(&self.options, &inst.name);
        complete(
            setup,
            config,
            &mut self.checks,
            &self.netlink,
            &self.sync_tx,
        )
        .await
    }

    /// A sync group member changed state on its own: the others follow, and the group's
    /// notify scripts run.
    async fn sync_group(&self, change: MemberChange) {
        sync_group(
            &self.config.vrrp_sync_group,
            &self.group_notifiers,
            &self.running,
            change,
        )
        .await;
    }

    /// A link appeared, changed or went: instances on it (by name, so that a re-created
    /// interface is followed) re-read it.
    async fn on_link(&mut self, link: &LinkInfo) {
        self.checks.link_changed(link);
        for i in 0..self.running.len() {
            let r = &self.running[i];
            if r.ifindex == link.index
                || r.config.interface == link.name
                || advert_interface(&r.config) == link.name
            {
                self.refresh(i).await;
            }
        }
    }

    /// An address came or went on interface `index`: its instances re-read their source.
    async fn on_addresses(&mut self, index: u32) {
        for i in 0..self.running.len() {
            // With a macvlan, the source lives on the base, whose index is not kept.
            if self.running[i].ifindex == index || self.running[i].vmac.is_some() {
                self.refresh(i).await;
            }
        }
    }

    async fn resync_links(&mut self) {
        for i in 0..self.running.len() {
            self.refresh(i).await;
        }
    }

    /// Re-reads instance `i`'s interface from the kernel and tells the instance what changed:
    /// up or down, the address adverts go from, a new index (with its VIPs bound again). A
    /// macvlan that went with a re-created base interface is made again.
    async fn refresh(&mut self, i: usize) {
        let inst = self.running[i].config.clone();
        let name = advert_interface(&inst).to_string();
        let mut found = self.netlink.link_by_name(&name).await;
        if matches!(found, Err(NetError::NoSuchInterface(_))) && inst.use_vmac.is_some() {
            self.remake_vmac(i).await;
            found = self.netlink.link_by_name(&name).await;
        }
        let link = match found {
            Ok(link) => link,
            Err(NetError::NoSuchInterface(_)) => LinkInfo {
                index: self.running[i].ifindex,
                name: name.clone(),
                mac: [0; 6],
                up: false,
            },
            Err(e) => return warn!("{}: cannot re-read {name}: {e}", inst.name),
        };
        let mut vips = None;
        if link.index != self.running[i].ifindex {
            match bind_vips(&inst, &self.netlink).await {
                Ok(bound) => vips = Some(bound),
                Err(e) => {
                    return warn!("{}: cannot follow the new {name}: {e}", inst.name);
                }
            }
        }
        let base = if name == inst.interface {
            Ok(link.clone())
        } else {
            self.netlink.link_by_name(&inst.interface).await
        };
        let vip_addrs: Vec<IpAddr> = inst.virtual_ipaddress.iter().map(|v| v.addr).collect();
        let source = match base {
            Ok(base) => match resolve::source(&inst, &self.netlink, base.index, &vip_addrs).await {
                Ok(found) => found,
                // The interface went between the two requests: it has no address.
                Err(NetError::NoSuchInterface(_)) => None,
                Err(e) => {
                    return warn!(
                        "{}: cannot read {}'s addresses: {e}",
                        inst.name, inst.interface
                    );
                }
            },
            Err(NetError::NoSuchInterface(_)) => None,
            Err(e) => return warn!("{}: cannot re-read {}: {e}", inst.name, inst.interface),
        };
        let r = &mut self.running[i];
        if vips.is_none() && link.up == r.link_up && source == r.source {
            return;
        }
        r.ifindex = link.index;
        r.link_up = link.up;
        r.source = source;
        if let Some(bound) = &vips {
            r.view.vips = bound.iter().map(|v| (v.ifindex, v.addr)).collect();
            self.publish();
        }
        let command = Command::Interface(Interface {
            ifindex: link.index,
            up: link.up,
            source,
            vips,
        });
        let _ = self.running[i].commands.send(command).await;
    }

    /// Makes instance `i`'s macvlan again after its base interface was re-created (the
    /// kernel removes a macvlan with the link below it).
    async fn remake_vmac(&mut self, i: usize) {
        let inst = self.running[i].config.clone();
        let Ok(base) = self.netlink.link_by_name(&inst.interface).await else {
            return; // No base yet: the instance stays in FAULT until it comes.
        };
        match resolve::ensure_vmac(&inst, &self.netlink, &base).await {
            Ok(Some(v)) => {
                info!(
                    "{}: made {} again on the new {}",
                    inst.name, v.name, inst.interface
                );
                let before = self.running[i].vmac.as_ref().and_then(|o| o.base_before);
                self.running[i].vmac = Some(Vmac {
                    base_before: v.base_before.or(before),
                    ..v
                });
            }
            Ok(None) => {}
            Err(e) => warn!(
                "{}: cannot make its virtual-MAC interface again: {e}",
                inst.name
            ),
        }
    }
}

/// Adds what an instance needs beyond the kernel: its tracked checks, notify scripts and
/// sync group channel.
async fn complete(
    mut setup: Setup,
    config: &Config,
    checks: &mut Checks,
    netlink: &Netlink,
    sync_tx: &mpsc::UnboundedSender<MemberChange>,
) -> Result<Setup, DaemonError> {
    let inst = setup.config.clone();
    setup.tracked = checks.tracked(&inst.name, &inst.tracks(), netlink).await?;
    setup.notifier = Some(Notifier::new(
        Owner::Instance,
        &inst.name,
        inst.notify.clone(),
    ));
    if group_of(&config.vrrp_sync_group, &inst.name).is_some() {
        setup.sync = Some(sync_tx.clone());
    }
    Ok(setup)
}

/// The notify scripts of every sync group.
fn group_notifiers(config: &Config) -> HashMap<String, Notifier> {
    config
        .vrrp_sync_group
        .iter()
        .map(|g| {
            let n = Notifier::new(Owner::Group, &g.name, g.notify.clone());
            (g.name.clone(), n)
        })
        .collect()
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
        .filter(|r| r.config.name != change.instance && group.group.contains(&r.config.name))
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

/// Resigns every instance in `running` (priority 0, VIPs removed) and waits for each, within
/// a bound; `why` says who asked (a signal, or a reload stopping some instances).
async fn shutdown(running: Vec<Running>, why: &str) -> Vec<Vmac> {
    if running.is_empty() {
        return Vec::new();
    }
    let started = Instant::now();
    let names: Vec<&str> = running.iter().map(|r| r.config.name.as_str()).collect();
    info!(
        "{why}: stopping {}: resigning mastership and removing VIPs",
        names.join(", ")
    );
    let mut waits = Vec::new();
    for r in &running {
        let (tx, rx) = oneshot::channel();
        if r.commands.send(Command::Shutdown(tx)).await.is_ok() {
            waits.push((r.config.name.as_str(), rx));
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
        "{why}: stopped in {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    running.into_iter().filter_map(|r| r.vmac).collect()
}

/// Raises the soft open-file limit to the hard one, as HAProxy and nginx do: forwarded
/// connections, checks, scripts and the control socket all draw on it (the forwarder keeps
/// a reserve of it for the rest, see `lb`).
fn raise_nofile() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft >= hard {
        return;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => info!("raised the open-file limit from {soft} to {hard} (the hard limit)"),
        Err(e) => warn!("cannot raise the open-file limit from {soft} to {hard}: {e}"),
    }
}

/// Every handover answer, in order; an instance that stopped meanwhile answers `interrupted`.
async fn handover_results(
    waits: Vec<(String, oneshot::Receiver<HandoverResult>)>,
) -> Vec<HandoverResult> {
    let mut results = Vec::with_capacity(waits.len());
    for (instance, rx) in waits {
        results.push(rx.await.unwrap_or_else(|_| HandoverResult {
            instance,
            outcome: "interrupted".into(),
            new_master: None,
            waited_ms: 0,
        }));
    }
    results
}
