//! The Internet checksum (RFC 1071) and what a VRRP checksum covers: the message alone, or an
//! IP pseudo-header of the addresses it travels between, then the message.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::PROTOCOL;

/// The address family of an advert: IPv4 (4-byte addresses) or IPv6 (16-byte addresses). It
/// is not in the VRRP message; the IP header it came in says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4: VRRPv2 or VRRPv3.
    Ipv4,
    /// IPv6: VRRPv3 only.
    Ipv6,
}

impl Family {
    /// The family of `addr`.
    pub const fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// The length of one address: 4 or 16 bytes.
    pub const fn addr_len(self) -> usize {
        match self {
            Family::Ipv4 => 4,
            Family::Ipv6 => 16,
        }
    }
}

impl fmt::Display for Family {
    /// `IPv4` or `IPv6`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        })
    }
}

/// The source and destination of the IP packet an advert travels in, one family for both.
/// The VRRPv3 pseudo-header is made of them (RFC 9568 §5.2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoints {
    /// An IPv4 packet.
    V4 {
        /// IP source address.
        src: Ipv4Addr,
        /// IP destination address: the multicast group, or a unicast peer.
        dst: Ipv4Addr,
    },
    /// An IPv6 packet.
    V6 {
        /// IP source address: the interface's link-local address (RFC 9568 §5.1.2.1).
        src: Ipv6Addr,
        /// IP destination address: the multicast group, or a unicast peer.
        dst: Ipv6Addr,
    },
}

impl Endpoints {
    /// Pairs `src` and `dst`; `None` if their families differ.
    pub fn new(src: IpAddr, dst: IpAddr) -> Option<Endpoints> {
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => Some(Endpoints::V4 { src, dst }),
            (IpAddr::V6(src), IpAddr::V6(dst)) => Some(Endpoints::V6 { src, dst }),
            _ => None,
        }
    }

    /// The source address.
    pub fn src(&self) -> IpAddr {
        match *self {
            Endpoints::V4 { src, .. } => src.into(),
            Endpoints::V6 { src, .. } => src.into(),
        }
    }

    /// The destination address.
    pub fn dst(&self) -> IpAddr {
        match *self {
            Endpoints::V4 { dst, .. } => dst.into(),
            Endpoints::V6 { dst, .. } => dst.into(),
        }
    }

    /// The family of both addresses.
    pub fn family(&self) -> Family {
        match self {
            Endpoints::V4 { .. } => Family::Ipv4,
            Endpoints::V6 { .. } => Family::Ipv6,
        }
    }

    /// The sum of the pseudo-header for a VRRP message of `len` bytes.
    ///
    /// IPv4, as keepalived's `ipv4_phdr_t` in `vrrp.c`: source, destination, a zero byte,
    /// protocol 112, and the 16-bit VRRP length. IPv6, RFC 8200 §8.1 (what the kernel sums for
    /// a raw socket with `IPV6_CHECKSUM`): source, destination, the 32-bit upper-layer length,
    /// three zero bytes and Next Header 112. Either way the words are the addresses, the length
    /// and 112 (a message is at most a few KiB, so the IPv6 length's high word is zero).
    fn sum(&self, len: usize) -> u64 {
        let addrs = match self {
            Endpoints::V4 { src, dst } => sum_words(&src.octets()) + sum_words(&dst.octets()),
            Endpoints::V6 { src, dst } => sum_words(&src.octets()) + sum_words(&dst.octets()),
        };
        addrs + (len as u64 >> 16) + (len as u64 & 0xffff) + u64::from(PROTOCOL)
    }
}

/// Which bytes a VRRP checksum covers, as a received packet used them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumForm {
    /// The IP pseudo-header, then the message: VRRPv3 over IPv6 always (RFC 9568 §5.2.8);
    /// VRRPv3 over IPv4 as keepalived 2.2 sends by default, and FRR.
    PseudoHeader,
    /// The message alone: VRRPv2 always (RFC 3768 §5.3.8); VRRPv3 over IPv4 as RFC 9568 says,
    /// as Cisco sends, and keepalived with `v3_checksum_as_v2`.
    MessageOnly,
}

/// What the checksum of an advert being written covers ([`super::AdvertRepr::emit`]), with the
/// addresses the pseudo-header needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumOver {
    /// The message alone: every VRRPv2 advert, and VRRPv3 over IPv4 for a peer that wants it
    /// (keepalived's `v3_checksum_as_v2`).
    MessageOnly,
    /// The pseudo-header of a packet between these endpoints, then the message: VRRPv3 over
    /// IPv6, and over IPv4 as keepalived sends by default. For unicast the destination is the
    /// peer, so each peer gets its own checksum.
    PseudoHeader(Endpoints),
}

impl ChecksumOver {
    /// The checksum of `form` over a packet between `endpoints`.
    pub fn new(form: ChecksumForm, endpoints: Endpoints) -> ChecksumOver {
        match form {
            ChecksumForm::PseudoHeader => ChecksumOver::PseudoHeader(endpoints),
            ChecksumForm::MessageOnly => ChecksumOver::MessageOnly,
        }
    }

    /// Its form.
    pub fn form(&self) -> ChecksumForm {
        match self {
            ChecksumOver::MessageOnly => ChecksumForm::MessageOnly,
            ChecksumOver::PseudoHeader(_) => ChecksumForm::PseudoHeader,
        }
    }

    /// What it adds to the sum of a message of `len` bytes: the pseudo-header's sum, or 0.
    pub(super) fn prefix_sum(&self, len: usize) -> u64 {
        match self {
            ChecksumOver::MessageOnly => 0,
            ChecksumOver::PseudoHeader(endpoints) => endpoints.sum(len),
        }
    }
}

/// The 32-bit sum of `data` as big-endian 16-bit words, an odd last byte padded with zero.
/// A `u64` accumulator cannot overflow for any slice that fits in memory.
pub(super) fn sum_words(data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    let mut sum: u64 = chunks
        .by_ref()
        .map(|word| u64::from(u16::from_be_bytes([word[0], word[1]])))
        .sum();
    if let [last] = chunks.remainder() {
        sum += u64::from(u16::from_be_bytes([*last, 0]));
    }
    sum
}

/// Folds the carries of `sum` into 16 bits and complements it (RFC 1071 §4.1).
pub(super) fn fold_complement(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The loop leaves at most 16 bits, so the cast keeps every bit.
    !(sum as u16)
}

/// The Internet checksum of `data` (RFC 1071): the one's complement of the one's complement
/// sum of its 16-bit words. Over data that already holds its correct checksum, this is 0.
pub fn checksum(data: &[u8]) -> u16 {
    fold_complement(sum_words(data))
}
