//! The UDP forwarder in process, on 127.0.0.1 only (no root): answers come back from the
//! virtual server's address, each new client port is a flow given to the next server, a
//! reload changes a pool in place (flows kept, new flows see the new servers) and removes
//! one (its socket closes), and the status counts flows and datagrams.

use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use vipd::config::{LbAlgo, Protocol, VirtualServer};
use vipd::lb::{Lb, LbOptions};

mod common;
use common::lb::pool;

/// A UDP backend on 127.0.0.1 answering each datagram with `id`; ends after 30 s idle.
fn backend(id: u8) -> SocketAddrV4 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let SocketAddr::V4(addr) = s.local_addr().unwrap() else {
        unreachable!("bound on 127.0.0.1")
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((_, from)) = s.recv_from(&mut buf) {
            let _ = s.send_to(&[id], from);
        }
    });
    addr
}

fn udp_pool(backends: &[SocketAddrV4]) -> VirtualServer {
    VirtualServer {
        protocol: Protocol::Udp,
        ..pool(backends, LbAlgo::Rr)
    }
}

/// A client socket (its own port: its own flow) talking to `vs`.
fn client(vs: SocketAddr) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.connect(vs).unwrap();
    s
}

/// One exchange: which backend answered (a connected socket only takes answers from `vs`).
fn ask(c: &UdpSocket) -> std::io::Result<u8> {
    c.send(b"q")?;
    let mut buf = [0u8; 16];
    let n = c.recv(&mut buf)?;
    assert_eq!(n, 1);
    Ok(buf[0])
}

#[tokio::test]
async fn flows_rr_reload_in_place_and_removal() {
    let (b1, b2) = (backend(1), backend(2));
    let vs = udp_pool(&[b1]);
    let mut lb = Lb::start(std::slice::from_ref(&vs), LbOptions::new(1)).unwrap();
    let old = client(vs.addr);
    assert_eq!(ask(&old).unwrap(), 1);
    assert_eq!(ask(&old).unwrap(), 1, "the same flow");
    // The thread counts an answer once it is sent: the client may read it first.
    let mut st = lb.view().status()[0].clone();
    for _ in 0..100 {
        if st.udp.as_ref().is_some_and(|u| u.datagrams_out == 2) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        st = lb.view().status()[0].clone();
    }
    let udp = st.udp.as_ref().expect("a UDP pool has udp status");
    assert_eq!((udp.flows, udp.datagrams_in, udp.datagrams_out), (1, 2, 2));
    assert_eq!(st.real_servers[0].active_connections, 1);

    // Changed in place: b2 joins; the old flow stays on b1, new flows alternate.
    let two = VirtualServer {
        addr: vs.addr,
        ..udp_pool(&[b1, b2])
    };
    let plan = lb.prepare(std::slice::from_ref(&two)).unwrap();
    let changes = lb.apply(plan);
    assert_eq!(changes.changed, [format!("{}/udp", vs.addr)]);
    let got: Vec<u8> = (0..4).map(|_| ask(&client(vs.addr)).unwrap()).collect();
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [1, 1, 2, 2], "rr over both: {got:?}");
    assert_eq!(ask(&old).unwrap(), 1, "an open flow keeps its server");
    assert_eq!(lb.view().status()[0].udp.as_ref().unwrap().flows, 5);

    // Removed: its socket closes, flows with it.
    let plan = lb.prepare(&[]).unwrap();
    let changes = lb.apply(plan);
    assert_eq!(changes.removed, [format!("{}/udp", vs.addr)]);
    let c = client(vs.addr);
    let mut gone = false;
    for _ in 0..20 {
        // The removal reaches the thread through its channel: give it a moment.
        if ask(&c).is_err() {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(gone, "no answer once the pool is removed");
    lb.stop();
}

/// An IPv6 UDP pool on ::1: the socket is IPv6-only with IPV6_FREEBIND, flows and answers
/// work as over IPv4, and status writes the address in brackets.
#[tokio::test]
async fn an_ipv6_udp_pool_on_loopback() {
    let s = UdpSocket::bind("[::1]:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let server = s.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((_, from)) = s.recv_from(&mut buf) {
            let _ = s.send_to(&[6], from);
        }
    });
    let port = UdpSocket::bind("[::1]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut vs = udp_pool(&[]);
    vs.addr = SocketAddr::new("::1".parse().unwrap(), port);
    vs.real_servers = pool(&["127.0.0.1:1".parse().unwrap()], LbAlgo::Rr).real_servers;
    vs.real_servers[0].addr = server;
    let lb = Lb::start(std::slice::from_ref(&vs), LbOptions::new(1)).unwrap();
    let c = UdpSocket::bind("[::1]:0").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    c.connect(vs.addr).unwrap();
    assert_eq!(ask(&c).unwrap(), 6);
    let st = &lb.view().status()[0];
    assert_eq!(st.addr, format!("[::1]:{port}"));
    assert_eq!(st.real_servers[0].addr, server.to_string());
    lb.stop();
}
