//! Which VRRP an instance speaks, as keepalived 2.2.7 decides it: its address family
//! (`native_ipv6`, else its addresses), its version (`version`, else `vrrp_version`; IPv6 is
//! always VRRPv3), `advert_int` in that version's units, the multicast group, the VRRPv3
//! checksum form, accept mode and the virtual MAC (`use_vmac`, `vmac_xmit_base`).
//!
//! Where keepalived rounds a value it gets wrong (a VRRPv2 fraction, a VRRPv3 interval finer
//! than 10 ms) vipd rounds the same way with a warning; where it drops a line or clamps a
//! value out of range, vipd refuses the file, naming the line.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::Report;
use super::defaults::{self, Defaults};
use super::model::{VRRP_GROUP_V4, VRRP_GROUP_V6, VrrpInstance, VrrpVersion};
use super::raw::{RawInstance, Val};
use super::values::apply;

/// An instance's family, and the words that decided it (for messages about a mismatch).
#[derive(Debug, Clone)]
pub(crate) struct Family {
    pub(crate) ipv6: bool,
    /// "native_ipv6 is set", "its first virtual_ipaddress is 10.0.0.1"...
    pub(crate) why: String,
}

impl Family {
    /// "IPv4" or "IPv6".
    pub(crate) fn name(&self) -> &'static str {
        if self.ipv6 { "IPv6" } else { "IPv4" }
    }
}

/// The address a word starts with (`10.0.0.1/24` -> 10.0.0.1), if it is one.
pub(crate) fn address_of(word: &str) -> Option<IpAddr> {
    word.split_once('/').map_or(word, |(a, _)| a).parse().ok()
}

/// The family, as keepalived decides it: `native_ipv6`, else the first VIP, else
/// `unicast_src_ip`, else the first `unicast_peer`; IPv4 when nothing says. (keepalived takes
/// the first of these in file order; they differ only where the file mixes families, which
/// the address checks refuse.)
pub(crate) fn family(raw: &RawInstance) -> Family {
    if raw.native_ipv6.as_ref().is_some_and(|n| n.value) {
        return Family {
            ipv6: true,
            why: "native_ipv6 is set".to_string(),
        };
    }
    let vip = raw.virtual_ipaddress.iter().filter_map(|w| w.first());
    let first = vip
        .map(|w| ("its first virtual_ipaddress", w))
        .chain(raw.unicast_src_ip.iter().map(|w| ("its unicast_src_ip", w)))
        .chain(
            raw.unicast_peer
                .iter()
                .map(|w| ("its first unicast_peer", w)),
        )
        .find_map(|(what, w)| address_of(&w.value).map(|a| (what, a)));
    match first {
        Some((what, addr)) => Family {
            ipv6: addr.is_ipv6(),
            why: format!("{what} is {addr}"),
        },
        None => Family {
            ipv6: false,
            why: "it has no address that says otherwise".to_string(),
        },
    }
}

/// `version`, else the global `vrrp_version`; an IPv6 instance is VRRPv3 whatever the file
/// says, with a warning where its own `version` says 2. False when `version` is invalid.
pub(crate) fn version(
    raw: &RawInstance,
    defaults: &Defaults,
    family: &Family,
    out: &mut VrrpInstance,
    report: &mut Report,
) -> bool {
    out.native_ipv6 = raw.native_ipv6.as_ref().is_some_and(|n| n.value);
    out.version = defaults.version;
    let ok = apply(&mut out.version, raw.version.as_ref(), |v| {
        defaults::version(v, "version", report)
    });
    if family.ipv6 && out.version == VrrpVersion::V2 {
        if let Some(v) = raw.version.as_ref().filter(|v| v.value == "2") {
            let why = format!(
                "vrrp_instance {} is IPv6 ({}), and VRRPv2 is IPv4 only: it runs VRRPv3, as \
                 keepalived does (write `version 3`)",
                raw.name.value, family.why
            );
            report.warn_at(v.at(), "version", why);
        }
        out.version = VrrpVersion::V3;
    }
    ok
}

