//! VRRPv2 wire format (RFC 3768 §5): the ADVERTISEMENT message and the IPv4 datagram that
//! carries it.
//!
//! This module owns the bytes and nothing else. It is pure: no sockets, no clock, no logging.
//! The layers, from raw bytes to an accepted advert:
//!
//! - [`Packet`]: a view over the bytes of one VRRP message, with a getter and a setter per field
//!   (the smoltcp `wire` style).
//! - [`AdvertRepr`]: the message as typed data. [`AdvertRepr::parse_vrrp`] checks everything the
//!   message alone can say (version, type, length, checksum, authentication type);
//!   [`AdvertRepr::buffer_len`] and [`AdvertRepr::emit`] write one.
//! - [`parse_ipv4`]: unwraps the IPv4 header handed up by a raw socket and applies the TTL check.
//! - [`validate`]: the per-instance checks of RFC 3768 §7.1 against an [`Expected`].
//!
//! Every reason to drop a packet is one [`PacketError`] variant with a stable
//! [`PacketError::counter_name`], so each can be counted and shown to the operator.
//!
//! # No-panic contract
//!
//! Nothing here panics on received bytes: [`parse_ipv4`], [`AdvertRepr::parse_vrrp`],
//! [`Packet::new_checked`] and [`validate`] return a [`PacketError`] for any input, and the
//! getters of a [`Packet`] built by `new_checked` never panic. The property tests at the bottom
//! of this file feed random bytes to both parsers. As in smoltcp, [`Packet::new_unchecked`]
//! skips the length check, so its getters may panic on a short buffer: when parsing untrusted
//! input, it is *necessary* to use [`Packet::new_checked`] (or the `parse_*` functions).
//!
//! The one deliberate panic is [`AdvertRepr::emit`] into a buffer shorter than
//! [`AdvertRepr::buffer_len`]: that is a bug in the caller, not bad input.
//! [`AdvertRepr::to_bytes`] sizes the buffer itself.
//!
//! # Example
//!
//! ```
//! use std::net::Ipv4Addr;
//! use vipd::vrrp::packet::{AdvertRepr, Auth, Expected, validate};
//!
//! let advert = AdvertRepr {
//!     vrid: 51,
//!     priority: 100,
//!     advert_int_secs: 1,
//!     auth: Auth::from_config(Some(b"root")),
//!     addrs: vec![Ipv4Addr::new(192, 168, 91, 151)],
//! };
//! let bytes = advert.to_bytes();
//! let parsed = AdvertRepr::parse_vrrp(&bytes).unwrap();
//! assert_eq!(parsed, advert);
//!
//! let expected = Expected { vrid: 51, auth: &advert.auth, advert_int_secs: 1, addrs: &advert.addrs };
//! assert!(validate(&parsed, &expected).is_ok());
//! ```

use core::fmt;
use std::net::Ipv4Addr;

/// IP protocol number of VRRP (RFC 3768 §5.2.4).
pub const PROTOCOL: u8 = 112;

/// The IPv4 multicast group adverts are sent to (RFC 3768 §5.2.2).
pub const MULTICAST_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

/// The IP TTL adverts are sent with and must arrive with (RFC 3768 §5.2.3, §7.1).
pub const TTL: u8 = 255;

/// The VRRP version this module speaks (RFC 3768 §5.3.1).
pub const VERSION: u8 = 2;

/// The only VRRP message type: ADVERTISEMENT (RFC 3768 §5.3.2).
pub const TYPE_ADVERTISEMENT: u8 = 1;

/// Authentication type 0: no authentication (RFC 3768 §5.3.6).
pub const AUTH_TYPE_NONE: u8 = 0;

/// Authentication type 1: simple text password (RFC 2338 §5.3.6.1; keepalived `auth_type PASS`).
pub const AUTH_TYPE_PASS: u8 = 1;

/// Authentication type 2: IP Authentication Header (RFC 2338 §5.3.6.2; keepalived `auth_type AH`).
/// Not supported.
pub const AUTH_TYPE_AH: u8 = 2;

pub use crate::config::PRIORITY_OWNER;

/// Length of the fixed part of a VRRP message, before the addresses.
pub const HEADER_LEN: usize = 8;

/// Length of the Authentication Data at the end of every VRRPv2 message (RFC 3768 §5.3.10).
pub const AUTH_DATA_LEN: usize = 8;

/// The most addresses one advert can carry: "Count IP Addrs" is one byte (RFC 3768 §5.3.5).
/// The config layer rejects instances with more.
pub const MAX_ADDRS: usize = 255;

/// The length of a VRRPv2 message carrying `count` addresses: 16 + 4 * count.
pub const fn message_len(count: usize) -> usize {
    HEADER_LEN + 4 * count + AUTH_DATA_LEN
}

/// Byte offsets of the VRRP message fields.
mod field {
    pub(super) type Field = core::ops::Range<usize>;

    pub(super) const VER_TYPE: usize = 0;
    pub(super) const VRID: usize = 1;
    pub(super) const PRIORITY: usize = 2;
    pub(super) const COUNT: usize = 3;
    pub(super) const AUTH_TYPE: usize = 4;
    pub(super) const ADVER_INT: usize = 5;
    pub(super) const CHECKSUM: Field = 6..8;
    pub(super) const ADDRS: usize = 8;

    /// The `index`th IP Address.
    pub(super) const fn addr(index: usize) -> Field {
        let start = ADDRS + 4 * index;
        start..start + 4
    }

