//! Unsolicited IPv6 neighbour advertisements over `AF_PACKET` ([`NaSender`]): the IPv6
//! counterpart of a gratuitous ARP, sent for a VIP so that the neighbour caches of the link
//! point it at our MAC at once (RFC 4861 §7.2.6, RFC 9568 §8.2).
//!
//! # The frame, byte for byte as keepalived 2.2 (`ndisc_send_unsolicited_na_immediate`)
//! One 86-byte frame per address:
//! - Ethernet: dst 33:33:00:00:00:01 (the all-nodes group, RFC 2464 §7), src = our MAC, type
//!   0x86dd;
//! - IPv6: traffic class and flow label 0, next header 58 (ICMPv6), hop limit 255 (receivers
//!   drop neighbour discovery with any other, RFC 4861 §7.1.2), src = the VIP, dst ff02::1;
//! - ICMPv6 type 136 code 0: Router flag as the interface forwards IPv6 or not (keepalived
//!   reads `conf/IF/forwarding`; RFC 9568 §8.2 assumes a router), Solicited 0 (nobody asked),
//!   Override 1 (replace the cached MAC), target = the VIP, then the Target Link-Layer Address
//!   option (type 2, length 1) = our MAC.
//!
//! The frame is built whole and sent through a packet socket, as keepalived does: a raw
//! ICMPv6 socket would need the VIP bound as its source for every frame, while a packet
//! socket sends from any address, and the same bytes go out either way. The socket is opened
//! with protocol 0 and never bound, so the kernel queues no received frames to it.

use std::net::Ipv6Addr;

use pnet_packet::icmpv6::{self, Icmpv6Packet};

use super::{FrameSender, NetError};

/// Length of a neighbour advertisement frame: 14 (Ethernet) + 40 (IPv6) + 32 (ICMPv6).
pub const NA_FRAME_LEN: usize = 86;

/// The Ethernet address of the all-nodes group ff02::1.
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
/// The all-nodes multicast group.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// ICMPv6 Neighbor Advertisement (RFC 4861 §4.4).
const NEIGHBOUR_ADVERTISEMENT: u8 = 136;
/// Next Header: ICMPv6.
const IPPROTO_ICMPV6: u8 = 58;
/// The ICMPv6 part: 24 bytes of message, 8 of Target Link-Layer Address option.
const ICMP_LEN: usize = 32;
/// Flags of the advertisement (RFC 4861 §4.4): Router, Solicited, Override.
const FLAG_ROUTER: u8 = 0x80;
const FLAG_OVERRIDE: u8 = 0x20;

/// Sends unsolicited neighbour advertisements on one interface.
#[derive(Debug)]
pub struct NaSender {
    /// To the interface, `ETH_P_IPV6`, the all-nodes MAC.
    frames: FrameSender,
    /// Our hardware address: Ethernet source and target link-layer address.
    mac: [u8; 6],
}

impl NaSender {
    /// Opens a send-only packet socket for interface `ifindex` whose MAC is `mac`.
    pub fn open(ifindex: u32, mac: [u8; 6]) -> Result<Self, NetError> {
        let frames = FrameSender::open(ifindex, libc::ETH_P_IPV6, "ETH_P_IPV6", ALL_NODES_MAC)?;
        Ok(NaSender { frames, mac })
    }

    /// Sends one unsolicited advertisement for `ip` (see the module doc for the frame), with
    /// the Router flag when `router`. Never waits.
    pub fn send(&self, ip: Ipv6Addr, router: bool) -> Result<(), NetError> {
        let frame = na_frame(self.mac, ip, router);
        self.frames
            .send(&frame, || format!("neighbour advertisement {ip}"))
    }
}

/// Whether interface `ifname` forwards IPv6 (`/proc/sys/net/ipv6/conf/IF/forwarding`), which
/// sets the Router flag of its advertisements as keepalived sets it; `false` when unreadable.
pub fn forwards_ipv6(ifname: &str) -> bool {
    if ifname.is_empty() || ifname.contains('/') || ifname.starts_with('.') {
        return false;
    }
    std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{ifname}/forwarding"))
        .is_ok_and(|v| v.trim() != "0")
}

