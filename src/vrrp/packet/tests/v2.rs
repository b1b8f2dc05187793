//! VRRPv2 over IPv4: PACKET_BYTES taken apart and put together, the IPv4 receive path, and one
//! test per rejection.

use super::*;

/// PACKET_BYTES changed by `edit`, with the checksum made right again.
fn edited_packet(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    edited(
        &PACKET_BYTES,
        Family::Ipv4,
        &ChecksumOver::MessageOnly,
        edit,
    )
}

#[test]
fn test_deconstruct() {
    let packet = Packet::new_checked(&PACKET_BYTES[..], Family::Ipv4).unwrap();
    assert_eq!(packet.version(), 2);
    assert_eq!(packet.msg_type(), 1);
    assert_eq!(packet.vrid(), 51);
    assert_eq!(packet.priority(), 100);
    assert_eq!(packet.addr_count(), 1);
    assert_eq!(packet.auth_type(), AUTH_TYPE_PASS);
    assert_eq!(packet.advert_int(), 1);
    assert_eq!(packet.checksum(), 0x7ba6);
    assert_eq!(packet.addr(0), IpAddr::V4(VIP4));
    assert_eq!(packet.addrs().collect::<Vec<_>>(), [IpAddr::V4(VIP4)]);
    assert_eq!(packet.auth_data(), Some(*b"root\0\0\0\0"));
    assert_eq!(packet.message_len(), 20);
    assert_eq!(packet.family(), Family::Ipv4);
    assert_eq!(packet.compute_checksum(&ChecksumOver::MessageOnly), 0x7ba6);
    assert!(packet.verify_checksum(&ChecksumOver::MessageOnly));
}

#[test]
fn test_construct() {
    let mut bytes = [0xa5u8; 20];
    let mut packet = Packet::new_unchecked(&mut bytes[..], Family::Ipv4);
    packet.set_version(2);
    packet.set_msg_type(1);
    packet.set_vrid(51);
    packet.set_priority(100);
    packet.set_addr_count(1);
    packet.set_auth_type(AUTH_TYPE_PASS);
    packet.set_advert_int(1);
    packet.set_addr(0, VIP4.into());
    packet.set_auth_data(b"root\0\0\0\0");
    packet.fill_checksum(&ChecksumOver::MessageOnly);
    assert_eq!(packet.into_inner(), &PACKET_BYTES[..]);
}

#[test]
#[should_panic(expected = "Packet::set_addr")]
fn test_set_addr_of_other_family_panics() {
    let mut bytes = [0u8; 20];
    Packet::new_unchecked(&mut bytes[..], Family::Ipv4).set_addr(0, VIP6.into());
}

#[test]
fn test_parse() {
    assert_eq!(
        parse4(&PACKET_BYTES),
        Ok((packet_repr(), ChecksumForm::MessageOnly))
    );
}

#[test]
fn test_emit() {
    let repr = packet_repr();
    assert_eq!(repr.buffer_len(), PACKET_BYTES.len());
    let mut bytes = [0xa5u8; 20];
    repr.emit(&mut bytes, &ChecksumOver::MessageOnly);
    assert_eq!(bytes, PACKET_BYTES);
    assert_eq!(repr.to_bytes(&ChecksumOver::MessageOnly), PACKET_BYTES);
}

#[test]
fn test_emit_leaves_rest_of_buffer() {
    let mut bytes = [0xa5u8; 24];
    packet_repr().emit(&mut bytes, &ChecksumOver::MessageOnly);
    assert_eq!(bytes[..20], PACKET_BYTES);
    assert_eq!(bytes[20..], [0xa5; 4]);
}

#[test]
#[should_panic(expected = "AdvertRepr::emit")]
fn test_emit_short_buffer_panics() {
    packet_repr().emit(&mut [0u8; 19], &ChecksumOver::MessageOnly);
}

#[test]
#[should_panic(expected = "a VRRPv2 checksum covers the message alone")]
fn test_emit_v2_with_pseudo_header_panics() {
    packet_repr().to_bytes(&ChecksumOver::PseudoHeader(endpoints4()));
}