    /// The Authentication Data of a message carrying `count` addresses.
    pub(super) const fn auth_data(count: usize) -> Field {
        let start = ADDRS + 4 * count;
        start..start + super::AUTH_DATA_LEN
    }
}

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
    /// The IP TTL is not 255, so the packet may have crossed a router (RFC 3768 §7.1).
    #[error("TTL is {got}, must be 255 (sent from another subnet?)")]
    TtlNot255 {
        /// The TTL received.
        got: u8,
    },
    /// The VRRP version is not 2.
    #[error("VRRP version is {got}, must be 2 (is the peer configured with vrrp_version 3?)")]
    BadVersion {
        /// The version received.
        got: u8,
    },
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
        /// Bytes the address count calls for: 16 + 4 * count.
        want: usize,
    },
    /// The VRRP checksum does not match the message.
    #[error("VRRP checksum mismatch: packet carries {got:#06x}, its contents sum to {want:#06x}")]
    BadChecksum {
        /// The checksum field received.
        got: u16,
        /// The checksum computed over the message.
        want: u16,
    },
    /// The advert is for another virtual router.
    #[error("virtual router ID is {got}, this instance uses {want}")]
    VridMismatch {
        /// The VRID received.
        got: u8,
        /// This instance's VRID.
        want: u8,
    },
    /// The authentication type differs from this instance's.
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
    /// supported.
    #[error(
        "authentication type {got} ({}) is not supported, only 0 (none) and 1 (PASS)",
        auth_type_name(*.got)
    )]
    UnsupportedAuthType {
        /// The authentication type received.
        got: u8,
    },
    /// The simple text password differs from this instance's `auth_pass`.
    #[error("authentication password mismatch")]
    AuthPasswordMismatch,
    /// The advertisement interval differs from this instance's `advert_int`.
    #[error(
        "advertisement interval is {got} s, this instance uses {want} s (advert_int must match on all routers)"
    )]
    AdvertIntervalMismatch {
        /// The interval received, in seconds.
        got: u8,
        /// This instance's interval, in seconds.
        want: u8,
    },
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
        missing: Vec<Ipv4Addr>,
        /// Addresses in the advert that this instance lacks.
        unexpected: Vec<Ipv4Addr>,
    },
    /// A unicast advert came from a source that is not a configured `unicast_peer`. Not
    /// produced by this module: the unicast receive path uses it.
    #[error("advert from {src}, which is not a configured unicast peer")]
    UnknownPeer {
        /// The source address of the advert.
        src: Ipv4Addr,
    },
    /// An advert from our own address: another host on the link uses it. Not produced by
    /// this module: the receive path compares the source with the instance's address.
    #[error(
        "advert from {src}, this host's own address: another host uses it (a duplicate IP \
         address: each believes it is master)"
    )]
    OwnAddress {
        /// The source address of the advert, ours.
        src: Ipv4Addr,
    },
}

/// Every [`PacketError::counter_name`], in variant order.
pub const ALL_COUNTER_NAMES: &[&str] = &[
    "truncated",
    "bad_ip_header",
    "not_vrrp",
    "ttl",
    "version",
    "type",
    "length",
    "checksum",
    "vrid",
    "auth_type",
    "unsupported_auth_type",
    "auth_password",
    "advert_interval",
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
            PacketError::OwnAddress { .. } => "own_address",
            PacketError::BadVersion { .. } => "version",
            PacketError::BadType { .. } => "type",
            PacketError::BadLength { .. } => "length",
            PacketError::BadChecksum { .. } => "checksum",
            PacketError::VridMismatch { .. } => "vrid",
            PacketError::AuthTypeMismatch { .. } => "auth_type",
            PacketError::UnsupportedAuthType { .. } => "unsupported_auth_type",
            PacketError::AuthPasswordMismatch => "auth_password",
            PacketError::AdvertIntervalMismatch { .. } => "advert_interval",
            PacketError::AddressListMismatch { .. } => "address_list",
            PacketError::UnknownPeer { .. } => "unknown_peer",
        }
    }
}

/// The keepalived name of an authentication type, for error messages.
fn auth_type_name(auth_type: u8) -> &'static str {
    match auth_type {
        AUTH_TYPE_NONE => "none",
        AUTH_TYPE_PASS => "PASS",
        AUTH_TYPE_AH => "AH",
        _ => "unknown",
    }
}

