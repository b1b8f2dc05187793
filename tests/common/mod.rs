//! The fake kernel doors an instance runs on in tests (a socket, a VIP announcer, an ARP
//! watch, all recording into one [`World`]), the usual instance built on them, and paused
//! tokio time with a real-time bound. Shared by `tests/instance.rs` (one instance) and
//! `tests/instance_lan.rs` (several on one simulated LAN); [`lb`] is the forwarder's pool for
//! the loopback tests.

// Each test binary mounts this module and uses a part of it.
#![allow(dead_code)]

pub mod lb;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use vipd::config::{VirtualIp, VrrpInstance};
use vipd::net::NetError;
use vipd::net::arp::ArpClaim;
use vipd::net::socket::{Inbound, Ipv6Meta, Transport};
use vipd::status::{Event, SharedStatus};
use vipd::vip::{Announcer, BoundVip, RouteDoor};
use vipd::vrrp::doors::{AdvertSocket, Doors};
use vipd::vrrp::instance::{Command, Instance, Setup};
use vipd::vrrp::packet::{AdvertRepr, Endpoints, MULTICAST_GROUP};

/// The virtual router's VIP.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
/// The index of eth0, the interface the instance and its VIP live on.
pub const IFINDEX: u32 = 2;

/// Where the sockets of a LAN's instances put what they send: (source, VRRP message).
pub type Wire = mpsc::UnboundedSender<(IpAddr, Vec<u8>)>;

/// What a fake socket reads: a datagram, with the metadata of an IPv6 one.
type Datagram = (Vec<u8>, Option<Ipv6Meta>);

/// What the fake kernel saw and what a test can do to it.
#[derive(Default)]
pub struct World {
    /// (source address of the socket, advert) for every advert sent.
    pub sent: Mutex<Vec<(IpAddr, AdvertRepr)>>,
    /// Where a copy of every VRRP message sent goes, with its source: the LAN's wire.
    pub wire: Mutex<Option<Wire>>,
    /// Sends fail while set.
    pub fail_sends: AtomicBool,
    /// Sources of every socket opened, in order.
    pub opened: Mutex<Vec<IpAddr>>,
    /// Where datagrams for the newest socket go.
    pub inbox: Mutex<Option<mpsc::UnboundedSender<Datagram>>>,
    /// VIPs on the host, and frames announced.
    pub present: Mutex<HashSet<IpAddr>>,
    pub announced: Mutex<u64>,
    /// Every address added ("add") or removed ("remove"), in order, with when (tokio's clock).
    pub changes: Mutex<Vec<(Instant, &'static str, IpAddr)>>,
    /// Where ARP claims go.
    pub claims: Mutex<Option<mpsc::Sender<ArpClaim>>>,
    /// The interface index of every ARP watch opened, in order.
    pub watched: Mutex<Vec<u32>>,
    /// Host routes (`route_table`) in the kernel: (address, table, metric). Adds and deletes
    /// are also in `changes`, as "route" and "unroute".
    pub routes: Mutex<HashSet<(IpAddr, u32, u32)>>,
}

impl World {
    /// Every address added or removed, in order, without the times.
    pub fn changes(&self) -> Vec<(&'static str, IpAddr)> {
        let changes = self.changes.lock().unwrap();
        changes.iter().map(|&(_, op, addr)| (op, addr)).collect()
    }

    /// Whether `VIP` is on the host.
    pub fn holds_vip(&self) -> bool {
        self.present.lock().unwrap().contains(&IpAddr::V4(VIP))
    }

    /// A datagram for the newest socket, as if the raw socket had read it; dropped when
    /// there is no socket (a stopped instance).
    pub fn deliver(&self, datagram: Vec<u8>) {
        if let Some(inbox) = self.inbox.lock().unwrap().as_ref() {
            let _ = inbox.send((datagram, None));
        }
    }

