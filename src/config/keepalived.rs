//! keepalived.conf syntax: a lexer, a block parser, and the walk that turns the blocks vipd
//! understands into a [`RawConfig`] and checks the spelling of every other keyword. It reads
//! the lines [`super::source`] made (includes, definitions and `@id` lines already done).
//!
//! What the lexer accepts, as keepalived 2.2 does: `#` and `!` start a comment anywhere
//! outside quotes (`\#` and `\!` escape them); `{` and `}` are words of their own, so
//! `vrrp_instance VI_1{` and `track_script { chk }` work; a `{` alone on a line opens the
//! block of the statement before it; tabs, CRLF and a missing final newline are fine. A
//! keyword that always takes a block, alone on its line with no `{` after it, gets the
//! following lines up to the next `}` as its block, as in keepalived (and an error).
//!
//! A statement is a keyword and the words after it up to the end of the line (or a brace).
//! Blocks vipd does not implement yet (`bfd_instance`, `garp_group`...) are accepted with a
//! warning, but their keywords are still checked against keepalived's, so a typo such as
//! `1b_algo` is an error with a suggestion instead of a silently broken load balancer.

use super::raw::{
    RawCheck, RawCheckDefaults, RawConfig, RawInstance, RawRealServer, RawScript, RawSyncGroup,
    RawTrackFile, RawTrackProcess, RawUrl, RawVirtualServer, Val,
};
use super::source::Expanded;
use super::tracking::join_command;
use super::virtual_server::CHECKERS;
use super::{Report, suggest, unsupported};

/// What a lexer token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A bare word.
    Word,
    /// A `"quoted string"` (without its quotes).
    Quoted,
    /// `{`.
    Open,
    /// `}`.
    Close,
}

/// One token with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tok {
    kind: Kind,
    text: String,
    line: usize,
    col: usize,
}

impl Tok {
    fn val(&self) -> Val<String> {
        Val::new(self.text.clone(), self.line, self.col)
    }

    fn at(&self) -> (usize, usize) {
        (self.line, self.col)
    }
}

/// Splits `text` into tokens; comment and quoting problems go to `report`.
#[cfg(test)]
fn lex(text: &str, report: &mut Report) -> Vec<Tok> {
    lex_lines(text.split('\n'), report)
}

/// Splits lines into tokens (line numbers count from 1); comment and quoting problems go to
/// `report`.
fn lex_lines<'a>(lines: impl Iterator<Item = &'a str>, report: &mut Report) -> Vec<Tok> {
    let mut toks = Vec::new();
    for (i, raw_line) in lines.enumerate() {
        let line = i + 1;
        let chars: Vec<char> = raw_line
            .strip_suffix('\r')
            .unwrap_or(raw_line)
            .chars()
            .collect();
        let mut pos = 0;
        while pos < chars.len() {
            let c = chars[pos];
            let col = pos + 1;
            if c.is_whitespace() {
                pos += 1;
            } else if c == '#' || c == '!' {
                if pos > 0
                    && !chars[pos - 1].is_whitespace()
                    && !matches!(chars[pos - 1], '{' | '}')
                {
                    let word_start = chars[..pos]
                        .iter()
                        .rposition(|c| c.is_whitespace())
                        .map_or(0, |p| p + 1);
                    let word: String = chars[word_start..]
                        .iter()
                        .take_while(|c| !c.is_whitespace())
                        .collect();
                    report.warn_at(
                        (line, word_start + 1),
                        &word,
                        format!(
                            "`{c}` starts a comment, so `{word}` is read as `{}` (as keepalived \
                             does); write `\\{c}` or quote the value if `{c}` belongs to it",
                            chars[word_start..pos].iter().collect::<String>()
                        ),
                    );
                }
                break;
            } else if c == '{' || c == '}' {
                toks.push(Tok {
                    kind: if c == '{' { Kind::Open } else { Kind::Close },
                    text: c.to_string(),
                    line,
                    col,
                });
                pos += 1;
            } else if c == '"' {
                let start = pos + 1;
                match chars[start..].iter().position(|&c| c == '"') {
                    Some(len) => {
                        toks.push(Tok {
                            kind: Kind::Quoted,
                            text: chars[start..start + len].iter().collect(),
                            line,
                            col,
                        });
                        pos = start + len + 1;
                    }
                    None => {
                        report.error_at((line, col), "\"", "unterminated quoted string");
                        toks.push(Tok {
                            kind: Kind::Quoted,
                            text: chars[start..].iter().collect(),
                            line,
                            col,
                        });
                        pos = chars.len();
                    }
                }
            } else {
                let mut word = String::new();
                while pos < chars.len() {
                    let c = chars[pos];
                    if c == '\\' && matches!(chars.get(pos + 1), Some('#' | '!')) {
                        word.push(chars[pos + 1]);
                        pos += 2;
                        continue;
                    }
                    if c.is_whitespace() || matches!(c, '#' | '!' | '{' | '}' | '"') {
                        break;
                    }
                    word.push(c);
                    pos += 1;
                }
                toks.push(Tok {
                    kind: Kind::Word,
                    text: word,
                    line,
                    col,
                });
            }
        }
    }
    toks
}

/// A keyword, the words after it on its line, and its `{ ... }` block if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stmt {
    key: Tok,
    args: Vec<Tok>,
    block: Option<Vec<Stmt>>,
}

impl Stmt {
    fn arg(&self, i: usize) -> Option<&Tok> {
        self.args.get(i)
    }
}

/// Builds the statement tree; brace problems go to `report`.
fn parse_tree(toks: Vec<Tok>, report: &mut Report) -> Vec<Stmt> {
    // Open blocks: the statement that owns each, and the items gathered so far.
    let mut stack: Vec<(Stmt, Vec<Stmt>)> = Vec::new();
    let mut root: Vec<Stmt> = Vec::new();
    let mut pending: Option<Stmt> = None;

    fn items<'a>(stack: &'a mut [(Stmt, Vec<Stmt>)], root: &'a mut Vec<Stmt>) -> &'a mut Vec<Stmt> {
        match stack.last_mut() {
            Some((_, items)) => items,
            None => root,
        }
    }

    for tok in toks {
        // `virtual_ipaddress` alone on its line and no `{` on the next: keepalived reads the
        // lines that follow as its block, up to the next `}`; so does vipd, so that only the
        // missing `{` is reported, not every line after it.
        if tok.kind != Kind::Open
            && let Some(stmt) = pending.take_if(|p| {
                p.args.is_empty()
                    && p.key.kind == Kind::Word
                    && p.key.line != tok.line
                    && always_block(&p.key.text)
            })
        {
            report.error_at(
                stmt.key.at(),
                &stmt.key.text,
                format!(
                    "`{}` has no `{{`: keepalived reads the lines after it as its block, up \
                     to the next `}}`, and so does vipd; add the `{{`",
                    stmt.key.text
                ),
            );
            stack.push((stmt, Vec::new()));
        }
        match tok.kind {
            Kind::Word | Kind::Quoted => match &mut pending {
                Some(stmt) if stmt.key.line == tok.line => stmt.args.push(tok),
                _ => {
                    if let Some(done) = pending.take() {
                        items(&mut stack, &mut root).push(done);
                    }
                    pending = Some(Stmt {
                        key: tok,
                        args: Vec::new(),
                        block: None,
                    });
                }
            },
            Kind::Open => match pending.take() {
                Some(stmt) => stack.push((stmt, Vec::new())),
                None => {
                    report.error_at(tok.at(), "{", "`{` without a keyword before it");
                    let anon = Stmt {
                        key: tok,
                        args: Vec::new(),
                        block: None,
                    };
                    stack.push((anon, Vec::new()));
                }
            },
            Kind::Close => {
                if let Some(done) = pending.take() {
                    items(&mut stack, &mut root).push(done);
                }
                match stack.pop() {
                    Some((mut owner, body)) => {
                        owner.block = Some(body);
                        items(&mut stack, &mut root).push(owner);
                    }
                    None => {
                        report.error_at(
                            tok.at(),
                            "}",
                            "`}` closes no block (one `{` too few above, or one `}` too many)",
                        );
                    }
                }
            }
        }
    }
    if let Some(done) = pending.take() {
        items(&mut stack, &mut root).push(done);
    }
    while let Some((mut owner, body)) = stack.pop() {
        report.error_at(
            owner.key.at(),
            &owner.key.text,
            format!(
                "the block of `{}` is never closed (missing `}}`)",
                owner.key.text
            ),
        );
        owner.block = Some(body);
        items(&mut stack, &mut root).push(owner);
    }
    root
}