/// A list of addresses for error messages: `10.0.0.1, 10.0.0.2`, or `none`.
fn fmt_addrs(addrs: &[Ipv4Addr]) -> String {
    if addrs.is_empty() {
        return "none".to_owned();
    }
    addrs
        .iter()
        .map(Ipv4Addr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The 32-bit sum of `data` as big-endian 16-bit words, an odd last byte padded with zero.
/// A `u64` accumulator cannot overflow for any slice that fits in memory.
fn sum_words(data: &[u8]) -> u64 {
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
fn fold_complement(mut sum: u64) -> u16 {
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

/// The authentication section of an advert, as keepalived does it.
///
/// RFC 3768 §5.3.6 reserves types 1 and 2 and §5.3.10 says to ignore the data, but keepalived
/// keeps RFC 2338's simple text password (§5.3.6.1), so vipd does too: type 0 = none,
/// 1 = simple text password (8 bytes, zero padded; keepalived cuts longer passwords to 8).
/// Type 2 (IP AH) is not supported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Type 0: no authentication. The Authentication Data is sent as zeros and ignored.
    None,
    /// Type 1: simple text password, the 8 bytes of Authentication Data, zero padded.
    Password([u8; 8]),
}

impl Auth {
    /// Builds the authentication of an instance from its `auth_pass`: `None` gives
    /// [`Auth::None`]; `Some(pass)` gives [`Auth::Password`] holding the first 8 bytes of `pass`,
    /// zero padded, as keepalived does.
    pub fn from_config(pass: Option<&[u8]>) -> Auth {
        match pass {
            None => Auth::None,
            Some(pass) => {
                let mut data = [0u8; AUTH_DATA_LEN];
                let len = pass.len().min(AUTH_DATA_LEN);
                data[..len].copy_from_slice(&pass[..len]);
                Auth::Password(data)
            }
        }
    }

    /// The Auth Type field value: [`AUTH_TYPE_NONE`] or [`AUTH_TYPE_PASS`].
    pub fn auth_type(&self) -> u8 {
        match self {
            Auth::None => AUTH_TYPE_NONE,
            Auth::Password(_) => AUTH_TYPE_PASS,
        }
    }

    /// The Authentication Data field value: the password, or zeros for [`Auth::None`]
    /// (RFC 3768 §5.3.10: "SHOULD be set to zero on transmission").
    pub fn data(&self) -> [u8; 8] {
        match self {
            Auth::None => [0; AUTH_DATA_LEN],
            Auth::Password(data) => *data,
        }
    }
}

/// A read/write view over the bytes of one VRRPv2 message (RFC 3768 §5.1):
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Auth Type   |   Adver Int   |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         IP Address (1)                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                            .                                  |
/// |                            .                                  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         IP Address (n)                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Authentication Data (1)                   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Authentication Data (2)                   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The Checksum (§5.3.8) is RFC 1071 over the whole VRRP message, no pseudo-header.
///
/// Getters of a packet from [`Packet::new_checked`] never panic; see the module's no-panic
/// contract for [`Packet::new_unchecked`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length.
    ///
    /// # Panics
    /// Getters and setters panic if the buffer is shorter than the fields they touch. Use
    /// [`Packet::new_checked`] for untrusted input.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after [`Packet::check_len`]: every getter is then safe to call.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, PacketError> {
        let packet = Packet::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds exactly one VRRPv2 message: the fixed header, then
    /// "Count IP Addrs" addresses, then the Authentication Data, nothing more.
    ///
    /// Shorter gives [`PacketError::Truncated`], longer [`PacketError::BadLength`].
    pub fn check_len(&self) -> Result<(), PacketError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(PacketError::Truncated {
                got: len,
                want: message_len(0),
            });
        }
        let want = self.message_len();
        // RFC 3768 §7.1: "MUST verify that the received packet contains the complete VRRP
        // packet (including fixed fields, IP Address(es), and Authentication Data)."
        if len < want {
            return Err(PacketError::Truncated { got: len, want });
        }
        // The IP total length bounds the message, so anything after the authentication data
        // means the count and the length disagree.
        if len > want {
            return Err(PacketError::BadLength { got: len, want });
        }
        Ok(())
    }

    /// Gives back the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The length the message should have by its address count: 16 + 4 * count.
    pub fn message_len(&self) -> usize {
        message_len(usize::from(self.addr_count()))
    }

    /// The Version field (high nibble of byte 0).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }

    /// The Type field (low nibble of byte 0).
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] & 0x0f
    }

    /// The Virtual Rtr ID field.
    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[field::VRID]
    }

    /// The Priority field.
    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[field::PRIORITY]
    }

    /// The Count IP Addrs field.
    pub fn addr_count(&self) -> u8 {
        self.buffer.as_ref()[field::COUNT]
    }

    /// The Auth Type field.
    pub fn auth_type(&self) -> u8 {
        self.buffer.as_ref()[field::AUTH_TYPE]
    }

    /// The Adver Int field, in seconds.
    pub fn advert_int(&self) -> u8 {
        self.buffer.as_ref()[field::ADVER_INT]
    }

    /// The Checksum field.
    pub fn checksum(&self) -> u16 {
        let data = self.buffer.as_ref();
        u16::from_be_bytes([data[field::CHECKSUM.start], data[field::CHECKSUM.start + 1]])
    }

    /// The `index`th IP Address field, counting from 0. `index` must be below
    /// [`Packet::addr_count`], or this reads the authentication data or panics.
    pub fn addr(&self, index: usize) -> Ipv4Addr {
        let data = self.buffer.as_ref();
        let start = field::addr(index).start;
        Ipv4Addr::new(
            data[start],
            data[start + 1],
            data[start + 2],
            data[start + 3],
        )
    }

    /// The IP Address fields, in packet order.
    pub fn addrs(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        (0..usize::from(self.addr_count())).map(move |index| self.addr(index))
    }

    /// The Authentication Data field.
    pub fn auth_data(&self) -> [u8; 8] {
        let data = self.buffer.as_ref();
        let start = field::auth_data(usize::from(self.addr_count())).start;
        let mut auth = [0u8; AUTH_DATA_LEN];
        auth.copy_from_slice(&data[start..start + AUTH_DATA_LEN]);
        auth
    }

    /// The checksum the message should carry: RFC 1071 over the message with the Checksum
    /// field taken as zero (RFC 3768 §5.3.8).
    pub fn compute_checksum(&self) -> u16 {
        let data = &self.buffer.as_ref()[..self.message_len()];
        // The checksum field starts on an even offset, so summing around it keeps the words
        // aligned.
        let sum =
            sum_words(&data[..field::CHECKSUM.start]) + sum_words(&data[field::CHECKSUM.end..]);
        fold_complement(sum)
    }

    /// Whether the Checksum field matches the message (RFC 3768 §5.3.8).
    pub fn verify_checksum(&self) -> bool {
        checksum(&self.buffer.as_ref()[..self.message_len()]) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the Version field.
    pub fn set_version(&mut self, value: u8) {
        let data = self.buffer.as_mut();
        data[field::VER_TYPE] = (data[field::VER_TYPE] & 0x0f) | (value << 4);
    }

    /// Sets the Type field.
    pub fn set_msg_type(&mut self, value: u8) {
        let data = self.buffer.as_mut();
        data[field::VER_TYPE] = (data[field::VER_TYPE] & 0xf0) | (value & 0x0f);
    }

    /// Sets the Virtual Rtr ID field.
    pub fn set_vrid(&mut self, value: u8) {
        self.buffer.as_mut()[field::VRID] = value;
    }

    /// Sets the Priority field.
    pub fn set_priority(&mut self, value: u8) {
        self.buffer.as_mut()[field::PRIORITY] = value;
    }

    /// Sets the Count IP Addrs field.
    pub fn set_addr_count(&mut self, value: u8) {
        self.buffer.as_mut()[field::COUNT] = value;
    }

    /// Sets the Auth Type field.
    pub fn set_auth_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::AUTH_TYPE] = value;
    }

    /// Sets the Adver Int field, in seconds.
    pub fn set_advert_int(&mut self, value: u8) {
        self.buffer.as_mut()[field::ADVER_INT] = value;
    }

    /// Sets the Checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the `index`th IP Address field, counting from 0.
    pub fn set_addr(&mut self, index: usize, value: Ipv4Addr) {
        self.buffer.as_mut()[field::addr(index)].copy_from_slice(&value.octets());
    }

    /// Sets the Authentication Data field. Set Count IP Addrs first: it places this field.
    pub fn set_auth_data(&mut self, value: &[u8; 8]) {
        let range = field::auth_data(usize::from(self.addr_count()));
        self.buffer.as_mut()[range].copy_from_slice(value);
    }

    /// Computes the checksum over the message and writes it to the Checksum field. Call it
    /// last, after every other field is set.
    pub fn fill_checksum(&mut self) {
        let value = self.compute_checksum();
        self.set_checksum(value);
    }
}

