//! `src/net` against a real kernel, in network namespaces (needs root and `ip netns`).
//!
//! Each test builds its own topology: a "switch" namespace holding a bridge, and two host
//! namespaces A and B, each with a veth `eth0` on that bridge (10.200.X.1/24 and .2/24). No
//! namespace has a route out and nothing is sent outside them. A guard deletes the namespaces,
//! also when the test panics.
//!
//! Code under test runs inside a namespace on a fresh OS thread that calls `setns` and then
//! builds its own current-thread tokio runtime (never on a tokio worker).
//!
//! Without root or `ip netns` every test fails with a message saying so: a skip would be
//! listed as `ok` by libtest, and a green run must mean these tests ran.

use std::fs::File;
use std::future::Future;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use pnet_packet::Packet;
use pnet_packet::arp::{ArpOperations, ArpPacket};
use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
use socket2::{Domain, Protocol, Socket, Type};
use vipd::net::NetError;
use vipd::net::addr::{LinkWatcher, Netlink};
use vipd::net::arp::{ArpClaim, ArpOp, ArpWatch, GarpSender};
use vipd::net::socket::{Transport, VrrpSocket};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// True when the test can run; without root or `ip netns` it panics (never a silent skip).
fn can_run() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let ip_netns = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if root && ip_netns {
        return true;
    }
    let why = if root {
        "`ip netns` is unavailable"
    } else {
        "not running as root"
    };
    panic!(
        "net_netns needs root and `ip netns` ({why}): run `sudo ./netns-tests/run-all.sh`; \
         these tests fail rather than skip, so a green run always means they ran"
    );
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip_output(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {}: {e}", args.join(" ")));
    assert!(out.status.success(), "ip {} failed", args.join(" "));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Switch + two hosts. Dropping it deletes all three namespaces.
struct Topo {
    sw: String,
    a: String,
    b: String,
    /// Third octet of the hosts' /24.
    net: u8,
    /// Namespaces created so far (deleted on drop).
    created: Vec<String>,
}

impl Topo {
    fn new() -> Topo {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let name = |role: &str| format!("vn{pid}x{n}{role}");
        let mut t = Topo {
            sw: name("s"),
            a: name("a"),
            b: name("b"),
            net: u8::try_from(n % 250 + 1).unwrap_or(1),
            created: Vec::new(),
        };
        for ns in [t.sw.clone(), t.a.clone(), t.b.clone()] {
            ip(&["netns", "add", &ns]);
            t.created.push(ns.clone());
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        let sw = t.sw.clone();
        ip(&[
            "-n",
            &sw,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        ip(&["-n", &sw, "link", "set", "br0", "up"]);
        for (port, host, last) in [("pa", t.a.clone(), 1), ("pb", t.b.clone(), 2)] {
            ip(&[
                "-n", &sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns",
                &host,
            ]);
            ip(&["-n", &sw, "link", "set", port, "master", "br0", "up"]);
            ip(&["-n", &host, "link", "set", "eth0", "up"]);
            let cidr = format!("{}/24", t.host_ip(last));
            ip(&["-n", &host, "addr", "add", &cidr, "dev", "eth0"]);
        }
        t
    }

    fn host_ip(&self, last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, self.net, last)
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Runs `f` on a fresh OS thread that has entered namespace `ns`, on a current-thread tokio
/// runtime built after the switch. Panics inside are re-raised here.
fn in_netns<F, Fut, T>(ns: &str, f: F) -> std::thread::JoinHandle<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        setns(&file, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns {path}: {e}"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(f())
    })
}

fn join<T>(h: std::thread::JoinHandle<T>) -> T {
    match h.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

async fn eth0(nl: &Netlink) -> vipd::net::addr::LinkInfo {
    nl.link_by_name("eth0").await.expect("link eth0")
}

#[test]
fn addresses_round_trip() {
    if !can_run() {
        return;
    }
    let t = Topo::new();
    let ns = t.a.clone();
    let primary = t.host_ip(1);
    let vip = t.host_ip(100);
    let vip32 = t.host_ip(200);
    let h = in_netns(&t.a, move || async move {
        let nl = Netlink::connect().expect("netlink");
        let link = eth0(&nl).await;
        assert_eq!(link.name, "eth0");
        assert!(link.up, "eth0 is up with carrier");
        assert_ne!(link.mac, [0; 6]);
        match nl.link_by_name("nosuch0").await {
            Err(NetError::NoSuchInterface(n)) => assert_eq!(n, "nosuch0"),
            other => panic!("missing interface gave {other:?}"),
        }
        let idx = link.index;

        assert_eq!(nl.ipv4_addrs(idx).await.unwrap(), vec![(primary, 24)]);
        assert_eq!(nl.primary_ipv4(idx, &[]).await.unwrap(), Some(primary));
        assert!(nl.has_address(idx, primary.into()).await.unwrap());
        assert!(!nl.has_address(idx, vip.into()).await.unwrap());

        // A VIP in the primary's subnet: secondary, with its label.
        nl.add_address(idx, vip.into(), 24, Some("eth0:vip"))
            .await
            .unwrap();
        assert!(nl.has_address(idx, vip.into()).await.unwrap());
        nl.add_address(idx, vip.into(), 24, Some("eth0:vip"))
            .await
            .expect("adding an address already present is Ok");
        let infos = nl.ipv4_addr_infos(idx).await.unwrap();
        assert_eq!(infos.len(), 2, "{infos:?}");
        assert_eq!(infos[0].addr, primary);
        assert!(!infos[0].secondary);
        assert_eq!(infos[1].addr, vip);
        assert!(infos[1].secondary);
        assert_eq!(infos[1].label.as_deref(), Some("eth0:vip"));
        assert_eq!(
            nl.ipv4_addrs(idx).await.unwrap(),
            vec![(primary, 24), (vip, 24)]
        );
        assert_eq!(nl.primary_ipv4(idx, &[vip]).await.unwrap(), Some(primary));
        assert_eq!(nl.primary_ipv4(idx, &[primary]).await.unwrap(), None);

        // A /32 VIP is a primary of its own: primary_ipv4 must skip it when excluded.
        nl.add_address(idx, vip32.into(), 32, None).await.unwrap();
        let addrs = nl.ipv4_addrs(idx).await.unwrap();
        assert_eq!(addrs[..2], [(primary, 24), (vip32, 32)], "{addrs:?}");
        assert_eq!(addrs[2], (vip, 24));
        assert_eq!(
            nl.primary_ipv4(idx, &[vip, vip32]).await.unwrap(),
            Some(primary)
        );
        assert_eq!(nl.primary_ipv4(idx, &[primary]).await.unwrap(), Some(vip32));

        // Deletion: wrong prefix length is "not there"; second delete is "not there".
        assert!(!nl.del_address(idx, primary.into(), 16).await.unwrap());
        assert!(nl.has_address(idx, primary.into()).await.unwrap());
        assert!(nl.del_address(idx, vip.into(), 24).await.unwrap());
        assert!(!nl.del_address(idx, vip.into(), 24).await.unwrap());
        assert!(!nl.has_address(idx, vip.into()).await.unwrap());
        assert!(nl.del_address(idx, vip32.into(), 32).await.unwrap());
        assert_eq!(nl.ipv4_addrs(idx).await.unwrap(), vec![(primary, 24)]);
    });
    join(h);
    // The label as `ip` shows it, checked from outside while the address is present.
    let h = in_netns(&t.a, move || async move {
        let nl = Netlink::connect().expect("netlink");
        let idx = eth0(&nl).await.index;
        nl.add_address(idx, vip.into(), 24, Some("eth0:vip"))
            .await
            .unwrap();
    });
    join(h);
    let shown = ip_output(&["-n", &ns, "-4", "addr", "show", "dev", "eth0"]);
    assert!(
        shown.contains(&format!("inet {vip}/24")) && shown.contains("eth0:vip"),
        "{shown}"
    );
}

/// Reads IPv4 header fields from a received datagram.
struct Ip<'a>(&'a [u8]);

impl Ip<'_> {
    fn tos(&self) -> u8 {
        self.0[1]
    }
    fn ttl(&self) -> u8 {
        self.0[8]
    }
    fn proto(&self) -> u8 {
        self.0[9]
    }
    fn src(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.0[12], self.0[13], self.0[14], self.0[15])
    }
    fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.0[16], self.0[17], self.0[18], self.0[19])
    }
    fn payload(&self) -> &[u8] {
        &self.0[usize::from(self.0[0] & 0x0f) * 4..]
    }
}

