//! vipd's route announcements in the config: the `route_instance` blocks and the
//! `route_table` keyword (of a route_instance or a vrrp_instance). Values as written in, typed
//! model out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::Report;
use super::model::{RouteInstance, VrrpInstance};
use super::raw::{RawRouteInstance, Val};
use super::tracking::{self, Tracking};
use super::values::{apply, must, seconds};

/// The longest `withdraw_delay`: longer only delays a stop, never serves anyone.
const WITHDRAW_DELAY_MAX: Duration = Duration::from_secs(3600);

/// `route_table N`: a table the kernel never consults for forwarding. 253, 254 and 255 are the
/// default, main and local tables (a route there would carry traffic), 0 is "unspecified".
pub(crate) fn table(v: &Val<String>, report: &mut Report) -> Option<u32> {
    let n = must(
        v,
        "route_table",
        "a table number from 1 to 4294967295",
        report,
        |s| s.parse::<u32>().ok().filter(|n| *n >= 1),
    )?;
    let name = match n {
        253 => "default",
        254 => "main",
        255 => "local",
        _ => return Some(n),
    };
    let why = format!(
        "route_table {n} is the kernel's `{name}` table, which routes traffic: vipd's routes \
         are a signal to a routing daemon and must go in a table no `ip rule` points at \
         (e.g. 200)"
    );
    report.error_at(v.at(), "route_table", why);
    None
}

/// Every `route_instance` that can run. Names are unique among route and VRRP instances (the
/// operator's requests name either), and a VIP belongs to one instance of either kind.
pub(crate) fn route_instances(
    raw: Vec<RawRouteInstance>,
    vrrp: &[VrrpInstance],
    tracking: &Tracking,
    report: &mut Report,
) -> Vec<RouteInstance> {
    let mut out = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut vips: HashMap<IpAddr, String> = HashMap::new();
    for r in raw {
        let name = &r.name;
        if vrrp.iter().any(|i| i.name == name.value) {
            let why = format!(
                "route_instance `{}` has the name of a vrrp_instance: names must be unique, \
                 vipctl maintenance finds instances by name",
                name.value
            );
            report.error_at(name.at(), "route_instance", why);
        } else if let Some(first) = names.get(&name.value) {
            let why = format!(
                "duplicate route_instance name `{}` (first defined on {})",
                name.value,
                report.line_ref(*first)
            );
            report.error_at(name.at(), "route_instance", why);
        } else {
            names.insert(name.value.clone(), name.line);
        }
        let Some(inst) = route_instance(&r, tracking, report) else {
            continue;
        };
        for (addr, words) in inst.virtual_ipaddress.iter().zip(&r.virtual_ipaddress) {
            let in_vrrp = vrrp.iter().find(|i| {
                (i.virtual_ipaddress.iter())
                    .chain(&i.virtual_ipaddress_excluded)
                    .any(|v| v.addr == *addr)
            });
            if let Some(i) = in_vrrp {
                let why = format!(
                    "{addr} is also a VIP of vrrp_instance {}: a VIP is held by one instance \
                     (give that one `route_table` to announce it as a route while master)",
                    i.name
                );
                report.error_at(words[0].at(), "virtual_ipaddress", why);
            }
            if let Some(other) = vips.insert(*addr, inst.name.clone()) {
                let why = format!(
                    "{addr} is already announced by route_instance {other}: a VIP belongs to \
                     one instance"
                );
                report.error_at(words[0].at(), "virtual_ipaddress", why);
            }
        }
        out.push(inst);
    }
    out
}

fn route_instance(
    raw: &RawRouteInstance,
    tracking: &Tracking,
    report: &mut Report,
) -> Option<RouteInstance> {
    let mut out = RouteInstance::with_defaults(&raw.name.value);
    let mut ok = apply(&mut out.priority, raw.priority.as_ref(), |p| {
        must(p, "priority", "a number from 1 to 255", report, |s| {
            s.parse::<u8>().ok().filter(|n| *n >= 1)
        })
    });
    ok &= apply(&mut out.route_table, raw.route_table.as_ref(), |v| {
        table(v, report)
    });
    ok &= apply(
        &mut out.route_interface,
        raw.route_interface.as_ref(),
        |v| {
            must(v, "route_interface", "an interface name", report, |s| {
                (!s.is_empty() && s.len() < 16 && !s.contains('/')).then(|| s.to_string())
            })
        },
    );
    ok &= apply(&mut out.withdraw_delay, raw.withdraw_delay.as_ref(), |v| {
        must(v, "withdraw_delay", "seconds from 0 to 3600", report, |s| {
            seconds(s).filter(|d| *d <= WITHDRAW_DELAY_MAX)
        })
    });
    for words in &raw.virtual_ipaddress {
        match host_vip(words, report) {
            Some(addr) if out.virtual_ipaddress.contains(&addr) => {
                let why = format!("{addr} is listed twice");
                report.error_at(words[0].at(), "virtual_ipaddress", why);
                ok = false;
            }
            Some(addr) => out.virtual_ipaddress.push(addr),
            None => ok = false,
        }
    }
    if raw.virtual_ipaddress.is_empty() {
        let why = format!(
            "route_instance {} has no virtual_ipaddress: it would announce nothing",
            raw.name.value
        );
        report.error_at(raw.name.at(), "virtual_ipaddress", why);
        ok = false;
    }
    match tracking::track_lists(&raw.tracks, tracking, report) {
        Some(t) => out.tracks = t,
        None => ok = false,
    }
    ok.then_some(out)
}