/// A VRRPv2 ADVERTISEMENT as typed data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertRepr {
    /// Virtual Rtr ID (RFC 3768 §5.3.3).
    pub vrid: u8,
    /// Priority (RFC 3768 §5.3.4): 255 = address owner, 0 = the master is leaving.
    pub priority: u8,
    /// Advertisement interval in whole seconds (RFC 3768 §5.3.7).
    pub advert_int_secs: u8,
    /// Authentication type and data.
    pub auth: Auth,
    /// The virtual addresses, in packet order. At most [`MAX_ADDRS`] are sent.
    pub addrs: Vec<Ipv4Addr>,
}

impl AdvertRepr {
    /// The number of addresses that go on the wire: all of them, up to [`MAX_ADDRS`].
    fn wire_addr_count(&self) -> usize {
        self.addrs.len().min(MAX_ADDRS)
    }

    /// The length of the emitted message: 8 + 4 * addresses + 8.
    pub fn buffer_len(&self) -> usize {
        message_len(self.wire_addr_count())
    }

    /// Writes the message into the first [`AdvertRepr::buffer_len`] bytes of `buf`: version 2,
    /// type 1, the fields, the address count, the authentication type and data, and last the
    /// checksum (RFC 1071 over the VRRP message). Addresses beyond [`MAX_ADDRS`] are left out.
    ///
    /// # Panics
    /// If `buf` is shorter than [`AdvertRepr::buffer_len`] (a caller bug; [`AdvertRepr::to_bytes`]
    /// sizes the buffer itself).
    pub fn emit(&self, buf: &mut [u8]) {
        let len = self.buffer_len();
        assert!(
            buf.len() >= len,
            "AdvertRepr::emit: buffer is {} bytes, the advert needs {len}",
            buf.len()
        );
        let count = self.wire_addr_count();
        let mut packet = Packet::new_unchecked(&mut buf[..len]);
        packet.set_version(VERSION);
        packet.set_msg_type(TYPE_ADVERTISEMENT);
        packet.set_vrid(self.vrid);
        packet.set_priority(self.priority);
        // `count` is at most MAX_ADDRS = 255, so it fits the byte.
        packet.set_addr_count(count as u8);
        packet.set_auth_type(self.auth.auth_type());
        packet.set_advert_int(self.advert_int_secs);
        for (index, addr) in self.addrs.iter().take(count).enumerate() {
            packet.set_addr(index, *addr);
        }
        packet.set_auth_data(&self.auth.data());
        packet.fill_checksum();
    }