/// A sends `payload` three times from `a_transport`; B must receive it on `b_transport` with
/// the wire properties keepalived uses, and A must not receive its own packets.
fn exchange(t: &Topo, a_transport: Transport, b_transport: Transport, want_dst: Ipv4Addr) {
    let (a_ip, b_ip) = (t.host_ip(1), t.host_ip(2));
    let payload: Vec<u8> = (0u8..20).map(|i| 0x21 ^ i).collect();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let b = in_netns(&t.b, move || async move {
        let nl = Netlink::connect().expect("netlink");
        let link = eth0(&nl).await;
        let sock = VrrpSocket::open("eth0", link.index, b_ip.into(), b_transport).expect("open B");
        ready_tx.send(()).expect("ready");
        let mut buf = [0u8; 2048];
        let got = tokio::time::timeout(Duration::from_secs(5), sock.recv(&mut buf))
            .await
            .expect("B received nothing within 5 s")
            .expect("recv");
        assert_eq!(got.ipv6, None, "an IPv4 datagram comes with its header");
        buf[..got.len].to_vec()
    });
    let expected = payload.clone();
    let a = in_netns(&t.a, move || async move {
        let nl = Netlink::connect().expect("netlink");
        let link = eth0(&nl).await;
        let sock = VrrpSocket::open("eth0", link.index, a_ip.into(), a_transport).expect("open A");
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("B ready");
        for _ in 0..3 {
            sock.send(|_| expected.clone()).expect("send");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut buf = [0u8; 2048];
        let own = tokio::time::timeout(Duration::from_millis(500), sock.recv(&mut buf)).await;
        assert!(own.is_err(), "A received a datagram: {own:?}");
    });
    join(a);
    let got = join(b);
    let ip = Ip(&got);
    assert!(got.len() >= 20 && got[0] >> 4 == 4, "{got:02x?}");
    assert_eq!(ip.ttl(), 255, "TTL");
    assert_eq!(ip.tos(), 0xc0, "TOS");
    assert_eq!(ip.proto(), 112, "protocol");
    assert_eq!(ip.src(), a_ip, "source");
    assert_eq!(ip.dst(), want_dst, "destination");
    assert_eq!(ip.payload(), &payload[..], "payload");
}

#[test]
fn vrrp_socket_multicast() {
    if !can_run() {
        return;
    }
    let t = Topo::new();
    let group = Transport::multicast_for(t.host_ip(1).into());
    exchange(&t, group.clone(), group, Ipv4Addr::new(224, 0, 0, 18));
}

#[test]
fn vrrp_socket_unicast() {
    if !can_run() {
        return;
    }
    let t = Topo::new();
    let (a_ip, b_ip) = (t.host_ip(1), t.host_ip(2));
    exchange(
        &t,
        Transport::Unicast {
            peers: vec![b_ip.into()],
        },
        Transport::Unicast {
            peers: vec![a_ip.into()],
        },
        b_ip,
    );
}

fn group(src: Ipv4Addr) -> Transport {
    Transport::multicast_for(src.into())
}

#[test]
fn vrrp_socket_errors_name_interface() {
    if !can_run() {
        return;
    }
    let t = Topo::new();
    let a_ip = t.host_ip(1);
    let h = in_netns(&t.a, move || async move {
        let err = VrrpSocket::open("nosuch0", 999, a_ip.into(), group(a_ip))
            .expect_err("no such interface");
        let msg = err.to_string();
        assert!(
            msg.contains("SO_BINDTODEVICE") && msg.contains("nosuch0"),
            "{msg}"
        );
        assert!(!err.is_permission());
    });
    join(h);
    // Outside a runtime: an error, not a panic.
    assert!(matches!(
        VrrpSocket::open("eth0", 1, a_ip.into(), group(a_ip)),
        Err(NetError::NoRuntime(_))
    ));
}

/// The next event for eth0 with the wanted state (other events are skipped), within 5 s.
async fn wait_for(watcher: &mut LinkWatcher, want_up: bool) -> vipd::net::addr::LinkInfo {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = tokio::time::timeout(left, watcher.next())
            .await
            .unwrap_or_else(|_| panic!("no event with up={want_up} within 5 s"))
            .expect("watcher ended");
        if ev.name == "eth0" && ev.up == want_up {
            return ev;
        }
    }
}

