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
        // keepalived reads nothing under 10 ms, in either version.
        Some((r, us)) if us >= CENTI && r.max(min) <= max => {
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
    use crate::config::testing::{ok, one_error};
    use crate::config::{Diagnostic, Loaded};

    /// A keepalived file: `global` in global_defs (line 2), an instance whose `extra` lines
    /// start on line 7, and its VIP `vip` two lines after them.
    fn conf(global: &str, extra: &str, vip: &str) -> String {
        format!(
            "global_defs {{\n{global}\n}}\nvrrp_instance VI_1 {{\n interface eth0\n \
             virtual_router_id 51\n{extra}\n virtual_ipaddress {{\n {vip}\n }}\n}}\n"
        )
    }

    /// The same in TOML: `global` on line 2, `extra` from line 8 on.
    fn toml(global: &str, extra: &str, vip: &str) -> String {
        format!(
            "[global_defs]\n{global}\n[[vrrp_instance]]\nname = \"VI_1\"\n\
             interface = \"eth0\"\nvirtual_router_id = 51\nvirtual_ipaddress = [\"{vip}\"]\n\
             {extra}\n"
        )
    }

    /// Both formats load `ka` and `tm` to one instance each; `f` sees both.
    fn both(ka: &str, tm: &str, f: impl Fn(&VrrpInstance, &Loaded)) {
        for (text, file) in [(ka, "a.conf"), (tm, "a.toml")] {
            let l = ok(text, file);
            f(&l.config.instances[0], &l);
        }
    }

    /// `d` is at `line` about `key` and says `message`.
    fn check(d: &Diagnostic, line: usize, key: &str, message: &str) {
        assert_eq!((d.line, d.key.as_str()), (line, key), "{d}");
        assert!(d.message.contains(message), "{d}\nwanted: {message}");
    }

    #[test]
    fn vrrpv3_advert_int_takes_centiseconds() {
        for (written, ms) in [("0.05", 50), ("0.01", 10), ("40.95", 40950), ("3", 3000)] {
            both(
                &conf(
                    " vrrp_version 3",
                    &format!(" advert_int {written}"),
                    "10.0.0.1",
                ),
                &toml(
                    "vrrp_version = 3",
                    &format!("advert_int = {written}"),
                    "10.0.0.1",
                ),
                |i, l| {
                    assert_eq!(i.advert_int, Duration::from_millis(ms), "{written}");
                    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
                },
            );
        }
        // Finer than 10 ms: rounded half up, with keepalived's warning.
        let l = ok(
            &conf("", " version 3\n advert_int 0.015", "10.0.0.1"),
            "a.conf",
        );
        assert_eq!(l.config.instances[0].advert_int, Duration::from_millis(20));
        check(
            &l.warnings[0],
            8,
            "advert_int",
            "VRRPv3 adverts are in units of 10 ms: 0.015 rounded to 0.02s, as keepalived does",
        );
        for bad in ["0", "0.004", "40.96", "41", "0,5"] {
            let d = one_error(
                &conf("", &format!(" version 3\n advert_int {bad}"), "10.0.0.1"),
                "a.conf",
            );
            check(
                &d,
                8,
                "advert_int",
                &format!("advert_int must be seconds from 0.01 to 40.95 (VRRPv3), got `{bad}`"),
            );
        }
    }

    #[test]
    fn vrrpv3_ignores_authentication_as_keepalived_does() {
        let auth = " version 3\n authentication {\n auth_type PASS\n auth_pass secret\n }";
        let l = ok(&conf("", auth, "10.0.0.1"), "a.conf");
        assert_eq!(l.config.instances[0].auth_pass, None);
        check(
            &l.warnings[0],
            9,
            "authentication",
            "VRRPv3 has no authentication (RFC 9568): ignored, as keepalived does",
        );
    }

    #[test]
    fn mcast_groups_apply_to_their_family() {
        let global4 = " vrrp_mcast_group4 224.0.0.19\n vrrp_mcast_group6 ff02::112";
        let toml4 = "vrrp_mcast_group4 = \"224.0.0.19\"\nvrrp_mcast_group6 = \"ff02::112\"";
        both(
            &conf(global4, "", "10.0.0.1"),
            &toml(toml4, "", "10.0.0.1"),
            |i, _| {
                assert_eq!(i.mcast_group, Some("224.0.0.19".parse().unwrap()));
                assert_eq!(i.advert_group().to_string(), "224.0.0.19");
            },
        );
        both(
            &conf(global4, "", "fe80::1"),
            &toml(toml4, "", "fe80::1"),
            |i, _| {
                assert_eq!(i.mcast_group, Some("ff02::112".parse().unwrap()));
            },
        );
        // The RFC group, written out, is the default.
        let l = ok(
            &conf(" vrrp_mcast_group6 ff02::12", "", "fe80::1"),
            "a.conf",
        );
        assert_eq!(l.config.instances[0].mcast_group, None);
        assert_eq!(l.config.instances[0].advert_group().to_string(), "ff02::12");
        let d = one_error(
            &conf(" vrrp_mcast_group4 10.0.0.9", "", "10.0.0.1"),
            "a.conf",
        );
        check(
            &d,
            2,
            "vrrp_mcast_group4",
            "vrrp_mcast_group4 must be an IPv4 multicast address, e.g. 224.0.0.18, got `10.0.0.9`",
        );
        let d = one_error(
            &toml("vrrp_mcast_group6 = \"224.0.0.18\"", "", "fe80::1"),
            "a.toml",
        );
        check(&d, 2, "vrrp_mcast_group6", "an IPv6 multicast address");
    }

    #[test]
    fn accept_checksum_and_native_ipv6() {
        both(
            &conf(
                " v3_checksum_as_v2",
                " no_accept\n native_ipv6\n v3_checksum_as_v2 off",
                "fe80::1",
            ),
            &toml(
                "v3_checksum_as_v2 = true",
                "accept = false\nnative_ipv6 = true\nv3_checksum_as_v2 = false",
                "fe80::1",
            ),
            |i, l| {
                assert!(!i.accept && i.native_ipv6 && i.is_ipv6());
                assert_eq!(i.version, VrrpVersion::V3);
                // The instance's own switch over the global one.
                assert!(!i.v3_checksum_as_v2);
                assert!(l.warnings.is_empty(), "{:?}", l.warnings);
            },
        );
        // keepalived's defaults: accept mode on, the pseudo-header in the checksum.
        both(
            &conf("", " accept", "10.0.0.1"),
            &toml("", "accept = true", "10.0.0.1"),
            |i, _| {
                assert!(i.accept && !i.v3_checksum_as_v2 && !i.native_ipv6);
            },
        );
        let l = ok(&conf(" v3_checksum_as_v2", "", "10.0.0.1"), "a.conf");
        assert!(l.config.instances[0].v3_checksum_as_v2);
        let d = one_error(&conf("", " v3_checksum_as_v2 maybe", "10.0.0.1"), "a.conf");
        check(&d, 7, "v3_checksum_as_v2", "takes true or false");
        // native_ipv6 with an IPv4 unicast source: one family per instance.
        let d = one_error(
            &conf("", " native_ipv6\n unicast_src_ip 10.0.0.2", "fe80::1"),
            "a.conf",
        );
        check(&d, 8, "unicast_src_ip", "is IPv6 (native_ipv6 is set)");
    }

    #[test]
    fn use_vmac_names_as_keepalived_chooses_them() {
        both(
            &conf("", " use_vmac\n vmac_xmit_base", "10.0.0.1"),
            &toml("", "use_vmac = true\nvmac_xmit_base = true", "10.0.0.1"),
            |i, l| {
                assert_eq!(i.use_vmac.as_deref(), Some("vrrp.51"));
                assert!(i.vmac_xmit_base && l.warnings.is_empty());
            },
        );
        both(
            &conf("", " use_vmac vip0", "10.0.0.1"),
            &toml("", "use_vmac = \"vip0\"", "10.0.0.1"),
            |i, _| assert_eq!(i.use_vmac.as_deref(), Some("vip0")),
        );
        let l = ok(&toml("", "use_vmac = false", "10.0.0.1"), "a.toml");
        assert_eq!(l.config.instances[0].use_vmac, None);
        // Same VRID, both families: the IPv6 instance gets vrrp6.VRID, as in keepalived.
        let two = format!(
            "{}vrrp_instance VI_6 {{\n interface eth0\n virtual_router_id 51\n use_vmac\n \
             virtual_ipaddress {{\n fe80::1\n }}\n}}\n",
            conf("", " use_vmac", "10.0.0.1").replace(" interface eth0", " interface eth1")
        );
        let names: Vec<_> = (ok(&two, "a.conf").config.instances.iter())
            .map(|i| i.use_vmac.clone().unwrap())
            .collect();
        assert_eq!(names, ["vrrp.51", "vrrp6.51"]);
        let d = one_error(
            &conf("", " use_vmac a/very/long/name", "10.0.0.1"),
            "a.conf",
        );
        check(
            &d,
            7,
            "use_vmac",
            "`a/very/long/name` cannot name an interface",
        );
        let dup = two.replace(" use_vmac\n", " use_vmac vm\n");
        let d = one_error(&dup, "a.conf");
        check(
            &d,
            15,
            "use_vmac",
            "vrrp_instance VI_6 uses vmac vm, which vrrp_instance VI_1 already uses",
        );
        // vmac_xmit_base alone does nothing: keepalived says so and clears it.
        let l = ok(&conf("", " vmac_xmit_base", "10.0.0.1"), "a.conf");
        assert!(!l.config.instances[0].vmac_xmit_base);
        check(
            &l.warnings[0],
            7,
            "vmac_xmit_base",
            "only valid with use_vmac",
        );
    }

    #[test]
    fn toml_keys_are_checked_with_suggestions() {
        let e = crate::config::testing::err(
            &toml(
                "vrrp_verison = 3",
                "use_vmc = true\nvirtual_ipaddress_exclude = []",
                "10.0.0.1",
            ),
            "a.toml",
        );
        assert_eq!(
            crate::config::testing::line_key_suggestion(&e),
            [
                (2, "vrrp_verison", Some("vrrp_version")),
                (8, "use_vmc", Some("use_vmac")),
                (
                    9,
                    "virtual_ipaddress_exclude",
                    Some("virtual_ipaddress_excluded")
                ),
            ],
            "{e}"
        );
        let d = one_error(&toml("", "version = 4", "10.0.0.1"), "a.toml");
        check(&d, 8, "version", "version must be 2 or 3, got `4`");
    }

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