/// What may follow a keyword.
#[derive(Debug, Clone, Copy)]
enum Body {
    /// Values on the same line only.
    Leaf,
    /// A block of free-form lines (addresses, names, e-mail addresses).
    List,
    /// A block of keywords.
    Block(&'static [(&'static str, Body)]),
}

use Body::{Block, Leaf, List};

/// keepalived's top-level keywords.
const TOP: &[(&str, Body)] = &[
    ("global_defs", Block(GLOBAL_DEFS)),
    ("vrrp_instance", Block(VRRP_INSTANCE)),
    ("vrrp_script", Block(VRRP_SCRIPT)),
    ("vrrp_sync_group", Block(SYNC_GROUP)),
    ("virtual_server", Block(VIRTUAL_SERVER)),
    ("virtual_server_group", List),
    ("static_ipaddress", List),
    ("static_routes", List),
    ("static_rules", List),
    ("track_file", Block(TRACK_FILE)),
    ("vrrp_track_file", Block(TRACK_FILE)),
    ("track_process", Block(TRACK_PROCESS)),
    ("vrrp_track_process", Block(TRACK_PROCESS)),
    ("garp_group", Block(GARP_GROUP)),
    ("bfd_instance", Block(BFD_INSTANCE)),
    ("linkbeat_interfaces", List),
    ("include", Leaf),
    ("net_namespace", Leaf),
    ("net_namespace_ipvs", Leaf),
    ("namespace_with_ipsets", Leaf),
    ("instance", Leaf),
    ("use_pid_dir", Leaf),
    ("linkbeat_use_polling", Leaf),
];

const GLOBAL_DEFS: &[(&str, Body)] = &[
    ("router_id", Leaf),
    ("metrics_listen", Leaf),
    ("notification_email", List),
    ("notification_email_from", Leaf),
    ("smtp_server", Leaf),
    ("smtp_helo_name", Leaf),
    ("smtp_connect_timeout", Leaf),
    ("smtp_alert", Leaf),
    ("smtp_alert_vrrp", Leaf),
    ("smtp_alert_checker", Leaf),
    ("checker_log_all_failures", Leaf),
    ("enable_script_security", Leaf),
    ("script_user", Leaf),
    ("lvs_id", Leaf),
    ("lvs_sync_daemon", Leaf),
    ("lvs_timeouts", Leaf),
    ("lvs_flush", Leaf),
    ("lvs_flush_on_stop", Leaf),
    ("vrrp_mcast_group4", Leaf),
    ("vrrp_mcast_group6", Leaf),
    ("vrrp_garp_master_delay", Leaf),
    ("vrrp_garp_master_repeat", Leaf),
    ("vrrp_garp_master_refresh", Leaf),
    ("vrrp_garp_master_refresh_repeat", Leaf),
    ("vrrp_garp_lower_prio_delay", Leaf),
    ("vrrp_garp_lower_prio_repeat", Leaf),
    ("vrrp_garp_interval", Leaf),
    ("vrrp_gna_interval", Leaf),
    ("vrrp_min_garp", Leaf),
    ("vrrp_lower_prio_no_advert", Leaf),
    ("vrrp_higher_prio_send_advert", Leaf),
    ("vrrp_version", Leaf),
    ("vrrp_iptables", Leaf),
    ("vrrp_ipsets", Leaf),
    ("nftables", Leaf),
    ("nftables_priority", Leaf),
    ("nftables_counters", Leaf),
    ("nftables_ifindex", Leaf),
    ("vrrp_check_unicast_src", Leaf),
    ("vrrp_skip_check_adv_addr", Leaf),
    ("vrrp_strict", Leaf),
    ("vrrp_priority", Leaf),
    ("checker_priority", Leaf),
    ("bfd_priority", Leaf),
    ("vrrp_no_swap", Leaf),
    ("checker_no_swap", Leaf),
    ("bfd_no_swap", Leaf),
    ("vrrp_rt_priority", Leaf),
    ("checker_rt_priority", Leaf),
    ("bfd_rt_priority", Leaf),
    ("vrrp_rlimit_rttime", Leaf),
    ("checker_rlimit_rttime", Leaf),
    ("vrrp_cpu_affinity", Leaf),
    ("checker_cpu_affinity", Leaf),
    ("max_auto_priority", Leaf),
    ("min_auto_priority_delay", Leaf),
    ("notify_fifo", Leaf),
    ("notify_fifo_script", Leaf),
    ("vrrp_notify_fifo", Leaf),
    ("vrrp_notify_fifo_script", Leaf),
    ("lvs_notify_fifo", Leaf),
    ("lvs_notify_fifo_script", Leaf),
    ("vrrp_notify_priority_changes", Leaf),
    ("dynamic_interfaces", Leaf),
    ("vrrp_netlink_cmd_rcv_bufs", Leaf),
    ("vrrp_netlink_cmd_rcv_bufs_force", Leaf),
    ("vrrp_netlink_monitor_rcv_bufs", Leaf),
    ("vrrp_netlink_monitor_rcv_bufs_force", Leaf),
    ("lvs_netlink_cmd_rcv_bufs", Leaf),
    ("lvs_netlink_monitor_rcv_bufs", Leaf),
    ("vrrp_rx_bufs_policy", Leaf),
    ("vrrp_rx_bufs_multiplier", Leaf),
    ("vrrp_startup_delay", Leaf),
    ("vrrp_garp_extra_if", Leaf),
    ("vrrp_dont_track_primary", Leaf),
    ("process_names", Leaf),
    ("process_name", Leaf),
    ("vrrp_process_name", Leaf),
    ("checker_process_name", Leaf),
    ("bfd_process_name", Leaf),
    ("default_interface", Leaf),
    ("net_namespace", Leaf),
    ("instance", Leaf),
    ("use_pid_dir", Leaf),
    ("linkbeat_use_polling", Leaf),
    ("umask", Leaf),
    ("random_seed", Leaf),
    ("tmp_config_directory", Leaf),
    ("no_email_faults", Leaf),
    ("snmp_socket", Leaf),
    ("enable_traps", Leaf),
    ("enable_snmp_vrrp", Leaf),
    ("enable_snmp_keepalived", Leaf),
    ("enable_snmp_checker", Leaf),
    ("enable_snmp_rfc", Leaf),
    ("enable_snmp_rfcv2", Leaf),
    ("enable_snmp_rfcv3", Leaf),
    ("enable_dbus", Leaf),
    ("dbus_service_name", Leaf),
    ("reload_check_config", Leaf),
    ("reload_time_file", Leaf),
    ("reload_repeat", Leaf),
    ("reload_file", Leaf),
    ("disable_local_igmp", Leaf),
    ("child_wait_time", Leaf),
    ("fifo_write_vrrp_states_on_reload", Leaf),
    ("vrrp_track_process", Leaf),
    ("mem_check", Leaf),
    ("mem_check_log_all", Leaf),
    ("config_test", Leaf),
    ("log_unknown_vrids", Leaf),
    ("script_security", Leaf),
];

