//! The receive paths: unwrapping the IPv4 datagram a raw IPv4 socket hands up, or taking the
//! payload of a raw IPv6 socket with the addresses and hop limit from its ancillary data, then
//! the IP checks of RFC 3768 §7.1 and RFC 9568 §7.1 and [`AdvertRepr::parse`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::checksum::{ChecksumForm, Endpoints};
use super::{AdvertRepr, PROTOCOL, PacketError, TTL};

/// Byte offsets of the IPv4 header fields (RFC 791 §3.1) that the receive path reads.
mod ipv4_field {
    pub(super) type Field = core::ops::Range<usize>;

    pub(super) const VER_IHL: usize = 0;
    pub(super) const TOTAL_LEN: Field = 2..4;
    pub(super) const FLG_OFF: Field = 6..8;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const SRC: Field = 12..16;
    pub(super) const DST: Field = 16..20;
    /// The header without options (IHL = 5).
    pub(super) const MIN_HEADER_LEN: usize = 20;
}

/// An advert as the receive path got it: the IP addresses and TTL or hop limit around it, the
/// checksum form it used, and the advert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// IP source address: the sending router's primary IPv4 address or IPv6 link-local address
    /// on the link (or its unicast source).
    pub src: IpAddr,
    /// IP destination address: [`super::MULTICAST_GROUP`] or [`super::MULTICAST_GROUP_V6`], or
    /// this host for unicast.
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 Hop Limit; always [`TTL`] once parsed on a multicast path, kept for
    /// logging.
    pub ttl: u8,
    /// Which checksum form the packet used: VRRPv3 over IPv4 may use either (see the module
    /// doc), so that an instance can tell, per peer, which one a peer sends.
    pub checksum_form: ChecksumForm,
    /// The advert.
    pub advert: AdvertRepr,
}

/// Parses an IPv4 datagram carrying VRRPv2 or VRRPv3, as a raw IPv4 socket hands it up
/// (header included).
///
/// Reads the header length from IHL (options are skipped, never assumes 20 bytes), honours the
/// total length (bytes after it are ignored; a total length beyond the buffer is
/// [`PacketError::Truncated`]), checks the protocol is 112, then RFC 3768 / RFC 9568 §7.1's
/// TTL of 255, then [`AdvertRepr::parse`]. The header checksum is left to the kernel, which
/// drops datagrams whose header checksum is wrong before a raw socket sees them.
pub fn parse_ipv4(datagram: &[u8]) -> Result<Received, PacketError> {
    parse_ipv4_checking(datagram, true)
}

/// [`parse_ipv4`] for unicast adverts: the TTL is not checked. A unicast peer may sit behind
/// a router (another subnet), and keepalived neither checks nor expects 255 in unicast mode,
/// so checking it would drop every advert of a keepalived peer there (a split brain).
pub fn parse_ipv4_unicast(datagram: &[u8]) -> Result<Received, PacketError> {
    parse_ipv4_checking(datagram, false)
}