#[test]
#[should_panic(expected = "VRRPv2 is IPv4-only")]
fn test_emit_v2_over_ipv6_panics() {
    let repr = AdvertRepr {
        auth: Auth::None,
        addrs: vec![VIP6.into()],
        ..packet_repr()
    };
    repr.to_bytes(&ChecksumOver::MessageOnly);
}

#[test]
#[should_panic(expected = "VRRPv2 cannot carry an interval of 0.5s")]
fn test_emit_v2_fractional_interval_panics() {
    let repr = AdvertRepr {
        interval: AdvertInterval::from_centis(50),
        ..packet_repr()
    };
    repr.to_bytes(&ChecksumOver::MessageOnly);
}

#[test]
#[should_panic(expected = "IPv4 and IPv6 addresses in one advert")]
fn test_emit_mixed_families_panics() {
    let repr = AdvertRepr {
        addrs: vec![VIP4.into(), VIP6.into()],
        ..packet_repr()
    };
    repr.to_bytes(&ChecksumOver::MessageOnly);
}

#[test]
fn test_emit_no_auth_no_addrs() {
    let repr = AdvertRepr {
        version: Version::V2,
        vrid: 1,
        priority: 0,
        interval: AdvertInterval::from_secs(3),
        auth: Auth::None,
        addrs: vec![],
    };
    let bytes = repr.to_bytes(&ChecksumOver::MessageOnly);
    assert_eq!(bytes.len(), 16);
    assert_eq!(bytes[4], AUTH_TYPE_NONE);
    assert_eq!(bytes[5], 3);
    assert_eq!(bytes[8..], [0; 8]);
    assert_eq!(checksum(&bytes), 0);
    assert_eq!(parse4(&bytes), Ok((repr, ChecksumForm::MessageOnly)));
}

#[test]
fn test_emit_caps_addrs_at_255() {
    let repr = AdvertRepr {
        version: Version::V2,
        vrid: 1,
        priority: 100,
        interval: AdvertInterval::from_secs(1),
        auth: Auth::None,
        addrs: (0..300u32).map(|n| IpAddr::V4(n.into())).collect(),
    };
    assert_eq!(
        repr.buffer_len(),
        message_len(Version::V2, Family::Ipv4, 255)
    );
    let (parsed, _) = parse4(&repr.to_bytes(&ChecksumOver::MessageOnly)).unwrap();
    assert_eq!(parsed.addrs, repr.addrs[..255]);
}

#[test]
fn unicast_adverts_may_have_crossed_a_router() {
    let mut bytes = datagram_bytes();
    bytes[8] = 62; // TTL after one router, as keepalived sends unicast (64 - 2 hops)
    assert_eq!(parse_ipv4(&bytes), Err(PacketError::TtlNot255 { got: 62 }));
    let received = parse_ipv4_unicast(&bytes).unwrap();
    assert_eq!(received.ttl, 62);
    assert_eq!(received.advert, packet_repr());
}

#[test]
fn test_parse_ipv4() {
    let received = parse_ipv4(&datagram_bytes()).unwrap();
    assert_eq!(
        received,
        Received {
            src: SRC4.into(),
            dst: MULTICAST_GROUP.into(),
            ttl: 255,
            checksum_form: ChecksumForm::MessageOnly,
            advert: packet_repr(),
        }
    );
}

#[test]
fn test_parse_ipv4_with_options() {
    // IHL 6: one 4-byte Router Alert option (RFC 2113) before the VRRP message.
    let bytes = datagram_with(
        |header| {
            header[0] = 0x46;
            header.extend_from_slice(&[0x94, 0x04, 0x00, 0x00]);
        },
        &PACKET_BYTES,
    );
    assert_eq!(bytes.len(), 44);
    let received = parse_ipv4(&bytes).unwrap();
    assert_eq!(received.src, IpAddr::V4(SRC4));
    assert_eq!(received.advert, packet_repr());
}

