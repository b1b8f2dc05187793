//! `src/net` against a real kernel, in network namespaces (needs root and `ip netns`).
//!
//! Each test builds its own topology: a "switch" namespace holding a bridge, and two host
//! namespaces A and B, each with a veth `eth0` on that bridge (10.200.X.1/24 and .2/24; with
//! [`Topo::with_ipv6`] also fd00:c8:X::1/64 and ::2/64, duplicate address detection off). No
//! namespace has a route out and nothing is sent outside them. A guard deletes the namespaces,
//! also when the test panics; a keepalived a test starts is ended by its PID.
//!
//! Code under test runs inside a namespace on a fresh OS thread that calls `setns` and then
//! builds its own current-thread tokio runtime (never on a tokio worker).
//!
//! Without root or `ip netns` every test fails with a message saying so: a skip would be
//! listed as `ok` by libtest, and a green run must mean these tests ran.

use std::fs::File;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Child, Command};
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
use vipd::net::socket::{Inbound, Ipv6Meta, Transport, VrrpSocket};
use vipd::vip::{Announcer, BoundVip, KernelAnnouncer};
use vipd::vrrp::packet::{
    AdvertInterval, AdvertRepr, Auth, ChecksumForm, ChecksumOver, Endpoints, PacketError, Version,
    parse_ipv4, parse_ipv6, parse_ipv6_unicast,
};

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

    fn host_ip6(&self, last: u8) -> Ipv6Addr {
        Ipv6Addr::new(
            0xfd00,
            0xc8,
            u16::from(self.net),
            0,
            0,
            0,
            0,
            u16::from(last),
        )
    }

    /// IPv6 on both hosts as NETNS.md says: DAD off and the link bounced, so that the
    /// link-local addresses are usable at once, and fd00:c8:X::1 and ::2/64 added `nodad`.
    fn with_ipv6(self) -> Topo {
        for (host, last) in [(&self.a, 1), (&self.b, 2)] {
            for key in ["all", "default", "eth0"] {
                sysctl(host, &format!("net.ipv6.conf.{key}.accept_dad=0"));
            }
            ip(&["-n", host, "link", "set", "eth0", "down"]);
            ip(&["-n", host, "link", "set", "eth0", "up"]);
            let cidr = format!("{}/64", self.host_ip6(last));
            ip(&["-n", host, "addr", "add", &cidr, "dev", "eth0", "nodad"]);
        }
        self
    }
}

fn sysctl(ns: &str, setting: &str) {
    let ok = Command::new("ip")
        .args(["netns", "exec", ns, "sysctl", "-qw", setting])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "sysctl {setting} in {ns}");
}

