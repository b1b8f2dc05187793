//! [`Packet`]: a read/write view over the bytes of one VRRP message, either version, with the
//! byte offsets of its fields.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::checksum::{ChecksumOver, Family, fold_complement, sum_words};
use super::{AUTH_DATA_LEN, HEADER_LEN, PacketError, Version, message_len};

/// Byte offsets of the VRRP message fields. Bytes 4 and 5 differ by version: VRRPv2's Auth
/// Type and Adver Int, VRRPv3's 4 reserved bits and 12-bit Max Adver Int.
mod field {
    pub(super) type Field = core::ops::Range<usize>;

    pub(super) const VER_TYPE: usize = 0;
    pub(super) const VRID: usize = 1;
    pub(super) const PRIORITY: usize = 2;
    pub(super) const COUNT: usize = 3;
    /// VRRPv2.
    pub(super) const AUTH_TYPE: usize = 4;
    /// VRRPv2, in seconds.
    pub(super) const ADVER_INT: usize = 5;
    /// VRRPv3: 4 bits reserved, then the interval in centiseconds.
    pub(super) const RSVD_MAX_ADVER_INT: Field = 4..6;
    pub(super) const CHECKSUM: Field = 6..8;
    pub(super) const ADDRS: usize = 8;

    /// The `index`th address, `len` bytes long.
    pub(super) const fn addr(index: usize, len: usize) -> Field {
        let start = ADDRS + len * index;
        start..start + len
    }

    /// The Authentication Data (VRRPv2) after `count` addresses of `len` bytes.
    pub(super) const fn auth_data(count: usize, len: usize) -> Field {
        let start = ADDRS + len * count;
        start..start + super::AUTH_DATA_LEN
    }
}