#[test]
fn test_parse_ipv4_ignores_bytes_after_total_length() {
    let mut bytes = datagram_bytes();
    bytes.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(parse_ipv4(&bytes).unwrap().advert, packet_repr());
}

#[test]
fn test_reject_truncated() {
    // IP header cut short.
    assert_eq!(
        parse_ipv4(&IP_HEADER_BYTES[..19]),
        Err(PacketError::Truncated { got: 19, want: 20 })
    );
    // Options announced by IHL but missing.
    let mut bytes = IP_HEADER_BYTES.to_vec();
    bytes[0] = 0x4f;
    assert_eq!(
        parse_ipv4(&bytes),
        Err(PacketError::Truncated { got: 20, want: 60 })
    );
    // Total length beyond the buffer.
    let bytes = datagram_bytes();
    assert_eq!(
        parse_ipv4(&bytes[..39]),
        Err(PacketError::Truncated { got: 39, want: 40 })
    );
    // VRRP header cut short: its 8 bytes are needed to read the version.
    assert_eq!(
        parse4(&PACKET_BYTES[..7]),
        Err(PacketError::Truncated { got: 7, want: 8 })
    );
    assert_eq!(
        Packet::new_checked(&PACKET_BYTES[..7], Family::Ipv4),
        Err(PacketError::Truncated { got: 7, want: 8 })
    );
    // Authentication data cut short (the IP total length agrees with the short payload).
    let bytes = datagram_with(|_| {}, &PACKET_BYTES[..16]);
    assert_eq!(
        parse_ipv4(&bytes),
        Err(PacketError::Truncated { got: 16, want: 20 })
    );
    // Count says 2 addresses, only 1 present.
    let mut bytes = PACKET_BYTES.to_vec();
    bytes[3] = 2;
    assert_eq!(
        parse4(&bytes),
        Err(PacketError::Truncated { got: 20, want: 24 })
    );
}

#[test]
fn test_reject_bad_ip_header() {
    let not_v4 = datagram_with(|h| h[0] = 0x65, &PACKET_BYTES);
    let short_ihl = datagram_with(|h| h[0] = 0x44, &PACKET_BYTES);
    let mut short_total = datagram_bytes();
    short_total[2..4].copy_from_slice(&19u16.to_be_bytes());
    let more_fragments = datagram_with(|h| h[6] = 0x20, &PACKET_BYTES);
    let offset = datagram_with(|h| h[7] = 0x01, &PACKET_BYTES);
    for bytes in [not_v4, short_ihl, short_total, more_fragments, offset] {
        let err = parse_ipv4(&bytes).unwrap_err();
        assert!(
            matches!(err, PacketError::BadIpHeader { .. }),
            "{bytes:02x?}: {err}"
        );
    }
    // Don't Fragment alone is fine.
    let dont_fragment = datagram_with(|h| h[6] = 0x40, &PACKET_BYTES);
    assert!(parse_ipv4(&dont_fragment).is_ok());
}

#[test]
fn test_reject_not_vrrp() {
    let bytes = datagram_with(|h| h[9] = 17, &PACKET_BYTES);
    assert_eq!(parse_ipv4(&bytes), Err(PacketError::NotVrrp { got: 17 }));
}

#[test]
fn test_reject_ttl() {
    let bytes = datagram_with(|h| h[8] = 254, &PACKET_BYTES);
    let err = parse_ipv4(&bytes).unwrap_err();
    assert_eq!(err, PacketError::TtlNot255 { got: 254 });
    assert_eq!(
        err.to_string(),
        "TTL is 254, must be 255 (sent from another subnet?)"
    );
}

#[test]
fn test_reject_unknown_version() {
    for version in [0u8, 1, 4, 15] {
        let bytes = edited_packet(|b| b[0] = (version << 4) | 1);
        let err = parse4(&bytes).unwrap_err();
        assert_eq!(err, PacketError::UnknownVersion { got: version });
        assert_eq!(err.counter_name(), "unknown_version");
        let bytes = datagram_with(|_| {}, &bytes);
        assert_eq!(
            parse_ipv4(&bytes),
            Err(PacketError::UnknownVersion { got: version })
        );
    }
    assert_eq!(
        PacketError::UnknownVersion { got: 4 }.to_string(),
        "VRRP version is 4, must be 2 or 3"
    );
}