    /// The VRRP message of an IPv6 packet with its metadata, as the raw IPv6 socket reads
    /// it; dropped when there is no socket.
    pub fn deliver_v6(&self, vrrp: Vec<u8>, meta: Ipv6Meta) {
        if let Some(inbox) = self.inbox.lock().unwrap().as_ref() {
            let _ = inbox.send((vrrp, Some(meta)));
        }
    }
}

/// A socket that sends to the family's multicast group, into `World`.
pub struct FakeSocket {
    src: IpAddr,
    world: Arc<World>,
    inbox: tokio::sync::Mutex<mpsc::UnboundedReceiver<Datagram>>,
}

impl AdvertSocket for FakeSocket {
    fn send(&self, message: impl Fn(IpAddr) -> Vec<u8>) -> Result<(), NetError> {
        if self.world.fail_sends.load(Ordering::Relaxed) {
            return Err(NetError::NoRuntime("sendto: network unreachable (fake)"));
        }
        for dst in Transport::multicast_for(self.src).dests() {
            let vrrp = message(dst);
            let to = Endpoints::new(self.src, dst).expect("one family");
            let (advert, _) =
                AdvertRepr::parse(&vrrp, &to).expect("the instance sends valid adverts");
            self.world.sent.lock().unwrap().push((self.src, advert));
            if let Some(wire) = self.world.wire.lock().unwrap().as_ref() {
                let _ = wire.send((self.src, vrrp));
            }
        }
        Ok(())
    }

    async fn recv(&self, buf: &mut [u8]) -> Result<Inbound, NetError> {
        let mut inbox = self.inbox.lock().await;
        match inbox.recv().await {
            Some((d, ipv6)) => {
                buf[..d.len()].copy_from_slice(&d);
                Ok(Inbound { len: d.len(), ipv6 })
            }
            None => std::future::pending().await,
        }
    }
}

pub struct FakeAnnouncer(Arc<World>);

impl Announcer for FakeAnnouncer {
    async fn add(&self, vip: &BoundVip) -> Result<bool, NetError> {
        (self.0.changes.lock().unwrap()).push((Instant::now(), "add", vip.addr));
        Ok(self.0.present.lock().unwrap().insert(vip.addr))
    }
    async fn remove(&self, vip: &BoundVip) -> Result<(), NetError> {
        (self.0.changes.lock().unwrap()).push((Instant::now(), "remove", vip.addr));
        self.0.present.lock().unwrap().remove(&vip.addr);
        Ok(())
    }
    fn announce(&self, _vip: &BoundVip, count: u32) -> Result<u32, NetError> {
        *self.0.announced.lock().unwrap() += u64::from(count);
        Ok(count)
    }
}

pub struct FakeRoutes(Arc<World>);

impl RouteDoor for FakeRoutes {
    async fn add_route(&self, a: IpAddr, _: u32, table: u32, m: u32) -> Result<bool, NetError> {
        (self.0.changes.lock().unwrap()).push((Instant::now(), "route", a));
        Ok(self.0.routes.lock().unwrap().insert((a, table, m)))
    }
    async fn del_route(&self, a: IpAddr, table: u32, m: u32) -> Result<bool, NetError> {
        (self.0.changes.lock().unwrap()).push((Instant::now(), "unroute", a));
        Ok(self.0.routes.lock().unwrap().remove(&(a, table, m)))
    }
    async fn list_routes(&self, table: u32) -> Result<Vec<(IpAddr, u32)>, NetError> {
        let routes = self.0.routes.lock().unwrap();
        Ok(routes
            .iter()
            .filter(|r| r.1 == table)
            .map(|r| (r.0, r.2))
            .collect())
    }
}

pub struct FakeDoors(pub Arc<World>);

impl FakeDoors {
    /// A socket sending from `src`; datagrams delivered to `world` from now on reach it.
    pub fn socket(world: &Arc<World>, src: IpAddr) -> FakeSocket {
        let (tx, rx) = mpsc::unbounded_channel();
        *world.inbox.lock().unwrap() = Some(tx);
        world.opened.lock().unwrap().push(src);
        FakeSocket {
            src,
            world: Arc::clone(world),
            inbox: tokio::sync::Mutex::new(rx),
        }
    }
}

impl Doors for FakeDoors {
    type Socket = FakeSocket;
    type Announcer = FakeAnnouncer;
    type Routes = FakeRoutes;

    fn open_socket(
        &self,
        _ifname: &str,
        _ifindex: u32,
        src: IpAddr,
        _transport: &Transport,
    ) -> Result<FakeSocket, NetError> {
        Ok(Self::socket(&self.0, src))
    }

    fn announcer(&self) -> FakeAnnouncer {
        FakeAnnouncer(Arc::clone(&self.0))
    }

    fn routes(&self) -> FakeRoutes {
        FakeRoutes(Arc::clone(&self.0))
    }