/// `vrrp_instance` keywords vipd reads; the rest of [`VRRP_INSTANCE`] is ignored with a warning.
const VRRP_INSTANCE_HANDLED: &[&str] = &[
    "state",
    "interface",
    "virtual_router_id",
    "priority",
    "advert_int",
    "nopreempt",
    "preempt",
    "preempt_delay",
    "authentication",
    "virtual_ipaddress",
    "unicast_src_ip",
    "unicast_peer",
    "garp_master_delay",
    "garp_master_repeat",
    "garp_master_refresh",
    "garp_lower_prio_repeat",
    "lower_prio_no_advert",
    "version",
    "track_script",
    "track_interface",
    "track_file",
    "track_process",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify",
];

const VRRP_INSTANCE: &[(&str, Body)] = &[
    ("state", Leaf),
    ("interface", Leaf),
    ("virtual_router_id", Leaf),
    ("priority", Leaf),
    ("advert_int", Leaf),
    ("nopreempt", Leaf),
    ("preempt", Leaf),
    ("preempt_delay", Leaf),
    ("authentication", Block(AUTHENTICATION)),
    ("virtual_ipaddress", List),
    ("unicast_src_ip", Leaf),
    ("unicast_peer", List),
    ("garp_master_delay", Leaf),
    ("garp_master_repeat", Leaf),
    ("garp_master_refresh", Leaf),
    ("version", Leaf),
    ("garp_master_refresh_repeat", Leaf),
    ("garp_lower_prio_delay", Leaf),
    ("garp_lower_prio_repeat", Leaf),
    ("lower_prio_no_advert", Leaf),
    ("higher_prio_send_advert", Leaf),
    ("virtual_ipaddress_excluded", List),
    ("virtual_routes", List),
    ("virtual_rules", List),
    ("track_interface", List),
    ("track_script", List),
    ("track_file", List),
    ("track_process", List),
    ("track_bfd", List),
    ("track_src_ip", Leaf),
    ("mcast_src_ip", Leaf),
    ("unicast_ttl", Leaf),
    ("unicast_fault_no_peer", Leaf),
    ("old_unicast_checksum", Leaf),
    ("check_unicast_src", Leaf),
    ("dont_track_primary", Leaf),
    ("skip_check_adv_addr", Leaf),
    ("strict_mode", Leaf),
    ("use_vmac", Leaf),
    ("vmac_xmit_base", Leaf),
    ("use_ipvlan", Leaf),
    ("native_ipv6", Leaf),
    ("accept", Leaf),
    ("no_accept", Leaf),
    ("notify_master", Leaf),
    ("notify_backup", Leaf),
    ("notify_fault", Leaf),
    ("notify_stop", Leaf),
    ("notify_deleted", Leaf),
    ("notify", Leaf),
    ("notify_master_rx_lower_pri", Leaf),
    ("notify_priority_changes", Leaf),
    ("smtp_alert", Leaf),
    ("lvs_sync_daemon_interface", Leaf),
    ("debug", Leaf),
    ("linkbeat_use_polling", Leaf),
    ("kernel_rx_buf_size", Leaf),
    ("down_timer_adverts", Leaf),
    ("garp_extra_if", Leaf),
];

const AUTHENTICATION: &[(&str, Body)] = &[("auth_type", Leaf), ("auth_pass", Leaf)];

const VRRP_SCRIPT: &[(&str, Body)] = &[
    ("script", Leaf),
    ("interval", Leaf),
    ("timeout", Leaf),
    ("weight", Leaf),
    ("rise", Leaf),
    ("fall", Leaf),
    ("user", Leaf),
    ("init_fail", Leaf),
];

const SYNC_GROUP: &[(&str, Body)] = &[
    ("group", List),
    ("notify_master", Leaf),
    ("notify_backup", Leaf),
    ("notify_fault", Leaf),
    ("notify_stop", Leaf),
    ("notify", Leaf),
    ("smtp_alert", Leaf),
    ("global_tracking", Leaf),
    ("sync_group_tracking_weight", Leaf),
    ("track_interface", List),
    ("track_script", List),
    ("track_file", List),
    ("track_process", List),
    ("track_bfd", List),
];

const TRACK_FILE: &[(&str, Body)] = &[("file", Leaf), ("weight", Leaf), ("init_file", Leaf)];

const TRACK_PROCESS: &[(&str, Body)] = &[
    ("process", Leaf),
    ("param_match", Leaf),
    ("weight", Leaf),
    ("quorum", Leaf),
    ("quorum_max", Leaf),
    ("fork_delay", Leaf),
    ("terminate_delay", Leaf),
    ("delay", Leaf),
    ("full_command", Leaf),
];

const GARP_GROUP: &[(&str, Body)] = &[
    ("garp_interval", Leaf),
    ("gna_interval", Leaf),
    ("interface", Leaf),
    ("interfaces", List),
];

const BFD_INSTANCE: &[(&str, Body)] = &[
    ("source_ip", Leaf),
    ("neighbor_ip", Leaf),
    ("min_rx", Leaf),
    ("min_tx", Leaf),
    ("idle_tx", Leaf),
    ("multiplier", Leaf),
    ("passive", Leaf),
    ("ttl", Leaf),
    ("hoplimit", Leaf),
    ("max_hops", Leaf),
    ("weight", Leaf),
];

