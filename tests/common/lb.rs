//! The one-pool forwarder the loopback tests run: `virtual_server` on a free port of
//! 127.0.0.1 in front of the given servers, keepalived's defaults otherwise.

use std::net::{SocketAddr, SocketAddrV4, TcpListener};
use std::time::Duration;

use vipd::config::{LbAlgo, Protocol, RealServer, VirtualServer};

/// The IPv4 address of a socket bound on 127.0.0.1.
pub fn v4(a: SocketAddr) -> SocketAddrV4 {
    match a {
        SocketAddr::V4(a) => a,
        other => panic!("{other}"),
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A pool on a free port of 127.0.0.1 over `backends` (weight 1 each, no checks).
pub fn pool(backends: &[SocketAddrV4], algo: LbAlgo) -> VirtualServer {
    VirtualServer {
        addr: SocketAddrV4::new([127, 0, 0, 1].into(), free_port()).into(),
        protocol: Protocol::Tcp,
        delay_loop: Duration::from_secs(60),
        lb_algo: algo,
        persistence_timeout: None,
        sorry_server: None,
        quorum: 1,
        hysteresis: 0,
        alpha: false,
        omega: false,
        connect_timeout: Duration::from_secs(2),
        proxy_protocol: None,
        maxconn: None,
        real_servers: backends
            .iter()
            .map(|&addr| RealServer {
                addr: addr.into(),
                weight: 1,
                inhibit_on_failure: false,
                notify_up: None,
                notify_down: None,
                proxy_protocol: None,
                maxconn: None,
                uthreshold: 0,
                lthreshold: 0,
                checks: Vec::new(),
            })
            .collect(),
    }
}
