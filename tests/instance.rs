//! The instance driver on paused tokio time, with fakes for its kernel doors: what it sends,
//! which VIPs it holds and announces, and how it rides out a renumbered interface, sends that
//! fail, a lost address and another host claiming its VIP. No root, no network.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vipd::config::{VirtualIp, VrrpInstance};
use vipd::net::NetError;
use vipd::net::arp::{ArpClaim, ArpOp};
use vipd::net::socket::Transport;
use vipd::status::SharedStatus;
use vipd::vip::{Announcer, BoundVip};
use vipd::vrrp::doors::{AdvertSocket, Doors};
use vipd::vrrp::instance::{Command, Instance, Interface, Setup};
use vipd::vrrp::packet::{
    AdvertInterval, AdvertRepr, Auth, ChecksumOver, Endpoints, MULTICAST_GROUP, Version,
};

const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const IFINDEX: u32 = 2;

/// What the fake kernel saw and what a test can do to it.
#[derive(Default)]
struct World {
    /// (source address of the socket, advert) for every advert sent.
    sent: Mutex<Vec<(Ipv4Addr, AdvertRepr)>>,
    /// Sends fail while set.
    fail_sends: AtomicBool,
    /// Sources of every socket opened, in order.
    opened: Mutex<Vec<Ipv4Addr>>,
    /// Where datagrams for the newest socket go.
    inbox: Mutex<Option<mpsc::UnboundedSender<Vec<u8>>>>,
    /// VIPs on the host, and frames announced.
    present: Mutex<HashSet<Ipv4Addr>>,
    announced: Mutex<u64>,
    /// Where ARP claims go.
    claims: Mutex<Option<mpsc::Sender<ArpClaim>>>,
}

struct FakeSocket {
    src: Ipv4Addr,
    world: Arc<World>,
    inbox: tokio::sync::Mutex<mpsc::UnboundedReceiver<Vec<u8>>>,
}

impl AdvertSocket for FakeSocket {
    fn send(&self, vrrp: &[u8]) -> Result<(), NetError> {
        if self.world.fail_sends.load(Ordering::Relaxed) {
            return Err(NetError::NoRuntime("sendto: network unreachable (fake)"));
        }
        let to = Endpoints::V4 {
            src: self.src,
            dst: MULTICAST_GROUP,
        };
        let (advert, _) = AdvertRepr::parse(vrrp, &to).expect("the instance sends valid adverts");
        self.world.sent.lock().unwrap().push((self.src, advert));
        Ok(())
    }

    async fn recv(&self, buf: &mut [u8]) -> Result<usize, NetError> {
        let mut inbox = self.inbox.lock().await;
        match inbox.recv().await {
            Some(d) => {
                buf[..d.len()].copy_from_slice(&d);
                Ok(d.len())
            }
            None => std::future::pending().await,
        }
    }
}

struct FakeAnnouncer(Arc<World>);

impl Announcer for FakeAnnouncer {
    async fn add(&self, vip: &BoundVip) -> Result<bool, NetError> {
        Ok(self.0.present.lock().unwrap().insert(vip.addr))
    }
    async fn remove(&self, vip: &BoundVip) -> Result<(), NetError> {
        self.0.present.lock().unwrap().remove(&vip.addr);
        Ok(())
    }
    fn announce(&self, _vip: &BoundVip, count: u32) -> Result<u32, NetError> {
        *self.0.announced.lock().unwrap() += u64::from(count);
        Ok(count)
    }
}

struct FakeDoors(Arc<World>);

impl FakeDoors {
    fn socket(world: &Arc<World>, src: Ipv4Addr) -> FakeSocket {
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

    fn open_socket(
        &self,
        _ifname: &str,
        _ifindex: u32,
        src: Ipv4Addr,
        _transport: &Transport,
    ) -> Result<FakeSocket, NetError> {
        Ok(Self::socket(&self.0, src))
    }

    fn announcer(&self) -> FakeAnnouncer {
        FakeAnnouncer(Arc::clone(&self.0))
    }

    fn watch_arp(
        &self,
        _ifindex: u32,
        _own_mac: [u8; 6],
        claims: mpsc::Sender<ArpClaim>,
    ) -> Result<JoinHandle<()>, NetError> {
        *self.0.claims.lock().unwrap() = Some(claims);
        Ok(tokio::spawn(std::future::pending()))
    }
}

/// Runs `test` on a current-thread runtime with paused time, on a thread of its own: an
/// instance that spins keeps virtual time from advancing, so the test would hang instead of
/// failing; a real-time bound turns that into a failure.
fn paused(test: impl std::future::Future<Output = ()> + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(test);
        let _ = done.send(());
    });
    match finished.recv_timeout(Duration::from_secs(30)) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("virtual time stopped advancing for 30 s: the instance spins or hangs")
        }
    }
}

