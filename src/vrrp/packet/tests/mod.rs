//! Tests of the wire module: byte vectors with their typed forms, one test per rejection, and
//! property tests. Fixtures shared by the VRRPv2 ([`v2`]), VRRPv3 ([`v3`]) and property
//! ([`props`]) tests live here.
//!
//! Every byte vector below was computed by hand (RFC 1071 sums written out next to it) and
//! then compared with what keepalived v2.2.7 (Debian's) put on the wire for the same
//! configuration: one instance per veth, in a private network namespace, frames read with an
//! AF_PACKET socket. That keepalived knows no `v3_checksum_as_v2` yet ("Unknown keyword"), so
//! the message-only VRRPv3 vector is the hand sum alone.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;

mod props;
mod v2;
mod v3;

/// keepalived v2.2.7, `version 2`, vrid 51, priority 100, advert_int 1, auth PASS "root", one
/// address 192.168.91.151. Sum of the words 2133 6401 0101 c0a8 5b97 726f 6f74 0000 0000 is
/// 0x28457, folded 0x8459, complemented 0x7ba6.
pub(super) static PACKET_BYTES: [u8; 20] = [
    0x21, 0x33, 0x64, 0x01, // version 2, type 1, vrid 51, priority 100, count 1
    0x01, 0x01, 0x7b, 0xa6, // auth type 1 (PASS), advert int 1, checksum
    0xc0, 0xa8, 0x5b, 0x97, // 192.168.91.151
    b'r', b'o', b'o', b't', // auth data "root", zero padded to 8
    0x00, 0x00, 0x00, 0x00,
];

/// The IPv4 header keepalived's kernel puts in front of PACKET_BYTES: TOS 0xc0, total
/// length 40, TTL 255, protocol 112, 192.168.91.10 -> 224.0.0.18, header checksum 0xbee0.
pub(super) static IP_HEADER_BYTES: [u8; 20] = [
    0x45, 0xc0, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0xff, 0x70, 0xbe, 0xe0, 0xc0, 0xa8, 0x5b, 0x0a,
    0xe0, 0x00, 0x00, 0x12,
];

/// keepalived v2.2.7, `version 3`, IPv4 from 192.168.91.10 to 224.0.0.18: vrid 51, priority
/// 100, advert_int 1 (100 cs), one address 192.168.91.151, checksum with the IPv4
/// pseudo-header (keepalived's default, RFC 5798's reading).
///
/// Message words: 3133 6401 0064 c0a8 5b97, sum 0x1b1d7. Pseudo-header words (keepalived's
/// `ipv4_phdr_t`: source, destination, zero, protocol 112, VRRP length 12): c0a8 5b0a e000
/// 0012 0070 000c, sum 0x1fc40. Total 0x3ae17, folded 0xae1a, complemented 0x51e5.
pub(super) static V3_PACKET_BYTES: [u8; 12] = [
    0x31, 0x33, 0x64, 0x01, // version 3, type 1, vrid 51, priority 100, count 1
    0x00, 0x64, 0x51, 0xe5, // reserved 0, max adver int 100 cs, checksum
    0xc0, 0xa8, 0x5b, 0x97, // 192.168.91.151
];

/// V3_PACKET_BYTES with the checksum over the message alone (RFC 9568 §5.2.8; Cisco;
/// keepalived's `v3_checksum_as_v2`): 0x1b1d7 folded 0xb1d8, complemented 0x4e27.
pub(super) static V3_MESSAGE_ONLY_BYTES: [u8; 12] = [
    0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x4e, 0x27, 0xc0, 0xa8, 0x5b, 0x97,
];