const VIRTUAL_SERVER: &[(&str, Body)] = &[
    ("delay_loop", Leaf),
    ("lb_algo", Leaf),
    ("lvs_sched", Leaf),
    ("lb_kind", Leaf),
    ("lvs_method", Leaf),
    ("persistence_timeout", Leaf),
    ("persistence_granularity", Leaf),
    ("persistence_engine", Leaf),
    ("protocol", Leaf),
    ("ha_suspend", Leaf),
    ("ops", Leaf),
    ("virtualhost", Leaf),
    ("sorry_server", Leaf),
    ("sorry_server_inhibit", Leaf),
    ("sorry_server_lvs_method", Leaf),
    ("real_server", Block(REAL_SERVER)),
    ("quorum", Leaf),
    ("quorum_up", Leaf),
    ("quorum_down", Leaf),
    ("hysteresis", Leaf),
    ("alpha", Leaf),
    ("omega", Leaf),
    ("inhibit_on_failure", Leaf),
    ("retry", Leaf),
    ("delay_before_retry", Leaf),
    ("warmup", Leaf),
    ("connect_timeout", Leaf),
    ("ip_family", Leaf),
    ("smtp_alert", Leaf),
    ("nat_mask", Leaf),
    ("mh-fallback", Leaf),
    ("mh-port", Leaf),
    ("sh-fallback", Leaf),
    ("sh-port", Leaf),
    ("flag-1", Leaf),
    ("flag-2", Leaf),
    ("flag-3", Leaf),
    ("one_packet_scheduling", Leaf),
    ("tunnel_encap", Leaf),
    ("tunnel_port", Leaf),
    ("tunnel_nocsum", Leaf),
    ("tunnel_csum", Leaf),
    ("tunnel_remcsum", Leaf),
];

const REAL_SERVER: &[(&str, Body)] = &[
    ("weight", Leaf),
    ("inhibit_on_failure", Leaf),
    ("notify_up", Leaf),
    ("notify_down", Leaf),
    ("uthreshold", Leaf),
    ("lthreshold", Leaf),
    ("alpha", Leaf),
    ("retry", Leaf),
    ("delay_before_retry", Leaf),
    ("warmup", Leaf),
    ("delay_loop", Leaf),
    ("connect_timeout", Leaf),
    ("smtp_alert", Leaf),
    ("virtualhost", Leaf),
    ("lvs_method", Leaf),
    ("lb_kind", Leaf),
    ("tunnel_encap", Leaf),
    ("tunnel_port", Leaf),
    ("tunnel_nocsum", Leaf),
    ("tunnel_csum", Leaf),
    ("tunnel_remcsum", Leaf),
    ("TCP_CHECK", Block(CHECKER)),
    ("HTTP_GET", Block(CHECKER)),
    ("SSL_GET", Block(CHECKER)),
    ("MISC_CHECK", Block(CHECKER)),
    ("SMTP_CHECK", Block(CHECKER)),
    ("DNS_CHECK", Block(CHECKER)),
    ("UDP_CHECK", Block(CHECKER)),
    ("PING_CHECK", Block(CHECKER)),
    ("FILE_CHECK", Block(CHECKER)),
    ("BFD_CHECK", Block(CHECKER)),
];

/// The keywords of all health checkers (TCP_CHECK, HTTP_GET, MISC_CHECK...), merged.
const CHECKER: &[(&str, Body)] = &[
    ("connect_ip", Leaf),
    ("connect_port", Leaf),
    ("bindto", Leaf),
    ("bind_port", Leaf),
    ("bind_if", Leaf),
    ("connect_timeout", Leaf),
    ("retry", Leaf),
    ("nb_get_retry", Leaf),
    ("delay_before_retry", Leaf),
    ("warmup", Leaf),
    ("fwmark", Leaf),
    ("delay_loop", Leaf),
    ("alpha", Leaf),
    ("log_all_failures", Leaf),
    ("url", Block(URL)),
    ("virtualhost", Leaf),
    ("http_protocol", Leaf),
    ("enable_sni", Leaf),
    ("fast_recovery", Leaf),
    ("tls_compliant", Leaf),
    ("misc_path", Leaf),
    ("misc_timeout", Leaf),
    ("misc_dynamic", Leaf),
    ("user", Leaf),
    ("helo_name", Leaf),
    ("host", Block(HOST)),
    ("type", Leaf),
    ("name", Leaf),
    ("payload", Leaf),
    ("require_reply", Leaf),
    ("min_reply_length", Leaf),
    ("max_reply_length", Leaf),
    ("track_file", Leaf),
    ("file", Leaf),
    ("weight", Leaf),
    // vipd extension: successes needed before a down server is up again (default 1).
    ("rise", Leaf),
];

/// `SMTP_CHECK { host { ... } }`.
const HOST: &[(&str, Body)] = &[
    ("connect_ip", Leaf),
    ("connect_port", Leaf),
    ("bindto", Leaf),
    ("bind_port", Leaf),
    ("bind_if", Leaf),
    ("connect_timeout", Leaf),
    ("fwmark", Leaf),
];

const URL: &[(&str, Body)] = &[
    ("path", Leaf),
    ("digest", Leaf),
    ("status_code", Leaf),
    ("virtualhost", Leaf),
    ("regex", Leaf),
    ("regex_no_match", Leaf),
    ("regex_options", Leaf),
    ("regex_stack", Leaf),
    ("regex_min_offset", Leaf),
    ("regex_max_offset", Leaf),
];

/// Every schema, for "known, but not here" and suggestions from anywhere.
const ALL: &[(&str, &[(&str, Body)])] = &[
    ("the top level", TOP),
    ("global_defs", GLOBAL_DEFS),
    ("vrrp_instance", VRRP_INSTANCE),
    ("authentication", AUTHENTICATION),
    ("vrrp_script", VRRP_SCRIPT),
    ("vrrp_sync_group", SYNC_GROUP),
    ("track_file", TRACK_FILE),
    ("track_process", TRACK_PROCESS),
    ("garp_group", GARP_GROUP),
    ("bfd_instance", BFD_INSTANCE),
    ("virtual_server", VIRTUAL_SERVER),
    ("real_server", REAL_SERVER),
    ("a health checker", CHECKER),
    ("host", HOST),
    ("url", URL),
];

/// Keywords keepalived once had and 2.2 no longer knows; accepted with a warning.
const OBSOLETE: &[&str] = &["lvs_id", "nat_mask"];

/// Whether `name` takes a `{ ... }` block wherever keepalived knows it.
fn always_block(name: &str) -> bool {
    let mut found = ALL.iter().filter_map(|(_, s)| lookup(s, name)).peekable();
    found.peek().is_some() && found.all(|b| matches!(b, List | Block(_)))
}

