//! VRRPv3 over IPv4 and IPv6: the vectors taken apart and put together, both checksum forms
//! over IPv4, the IPv6 receive path, and one test per rejection.

use super::*;

/// The pseudo-header checksum between 192.168.91.10 and the group.
fn pseudo4() -> ChecksumOver {
    ChecksumOver::PseudoHeader(endpoints4())
}

/// The pseudo-header checksum between fe80::10 and the group.
fn pseudo6() -> ChecksumOver {
    ChecksumOver::PseudoHeader(endpoints6())
}

#[test]
fn test_deconstruct_ipv4() {
    let packet = Packet::new_checked(&V3_PACKET_BYTES[..], Family::Ipv4).unwrap();
    assert_eq!(packet.version(), 3);
    assert_eq!(packet.msg_type(), 1);
    assert_eq!(packet.vrid(), 51);
    assert_eq!(packet.priority(), 100);
    assert_eq!(packet.addr_count(), 1);
    assert_eq!(packet.reserved(), 0);
    assert_eq!(packet.max_advert_int(), 100);
    assert_eq!(packet.checksum(), 0x51e5);
    assert_eq!(packet.addr(0), IpAddr::V4(VIP4));
    assert_eq!(packet.auth_data(), None);
    assert_eq!(packet.message_len(), 12);
    assert_eq!(packet.compute_checksum(&pseudo4()), 0x51e5);
    assert_eq!(packet.compute_checksum(&ChecksumOver::MessageOnly), 0x4e27);
    assert!(packet.verify_checksum(&pseudo4()));
    assert!(!packet.verify_checksum(&ChecksumOver::MessageOnly));
}

#[test]
fn test_deconstruct_ipv6() {
    let packet = Packet::new_checked(&V3_IPV6_PACKET_BYTES[..], Family::Ipv6).unwrap();
    assert_eq!(packet.version(), 3);
    assert_eq!(packet.addr_count(), 1);
    assert_eq!(packet.max_advert_int(), 100);
    assert_eq!(packet.checksum(), 0x3c9e);
    assert_eq!(packet.addr(0), IpAddr::V6(VIP6));
    assert_eq!(packet.addrs().collect::<Vec<_>>(), [IpAddr::V6(VIP6)]);
    assert_eq!(packet.auth_data(), None);
    assert_eq!(packet.message_len(), 24);
    assert_eq!(packet.family(), Family::Ipv6);
    assert_eq!(packet.compute_checksum(&pseudo6()), 0x3c9e);
    assert!(packet.verify_checksum(&pseudo6()));
    // The same bytes seen as IPv4 call for 12 bytes.
    assert_eq!(
        Packet::new_checked(&V3_IPV6_PACKET_BYTES[..], Family::Ipv4),
        Err(PacketError::BadLength { got: 24, want: 12 })
    );
}

#[test]
fn test_construct() {
    let mut bytes = [0xa5u8; 12];
    let mut packet = Packet::new_unchecked(&mut bytes[..], Family::Ipv4);
    packet.set_version(3);
    packet.set_msg_type(1);
    packet.set_vrid(51);
    packet.set_priority(100);
    packet.set_addr_count(1);
    packet.set_max_advert_int(100);
    packet.set_addr(0, VIP4.into());
    packet.fill_checksum(&pseudo4());
    assert_eq!(packet.into_inner(), &V3_PACKET_BYTES[..]);

    Packet::new_unchecked(&mut bytes[..], Family::Ipv4).fill_checksum(&ChecksumOver::MessageOnly);
    assert_eq!(bytes, V3_MESSAGE_ONLY_BYTES);

    let mut bytes = [0xa5u8; 24];
    let mut packet = Packet::new_unchecked(&mut bytes[..], Family::Ipv6);
    packet.set_version(3);
    packet.set_msg_type(1);
    packet.set_vrid(51);
    packet.set_priority(100);
    packet.set_addr_count(1);
    packet.set_max_advert_int(0xf064); // bits above the 12 are dropped: reserved stays 0
    packet.set_addr(0, VIP6.into());
    packet.fill_checksum(&pseudo6());
    assert_eq!(packet.into_inner(), &V3_IPV6_PACKET_BYTES[..]);
}