/// keepalived v2.2.7, `version 3`, IPv6 from fe80::10 to ff02::12 (hop limit 255): vrid 51,
/// priority 100, advert_int 1, one address 2001:db8:91::151; the kernel fills the checksum
/// (`IPV6_CHECKSUM`) over the RFC 8200 §8.1 pseudo-header.
///
/// Message words: 3133 6401 0064 2001 0db8 0091 0151 (and zeros), sum 0xc533. Pseudo-header
/// words: fe80 0010 (source), ff02 0012 (destination), 0000 0018 (length 24), 0000 0070
/// (zeros, next header 112), sum 0x1fe2c. Total 0x2c35f, folded 0xc361, complemented 0x3c9e.
pub(super) static V3_IPV6_PACKET_BYTES: [u8; 24] = [
    0x31, 0x33, 0x64, 0x01, // version 3, type 1, vrid 51, priority 100, count 1
    0x00, 0x64, 0x3c, 0x9e, // reserved 0, max adver int 100 cs, checksum
    0x20, 0x01, 0x0d, 0xb8, // 2001:db8:91::151
    0x00, 0x91, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x01, 0x51, //
];

/// The sender in every vector: 192.168.91.10.
pub(super) const SRC4: Ipv4Addr = Ipv4Addr::new(192, 168, 91, 10);
/// The IPv6 sender: fe80::10.
pub(super) const SRC6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x10);
/// The virtual address of the IPv4 vectors: 192.168.91.151.
pub(super) const VIP4: Ipv4Addr = Ipv4Addr::new(192, 168, 91, 151);
/// The virtual address of the IPv6 vector: 2001:db8:91::151.
pub(super) const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x91, 0, 0, 0, 0, 0x151);

/// 192.168.91.10 -> 224.0.0.18.
pub(super) fn endpoints4() -> Endpoints {
    Endpoints::V4 {
        src: SRC4,
        dst: MULTICAST_GROUP,
    }
}

/// fe80::10 -> ff02::12.
pub(super) fn endpoints6() -> Endpoints {
    Endpoints::V6 {
        src: SRC6,
        dst: MULTICAST_GROUP_V6,
    }
}

/// AdvertRepr::parse of a message from 192.168.91.10 to the group.
pub(super) fn parse4(bytes: &[u8]) -> Result<(AdvertRepr, ChecksumForm), PacketError> {
    AdvertRepr::parse(bytes, &endpoints4())
}

/// AdvertRepr::parse of a message from fe80::10 to the group.
pub(super) fn parse6(bytes: &[u8]) -> Result<(AdvertRepr, ChecksumForm), PacketError> {
    AdvertRepr::parse(bytes, &endpoints6())
}

/// PACKET_BYTES as typed data.
pub(super) fn packet_repr() -> AdvertRepr {
    AdvertRepr {
        version: Version::V2,
        vrid: 51,
        priority: 100,
        interval: AdvertInterval::from_secs(1),
        auth: Auth::Password(*b"root\0\0\0\0"),
        addrs: vec![VIP4.into()],
    }
}

/// V3_PACKET_BYTES (and V3_MESSAGE_ONLY_BYTES) as typed data.
pub(super) fn v3_repr() -> AdvertRepr {
    AdvertRepr {
        version: Version::V3,
        vrid: 51,
        priority: 100,
        interval: AdvertInterval::from_centis(100),
        auth: Auth::None,
        addrs: vec![VIP4.into()],
    }
}

/// V3_IPV6_PACKET_BYTES as typed data.
pub(super) fn v3_ipv6_repr() -> AdvertRepr {
    AdvertRepr {
        addrs: vec![VIP6.into()],
        ..v3_repr()
    }
}

/// IP_HEADER_BYTES then PACKET_BYTES.
pub(super) fn datagram_bytes() -> Vec<u8> {
    datagram_with(|_| {}, &PACKET_BYTES)
}