fn names(schema: &[(&'static str, Body)]) -> Vec<&'static str> {
    schema.iter().map(|(n, _)| *n).collect()
}

fn lookup(schema: &[(&'static str, Body)], name: &str) -> Option<Body> {
    schema.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

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
    let toks = lex_lines(lines.iter().map(|l| l.text.as_str()), report);
    let tree = parse_tree(toks, report);
    report.unmatched_includes = unmatched_includes
        .iter()
        .map(|&(at, col)| (at + 1, col))
        .collect();
    let mut raw = RawConfig::default();
    for stmt in &tree {
        top(stmt, &mut raw, report);
    }
    Some(raw)
}

fn top(stmt: &Stmt, raw: &mut RawConfig, report: &mut Report) {
    match stmt.key.text.as_str() {
        "global_defs" => {
            if let Some(items) = block_of(stmt, report) {
                global_defs(items, raw, report);
            }
        }
        "vrrp_instance" => {
            if let Some(inst) = vrrp_instance(stmt, report) {
                raw.instances.push(inst);
            }
        }
        "virtual_server" => {
            if let Some(vs) = virtual_server(stmt, report) {
                raw.virtual_servers.push(vs);
            }
        }
        "vrrp_script" => {
            if let Some(s) = vrrp_script(stmt, report) {
                raw.tracking.scripts.push(s);
            }
        }
        "vrrp_track_file" | "track_file" => {
            if let Some(f) = vrrp_track_file(stmt, report) {
                raw.tracking.files.push(f);
            }
        }
        "vrrp_track_process" | "track_process" => {
            if let Some(p) = vrrp_track_process(stmt, report) {
                raw.tracking.processes.push(p);
            }
        }
        "vrrp_sync_group" => {
            if let Some(g) = vrrp_sync_group(stmt, report) {
                raw.tracking.sync_groups.push(g);
            }
        }
        "include" => {
            // A well-formed `include FILE` never gets here: `source` replaced it by the files.
            report.error_at(
                stmt.key.at(),
                "include",
                format!(
                    "include takes exactly one file pattern, got {} words (quote a path that \
                     has blanks); keepalived ignores this line",
                    stmt.args.len()
                ),
            );
        }
        _ => keyword(stmt, TOP, "the top level", report),
    }
}

/// The block of a statement that must have one.
fn block_of<'a>(stmt: &'a Stmt, report: &mut Report) -> Option<&'a [Stmt]> {
    match &stmt.block {
        Some(items) => Some(items),
        None => {
            report.error_at(
                stmt.key.at(),
                &stmt.key.text,
                format!(
                    "`{}` needs a block `{{ ... }}`; keepalived would read the following lines \
                     as its contents",
                    stmt.key.text
                ),
            );
            None
        }
    }
}

/// A keyword vipd does not read: known ones are warned about (and their blocks checked),
/// unknown ones are errors with a suggestion.
fn keyword(stmt: &Stmt, schema: &'static [(&'static str, Body)], place: &str, report: &mut Report) {
    let key = &stmt.key;
    let top_level = std::ptr::eq(schema, TOP);
    match lookup(schema, &key.text) {
        Some(body) => {
            if top_level {
                report.warn_at(
                    key.at(),
                    &key.text,
                    unsupported::ignored(&key.text, "not supported by this vipd version"),
                );
            } else if let Some(note) = unsupported::renamed(&key.text) {
                // Inside a block vipd skips, an old name is still worth a note for later.
                report.warn_at(key.at(), &key.text, note);
            }
            check_body(stmt, body, report);
        }
        None if OBSOLETE.contains(&key.text.as_str()) => {
            report.warn_at(
                key.at(),
                &key.text,
                unsupported::ignored(
                    &key.text,
                    "obsolete keepalived keyword (keepalived 2.2 ignores it too)",
                ),
            );
        }
        None => {
            if key.kind == Kind::Word
                && let Some((elsewhere, body)) = ALL
                    .iter()
                    .find_map(|(p, s)| lookup(s, &key.text).map(|b| (*p, b)))
            {
                report.warn_at(
                    key.at(),
                    &key.text,
                    format!(
                        "ignored: not valid in {place} (it belongs in {elsewhere}); keepalived \
                         ignores it here too"
                    ),
                );
                check_body(stmt, body, report);
                return;
            }
            unknown(stmt, schema, place, report);
        }
    }
}

/// An unknown keyword: an error, with a suggestion from this block's keywords (or any).
fn unknown(stmt: &Stmt, schema: &'static [(&'static str, Body)], place: &str, report: &mut Report) {
    let key = &stmt.key;
    let next = stmt.arg(0).map(|t| t.text.as_str());
    let here = names(schema);
    let mut suggestion = suggest::keyword(&key.text, next, &here);
    if suggestion.is_none() {
        let all: Vec<&str> = ALL.iter().flat_map(|(_, s)| names(s)).collect();
        suggestion = suggest::keyword(&key.text, next, &all);
    }
    // `real server` is one keyword written as two words: show both in the key.
    let shown = match (&suggestion, stmt.arg(0)) {
        (Some(s), Some(n))
            if n.line == key.line
                && (*s == format!("{}_{}", key.text, n.text)
                    || *s == format!("{}{}", key.text, n.text)) =>
        {
            let gap = n.col.saturating_sub(key.col + key.text.chars().count());
            format!("{}{}{}", key.text, " ".repeat(gap), n.text)
        }
        _ => key.text.clone(),
    };
    let mut message = format!("unknown keyword `{shown}` in {place}");
    if place == "vrrp_sync_group" {
        message.push_str("; instance names go inside `group { ... }`");
    }
    report.error_at(key.at(), &shown, message).suggestion = suggestion.clone();
    // Check the block as the keyword that was meant, so later typos show up too.
    if let Some(body) = suggestion.and_then(|s| lookup(schema, &s))
        && stmt.block.is_some()
    {
        check_body(stmt, body, report);
    }
}

/// Checks what follows a known keyword against its schema.
fn check_body(stmt: &Stmt, body: Body, report: &mut Report) {
    match body {
        Leaf => {}
        List => {
            block_of(stmt, report);
        }
        Block(schema) => {
            if let Some(items) = block_of(stmt, report) {
                for item in items {
                    keyword(item, schema, &stmt.key.text, report);
                }
            }
        }
    }
}

fn global_defs(items: &[Stmt], raw: &mut RawConfig, report: &mut Report) {
    for stmt in items {
        let key = &stmt.key;
        match key.text.as_str() {
            "router_id" => {
                if let Some(v) = value(stmt, report) {
                    raw.router_id = Some(v);
                }
            }
            // vipd's own keyword: keepalived has no metrics page.
            "metrics_listen" => {
                if let Some(v) = value(stmt, report) {
                    raw.metrics_listen = Some(v);
                }
            }
            "vrrp_version" => {
                if stmt.arg(0).is_some_and(|v| v.text != "2") {
                    version_error(stmt, report);
                }
            }
            "script_user" => raw.tracking.script_user = words(stmt, 1, 2, report),
            "vrrp_garp_master_repeat" => {
                raw.defaults.vrrp_garp_master_repeat = value(stmt, report);
            }
            "vrrp_garp_lower_prio_repeat" => {
                raw.defaults.vrrp_garp_lower_prio_repeat = value(stmt, report);
            }
            "vrrp_lower_prio_no_advert" => {
                raw.defaults.vrrp_lower_prio_no_advert = switch(stmt, report);
            }
            "enable_script_security" => {
                extra_words(stmt, 0, report);
                raw.tracking.enable_script_security = true;
            }
            name if lookup(GLOBAL_DEFS, name).is_some() => {
                report.warn_at(
                    key.at(),
                    name,
                    unsupported::ignored(name, "vipd does not use this global_defs setting"),
                );
                check_body(stmt, lookup(GLOBAL_DEFS, name).unwrap_or(Leaf), report);
            }
            _ => keyword(stmt, GLOBAL_DEFS, "global_defs", report),
        }
    }
}

fn version_error(stmt: &Stmt, report: &mut Report) {
    let v = stmt.arg(0).map_or("", |t| t.text.as_str());
    report.error_at(
        stmt.key.at(),
        &stmt.key.text,
        format!("VRRP version {v} is not supported: vipd speaks VRRPv2 (RFC 3768) only"),
    );
}