/// A running instance (priority 100, advert_int 1, one VIP) on fake doors.
struct Running {
    world: Arc<World>,
    status: SharedStatus,
    commands: mpsc::Sender<Command>,
    _task: JoinHandle<()>,
}

impl Running {
    fn start() -> Running {
        let world = Arc::new(World::default());
        let mut config = VrrpInstance::with_defaults("VI_1", "eth0", 51);
        config.auth_pass = Some(b"s3cret".to_vec());
        config.virtual_ipaddress = vec![VirtualIp {
            addr: VIP,
            prefix_len: 32,
            dev: None,
            label: None,
        }];
        let setup = Setup {
            config,
            source: ME,
            socket: FakeDoors::socket(&world, ME),
            ifindex: IFINDEX,
            transport: Transport::Multicast,
            vips: vec![BoundVip {
                addr: VIP,
                prefix_len: 32,
                label: None,
                ifindex: IFINDEX,
                dev: "eth0".into(),
                mac: [2, 0, 0, 0, 0, 1],
            }],
            doors: FakeDoors(Arc::clone(&world)),
            link_up: true,
            tracked: Vec::new(),
            notifier: None,
            sync: None,
        };
        let (instance, status) = Instance::new(setup);
        let (commands, rx) = mpsc::channel(16);
        let task = tokio::spawn(instance.run(rx));
        Running {
            world,
            status,
            commands,
            _task: task,
        }
    }

    /// Started, and master after its Master_Down_Interval of silence.
    async fn master() -> Running {
        let r = Running::start();
        tokio::time::sleep(Duration::from_millis(3700)).await;
        assert_eq!(r.state(), "MASTER");
        r
    }

    fn state(&self) -> String {
        self.status.lock().unwrap().state.clone()
    }

    fn holds_vip(&self) -> bool {
        self.world.present.lock().unwrap().contains(&VIP)
    }

    fn sent(&self) -> Vec<(Ipv4Addr, AdvertRepr)> {
        self.world.sent.lock().unwrap().clone()
    }

    /// An advert from `from` with `priority`, as a raw socket hands it up.
    fn receive(&self, from: Ipv4Addr, priority: u8) {
        let vrrp = AdvertRepr {
            version: Version::V2,
            vrid: 51,
            priority,
            interval: AdvertInterval::from_secs(1),
            auth: Auth::from_config(Some(b"s3cret")),
            addrs: vec![VIP.into()],
        }
        .to_bytes(&ChecksumOver::MessageOnly);
        let total = u16::try_from(20 + vrrp.len()).unwrap().to_be_bytes();
        let mut d = vec![0x45, 0xc0, total[0], total[1], 0, 0, 0, 0, 255, 112, 0, 0];
        d.extend_from_slice(&from.octets());
        d.extend_from_slice(&[224, 0, 0, 18]);
        d.extend_from_slice(&vrrp);
        let inbox = self.world.inbox.lock().unwrap();
        inbox.as_ref().unwrap().send(d).unwrap();
    }

    async fn command(&self, c: Command) {
        self.commands.send(c).await.unwrap();
    }
}

#[test]
fn silence_makes_it_master_after_master_down_interval_holding_and_announcing_the_vip() {
    paused(async {
        let r = Running::start();
        tokio::time::sleep(Duration::from_millis(3550)).await;
        assert_eq!(r.state(), "BACKUP");
        assert!(r.sent().is_empty() && !r.holds_vip());
        // Master_Down_Interval at priority 100: 3 + 156/256 s = 3.609 s.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(r.state(), "MASTER");
        assert!(r.holds_vip());
        let sent = r.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].0, sent[0].1.priority), (ME, 100));
        assert_eq!(*r.world.announced.lock().unwrap(), 5, "garp_master_repeat");
        // One advert per second from then on, and the second announcement after 5 s.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(r.sent().len(), 6);
        assert_eq!(*r.world.announced.lock().unwrap(), 10);
    });
}

#[test]
fn a_stronger_advert_makes_the_master_let_go() {
    paused(async {
        let r = Running::master().await;
        r.receive(PEER, 200);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(r.state(), "BACKUP");
        assert!(!r.holds_vip());
        assert_eq!(r.status.lock().unwrap().counters.adverts_received, 1);
    });
}

