//! `global_defs` keywords that set a default for every `vrrp_instance`, and how they combine
//! with an instance's own keyword and keepalived's built-in default: `vrrp_garp_master_repeat`,
//! `vrrp_lower_prio_no_advert` and `vrrp_garp_lower_prio_repeat`, with the instance keywords
//! `lower_prio_no_advert` and `garp_lower_prio_repeat` whose defaults they are; and the
//! protocol's: `vrrp_version`, `v3_checksum_as_v2`, `vrrp_mcast_group4/6` (which
//! [`super::protocol`] applies).
//!
//! The model holds the result, so the daemon never looks at `global_defs`. Values come as
//! written (from either loader), are checked once at the global line, and an instance's own
//! keyword always wins. A global keyword applies to every instance wherever `global_defs`
//! stands in the file (keepalived copies `vrrp_garp_master_repeat` into the instances that
//! follow it only; `global_defs` comes first in practice).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Report;
use super::model::{VrrpInstance, VrrpVersion};
use super::raw::{RawDefaults, RawInstance, Val};
use super::suggest;
use super::values::{C_INT_MAX, count};

/// The global defaults, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Defaults {
    /// Every instance's `garp_master_repeat` unless it sets its own.
    pub(crate) garp_master_repeat: u32,
    /// Every instance's `lower_prio_no_advert` unless it sets its own.
    pub(crate) lower_prio_no_advert: bool,
    /// Every instance's `garp_lower_prio_repeat` unless it sets its own: the global
    /// `vrrp_garp_lower_prio_repeat`, else the global (not the instance's)
    /// `vrrp_garp_master_repeat`, as keepalived 2.2.7 resolves it.
    pub(crate) garp_lower_prio_repeat: u32,
    /// `vrrp_version`: every IPv4 instance's version unless it sets its own.
    pub(crate) version: VrrpVersion,
    /// `v3_checksum_as_v2`: every instance's unless it sets its own.
    pub(crate) v3_checksum_as_v2: bool,
    /// `vrrp_mcast_group4`; `None` = 224.0.0.18.
    pub(crate) mcast_group4: Option<Ipv4Addr>,
    /// `vrrp_mcast_group6`; `None` = ff02::12.
    pub(crate) mcast_group6: Option<Ipv6Addr>,
}

impl Default for Defaults {
    /// keepalived's built-in values, which [`VrrpInstance::with_defaults`] also holds.
    fn default() -> Self {
        let builtin = VrrpInstance::with_defaults("", "", 0);
        Self {
            garp_master_repeat: builtin.garp_master_repeat,
            lower_prio_no_advert: builtin.lower_prio_no_advert,
            garp_lower_prio_repeat: builtin.garp_lower_prio_repeat,
            version: builtin.version,
            v3_checksum_as_v2: builtin.v3_checksum_as_v2,
            mcast_group4: None,
            mcast_group6: None,
        }
    }
}

/// Checks the global defaults; a bad one is an error at its line and the built-in value
/// stands in for it, so that each instance is still checked.
pub(crate) fn global(raw: &RawDefaults, report: &mut Report) -> Defaults {
    let mut out = Defaults::default();
    if let Some(v) = &raw.vrrp_garp_master_repeat
        && let Some(n) = count(v, "vrrp_garp_master_repeat", 1..=C_INT_MAX, report)
    {
        out.garp_master_repeat = n;
    }
    out.garp_lower_prio_repeat = out.garp_master_repeat;
    if let Some(v) = &raw.vrrp_garp_lower_prio_repeat
        && let Some(n) = count(v, "vrrp_garp_lower_prio_repeat", 0..=C_INT_MAX, report)
    {
        out.garp_lower_prio_repeat = n;
    }
    if let Some(v) = &raw.vrrp_lower_prio_no_advert
        && let Some(b) = switch(v, "vrrp_lower_prio_no_advert", report)
    {
        out.lower_prio_no_advert = b;
    }
    if let Some(v) = &raw.vrrp_version
        && let Some(version) = version(v, "vrrp_version", report)
    {
        out.version = version;
    }
    if let Some(v) = &raw.v3_checksum_as_v2
        && let Some(b) = switch(v, "v3_checksum_as_v2", report)
    {
        out.v3_checksum_as_v2 = b;
    }
    let group = |v: &Option<Val<String>>, key: &str, ipv6: bool, report: &mut Report| {
        let v = v.as_ref()?;
        let (family, example) = if ipv6 {
            ("IPv6", "ff02::12")
        } else {
            ("IPv4", "224.0.0.18")
        };
        let what = format!("an {family} multicast address, e.g. {example}");
        super::values::must(v, key, &what, report, |s| {
            s.parse::<IpAddr>()
                .ok()
                .filter(|a| a.is_ipv6() == ipv6 && a.is_multicast())
        })
    };
    out.mcast_group4 = match group(&raw.vrrp_mcast_group4, "vrrp_mcast_group4", false, report) {
        Some(IpAddr::V4(a)) => Some(a),
        _ => None,
    };
    out.mcast_group6 = match group(&raw.vrrp_mcast_group6, "vrrp_mcast_group6", true, report) {
        Some(IpAddr::V6(a)) => Some(a),
        _ => None,
    };
    out
}

