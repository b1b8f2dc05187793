//! The advertisement interval as a typed value, in centiseconds: VRRPv2 carries whole seconds
//! in 8 bits (RFC 3768 §5.3.7), VRRPv3 centiseconds in 12 bits (RFC 9568 §5.2.7).

use core::fmt;
use std::time::Duration;

use super::Version;

/// An advertisement interval, a whole number of centiseconds from 0 to 655.35 s.
///
/// Every interval either version can carry fits: VRRPv2's 1 to 255 s and VRRPv3's 0.01 to
/// 40.95 s. [`AdvertInterval::fits`] says whether a version's field can hold this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AdvertInterval {
    centis: u16,
}

impl AdvertInterval {
    /// The longest interval VRRPv3's 12-bit Max Adver Int can carry: 4095 cs = 40.95 s.
    pub const MAX_V3: AdvertInterval = AdvertInterval { centis: 0x0fff };

    /// `secs` whole seconds, as VRRPv2's Adver Int carries it.
    pub const fn from_secs(secs: u8) -> AdvertInterval {
        // At most 255 * 100 = 25500, so it fits.
        AdvertInterval {
            centis: secs as u16 * 100,
        }
    }

    /// `centis` centiseconds, as VRRPv3's Max Adver Int carries it.
    pub const fn from_centis(centis: u16) -> AdvertInterval {
        AdvertInterval { centis }
    }

    /// `duration`, if it is a whole number of centiseconds up to 655.35 s; `None` otherwise.
    pub fn from_duration(duration: Duration) -> Option<AdvertInterval> {
        if !duration.subsec_nanos().is_multiple_of(10_000_000) {
            return None;
        }
        let centis = duration.as_millis() / 10;
        u16::try_from(centis).ok().map(AdvertInterval::from_centis)
    }

    /// The interval in centiseconds.
    pub const fn as_centis(self) -> u16 {
        self.centis
    }

    /// The interval in whole seconds, if it is a whole number of them up to 255: the value of
    /// VRRPv2's Adver Int. `None` if VRRPv2 cannot carry it.
    pub const fn as_whole_secs(self) -> Option<u8> {
        if !self.centis.is_multiple_of(100) || self.centis / 100 > u8::MAX as u16 {
            return None;
        }
        Some((self.centis / 100) as u8)
    }

    /// The interval as a [`Duration`].
    pub fn as_duration(self) -> Duration {
        Duration::from_millis(u64::from(self.centis) * 10)
    }

    /// Whether the interval field of `version` can carry this interval: whole seconds up to
    /// 255 for VRRPv2, up to [`AdvertInterval::MAX_V3`] for VRRPv3.
    pub const fn fits(self, version: Version) -> bool {
        match version {
            Version::V2 => self.as_whole_secs().is_some(),
            Version::V3 => self.centis <= AdvertInterval::MAX_V3.centis,
        }
    }
}

impl fmt::Display for AdvertInterval {
    /// Seconds with as many decimals as needed: `1s`, `0.5s`, `0.05s`, `40.95s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (secs, centis) = (self.centis / 100, self.centis % 100);
        match centis {
            0 => write!(f, "{secs}s"),
            c if c.is_multiple_of(10) => write!(f, "{secs}.{}s", c / 10),
            c => write!(f, "{secs}.{c:02}s"),
        }
    }
}