#[test]
fn test_parse_both_ipv4_forms() {
    assert_eq!(
        parse4(&V3_PACKET_BYTES),
        Ok((v3_repr(), ChecksumForm::PseudoHeader))
    );
    assert_eq!(
        parse4(&V3_MESSAGE_ONLY_BYTES),
        Ok((v3_repr(), ChecksumForm::MessageOnly))
    );
}

#[test]
fn test_parse_keepalived_resignation() {
    // keepalived v2.2.7 stopping: the same advert with priority 0. The checksum grows by the
    // 0x6400 the priority word lost: 0x51e5 + 0x6400 = 0xb5e5.
    let bytes = [
        0x31, 0x33, 0x00, 0x01, 0x00, 0x64, 0xb5, 0xe5, 0xc0, 0xa8, 0x5b, 0x97,
    ];
    let (advert, form) = parse4(&bytes).unwrap();
    assert_eq!(advert.priority, 0);
    assert_eq!(form, ChecksumForm::PseudoHeader);
}

#[test]
fn test_parse_ipv6() {
    assert_eq!(
        parse6(&V3_IPV6_PACKET_BYTES),
        Ok((v3_ipv6_repr(), ChecksumForm::PseudoHeader))
    );
    assert_eq!(
        parse_ipv6(&V3_IPV6_PACKET_BYTES, SRC6, MULTICAST_GROUP_V6, 255),
        Ok(Received {
            src: SRC6.into(),
            dst: MULTICAST_GROUP_V6.into(),
            ttl: 255,
            checksum_form: ChecksumForm::PseudoHeader,
            advert: v3_ipv6_repr(),
        })
    );
}

#[test]
fn test_emit() {
    let repr = v3_repr();
    assert_eq!(repr.buffer_len(), 12);
    assert_eq!(repr.to_bytes(&pseudo4()), V3_PACKET_BYTES);
    assert_eq!(
        repr.to_bytes(&ChecksumOver::MessageOnly),
        V3_MESSAGE_ONLY_BYTES
    );
    let repr = v3_ipv6_repr();
    assert_eq!(repr.buffer_len(), 24);
    let mut bytes = [0xa5u8; 28];
    repr.emit(&mut bytes, &pseudo6());
    assert_eq!(bytes[..24], V3_IPV6_PACKET_BYTES);
    assert_eq!(bytes[24..], [0xa5; 4]);
}

#[test]
fn test_parse_ipv4_datagram() {
    for (payload, form) in [
        (&V3_PACKET_BYTES, ChecksumForm::PseudoHeader),
        (&V3_MESSAGE_ONLY_BYTES, ChecksumForm::MessageOnly),
    ] {
        let received = parse_ipv4(&datagram_with(|_| {}, payload)).unwrap();
        assert_eq!(
            received,
            Received {
                src: SRC4.into(),
                dst: MULTICAST_GROUP.into(),
                ttl: 255,
                checksum_form: form,
                advert: v3_repr(),
            }
        );
    }
}

#[test]
fn test_unicast_pseudo_header_names_the_peer() {
    // keepalived sums the IP destination it sends to: for unicast, each peer's address.
    let peer = Ipv4Addr::new(192, 168, 91, 11);
    let to_peer = Endpoints::V4 {
        src: SRC4,
        dst: peer,
    };
    let bytes = v3_repr().to_bytes(&ChecksumOver::PseudoHeader(to_peer));
    assert_ne!(bytes, V3_PACKET_BYTES);
    let datagram = datagram_with(
        |h| {
            h[8] = 64; // unicast TTL
            h[16..20].copy_from_slice(&peer.octets());
        },
        &bytes,
    );
    let received = parse_ipv4_unicast(&datagram).unwrap();
    assert_eq!(received.dst, IpAddr::V4(peer));
    assert_eq!(received.checksum_form, ChecksumForm::PseudoHeader);
    assert_eq!(received.advert, v3_repr());
    // Summed for the group, it does not match.
    assert!(matches!(
        parse4(&bytes),
        Err(PacketError::BadChecksum { .. })
    ));
}