#[test]
fn link_watcher_sees_down_and_up() {
    if !can_run() {
        return;
    }
    let t = Topo::new();
    let ns = t.a.clone();
    let h = in_netns(&t.a, move || async move {
        let nl = Netlink::connect().expect("netlink");
        let idx = eth0(&nl).await.index;
        let mut watcher = LinkWatcher::open().expect("watcher");

        ip(&["-n", &ns, "link", "set", "eth0", "down"]);
        let ev = wait_for(&mut watcher, false).await;
        assert_eq!(ev.index, idx);
        assert!(!eth0(&nl).await.up);

        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        let ev = wait_for(&mut watcher, true).await;
        assert_eq!(ev.index, idx);
        assert_ne!(ev.mac, [0; 6]);
        assert!(eth0(&nl).await.up);
    });
    join(h);
}

#[test]
fn garp_reaches_the_other_host() {
    if !can_run() {
        return;
    }
    let t = Topo::new();
    let vip = t.host_ip(100);
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    // B captures ARP frames on its side of the bridge with an AF_PACKET socket.
    let b = in_netns(&t.b, move || async move {
        let eth_p_arp = i32::from((libc::ETH_P_ARP as u16).to_be());
        let sock = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(eth_p_arp)))
            .expect("AF_PACKET socket");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        ready_tx.send(()).expect("ready");
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            let mut s: &Socket = &sock;
            let n = match std::io::Read::read(&mut s, &mut buf) {
                Ok(n) => n,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    continue;
                }
                Err(e) => panic!("recv: {e}"),
            };
            let Some(eth) = EthernetPacket::new(&buf[..n]) else {
                continue;
            };
            if eth.get_ethertype() != EtherTypes::Arp {
                continue;
            }
            let Some(arp) = ArpPacket::new(eth.payload()) else {
                continue;
            };
            if arp.get_sender_proto_addr() == vip {
                let eth_dst: [u8; 6] = eth.get_destination().into();
                let eth_src: [u8; 6] = eth.get_source().into();
                let sha: [u8; 6] = arp.get_sender_hw_addr().into();
                let tha: [u8; 6] = arp.get_target_hw_addr().into();
                return (
                    n,
                    eth_dst,
                    eth_src,
                    arp.get_operation(),
                    sha,
                    tha,
                    arp.get_target_proto_addr(),
                );
            }
        }
        panic!("B saw no gratuitous ARP for {vip} within 5 s");
    });
    let a = in_netns(&t.a, move || async move {
        let nl = Netlink::connect().expect("netlink");
        let link = eth0(&nl).await;
        let garp = GarpSender::open(link.index, link.mac).expect("garp");
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("B ready");
        for _ in 0..3 {
            garp.send(vip).expect("send garp");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        link.mac
    });
    let a_mac = join(a);
    let (len, eth_dst, eth_src, op, sha, tha, tpa) = join(b);
    assert!(len >= 42, "frame of {len} bytes");
    assert_eq!(eth_dst, [0xff; 6], "Ethernet destination");
    assert_eq!(eth_src, a_mac, "Ethernet source");
    assert_eq!(op, ArpOperations::Request, "ARP op");
    assert_eq!(sha, a_mac, "sender hardware address");
    assert_eq!(
        tha, [0xff; 6],
        "target hardware address (keepalived: broadcast)"
    );
    assert_eq!(tpa, vip, "target protocol address");
}