/// A datagram from IP_HEADER_BYTES changed by `edit_header`, carrying `payload`, with the
/// total length set to header + payload.
pub(super) fn datagram_with(edit_header: impl FnOnce(&mut Vec<u8>), payload: &[u8]) -> Vec<u8> {
    let mut bytes = IP_HEADER_BYTES.to_vec();
    edit_header(&mut bytes);
    let total = u16::try_from(bytes.len() + payload.len()).unwrap();
    bytes[2..4].copy_from_slice(&total.to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// `bytes` (a message of `family`) changed by `edit`, with the checksum made right again as
/// `over` says.
pub(super) fn edited(
    bytes: &[u8],
    family: Family,
    over: &ChecksumOver,
    edit: impl FnOnce(&mut Vec<u8>),
) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    edit(&mut bytes);
    Packet::new_unchecked(&mut bytes[..], family).fill_checksum(over);
    bytes
}

/// What an instance configured as `repr` expects.
pub(super) fn expected_for(repr: &AdvertRepr) -> Expected<'_> {
    Expected {
        version: repr.version,
        vrid: repr.vrid,
        auth: &repr.auth,
        interval: repr.interval,
        addrs: &repr.addrs,
    }
}

#[test]
fn test_checksum() {
    assert_eq!(checksum(&[]), 0xffff);
    assert_eq!(checksum(&IP_HEADER_BYTES), 0);
    assert_eq!(checksum(&PACKET_BYTES), 0);
    assert_eq!(checksum(&V3_MESSAGE_ONLY_BYTES), 0);
    // Odd length: the last byte is padded with zero (RFC 1071).
    assert_eq!(checksum(&[0x12, 0x34, 0x56]), !0x6834);
    // RFC 1071 §3 example: 0001 f203 f4f5 f6f7 sums to ddf2.
    assert_eq!(
        checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
        !0xddf2
    );
}