#[test]
fn test_reject_type() {
    let bytes = edited_packet(|b| b[0] = 0x22);
    assert_eq!(parse4(&bytes), Err(PacketError::BadType { got: 2 }));
}

#[test]
fn test_reject_length() {
    let mut bytes = PACKET_BYTES.to_vec();
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(
        parse4(&bytes),
        Err(PacketError::BadLength { got: 24, want: 20 })
    );
    // Inside a datagram whose total length covers the extra bytes.
    let bytes = datagram_with(|_| {}, &bytes);
    assert_eq!(
        parse_ipv4(&bytes),
        Err(PacketError::BadLength { got: 24, want: 20 })
    );
}

#[test]
fn test_reject_checksum() {
    let mut bytes = PACKET_BYTES.to_vec();
    bytes[2] = 101; // priority +1 (high byte of its word), checksum not
    assert_eq!(
        parse4(&bytes),
        Err(PacketError::BadChecksum {
            got: 0x7ba6,
            want: 0x7aa6
        })
    );
}

#[test]
fn test_v2_checksum_has_no_pseudo_header() {
    // A VRRPv2 message with a pseudo-header checksum (the VRRPv3 form) is corrupt.
    let bytes = edited(
        &PACKET_BYTES,
        Family::Ipv4,
        &ChecksumOver::PseudoHeader(endpoints4()),
        |_| {},
    );
    assert!(matches!(
        parse4(&bytes),
        Err(PacketError::BadChecksum { .. })
    ));
}

#[test]
fn test_reject_unsupported_auth_type() {
    for auth_type in [AUTH_TYPE_AH, 3, 255] {
        let bytes = edited_packet(|b| b[4] = auth_type);
        assert_eq!(
            parse4(&bytes),
            Err(PacketError::UnsupportedAuthType { got: auth_type })
        );
    }
}

#[test]
fn test_auth_none_ignores_auth_data() {
    // RFC 3768 §5.3.10: authentication data is ignored on reception.
    let bytes = edited_packet(|b| b[4] = AUTH_TYPE_NONE);
    assert_eq!(parse4(&bytes).unwrap().0.auth, Auth::None);
}

#[test]
fn test_validate_accepts() {
    let repr = packet_repr();
    assert_eq!(validate(&repr, &expected_for(&repr)), Ok(()));
}

#[test]
fn test_reject_version_mismatch() {
    // A VRRPv3 peer of a VRRPv2 instance, as keepalived's `vrrp_version 3` sends: it parses,
    // and the instance refuses it, the version checked first.
    let (theirs, _) = AdvertRepr::parse(&V3_PACKET_BYTES, &endpoints4()).unwrap();
    let theirs = AdvertRepr { vrid: 52, ..theirs };
    let ours = packet_repr();
    let err = validate(&theirs, &expected_for(&ours)).unwrap_err();
    assert_eq!(
        err,
        PacketError::VersionMismatch {
            got: Version::V3,
            want: Version::V2
        }
    );
    assert_eq!(err.counter_name(), "version");
    assert_eq!(
        err.to_string(),
        "VRRP version is 3, must be 2 (is the peer configured with vrrp_version 3?)"
    );
}

#[test]
fn test_reject_vrid() {
    let ours = packet_repr();
    let theirs = AdvertRepr {
        vrid: 52,
        auth: Auth::None, // VRID is checked before authentication
        ..packet_repr()
    };
    assert_eq!(
        validate(&theirs, &expected_for(&ours)),
        Err(PacketError::VridMismatch { got: 52, want: 51 })
    );
}

#[test]
fn test_reject_auth_type() {
    let ours = packet_repr();
    let theirs = AdvertRepr {
        auth: Auth::None,
        interval: AdvertInterval::from_secs(9), // auth is checked before the interval
        ..packet_repr()
    };
    let err = validate(&theirs, &expected_for(&ours)).unwrap_err();
    assert_eq!(err, PacketError::AuthTypeMismatch { got: 0, want: 1 });
    assert_eq!(
        err.to_string(),
        "authentication type is 0 (none), this instance uses 1 (PASS)"
    );
}