/// The single value of `key VALUE`; extra words are warned about, a missing one is an error.
fn value(stmt: &Stmt, report: &mut Report) -> Option<Val<String>> {
    let Some(v) = stmt.arg(0) else {
        report.error_at(
            stmt.key.at(),
            &stmt.key.text,
            format!("`{}` needs a value", stmt.key.text),
        );
        return None;
    };
    extra_words(stmt, 1, report);
    Some(v.val())
}

/// A keepalived switch: `KEY` alone means true, else its one word as written (`true`, `off`...).
fn switch(stmt: &Stmt, report: &mut Report) -> Option<Val<String>> {
    extra_words(stmt, 1, report);
    Some(match stmt.arg(0) {
        Some(v) => v.val(),
        None => Val::new("true".to_string(), stmt.key.line, stmt.key.col),
    })
}

/// Warns about words after the `n` a keyword takes (keepalived ignores them too).
fn extra_words(stmt: &Stmt, n: usize, report: &mut Report) {
    if let Some(extra) = stmt.args.get(n) {
        let words: Vec<&str> = stmt.args[n..].iter().map(|t| t.text.as_str()).collect();
        report.warn_at(
            extra.at(),
            &stmt.key.text,
            format!(
                "extra words `{}` ignored, as keepalived does; put each keyword on its own line",
                words.join(" ")
            ),
        );
    }
}

fn vrrp_instance(stmt: &Stmt, report: &mut Report) -> Option<RawInstance> {
    let Some(name) = stmt.arg(0) else {
        report.error_at(
            stmt.key.at(),
            "vrrp_instance",
            "vrrp_instance needs a name (`vrrp_instance VI_1 { ... }`)",
        );
        return None;
    };
    extra_words(stmt, 1, report);
    let items = block_of(stmt, report)?;
    let mut inst = RawInstance {
        name: name.val(),
        ..RawInstance::default()
    };
    for item in items {
        let key = &item.key;
        match key.text.as_str() {
            "state" => inst.state = value(item, report),
            "interface" => inst.interface = value(item, report),
            "virtual_router_id" => inst.virtual_router_id = value(item, report),
            "priority" => inst.priority = value(item, report),
            "advert_int" => inst.advert_int = value(item, report),
            "preempt_delay" => inst.preempt_delay = value(item, report),
            "unicast_src_ip" => inst.unicast_src_ip = value(item, report),
            "garp_master_delay" => inst.garp_master_delay = value(item, report),
            "garp_master_repeat" => inst.garp_master_repeat = value(item, report),
            "garp_master_refresh" => inst.garp_master_refresh = value(item, report),
            "garp_lower_prio_repeat" => inst.garp_lower_prio_repeat = value(item, report),
            "lower_prio_no_advert" => inst.lower_prio_no_advert = switch(item, report),
            "nopreempt" | "preempt" => {
                extra_words(item, 0, report);
                inst.nopreempt = Some(Val::new(key.text == "nopreempt", key.line, key.col));
            }
            "version" => {
                if item.arg(0).is_some_and(|v| v.text != "2") {
                    version_error(item, report);
                }
            }
            "authentication" => {
                for a in block_of(item, report).unwrap_or_default() {
                    match a.key.text.as_str() {
                        "auth_type" => inst.auth_type = value(a, report),
                        "auth_pass" => inst.auth_pass = value(a, report),
                        _ => keyword(a, AUTHENTICATION, "authentication", report),
                    }
                }
            }
            "virtual_ipaddress" => {
                for a in block_of(item, report).unwrap_or_default() {
                    let mut words = vec![a.key.val()];
                    words.extend(a.args.iter().map(Tok::val));
                    inst.virtual_ipaddress.push(words);
                }
            }
            "unicast_peer" => {
                for a in block_of(item, report).unwrap_or_default() {
                    extra_words(a, 0, report);
                    inst.unicast_peer.push(a.key.val());
                }
            }
            "track_script" | "track_interface" | "track_file" | "track_process" => {
                let lines = block_lines(item, report);
                if let Some(slot) = inst.tracks.slot(&key.text) {
                    slot.extend(lines);
                }
            }
            name if inst.notify.slot(name).is_some() => {
                let line = rest_of_line(item, report);
                if let Some(slot) = inst.notify.slot(name) {
                    *slot = line;
                }
            }
            name if lookup(VRRP_INSTANCE, name).is_some() => {
                debug_assert!(!VRRP_INSTANCE_HANDLED.contains(&name));
                report.warn_at(
                    key.at(),
                    name,
                    unsupported::ignored(name, "not supported by this vipd version"),
                );
                check_body(item, lookup(VRRP_INSTANCE, name).unwrap_or(Leaf), report);
            }
            _ => keyword(item, VRRP_INSTANCE, "vrrp_instance", report),
        }
    }
    Some(inst)
}

/// A keyword of a known block that vipd does not act on: a warning naming it.
fn ignored(item: &Stmt, schema: &'static [(&'static str, Body)], place: &str, report: &mut Report) {
    let name = item.key.text.as_str();
    match lookup(schema, name) {
        Some(body) => {
            report.warn_at(
                item.key.at(),
                name,
                format!("ignored: vipd does not use `{name}` in {place}"),
            );
            check_body(item, body, report);
        }
        None => keyword(item, schema, place, report),
    }
}

/// A flag keyword (no value): present = true.
fn flag(item: &Stmt, report: &mut Report) -> Option<Val<bool>> {
    extra_words(item, 0, report);
    Some(Val::new(true, item.key.line, item.key.col))
}

/// The checker defaults (`connect_timeout`, `retry`...) any of these blocks may hold; true
/// when `item` was one.
fn check_default(item: &Stmt, d: &mut RawCheckDefaults, report: &mut Report) -> bool {
    match item.key.text.as_str() {
        "connect_timeout" => d.connect_timeout = value(item, report),
        "retry" | "nb_get_retry" => {
            if let Some(note) = unsupported::renamed(&item.key.text) {
                report.warn_at(item.key.at(), &item.key.text, note);
            }
            d.retry = value(item, report);
        }
        "delay_before_retry" => d.delay_before_retry = value(item, report),
        "delay_loop" => d.delay_loop = value(item, report),
        _ => return false,
    }
    true
}

fn virtual_server(stmt: &Stmt, report: &mut Report) -> Option<RawVirtualServer> {
    let items = block_of(stmt, report)?;
    let mut vs = RawVirtualServer {
        key: stmt.key.val(),
        addr: stmt.args.iter().map(Tok::val).collect(),
        ..RawVirtualServer::default()
    };
    for item in items {
        match item.key.text.as_str() {
            "delay_loop" => vs.delay_loop = value(item, report),
            "lb_algo" | "lvs_sched" => vs.lb_algo = value(item, report),
            "lb_kind" | "lvs_method" => vs.lb_kind = value(item, report),
            "persistence_timeout" => vs.persistence_timeout = value(item, report),
            "protocol" => vs.protocol = value(item, report),
            "sorry_server" => vs.sorry_server = Some(item.args.iter().map(Tok::val).collect()),
            "quorum" => vs.quorum = value(item, report),
            "hysteresis" => vs.hysteresis = value(item, report),
            "alpha" => vs.alpha = flag(item, report),
            "omega" => vs.omega = flag(item, report),
            "real_server" => {
                if let Some(rs) = real_server(item, report) {
                    vs.real_servers.push(rs);
                }
            }
            _ if check_default(item, &mut vs.defaults, report) => {}
            _ => ignored(item, VIRTUAL_SERVER, "virtual_server", report),
        }
    }
    Some(vs)
}