    /// The emitted message in a new buffer of [`AdvertRepr::buffer_len`] bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = vec![0u8; self.buffer_len()];
        self.emit(&mut buf);
        buf
    }

    /// Parses one VRRP message (the IP payload, without the IP header), checking what the
    /// message alone can say, in RFC 3768 §7.1 order: version, type, length, checksum, and that
    /// the authentication type is one vipd knows. The per-instance checks are [`validate`]'s.
    pub fn parse_vrrp(payload: &[u8]) -> Result<AdvertRepr, PacketError> {
        // The fixed header must be there before any field can be read.
        if payload.len() < HEADER_LEN {
            return Err(PacketError::Truncated {
                got: payload.len(),
                want: message_len(0),
            });
        }
        let packet = Packet::new_unchecked(payload);
        // RFC 3768 §7.1: "MUST verify that the VRRP version is 2." Checked before the length,
        // so a VRRPv3 advert (no authentication data) is reported as version 3.
        if packet.version() != VERSION {
            return Err(PacketError::BadVersion {
                got: packet.version(),
            });
        }
        // RFC 3768 §5.3.2: the only type is 1, ADVERTISEMENT; "a packet with unknown type MUST
        // be discarded."
        if packet.msg_type() != TYPE_ADVERTISEMENT {
            return Err(PacketError::BadType {
                got: packet.msg_type(),
            });
        }
        // RFC 3768 §7.1: "MUST verify that the received packet contains the complete VRRP
        // packet"; and no more than that.
        packet.check_len()?;
        // RFC 3768 §7.1: "MUST verify the VRRP checksum." (§5.3.8: RFC 1071 over the message.)
        if !packet.verify_checksum() {
            return Err(PacketError::BadChecksum {
                got: packet.checksum(),
                want: packet.compute_checksum(),
            });
        }
        // RFC 3768 §5.3.6: "A packet with unknown authentication type ... MUST be discarded."
        // Known: 0 (none) and, as in keepalived, 1 (RFC 2338 §5.3.6.1 simple text password).
        // Type 2 (IP AH) is known to keepalived but not supported by vipd.
        let auth = match packet.auth_type() {
            AUTH_TYPE_NONE => Auth::None,
            AUTH_TYPE_PASS => Auth::Password(packet.auth_data()),
            got => return Err(PacketError::UnsupportedAuthType { got }),
        };
        Ok(AdvertRepr {
            vrid: packet.vrid(),
            priority: packet.priority(),
            advert_int_secs: packet.advert_int(),
            auth,
            addrs: packet.addrs().collect(),
        })
    }
}

impl fmt::Display for AdvertRepr {
    /// One log line. Never shows the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VRRPv2 advert vrid={} priority={} advert_int={}s auth={} addrs=[{}]",
            self.vrid,
            self.priority,
            self.advert_int_secs,
            auth_type_name(self.auth.auth_type()),
            fmt_addrs(&self.addrs)
        )
    }
}

/// What the receive path gets from a raw IPv4 socket: the whole IP datagram, header included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// IP source address: the sending router's primary address on the link.
    pub src: Ipv4Addr,
    /// IP destination address: [`MULTICAST_GROUP`], or this host for unicast.
    pub dst: Ipv4Addr,
    /// IP TTL; always [`TTL`] once parsed, kept for logging.
    pub ttl: u8,
    /// The advert.
    pub advert: AdvertRepr,
}

