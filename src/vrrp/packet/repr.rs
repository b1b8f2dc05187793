//! The message as typed data: [`AdvertRepr`] with its [`Version`] and [`Auth`]; it parses and
//! emits the bytes through a [`Packet`] view.

use core::fmt;
use std::net::IpAddr;

use super::checksum::{ChecksumForm, ChecksumOver, Endpoints, Family};
use super::error::auth_type_name;
use super::{
    AUTH_DATA_LEN, AUTH_TYPE_NONE, AUTH_TYPE_PASS, AdvertInterval, HEADER_LEN, MAX_ADDRS, Packet,
    PacketError, TYPE_ADVERTISEMENT, fmt_addrs, message_len,
};

/// The VRRP version of an advert: the Version field (RFC 3768 §5.3.1, RFC 9568 §5.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// VRRPv2 (RFC 3768): IPv4 only, whole-second intervals, optional simple password.
    V2,
    /// VRRPv3 (RFC 9568): IPv4 or IPv6, centisecond intervals, no authentication.
    V3,
}

impl Version {
    /// The Version field's value: 2 or 3.
    pub const fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }

    /// The version a Version field's value names, if it is 2 or 3.
    pub const fn from_number(number: u8) -> Option<Version> {
        match number {
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            _ => None,
        }
    }
}

impl fmt::Display for Version {
    /// `VRRPv2` or `VRRPv3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VRRPv{}", self.number())
    }
}

/// The authentication section of a VRRPv2 advert, as keepalived does it. VRRPv3 has none: its
/// adverts carry [`Auth::None`].
///
/// RFC 3768 §5.3.6 reserves types 1 and 2 and §5.3.10 says to ignore the data, but keepalived
/// keeps RFC 2338's simple text password (§5.3.6.1), so vipd does too: type 0 = none,
/// 1 = simple text password (8 bytes, zero padded; keepalived cuts longer passwords to 8).
/// Type 2 (IP AH) is not supported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Type 0: no authentication. The Authentication Data is sent as zeros and ignored. The
    /// only value for VRRPv3.
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

/// A VRRP ADVERTISEMENT, either version, as typed data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertRepr {
    /// VRRPv2 or VRRPv3.
    pub version: Version,
    /// Virtual Rtr ID (RFC 3768 §5.3.3, RFC 9568 §5.2.3).
    pub vrid: u8,
    /// Priority (RFC 3768 §5.3.4, RFC 9568 §5.2.4): 255 = address owner, 0 = the master is
    /// leaving.
    pub priority: u8,
    /// Advertisement interval: VRRPv2's Adver Int in whole seconds (RFC 3768 §5.3.7), VRRPv3's
    /// Max Adver Int in centiseconds (RFC 9568 §5.2.7).
    pub interval: AdvertInterval,
    /// Authentication type and data; always [`Auth::None`] in VRRPv3.
    pub auth: Auth,
    /// The virtual addresses, in packet order, all of one family (IPv4 only in VRRPv2). At
    /// most [`MAX_ADDRS`] are sent.
    pub addrs: Vec<IpAddr>,
}

impl AdvertRepr {
    /// The number of addresses that go on the wire: all of them, up to [`MAX_ADDRS`].
    fn wire_addr_count(&self) -> usize {
        self.addrs.len().min(MAX_ADDRS)
    }

    /// The family of the addresses (of the first one); `None` when there are none.
    pub fn family(&self) -> Option<Family> {
        self.addrs.first().map(Family::of)
    }

    /// The length of the emitted message: see [`super::message_len`].
    pub fn buffer_len(&self) -> usize {
        let family = self.family().unwrap_or(Family::Ipv4);
        message_len(self.version, family, self.wire_addr_count())
    }