/// `2` or `3`, as `version` and `vrrp_version` take it.
pub(crate) fn version(v: &Val<String>, key: &str, report: &mut Report) -> Option<VrrpVersion> {
    match v.value.as_str() {
        "2" => Some(VrrpVersion::V2),
        "3" => Some(VrrpVersion::V3),
        other => {
            let why = format!("{key} must be 2 or 3, got `{other}`");
            report.error_at(v.at(), key, why);
            None
        }
    }
}

/// An instance's `lower_prio_no_advert` and `garp_lower_prio_repeat`, or the global defaults.
/// False when one is invalid (reported).
pub(crate) fn lower_prio(
    raw: &RawInstance,
    defaults: &Defaults,
    out: &mut VrrpInstance,
    report: &mut Report,
) -> bool {
    let mut ok = true;
    out.lower_prio_no_advert = match &raw.lower_prio_no_advert {
        Some(v) => switch(v, "lower_prio_no_advert", report).unwrap_or_else(|| {
            ok = false;
            defaults.lower_prio_no_advert
        }),
        None => defaults.lower_prio_no_advert,
    };
    out.garp_lower_prio_repeat = match &raw.garp_lower_prio_repeat {
        Some(v) => count(v, "garp_lower_prio_repeat", 0..=C_INT_MAX, report).unwrap_or_else(|| {
            ok = false;
            defaults.garp_lower_prio_repeat
        }),
        None => defaults.garp_lower_prio_repeat,
    };
    ok
}

/// keepalived's words for a switch (`check_true_false`): exactly these, lower case.
const TRUE: &[&str] = &["true", "on", "yes"];
const FALSE: &[&str] = &["false", "off", "no"];

/// A keepalived switch value; anything else is an error (keepalived's `-t` flags it too).
pub(crate) fn switch(v: &Val<String>, key: &str, report: &mut Report) -> Option<bool> {
    let word = v.value.as_str();
    if TRUE.contains(&word) {
        return Some(true);
    }
    if FALSE.contains(&word) {
        return Some(false);
    }
    let suggestion = suggest::closest(word, &[TRUE, FALSE].concat());
    report
        .error_at(
            v.at(),
            key,
            format!(
                "{key} takes true or false (or on/off, yes/no; alone it means true), got `{word}`"
            ),
        )
        .suggestion = suggestion;
    None
}

#[cfg(test)]
mod tests {
    use crate::config::Loaded;
    use crate::config::testing::load;

    /// Two keepalived instances after `global_defs { GLOBAL }`; VI_1 also has `own`.
    fn conf(global: &str, own: &str) -> String {
        format!(
            "global_defs {{\n{global}\n}}\nvrrp_instance VI_1 {{\n interface eth0\n \
             virtual_router_id 1\n{own}\n virtual_ipaddress {{\n 10.0.0.1\n }}\n}}\n\
             vrrp_instance VI_2 {{\n interface eth0\n virtual_router_id 2\n \
             virtual_ipaddress {{\n 10.0.0.2\n }}\n}}\n"
        )
    }

    /// The same in TOML.
    fn toml(global: &str, own: &str) -> String {
        format!(
            "[global_defs]\n{global}\n[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\n\
             virtual_router_id = 1\nvirtual_ipaddress = [\"10.0.0.1\"]\n{own}\n\
             [[vrrp_instance]]\nname = \"VI_2\"\ninterface = \"eth0\"\nvirtual_router_id = 2\n\
             virtual_ipaddress = [\"10.0.0.2\"]\n"
        )
    }

    #[test]
    fn global_garp_master_repeat_is_every_instances_default() {
        for (text, file) in [
            (
                conf(" vrrp_garp_master_repeat 2", " garp_master_repeat 7"),
                "a.conf",
            ),
            (
                toml("vrrp_garp_master_repeat = 2", "garp_master_repeat = 7"),
                "a.toml",
            ),
        ] {
            let l = load(&text, file).unwrap_or_else(|e| panic!("{e}"));
            let repeats: Vec<u32> = l
                .config
                .instances
                .iter()
                .map(|i| i.garp_master_repeat)
                .collect();
            assert_eq!(repeats, [7, 2], "{file}");
            assert!(l.warnings.is_empty(), "{file}: {:?}", l.warnings);
        }
    }

    #[test]
    fn bad_global_garp_master_repeat_is_an_error_at_its_line() {
        for (text, file, line) in [
            (conf(" vrrp_garp_master_repeat 0", ""), "a.conf", 2),
            (toml("vrrp_garp_master_repeat = -1", ""), "a.toml", 2),
        ] {
            let e = load(&text, file).unwrap_err();
            assert_eq!(e.diagnostics.len(), 1, "{e}");
            let d = &e.diagnostics[0];
            assert_eq!((d.line, d.key.as_str()), (line, "vrrp_garp_master_repeat"));
            assert!(
                d.message
                    .contains("vrrp_garp_master_repeat must be a count from 1 to 2147483647"),
                "{d}"
            );
        }
    }