fn parse_ipv4_checking(datagram: &[u8], check_ttl: bool) -> Result<Received, PacketError> {
    use ipv4_field as f;

    let len = datagram.len();
    if len < f::MIN_HEADER_LEN {
        return Err(PacketError::Truncated {
            got: len,
            want: f::MIN_HEADER_LEN,
        });
    }
    // RFC 791 §3.1: Version 4.
    let version = datagram[f::VER_IHL] >> 4;
    if version != 4 {
        return Err(PacketError::BadIpHeader {
            detail: format!("IP version is {version}, must be 4"),
        });
    }
    // RFC 791 §3.1: IHL counts 32-bit words, 5 at least; options follow the fixed header.
    let header_len = usize::from(datagram[f::VER_IHL] & 0x0f) * 4;
    if header_len < f::MIN_HEADER_LEN {
        return Err(PacketError::BadIpHeader {
            detail: format!("header length (IHL) is {header_len} bytes, minimum is 20"),
        });
    }
    if len < header_len {
        return Err(PacketError::Truncated {
            got: len,
            want: header_len,
        });
    }
    // RFC 791 §3.1: Total Length covers header and data; the buffer may hold padding after it.
    let total_len = usize::from(u16::from_be_bytes([
        datagram[f::TOTAL_LEN.start],
        datagram[f::TOTAL_LEN.start + 1],
    ]));
    if total_len < header_len {
        return Err(PacketError::BadIpHeader {
            detail: format!("total length {total_len} is less than the header length {header_len}"),
        });
    }
    if total_len > len {
        return Err(PacketError::Truncated {
            got: len,
            want: total_len,
        });
    }
    // The kernel reassembles before a raw socket sees a datagram, so a fragment here is bogus:
    // More Fragments set or a non-zero Fragment Offset.
    let flags_offset =
        u16::from_be_bytes([datagram[f::FLG_OFF.start], datagram[f::FLG_OFF.start + 1]]);
    if flags_offset & 0x3fff != 0 {
        return Err(PacketError::BadIpHeader {
            detail: format!("datagram is a fragment (flags/offset {flags_offset:#06x})"),
        });
    }
    // RFC 3768 §5.2.4, RFC 9568 §5.1.1.4: the IP protocol number assigned to VRRP is 112.
    let protocol = datagram[f::PROTOCOL];
    if protocol != PROTOCOL {
        return Err(PacketError::NotVrrp { got: protocol });
    }
    // RFC 3768 §7.1, RFC 9568 §7.1: "MUST verify that the IP TTL is 255."
    let ttl = datagram[f::TTL];
    if check_ttl && ttl != TTL {
        return Err(PacketError::TtlNot255 { got: ttl });
    }
    let src = ipv4_at(datagram, f::SRC.start);
    let dst = ipv4_at(datagram, f::DST.start);
    let endpoints = Endpoints::V4 { src, dst };
    let (advert, checksum_form) = AdvertRepr::parse(&datagram[header_len..total_len], &endpoints)?;
    Ok(Received {
        src: src.into(),
        dst: dst.into(),
        ttl,
        checksum_form,
        advert,
    })
}

/// The IPv4 address at `start`. The caller has checked that 4 bytes are there.
fn ipv4_at(data: &[u8], start: usize) -> Ipv4Addr {
    Ipv4Addr::new(
        data[start],
        data[start + 1],
        data[start + 2],
        data[start + 3],
    )
}

/// Parses the payload of an IPv6 packet carrying VRRPv3, as a raw IPv6 socket hands it up:
/// the VRRP message alone, with the source and destination from the socket address and
/// `IPV6_PKTINFO`, and `hop_limit` from `IPV6_RECVHOPLIMIT`.
///
/// Checks RFC 9568 §7.1's hop limit of 255, then [`AdvertRepr::parse`]: VRRPv2 over IPv6 is
/// [`PacketError::V2OverIpv6`], and the checksum must cover the RFC 8200 §8.1 pseudo-header.
/// (A raw socket with `IPV6_CHECKSUM` set has the kernel drop bad checksums already; checking
/// again costs little and covers a socket without it.)
pub fn parse_ipv6(
    payload: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
) -> Result<Received, PacketError> {
    parse_ipv6_checking(payload, src, dst, hop_limit, true)
}

/// [`parse_ipv6`] for unicast adverts: the hop limit is not checked, as [`parse_ipv4_unicast`]
/// does not check the TTL.
pub fn parse_ipv6_unicast(
    payload: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
) -> Result<Received, PacketError> {
    parse_ipv6_checking(payload, src, dst, hop_limit, false)
}

fn parse_ipv6_checking(
    payload: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    check_hop_limit: bool,
) -> Result<Received, PacketError> {
    // RFC 9568 §7.1: "MUST verify that the IPv4 TTL/IPv6 Hop Limit is 255."
    if check_hop_limit && hop_limit != TTL {
        return Err(PacketError::HopLimitNot255 { got: hop_limit });
    }
    let (advert, checksum_form) = AdvertRepr::parse(payload, &Endpoints::V6 { src, dst })?;
    Ok(Received {
        src: src.into(),
        dst: dst.into(),
        ttl: hop_limit,
        checksum_form,
        advert,
    })
}
