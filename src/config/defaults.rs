//! `global_defs` keywords that set a default for every `vrrp_instance`, and how they combine
//! with an instance's own keyword and keepalived's built-in default.
//!
//! The model holds the result, so the daemon never looks at `global_defs`. Values come as
//! written (from either loader), are checked once at the global line, and an instance's own
//! keyword always wins. A global keyword applies to every instance wherever `global_defs`
//! stands in the file (keepalived copies `vrrp_garp_master_repeat` into the instances that
//! follow it only; `global_defs` comes first in practice).

use super::Report;
use super::model::VrrpInstance;
use super::validate::Val;

/// The global defaults as written in `global_defs`.
#[derive(Debug, Default)]
pub(crate) struct RawDefaults {
    /// `vrrp_garp_master_repeat`.
    pub(crate) vrrp_garp_master_repeat: Option<Val<String>>,
}

/// The global defaults, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Defaults {
    /// Every instance's `garp_master_repeat` unless it sets its own.
    pub(crate) garp_master_repeat: u32,
}

impl Default for Defaults {
    /// keepalived's built-in values, which [`VrrpInstance::with_defaults`] also holds.
    fn default() -> Self {
        let builtin = VrrpInstance::with_defaults("", "", 0);
        Self {
            garp_master_repeat: builtin.garp_master_repeat,
        }
    }
}

/// Checks the global defaults; a bad one is an error at its line and the built-in value
/// stands in for it, so that each instance is still checked.
pub(crate) fn global(raw: &RawDefaults, report: &mut Report) -> Defaults {
    let mut out = Defaults::default();
    if let Some(v) = &raw.vrrp_garp_master_repeat
        && let Some(n) = count(v, "vrrp_garp_master_repeat", 1, report)
    {
        out.garp_master_repeat = n;
    }
    out
}

/// A count of at least `min` (keepalived reads them as C `int`s, so at most `i32::MAX`).
pub(crate) fn count(v: &Val<String>, key: &str, min: u32, report: &mut Report) -> Option<u32> {
    match v.value.parse::<u32>() {
        Ok(n) if n >= min && i32::try_from(n).is_ok() => Some(n),
        _ => {
            let d = report.diag(
                v.line,
                v.col,
                key,
                format!(
                    "{key} must be a count from {min} to {}, got `{}`",
                    i32::MAX,
                    v.value
                ),
            );
            report.error(d);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{ConfigError, Loaded, load_str};

    fn load(text: &str, file: &str) -> Result<Loaded, ConfigError> {
        load_str(text, Path::new(file))
    }

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
}