#[test]
fn test_counter_names() {
    let ip = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let all = [
        PacketError::Truncated { got: 0, want: 0 },
        PacketError::BadIpHeader {
            detail: String::new(),
        },
        PacketError::NotVrrp { got: 0 },
        PacketError::TtlNot255 { got: 0 },
        PacketError::HopLimitNot255 { got: 0 },
        PacketError::UnknownVersion { got: 0 },
        PacketError::V2OverIpv6,
        PacketError::BadType { got: 0 },
        PacketError::BadLength { got: 0, want: 0 },
        PacketError::BadChecksum { got: 0, want: 0 },
        PacketError::VersionMismatch {
            got: Version::V3,
            want: Version::V2,
        },
        PacketError::VridMismatch { got: 0, want: 0 },
        PacketError::AuthTypeMismatch { got: 0, want: 0 },
        PacketError::UnsupportedAuthType { got: 0 },
        PacketError::AuthPasswordMismatch,
        PacketError::AdvertIntervalMismatch {
            got: AdvertInterval::from_secs(0),
            want: AdvertInterval::from_secs(0),
        },
        PacketError::ZeroInterval,
        PacketError::AddressListMismatch {
            got: 0,
            want: 0,
            missing: vec![],
            unexpected: vec![ip],
        },
        PacketError::UnknownPeer { src: ip },
        PacketError::OwnAddress { src: ip },
    ];
    let names: Vec<&str> = all.iter().map(PacketError::counter_name).collect();
    assert_eq!(names, ALL_COUNTER_NAMES);
    let unique: std::collections::HashSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "counter names must differ");
    for err in &all {
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn test_unknown_peer() {
    let err = PacketError::UnknownPeer {
        src: Ipv4Addr::new(10, 0, 0, 9).into(),
    };
    assert_eq!(err.counter_name(), "unknown_peer");
    assert_eq!(
        err.to_string(),
        "advert from 10.0.0.9, which is not a configured unicast peer"
    );
    let err = PacketError::OwnAddress {
        src: "fe80::10".parse().unwrap(),
    };
    assert!(err.to_string().starts_with("advert from fe80::10, "));
}

#[test]
fn test_version() {
    assert_eq!(Version::V2.number(), 2);
    assert_eq!(Version::V3.number(), 3);
    for n in 0..=15 {
        let version = Version::from_number(n);
        assert_eq!(
            version.map(Version::number),
            [2, 3].contains(&n).then_some(n)
        );
    }
    assert_eq!(Version::V3.to_string(), "VRRPv3");
}

#[test]
fn test_advert_interval() {
    let one = AdvertInterval::from_secs(1);
    assert_eq!(one, AdvertInterval::from_centis(100));
    assert_eq!(one.as_centis(), 100);
    assert_eq!(one.as_whole_secs(), Some(1));
    assert_eq!(one.as_duration(), std::time::Duration::from_secs(1));
    assert_eq!(AdvertInterval::from_secs(255).as_centis(), 25_500);
    assert_eq!(AdvertInterval::from_centis(150).as_whole_secs(), None);
    assert_eq!(AdvertInterval::from_centis(25_600).as_whole_secs(), None);
    assert_eq!(
        AdvertInterval::from_centis(5).as_duration(),
        std::time::Duration::from_millis(50)
    );

    for (centis, shown) in [
        (100, "1s"),
        (5, "0.05s"),
        (50, "0.5s"),
        (250, "2.5s"),
        (4095, "40.95s"),
        (0, "0s"),
        (25_500, "255s"),
    ] {
        assert_eq!(AdvertInterval::from_centis(centis).to_string(), shown);
    }

    use std::time::Duration;
    assert_eq!(
        AdvertInterval::from_duration(Duration::from_millis(50)),
        Some(AdvertInterval::from_centis(5))
    );
    assert_eq!(
        AdvertInterval::from_duration(Duration::from_secs(3)),
        Some(AdvertInterval::from_secs(3))
    );
    assert_eq!(
        AdvertInterval::from_duration(Duration::from_millis(15)),
        None
    );
    assert_eq!(
        AdvertInterval::from_duration(Duration::from_secs(656)),
        None
    );

    // Which field can carry which interval.
    assert!(AdvertInterval::from_secs(255).fits(Version::V2));
    assert!(!AdvertInterval::from_secs(255).fits(Version::V3));
    assert!(AdvertInterval::MAX_V3.fits(Version::V3));
    assert!(!AdvertInterval::from_centis(4096).fits(Version::V3));
    assert!(!AdvertInterval::from_centis(5).fits(Version::V2));
}

#[test]
fn test_endpoints() {
    let v4 = IpAddr::V4(SRC4);
    let v6 = IpAddr::V6(SRC6);
    assert_eq!(
        Endpoints::new(v4, MULTICAST_GROUP.into()),
        Some(endpoints4())
    );
    assert_eq!(
        Endpoints::new(v6, MULTICAST_GROUP_V6.into()),
        Some(endpoints6())
    );
    assert_eq!(Endpoints::new(v4, MULTICAST_GROUP_V6.into()), None);
    assert_eq!(endpoints6().src(), v6);
    assert_eq!(endpoints6().dst(), IpAddr::V6(MULTICAST_GROUP_V6));
    assert_eq!(endpoints4().family(), Family::Ipv4);
    assert_eq!(Family::of(&v6), Family::Ipv6);
    let over = ChecksumOver::new(ChecksumForm::PseudoHeader, endpoints4());
    assert_eq!(over, ChecksumOver::PseudoHeader(endpoints4()));
    assert_eq!(over.form(), ChecksumForm::PseudoHeader);
    assert_eq!(
        ChecksumOver::new(ChecksumForm::MessageOnly, endpoints4()),
        ChecksumOver::MessageOnly
    );
}

#[test]
fn test_message_len() {
    assert_eq!(message_len(Version::V2, Family::Ipv4, 1), 20);
    assert_eq!(message_len(Version::V3, Family::Ipv4, 1), 12);
    assert_eq!(message_len(Version::V3, Family::Ipv6, 1), 24);
    assert_eq!(message_len(Version::V3, Family::Ipv6, 0), HEADER_LEN);
}
