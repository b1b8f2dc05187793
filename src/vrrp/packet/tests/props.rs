//! Property tests: no input makes a parser panic, every advert the wire can carry round-trips
//! through emit and parse, and a corrupted one never parses back as the original.

use proptest::prelude::*;

use super::*;

fn arb_auth() -> impl Strategy<Value = Auth> {
    prop_oneof![Just(Auth::None), any::<[u8; 8]>().prop_map(Auth::Password)]
}

fn arb_v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn arb_v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

/// An advert the wire can carry, the checksum it is emitted with, and the endpoints it travels
/// between.
#[derive(Debug, Clone)]
struct Case {
    repr: AdvertRepr,
    over: ChecksumOver,
    endpoints: Endpoints,
}

fn arb_v2() -> impl Strategy<Value = Case> {
    (
        any::<(u8, u8, u8)>(),
        arb_auth(),
        proptest::collection::vec(arb_v4().prop_map(IpAddr::V4), 0..=MAX_ADDRS),
        (arb_v4(), arb_v4()),
    )
        .prop_map(|((vrid, priority, secs), auth, addrs, (src, dst))| Case {
            repr: AdvertRepr {
                version: Version::V2,
                vrid,
                priority,
                interval: AdvertInterval::from_secs(secs),
                auth,
                addrs,
            },
            over: ChecksumOver::MessageOnly,
            endpoints: Endpoints::V4 { src, dst },
        })
}

fn arb_v3(
    addr: impl Strategy<Value = IpAddr>,
    endpoints: impl Strategy<Value = Endpoints>,
    pseudo_header: impl Strategy<Value = bool>,
) -> impl Strategy<Value = Case> {
    (
        any::<(u8, u8)>(),
        0..=AdvertInterval::MAX_V3.as_centis(),
        proptest::collection::vec(addr, 0..=MAX_ADDRS),
        endpoints,
        pseudo_header,
    )
        .prop_map(
            |((vrid, priority), centis, addrs, endpoints, pseudo_header)| Case {
                repr: AdvertRepr {
                    version: Version::V3,
                    vrid,
                    priority,
                    interval: AdvertInterval::from_centis(centis),
                    auth: Auth::None,
                    addrs,
                },
                over: if pseudo_header {
                    ChecksumOver::PseudoHeader(endpoints)
                } else {
                    ChecksumOver::MessageOnly
                },
                endpoints,
            },
        )
}

/// Any advert: VRRPv2 over IPv4, VRRPv3 over IPv4 in either checksum form, VRRPv3 over IPv6.
fn arb_case() -> impl Strategy<Value = Case> {
    prop_oneof![
        arb_v2(),
        arb_v3(
            arb_v4().prop_map(IpAddr::V4),
            (arb_v4(), arb_v4()).prop_map(|(src, dst)| Endpoints::V4 { src, dst }),
            any::<bool>(),
        ),
        arb_v3(
            arb_v6().prop_map(IpAddr::V6),
            (arb_v6(), arb_v6()).prop_map(|(src, dst)| Endpoints::V6 { src, dst }),
            Just(true),
        ),
    ]
}

fn arb_endpoints() -> impl Strategy<Value = Endpoints> {
    prop_oneof![
        Just(endpoints4()),
        Just(endpoints6()),
        (arb_v4(), arb_v4()).prop_map(|(src, dst)| Endpoints::V4 { src, dst }),
        (arb_v6(), arb_v6()).prop_map(|(src, dst)| Endpoints::V6 { src, dst }),
    ]
}

/// Every getter of a checked view, so that a panic in any of them shows.
fn read_all(packet: &Packet<&[u8]>, endpoints: &Endpoints) {
    let _ = (
        packet.version(),
        packet.msg_type(),
        packet.vrid(),
        packet.priority(),
        packet.auth_type(),
        packet.advert_int(),
        packet.reserved(),
        packet.max_advert_int(),
        packet.checksum(),
        packet.auth_data(),
        packet.addrs().count(),
        packet.verify_checksum(&ChecksumOver::MessageOnly),
        packet.verify_checksum(&ChecksumOver::PseudoHeader(*endpoints)),
    );
}