    /// Writes the message into the first [`AdvertRepr::buffer_len`] bytes of `buf`: the
    /// version, type 1, the fields, the address count, the addresses, for VRRPv2 the
    /// authentication type and data, and last the checksum over what `over` says (the module
    /// doc says which to use). Addresses beyond [`MAX_ADDRS`] are left out.
    ///
    /// # Panics
    /// On a caller bug: if `buf` is shorter than [`AdvertRepr::buffer_len`]
    /// ([`AdvertRepr::to_bytes`] sizes the buffer itself), or if the advert cannot go on the
    /// wire as it is: addresses of both families, VRRPv2 with IPv6 addresses or a
    /// pseudo-header, an interval [`AdvertInterval::fits`] says the version cannot carry, a
    /// password in VRRPv3, VRRPv3 over IPv6 without the pseudo-header, or a pseudo-header of
    /// the other family than the addresses'.
    pub fn emit(&self, buf: &mut [u8], over: &ChecksumOver) {
        let len = self.buffer_len();
        assert!(
            buf.len() >= len,
            "AdvertRepr::emit: buffer is {} bytes, the advert needs {len}",
            buf.len()
        );
        let family = self.wire_family(over);
        let count = self.wire_addr_count();
        let mut packet = Packet::new_unchecked(&mut buf[..len], family);
        packet.set_version(self.version.number());
        packet.set_msg_type(TYPE_ADVERTISEMENT);
        packet.set_vrid(self.vrid);
        packet.set_priority(self.priority);
        // `count` is at most MAX_ADDRS = 255, so it fits the byte.
        packet.set_addr_count(count as u8);
        match self.version {
            Version::V2 => {
                packet.set_auth_type(self.auth.auth_type());
                // `wire_family` has checked that the interval is whole seconds up to 255.
                packet.set_advert_int(self.interval.as_whole_secs().unwrap_or(u8::MAX));
            }
            Version::V3 => packet.set_max_advert_int(self.interval.as_centis()),
        }
        for (index, addr) in self.addrs.iter().take(count).enumerate() {
            packet.set_addr(index, *addr);
        }
        if self.version == Version::V2 {
            packet.set_auth_data(&self.auth.data());
        }
        packet.fill_checksum(over);
    }

    /// The family the message is written in, after asserting that the advert can go on the
    /// wire with a checksum `over` (see [`AdvertRepr::emit`]'s panics).
    fn wire_family(&self, over: &ChecksumOver) -> Family {
        let pseudo = match over {
            ChecksumOver::PseudoHeader(endpoints) => Some(endpoints.family()),
            ChecksumOver::MessageOnly => None,
        };
        let family = self.family().or(pseudo).unwrap_or(Family::Ipv4);
        assert!(
            self.addrs.iter().all(|addr| Family::of(addr) == family),
            "AdvertRepr::emit: IPv4 and IPv6 addresses in one advert"
        );
        assert!(
            self.interval.fits(self.version),
            "AdvertRepr::emit: {} cannot carry an interval of {}",
            self.version,
            self.interval
        );
        match self.version {
            Version::V2 => {
                assert!(
                    family == Family::Ipv4,
                    "AdvertRepr::emit: VRRPv2 is IPv4-only"
                );
                assert!(
                    pseudo.is_none(),
                    "AdvertRepr::emit: a VRRPv2 checksum covers the message alone"
                );
            }
            Version::V3 => {
                assert!(
                    self.auth == Auth::None,
                    "AdvertRepr::emit: VRRPv3 has no authentication"
                );
                match pseudo {
                    Some(pseudo) => assert!(
                        pseudo == family,
                        "AdvertRepr::emit: {family} addresses, {pseudo} pseudo-header"
                    ),
                    None => assert!(
                        family == Family::Ipv4,
                        "AdvertRepr::emit: a VRRPv3 checksum over IPv6 covers the pseudo-header"
                    ),
                }
            }
        }
        family
    }

    /// The emitted message in a new buffer of [`AdvertRepr::buffer_len`] bytes.
    ///
    /// # Panics
    /// As [`AdvertRepr::emit`], if the advert cannot go on the wire as it is.
    pub fn to_bytes(&self, over: &ChecksumOver) -> Vec<u8> {
        let mut buf = vec![0u8; self.buffer_len()];
        self.emit(&mut buf, over);
        buf
    }

