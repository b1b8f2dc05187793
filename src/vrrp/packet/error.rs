//! Why a received packet was dropped: one [`PacketError`] variant per reason, each with its own
//! stable counter name.

use std::net::IpAddr;

use super::{AUTH_TYPE_AH, AUTH_TYPE_NONE, AUTH_TYPE_PASS, AdvertInterval, Version, fmt_addrs};

/// Why a received packet was dropped. One variant per reason, each with its own counter
/// ([`PacketError::counter_name`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The datagram or the VRRP message ends before a field it must contain.
    #[error("packet truncated: {got} bytes, need {want}")]
    Truncated {
        /// Bytes present.
        got: usize,
        /// Bytes needed.
        want: usize,
    },
    /// The IPv4 header is malformed (wrong version, header length or total length, or a
    /// fragment).
    #[error("malformed IPv4 header: {detail}")]
    BadIpHeader {
        /// What is wrong with it.
        detail: String,
    },
    /// The IPv4 datagram carries another protocol than VRRP (112).
    #[error("IP protocol is {got}, not VRRP (112)")]
    NotVrrp {
        /// The IP protocol number received.
        got: u8,
    },
    /// The IPv4 TTL is not 255, so the packet may have crossed a router (RFC 3768 §7.1,
    /// RFC 9568 §7.1).
    #[error("TTL is {got}, must be 255 (sent from another subnet?)")]
    TtlNot255 {
        /// The TTL received.
        got: u8,
    },
    /// The IPv6 Hop Limit is not 255, so the packet may have crossed a router (RFC 9568 §7.1).
    #[error("IPv6 hop limit is {got}, must be 255 (sent from another link?)")]
    HopLimitNot255 {
        /// The hop limit received.
        got: u8,
    },
    /// The VRRP version is neither 2 nor 3.
    #[error("VRRP version is {got}, must be 2 or 3")]
    UnknownVersion {
        /// The version received.
        got: u8,
    },
    /// A VRRPv2 message came over IPv6: VRRPv2 is IPv4-only (RFC 3768), IPv6 needs VRRPv3
    /// (RFC 9568 §5.2.1).
    #[error("VRRPv2 advert over IPv6: VRRPv2 is IPv4-only, IPv6 needs vrrp_version 3")]
    V2OverIpv6,
    /// The VRRP message type is not 1 (ADVERTISEMENT).
    #[error("VRRP message type is {got}, must be 1 (ADVERTISEMENT)")]
    BadType {
        /// The type received.
        got: u8,
    },
    /// The VRRP message is longer than its address count says.
    #[error("VRRP message is {got} bytes, but its address count calls for {want}")]
    BadLength {
        /// Bytes present.
        got: usize,
        /// Bytes the version, address count and family call for (see
        /// [`super::message_len`]).
        want: usize,
    },
    /// The VRRP checksum does not match the message (for VRRPv3 over IPv4: in neither form).
    #[error("VRRP checksum mismatch: packet carries {got:#06x}, its contents sum to {want:#06x}")]
    BadChecksum {
        /// The checksum field received.
        got: u16,
        /// The checksum computed over the message; for VRRPv3, with the pseudo-header.
        want: u16,
    },
    /// The advert's VRRP version is not this instance's (RFC 3768 §7.1, RFC 9568 §7.1).
    #[error(
        "VRRP version is {}, must be {} ({})",
        .got.number(),
        .want.number(),
        version_hint(*.want)
    )]
    VersionMismatch {
        /// The version received.
        got: Version,
        /// This instance's version.
        want: Version,
    },
    /// The advert is for another virtual router.
    #[error("virtual router ID is {got}, this instance uses {want}")]
    VridMismatch {
        /// The VRID received.
        got: u8,
        /// This instance's VRID.
        want: u8,
    },
    /// The authentication type differs from this instance's (VRRPv2).
    #[error(
        "authentication type is {got} ({}), this instance uses {want} ({})",
        auth_type_name(*.got),
        auth_type_name(*.want)
    )]
    AuthTypeMismatch {
        /// The authentication type received.
        got: u8,
        /// This instance's authentication type.
        want: u8,
    },
    /// The authentication type is IP AH (2) or unknown (above 2); only none and PASS are
    /// supported (VRRPv2).
    #[error(
        "authentication type {got} ({}) is not supported, only 0 (none) and 1 (PASS)",
        auth_type_name(*.got)
    )]
    UnsupportedAuthType {
        /// The authentication type received.
        got: u8,
    },
    /// The simple text password differs from this instance's `auth_pass` (VRRPv2).
    #[error("authentication password mismatch")]
    AuthPasswordMismatch,
    /// The advertisement interval differs from this instance's `advert_int` (VRRPv2 only: a
    /// VRRPv3 backup learns the master's interval instead).
    #[error(
        "advertisement interval is {got}, this instance uses {want} (advert_int must match on all routers)"
    )]
    AdvertIntervalMismatch {
        /// The interval received.
        got: AdvertInterval,
        /// This instance's interval.
        want: AdvertInterval,
    },
    /// A VRRPv3 advert with Max Adver Int 0 (RFC 9568 §7.1): a backup that learned it would
    /// time out at once.
    #[error("VRRPv3 advert with a Max Adver Int of 0: no router sends that")]
    ZeroInterval,
    /// A non-owner advertised another list of virtual addresses than this instance's.
    #[error(
        "address list mismatch: advert has {got} addresses, this instance {want}; missing from advert: {}; not configured here: {} (virtual_ipaddress must match on all routers)",
        fmt_addrs(.missing),
        fmt_addrs(.unexpected)
    )]
    AddressListMismatch {
        /// Number of addresses in the advert.
        got: usize,
        /// Number of addresses this instance has.
        want: usize,
        /// Addresses this instance has that the advert lacks.
        missing: Vec<IpAddr>,
        /// Addresses in the advert that this instance lacks.
        unexpected: Vec<IpAddr>,
    },
    /// A unicast advert came from a source that is not a configured `unicast_peer`. Not
    /// produced by this module: the unicast receive path uses it.
    #[error("advert from {src}, which is not a configured unicast peer")]
    UnknownPeer {
        /// The source address of the advert.
        src: IpAddr,
    },
    /// An advert from our own address: another host on the link uses it. Not produced by
    /// this module: the receive path compares the source with the instance's address.
    #[error(
        "advert from {src}, this host's own address: another host uses it (a duplicate IP \
         address: each believes it is master)"
    )]
    OwnAddress {
        /// The source address of the advert, ours.
        src: IpAddr,
    },
}