/// A MAC neither host has: A sends from it to show that its own frames are skipped whatever
/// MAC they carry.
const OTHER_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x01, 0x63];

/// The next claim on `watch` within `within`, or a panic naming `what`.
async fn claim_within(watch: &ArpWatch, within: Duration, what: &str) -> ArpClaim {
    tokio::time::timeout(within, watch.next())
        .await
        .unwrap_or_else(|_| panic!("no claim within {within:?}: {what}"))
        .expect("watch.next")
}

#[test]
fn arp_watch_reports_claims_of_other_hosts_only() {
    if !can_run() {
        return;
    }
    let t = Topo::new();
    let vip = t.host_ip(100);
    let (go_tx, go_rx) = mpsc::channel::<[u8; 6]>();
    let (sent_tx, sent_rx) = mpsc::channel::<Instant>();
    // A watches eth0. Before B speaks it sends ARPs itself, from its own MAC and from another
    // one: both leave as PACKET_OUTGOING and must not be reported.
    let a = in_netns(&t.a, move || async move {
        let nl = Netlink::connect().expect("netlink");
        let link = eth0(&nl).await;
        let watch = ArpWatch::open(link.index, &[link.mac]).expect("ArpWatch::open");
        assert_eq!(watch.ifindex(), link.index);
        let err = ArpWatch::open(9999, &[]).expect_err("no interface 9999");
        assert!(
            err.to_string().starts_with("bind(ETH_P_ARP, ifindex 9999)"),
            "{err}"
        );
        for mac in [link.mac, OTHER_MAC] {
            let own = GarpSender::open(link.index, mac).expect("garp");
            own.send(vip).expect("send own garp");
        }
        go_tx.send(link.mac).expect("go");
        let sent = sent_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("B sent");
        let claim = claim_within(&watch, Duration::from_secs(1), "B's gratuitous ARP").await;
        let latency = sent.elapsed();
        let quiet = tokio::time::timeout(Duration::from_millis(300), watch.next()).await;
        assert!(quiet.is_err(), "a second claim: {quiet:?}");
        (claim, latency)
    });
    // B first sends a gratuitous ARP that names A's MAC (as a switch reflecting A's frame
    // would): skipped as A's own. Then its own, which A must see, and see first.
    let b = in_netns(&t.b, move || async move {
        let nl = Netlink::connect().expect("netlink");
        let link = eth0(&nl).await;
        let a_mac = go_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("A ready");
        GarpSender::open(link.index, a_mac)
            .expect("garp as A")
            .send(vip)
            .expect("send garp as A");
        let garp = GarpSender::open(link.index, link.mac).expect("garp");
        garp.send(vip).expect("send garp");
        sent_tx.send(Instant::now()).expect("sent");
        link.mac
    });
    let b_mac = join(b);
    let (claim, latency) = join(a);
    assert_eq!(
        claim,
        ArpClaim {
            sender_ip: vip,
            sender_mac: b_mac,
            op: ArpOp::Request
        },
        "the first claim A reports is B's"
    );
    assert!(latency < Duration::from_secs(1), "{latency:?}");
}