    /// Parses one VRRP message, the IP payload of a packet between `endpoints`, checking what
    /// the message and those addresses can say, in RFC 3768 / RFC 9568 §7.1 order: version (2
    /// or 3, and 2 only over IPv4), type, length, checksum, and for VRRPv2 that the
    /// authentication type is one vipd knows. Gives the advert and the checksum form it used:
    /// VRRPv3 over IPv4 may use either (the module doc says why). The per-instance checks,
    /// this instance's version among them, are [`super::validate`]'s.
    pub fn parse(
        payload: &[u8],
        endpoints: &Endpoints,
    ) -> Result<(AdvertRepr, ChecksumForm), PacketError> {
        // The fixed header must be there before any field can be read.
        if payload.len() < HEADER_LEN {
            return Err(PacketError::Truncated {
                got: payload.len(),
                want: HEADER_LEN,
            });
        }
        let family = endpoints.family();
        let packet = Packet::new_unchecked(payload, family);
        // RFC 3768 §7.1: "MUST verify that the VRRP version is 2"; RFC 9568 §7.1: "... is 3".
        // Here it must be one of them; `validate` checks it is the instance's. Checked before
        // the length, which depends on it.
        let version =
            Version::from_number(packet.version()).ok_or(PacketError::UnknownVersion {
                got: packet.version(),
            })?;
        // RFC 9568 §5.2.1: IPv6 is version 3; RFC 3768 is IPv4-only.
        if version == Version::V2 && family == Family::Ipv6 {
            return Err(PacketError::V2OverIpv6);
        }
        // RFC 3768 §5.3.2, RFC 9568 §5.2.2: the only type is 1, ADVERTISEMENT; "a packet with
        // unknown type MUST be discarded."
        if packet.msg_type() != TYPE_ADVERTISEMENT {
            return Err(PacketError::BadType {
                got: packet.msg_type(),
            });
        }
        // RFC 3768 §7.1, RFC 9568 §7.1: "MUST verify that the received packet contains the
        // complete VRRP packet"; and no more than that.
        packet.check_len()?;
        // RFC 3768 §7.1, RFC 9568 §7.1: "MUST verify the VRRP checksum."
        let form = verify_checksum(&packet, version, endpoints)?;
        let (interval, auth) = match version {
            Version::V2 => (
                AdvertInterval::from_secs(packet.advert_int()),
                parse_auth(&packet)?,
            ),
            // RFC 9568 §5.2.6: the reserved bits are ignored on reception.
            Version::V3 => (
                AdvertInterval::from_centis(packet.max_advert_int()),
                Auth::None,
            ),
        };
        let advert = AdvertRepr {
            version,
            vrid: packet.vrid(),
            priority: packet.priority(),
            interval,
            auth,
            addrs: packet.addrs().collect(),
        };
        Ok((advert, form))
    }
}

/// Checks the checksum of a length-checked message of `version` from `endpoints`, and says
/// which form it used. VRRPv2 sums the message alone (RFC 3768 §5.3.8); VRRPv3 over IPv6 sums
/// the pseudo-header too (RFC 9568 §5.2.8); VRRPv3 over IPv4 is accepted either way, the
/// pseudo-header form (keepalived's default) tried first.
fn verify_checksum(
    packet: &Packet<&[u8]>,
    version: Version,
    endpoints: &Endpoints,
) -> Result<ChecksumForm, PacketError> {
    let pseudo = ChecksumOver::PseudoHeader(*endpoints);
    let (first, fallback) = match (version, endpoints.family()) {
        (Version::V2, _) => (ChecksumOver::MessageOnly, None),
        (Version::V3, Family::Ipv6) => (pseudo, None),
        (Version::V3, Family::Ipv4) => (pseudo, Some(ChecksumOver::MessageOnly)),
    };
    [Some(first), fallback]
        .into_iter()
        .flatten()
        .find(|over| packet.verify_checksum(over))
        .map(|over| over.form())
        .ok_or_else(|| PacketError::BadChecksum {
            got: packet.checksum(),
            want: packet.compute_checksum(&first),
        })
}

/// The authentication of a length-checked VRRPv2 message.
///
/// RFC 3768 §5.3.6: "A packet with unknown authentication type ... MUST be discarded." Known:
/// 0 (none) and, as in keepalived, 1 (RFC 2338 §5.3.6.1 simple text password). Type 2 (IP AH)
/// is known to keepalived but not supported by vipd.
fn parse_auth(packet: &Packet<&[u8]>) -> Result<Auth, PacketError> {
    match packet.auth_type() {
        AUTH_TYPE_NONE => Ok(Auth::None),
        // A VRRPv2 view always has its authentication data.
        AUTH_TYPE_PASS => Ok(Auth::Password(packet.auth_data().unwrap_or_default())),
        got => Err(PacketError::UnsupportedAuthType { got }),
    }
}

impl fmt::Display for AdvertRepr {
    /// One log line. Never shows the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} advert vrid={} priority={} advert_int={}",
            self.version, self.vrid, self.priority, self.interval
        )?;
        if self.version == Version::V2 {
            write!(f, " auth={}", auth_type_name(self.auth.auth_type()))?;
        }
        write!(f, " addrs=[{}]", fmt_addrs(&self.addrs))
    }
}