#[test]
fn test_reject_hop_limit() {
    let err = parse_ipv6(&V3_IPV6_PACKET_BYTES, SRC6, MULTICAST_GROUP_V6, 254).unwrap_err();
    assert_eq!(err, PacketError::HopLimitNot255 { got: 254 });
    assert_eq!(err.counter_name(), "hop_limit");
    assert_eq!(
        err.to_string(),
        "IPv6 hop limit is 254, must be 255 (sent from another link?)"
    );
    // Unicast: not checked, kept.
    let peer: Ipv6Addr = "2001:db8:91::11".parse().unwrap();
    let to_peer = Endpoints::V6 {
        src: SRC6,
        dst: peer,
    };
    let bytes = v3_ipv6_repr().to_bytes(&ChecksumOver::PseudoHeader(to_peer));
    let received = parse_ipv6_unicast(&bytes, SRC6, peer, 62).unwrap();
    assert_eq!(received.ttl, 62);
    assert_eq!(received.advert, v3_ipv6_repr());
}

#[test]
fn test_reject_v2_over_ipv6() {
    let err = parse_ipv6(&PACKET_BYTES, SRC6, MULTICAST_GROUP_V6, 255).unwrap_err();
    assert_eq!(err, PacketError::V2OverIpv6);
    assert_eq!(err.counter_name(), "v2_over_ipv6");
    // Before the length: a VRRPv2 message shaped for IPv6 addresses is refused the same way.
    let mut bytes = V3_IPV6_PACKET_BYTES.to_vec();
    bytes[0] = 0x21;
    bytes.extend_from_slice(&[0; AUTH_DATA_LEN]);
    assert_eq!(parse6(&bytes), Err(PacketError::V2OverIpv6));
}

#[test]
fn test_reject_unknown_version_ipv6() {
    let bytes = edited(&V3_IPV6_PACKET_BYTES, Family::Ipv6, &pseudo6(), |b| {
        b[0] = 0x41;
    });
    assert_eq!(parse6(&bytes), Err(PacketError::UnknownVersion { got: 4 }));
}

#[test]
fn test_reject_type() {
    let bytes = edited(&V3_PACKET_BYTES, Family::Ipv4, &pseudo4(), |b| b[0] = 0x32);
    assert_eq!(parse4(&bytes), Err(PacketError::BadType { got: 2 }));
    let bytes = edited(&V3_IPV6_PACKET_BYTES, Family::Ipv6, &pseudo6(), |b| {
        b[0] = 0x30;
    });
    assert_eq!(parse6(&bytes), Err(PacketError::BadType { got: 0 }));
}

#[test]
fn test_reject_truncated() {
    assert_eq!(
        parse6(&V3_IPV6_PACKET_BYTES[..7]),
        Err(PacketError::Truncated { got: 7, want: 8 })
    );
    // Count says 2 addresses, only 1 present.
    let mut bytes = V3_PACKET_BYTES.to_vec();
    bytes[3] = 2;
    assert_eq!(
        parse4(&bytes),
        Err(PacketError::Truncated { got: 12, want: 16 })
    );
    let mut bytes = V3_IPV6_PACKET_BYTES.to_vec();
    bytes[3] = 2;
    assert_eq!(
        parse6(&bytes),
        Err(PacketError::Truncated { got: 24, want: 40 })
    );
    // An IPv6 address cut short.
    assert_eq!(
        parse_ipv6(&V3_IPV6_PACKET_BYTES[..20], SRC6, MULTICAST_GROUP_V6, 255),
        Err(PacketError::Truncated { got: 20, want: 24 })
    );
}