/// Parses an IPv4 datagram carrying VRRP, as a raw IPv4 socket hands it up (header included).
///
/// Reads the header length from IHL (options are skipped, never assumes 20 bytes), honours the
/// total length (bytes after it are ignored; a total length beyond the buffer is
/// [`PacketError::Truncated`]), checks the protocol is 112, then RFC 3768 §7.1's TTL of 255,
/// then [`AdvertRepr::parse_vrrp`]. The header checksum is left to the kernel, which drops
/// datagrams whose header checksum is wrong before a raw socket sees them.
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
    // RFC 3768 §5.2.4: the IP protocol number assigned to VRRP is 112.
    let protocol = datagram[f::PROTOCOL];
    if protocol != PROTOCOL {
        return Err(PacketError::NotVrrp { got: protocol });
    }
    // RFC 3768 §7.1: "MUST verify that the IP TTL is 255."
    let ttl = datagram[f::TTL];
    if check_ttl && ttl != TTL {
        return Err(PacketError::TtlNot255 { got: ttl });
    }
    let src = ipv4_at(datagram, f::SRC.start);
    let dst = ipv4_at(datagram, f::DST.start);
    let advert = AdvertRepr::parse_vrrp(&datagram[header_len..total_len])?;
    Ok(Received {
        src,
        dst,
        ttl,
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

/// What one local instance expects of every advert it accepts (RFC 3768 §7.1 per-instance
/// checks).
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// This instance's `virtual_router_id`.
    pub vrid: u8,
    /// This instance's authentication (`Auth::from_config` of its `auth_pass`).
    pub auth: &'a Auth,
    /// This instance's `advert_int`, in whole seconds.
    pub advert_int_secs: u8,
    /// This instance's virtual addresses, in any order.
    pub addrs: &'a [Ipv4Addr],
}

/// Checks an advert against one instance, in this order: VRID, auth type, auth password,
/// advert interval, address list (same addresses in any order, same count). An address-list
/// mismatch is an error only when the sender is not the owner (priority != 255), as
/// RFC 3768 §7.1 says.
pub fn validate(advert: &AdvertRepr, expected: &Expected) -> Result<(), PacketError> {
    // RFC 3768 §7.1: "MUST verify that the VRID is configured on the receiving interface and
    // the local router is not the IP Address owner". (Ownership is the instance's business.)
    if advert.vrid != expected.vrid {
        return Err(PacketError::VridMismatch {
            got: advert.vrid,
            want: expected.vrid,
        });
    }
    // RFC 3768 §7.1: "MUST verify that the Auth Type matches the locally configured
    // authentication method for the virtual router".
    if advert.auth.auth_type() != expected.auth.auth_type() {
        return Err(PacketError::AuthTypeMismatch {
            got: advert.auth.auth_type(),
            want: expected.auth.auth_type(),
        });
    }
    // RFC 3768 §7.1: "... and perform that authentication method". For a simple text password
    // (RFC 2338 §5.3.6.1) all 8 bytes must match, as keepalived's memcmp does.
    if advert.auth != *expected.auth {
        return Err(PacketError::AuthPasswordMismatch);
    }
    // RFC 3768 §7.1: "MUST verify that the Adver Interval in the packet is the same as the
    // locally configured for this virtual router. If the above check fails, the receiver MUST
    // discard the packet".
    if advert.advert_int_secs != expected.advert_int_secs {
        return Err(PacketError::AdvertIntervalMismatch {
            got: advert.advert_int_secs,
            want: expected.advert_int_secs,
        });
    }
    // RFC 3768 §7.1: "MAY verify that the IP address(es) associated with the VRID are valid
    // ... If the packet was not generated by the address owner (Priority does not equal 255
    // (decimal)), the receiver MUST drop the packet, otherwise continue processing."
    if advert.priority != PRIORITY_OWNER && !same_addrs(&advert.addrs, expected.addrs) {
        return Err(PacketError::AddressListMismatch {
            got: advert.addrs.len(),
            want: expected.addrs.len(),
            missing: difference(expected.addrs, &advert.addrs),
            unexpected: difference(&advert.addrs, expected.addrs),
        });
    }
    Ok(())
}

/// Whether two address lists hold the same addresses the same number of times, in any order.
fn same_addrs(a: &[Ipv4Addr], b: &[Ipv4Addr]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

/// The addresses of `a` that are not in `b`, each once, in `a`'s order.
fn difference(a: &[Ipv4Addr], b: &[Ipv4Addr]) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = Vec::new();
    for addr in a {
        if !b.contains(addr) && !out.contains(addr) {
            out.push(*addr);
        }
    }
    out
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    /// A keepalived advert: vrid 51, priority 100, advert_int 1, auth PASS "root", one address
    /// 192.168.91.151. Checksum 0x7ba6 computed by hand (RFC 1071).
    static PACKET_BYTES: [u8; 20] = [
        0x21, 0x33, 0x64, 0x01, // version 2, type 1, vrid 51, priority 100, count 1
        0x01, 0x01, 0x7b, 0xa6, // auth type 1 (PASS), advert int 1, checksum
        0xc0, 0xa8, 0x5b, 0x97, // 192.168.91.151
        b'r', b'o', b'o', b't', // auth data "root", zero padded to 8
        0x00, 0x00, 0x00, 0x00,
    ];

    /// The IPv4 header keepalived's kernel puts in front of PACKET_BYTES: TOS 0xc0, total
    /// length 40, TTL 255, protocol 112, 192.168.91.10 -> 224.0.0.18, header checksum 0xbee0.
    static IP_HEADER_BYTES: [u8; 20] = [
        0x45, 0xc0, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0xff, 0x70, 0xbe, 0xe0, 0xc0, 0xa8, 0x5b,
        0x0a, 0xe0, 0x00, 0x00, 0x12,
    ];

    fn packet_repr() -> AdvertRepr {
        AdvertRepr {
            vrid: 51,
            priority: 100,
            advert_int_secs: 1,
            auth: Auth::Password(*b"root\0\0\0\0"),
            addrs: vec![Ipv4Addr::new(192, 168, 91, 151)],
        }
    }

    fn datagram_bytes() -> Vec<u8> {
        let mut bytes = IP_HEADER_BYTES.to_vec();
        bytes.extend_from_slice(&PACKET_BYTES);
        bytes
    }

    /// PACKET_BYTES changed by `edit`, with the checksum made right again.
    fn edited_packet(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut bytes = PACKET_BYTES.to_vec();
        edit(&mut bytes);
        Packet::new_unchecked(&mut bytes[..]).fill_checksum();
        bytes
    }

    /// A datagram from IP_HEADER_BYTES changed by `edit_header`, carrying `payload`, with the
    /// total length set to header + payload.
    fn datagram_with(edit_header: impl FnOnce(&mut Vec<u8>), payload: &[u8]) -> Vec<u8> {
        let mut bytes = IP_HEADER_BYTES.to_vec();
        edit_header(&mut bytes);
        let total = (bytes.len() + payload.len()) as u16;
        bytes[2..4].copy_from_slice(&total.to_be_bytes());
        bytes.extend_from_slice(payload);
        bytes
    }

    fn expected_for(repr: &AdvertRepr) -> Expected<'_> {
        Expected {
            vrid: repr.vrid,
            auth: &repr.auth,
            advert_int_secs: repr.advert_int_secs,
            addrs: &repr.addrs,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.version(), 2);
        assert_eq!(packet.msg_type(), 1);
        assert_eq!(packet.vrid(), 51);
        assert_eq!(packet.priority(), 100);
        assert_eq!(packet.addr_count(), 1);
        assert_eq!(packet.auth_type(), AUTH_TYPE_PASS);
        assert_eq!(packet.advert_int(), 1);
        assert_eq!(packet.checksum(), 0x7ba6);
        assert_eq!(packet.addr(0), Ipv4Addr::new(192, 168, 91, 151));
        assert_eq!(
            packet.addrs().collect::<Vec<_>>(),
            [Ipv4Addr::new(192, 168, 91, 151)]
        );
        assert_eq!(&packet.auth_data(), b"root\0\0\0\0");
        assert_eq!(packet.message_len(), 20);
        assert_eq!(packet.compute_checksum(), 0x7ba6);
        assert!(packet.verify_checksum());
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xa5u8; 20];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_version(2);
        packet.set_msg_type(1);
        packet.set_vrid(51);
        packet.set_priority(100);
        packet.set_addr_count(1);
        packet.set_auth_type(AUTH_TYPE_PASS);
        packet.set_advert_int(1);
        packet.set_addr(0, Ipv4Addr::new(192, 168, 91, 151));
        packet.set_auth_data(b"root\0\0\0\0");
        packet.fill_checksum();
        assert_eq!(packet.into_inner(), &PACKET_BYTES[..]);
    }

    #[test]
    fn test_parse() {
        assert_eq!(AdvertRepr::parse_vrrp(&PACKET_BYTES), Ok(packet_repr()));
    }

    #[test]
    fn test_emit() {
        let repr = packet_repr();
        assert_eq!(repr.buffer_len(), PACKET_BYTES.len());
        let mut bytes = [0xa5u8; 20];
        repr.emit(&mut bytes);
        assert_eq!(bytes, PACKET_BYTES);
        assert_eq!(repr.to_bytes(), PACKET_BYTES);
    }

    #[test]
    fn test_emit_leaves_rest_of_buffer() {
        let mut bytes = [0xa5u8; 24];
        packet_repr().emit(&mut bytes);
        assert_eq!(bytes[..20], PACKET_BYTES);
        assert_eq!(bytes[20..], [0xa5; 4]);
    }

    #[test]
    #[should_panic(expected = "AdvertRepr::emit")]
    fn test_emit_short_buffer_panics() {
        packet_repr().emit(&mut [0u8; 19]);
    }

    #[test]
    fn test_emit_no_auth_no_addrs() {
        let repr = AdvertRepr {
            vrid: 1,
            priority: 0,
            advert_int_secs: 3,
            auth: Auth::None,
            addrs: vec![],
        };
        let bytes = repr.to_bytes();
        assert_eq!(bytes.len(), 16);
        assert_eq!(bytes[4], AUTH_TYPE_NONE);
        assert_eq!(bytes[8..], [0; 8]);
        assert_eq!(checksum(&bytes), 0);
        assert_eq!(AdvertRepr::parse_vrrp(&bytes), Ok(repr));
    }

    #[test]
    fn test_emit_caps_addrs_at_255() {
        let repr = AdvertRepr {
            vrid: 1,
            priority: 100,
            advert_int_secs: 1,
            auth: Auth::None,
            addrs: (0..300u32).map(Ipv4Addr::from).collect(),
        };
        assert_eq!(repr.buffer_len(), message_len(255));
        let parsed = AdvertRepr::parse_vrrp(&repr.to_bytes()).unwrap();
        assert_eq!(parsed.addrs, repr.addrs[..255]);
    }

    #[test]
    fn test_checksum() {
        assert_eq!(checksum(&[]), 0xffff);
        assert_eq!(checksum(&IP_HEADER_BYTES), 0);
        assert_eq!(checksum(&PACKET_BYTES), 0);
        // Odd length: the last byte is padded with zero (RFC 1071).
        assert_eq!(checksum(&[0x12, 0x34, 0x56]), !0x6834);
        // RFC 1071 §3 example: 0001 f203 f4f5 f6f7 sums to ddf2.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
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
                src: Ipv4Addr::new(192, 168, 91, 10),
                dst: MULTICAST_GROUP,
                ttl: 255,
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
        assert_eq!(received.src, Ipv4Addr::new(192, 168, 91, 10));
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
        // VRRP header cut short.
        assert_eq!(
            AdvertRepr::parse_vrrp(&PACKET_BYTES[..7]),
            Err(PacketError::Truncated { got: 7, want: 16 })
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
            AdvertRepr::parse_vrrp(&bytes),
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
    fn test_reject_version() {
        // A VRRPv3 advert (RFC 5798): vrid 51, priority 100, one address, 100 cs interval,
        // no authentication data.
        let v3 = [
            0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x00, 0x00, 0xc0, 0xa8, 0x5b, 0x97,
        ];
        assert_eq!(
            AdvertRepr::parse_vrrp(&v3),
            Err(PacketError::BadVersion { got: 3 })
        );
        let bytes = datagram_with(|_| {}, &v3);
        assert_eq!(parse_ipv4(&bytes), Err(PacketError::BadVersion { got: 3 }));
    }

    #[test]
    fn test_reject_type() {
        let bytes = edited_packet(|b| b[0] = 0x22);
        assert_eq!(
            AdvertRepr::parse_vrrp(&bytes),
            Err(PacketError::BadType { got: 2 })
        );
    }

    #[test]
    fn test_reject_length() {
        let mut bytes = PACKET_BYTES.to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            AdvertRepr::parse_vrrp(&bytes),
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
            AdvertRepr::parse_vrrp(&bytes),
            Err(PacketError::BadChecksum {
                got: 0x7ba6,
                want: 0x7aa6
            })
        );
    }

    #[test]
    fn test_reject_unsupported_auth_type() {
        for auth_type in [AUTH_TYPE_AH, 3, 255] {
            let bytes = edited_packet(|b| b[4] = auth_type);
            assert_eq!(
                AdvertRepr::parse_vrrp(&bytes),
                Err(PacketError::UnsupportedAuthType { got: auth_type })
            );
        }
    }

    #[test]
    fn test_auth_none_ignores_auth_data() {
        // RFC 3768 §5.3.10: authentication data is ignored on reception.
        let bytes = edited_packet(|b| b[4] = AUTH_TYPE_NONE);
        assert_eq!(AdvertRepr::parse_vrrp(&bytes).unwrap().auth, Auth::None);
    }

    #[test]
    fn test_validate_accepts() {
        let repr = packet_repr();
        assert_eq!(validate(&repr, &expected_for(&repr)), Ok(()));
    }

    #[test]
    fn test_reject_vrid() {
        let ours = packet_repr();
        let theirs = AdvertRepr {
            vrid: 52,
            auth: Auth::None, // VRID is checked first
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
            advert_int_secs: 9, // auth is checked before the interval
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
            advert_int_secs: 2,
            addrs: vec![], // the interval is checked before the addresses
            ..packet_repr()
        };
        assert_eq!(
            validate(&theirs, &expected_for(&ours)),
            Err(PacketError::AdvertIntervalMismatch { got: 2, want: 1 })
        );
    }

    #[test]
    fn test_reject_address_list() {
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let b = Ipv4Addr::new(10, 0, 0, 2);
        let c = Ipv4Addr::new(10, 0, 0, 3);
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
    fn test_unknown_peer() {
        let err = PacketError::UnknownPeer {
            src: Ipv4Addr::new(10, 0, 0, 9),
        };
        assert_eq!(err.counter_name(), "unknown_peer");
        assert_eq!(
            err.to_string(),
            "advert from 10.0.0.9, which is not a configured unicast peer"
        );
    }

    #[test]
    fn test_counter_names() {
        let ip = Ipv4Addr::UNSPECIFIED;
        let all = [
            PacketError::Truncated { got: 0, want: 0 },
            PacketError::BadIpHeader {
                detail: String::new(),
            },
            PacketError::NotVrrp { got: 0 },
            PacketError::TtlNot255 { got: 0 },
            PacketError::BadVersion { got: 0 },
            PacketError::BadType { got: 0 },
            PacketError::BadLength { got: 0, want: 0 },
            PacketError::BadChecksum { got: 0, want: 0 },
            PacketError::VridMismatch { got: 0, want: 0 },
            PacketError::AuthTypeMismatch { got: 0, want: 0 },
            PacketError::UnsupportedAuthType { got: 0 },
            PacketError::AuthPasswordMismatch,
            PacketError::AdvertIntervalMismatch { got: 0, want: 0 },
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
        for err in &all {
            assert!(!err.to_string().is_empty());
        }
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

    fn arb_auth() -> impl Strategy<Value = Auth> {
        prop_oneof![Just(Auth::None), any::<[u8; 8]>().prop_map(Auth::Password),]
    }

    fn arb_repr() -> impl Strategy<Value = AdvertRepr> {
        (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            arb_auth(),
            proptest::collection::vec(any::<u32>().prop_map(Ipv4Addr::from), 0..=MAX_ADDRS),
        )
            .prop_map(
                |(vrid, priority, advert_int_secs, auth, addrs)| AdvertRepr {
                    vrid,
                    priority,
                    advert_int_secs,
                    auth,
                    addrs,
                },
            )
    }

    proptest! {
        #[test]
        fn prop_parse_ipv4_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
            let _ = parse_ipv4(&bytes);
        }

        #[test]
        fn prop_parse_ipv4_plausible_header_never_panics(
            ihl in 0u8..16,
            total_len in 0u16..200,
            ttl in prop_oneof![Just(255u8), any::<u8>()],
            rest in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            // Random bytes rarely get past the version and protocol checks; force them.
            let mut bytes = IP_HEADER_BYTES.to_vec();
            bytes[0] = 0x40 | ihl;
            bytes[2..4].copy_from_slice(&total_len.to_be_bytes());
            bytes[8] = ttl;
            bytes.extend_from_slice(&rest);
            let _ = parse_ipv4(&bytes);
        }

        #[test]
        fn prop_parse_vrrp_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
            let _ = AdvertRepr::parse_vrrp(&bytes);
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                let _ = (packet.auth_data(), packet.addrs().count(), packet.verify_checksum());
            }
        }

        #[test]
        fn prop_parse_vrrp_v2_header_never_panics(
            count in any::<u8>(),
            auth_type in 0u8..4,
            rest in proptest::collection::vec(any::<u8>(), 0..1100),
        ) {
            // Random bytes rarely carry version 2 type 1; force it to reach the later checks.
            let mut bytes = vec![0x21, 1, 100, count, auth_type, 1, 0, 0];
            bytes.extend_from_slice(&rest);
            let _ = AdvertRepr::parse_vrrp(&bytes);
            if bytes.len() >= HEADER_LEN && bytes.len() == message_len(usize::from(count)) {
                Packet::new_unchecked(&mut bytes[..]).fill_checksum();
                prop_assert!(AdvertRepr::parse_vrrp(&bytes).is_ok() || auth_type > 1);
            }
        }

        #[test]
        fn prop_repr_round_trips(repr in arb_repr()) {
            let bytes = repr.to_bytes();
            prop_assert_eq!(bytes.len(), repr.buffer_len());
            prop_assert_eq!(checksum(&bytes), 0);
            prop_assert_eq!(AdvertRepr::parse_vrrp(&bytes), Ok(repr.clone()));
            prop_assert_eq!(validate(&repr, &expected_for(&repr)), Ok(()));
        }

        #[test]
        fn prop_single_bit_flip_is_caught(repr in arb_repr(), bit in any::<usize>()) {
            // A corrupted advert never parses back as the original.
            let mut bytes = repr.to_bytes();
            let bit = bit % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            prop_assert_ne!(AdvertRepr::parse_vrrp(&bytes), Ok(repr));
        }
    }
}
