//! VRRP wire format: VRRPv2 (RFC 3768 §5) over IPv4 and VRRPv3 (RFC 9568 §5) over IPv4 and
//! IPv6; the ADVERTISEMENT message and the IP packet that carries it.
//!
//! This module owns the bytes and nothing else. It is pure: no sockets, no clock, no logging.
//! The layers, from raw bytes to an accepted advert:
//!
//! - [`Packet`]: a view over the bytes of one VRRP message of either version, with a getter and
//!   a setter per field (the smoltcp `wire` style). The address family is not in the message,
//!   so the view is given it.
//! - [`AdvertRepr`]: the message as typed data. [`AdvertRepr::parse`] checks everything the
//!   message and the IP addresses it came between can say (version 2 or 3, type, length,
//!   checksum, authentication type); [`AdvertRepr::buffer_len`] and [`AdvertRepr::emit`] write
//!   one.
//! - [`parse_ipv4`] unwraps the IPv4 header handed up by a raw socket and applies the TTL check;
//!   [`parse_ipv6`] takes the payload a raw IPv6 socket hands up with the addresses and hop
//!   limit from its ancillary data. Both take either version.
//! - [`validate`]: the per-instance checks of RFC 3768 §7.1 and RFC 9568 §7.1 against an
//!   [`Expected`]: version, VRID, authentication (v2), interval (v2), addresses.
//!
//! Every reason to drop a packet is one [`PacketError`] variant with a stable
//! [`PacketError::counter_name`], so each can be counted and shown to the operator.
//!
//! # Checksums
//!
//! A VRRPv2 checksum covers the message alone (RFC 3768 §5.3.8). A VRRPv3 checksum over IPv6
//! covers the RFC 8200 §8.1 pseudo-header, then the message (RFC 9568 §5.2.8). Over IPv4 the
//! implementations disagree: RFC 9568 says the message alone, as Cisco does and as keepalived
//! does with `v3_checksum_as_v2`, while keepalived 2.2 by default, and FRR, read RFC 5798 as
//! putting the IPv4 pseudo-header {source, destination, zero, protocol 112, VRRP length} in
//! front. [`AdvertRepr::emit`] takes a [`ChecksumOver`] that says which, with the addresses
//! the pseudo-header needs; the receive path accepts either form for VRRPv3 over IPv4 and
//! reports the one the packet used ([`Received::checksum_form`]).
//!
//! # No-panic contract
//!
//! Nothing here panics on received bytes: [`parse_ipv4`], [`parse_ipv6`], [`AdvertRepr::parse`],
//! [`Packet::new_checked`] and [`validate`] return a [`PacketError`] for any input, and the
//! getters of a [`Packet`] built by `new_checked` never panic. The property tests feed random
//! bytes to every parser. As in smoltcp, [`Packet::new_unchecked`] skips the length check, so
//! its getters may panic on a short buffer: when parsing untrusted input, it is *necessary* to
//! use [`Packet::new_checked`] (or the `parse_*` functions).
//!
//! The deliberate panics are in [`AdvertRepr::emit`], on a caller bug, never on input: a buffer
//! shorter than [`AdvertRepr::buffer_len`] ([`AdvertRepr::to_bytes`] sizes it itself), or an
//! advert the wire cannot carry (mixed address families, VRRPv2 over IPv6, an interval the
//! version's field cannot hold, a password in VRRPv3, a checksum form the family forbids).
//!
//! # Example
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
//! use vipd::vrrp::packet::{
//!     AdvertInterval, AdvertRepr, Auth, ChecksumForm, ChecksumOver, Endpoints, Expected,
//!     MULTICAST_GROUP, MULTICAST_GROUP_V6, Version, parse_ipv6, validate,
//! };
//!
//! // VRRPv2, as keepalived sends it by default: the checksum covers the message alone.
//! let v2 = AdvertRepr {
//!     version: Version::V2,
//!     vrid: 51,
//!     priority: 100,
//!     interval: AdvertInterval::from_secs(1),
//!     auth: Auth::from_config(Some(b"root")),
//!     addrs: vec![IpAddr::V4(Ipv4Addr::new(192, 168, 91, 151))],
//! };
//! let bytes = v2.to_bytes(&ChecksumOver::MessageOnly);
//! let from = Endpoints::V4 { src: Ipv4Addr::new(192, 168, 91, 10), dst: MULTICAST_GROUP };
//! let (parsed, form) = AdvertRepr::parse(&bytes, &from).unwrap();
//! assert_eq!((&parsed, form), (&v2, ChecksumForm::MessageOnly));
//!
//! let expected = Expected {
//!     version: Version::V2,
//!     vrid: 51,
//!     auth: &v2.auth,
//!     interval: v2.interval,
//!     addrs: &v2.addrs,
//! };
//! assert!(validate(&parsed, &expected).is_ok());
//!
//! // VRRPv3 over IPv6, from the link-local address, every 50 ms: no authentication, and the
//! // checksum covers the IPv6 pseudo-header.
//! let src: Ipv6Addr = "fe80::1".parse().unwrap();
//! let v3 = AdvertRepr {
//!     version: Version::V3,
//!     vrid: 51,
//!     priority: 100,
//!     interval: AdvertInterval::from_centis(5),
//!     auth: Auth::None,
//!     addrs: vec!["2001:db8::1".parse().unwrap()],
//! };
//! let to = Endpoints::V6 { src, dst: MULTICAST_GROUP_V6 };
//! let bytes = v3.to_bytes(&ChecksumOver::PseudoHeader(to));
//! let received = parse_ipv6(&bytes, src, MULTICAST_GROUP_V6, 255).unwrap();
//! assert_eq!(received.advert, v3);
//! assert_eq!(received.checksum_form, ChecksumForm::PseudoHeader);
//! assert_eq!(v3.interval.to_string(), "0.05s");
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