#[test]
fn test_reject_length() {
    let mut bytes = V3_PACKET_BYTES.to_vec();
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(
        parse4(&bytes),
        Err(PacketError::BadLength { got: 16, want: 12 })
    );
    // A VRRPv2 message relabelled version 3 carries authentication data VRRPv3 has not.
    let mut bytes = PACKET_BYTES.to_vec();
    bytes[0] = 0x31;
    let datagram = datagram_with(|_| {}, &bytes);
    assert_eq!(
        parse_ipv4(&datagram),
        Err(PacketError::BadLength { got: 20, want: 12 })
    );
}

#[test]
fn test_reject_checksum_ipv4() {
    // Neither form matches: reported against the pseudo-header form, keepalived's.
    let mut bytes = V3_PACKET_BYTES.to_vec();
    bytes[2] = 101; // priority +1 (high byte of its word), checksum not
    assert_eq!(
        parse4(&bytes),
        Err(PacketError::BadChecksum {
            got: 0x51e5,
            want: 0x50e5
        })
    );
    // Another sender: the pseudo-header differs, and the message-only form is wrong too.
    let other = Endpoints::V4 {
        src: Ipv4Addr::new(192, 168, 91, 12),
        dst: MULTICAST_GROUP,
    };
    assert!(matches!(
        AdvertRepr::parse(&V3_PACKET_BYTES, &other),
        Err(PacketError::BadChecksum { got: 0x51e5, .. })
    ));
}

#[test]
fn test_reject_checksum_ipv6() {
    // Over IPv6 only the pseudo-header form is right.
    let bytes = edited(
        &V3_IPV6_PACKET_BYTES,
        Family::Ipv6,
        &ChecksumOver::MessageOnly,
        |_| {},
    );
    assert_eq!(
        parse6(&bytes),
        Err(PacketError::BadChecksum {
            got: checksum(&{
                let mut zeroed = V3_IPV6_PACKET_BYTES;
                zeroed[6..8].fill(0);
                zeroed
            }),
            want: 0x3c9e
        })
    );
    // Another source address changes the pseudo-header.
    let err = parse_ipv6(
        &V3_IPV6_PACKET_BYTES,
        "fe80::11".parse().unwrap(),
        MULTICAST_GROUP_V6,
        255,
    )
    .unwrap_err();
    assert!(matches!(err, PacketError::BadChecksum { got: 0x3c9e, .. }));
}

#[test]
fn test_reserved_bits_ignored() {
    // RFC 9568 §5.2.6: the reserved bits are ignored on reception.
    let bytes = edited(&V3_PACKET_BYTES, Family::Ipv4, &pseudo4(), |b| b[4] |= 0xf0);
    let packet = Packet::new_checked(&bytes[..], Family::Ipv4).unwrap();
    assert_eq!(packet.reserved(), 0xf);
    assert_eq!(packet.max_advert_int(), 100);
    assert_eq!(parse4(&bytes).unwrap().0, v3_repr());
}

#[test]
fn test_validate() {
    let ours = v3_ipv6_repr();
    assert_eq!(validate(&ours, &expected_for(&ours)), Ok(()));

    // The interval is learnt from the master, not checked (RFC 9568 §6.4.2).
    let faster = AdvertRepr {
        interval: AdvertInterval::from_centis(5),
        ..v3_ipv6_repr()
    };
    assert_eq!(validate(&faster, &expected_for(&ours)), Ok(()));
    // ...but never 0 (RFC 9568 §7.1): a backup learning it would time out at once.
    let zero = AdvertRepr {
        interval: AdvertInterval::from_centis(0),
        ..v3_ipv6_repr()
    };
    assert_eq!(
        validate(&zero, &expected_for(&ours)),
        Err(PacketError::ZeroInterval)
    );

    // There is no authentication to check, whatever the instance's auth_pass says.
    let pass = Auth::from_config(Some(b"root"));
    let expected = Expected {
        auth: &pass,
        ..expected_for(&ours)
    };
    assert_eq!(validate(&ours, &expected), Ok(()));

    // The addresses are checked as for VRRPv2, the owner excepted.
    let other: IpAddr = "2001:db8:91::152".parse().unwrap();
    let theirs = AdvertRepr {
        addrs: vec![other],
        ..v3_ipv6_repr()
    };
    let err = validate(&theirs, &expected_for(&ours)).unwrap_err();
    assert_eq!(
        err,
        PacketError::AddressListMismatch {
            got: 1,
            want: 1,
            missing: vec![VIP6.into()],
            unexpected: vec![other],
        }
    );
    assert!(
        err.to_string()
            .contains("missing from advert: 2001:db8:91::151")
    );
    let owner = AdvertRepr {
        priority: PRIORITY_OWNER,
        ..theirs
    };
    assert_eq!(validate(&owner, &expected_for(&ours)), Ok(()));

    // VRID as for VRRPv2.
    let theirs = AdvertRepr {
        vrid: 9,
        ..v3_ipv6_repr()
    };
    assert_eq!(
        validate(&theirs, &expected_for(&ours)),
        Err(PacketError::VridMismatch { got: 9, want: 51 })
    );
}