    fn watch_arp(
        &self,
        ifindex: u32,
        _own_mac: [u8; 6],
        claims: mpsc::Sender<ArpClaim>,
    ) -> Result<JoinHandle<()>, NetError> {
        self.0.watched.lock().unwrap().push(ifindex);
        *self.0.claims.lock().unwrap() = Some(claims);
        Ok(tokio::spawn(std::future::pending()))
    }
}

/// Runs `test` on a current-thread runtime with paused time, on a thread of its own, and
/// returns what it returns: an instance that spins keeps virtual time from advancing, so the
/// test would hang instead of failing; a real-time bound turns that into a failure.
pub fn paused<T: Send + 'static>(test: impl std::future::Future<Output = T> + Send + 'static) -> T {
    let (done, finished) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        let _ = done.send(rt.block_on(test));
    });
    match finished.recv_timeout(Duration::from_secs(30)) {
        Ok(out) => out,
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the test thread ended without an answer or a panic"),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("virtual time stopped advancing for 30 s: the instance spins or hangs")
        }
    }
}

/// `addr` on eth0 (or another interface index), as the daemon binds it.
pub fn bound(addr: Ipv4Addr, ifindex: u32) -> BoundVip {
    BoundVip {
        addr: addr.into(),
        prefix_len: 32,
        label: None,
        ifindex,
        dev: "eth0".into(),
        mac: [2, 0, 0, 0, 0, 1],
        excluded: false,
    }
}

/// The usual instance (VI_1 on eth0, vrid 51, priority 100, advert_int 1, a password, `VIP`),
/// sending from `source` on a socket of `world`.
pub fn setup(world: &Arc<World>, source: Ipv4Addr) -> Setup<FakeDoors> {
    let mut config = VrrpInstance::with_defaults("VI_1", "eth0", 51);
    config.auth_pass = Some(b"s3cret".to_vec());
    config.virtual_ipaddress = vec![VirtualIp {
        addr: VIP.into(),
        prefix_len: 32,
        dev: None,
        label: None,
    }];
    Setup {
        config,
        interface: "eth0".into(),
        source: source.into(),
        socket: FakeDoors::socket(world, source.into()),
        ifindex: IFINDEX,
        transport: Transport::multicast_for(source.into()),
        vips: vec![bound(VIP, IFINDEX)],
        doors: FakeDoors(Arc::clone(world)),
        link_up: true,
        tracked: Vec::new(),
        notifier: None,
        sync: None,
        vmac: None,
        state_file: None,
        resume: None,
    }
}

/// A running instance on fake doors.
pub struct Running {
    pub world: Arc<World>,
    pub status: SharedStatus,
    pub commands: mpsc::Sender<Command>,
    /// Every transition it announces, as `vipctl watch` sees them.
    pub events: broadcast::Receiver<Event>,
    pub task: JoinHandle<()>,
}

impl Running {
    /// `setup` (on `world`'s doors) built and spawned on the current runtime.
    pub fn spawn(world: Arc<World>, setup: Setup<FakeDoors>) -> Running {
        let (instance, status) = Instance::new(setup);
        let (events_tx, events) = broadcast::channel(64);
        let (commands, rx) = mpsc::channel(16);
        let task = tokio::spawn(instance.with_events(events_tx).run(rx));
        Running {
            world,
            status,
            commands,
            events,
            task,
        }
    }

    pub fn state(&self) -> String {
        self.status.lock().unwrap().state.clone()
    }

    pub fn holds_vip(&self) -> bool {
        self.world.holds_vip()
    }

    pub async fn command(&self, c: Command) {
        self.commands.send(c).await.unwrap();
    }
}

/// `vrrp` in the IPv4 datagram a raw socket hands up: from `src` to 224.0.0.18, TTL 255,
/// TOS 0xc0, protocol 112 (the header checksum is the kernel's business).
pub fn ipv4_datagram(src: Ipv4Addr, vrrp: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + vrrp.len()).unwrap().to_be_bytes();
    let mut d = vec![0x45, 0xc0, total[0], total[1], 0, 0, 0, 0, 255, 112, 0, 0];
    d.extend_from_slice(&src.octets());
    d.extend_from_slice(&MULTICAST_GROUP.octets());
    d.extend_from_slice(vrrp);
    d
}