fn real_server(stmt: &Stmt, report: &mut Report) -> Option<RawRealServer> {
    let mut rs = RawRealServer {
        key: stmt.key.val(),
        addr: stmt.args.iter().map(Tok::val).collect(),
        ..RawRealServer::default()
    };
    // `real_server IP PORT` without a block is valid keepalived: no checker, weight 1.
    let Some(items) = &stmt.block else {
        return Some(rs);
    };
    for item in items {
        let name = item.key.text.as_str();
        match name {
            "weight" => rs.weight = value(item, report),
            "inhibit_on_failure" => rs.inhibit_on_failure = flag(item, report),
            "notify_up" => rs.notify_up = command(item, report),
            "notify_down" => rs.notify_down = command(item, report),
            _ if CHECKERS.contains(&name) => {
                if let Some(c) = checker(item, report) {
                    rs.checks.push(c);
                }
            }
            _ if check_default(item, &mut rs.defaults, report) => {}
            _ if name.ends_with("_CHECK") || name == "SSL_GET" => {
                report.warn_at(
                    item.key.at(),
                    name,
                    "ignored: vipd runs TCP_CHECK, HTTP_GET and MISC_CHECK only; without \
                     another checker this real server counts as always up",
                );
                check_body(item, lookup(REAL_SERVER, name).unwrap_or(Leaf), report);
            }
            _ => ignored(item, REAL_SERVER, "real_server", report),
        }
    }
    Some(rs)
}

/// A program and its arguments as one line: `notify_up "/bin/x up"` or `notify_up /bin/x up`.
fn command(item: &Stmt, report: &mut Report) -> Option<Val<String>> {
    let first = item.arg(0).or_else(|| {
        report.error_at(
            item.key.at(),
            &item.key.text,
            format!("`{}` needs a program to run", item.key.text),
        );
        None
    })?;
    let words: Vec<String> = item
        .args
        .iter()
        .map(|t| {
            if t.kind == Kind::Quoted && item.args.len() > 1 {
                format!("\"{}\"", t.text)
            } else {
                t.text.clone()
            }
        })
        .collect();
    Some(Val::new(words.join(" "), first.line, first.col))
}

fn checker(stmt: &Stmt, report: &mut Report) -> Option<RawCheck> {
    let items = block_of(stmt, report)?;
    let mut c = RawCheck {
        kind: stmt.key.val(),
        ..RawCheck::default()
    };
    for item in items {
        match item.key.text.as_str() {
            "connect_ip" => c.connect_ip = value(item, report),
            "connect_port" => c.connect_port = value(item, report),
            "rise" => c.rise = value(item, report),
            "misc_path" => c.misc_path = command(item, report),
            "misc_timeout" => c.misc_timeout = value(item, report),
            "user" => c.user = words(item, 1, 2, report),
            "url" => {
                let mut u = RawUrl {
                    key: item.key.val(),
                    ..RawUrl::default()
                };
                for a in block_of(item, report).unwrap_or_default() {
                    match a.key.text.as_str() {
                        "path" => u.path = value(a, report),
                        "status_code" => u.status_code = value(a, report),
                        "digest" => u.digest = value(a, report),
                        _ => ignored(a, URL, "url", report),
                    }
                }
                c.urls.push(u);
            }
            _ if check_default(item, &mut c.defaults, report) => {}
            _ => ignored(item, CHECKER, &stmt.key.text, report),
        }
    }
    Some(c)
}

/// A keyword inside a block vipd reads: a known one it does not act on is warned about,
/// anything else goes through [`keyword`] (error with a suggestion).
fn unhandled(
    stmt: &Stmt,
    schema: &'static [(&'static str, Body)],
    place: &str,
    report: &mut Report,
) {
    match lookup(schema, &stmt.key.text) {
        Some(body) => {
            report.warn_at(
                stmt.key.at(),
                &stmt.key.text,
                format!("ignored in {place}: not supported by this vipd version"),
            );
            check_body(stmt, body, report);
        }
        None => keyword(stmt, schema, place, report),
    }
}

/// The words of each line of a list block (`track_script { chk weight -20 }`).
fn block_lines(stmt: &Stmt, report: &mut Report) -> Vec<Vec<Val<String>>> {
    block_of(stmt, report)
        .unwrap_or_default()
        .iter()
        .map(|line| {
            let mut words = vec![line.key.val()];
            words.extend(line.args.iter().map(Tok::val));
            words
        })
        .collect()
}

/// Everything after the keyword, as one command line (`notify_master "/x.sh a"` or
/// `notify_master /x.sh a`).
fn rest_of_line(stmt: &Stmt, report: &mut Report) -> Option<Val<String>> {
    let first = value_required(stmt, report)?;
    // A single (usually quoted) token is a whole command line as keepalived reads it; several
    // words are joined so that they split back into the same argv.
    let line = match stmt.args.as_slice() {
        [only] => only.text.clone(),
        words => join_command(&words.iter().map(|t| t.text.clone()).collect::<Vec<_>>()),
    };
    Some(Val::new(line, first.line, first.col))
}

fn value_required<'a>(stmt: &'a Stmt, report: &mut Report) -> Option<&'a Tok> {
    let v = stmt.arg(0);
    if v.is_none() {
        report.error_at(
            stmt.key.at(),
            &stmt.key.text,
            format!("`{}` needs a value", stmt.key.text),
        );
    }
    v
}

/// `key A [B]`: between `min` and `max` words.
fn words(stmt: &Stmt, min: usize, max: usize, report: &mut Report) -> Option<Vec<Val<String>>> {
    if stmt.args.len() < min {
        value_required(stmt, report)?;
    }
    extra_words(stmt, max, report);
    Some(stmt.args.iter().take(max).map(Tok::val).collect())
}

/// The name after a block keyword (`vrrp_script chk_nginx {`).
fn block_name(stmt: &Stmt, example: &str, report: &mut Report) -> Option<Val<String>> {
    let Some(name) = stmt.arg(0) else {
        report.error_at(
            stmt.key.at(),
            &stmt.key.text,
            format!("{} needs a name (`{example}`)", stmt.key.text),
        );
        return None;
    };
    extra_words(stmt, 1, report);
    Some(name.val())
}

