//! ARP over `AF_PACKET`: gratuitous ARPs out ([`GarpSender`]), other hosts' claims in
//! ([`ArpWatch`]).
//!
//! # Sending, byte for byte as keepalived 2.2
//! One 42-byte frame per address (the driver pads it to 60 on the wire):
//! Ethernet dst ff:ff:ff:ff:ff:ff, src = our MAC, type 0x0806; ARP request (op 1),
//! sender = (our MAC, ip), target = (ff:ff:ff:ff:ff:ff, ip) — keepalived's
//! `send_gratuitous_arp_immediate` sets the target hardware address to broadcast, not zeros.
//!
//! The socket is `AF_PACKET`/`SOCK_RAW` opened with protocol 0 and never bound, so the kernel
//! queues no received frames to it (we never read it; keepalived opens its with `ETH_P_RARP`
//! for the same reason). Each frame is sent with `sendto` to a `sockaddr_ll` naming the
//! interface and `ETH_P_ARP`.
//!
//! # Watching
//! [`ArpWatch`] reports every Ethernet/IPv4 ARP request or reply another host sends on one
//! interface as an [`ArpClaim`]: whoever says "`sender_ip` is at `sender_mac`" updates the ARP
//! caches of the hosts that hear it, gratuitous or not. Deciding whether a claim matters (is
//! the address one of our VIPs, are we master) is the caller's business.
//!
//! The socket is opened with protocol 0, so nothing is queued to it until `bind` names
//! `ETH_P_ARP` and the interface: opened with `ETH_P_ARP` it would see every interface's ARP
//! until bound. Before the bind it gets a classic BPF filter, so the kernel queues only the
//! first 42 bytes of well-formed Ethernet/IPv4 ARP requests and replies.
//!
//! Frames this host sends are never reported, in two ways. The kernel copies outgoing frames
//! (`PACKET_OUTGOING`) only to packet sockets bound to `ETH_P_ALL` (`dev_queue_xmit_nit` walks
//! `ptype_all`), never to one bound to `ETH_P_ARP`, so there is nothing for the filter to
//! drop; the netns test holds the kernel to it. Frames that come back in naming one of the
//! caller's own MACs as sender (a switch reflecting them, a macvlan of ours) are skipped in
//! user space.

use std::io;
use std::net::Ipv4Addr;

use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, ArpPacket, MutableArpPacket};
use pnet_packet::ethernet::{EtherTypes, EthernetPacket, MutableEthernetPacket};
use pnet_packet::{MutablePacket, Packet};
use socket2::{Domain, SockFilter, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::{FrameSender, NetError, link_addr, read_when_ready, require_runtime};

/// Length of a gratuitous ARP frame before padding: 14 (Ethernet) + 28 (ARP for IPv4).
const GARP_FRAME_LEN: usize = 42;
const BROADCAST: [u8; 6] = [0xff; 6];

/// Sends gratuitous ARPs on one interface.
#[derive(Debug)]
pub struct GarpSender {
    /// To the interface, `ETH_P_ARP`, broadcast.
    frames: FrameSender,
    /// Our hardware address: Ethernet source and ARP sender.
    mac: [u8; 6],
}

impl GarpSender {
    /// Opens a send-only packet socket for interface `ifindex` whose MAC is `mac`.
    pub fn open(ifindex: u32, mac: [u8; 6]) -> Result<Self, NetError> {
        let frames = FrameSender::open(ifindex, libc::ETH_P_ARP, "ETH_P_ARP", BROADCAST)?;
        Ok(GarpSender { frames, mac })
    }

    /// Sends one gratuitous ARP for `ip` (see the module doc for the frame). Never waits.
    pub fn send(&self, ip: Ipv4Addr) -> Result<(), NetError> {
        let frame = garp_frame(self.mac, ip);
        self.frames.send(&frame, || format!("gratuitous ARP {ip}"))
    }
}

/// Builds the gratuitous ARP frame keepalived sends for `ip` from `mac`.
fn garp_frame(mac: [u8; 6], ip: Ipv4Addr) -> [u8; GARP_FRAME_LEN] {
    let mut frame = [0u8; GARP_FRAME_LEN];
    // Both views only fail on a buffer shorter than their header; the sizes are constants.
    if let Some(mut eth) = MutableEthernetPacket::new(&mut frame) {
        eth.set_destination(BROADCAST.into());
        eth.set_source(mac.into());
        eth.set_ethertype(EtherTypes::Arp);
        if let Some(mut arp) = MutableArpPacket::new(eth.payload_mut()) {
            arp.set_hardware_type(ArpHardwareTypes::Ethernet);
            arp.set_protocol_type(EtherTypes::Ipv4);
            arp.set_hw_addr_len(6);
            arp.set_proto_addr_len(4);
            arp.set_operation(ArpOperations::Request);
            arp.set_sender_hw_addr(mac.into());
            arp.set_sender_proto_addr(ip);
            arp.set_target_hw_addr(BROADCAST.into());
            arp.set_target_proto_addr(ip);
        }
    }
    frame
}

/// Which ARP operation a frame carries (the only two that update ARP caches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOp {
    /// Op 1: "who has target_ip? tell sender_ip" (a gratuitous ARP when both IPs are equal).
    Request,
    /// Op 2: "sender_ip is at sender_mac".
    Reply,
}