#[test]
fn test_reject_auth_password() {
    let ours = packet_repr();
    let theirs = AdvertRepr {
        auth: Auth::from_config(Some(b"toor")),
        ..packet_repr()
    };
    let err = validate(&theirs, &expected_for(&ours)).unwrap_err();
    assert_eq!(err, PacketError::AuthPasswordMismatch);
    assert_eq!(err.to_string(), "authentication password mismatch");
    // All 8 bytes count, as keepalived's memcmp: garbage after the NUL is a mismatch.
    let theirs = AdvertRepr {
        auth: Auth::Password(*b"root\0xyz"),
        ..packet_repr()
    };
    assert_eq!(
        validate(&theirs, &expected_for(&ours)),
        Err(PacketError::AuthPasswordMismatch)
    );
}

#[test]
fn test_reject_advert_interval() {
    let ours = packet_repr();
    let theirs = AdvertRepr {
        interval: AdvertInterval::from_secs(2),
        addrs: vec![], // the interval is checked before the addresses
        ..packet_repr()
    };
    let err = validate(&theirs, &expected_for(&ours)).unwrap_err();
    assert_eq!(
        err,
        PacketError::AdvertIntervalMismatch {
            got: AdvertInterval::from_secs(2),
            want: AdvertInterval::from_secs(1)
        }
    );
    assert_eq!(
        err.to_string(),
        "advertisement interval is 2s, this instance uses 1s (advert_int must match on all routers)"
    );
}

#[test]
fn test_reject_address_list() {
    let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let c = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3));
    let ours = AdvertRepr {
        addrs: vec![a, b],
        ..packet_repr()
    };
    let expected = expected_for(&ours);

    // Same addresses in another order: accepted.
    let reordered = AdvertRepr {
        addrs: vec![b, a],
        ..packet_repr()
    };
    assert_eq!(validate(&reordered, &expected), Ok(()));

    // One replaced.
    let replaced = AdvertRepr {
        addrs: vec![a, c],
        ..packet_repr()
    };
    let err = validate(&replaced, &expected).unwrap_err();
    assert_eq!(
        err,
        PacketError::AddressListMismatch {
            got: 2,
            want: 2,
            missing: vec![b],
            unexpected: vec![c],
        }
    );
    assert!(err.to_string().contains("missing from advert: 10.0.0.2"));

    // A subset, and the same set with a different count.
    for addrs in [vec![a], vec![a, b, b]] {
        let advert = AdvertRepr {
            addrs,
            ..packet_repr()
        };
        assert!(matches!(
            validate(&advert, &expected),
            Err(PacketError::AddressListMismatch { .. })
        ));
    }

    // The owner (priority 255) is believed whatever it advertises.
    let owner = AdvertRepr {
        priority: PRIORITY_OWNER,
        ..replaced
    };
    assert_eq!(validate(&owner, &expected), Ok(()));
}

#[test]
fn test_auth_from_config() {
    assert_eq!(Auth::from_config(None), Auth::None);
    assert_eq!(
        Auth::from_config(Some(b"root")),
        Auth::Password(*b"root\0\0\0\0")
    );
    assert_eq!(
        Auth::from_config(Some(b"longpassword")),
        Auth::Password(*b"longpass")
    );
    assert_eq!(Auth::from_config(Some(b"")), Auth::Password([0; 8]));
    assert_eq!(Auth::from_config(Some(b"longpass")).auth_type(), 1);
    assert_eq!(Auth::None.data(), [0; 8]);
}

#[test]
fn test_display_hides_password() {
    let line = packet_repr().to_string();
    assert_eq!(
        line,
        "VRRPv2 advert vrid=51 priority=100 advert_int=1s auth=PASS addrs=[192.168.91.151]"
    );
    assert!(!line.contains("root"));
}