    /// (lower_prio_no_advert, garp_lower_prio_repeat) of each instance.
    fn lower_prio(l: &Loaded) -> Vec<(bool, u32)> {
        l.config
            .instances
            .iter()
            .map(|i| (i.lower_prio_no_advert, i.garp_lower_prio_repeat))
            .collect()
    }

    #[test]
    fn lower_prio_keywords_as_keepalived_reads_them() {
        for (text, file) in [
            (
                conf("", " lower_prio_no_advert\n garp_lower_prio_repeat 0"),
                "a.conf",
            ),
            (
                toml(
                    "",
                    "lower_prio_no_advert = true\ngarp_lower_prio_repeat = 0",
                ),
                "a.toml",
            ),
        ] {
            let l = load(&text, file).unwrap_or_else(|e| panic!("{e}"));
            // Alone, the switch means true; VI_2 has keepalived's defaults.
            assert_eq!(lower_prio(&l), [(true, 0), (false, 5)], "{file}");
            assert!(l.warnings.is_empty(), "{file}: {:?}", l.warnings);
        }
        for word in ["on", "yes", "true"] {
            let l = load(
                &conf("", &format!(" lower_prio_no_advert {word}")),
                "a.conf",
            )
            .unwrap();
            assert!(l.config.instances[0].lower_prio_no_advert, "{word}");
        }
        for word in ["off", "no", "false"] {
            let text = conf(
                " vrrp_lower_prio_no_advert",
                &format!(" lower_prio_no_advert {word}"),
            );
            let l = load(&text, "a.conf").unwrap();
            assert_eq!(lower_prio(&l), [(false, 5), (true, 5)], "{word}");
        }
    }

    #[test]
    fn global_lower_prio_defaults_apply_unless_an_instance_sets_its_own() {
        for (text, file) in [
            (
                conf(
                    " vrrp_lower_prio_no_advert true\n vrrp_garp_lower_prio_repeat 3",
                    " lower_prio_no_advert false\n garp_lower_prio_repeat 1",
                ),
                "a.conf",
            ),
            (
                toml(
                    "vrrp_lower_prio_no_advert = true\nvrrp_garp_lower_prio_repeat = 3",
                    "lower_prio_no_advert = false\ngarp_lower_prio_repeat = 1",
                ),
                "a.toml",
            ),
        ] {
            let l = load(&text, file).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(lower_prio(&l), [(false, 1), (true, 3)], "{file}");
            assert!(l.warnings.is_empty(), "{file}: {:?}", l.warnings);
        }
    }

    /// keepalived 2.2.7 (`keepalived -d`) with this file reports "Gratuitous ARP lower
    /// priority repeat = 3" for both instances: the global garp_master_repeat, not VI_1's own.
    #[test]
    fn garp_lower_prio_repeat_defaults_to_the_global_garp_master_repeat() {
        let text = conf(" vrrp_garp_master_repeat 3", " garp_master_repeat 2");
        let l = load(&text, "a.conf").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lower_prio(&l), [(false, 3), (false, 3)]);
        let repeats: Vec<u32> = l
            .config
            .instances
            .iter()
            .map(|i| i.garp_master_repeat)
            .collect();
        assert_eq!(repeats, [2, 3]);
    }

    #[test]
    fn bad_lower_prio_values_are_errors_at_their_line() {
        let cases = [
            (
                conf("", " lower_prio_no_advert True"),
                7,
                "lower_prio_no_advert",
                "lower_prio_no_advert takes true or false (or on/off, yes/no; alone it means \
                 true), got `True`",
                Some("true"),
            ),
            (
                conf(" vrrp_lower_prio_no_advert 1", ""),
                2,
                "vrrp_lower_prio_no_advert",
                "got `1`",
                None,
            ),
            (
                conf("", " garp_lower_prio_repeat -1"),
                7,
                "garp_lower_prio_repeat",
                "garp_lower_prio_repeat must be a count from 0 to 2147483647, got `-1`",
                None,
            ),
            (
                conf(" vrrp_garp_lower_prio_repeat 2147483648", ""),
                2,
                "vrrp_garp_lower_prio_repeat",
                "got `2147483648`",
                None,
            ),
        ];
        for (text, line, key, message, suggestion) in cases {
            let e = load(&text, "a.conf").unwrap_err();
            assert_eq!(e.diagnostics.len(), 1, "{e}");
            let d = &e.diagnostics[0];
            assert_eq!((d.line, d.key.as_str()), (line, key), "{d}");
            assert!(d.message.contains(message), "{d}\nwanted: {message}");
            assert_eq!(d.suggestion.as_deref(), suggestion, "{d}");
        }
    }
}