/// What one ARP frame says: "`sender_ip` is at `sender_mac`". Hosts that hear it and have
/// `sender_ip` cached point it at `sender_mac`, whatever `op` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpClaim {
    /// The ARP sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// The ARP sender hardware address (not the Ethernet source: caches learn this one).
    pub sender_mac: [u8; 6],
    /// Request or reply.
    pub op: ArpOp,
}

/// Reads an Ethernet frame as an Ethernet/IPv4 ARP request or reply; `None` for anything
/// else (short, another EtherType, hardware or protocol type, address lengths or operation).
/// Never panics, whatever the bytes.
fn parse_claim(frame: &[u8]) -> Option<ArpClaim> {
    // The views check only that their fixed header fits; the field checks below are ours.
    let eth = EthernetPacket::new(frame)?;
    if eth.get_ethertype() != EtherTypes::Arp {
        return None;
    }
    let arp = ArpPacket::new(eth.payload())?;
    // pnet reads the addresses at the offsets of 6-byte MACs and 4-byte IPs: check that is
    // what the frame carries before trusting them.
    if arp.get_hardware_type() != ArpHardwareTypes::Ethernet
        || arp.get_protocol_type() != EtherTypes::Ipv4
        || arp.get_hw_addr_len() != 6
        || arp.get_proto_addr_len() != 4
    {
        return None;
    }
    let op = match arp.get_operation() {
        ArpOperations::Request => ArpOp::Request,
        ArpOperations::Reply => ArpOp::Reply,
        _ => return None,
    };
    Some(ArpClaim {
        sender_ip: arp.get_sender_proto_addr(),
        sender_mac: arp.get_sender_hw_addr().into(),
        op,
    })
}

/// Watches one interface for ARP frames other hosts send (see the module doc).
#[derive(Debug)]
pub struct ArpWatch {
    /// `AF_PACKET`/`SOCK_RAW` bound to `ETH_P_ARP` on `ifindex`, filtered, non-blocking.
    fd: AsyncFd<Socket>,
    /// Interface index the socket is bound to, for error messages.
    ifindex: u32,
    /// Frames whose ARP sender is one of these are ours, never a claim.
    own_macs: Vec<[u8; 6]>,
}

impl ArpWatch {
    /// Opens a watch on interface `ifindex`. `own_macs` are this host's MACs on that link
    /// (the interface's, and a virtual MAC if one is used): frames naming them as sender are
    /// skipped. Must be called inside a tokio runtime, and the watch used on that runtime.
    ///
    /// The watch is tied to the interface index: if the interface is deleted it goes silent
    /// for good, and a re-created interface needs a new watch.
    pub fn open(ifindex: u32, own_macs: &[[u8; 6]]) -> Result<Self, NetError> {
        require_runtime("ArpWatch::open")?;
        let ifname = format!("ifindex {ifindex}");
        let sys = |call: &'static str, what: &'static str| {
            let ifname = ifname.clone();
            move |e: io::Error| NetError::syscall(call, what, ifname, e)
        };
        // Protocol 0: nothing is queued before `bind` picks the interface (module doc).
        let sock = Socket::new(Domain::PACKET, Type::RAW, None)
            .map_err(sys("socket", "AF_PACKET, SOCK_RAW, 0"))?;
        sock.attach_filter(&ARP_FILTER.map(|(code, jt, jf, k)| SockFilter::new(code, jt, jf, k)))
            .map_err(sys("setsockopt", "SO_ATTACH_FILTER"))?;
        sock.set_nonblocking(true)
            .map_err(sys("fcntl", "O_NONBLOCK"))?;
        let addr =
            link_addr(ifindex, libc::ETH_P_ARP, [0; 6]).map_err(sys("sockaddr_ll", "ETH_P_ARP"))?;
        sock.bind(&addr).map_err(sys("bind", "ETH_P_ARP"))?;
        // SAFETY: `sock` owns its file descriptor and the `AsyncFd` takes ownership of `sock`,
        // so the descriptor stays open and refers to this socket until the `AsyncFd` drops.
        let fd = unsafe { AsyncFd::register(sock) }.map_err(|e| {
            NetError::syscall("epoll_ctl", "EPOLL_CTL_ADD", ifname.clone(), e.into())
        })?;
        Ok(ArpWatch {
            fd,
            ifindex,
            own_macs: own_macs.to_vec(),
        })
    }