/// keepalived's unit: it reads intervals in microseconds (`TIMER_HZ`).
const MICROS: u64 = 1_000_000;
/// VRRPv3's unit: the Max Adver Int field counts centiseconds.
const CENTI: u64 = 10_000;
/// VRRPv3's Max Adver Int is 12 bits: at most 4095 centiseconds.
const V3_MAX: u64 = 4095 * CENTI;

/// `3`, `0.05`: a decimal number of seconds in microseconds, as keepalived reads it (digits
/// past the sixth decimal are dropped).
fn micros(text: &str) -> Option<u64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
    whole.checked_mul(MICROS)?.checked_add(frac.parse().ok()?)
}

/// `advert_int` in the version's units: VRRPv2 whole seconds 1..=255 (a fraction rounded to
/// the nearest second, as keepalived does), VRRPv3 0.01..=40.95 s (rounded to the nearest
/// centisecond). False when out of range.
pub(crate) fn advert_int(raw: &RawInstance, out: &mut VrrpInstance, report: &mut Report) -> bool {
    let Some(v) = &raw.advert_int else {
        return true;
    };
    let (unit, min, max, what) = match out.version {
        VrrpVersion::V2 => (
            MICROS,
            MICROS,
            255 * MICROS,
            "whole seconds from 1 to 255 (VRRPv2)",
        ),
        VrrpVersion::V3 => (CENTI, CENTI, V3_MAX, "seconds from 0.01 to 40.95 (VRRPv3)"),
    };
    // Rounded half up, as keepalived does; a VRRPv2 value under 0.5 s becomes 1 s.
    let rounded = micros(&v.value).map(|us| ((us + unit / 2) / unit * unit, us));
    match rounded {
        Some((r, us)) if us > 0 && r.max(min) <= max => {
            let r = r.max(min);
            if r != us {
                let why = match out.version {
                    VrrpVersion::V2 => format!(
                        "VRRPv2 adverts are whole seconds: {} rounded to {}s, as keepalived \
                         does (`version 3` takes fractions)",
                        v.value,
                        r / MICROS
                    ),
                    VrrpVersion::V3 => format!(
                        "VRRPv3 adverts are in units of 10 ms: {} rounded to {}s, as \
                         keepalived does",
                        v.value,
                        Duration::from_micros(r).as_secs_f64()
                    ),
                };
                report.warn_at(v.at(), "advert_int", why);
            }
            out.advert_int = Duration::from_micros(r);
            true
        }
        _ => {
            let why = format!("advert_int must be {what}, got `{}`", v.value);
            report.error_at(v.at(), "advert_int", why);
            false
        }
    }
}

/// The rest of the protocol: multicast group, checksum form, accept mode, virtual MAC. The
/// vmac's default name is chosen later, by [`vmac_names`], when every instance is known.
pub(crate) fn options(
    raw: &RawInstance,
    defaults: &Defaults,
    family: &Family,
    out: &mut VrrpInstance,
    report: &mut Report,
) -> bool {
    // The RFC group is `None`, however it is written.
    out.mcast_group = if family.ipv6 {
        (defaults.mcast_group6)
            .filter(|g| *g != VRRP_GROUP_V6)
            .map(IpAddr::from)
    } else {
        (defaults.mcast_group4)
            .filter(|g| *g != VRRP_GROUP_V4)
            .map(IpAddr::from)
    };
    out.accept = raw.accept.as_ref().is_none_or(|a| a.value);
    let mut ok = true;
    out.v3_checksum_as_v2 = match &raw.v3_checksum_as_v2 {
        Some(v) => defaults::switch(v, "v3_checksum_as_v2", report).unwrap_or_else(|| {
            ok = false;
            defaults.v3_checksum_as_v2
        }),
        None => defaults.v3_checksum_as_v2,
    };
    if let Some(name) = &raw.use_vmac {
        ok &= name.value.is_empty() || interface_name(name, report);
        out.use_vmac = Some(name.value.clone());
    }
    out.vmac_xmit_base = raw.vmac_xmit_base.as_ref().is_some_and(|x| x.value);
    if let Some(x) = &raw.vmac_xmit_base
        && x.value
        && out.use_vmac.is_none()
    {
        let why = "vmac_xmit_base is only valid with use_vmac: ignored, as keepalived does";
        report.warn_at(x.at(), "vmac_xmit_base", why);
        out.vmac_xmit_base = false;
    }
    ok
}