/// A read/write view over the bytes of one VRRP message.
///
/// VRRPv2 (RFC 3768 §5.1), IPv4 only:
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
/// VRRPv3 (RFC 9568 §5.1), IPv4 or IPv6; no authentication data:
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |(rsvd) |     Max Adver Int     |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// +                                                               +
/// |                       IPvX Address(es)                        |
/// +                                                               +
/// +                                                               +
/// +                                                               +
/// +                                                               +
/// |                                                               |
/// +                                                               +
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The message does not say its address family; the IP header it came in does, so the view is
/// given it. Its layout follows the Version field: Authentication Data after the addresses if
/// it is 2, none otherwise (so a view of any version can be checked and read).
///
/// The Checksum (RFC 3768 §5.3.8, RFC 9568 §5.2.8) is RFC 1071 over the message, after a
/// pseudo-header or not ([`ChecksumOver`]; see the module doc).
///
/// Getters of a packet from [`Packet::new_checked`] never panic; see the module's no-panic
/// contract for [`Packet::new_unchecked`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    family: Family,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer holding a message of `family` without checking its length.
    ///
    /// # Panics
    /// Getters and setters panic if the buffer is shorter than the fields they touch. Use
    /// [`Packet::new_checked`] for untrusted input.
    pub const fn new_unchecked(buffer: T, family: Family) -> Packet<T> {
        Packet { buffer, family }
    }

    /// Wraps a buffer after [`Packet::check_len`]: every getter is then safe to call.
    pub fn new_checked(buffer: T, family: Family) -> Result<Packet<T>, PacketError> {
        let packet = Packet::new_unchecked(buffer, family);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds exactly one message: the fixed header, then "Count"
    /// addresses of the family, then for version 2 the Authentication Data, nothing more.
    ///
    /// Shorter gives [`PacketError::Truncated`], longer [`PacketError::BadLength`].
    pub fn check_len(&self) -> Result<(), PacketError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(PacketError::Truncated {
                got: len,
                want: HEADER_LEN,
            });
        }
        let want = self.message_len();
        // RFC 3768 §7.1: "MUST verify that the received packet contains the complete VRRP
        // packet (including fixed fields, IP Address(es), and Authentication Data)." RFC 9568
        // §7.1: "(including fixed fields, and IPvX address(es))".
        if len < want {
            return Err(PacketError::Truncated { got: len, want });
        }
        // The IP length bounds the message, so anything after it means the count and the
        // length disagree.
        if len > want {
            return Err(PacketError::BadLength { got: len, want });
        }
        Ok(())
    }

    /// Gives back the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The address family the view was given.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Whether the layout is VRRPv2's (Authentication Data at the end).
    fn has_auth_data(&self) -> bool {
        self.version() == Version::V2.number()
    }

    /// The length the message should have by its version, address count and family: see
    /// [`super::message_len`].
    pub fn message_len(&self) -> usize {
        let version = if self.has_auth_data() {
            Version::V2
        } else {
            Version::V3
        };
        message_len(version, self.family, usize::from(self.addr_count()))
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

    /// The Count IP Addrs (VRRPv2) or Count IPvX Addr (VRRPv3) field.
    pub fn addr_count(&self) -> u8 {
        self.buffer.as_ref()[field::COUNT]
    }

    /// The Auth Type field (VRRPv2; byte 4).
    pub fn auth_type(&self) -> u8 {
        self.buffer.as_ref()[field::AUTH_TYPE]
    }

    /// The Adver Int field, in seconds (VRRPv2; byte 5).
    pub fn advert_int(&self) -> u8 {
        self.buffer.as_ref()[field::ADVER_INT]
    }

    /// The 16 bits of VRRPv3's reserved bits and Max Adver Int (bytes 4 and 5).
    fn rsvd_max_advert_int(&self) -> u16 {
        let data = self.buffer.as_ref();
        let start = field::RSVD_MAX_ADVER_INT.start;
        u16::from_be_bytes([data[start], data[start + 1]])
    }

    /// The reserved bits before Max Adver Int (VRRPv3; high nibble of byte 4). Sent as zero,
    /// ignored on reception (RFC 9568 §5.2.6).
    pub fn reserved(&self) -> u8 {
        // 4 bits after the shift.
        (self.rsvd_max_advert_int() >> 12) as u8
    }

    /// The Max Adver Int field, in centiseconds (VRRPv3; low 12 bits of bytes 4 and 5).
    pub fn max_advert_int(&self) -> u16 {
        self.rsvd_max_advert_int() & 0x0fff
    }

    /// The Checksum field.
    pub fn checksum(&self) -> u16 {
        let data = self.buffer.as_ref();
        u16::from_be_bytes([data[field::CHECKSUM.start], data[field::CHECKSUM.start + 1]])
    }

    /// The `index`th address field, counting from 0, of the view's family. `index` must be
    /// below [`Packet::addr_count`], or this reads the authentication data or panics.
    pub fn addr(&self, index: usize) -> IpAddr {
        let range = field::addr(index, self.family.addr_len());
        let bytes = &self.buffer.as_ref()[range];
        match self.family {
            Family::Ipv4 => {
                let mut octets = [0u8; 4];
                octets.copy_from_slice(bytes);
                IpAddr::V4(Ipv4Addr::from(octets))
            }
            Family::Ipv6 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(bytes);
                IpAddr::V6(Ipv6Addr::from(octets))
            }
        }
    }

    /// The address fields, in packet order.
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        (0..usize::from(self.addr_count())).map(move |index| self.addr(index))
    }

    /// The Authentication Data field of a VRRPv2 message; `None` for any other version, which
    /// has none.
    pub fn auth_data(&self) -> Option<[u8; AUTH_DATA_LEN]> {
        if !self.has_auth_data() {
            return None;
        }
        let range = field::auth_data(usize::from(self.addr_count()), self.family.addr_len());
        let mut auth = [0u8; AUTH_DATA_LEN];
        auth.copy_from_slice(&self.buffer.as_ref()[range]);
        Some(auth)
    }

    /// The sum of the message with the Checksum field taken as zero, and of what `over` puts
    /// in front of it.
    fn sum(&self, over: &ChecksumOver) -> u64 {
        let data = &self.buffer.as_ref()[..self.message_len()];
        // The checksum field starts on an even offset, so summing around it keeps the words
        // aligned.
        sum_words(&data[..field::CHECKSUM.start])
            + sum_words(&data[field::CHECKSUM.end..])
            + over.prefix_sum(data.len())
    }

    /// The checksum the message should carry: RFC 1071 over what `over` says, with the
    /// Checksum field taken as zero (RFC 3768 §5.3.8, RFC 9568 §5.2.8).
    pub fn compute_checksum(&self, over: &ChecksumOver) -> u16 {
        fold_complement(self.sum(over))
    }

    /// Whether the Checksum field matches the message summed as `over` says.
    pub fn verify_checksum(&self, over: &ChecksumOver) -> bool {
        // With the field summed in, a right checksum makes the sum 0xffff (RFC 1071 §1), and so
        // does 0xffff sent for 0x0000 (one value, two forms in one's complement).
        fold_complement(self.sum(over) + u64::from(self.checksum())) == 0
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

    /// Sets the Count field.
    pub fn set_addr_count(&mut self, value: u8) {
        self.buffer.as_mut()[field::COUNT] = value;
    }

    /// Sets the Auth Type field (VRRPv2).
    pub fn set_auth_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::AUTH_TYPE] = value;
    }

    /// Sets the Adver Int field, in seconds (VRRPv2).
    pub fn set_advert_int(&mut self, value: u8) {
        self.buffer.as_mut()[field::ADVER_INT] = value;
    }

    /// Sets the Max Adver Int field, in centiseconds, and the reserved bits before it to zero
    /// (VRRPv3, RFC 9568 §5.2.6). Bits of `value` above the low 12 are dropped.
    pub fn set_max_advert_int(&mut self, value: u16) {
        self.buffer.as_mut()[field::RSVD_MAX_ADVER_INT]
            .copy_from_slice(&(value & 0x0fff).to_be_bytes());
    }

    /// Sets the Checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the `index`th address field, counting from 0.
    ///
    /// # Panics
    /// If `value` is not of the view's family.
    pub fn set_addr(&mut self, index: usize, value: IpAddr) {
        let range = field::addr(index, self.family.addr_len());
        let data = &mut self.buffer.as_mut()[range];
        match (self.family, value) {
            (Family::Ipv4, IpAddr::V4(addr)) => data.copy_from_slice(&addr.octets()),
            (Family::Ipv6, IpAddr::V6(addr)) => data.copy_from_slice(&addr.octets()),
            (family, addr) => panic!("Packet::set_addr: {addr} in an {family} message"),
        }
    }

    /// Sets the Authentication Data field (VRRPv2). Set Count first: it places this field.
    pub fn set_auth_data(&mut self, value: &[u8; AUTH_DATA_LEN]) {
        let range = field::auth_data(usize::from(self.addr_count()), self.family.addr_len());
        self.buffer.as_mut()[range].copy_from_slice(value);
    }

    /// Computes the checksum as `over` says and writes it to the Checksum field. Call it last,
    /// after every other field is set.
    pub fn fill_checksum(&mut self, over: &ChecksumOver) {
        let value = self.compute_checksum(over);
        self.set_checksum(value);
    }
}