mod checksum;
mod error;
mod interval;
mod ip;
mod message;
mod repr;
mod validate;

#[cfg(test)]
mod tests;

pub use checksum::{ChecksumForm, ChecksumOver, Endpoints, Family, checksum};
pub use error::{ALL_COUNTER_NAMES, PacketError};
pub use interval::AdvertInterval;
pub use ip::{Received, parse_ipv4, parse_ipv4_unicast, parse_ipv6, parse_ipv6_unicast};
pub use message::Packet;
pub use repr::{AdvertRepr, Auth, Version};
pub use validate::{Expected, validate};

/// IP protocol number of VRRP (RFC 3768 §5.2.4); also the IPv6 Next Header (RFC 9568 §5.1.2.4).
pub const PROTOCOL: u8 = 112;

/// The IPv4 multicast group adverts are sent to (RFC 3768 §5.2.2, RFC 9568 §5.1.1.2).
pub const MULTICAST_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

/// The IPv6 multicast group adverts are sent to (RFC 9568 §5.1.2.2).
pub const MULTICAST_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// The IPv4 TTL and IPv6 Hop Limit adverts are sent with and must arrive with (RFC 3768 §5.2.3,
/// RFC 9568 §5.1.1.3, §5.1.2.3, §7.1).
pub const TTL: u8 = 255;

/// The only VRRP message type: ADVERTISEMENT (RFC 3768 §5.3.2, RFC 9568 §5.2.2).
pub const TYPE_ADVERTISEMENT: u8 = 1;

/// Authentication type 0: no authentication (RFC 3768 §5.3.6).
pub const AUTH_TYPE_NONE: u8 = 0;

/// Authentication type 1: simple text password (RFC 2338 §5.3.6.1; keepalived `auth_type PASS`).
pub const AUTH_TYPE_PASS: u8 = 1;

/// Authentication type 2: IP Authentication Header (RFC 2338 §5.3.6.2; keepalived `auth_type AH`).
/// Not supported.
pub const AUTH_TYPE_AH: u8 = 2;

pub use crate::config::PRIORITY_OWNER;

/// Length of the fixed part of a VRRP message, before the addresses (both versions).
pub const HEADER_LEN: usize = 8;

/// Length of the Authentication Data at the end of every VRRPv2 message (RFC 3768 §5.3.10).
/// VRRPv3 has none.
pub const AUTH_DATA_LEN: usize = 8;

/// The most addresses one advert can carry: "Count IP Addrs" / "Count IPvX Addr" is one byte
/// (RFC 3768 §5.3.5, RFC 9568 §5.2.5). The config layer rejects instances with more.
pub const MAX_ADDRS: usize = 255;

/// The length of a message of `version` carrying `count` addresses of `family`: the header,
/// the addresses, and for VRRPv2 the authentication data. VRRPv2 over IPv4: 16 + 4 * count;
/// VRRPv3: 8 + 4 * count (IPv4) or 8 + 16 * count (IPv6).
pub const fn message_len(version: Version, family: Family, count: usize) -> usize {
    let auth = match version {
        Version::V2 => AUTH_DATA_LEN,
        Version::V3 => 0,
    };
    HEADER_LEN + family.addr_len() * count + auth
}

/// A list of addresses for messages: `10.0.0.1, 10.0.0.2`, or `none`.
fn fmt_addrs(addrs: &[std::net::IpAddr]) -> String {
    if addrs.is_empty() {
        return "none".to_owned();
    }
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