#[test]
fn test_reject_version_mismatch() {
    // A VRRPv2 peer of a VRRPv3 instance.
    let ours = v3_repr();
    let err = validate(&packet_repr(), &expected_for(&ours)).unwrap_err();
    assert_eq!(
        err,
        PacketError::VersionMismatch {
            got: Version::V2,
            want: Version::V3
        }
    );
    assert_eq!(
        err.to_string(),
        "VRRP version is 2, must be 3 (is the peer still on keepalived's default vrrp_version 2?)"
    );
}

#[test]
fn test_emit_no_addrs() {
    let repr = AdvertRepr {
        addrs: vec![],
        ..v3_repr()
    };
    for endpoints in [endpoints4(), endpoints6()] {
        let bytes = repr.to_bytes(&ChecksumOver::PseudoHeader(endpoints));
        assert_eq!(bytes.len(), HEADER_LEN);
        let parsed = AdvertRepr::parse(&bytes, &endpoints);
        assert_eq!(parsed, Ok((repr.clone(), ChecksumForm::PseudoHeader)));
    }
}

#[test]
fn test_emit_caps_addrs_at_255() {
    let repr = AdvertRepr {
        addrs: (0..300u128).map(|n| IpAddr::V6(n.into())).collect(),
        ..v3_repr()
    };
    assert_eq!(repr.buffer_len(), 8 + 16 * 255);
    let (parsed, _) = parse6(&repr.to_bytes(&pseudo6())).unwrap();
    assert_eq!(parsed.addrs, repr.addrs[..255]);
}

#[test]
#[should_panic(expected = "VRRPv3 has no authentication")]
fn test_emit_password_panics() {
    let repr = AdvertRepr {
        auth: Auth::from_config(Some(b"root")),
        ..v3_repr()
    };
    repr.to_bytes(&pseudo4());
}

#[test]
#[should_panic(expected = "VRRPv3 cannot carry an interval of 40.96s")]
fn test_emit_long_interval_panics() {
    let repr = AdvertRepr {
        interval: AdvertInterval::from_centis(4096),
        ..v3_repr()
    };
    repr.to_bytes(&pseudo4());
}

#[test]
#[should_panic(expected = "a VRRPv3 checksum over IPv6 covers the pseudo-header")]
fn test_emit_ipv6_message_only_panics() {
    v3_ipv6_repr().to_bytes(&ChecksumOver::MessageOnly);
}

#[test]
#[should_panic(expected = "IPv4 addresses, IPv6 pseudo-header")]
fn test_emit_pseudo_header_of_other_family_panics() {
    v3_repr().to_bytes(&pseudo6());
}

#[test]
fn test_display() {
    assert_eq!(
        v3_ipv6_repr().to_string(),
        "VRRPv3 advert vrid=51 priority=100 advert_int=1s addrs=[2001:db8:91::151]"
    );
    let fast = AdvertRepr {
        interval: AdvertInterval::from_centis(5),
        ..v3_repr()
    };
    assert_eq!(
        fast.to_string(),
        "VRRPv3 advert vrid=51 priority=100 advert_int=0.05s addrs=[192.168.91.151]"
    );
}
