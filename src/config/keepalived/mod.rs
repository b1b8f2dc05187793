//! keepalived.conf: the lines [`super::source`] made (includes, definitions and `@id` lines
//! already done) in, a [`RawConfig`] out, with every keyword's spelling checked.
//!
//! # Layout
//! - `lexer`: words, quoted strings and braces, comments as keepalived reads them.
//! - `tree`: statements (a keyword, the words after it, its block) and brace problems.
//! - `schema`: each statement against the keyword table: unknown, misplaced, skipped.
//! - `reader`: the blocks vipd reads, into [`RawConfig`].

mod lexer;
mod reader;
mod schema;
mod tree;

use super::Report;
use super::raw::RawConfig;
use super::source::Expanded;

/// Parses keepalived.conf lines, already through [`super::source`]. `None` only when nothing
/// usable came out (errors reported).
pub(crate) fn parse(expanded: Expanded, report: &mut Report) -> Option<RawConfig> {
    let Expanded {
        files,
        lines,
        notes,
        unmatched_includes,
    } = expanded;
    report.set_origins(
        files,
        lines.iter().map(|l| (l.file, l.number, l.shown.clone())),
    );
    for n in notes {
        let d = report.diag(n.at + 1, n.col, &n.key, n.message);
        if n.error {
            report.error(d);
        } else {
            report.warn(d);
        }
    }
    let toks = lexer::lex_lines(lines.iter().map(|l| l.text.as_str()), report);
    let tree = tree::parse_tree(toks, report);
    report.unmatched_includes = unmatched_includes
        .iter()
        .map(|&(at, col)| (at + 1, col))
        .collect();
    Some(reader::read(&tree, report))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::testing::{err, line_key_suggestion, ok};
    use crate::config::{Diagnostic, load_str};

    const MINIMAL: &str = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
                           virtual_ipaddress {\n  10.0.0.1\n }\n}\n";
    #[test]
    fn brace_on_its_own_line() {
        let l = ok(
            "vrrp_instance VI_1\n{\n interface eth0\n virtual_router_id 7\n \
                    virtual_ipaddress\n {\n 10.0.0.1/24\n }\n}",
            "t.conf",
        );
        let i = &l.config.instances[0];
        assert_eq!(i.virtual_router_id, 7);
        assert_eq!(i.virtual_ipaddress[0].prefix_len, 24);
    }

    #[test]
    fn minimal_defaults() {
        let l = ok(MINIMAL, "t.conf");
        let i = &l.config.instances[0];
        let mut want = crate::config::VrrpInstance::with_defaults("VI_1", "eth0", 51);
        want.virtual_ipaddress.push(crate::config::VirtualIp {
            addr: "10.0.0.1".parse().unwrap(),
            prefix_len: 32,
            dev: None,
            label: None,
        });
        assert_eq!(*i, want);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn every_supported_keyword() {
        let text = "global_defs {\n router_id lb1\n}\nvrrp_instance VI_1 {\n state MASTER\n \
                    interface eth0\n virtual_router_id 51\n priority 150\n advert_int 3\n \
                    nopreempt\n preempt_delay 10\n authentication {\n auth_type PASS\n \
                    auth_pass secret\n }\n virtual_ipaddress {\n 192.168.91.151/24 dev eth1 \
                    label eth1:1\n 10.0.0.5\n }\n unicast_src_ip 10.0.0.11\n unicast_peer {\n \
                    10.0.0.12\n 10.0.0.13\n }\n garp_master_delay 2\n garp_master_repeat 3\n \
                    garp_master_refresh 60\n}\n";
        let l = ok(text, "t.conf");
        assert_eq!(l.config.router_id.as_deref(), Some("lb1"));
        let i = &l.config.instances[0];
        assert_eq!(i.state, crate::config::InitialState::Master);
        assert_eq!(i.priority, 150);
        assert_eq!(i.advert_int, std::time::Duration::from_secs(3));
        // nopreempt with state MASTER is cleared, as keepalived does.
        assert!(i.preempt);
        assert_eq!(l.warnings[0].key, "nopreempt");
        assert_eq!(i.preempt_delay, std::time::Duration::from_secs(10));
        assert_eq!(i.auth_pass.as_deref(), Some(&b"secret"[..]));
        assert_eq!(i.virtual_ipaddress[0].dev.as_deref(), Some("eth1"));
        assert_eq!(i.virtual_ipaddress[0].label.as_deref(), Some("eth1:1"));
        assert_eq!(i.virtual_ipaddress[1].prefix_len, 32);
        assert_eq!(i.unicast_src_ip, Some("10.0.0.11".parse().unwrap()));
        assert_eq!(i.unicast_peer.len(), 2);
        assert_eq!(i.garp_master_delay, std::time::Duration::from_secs(2));
        assert_eq!(i.garp_master_repeat, 3);
        assert_eq!(
            i.garp_master_refresh,
            Some(std::time::Duration::from_secs(60))
        );
    }

    #[test]
    fn scripts_and_pools_are_read_without_warnings() {
        let text = format!(
            "{MINIMAL}vrrp_script chk {{\n script \"true\"\n interval 2\n}}\n\
             virtual_server 10.0.0.1 80 {{\n lb_algo rr\n real_server 10.0.0.2 80 {{\n \
             TCP_CHECK {{\n connect_timeout 3\n }}\n }}\n}}\n"
        );
        let l = ok(&text, "t.conf");
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert_eq!(l.config.virtual_servers.len(), 1);
        assert_eq!(
            l.config.vrrp_script[0].interval,
            std::time::Duration::from_secs(2)
        );
    }

    #[test]
    fn global_defs_ignored_keys_are_named() {
        let l = ok(
            &format!(
                "global_defs {{\n notification_email {{\n a@b\n }}\n smtp_server 127.0.0.1\n}}\n{MINIMAL}"
            ),
            "t.conf",
        );
        let keys: Vec<&str> = l.warnings.iter().map(|w| w.key.as_str()).collect();
        assert_eq!(keys, ["notification_email", "smtp_server"]);
        assert_eq!(
            l.warnings[1].to_string().lines().next().unwrap(),
            "t.conf:5:2: smtp_server: ignored: vipd does not send e-mail; use notify (old \
             configs often carry it: harmless)"
        );
    }

    #[test]
    fn legacy_names_get_a_note() {
        let l = ok(
            &format!(
                "{MINIMAL}virtual_server 10.0.0.1 80 {{\n real_server 10.0.0.2 80 {{\n TCP_CHECK {{\n \
             nb_get_retry 3\n }}\n }}\n}}\n"
            ),
            "t.conf",
        );
        let w = l.warnings.iter().find(|w| w.key == "nb_get_retry").unwrap();
        assert_eq!(w.line, 11);
        assert_eq!(
            w.message,
            "legacy name of `retry` (keepalived 2.2 still reads it); write `retry` when you \
             touch this block"
        );
    }

    #[test]
    fn unsupported_keyword_says_what_vipd_does_instead() {
        let l = ok(
            &MINIMAL.replace(
                " interface eth0\n",
                " interface eth0\n smtp_alert\n use_ipvlan\n",
            ),
            "t.conf",
        );
        let w: Vec<String> = l
            .warnings
            .iter()
            .map(|d| d.to_string().lines().next().unwrap().to_string())
            .collect();
        assert_eq!(
            w,
            [
                "t.conf:3:2: smtp_alert: ignored: vipd does not send e-mail; use notify",
                "t.conf:4:2: use_ipvlan: ignored: vipd has no ipvlan; use_vmac gives the instance \
                 a virtual MAC address",
            ]
        );
    }

    #[test]
    fn unknown_keywords_are_errors_with_suggestions() {
        let text = format!(
            "{MINIMAL}virtual_server 10.0.0.1 80 {{\n 1b_algo rr\n lb_kynd NAT\n real server 10.0.0.2 80 {{\n wieght 1\n }}\n}}\n"
        );
        let e = err(&text, "t.conf");
        assert_eq!(
            line_key_suggestion(&e),
            [
                (9, "1b_algo", Some("lb_algo")),
                (10, "lb_kynd", Some("lb_kind")),
                (11, "real server", Some("real_server")),
                (12, "wieght", Some("weight")),
            ]
        );
    }

    #[test]
    fn unknown_in_instance_suggests_instance_keyword() {
        let e = err(
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n virtual_ipaddres {\n 10.0.0.1\n }\n priorty 10\n}",
            "t.conf",
        );
        let d = &e.diagnostics[0];
        assert_eq!(
            (d.line, d.column, d.key.as_str()),
            (4, 2, "virtual_ipaddres")
        );
        assert_eq!(d.suggestion.as_deref(), Some("virtual_ipaddress"));
        assert_eq!(e.diagnostics[1].suggestion.as_deref(), Some("priority"));
    }

    #[test]
    fn display_has_source_line_and_caret() {
        let e = err(
            "vrrp_instance VI_1 {\n\tinterface eth0\n\tvirtual_router_id 5\n\t1b_algo rr\n}",
            "t.conf",
        );
        let d: &Diagnostic = &e.diagnostics[0];
        assert_eq!(
            d.to_string(),
            "t.conf:4:2: 1b_algo: unknown keyword `1b_algo` in vrrp_instance (did you mean \
             `lb_algo`?)\n    \t1b_algo rr\n    \t^^^^^^^"
        );
    }

    #[test]
    fn brace_errors() {
        let e = err(&format!("{MINIMAL}}}\n"), "t.conf");
        assert_eq!(e.diagnostics[0].line, 8);
        assert!(e.diagnostics[0].message.contains("closes no block"));
        let e = err(
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n",
            "t.conf",
        );
        assert!(e.diagnostics[0].message.contains("never closed"), "{e}");
        let e = err(&format!("{{\n}}\n{MINIMAL}"), "t.conf");
        assert!(
            e.diagnostics[0].message.contains("without a keyword"),
            "{e}"
        );
    }

    #[test]
    fn block_keyword_alone_without_brace_reads_the_next_lines_as_keepalived_does() {
        let e = err(
            &MINIMAL.replace("virtual_ipaddress {", "virtual_ipaddress"),
            "t.conf",
        );
        assert_eq!(e.diagnostics.len(), 1, "{e}");
        assert_eq!((e.diagnostics[0].line, e.diagnostics[0].column), (4, 2));
        assert!(e.diagnostics[0].message.contains("has no `{`"), "{e}");
        // `{` on the next line is fine, and a leaf keyword alone is not affected.
        ok(
            &MINIMAL.replace("virtual_ipaddress {", "virtual_ipaddress\n{"),
            "t.conf",
        );
        ok(
            &MINIMAL.replace(" interface eth0\n", " interface eth0\n nopreempt\n"),
            "t.conf",
        );
    }

    #[test]
    fn list_keyword_without_block_is_an_error() {
        let e = err(
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n track_interface eth0\n}",
            "t.conf",
        );
        assert_eq!(e.diagnostics[0].line, 4);
        assert!(e.diagnostics[0].message.contains("needs a block"));
    }

    #[test]
    fn extra_words_warn() {
        let l = ok(
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n state MASTER priority 200\n}",
            "t.conf",
        );
        assert_eq!(l.config.instances[0].priority, 100);
        assert!(
            l.warnings
                .iter()
                .any(|w| w.message.contains("extra words `priority 200` ignored"))
        );
    }

    #[test]
    fn keyword_in_wrong_block_warns() {
        let l = ok(
            &format!("global_defs {{\n garp_master_delay 5\n}}\n{MINIMAL}"),
            "t.conf",
        );
        assert!(
            l.warnings[0]
                .message
                .contains("it belongs in vrrp_instance")
        );
    }

    #[test]
    fn vrrp_version_and_version_as_keepalived_reads_them() {
        use crate::config::VrrpVersion::{V2, V3};
        let two =
            (MINIMAL.replace("VI_1", "VI_2").replace("51", "52")).replace("10.0.0.1", "10.0.0.2");
        let text = format!(
            "global_defs {{\n vrrp_version 3\n}}\n{MINIMAL}{}",
            two.replace(" interface eth0\n", " interface eth0\n version 2\n")
        );
        let l = ok(&text, "t.conf");
        let versions: Vec<_> = l.config.instances.iter().map(|i| i.version).collect();
        // The global default, and an instance's own version over it.
        assert_eq!(versions, [V3, V2]);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert_eq!(ok(MINIMAL, "t.conf").config.instances[0].version, V2);
        let e = err(
            &format!("global_defs {{\n vrrp_version 4\n}}\n{MINIMAL}"),
            "t.conf",
        );
        assert_eq!(
            e.diagnostics[0].to_string().lines().next().unwrap(),
            "t.conf:2:15: vrrp_version: vrrp_version must be 2 or 3, got `4`"
        );
        let e = err(
            &MINIMAL.replace(" interface eth0\n", " interface eth0\n version 3.0\n"),
            "t.conf",
        );
        assert_eq!(
            (e.diagnostics[0].line, e.diagnostics[0].key.as_str()),
            (3, "version")
        );
    }

    #[test]
    fn an_ipv6_instance_is_vrrpv3_whatever_the_file_says() {
        let text = MINIMAL
            .replace(" interface eth0\n", " interface eth0\n version 2\n")
            .replace("10.0.0.1", "fe80::1/64");
        let l = ok(
            &format!("global_defs {{\n vrrp_version 2\n}}\n{text}"),
            "t.conf",
        );
        assert_eq!(
            l.config.instances[0].version,
            crate::config::VrrpVersion::V3
        );
        assert!(l.config.instances[0].is_ipv6());
        let [w] = l.warnings.as_slice() else {
            panic!("{:?}", l.warnings)
        };
        assert_eq!(
            w.to_string().lines().next().unwrap(),
            "t.conf:6:10: version: vrrp_instance VI_1 is IPv6 (its first virtual_ipaddress is \
             fe80::1), and VRRPv2 is IPv4 only: it runs VRRPv3, as keepalived does (write \
             `version 3`)"
        );
    }

    #[test]
    fn all_errors_at_once() {
        let e = err(
            "sudo x\nvrrp_instance VI_1 {\n state SLAVE\n interface eth0\n \
                     virtual_router_id 0\n priority 300\n}\nEOF",
            "t.conf",
        );
        let lines: Vec<usize> = e.diagnostics.iter().map(|d| d.line).collect();
        assert_eq!(lines, [1, 3, 5, 6, 8], "{e}");
    }

    proptest::proptest! {
        /// Whatever the bytes, loading gives a config or diagnostics, never a panic.
        #[test]
        fn never_panics_on_arbitrary_text(text in "\\PC*") {
            let _ = load_str(&text, Path::new("p.conf"));
        }

        /// Nor on keepalived-looking soup: keywords, braces, quotes, comments, CRLF.
        #[test]
        fn never_panics_on_keyword_soup(parts in proptest::collection::vec(proptest::sample::select(vec![
            "vrrp_instance", "VI_1", "{", "}", "\n", "\r\n", "\t", " ", "#", "!", "\"", "\\#",
            "interface", "eth0", "virtual_router_id", "51", "0", "300", "virtual_ipaddress",
            "10.0.0.1/24", "fe80::1", "dev", "label", "authentication", "auth_type", "PASS", "AH",
            "auth_pass", "unicast_peer", "virtual_server", "real", "server", "1b_algo", "state",
            "MASTER", "global_defs", "router_id", "track_script", "include", "é", "主",
        ]), 0..60)) {
            let text: String = parts.concat();
            let _ = load_str(&text, Path::new("p.conf"));
            let _ = load_str(&text, Path::new("p.toml"));
        }
    }
}
