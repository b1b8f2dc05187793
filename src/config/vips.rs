//! What the `virtual_ipaddress` lists must satisfy beyond each line: at most 255 addresses in
//! one instance (what one advert carries), and no address in two instances.
//!
//! keepalived 2.2.7 enforces neither at load: it moves addresses past the 255th to
//! `virtual_ipaddress_excluded` (announced, never advertised; `keepalived -t` reports it),
//! and it accepts one address in two instances, which then add and delete it under each
//! other. vipd refuses both, naming the line: moving addresses behind the user's back hides a
//! mistake. An excluded address counts as the instance's in the second rule.

use std::collections::HashMap;
use std::net::IpAddr;

use super::Report;
use super::model::VrrpInstance;
use super::raw::{RawInstance, Val};

/// RFC 3768 §5.3.5: "Count IP Addrs" is one octet, so an advert lists at most 255 addresses;
/// receivers (keepalived, vipd) discard an advert whose list is not the one they have.
const MAX_PER_INSTANCE: usize = 255;

/// An error at the first address past [`MAX_PER_INSTANCE`], if any.
pub(crate) fn count(raw: &RawInstance, report: &mut Report) {
    let Some(first_extra) = raw.virtual_ipaddress.get(MAX_PER_INSTANCE) else {
        return;
    };
    let at = first_extra
        .first()
        .map_or((raw.name.line, raw.name.col), |w| (w.line, w.col));
    report.error_at(
        (at.0, at.1),
        "virtual_ipaddress",
        format!(
            "vrrp_instance {} has {} addresses in virtual_ipaddress, and an advert carries at \
             most {MAX_PER_INSTANCE} (RFC 3768 §5.3.5), so its peers would discard every \
             advert; this is the first one too many. Move the rest to another vrrp_instance \
             (or list them in virtual_ipaddress_excluded, where keepalived moves them)",
            raw.name.value,
            raw.virtual_ipaddress.len()
        ),
    );
}

/// Where each address of an instance is written, in list order (the VIPs, then the excluded
/// ones), for [`Holders::add`].
pub(crate) fn written_at(raw: &RawInstance) -> Vec<(usize, usize)> {
    (raw.virtual_ipaddress.iter())
        .chain(&raw.virtual_ipaddress_excluded)
        .map(|words| {
            words
                .first()
                .map_or((0, 0), |w: &Val<String>| (w.line, w.col))
        })
        .collect()
}

/// The instance that lists each address first, and the line where it does.
#[derive(Debug, Default)]
pub(crate) struct Holders {
    by_addr: HashMap<IpAddr, (String, usize)>,
}