fn vrrp_script(stmt: &Stmt, report: &mut Report) -> Option<RawScript> {
    let name = block_name(stmt, "vrrp_script chk_nginx { ... }", report)?;
    let mut out = RawScript {
        name,
        ..RawScript::default()
    };
    for item in block_of(stmt, report)? {
        match item.key.text.as_str() {
            "script" => out.script = rest_of_line(item, report),
            "interval" => out.interval = value(item, report),
            "timeout" => out.timeout = value(item, report),
            "weight" => {
                out.weight = item.arg(0).map(Tok::val);
                if item.arg(1).is_some_and(|t| t.text == "reverse") {
                    report.warn_at(item.key.at(), "weight", "`reverse` is not supported by this vipd version: the weight applies as written");
                }
            }
            "rise" => out.rise = value(item, report),
            "fall" => out.fall = value(item, report),
            "user" => out.user = words(item, 1, 2, report),
            "init_fail" => {
                extra_words(item, 0, report);
                out.init_fail = true;
            }
            _ => unhandled(item, VRRP_SCRIPT, "vrrp_script", report),
        }
    }
    Some(out)
}

fn vrrp_track_file(stmt: &Stmt, report: &mut Report) -> Option<RawTrackFile> {
    let name = block_name(
        stmt,
        "vrrp_track_file maint { file /etc/vipd/maint }",
        report,
    )?;
    let mut out = RawTrackFile {
        name,
        ..RawTrackFile::default()
    };
    for item in block_of(stmt, report)? {
        match item.key.text.as_str() {
            "file" => out.file = value(item, report),
            "weight" => out.weight = value(item, report),
            _ => unhandled(item, TRACK_FILE, &stmt.key.text, report),
        }
    }
    Some(out)
}

fn vrrp_track_process(stmt: &Stmt, report: &mut Report) -> Option<RawTrackProcess> {
    let name = block_name(stmt, "vrrp_track_process nginx { process nginx }", report)?;
    let mut out = RawTrackProcess {
        name,
        ..RawTrackProcess::default()
    };
    for item in block_of(stmt, report)? {
        match item.key.text.as_str() {
            "process" => out.process = rest_of_line(item, report),
            "weight" => out.weight = value(item, report),
            "quorum" => out.quorum = value(item, report),
            "full_command" => {
                extra_words(item, 0, report);
                out.full_command = true;
            }
            _ => unhandled(item, TRACK_PROCESS, &stmt.key.text, report),
        }
    }
    Some(out)
}

fn vrrp_sync_group(stmt: &Stmt, report: &mut Report) -> Option<RawSyncGroup> {
    let name = block_name(stmt, "vrrp_sync_group VG_1 { group { VI_1 VI_2 } }", report)?;
    let mut out = RawSyncGroup {
        name,
        ..RawSyncGroup::default()
    };
    for item in block_of(stmt, report)? {
        match item.key.text.as_str() {
            "group" => {
                for line in block_lines(item, report) {
                    out.group.extend(line);
                }
            }
            name if out.notify.slot(name).is_some() => {
                let line = rest_of_line(item, report);
                if let Some(slot) = out.notify.slot(name) {
                    *slot = line;
                }
            }
            _ => unhandled(item, SYNC_GROUP, "vrrp_sync_group", report),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::testing::{err, ok};
    use crate::config::{Diagnostic, load_str};

    fn toks(text: &str) -> (Vec<(Kind, String, usize, usize)>, Report) {
        let mut report = Report::new(Path::new("t.conf"));
        let t = lex(text, &mut report)
            .into_iter()
            .map(|t| (t.kind, t.text, t.line, t.col))
            .collect();
        (t, report)
    }

    fn words(text: &str) -> Vec<String> {
        toks(text).0.into_iter().map(|t| t.1).collect()
    }

    const MINIMAL: &str = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
                           virtual_ipaddress {\n  10.0.0.1\n }\n}\n";

    #[test]
    fn lex_glued_braces() {
        assert_eq!(words("vrrp_instance VI_1{"), ["vrrp_instance", "VI_1", "{"]);
        assert_eq!(words("authentication{}"), ["authentication", "{", "}"]);
        assert_eq!(
            words("track_script { chk }"),
            ["track_script", "{", "chk", "}"]
        );
        let (t, _) = toks("a{\n\t}");
        assert_eq!(t[1], (Kind::Open, "{".into(), 1, 2));
        assert_eq!(t[2], (Kind::Close, "}".into(), 2, 2));
    }

    #[test]
    fn lex_comments() {
        assert_eq!(
            words("# whole line\n! also\nstate MASTER # end\npriority 5 ! end"),
            ["state", "MASTER", "priority", "5"]
        );
        assert_eq!(words("auth_pass a\\#b\\!c"), ["auth_pass", "a#b!c"]);
        assert_eq!(
            words("script \"a # b ! c\" # real comment"),
            ["script", "a # b ! c"]
        );
    }

    #[test]
    fn lex_comment_glued_to_value_warns() {
        let (t, report) = toks("auth_pass Test123!");
        assert_eq!(t.last().unwrap().1, "Test123");
        assert_eq!(report.warnings.len(), 1);
        let w = &report.warnings[0];
        assert_eq!((w.line, w.column, w.key.as_str()), (1, 11, "Test123!"));
        assert!(w.message.contains("`!` starts a comment"), "{}", w.message);
    }

    #[test]
    fn lex_crlf_tabs_no_final_newline() {
        let (t, report) = toks("a\tb\r\n\t\tc  d\r\ne");
        let got: Vec<_> = t.iter().map(|t| (t.1.as_str(), t.2, t.3)).collect();
        assert_eq!(
            got,
            [
                ("a", 1, 1),
                ("b", 1, 3),
                ("c", 2, 3),
                ("d", 2, 6),
                ("e", 3, 1)
            ]
        );
        assert!(report.errors.is_empty());
    }

    #[test]
    fn lex_quotes() {
        let (t, _) = toks("script \"/bin/check 1\"");
        assert_eq!(t[1], (Kind::Quoted, "/bin/check 1".into(), 1, 8));
        let (_, report) = toks("script \"/bin/check");
        assert_eq!(report.errors[0].message, "unterminated quoted string");
    }

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
    fn every_keyword_with_a_reason_is_a_keepalived_keyword() {
        for k in unsupported::listed() {
            assert!(
                ALL.iter().any(|(_, s)| lookup(s, k).is_some()) || OBSOLETE.contains(&k),
                "{k} is not in keepalived's keyword tables"
            );
        }
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
                " interface eth0\n smtp_alert\n use_vmac\n",
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
                "t.conf:4:2: use_vmac: ignored: vipd sends from the interface's own MAC address \
                 (keepalived's default)",
            ]
        );
    }

    #[test]
    fn unknown_keywords_are_errors_with_suggestions() {
        let text = format!(
            "{MINIMAL}virtual_server 10.0.0.1 80 {{\n 1b_algo rr\n lb_kynd NAT\n real server 10.0.0.2 80 {{\n wieght 1\n }}\n}}\n"
        );
        let e = err(&text, "t.conf");
        let got: Vec<(usize, &str, Option<&str>)> = e
            .diagnostics
            .iter()
            .map(|d| (d.line, d.key.as_str(), d.suggestion.as_deref()))
            .collect();
        assert_eq!(
            got,
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
    fn vrrp_version_3_is_an_error() {
        let e = err(
            &format!("global_defs {{\n vrrp_version 3\n}}\n{MINIMAL}"),
            "t.conf",
        );
        assert!(e.diagnostics[0].message.contains("VRRPv2"));
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