    /// Waits for the next ARP request or reply sent by another host on the interface.
    ///
    /// Cancel-safe: a frame is read only when it is returned or skipped, never lost by
    /// dropping this future. A link that goes down and up again is not an error (the kernel
    /// reports `ENETDOWN` once; the watch resumes when the link is up).
    pub async fn next(&self) -> Result<ArpClaim, NetError> {
        // The filter cuts frames to 42 bytes; room for more costs nothing.
        let mut buf = [0u8; 64];
        loop {
            match read_when_ready(&self.fd, &mut buf).await {
                Ok(n) => {
                    if let Some(claim) = buf.get(..n).and_then(parse_claim)
                        && !self.own_macs.contains(&claim.sender_mac)
                    {
                        return Ok(claim);
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ENETDOWN) => continue,
                Err(e) => return Err(self.err("recv", "ETH_P_ARP", e)),
            }
        }
    }

    /// The interface index the watch is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    fn err(&self, call: &'static str, what: &str, e: io::Error) -> NetError {
        NetError::syscall(call, what, format!("ifindex {}", self.ifindex), e)
    }
}

/// Classic BPF: keep the first [`GARP_FRAME_LEN`] bytes of Ethernet/IPv4 ARP requests and
/// replies, drop everything else. It accepts exactly what [`parse_claim`] accepts (a property
/// test holds the two together). Instructions are `(code, jt, jf, k)`, as `struct sock_filter`.
const ARP_FILTER: [(u16, u8, u8, u32); 15] = {
    const LD_H_ABS: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_ABS) as u16;
    const LD_LEN: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_LEN) as u16;
    const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
    const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    // Jump offsets count instructions after the next one; DROP is the last, index 14.
    const fn to_drop(at: u8) -> u8 {
        14 - at - 1
    }
    [
        (LD_LEN, 0, 0, 0),                            // 0: frame length
        (JGE, 0, to_drop(1), GARP_FRAME_LEN as u32),  // 1: Ethernet + ARP for IPv4
        (LD_H_ABS, 0, 0, 12),                         // 2: EtherType
        (JEQ, 0, to_drop(3), libc::ETH_P_ARP as u32), // 3
        (LD_H_ABS, 0, 0, 14),                         // 4: hardware type
        (JEQ, 0, to_drop(5), 1),                      // 5: Ethernet
        (LD_H_ABS, 0, 0, 16),                         // 6: protocol type
        (JEQ, 0, to_drop(7), libc::ETH_P_IP as u32),  // 7
        (LD_H_ABS, 0, 0, 18),                         // 8: hlen, plen
        (JEQ, 0, to_drop(9), 0x0604),                 // 9
        (LD_H_ABS, 0, 0, 20),                         // 10: operation
        (JEQ, 1, 0, 1),                               // 11: request -> 13
        (JEQ, 0, to_drop(12), 2),                     // 12: reply -> 13
        (RET, 0, 0, GARP_FRAME_LEN as u32),           // 13: accept, cut to 42 bytes
        (RET, 0, 0, 0),                               // 14: drop
    ]
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_matches_keepalived() {
        let mac = [0x02, 0x00, 0x5e, 0x00, 0x01, 0x07];
        let f = garp_frame(mac, Ipv4Addr::new(10, 200, 1, 100));
        #[rustfmt::skip]
        let want: [u8; GARP_FRAME_LEN] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // eth dst
            0x02, 0x00, 0x5e, 0x00, 0x01, 0x07, // eth src
            0x08, 0x06,                         // ARP
            0x00, 0x01, 0x08, 0x00, 6, 4,       // Ethernet, IPv4, hlen, plen
            0x00, 0x01,                         // request
            0x02, 0x00, 0x5e, 0x00, 0x01, 0x07, 10, 200, 1, 100, // sender
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 10, 200, 1, 100, // target
        ];
        assert_eq!(f, want);
        assert_eq!(14 + 28, GARP_FRAME_LEN);
    }

    const MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x01, 0x07];
    const IP: Ipv4Addr = Ipv4Addr::new(10, 200, 1, 100);
    fn reply_frame() -> [u8; GARP_FRAME_LEN] {
        let mut f = garp_frame(MAC, IP);
        f[21] = 2;
        f
    }

    #[test]
    fn parses_gratuitous_request_and_reply() {
        let want = ArpClaim {
            sender_ip: IP,
            sender_mac: MAC,
            op: ArpOp::Request,
        };
        assert_eq!(parse_claim(&garp_frame(MAC, IP)), Some(want));
        let reply = ArpClaim {
            op: ArpOp::Reply,
            ..want
        };
        assert_eq!(parse_claim(&reply_frame()), Some(reply));
        // The 18 bytes of padding a 60-byte wire frame carries change nothing.
        let mut padded = [0u8; 60];
        padded[..GARP_FRAME_LEN].copy_from_slice(&garp_frame(MAC, IP));
        assert_eq!(parse_claim(&padded), Some(want));
    }

    #[test]
    fn the_arp_sender_counts_not_the_ethernet_source() {
        let mut f = garp_frame(MAC, IP);
        f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x99]);
        assert_eq!(parse_claim(&f).map(|c| c.sender_mac), Some(MAC));
    }

    #[test]
    fn watch_outside_a_runtime_is_an_error_not_a_panic() {
        assert!(matches!(
            ArpWatch::open(1, &[MAC]),
            Err(NetError::NoRuntime("ArpWatch::open"))
        ));
    }

    /// One frame per rejection: (what, offset, new byte).
    const REJECTS: &[(&str, usize, u8)] = &[
        ("EtherType IPv4", 13, 0x00),
        ("hardware type 6 (IEEE 802)", 15, 6),
        ("protocol type 0x86dd", 16, 0x86),
        ("hardware address length 8", 18, 8),
        ("protocol address length 16", 19, 16),
        ("op 3 (RARP request)", 21, 3),
        ("op 0", 21, 0),
        ("op 0x0101", 20, 1),
    ];

    #[test]
    fn rejects_what_is_not_an_ethernet_ipv4_arp_claim() {
        for &(what, at, byte) in REJECTS {
            let mut f = garp_frame(MAC, IP);
            f[at] = byte;
            assert_eq!(parse_claim(&f), None, "{what}");
        }
        let f = garp_frame(MAC, IP);
        for len in 0..GARP_FRAME_LEN {
            assert_eq!(parse_claim(&f[..len]), None, "{len} bytes");
        }
    }

    /// Runs the classic BPF instructions [`ARP_FILTER`] uses, as the kernel would: returns
    /// how many bytes of `frame` are kept (0 = dropped). Out-of-bounds loads drop the frame.
    fn run_filter(frame: &[u8]) -> u32 {
        const LD_H_ABS: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_ABS) as u16;
        const LD_LEN: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_LEN) as u16;
        const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
        const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
        const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let (code, jt, jf, k) = ARP_FILTER[pc];
            pc += 1;
            match code {
                LD_H_ABS => {
                    let at = k as usize;
                    let Some(b) = frame.get(at..at + 2) else {
                        return 0;
                    };
                    acc = u32::from(u16::from_be_bytes([b[0], b[1]]));
                }
                LD_LEN => acc = u32::try_from(frame.len()).unwrap_or(u32::MAX),
                JEQ => pc += usize::from(if acc == k { jt } else { jf }),
                JGE => pc += usize::from(if acc >= k { jt } else { jf }),
                RET => return k,
                other => panic!("instruction {other:#x} not modelled"),
            }
        }
    }

    #[test]
    fn filter_keeps_the_header_of_arp_claims_only() {
        assert_eq!(run_filter(&garp_frame(MAC, IP)), 42);
        assert_eq!(run_filter(&reply_frame()), 42);
        for &(what, at, byte) in REJECTS {
            let mut f = garp_frame(MAC, IP);
            f[at] = byte;
            assert_eq!(run_filter(&f), 0, "{what}");
        }
        let f = garp_frame(MAC, IP);
        for len in 0..GARP_FRAME_LEN {
            assert_eq!(run_filter(&f[..len]), 0, "{len} bytes");
        }
    }

    use proptest::prelude::*;

    /// Random bytes, and valid frames with a few bytes overwritten and a random length.
    fn frames() -> impl Strategy<Value = Vec<u8>> {
        let mutated = (
            proptest::collection::vec((0usize..64, any::<u8>()), 0..4),
            0usize..64,
            any::<bool>(),
        )
            .prop_map(|(edits, len, reply)| {
                let mut f = [0u8; 64];
                f[..GARP_FRAME_LEN].copy_from_slice(&garp_frame(MAC, IP));
                f[21] = if reply { 2 } else { 1 };
                for (at, b) in edits {
                    f[at] = b;
                }
                f[..len].to_vec()
            });
        prop_oneof![proptest::collection::vec(any::<u8>(), 0..128), mutated]
    }

    proptest! {
        /// Never panics, and the kernel filter and the parser agree on every frame (so the
        /// filter neither hides a claim nor queues work the parser throws away), also on
        /// the 42 bytes the filter keeps.
        #[test]
        fn parser_never_panics_and_agrees_with_the_filter(frame in frames()) {
            let parsed = parse_claim(&frame);
            let kept = run_filter(&frame);
            prop_assert_eq!(parsed.is_some(), kept > 0);
            if kept > 0 {
                let cut = &frame[..frame.len().min(kept as usize)];
                prop_assert_eq!(parse_claim(cut), parsed);
            }
        }
    }
}