#[test]
fn arp_watch_survives_a_link_flap() {
    if !can_run() {
        return;
    }
    let t = Topo::new();
    let ns = t.a.clone();
    let vip = t.host_ip(100);
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    // The kernel reports ENETDOWN once on the socket when the link goes down; the watch must
    // take it in its stride and report frames again once the link is back.
    let a = in_netns(&t.a, move || async move {
        let nl = Netlink::connect().expect("netlink");
        let link = eth0(&nl).await;
        let watch = ArpWatch::open(link.index, &[link.mac]).expect("ArpWatch::open");
        ip(&["-n", &ns, "link", "set", "eth0", "down"]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        go_tx.send(()).expect("go");
        let claim = claim_within(&watch, Duration::from_secs(3), "after a link flap").await;
        done_tx.send(()).expect("done");
        claim
    });
    // B repeats its gratuitous ARP until A has one: the bridge port may take a moment.
    let b = in_netns(&t.b, move || async move {
        let nl = Netlink::connect().expect("netlink");
        let link = eth0(&nl).await;
        let garp = GarpSender::open(link.index, link.mac).expect("garp");
        go_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("A ready");
        for _ in 0..30 {
            garp.send(vip).expect("send garp");
            if done_rx.recv_timeout(Duration::from_millis(100)).is_ok() {
                break;
            }
        }
        link.mac
    });
    let b_mac = join(b);
    let claim = join(a);
    assert_eq!((claim.sender_ip, claim.sender_mac), (vip, b_mac));
}