#[test]
fn a_renumbered_master_sends_from_its_new_address_and_stays_master() {
    paused(async {
        let r = Running::master().await;
        let new = Ipv4Addr::new(10, 0, 0, 21);
        r.command(Command::Interface(Interface {
            ifindex: IFINDEX,
            up: true,
            source: Some(new),
            vips: None,
        }))
        .await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(*r.world.opened.lock().unwrap(), [ME, new]);
        let last = r.sent().last().cloned().unwrap();
        assert_eq!((last.0, last.1.priority), (new, 100));
        assert_eq!(r.state(), "MASTER");
        assert!(r.holds_vip());
        assert_eq!(r.status.lock().unwrap().source, new.to_string());
    });
}

#[test]
fn two_adverts_that_cannot_be_sent_are_fault_and_the_vip_goes() {
    paused(async {
        let r = Running::master().await;
        r.world.fail_sends.store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(r.state(), "MASTER", "one failure is not enough");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(r.state(), "FAULT");
        assert!(!r.holds_vip(), "never hold a VIP no advert defends");
        // Sends work again: retried after 5 s, back to BACKUP, master after its interval.
        r.world.fail_sends.store(false, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(r.state(), "BACKUP");
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(r.state(), "MASTER");
    });
}

#[test]
fn no_address_for_an_advert_interval_is_fault_until_one_comes_back() {
    paused(async {
        let r = Running::master().await;
        let gone = Interface {
            ifindex: IFINDEX,
            up: true,
            source: None,
            vips: None,
        };
        r.command(Command::Interface(gone)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            r.state(),
            "MASTER",
            "a renumbering gets an advert interval: {:?}",
            r.status.lock().unwrap().last_transition
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(r.state(), "FAULT");
        assert!(!r.holds_vip());
        r.command(Command::Interface(Interface {
            ifindex: IFINDEX,
            up: true,
            source: Some(ME),
            vips: None,
        }))
        .await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(r.state(), "BACKUP");
    });
}

#[test]
fn a_burst_of_claims_on_the_vip_is_answered_once_within_an_interval() {
    paused(async {
        let r = Running::master().await;
        tokio::time::sleep(Duration::from_secs(6)).await; // past the second announcement
        let before = *r.world.announced.lock().unwrap();
        let claims = r.world.claims.lock().unwrap().clone().unwrap();
        for _ in 0..5 {
            claims
                .send(ArpClaim {
                    sender_ip: VIP,
                    sender_mac: [2, 0, 0, 0, 0, 9],
                    op: ArpOp::Request,
                })
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(*r.world.announced.lock().unwrap(), before + 5, "one burst");
        let counters = r.status.lock().unwrap().counters.clone();
        assert_eq!((counters.vip_claims_seen, counters.vip_defenses), (5, 1));
        // A claim on another address is none of its business.
        claims
            .send(ArpClaim {
                sender_ip: Ipv4Addr::new(10, 0, 0, 77),
                sender_mac: [2, 0, 0, 0, 0, 9],
                op: ArpOp::Reply,
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(r.status.lock().unwrap().counters.vip_claims_seen, 5);
    });
}

#[test]
fn a_weaker_router_answering_a_demoted_master_finds_it_master_again_with_the_vip() {
    paused(async {
        let r = Running::master().await;
        // What a failed check does: the priority falls (here through maintenance's sibling,
        // the fsm itself is tested in fsm.rs); a weaker backup answers the resign.
        r.receive(PEER, 0);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(r.state(), "MASTER", "a master answers a priority-0 advert");
        assert!(r.holds_vip());
    });
}

/// A master that took over because the old one fell silent may be wrong (a lossy link): a
/// claim right after its takeover (the real master's defence) is answered only once its
/// cooldown has passed, by when the real master's advert has set it right.
#[test]
fn a_master_that_took_over_after_silence_does_not_fight_at_once() {
    paused(async {
        let r = Running::master().await; // took over at 3.61 s, now 3.7 s
        let before = *r.world.announced.lock().unwrap();
        let claims = r.world.claims.lock().unwrap().clone().unwrap();
        let claim = ArpClaim {
            sender_ip: VIP,
            sender_mac: [2, 0, 0, 0, 0, 9],
            op: ArpOp::Request,
        };
        claims.send(claim).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(*r.world.announced.lock().unwrap(), before, "not at once");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            *r.world.announced.lock().unwrap(),
            before + 5,
            "after the cooldown"
        );
    });
}