/// A name Linux takes for a new interface: 1 to 15 bytes, not `.` or `..`, without `/`, `:`
/// or blanks.
fn interface_name(v: &Val<String>, report: &mut Report) -> bool {
    let name = v.value.as_str();
    let valid = name.len() < 16
        && !matches!(name, "." | "..")
        && !name.contains(|c: char| c == '/' || c == ':' || c.is_whitespace());
    if !valid {
        let why = format!(
            "`{name}` cannot name an interface: at most 15 bytes, without `/`, `:` or blanks \
             (keepalived ignores it and picks vrrp.VRID)"
        );
        report.error_at(v.at(), "use_vmac", why);
    }
    valid
}

/// Gives each `use_vmac` without a name keepalived's default, once every instance is read:
/// `vrrp.VRID`, or where another instance has it `vrrp6.VRID` (IPv6 first), `vrrp1.VRID`,
/// `vrrp2.VRID`... Two instances naming the same vmac is an error at the second (`at` holds
/// where each instance's `use_vmac` is written).
pub(crate) fn vmac_names(
    instances: &mut [VrrpInstance],
    at: &[Option<(usize, usize)>],
    report: &mut Report,
) {
    let mut taken: HashMap<String, String> = HashMap::new();
    for (inst, at) in instances.iter().zip(at) {
        let Some(name) = inst.use_vmac.as_ref().filter(|n| !n.is_empty()) else {
            continue;
        };
        match taken.get(name) {
            Some(other) => {
                let why = format!(
                    "vrrp_instance {} uses vmac {name}, which vrrp_instance {other} already \
                     uses; give each instance its own (keepalived ignores the second name)",
                    inst.name
                );
                report.error_at(at.unwrap_or_default(), "use_vmac", why);
            }
            None => {
                taken.insert(name.clone(), inst.name.clone());
            }
        }
    }
    for inst in instances.iter_mut() {
        if inst.use_vmac.as_deref() != Some("") {
            continue;
        }
        let ipv6 = inst.is_ipv6();
        let vrid = inst.virtual_router_id;
        let name = default_vmac_names(vrid, ipv6)
            .find(|n| !taken.contains_key(n))
            .unwrap_or_else(|| format!("vrrp.{vrid}"));
        taken.insert(name.clone(), inst.name.clone());
        inst.use_vmac = Some(name);
    }
}

/// keepalived's candidates (`create_vmac_name`): `vrrp.VRID`, then for IPv6 `vrrp6.VRID`,
/// then `vrrpN.VRID` for N = 1, 2... (IPv6 skips 6, already tried).
fn default_vmac_names(vrid: u8, ipv6: bool) -> impl Iterator<Item = String> {
    let first = std::iter::once(format!("vrrp.{vrid}"));
    let v6 = ipv6.then(|| format!("vrrp6.{vrid}"));
    let numbered = (1u16..=512)
        .filter(move |n| !(ipv6 && *n == 6))
        .map(move |n| format!("vrrp{n}.{vrid}"));
    first.chain(v6).chain(numbered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_read_as_keepalived_reads_them() {
        assert_eq!(micros("1"), Some(1_000_000));
        assert_eq!(micros("0.05"), Some(50_000));
        assert_eq!(micros(".5"), Some(500_000));
        assert_eq!(micros("2."), Some(2_000_000));
        assert_eq!(micros("0.0000019"), Some(1));
        for bad in ["", ".", "-1", "1e3", "0x10", "1.2.3", " 1"] {
            assert_eq!(micros(bad), None, "{bad}");
        }
    }

    #[test]
    fn default_vmac_names_follow_keepalived() {
        let v4: Vec<String> = default_vmac_names(7, false).take(3).collect();
        assert_eq!(v4, ["vrrp.7", "vrrp1.7", "vrrp2.7"]);
        let v6: Vec<String> = default_vmac_names(7, true).take(8).collect();
        assert_eq!(
            v6,
            [
                "vrrp.7", "vrrp6.7", "vrrp1.7", "vrrp2.7", "vrrp3.7", "vrrp4.7", "vrrp5.7",
                "vrrp7.7"
            ]
        );
    }
}