/// The link-local address of eth0 in `ns` as `link_local_ipv6` finds it, once usable (5 s).
fn link_local_of(ns: &str) -> Ipv6Addr {
    join(in_netns(ns, || async {
        let nl = Netlink::connect().expect("netlink");
        let idx = eth0(&nl).await.index;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(ll) = nl.link_local_ipv6(idx).await.expect("RTM_GETADDR") {
                return ll;
            }
            assert!(
                Instant::now() < deadline,
                "no usable link-local address in 5 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }))
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

/// What a [`relay`] sends: for message `i`, from `src` to `dst`, the VRRP bytes.
type Build = fn(i: usize, src: IpAddr, dst: IpAddr) -> Vec<u8>;

/// A (on `a`) sends `count` messages built by `build`, one every 50 ms; B (on `b`) returns
/// what it receives of them (5 s each at most). A must not receive its own.
fn relay(
    t: &Topo,
    a: (IpAddr, Transport),
    b: (IpAddr, Transport),
    count: usize,
    build: Build,
) -> Vec<(Vec<u8>, Inbound)> {
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let b = in_netns(&t.b, move || async move {
        let nl = Netlink::connect().expect("netlink");
        let link = eth0(&nl).await;
        let sock = VrrpSocket::open("eth0", link.index, b.0, b.1).expect("open B");
        ready_tx.send(()).expect("ready");
        let mut got = Vec::new();
        for _ in 0..count {
            let mut buf = [0u8; 2048];
            let inbound = tokio::time::timeout(Duration::from_secs(5), sock.recv(&mut buf))
                .await
                .expect("B received nothing within 5 s")
                .expect("recv");
            got.push((buf[..inbound.len].to_vec(), inbound));
        }
        got
    });
    let a = in_netns(&t.a, move || async move {
        let nl = Netlink::connect().expect("netlink");
        let link = eth0(&nl).await;
        let sock = VrrpSocket::open("eth0", link.index, a.0, a.1).expect("open A");
        assert_eq!(sock.src(), a.0);
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("B ready");
        for i in 0..count {
            sock.send(|dst| build(i, a.0, dst)).expect("send");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut buf = [0u8; 2048];
        let own = tokio::time::timeout(Duration::from_millis(300), sock.recv(&mut buf)).await;
        assert!(own.is_err(), "A received a datagram: {own:?}");
    });
    join(a);
    join(b)
}

/// The VRRPv3 advert the relays send: VRID 51, priority 100, every 50 ms, for `vip`.
fn advert_v3(vip: IpAddr) -> AdvertRepr {
    AdvertRepr {
        version: Version::V3,
        vrid: 51,
        priority: 100,
        interval: AdvertInterval::from_centis(5),
        auth: Auth::None,
        addrs: vec![vip],
    }
}

const VIP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xc8, 0, 0, 0, 0, 0, 0x151);

/// Message 0: a VRRPv3 advert for [`VIP6`] with the pseudo-header checksum of its
/// destination; message 1: the same with one checksum bit flipped.
fn v6_adverts(i: usize, src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let ends = Endpoints::new(src, dst).expect("one family");
    let mut bytes = advert_v3(VIP6.into()).to_bytes(&ChecksumOver::PseudoHeader(ends));
    if i == 1 {
        bytes[7] ^= 0x01;
    }
    bytes
}

/// The IPv6 metadata of what B received.
fn meta(got: &(Vec<u8>, Inbound)) -> Ipv6Meta {
    assert_eq!(got.1.len, got.0.len());
    got.1
        .ipv6
        .expect("an IPv6 datagram comes with its metadata")
}

#[test]
fn vrrp_socket_ipv6_multicast_from_the_link_local_address() {
    if !can_run() {
        return;
    }
    let t = Topo::new().with_ipv6();
    let (a_ll, b_ll) = (link_local_of(&t.a), link_local_of(&t.b));
    assert!(a_ll.is_unicast_link_local() && a_ll != b_ll);
    let shown = ip_output(&[
        "-n", &t.a, "-6", "addr", "show", "dev", "eth0", "scope", "link",
    ]);
    assert!(shown.contains(&a_ll.to_string()), "{shown}");
    let group = |src: Ipv6Addr| Transport::multicast_for(src.into());
    let got = relay(
        &t,
        (a_ll.into(), group(a_ll)),
        (b_ll.into(), group(b_ll)),
        2,
        v6_adverts,
    );
    let m = meta(&got[0]);
    let ff02_12: Ipv6Addr = "ff02::12".parse().unwrap();
    assert_eq!((m.src, m.dst, m.hop_limit), (a_ll, ff02_12, 255));
    let received = parse_ipv6(&got[0].0, m.src, m.dst, m.hop_limit).expect("a valid advert");
    assert_eq!(received.advert, advert_v3(VIP6.into()));
    assert_eq!(received.checksum_form, ChecksumForm::PseudoHeader);
    // A bad checksum reaches us (no IPV6_CHECKSUM on the socket), to be counted.
    let m = meta(&got[1]);
    assert!(
        matches!(
            parse_ipv6(&got[1].0, m.src, m.dst, m.hop_limit),
            Err(PacketError::BadChecksum { .. })
        ),
        "{:?}",
        parse_ipv6(&got[1].0, m.src, m.dst, m.hop_limit)
    );
}

#[test]
fn vrrp_socket_ipv6_unicast() {
    if !can_run() {
        return;
    }
    let t = Topo::new().with_ipv6();
    let (a_ip, b_ip) = (t.host_ip6(1), t.host_ip6(2));
    let peer = |ip: Ipv6Addr| Transport::Unicast {
        peers: vec![ip.into()],
    };
    let got = relay(
        &t,
        (a_ip.into(), peer(b_ip)),
        (b_ip.into(), peer(a_ip)),
        1,
        v6_adverts,
    );
    let m = meta(&got[0]);
    assert_eq!((m.src, m.dst, m.hop_limit), (a_ip, b_ip, 255));
    let received = parse_ipv6_unicast(&got[0].0, m.src, m.dst, m.hop_limit).expect("valid");
    assert_eq!(received.advert, advert_v3(VIP6.into()));
}

#[test]
fn vrrp_socket_v3_over_ipv4_with_the_pseudo_header() {
    if !can_run() {
        return;
    }
    let t = Topo::new();
    let (a_ip, b_ip) = (t.host_ip(1), t.host_ip(2));
    let got = relay(
        &t,
        (a_ip.into(), group(a_ip)),
        (b_ip.into(), group(b_ip)),
        1,
        |_, src, dst| {
            let ends = Endpoints::new(src, dst).expect("one family");
            let vip = Ipv4Addr::new(10, 200, 0, 151);
            advert_v3(vip.into()).to_bytes(&ChecksumOver::PseudoHeader(ends))
        },
    );
    assert_eq!(got[0].1.ipv6, None);
    let received = parse_ipv4(&got[0].0).expect("a valid VRRPv3 datagram");
    assert_eq!(received.src, IpAddr::V4(a_ip));
    assert_eq!(received.ttl, 255);
    assert_eq!(received.advert.version, Version::V3);
    assert_eq!(received.checksum_form, ChecksumForm::PseudoHeader);
}

/// Whether a UDP socket can bind `ip` now: a tentative address cannot be bound.
fn bindable(ip: Ipv6Addr) -> bool {
    std::net::UdpSocket::bind((ip, 0)).is_ok()
}

#[test]
fn ipv6_addresses_round_trip_and_a_nodad_vip_is_usable_at_once() {
    if !can_run() {
        return;
    }
    // DAD on, as on a real host.
    let t = Topo::new();
    let ns = t.a.clone();
    let (vip, other) = (t.host_ip6(100), t.host_ip6(101));
    let h = in_netns(&t.a, move || async move {
        let nl = Netlink::connect().expect("netlink");
        let idx = eth0(&nl).await.index;

        // A fresh link-local address is tentative while DAD runs: not a source yet.
        ip(&["-n", &ns, "link", "set", "eth0", "down"]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        let tentative = (nl.ipv6_addr_infos(idx).await.unwrap().into_iter())
            .find(|a| a.addr.is_unicast_link_local())
            .expect("a link-local address");
        assert!(tentative.tentative, "{tentative:?}");
        assert_eq!(nl.link_local_ipv6(idx).await.unwrap(), None);

        // The VIP, added by us: usable at once.
        assert!(nl.add_address(idx, vip.into(), 64, None).await.unwrap());
        let infos = nl.ipv6_addr_infos(idx).await.unwrap();
        let info = infos.iter().find(|a| a.addr == vip).expect("the VIP");
        assert!(info.usable() && info.prefix_len == 64, "{info:?}");
        assert!(bindable(vip), "a nodad VIP can be bound at once");
        assert!(nl.has_address(idx, vip.into()).await.unwrap());
        assert!(!nl.add_address(idx, vip.into(), 64, None).await.unwrap());

        // The same without nodad (as `ip` adds it) is tentative and cannot be bound.
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{other}/64"),
            "dev",
            "eth0",
        ]);
        let infos = nl.ipv6_addr_infos(idx).await.unwrap();
        let info = infos.iter().find(|a| a.addr == other).expect("the other");
        assert!(info.tentative, "{info:?}");
        assert!(!bindable(other));
        assert!(nl.has_address(idx, other.into()).await.unwrap());

        assert!(nl.del_address(idx, vip.into(), 64).await.unwrap());
        assert!(!nl.del_address(idx, vip.into(), 64).await.unwrap());
        assert!(!nl.has_address(idx, vip.into()).await.unwrap());

        // Once DAD is over, the link-local address is the source.
        let deadline = Instant::now() + Duration::from_secs(5);
        let ll = loop {
            if let Some(ll) = nl.link_local_ipv6(idx).await.unwrap() {
                break ll;
            }
            assert!(Instant::now() < deadline, "DAD did not end in 5 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(ll, tentative.addr);
    });
    join(h);
}

/// The lladdr `ip -6 neigh` shows for `addr` on B's eth0, if any.
fn neighbour_mac(ns: &str, addr: Ipv6Addr) -> Option<String> {
    let shown = ip_output(&[
        "-n",
        ns,
        "-6",
        "neigh",
        "show",
        &addr.to_string(),
        "dev",
        "eth0",
    ]);
    let mut words = shown.split_whitespace();
    words.find(|&w| w == "lladdr")?;
    words.next().map(str::to_owned)
}

#[test]
fn neighbour_advertisement_points_the_peer_cache_at_our_mac() {
    if !can_run() {
        return;
    }
    let t = Topo::new().with_ipv6();
    let vip = t.host_ip6(100);
    // Linux takes an unsolicited advertisement only for an address it has cached: B has the
    // VIP at another host's MAC, as after the old master.
    let old = "02:00:00:00:00:99";
    let b = t.b.clone();
    ip(&[
        "-n",
        &b,
        "-6",
        "neigh",
        "add",
        &vip.to_string(),
        "lladdr",
        old,
        "dev",
        "eth0",
        // Not permanent (the default of `neigh add`), which advertisements never change.
        "nud",
        "stale",
    ]);
    assert_eq!(neighbour_mac(&b, vip).as_deref(), Some(old));
    let h = in_netns(&t.a, move || async move {
        let nl = Netlink::connect().expect("netlink");
        let link = eth0(&nl).await;
        let bound = BoundVip {
            addr: vip.into(),
            prefix_len: 64,
            label: None,
            ifindex: link.index,
            dev: "eth0".into(),
            mac: link.mac,
            excluded: false,
        };
        let announcer = KernelAnnouncer::new(nl.clone());
        assert!(announcer.add(&bound).await.unwrap());
        assert_eq!(announcer.announce(&bound, 2).unwrap(), 2);
        link.mac
    });
    let mac = join(h);
    let want = (mac.iter().map(|b| format!("{b:02x}")))
        .collect::<Vec<_>>()
        .join(":");
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let now = neighbour_mac(&b, vip);
        if now.as_deref() == Some(want.as_str()) {
            break;
        }
        assert!(Instant::now() < deadline, "B still has {now:?}, not {want}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A keepalived started in a namespace, with its files; ended by its PID (SIGTERM, then
/// SIGKILL) and its files removed on drop.
struct Keepalived {
    child: Child,
    dir: std::path::PathBuf,
}

impl Keepalived {
    /// Starts keepalived's VRRP process in `ns` on `config`, in the foreground.
    fn start(ns: &str, config: &str) -> Keepalived {
        let dir = std::env::temp_dir().join(format!("vipd-ka-{ns}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = |name: &str| dir.join(name).display().to_string();
        std::fs::write(file("ka.conf"), config).expect("write ka.conf");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "keepalived",
                "-n",
                "-l",
                "-D",
                "-P",
                "-f",
            ])
            .args([file("ka.conf"), "-p".into(), file("ka.pid")])
            .args([
                "-r".into(),
                file("vrrp.pid"),
                "-c".into(),
                file("check.pid"),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("keepalived 2.2.7 (apt-get install -y keepalived)");
        Keepalived { child, dir }
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        // `ip netns exec` execs keepalived: the child's PID is keepalived's parent process,
        // which ends its VRRP child on SIGTERM.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_keepalived_ipv6_advert_is_received_and_parses() {
    if !can_run() {
        return;
    }
    let t = Topo::new().with_ipv6();
    let (a_ll, b_ll) = (link_local_of(&t.a), link_local_of(&t.b));
    let vip = t.host_ip6(151);
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let a = in_netns(&t.a, move || async move {
        let nl = Netlink::connect().expect("netlink");
        let idx = eth0(&nl).await.index;
        let group = Transport::multicast_for(a_ll.into());
        let sock = VrrpSocket::open("eth0", idx, a_ll.into(), group).expect("open A");
        ready_tx.send(()).expect("ready");
        let mut buf = [0u8; 2048];
        let inbound = tokio::time::timeout(Duration::from_secs(15), sock.recv(&mut buf))
            .await
            .expect("no advert from keepalived within 15 s")
            .expect("recv");
        (buf[..inbound.len].to_vec(), inbound)
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("A ready");
    let config = format!(
        "vrrp_instance VI_6 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
         priority 100\n  advert_int 0.1\n  version 3\n  virtual_ipaddress {{\n    {vip}/64\n  \
         }}\n}}\n"
    );
    let keepalived = Keepalived::start(&t.b, &config);
    let got = join(a);
    drop(keepalived);
    let m = meta(&got);
    assert_eq!(
        (m.src, m.hop_limit),
        (b_ll, 255),
        "from its link-local address"
    );
    assert_eq!(m.dst, "ff02::12".parse::<Ipv6Addr>().unwrap());
    let received = parse_ipv6(&got.0, m.src, m.dst, m.hop_limit).expect("keepalived's advert");
    assert_eq!(received.advert.version, Version::V3);
    assert_eq!(received.advert.vrid, 51);
    assert_eq!(received.advert.priority, 100);
    assert_eq!(received.advert.interval, AdvertInterval::from_centis(10));
    assert_eq!(received.advert.addrs, [IpAddr::V6(vip)]);
    assert_eq!(received.checksum_form, ChecksumForm::PseudoHeader);
}

/// `use_vmac`: the macvlan appears with the virtual MAC on eth0, with keepalived's kernel
/// parameters on it and on eth0; a second call adopts it; removal restores eth0's.
#[test]
fn vmac_is_created_adopted_and_removed() {
    if !can_run() {
        return;
    }
    let t = Topo::new();
    let ns = t.a.clone();
    let h = in_netns(&t.a, move || async move {
        use vipd::net::vmac::virtual_mac;
        let nl = Netlink::connect().expect("netlink");
        let base = eth0(&nl).await.index;
        let mac = virtual_mac(51, false);
        let vmac = nl.ensure_vmac("vrrp.51", base, mac).await.expect("create");
        assert_eq!(
            vmac.base_before,
            Some(Default::default()),
            "eth0's defaults"
        );
        let link = nl
            .link_by_name("vrrp.51")
            .await
            .expect("the macvlan exists");
        assert_eq!((link.index, link.mac), (vmac.index, mac));
        let again = nl.ensure_vmac("vrrp.51", base, mac).await.expect("adopt");
        assert_eq!(again.index, vmac.index, "adopted, not re-created");
        assert_eq!(again.base_before, None);
        vmac
    });
    let vmac = join(h);
    let sysctl = |dev: &str, key: &str| {
        let out = Command::new("ip")
            .args(["netns", "exec", &ns, "sysctl", "-n"])
            .arg(format!("net.ipv4.conf.{dev}.{key}"))
            .output()
            .expect("sysctl");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(sysctl("vrrp/51", "arp_ignore"), "1");
    assert_eq!(sysctl("vrrp/51", "accept_local"), "1");
    assert_eq!(sysctl("vrrp/51", "rp_filter"), "0");
    assert_eq!(sysctl("eth0", "arp_ignore"), "1");
    assert_eq!(sysctl("eth0", "arp_filter"), "1");
    assert_eq!(sysctl("eth0", "arp_announce"), "2");
    let details = ip_output(&["-n", &ns, "-d", "link", "show", "vrrp.51"]);
    assert!(details.contains("macvlan mode private"), "{details}");
    assert!(
        details.contains("state UP") || details.contains(",UP"),
        "{details}"
    );
    let v6 = ip_output(&["-n", &ns, "-6", "addr", "show", "dev", "vrrp.51"]);
    assert!(!v6.contains("fe80"), "no generated link-local: {v6}");

    let h = in_netns(&t.a, move || async move {
        let nl = Netlink::connect().expect("netlink");
        nl.remove_vmac(&vmac).await.expect("remove");
        assert!(matches!(
            nl.link_by_name("vrrp.51").await,
            Err(NetError::NoSuchInterface(_))
        ));
        nl.remove_vmac(&vmac).await.expect("gone already is fine");
    });
    join(h);
    assert_eq!(sysctl("eth0", "arp_ignore"), "0");
    assert_eq!(sysctl("eth0", "arp_filter"), "0");
    assert_eq!(sysctl("eth0", "arp_announce"), "0");
}