proptest! {
    #[test]
    fn prop_parse_ipv4_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let _ = parse_ipv4(&bytes);
        let _ = parse_ipv4_unicast(&bytes);
    }

    #[test]
    fn prop_parse_ipv4_plausible_header_never_panics(
        ihl in 0u8..16,
        total_len in 0u16..200,
        ttl in prop_oneof![Just(255u8), any::<u8>()],
        version in prop_oneof![Just(0x21u8), Just(0x31), any::<u8>()],
        rest in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        // Random bytes rarely get past the version and protocol checks; force them.
        let mut bytes = IP_HEADER_BYTES.to_vec();
        bytes[0] = 0x40 | ihl;
        bytes[2..4].copy_from_slice(&total_len.to_be_bytes());
        bytes[8] = ttl;
        let mut rest = rest;
        if let Some(first) = rest.get_mut(usize::from(ihl.saturating_sub(5)) * 4) {
            *first = version;
        }
        bytes.extend_from_slice(&rest);
        let _ = parse_ipv4(&bytes);
    }

    #[test]
    fn prop_parse_ipv6_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..1200),
        src in arb_v6(),
        dst in arb_v6(),
        hop_limit in prop_oneof![Just(255u8), any::<u8>()],
    ) {
        let _ = parse_ipv6(&bytes, src, dst, hop_limit);
        let _ = parse_ipv6_unicast(&bytes, src, dst, hop_limit);
    }

    #[test]
    fn prop_parse_vrrp_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..1200),
        endpoints in arb_endpoints(),
    ) {
        let _ = AdvertRepr::parse(&bytes, &endpoints);
        if let Ok(packet) = Packet::new_checked(&bytes[..], endpoints.family()) {
            read_all(&packet, &endpoints);
        }
    }

    #[test]
    fn prop_parse_vrrp_header_never_panics(
        version in 0u8..16,
        count in any::<u8>(),
        byte4 in prop_oneof![0u8..4, any::<u8>()],
        byte5 in any::<u8>(),
        rest in proptest::collection::vec(any::<u8>(), 0..4200),
        exact in any::<bool>(),
        endpoints in arb_endpoints(),
    ) {
        // Random bytes rarely carry a known version and type 1; force them to reach the later
        // checks, often with the length the count calls for, and make the checksum right when
        // the length is.
        let family = endpoints.family();
        let mut bytes = vec![(version << 4) | 1, 1, 100, count, byte4, byte5, 0, 0];
        bytes.extend_from_slice(&rest);
        if exact {
            bytes.resize(Packet::new_unchecked(&bytes[..], family).message_len(), 0);
        }
        let _ = AdvertRepr::parse(&bytes, &endpoints);
        if let Ok(packet) = Packet::new_checked(&bytes[..], family) {
            read_all(&packet, &endpoints);
            let over = match version {
                2 => ChecksumOver::MessageOnly,
                _ => ChecksumOver::PseudoHeader(endpoints),
            };
            Packet::new_unchecked(&mut bytes[..], family).fill_checksum(&over);
            let parsed = AdvertRepr::parse(&bytes, &endpoints);
            let known = match version {
                2 => family == Family::Ipv4 && byte4 <= AUTH_TYPE_PASS,
                3 => true,
                _ => false,
            };
            prop_assert_eq!(parsed.is_ok(), known, "{:?}", parsed);
        }
    }

    #[test]
    fn prop_repr_round_trips(case in arb_case()) {
        let Case { repr, over, endpoints } = case;
        let bytes = repr.to_bytes(&over);
        prop_assert_eq!(bytes.len(), repr.buffer_len());
        let packet = Packet::new_checked(&bytes[..], endpoints.family()).unwrap();
        prop_assert!(packet.verify_checksum(&over));
        let form = over.form();
        prop_assert_eq!(AdvertRepr::parse(&bytes, &endpoints), Ok((repr.clone(), form)));
        // A VRRPv3 advert of interval 0 parses but is never accepted (RFC 9568 §7.1).
        let want = if repr.version == Version::V3 && repr.interval.as_centis() == 0 {
            Err(PacketError::ZeroInterval)
        } else {
            Ok(())
        };
        prop_assert_eq!(validate(&repr, &expected_for(&repr)), want);

        // And through the receive path of its family.
        let received = match endpoints {
            Endpoints::V4 { src, dst } => parse_ipv4(&datagram_with(
                |h| {
                    h[12..16].copy_from_slice(&src.octets());
                    h[16..20].copy_from_slice(&dst.octets());
                },
                &bytes,
            )),
            Endpoints::V6 { src, dst } => parse_ipv6(&bytes, src, dst, TTL),
        }
        .unwrap();
        prop_assert_eq!(received.src, endpoints.src());
        prop_assert_eq!(received.dst, endpoints.dst());
        prop_assert_eq!(received.checksum_form, form);
        prop_assert_eq!(received.advert, repr);
    }

    #[test]
    fn prop_single_bit_flip_is_caught(case in arb_case(), bit in any::<usize>()) {
        let Case { repr, over, endpoints } = case;
        let mut bytes = repr.to_bytes(&over);
        let bit = bit % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        let parsed = AdvertRepr::parse(&bytes, &endpoints);
        // A corrupted advert never parses back as the original.
        prop_assert_ne!(&parsed, &Ok((repr.clone(), over.form())));
        // Where one checksum form alone is accepted, a single flipped bit is always caught:
        // it moves the one's complement sum by a power of two, never by 0 or 0xffff.
        let one_form = repr.version == Version::V2 || endpoints.family() == Family::Ipv6;
        if one_form {
            prop_assert!(parsed.is_err(), "{:?}", parsed);
        }
    }
}

#[test]
fn single_bit_flip_in_v3_ipv4_is_caught_by_both_forms() {
    // Two accepted forms weaken the check only if the pseudo-header sum happens to equal the
    // flipped bit's weight; for the keepalived vector, every single flip is caught.
    for bit in 0..V3_PACKET_BYTES.len() * 8 {
        let mut bytes = V3_PACKET_BYTES;
        bytes[bit / 8] ^= 1 << (bit % 8);
        assert!(
            AdvertRepr::parse(&bytes, &endpoints4()).is_err(),
            "bit {bit}"
        );
    }
}