/// One `virtual_ipaddress` line of a route instance: `ADDR`, `ADDR/32` or `ADDR/128`, nothing
/// after it (a route instance announces host routes; `dev` is its `route_interface`).
fn host_vip(words: &[Val<String>], report: &mut Report) -> Option<IpAddr> {
    let first = words.first()?;
    if let Some(extra) = words.get(1) {
        let why = format!(
            "`{}` after {}: a route_instance's VIPs are held on its route_interface, \
             nothing follows the address",
            extra.value, first.value
        );
        report.error_at(extra.at(), "virtual_ipaddress", why);
        return None;
    }
    let (addr, prefix) = match first.value.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (first.value.as_str(), None),
    };
    let Ok(addr) = addr.parse::<IpAddr>() else {
        let why = format!("`{}` is not an IP address (IPv4 or IPv6)", first.value);
        report.error_at(first.at(), "virtual_ipaddress", why);
        return None;
    };
    let host = if addr.is_ipv6() { "128" } else { "32" };
    match prefix {
        None => Some(addr),
        Some(p) if p == host => Some(addr),
        Some(p) => {
            let why = format!(
                "`{}`: a route_instance announces host routes, so its VIPs are /{host} (the \
                 default), not /{p}",
                first.value
            );
            report.error_at(first.at(), "virtual_ipaddress", why);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::Diagnostic;
    use crate::config::testing::{ok, one_error};

    /// A keepalived route instance with `extra` lines from line 5 on.
    fn conf(extra: &str) -> String {
        format!(
            "vrrp_track_file maint {{\n file /tmp/vipd-maint\n}}\nroute_instance WEB {{\n\
             {extra}\n virtual_ipaddress {{\n 10.99.0.10\n }}\n}}\n"
        )
    }

    /// The same in TOML: `extra` lines from line 7 on.
    fn toml(extra: &str) -> String {
        format!(
            "[[vrrp_track_file]]\nname = \"maint\"\nfile = \"/tmp/vipd-maint\"\n\
             [[route_instance]]\nname = \"WEB\"\nvirtual_ipaddress = [\"10.99.0.10\"]\n{extra}\n"
        )
    }

    fn check(d: &Diagnostic, line: usize, key: &str, message: &str) {
        assert_eq!((d.line, d.key.as_str()), (line, key), "{d}");
        assert!(d.message.contains(message), "{d}\nwanted: {message}");
    }

    /// Both formats refuse the same value with the same message, at its line.
    fn both(ka: &str, tm: &str, key: &str, message: &str) {
        check(&one_error(&conf(ka), "a.conf"), 5, key, message);
        check(&one_error(&toml(tm), "a.toml"), 7, key, message);
    }

    #[test]
    fn both_formats_load_the_same_instance_with_defaults() {
        let ka = ok(&conf(" track_file {\n maint weight -60\n }"), "a.conf").config;
        let tm = ok(&toml("track_file = [\"maint weight -60\"]"), "a.toml").config;
        assert_eq!(ka.route_instances, tm.route_instances);
        let r = &ka.route_instances[0];
        assert_eq!(r.name, "WEB");
        assert_eq!(
            r.virtual_ipaddress,
            ["10.99.0.10".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!((r.priority, r.route_table), (100, 200));
        assert_eq!(r.route_interface, "lo");
        assert_eq!(r.withdraw_delay, Duration::from_secs(2));
        assert_eq!(r.tracks.track_file[0].weight, Some(-60));
        assert!(
            ka.instances.is_empty(),
            "a route instance alone is something to do"
        );
    }

    #[test]
    fn every_key_is_read() {
        let ka = " priority 150\n route_table 300\n route_interface dummy0\n withdraw_delay 0.5";
        let tm = "priority = 150\nroute_table = 300\nroute_interface = \"dummy0\"\n\
                  withdraw_delay = 0.5";
        let ka = ok(&conf(ka), "a.conf").config;
        let tm = ok(&toml(tm), "a.toml").config;
        assert_eq!(ka.route_instances, tm.route_instances);
        let r = &ka.route_instances[0];
        assert_eq!((r.priority, r.route_table), (150, 300));
        assert_eq!(r.route_interface, "dummy0");
        assert_eq!(r.withdraw_delay, Duration::from_millis(500));
    }

    #[test]
    fn priority_range() {
        both(
            " priority 0",
            "priority = 0",
            "priority",
            "from 1 to 255, got `0`",
        );
        both(" priority 256", "priority = 256", "priority", "got `256`");
    }

    #[test]
    fn tables_that_route_traffic_are_refused_with_the_reason() {
        for (n, name) in [(253, "default"), (254, "main"), (255, "local")] {
            both(
                &format!(" route_table {n}"),
                &format!("route_table = {n}"),
                "route_table",
                &format!("the kernel's `{name}` table, which routes traffic"),
            );
        }
        both(
            " route_table 0",
            "route_table = 0",
            "route_table",
            "got `0`",
        );
        both(
            " route_table 4294967296",
            "route_table = 4294967296",
            "route_table",
            "from 1 to 4294967295",
        );
    }

    #[test]
    fn only_host_addresses() {
        let e = one_error(&conf("").replace("10.99.0.10", "10.99.0.0/24"), "a.conf");
        check(&e, 7, "virtual_ipaddress", "are /32 (the default), not /24");
        let e = one_error(&toml("").replace("10.99.0.10", "2001:db8::1/64"), "a.toml");
        check(
            &e,
            6,
            "virtual_ipaddress",
            "are /128 (the default), not /64",
        );
        let e = one_error(
            &conf("").replace("10.99.0.10", "10.99.0.10 dev eth0"),
            "a.conf",
        );
        check(&e, 7, "virtual_ipaddress", "held on its route_interface");
        // Written /32 or /128 is the same host address.
        let c = ok(&conf("").replace("10.99.0.10", "10.99.0.10/32"), "a.conf").config;
        assert_eq!(c.route_instances[0].virtual_ipaddress.len(), 1);
    }

    #[test]
    fn a_vip_or_a_name_shared_with_another_instance() {
        let two = format!(
            "{}route_instance API {{\n virtual_ipaddress {{\n 10.99.0.10\n }}\n}}\n",
            conf("")
        );
        check(
            &one_error(&two, "a.conf"),
            12,
            "virtual_ipaddress",
            "already announced by route_instance WEB",
        );
        let clash = format!(
            "vrrp_instance WEB {{\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {{\n \
             10.0.0.1\n }}\n}}\n{}",
            conf("")
        );
        check(
            &one_error(&clash, "a.conf"),
            11,
            "route_instance",
            "has the name of a vrrp_instance",
        );
        let shared = format!(
            "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {{\n \
             10.99.0.10/24\n }}\n}}\n{}",
            conf("")
        );
        check(
            &one_error(&shared, "a.conf"),
            14,
            "virtual_ipaddress",
            "also a VIP of vrrp_instance VI_1",
        );
    }

    #[test]
    fn unknown_track_and_bad_delay() {
        both(
            " withdraw_delay 5000",
            "withdraw_delay = 5000",
            "withdraw_delay",
            "seconds from 0 to 3600",
        );
        let e = one_error(&conf(" track_file {\n mains\n }"), "a.conf");
        check(&e, 6, "mains", "unknown vrrp_track_file `mains`");
    }

    #[test]
    fn vrrp_instance_route_table() {
        let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n route_table 200\n \
                    virtual_ipaddress {\n 10.0.0.1\n }\n}\n";
        assert_eq!(
            ok(text, "a.conf").config.instances[0].route_table,
            Some(200)
        );
        let e = one_error(&text.replace("200", "254"), "a.conf");
        check(&e, 4, "route_table", "`main` table");
        let tm = "[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 51\n\
                  route_table = 255\nvirtual_ipaddress = [\"10.0.0.1\"]\n";
        check(&one_error(tm, "a.toml"), 5, "route_table", "`local` table");
    }

    #[test]
    fn a_misspelt_key_is_named_with_a_suggestion() {
        let e = one_error(&conf(" route_tabel 200"), "a.conf");
        assert_eq!(
            (e.line, e.suggestion.as_deref()),
            (5, Some("route_table")),
            "{e}"
        );
        let e = one_error(&toml("route_tabel = 200"), "a.toml");
        assert_eq!(
            (e.line, e.suggestion.as_deref()),
            (7, Some("route_table")),
            "{e}"
        );
    }
}
