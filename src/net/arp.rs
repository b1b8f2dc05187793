//! Gratuitous ARP over `AF_PACKET`, byte for byte as keepalived 2.2 sends it.
//!
//! One 42-byte frame per address (the driver pads it to 60 on the wire):
//! Ethernet dst ff:ff:ff:ff:ff:ff, src = our MAC, type 0x0806; ARP request (op 1),
//! sender = (our MAC, ip), target = (ff:ff:ff:ff:ff:ff, ip) — keepalived's
//! `send_gratuitous_arp_immediate` sets the target hardware address to broadcast, not zeros.
//!
//! The socket is `AF_PACKET`/`SOCK_RAW` opened with protocol 0 and never bound, so the kernel
//! queues no received frames to it (we never read it; keepalived opens its with `ETH_P_RARP`
//! for the same reason). Each frame is sent with `sendto` to a `sockaddr_ll` naming the
//! interface and `ETH_P_ARP`.

use std::io;
use std::mem;
use std::net::Ipv4Addr;

use pnet_packet::MutablePacket;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, MutableArpPacket};
use pnet_packet::ethernet::{EtherTypes, MutableEthernetPacket};
use socket2::{Domain, SockAddr, SockAddrStorage, Socket, Type};

use super::NetError;

/// Length of a gratuitous ARP frame before padding: 14 (Ethernet) + 28 (ARP for IPv4).
pub const GARP_FRAME_LEN: usize = 42;
const BROADCAST: [u8; 6] = [0xff; 6];

/// Sends gratuitous ARPs on one interface.
#[derive(Debug)]
pub struct GarpSender {
    /// `AF_PACKET`/`SOCK_RAW`, protocol 0 (send only).
    sock: Socket,
    /// Interface index, for the `sockaddr_ll` and error messages.
    ifindex: u32,
    /// Our hardware address: Ethernet source and ARP sender.
    mac: [u8; 6],
    /// Where every frame goes: the interface, `ETH_P_ARP`, broadcast.
    dest: SockAddr,
}

impl GarpSender {
    /// Opens a send-only packet socket for interface `ifindex` whose MAC is `mac`.
    pub fn open(ifindex: u32, mac: [u8; 6]) -> Result<Self, NetError> {
        let ifname = format!("ifindex {ifindex}");
        let sock = Socket::new(Domain::PACKET, Type::RAW, None)
            .map_err(|e| NetError::syscall("socket", "AF_PACKET, SOCK_RAW, 0", &ifname, e))?;
        let dest = link_addr(ifindex, libc::ETH_P_ARP, BROADCAST)
            .map_err(|e| NetError::syscall("sockaddr_ll", "ETH_P_ARP", &ifname, e))?;
        Ok(GarpSender {
            sock,
            ifindex,
            mac,
            dest,
        })
    }

    /// Sends one gratuitous ARP for `ip` (see the module doc for the frame). Never waits.
    pub fn send(&self, ip: Ipv4Addr) -> Result<(), NetError> {
        let frame = garp_frame(self.mac, ip);
        loop {
            match self
                .sock
                .send_to_with_flags(&frame, &self.dest, libc::MSG_DONTWAIT)
            {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(NetError::syscall(
                        "sendto",
                        format!("gratuitous ARP {ip}"),
                        format!("ifindex {}", self.ifindex),
                        e,
                    ));
                }
            }
        }
    }

    /// The interface index frames go out on.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }
}

/// Builds the gratuitous ARP frame keepalived sends for `ip` from `mac`.
pub fn garp_frame(mac: [u8; 6], ip: Ipv4Addr) -> [u8; GARP_FRAME_LEN] {
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

/// A `sockaddr_ll` for `sendto` on an `AF_PACKET` socket.
fn link_addr(ifindex: u32, protocol: i32, addr: [u8; 6]) -> io::Result<SockAddr> {
    let invalid = |what| io::Error::new(io::ErrorKind::InvalidInput, what);
    let ifindex = i32::try_from(ifindex).map_err(|_| invalid("ifindex out of range"))?;
    let protocol = u16::try_from(protocol).map_err(|_| invalid("protocol out of range"))?;
    let len = libc::socklen_t::try_from(mem::size_of::<libc::sockaddr_ll>())
        .map_err(|_| invalid("sockaddr_ll size"))?;
    let family = libc::sa_family_t::try_from(libc::AF_PACKET)
        .map_err(|_| invalid("AF_PACKET out of range"))?;
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `SockAddrStorage` is a `sockaddr_storage`, larger than and aligned for a
    // `sockaddr_ll`, and all-zero bytes are a valid `sockaddr_ll`.
    let sll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
    sll.sll_family = family;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(&addr);
    // SAFETY: `storage` holds an initialised `sockaddr_ll` of `len` bytes.
    Ok(unsafe { SockAddr::new(storage, len) })
}

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
}