/// Every [`PacketError::counter_name`], in variant order.
pub const ALL_COUNTER_NAMES: &[&str] = &[
    "truncated",
    "bad_ip_header",
    "not_vrrp",
    "ttl",
    "hop_limit",
    "unknown_version",
    "v2_over_ipv6",
    "type",
    "length",
    "checksum",
    "version",
    "vrid",
    "auth_type",
    "unsupported_auth_type",
    "auth_password",
    "advert_interval",
    "zero_interval",
    "address_list",
    "unknown_peer",
    "own_address",
];

impl PacketError {
    /// The stable snake_case name of this drop reason's counter, as used in the status JSON and
    /// in metrics. One of [`ALL_COUNTER_NAMES`].
    pub fn counter_name(&self) -> &'static str {
        match self {
            PacketError::Truncated { .. } => "truncated",
            PacketError::BadIpHeader { .. } => "bad_ip_header",
            PacketError::NotVrrp { .. } => "not_vrrp",
            PacketError::TtlNot255 { .. } => "ttl",
            PacketError::HopLimitNot255 { .. } => "hop_limit",
            PacketError::UnknownVersion { .. } => "unknown_version",
            PacketError::V2OverIpv6 => "v2_over_ipv6",
            PacketError::BadType { .. } => "type",
            PacketError::BadLength { .. } => "length",
            PacketError::BadChecksum { .. } => "checksum",
            PacketError::VersionMismatch { .. } => "version",
            PacketError::VridMismatch { .. } => "vrid",
            PacketError::AuthTypeMismatch { .. } => "auth_type",
            PacketError::UnsupportedAuthType { .. } => "unsupported_auth_type",
            PacketError::AuthPasswordMismatch => "auth_password",
            PacketError::AdvertIntervalMismatch { .. } => "advert_interval",
            PacketError::ZeroInterval => "zero_interval",
            PacketError::AddressListMismatch { .. } => "address_list",
            PacketError::UnknownPeer { .. } => "unknown_peer",
            PacketError::OwnAddress { .. } => "own_address",
        }
    }
}

/// The likely cause of a version mismatch, for an instance of version `want`.
fn version_hint(want: Version) -> &'static str {
    match want {
        Version::V2 => "is the peer configured with vrrp_version 3?",
        Version::V3 => "is the peer still on keepalived's default vrrp_version 2?",
    }
}

/// The keepalived name of an authentication type, for error messages.
pub(super) fn auth_type_name(auth_type: u8) -> &'static str {
    match auth_type {
        AUTH_TYPE_NONE => "none",
        AUTH_TYPE_PASS => "PASS",
        AUTH_TYPE_AH => "AH",
        _ => "unknown",
    }
}
