//! The PROXY protocol header (HAProxy's doc/proxy-protocol.txt) that tells a real server who
//! the client is: the first bytes vipd sends on a server connection of a pool with
//! `proxy_protocol v1|v2`. Pure: addresses in, bytes out.
//!
//! A forwarded connection carries the PROXY command with TCP over IPv4 or IPv6: source = the
//! client, destination = the address the client connected to (the VIP). A health check
//! carries what the spec reserves for connections the proxy makes on its own: v1 `UNKNOWN`,
//! v2 the LOCAL command with family UNSPEC and no addresses; the server then takes the
//! connection's own endpoints.

use std::net::{IpAddr, SocketAddr};

use crate::config::ProxyProtocol;

/// v2's signature, the header's first 12 bytes (spec 2.2).
const V2_SIGNATURE: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];
/// Version 2 in the high nibble; the command in the low: LOCAL (0) or PROXY (1).
const V2_LOCAL: u8 = 0x20;
const V2_PROXY: u8 = 0x21;
/// Address family in the high nibble, transport in the low: UNSPEC, TCP over IPv4 or IPv6.
const V2_UNSPEC: u8 = 0x00;
const V2_TCP4: u8 = 0x11;
const V2_TCP6: u8 = 0x21;

/// Appends the header of a connection from `client` to `local` (the VIP it connected to) to
/// `out`. Both addresses in one family: an IPv4 address seen on an IPv6 socket (mapped,
/// `::ffff:a.b.c.d`) is written as IPv4 where the other is IPv4 too, else both as IPv6.
pub(super) fn write(
    version: ProxyProtocol,
    client: SocketAddr,
    local: SocketAddr,
    out: &mut Vec<u8>,
) {
    let (src, dst) = same_family(client.ip(), local.ip());
    let (sport, dport) = (client.port(), local.port());
    match version {
        ProxyProtocol::V1 => {
            let family = if src.is_ipv4() { "TCP4" } else { "TCP6" };
            let line = format!("PROXY {family} {src} {dst} {sport} {dport}\r\n");
            out.extend_from_slice(line.as_bytes());
        }
        ProxyProtocol::V2 => {
            out.extend_from_slice(&V2_SIGNATURE);
            out.push(V2_PROXY);
            match (src, dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    out.push(V2_TCP4);
                    out.extend_from_slice(&12u16.to_be_bytes());
                    out.extend_from_slice(&s.octets());
                    out.extend_from_slice(&d.octets());
                }
                (s, d) => {
                    out.push(V2_TCP6);
                    out.extend_from_slice(&36u16.to_be_bytes());
                    out.extend_from_slice(&v6(s).octets());
                    out.extend_from_slice(&v6(d).octets());
                }
            }
            out.extend_from_slice(&sport.to_be_bytes());
            out.extend_from_slice(&dport.to_be_bytes());
        }
    }
}

/// The header of a connection vipd makes on its own (a health check): v1 `UNKNOWN`, v2
/// LOCAL with family UNSPEC and length 0.
pub(super) fn local(version: ProxyProtocol) -> &'static [u8] {
    const V1: &[u8] = b"PROXY UNKNOWN\r\n";
    const V2: [u8; 16] = {
        let mut h = [0u8; 16];
        let mut i = 0;
        while i < 12 {
            h[i] = V2_SIGNATURE[i];
            i += 1;
        }
        h[12] = V2_LOCAL;
        h[13] = V2_UNSPEC;
        h
    };
    match version {
        ProxyProtocol::V1 => V1,
        ProxyProtocol::V2 => &V2,
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> (IpAddr, IpAddr) {
    match (a.to_canonical(), b.to_canonical()) {
        (a @ IpAddr::V4(_), b @ IpAddr::V4(_)) => (a, b),
        (a, b) => (IpAddr::V6(v6(a)), IpAddr::V6(v6(b))),
    }
}

fn v6(a: IpAddr) -> std::net::Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn header(version: ProxyProtocol, client: &str, local: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write(
            version,
            client.parse().unwrap(),
            local.parse().unwrap(),
            &mut out,
        );
        out
    }

    #[test]
    fn v1_tcp4_and_tcp6_as_the_spec_writes_them() {
        assert_eq!(
            header(ProxyProtocol::V1, "192.168.0.1:56324", "192.168.0.11:443"),
            b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
        );
        assert_eq!(
            header(
                ProxyProtocol::V1,
                "[2001:db8::1]:56324",
                "[2001:db8::11]:443"
            ),
            b"PROXY TCP6 2001:db8::1 2001:db8::11 56324 443\r\n"
        );
        // The spec's longest TCP4 line; the longest TCP6 one is within its 107 bytes.
        let long = header(
            ProxyProtocol::V1,
            "255.255.255.255:65535",
            "255.255.255.255:65535",
        );
        assert_eq!(
            long,
            b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"
        );
        let v6 = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535";
        assert_eq!(header(ProxyProtocol::V1, v6, v6).len(), 104);
    }

    #[test]
    fn v2_tcp4_byte_for_byte() {
        let h = header(ProxyProtocol::V2, "10.0.0.1:1234", "10.0.0.100:80");
        let want: &[u8] = &[
            0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54,
            0x0A, // signature
            0x21, // v2, PROXY
            0x11, // TCP over IPv4
            0x00, 0x0C, // 12 bytes follow
            10, 0, 0, 1, // source
            10, 0, 0, 100, // destination
            0x04, 0xD2, // 1234
            0x00, 0x50, // 80
        ];
        assert_eq!(h, want);
    }

    #[test]
    fn v2_tcp6_byte_for_byte() {
        let h = header(ProxyProtocol::V2, "[2001:db8::1]:1234", "[fd00::100]:443");
        let mut want = V2_SIGNATURE.to_vec();
        want.extend_from_slice(&[0x21, 0x21, 0x00, 0x24]);
        want.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        want.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00]);
        want.extend_from_slice(&[0x04, 0xD2, 0x01, 0xBB]);
        assert_eq!(h, want);
        assert_eq!(h.len(), 16 + 36);
    }

    #[test]
    fn mixed_families_are_written_in_one() {
        // A client mapped into IPv6 on an IPv4 VIP: both IPv4.
        assert_eq!(
            header(ProxyProtocol::V1, "[::ffff:10.0.0.1]:5", "10.0.0.100:80"),
            b"PROXY TCP4 10.0.0.1 10.0.0.100 5 80\r\n"
        );
        // An IPv4 client on an IPv6 VIP: both IPv6.
        assert_eq!(
            header(ProxyProtocol::V1, "10.0.0.1:5", "[fd00::100]:80"),
            b"PROXY TCP6 ::ffff:10.0.0.1 fd00::100 5 80\r\n"
        );
        assert_eq!(
            header(ProxyProtocol::V2, "10.0.0.1:5", "[fd00::100]:80")[13],
            0x21
        );
    }

    #[test]
    fn health_checks_send_unknown_and_local() {
        assert_eq!(local(ProxyProtocol::V1), b"PROXY UNKNOWN\r\n");
        let mut want = V2_SIGNATURE.to_vec();
        want.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
        assert_eq!(local(ProxyProtocol::V2), want.as_slice());
    }
}