/// Builds the unsolicited neighbour advertisement keepalived sends for `ip` from `mac`.
pub fn na_frame(mac: [u8; 6], ip: Ipv6Addr, router: bool) -> [u8; NA_FRAME_LEN] {
    let mut f = [0u8; NA_FRAME_LEN];
    // Ethernet.
    f[0..6].copy_from_slice(&ALL_NODES_MAC);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    // IPv6: version 6, traffic class and flow label 0.
    let ip6 = &mut f[14..54];
    ip6[0] = 0x60;
    ip6[4..6].copy_from_slice(&(ICMP_LEN as u16).to_be_bytes());
    ip6[6] = IPPROTO_ICMPV6;
    ip6[7] = 255;
    ip6[8..24].copy_from_slice(&ip.octets());
    ip6[24..40].copy_from_slice(&ALL_NODES.octets());
    // ICMPv6 Neighbor Advertisement with the Target Link-Layer Address option.
    let icmp = &mut f[54..];
    icmp[0] = NEIGHBOUR_ADVERTISEMENT;
    icmp[4] = FLAG_OVERRIDE | if router { FLAG_ROUTER } else { 0 };
    icmp[8..24].copy_from_slice(&ip.octets());
    icmp[24] = 2;
    icmp[25] = 1;
    icmp[26..32].copy_from_slice(&mac);
    // The view only fails on a buffer shorter than its 4-byte header; the size is constant.
    let sum = Icmpv6Packet::new(icmp).map_or(0, |p| icmpv6::checksum(&p, &ip, &ALL_NODES));
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_matches_keepalived() {
        let mac = [0x02, 0x00, 0x5e, 0x00, 0x02, 0x07];
        let vip: Ipv6Addr = "fd77::151".parse().unwrap();
        let f = na_frame(mac, vip, false);
        #[rustfmt::skip]
        let head: [u8; 56] = [
            0x33, 0x33, 0, 0, 0, 1,             // eth dst: all nodes
            0x02, 0x00, 0x5e, 0x00, 0x02, 0x07, // eth src
            0x86, 0xdd,                         // IPv6
            0x60, 0, 0, 0, 0, 32, 58, 255,      // version, length 32, ICMPv6, hop limit 255
            0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x51, // src: the VIP
            0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,       // dst: ff02::1
            136, 0,                             // neighbour advertisement
        ];
        assert_eq!(f[..56], head);
        #[rustfmt::skip]
        let tail: [u8; 28] = [
            0x20, 0, 0, 0,                      // R 0, S 0, O 1
            0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x51, // target
            2, 1, 0x02, 0x00, 0x5e, 0x00, 0x02, 0x07,                   // target LL address
        ];
        assert_eq!(f[58..], tail);
        // The checksum: over the pseudo-header and the message, the sum is all ones.
        let mut sum: u32 = 0;
        let mut add = |b: &[u8]| {
            for w in b.chunks(2) {
                sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
            }
        };
        add(&vip.octets());
        add(&ALL_NODES.octets());
        add(&[0, 0, 0, 32, 0, 0, 0, 58]);
        add(&f[54..]);
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff, "checksum of {:02x?}", &f[56..58]);

        let routed = na_frame(mac, vip, true);
        assert_eq!(routed[58], 0xa0, "R 1, S 0, O 1");
        assert_ne!(routed[56..58], f[56..58], "the checksum covers the flags");
    }

    /// A neighbour advertisement keepalived 2.2.7 sent for fd77::151 from da:2d:bd:a1:70:cb
    /// (captured with tcpdump in a namespace lab, interface not forwarding).
    #[test]
    fn frame_equals_a_captured_keepalived_frame() {
        #[rustfmt::skip]
        let captured: [u8; NA_FRAME_LEN] = [
            0x33, 0x33, 0x00, 0x00, 0x00, 0x01, 0xda, 0x2d, 0xbd, 0xa1, 0x70, 0xcb, 0x86, 0xdd,
            0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,
            0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x51,
            0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x01,
            0x88, 0x00, 0x50, 0x73, 0x20, 0x00, 0x00, 0x00,
            0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x51,
            0x02, 0x01, 0xda, 0x2d, 0xbd, 0xa1, 0x70, 0xcb,
        ];
        let mac = [0xda, 0x2d, 0xbd, 0xa1, 0x70, 0xcb];
        assert_eq!(na_frame(mac, "fd77::151".parse().unwrap(), false), captured);
    }

    #[test]
    fn forwarding_of_a_missing_interface_is_no() {
        assert!(!forwards_ipv6("no-such-if0"));
        assert!(!forwards_ipv6("../all"));
        assert!(!forwards_ipv6(""));
    }
}