impl Holders {
    /// Records the addresses of `inst`, written at `at` (from [`written_at`]); one that another
    /// instance already lists is an error here. The same name twice is reported as a
    /// duplicate instance already, and an address repeated in one list is harmless (Debian's
    /// keepalived.conf.vrrp sample does it), so neither counts.
    pub(crate) fn add(&mut self, inst: &VrrpInstance, at: &[(usize, usize)], report: &mut Report) {
        let all = (inst.virtual_ipaddress.iter()).chain(&inst.virtual_ipaddress_excluded);
        for (vip, &(line, col)) in all.zip(at) {
            match self.by_addr.get(&vip.addr) {
                Some((other, first)) if *other != inst.name => {
                    report.error_at(
                        (line, col),
                        "virtual_ipaddress",
                        format!(
                            "{} is in vrrp_instance {} and already in vrrp_instance {other} \
                             ({}): each would add and delete it as its own state changes; list \
                             it in one instance only",
                            vip.addr,
                            inst.name,
                            report.line_ref(*first)
                        ),
                    );
                }
                Some(_) => {}
                None => {
                    self.by_addr.insert(vip.addr, (inst.name.clone(), line));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::testing::{load, one_error};

    /// A keepalived instance; its VIPs, one per line, start on line 5.
    fn conf(name: &str, vrid: u8, vips: &[String]) -> String {
        format!(
            "vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n \
             virtual_ipaddress {{\n{}\n }}\n}}\n",
            vips.join("\n")
        )
    }

    /// `n` distinct addresses from 10.1.0.1 on.
    fn addresses(n: usize) -> Vec<String> {
        (1..=n)
            .map(|i| format!(" 10.1.{}.{}", i / 250, i % 250 + 1))
            .collect()
    }

    #[test]
    fn at_most_255_addresses_per_instance() {
        let l = load(&conf("VI_1", 1, &addresses(255)), "a.conf").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.config.instances[0].virtual_ipaddress.len(), 255);
        let d = one_error(&conf("VI_1", 1, &addresses(300)), "a.conf");
        // The 256th address, on line 5 + 255.
        assert_eq!(
            (d.line, d.column, d.key.as_str()),
            (260, 2, "virtual_ipaddress"),
            "{d}"
        );
        assert!(
            d.message.starts_with(
                "vrrp_instance VI_1 has 300 addresses in virtual_ipaddress, and an advert \
                 carries at most 255 (RFC 3768 §5.3.5)"
            ),
            "{d}"
        );
        let list: Vec<String> = addresses(256)
            .iter()
            .map(|a| format!("\"{}\"", a.trim()))
            .collect();
        let text = format!(
            "[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 1\n\
             virtual_ipaddress = [\n{}\n]\n",
            list.join(",\n")
        );
        let d = one_error(&text, "a.toml");
        assert_eq!(
            (d.line, d.key.as_str()),
            (6 + 255, "virtual_ipaddress"),
            "{d}"
        );
    }

    #[test]
    fn an_address_in_two_instances_names_both() {
        let vi1 = conf("VI_1", 1, &[" 10.0.0.1/24".into(), " 10.0.0.2".into()]);
        let vi2 = conf(
            "VI_2",
            2,
            &[" 10.0.0.3".into(), " 10.0.0.1/32 dev eth1".into()],
        );
        let d = one_error(&format!("{vi1}{vi2}"), "a.conf");
        assert_eq!(
            (d.line, d.column, d.key.as_str()),
            (14, 2, "virtual_ipaddress"),
            "{d}"
        );
        assert_eq!(
            d.message,
            "10.0.0.1 is in vrrp_instance VI_2 and already in vrrp_instance VI_1 (line 5): each \
             would add and delete it as its own state changes; list it in one instance only"
        );
        let text = "[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\n\
                    virtual_router_id = 1\nvirtual_ipaddress = [\"10.0.0.1\"]\n\
                    [[vrrp_instance]]\nname = \"VI_2\"\ninterface = \"eth1\"\n\
                    virtual_router_id = 1\nvirtual_ipaddress = [\"10.0.0.1/24\"]\n";
        let d = one_error(text, "a.toml");
        assert_eq!((d.line, d.key.as_str()), (10, "virtual_ipaddress"), "{d}");
        assert!(
            d.message.contains("already in vrrp_instance VI_1 (line 5)"),
            "{d}"
        );
    }

    #[test]
    fn an_excluded_address_counts_as_the_instance_s() {
        let vi1 = conf("VI_1", 1, &[" 10.0.0.1".into()]).replace(
            " virtual_ipaddress {",
            " virtual_ipaddress_excluded {\n 2001:db8::9\n }\n virtual_ipaddress {",
        );
        let vi2 = conf("VI_2", 2, &[" 10.0.0.2".into()]).replace(
            " virtual_ipaddress {",
            " virtual_ipaddress_excluded {\n 2001:db8::9/64\n }\n virtual_ipaddress {",
        );
        let d = one_error(&format!("{vi1}{vi2}"), "a.conf");
        assert_eq!((d.line, d.key.as_str()), (15, "virtual_ipaddress"), "{d}");
        assert!(
            d.message.starts_with(
                "2001:db8::9 is in vrrp_instance VI_2 and already in vrrp_instance VI_1 (line 5)"
            ),
            "{d}"
        );
    }

    #[test]
    fn an_address_twice_in_one_instance_is_not_counted() {
        // As Debian's keepalived.conf.vrrp sample: once plain, once with a label.
        let vips = [
            " 10.0.0.1".to_string(),
            " 10.0.0.1 label eth0:1".to_string(),
        ];
        let l = load(&conf("VI_1", 1, &vips), "a.conf").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.config.instances[0].virtual_ipaddress.len(), 2);
    }
}
