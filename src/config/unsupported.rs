//! What the warning says for a keepalived keyword vipd accepts but does not act on: what vipd
//! does instead, so a user reading "ignored" knows whether to worry and where to go.
//!
//! Keywords that vipd will implement (tracking, notify, virtual_server) are not listed: their
//! warning stays the generic one until they are.

/// keepalived keywords vipd does not act on, and what it does instead.
const INSTEAD: &[(&[&str], &str)] = &[
    (
        &[
            "notification_email",
            "notification_email_from",
            "smtp_server",
            "smtp_helo_name",
            "smtp_connect_timeout",
            "smtp_alert",
            "smtp_alert_vrrp",
            "smtp_alert_checker",
            "no_email_faults",
        ],
        "vipd does not send e-mail; use notify",
    ),
    (
        &[
            "enable_snmp_vrrp",
            "enable_snmp_keepalived",
            "enable_snmp_checker",
            "enable_snmp_rfc",
            "enable_snmp_rfcv2",
            "enable_snmp_rfcv3",
            "snmp_socket",
            "enable_traps",
        ],
        "vipd has no SNMP agent; `vipctl status --json` gives every instance's state and \
         counters",
    ),
    (
        &["enable_dbus", "dbus_service_name"],
        "vipd has no D-Bus interface; use `vipctl status --json`",
    ),
    (
        &[
            "notify_fifo",
            "notify_fifo_script",
            "vrrp_notify_fifo",
            "vrrp_notify_fifo_script",
            "lvs_notify_fifo",
            "lvs_notify_fifo_script",
        ],
        "vipd has no notify FIFO; use notify scripts",
    ),
    (
        &[
            "lvs_id",
            "lvs_sync_daemon",
            "lvs_sync_daemon_interface",
            "lvs_timeouts",
            "lvs_flush",
            "lvs_flush_on_stop",
            "lvs_netlink_cmd_rcv_bufs",
            "lvs_netlink_monitor_rcv_bufs",
        ],
        "vipd does not drive the kernel's IPVS (LVS) tables",
    ),
    (
        &[
            "vrrp_priority",
            "checker_priority",
            "bfd_priority",
            "vrrp_no_swap",
            "checker_no_swap",
            "bfd_no_swap",
            "vrrp_rt_priority",
            "checker_rt_priority",
            "bfd_rt_priority",
            "vrrp_rlimit_rttime",
            "checker_rlimit_rttime",
            "vrrp_cpu_affinity",
            "checker_cpu_affinity",
            "max_auto_priority",
            "min_auto_priority_delay",
        ],
        "vipd is one process; set its scheduling in its systemd unit (Nice=, CPUAffinity=, \
         CPUSchedulingPolicy=)",
    ),
    (
        &[
            "process_names",
            "process_name",
            "vrrp_process_name",
            "checker_process_name",
            "bfd_process_name",
        ],
        "vipd is one process named vipd",
    ),
    (
        &[
            "vrrp_iptables",
            "vrrp_ipsets",
            "nftables",
            "nftables_priority",
            "nftables_counters",
            "nftables_ifindex",
        ],
        "vipd installs no firewall rules: a VIP is an ordinary local address while this node \
         is master",
    ),
    (
        &["vrrp_strict", "strict_mode"],
        "vipd always applies every receive check of RFC 3768 §7.1 and installs no firewall \
         rules",
    ),
    (
        &["mcast_src_ip"],
        "vipd sends multicast adverts from the interface's primary address; use unicast_src_ip \
         with unicast_peer to choose the source",
    ),
    (
        &[
            "vrrp_garp_master_delay",
            "vrrp_garp_master_refresh",
            "vrrp_garp_master_refresh_repeat",
            "vrrp_garp_interval",
            "vrrp_gna_interval",
            "vrrp_min_garp",
            "garp_group",
        ],
        "set garp_master_delay and garp_master_refresh in each vrrp_instance",
    ),
    (
        &[
            "garp_master_refresh_repeat",
            "garp_extra_if",
            "vrrp_garp_extra_if",
        ],
        "vipd sends garp_master_repeat gratuitous ARPs per burst on the VIP's interface",
    ),
    (
        &["use_ipvlan"],
        "vipd has no ipvlan; use_vmac gives the instance a virtual MAC address",
    ),
    (
        &[
            "virtual_routes",
            "virtual_rules",
            "static_routes",
            "static_rules",
            "static_ipaddress",
        ],
        "vipd moves addresses only; keep routes and rules in the system's network \
         configuration",
    ),
    (&["track_bfd", "bfd_instance"], "vipd has no BFD"),
    (
        &["garp_lower_prio_delay", "vrrp_garp_lower_prio_delay"],
        "vipd sends the garp_lower_prio_repeat gratuitous ARPs at once when it hears a \
         lower-priority advert, and no second burst later",
    ),
    (
        &["higher_prio_send_advert", "vrrp_higher_prio_send_advert"],
        "vipd steps down on a higher-priority advert as RFC 3768 §6.4.3 says",
    ),
    (
        &["skip_check_adv_addr", "vrrp_skip_check_adv_addr"],
        "vipd always checks the address list of adverts (RFC 3768 §7.1)",
    ),
    (
        &["check_unicast_src", "vrrp_check_unicast_src"],
        "vipd always accepts unicast adverts only from the unicast_peer addresses",
    ),
    (
        &["unicast_ttl"],
        "vipd sends with TTL 255, as RFC 3768 requires",
    ),
    (
        &["dont_track_primary", "vrrp_dont_track_primary"],
        "vipd always watches the link of the instance's interface",
    ),
    (&["debug"], "use `vipd --log debug`"),
    (
        &["dynamic_interfaces"],
        "every interface must exist when vipd starts",
    ),
    (
        &[
            "net_namespace",
            "net_namespace_ipvs",
            "namespace_with_ipsets",
        ],
        "start vipd inside the namespace instead (`ip netns exec NS vipd ...`)",
    ),
    (
        &["instance", "use_pid_dir"],
        "run one vipd per configuration, each with its own --socket",
    ),
    (
        &[
            "vrrp_netlink_cmd_rcv_bufs",
            "vrrp_netlink_cmd_rcv_bufs_force",
            "vrrp_netlink_monitor_rcv_bufs",
            "vrrp_netlink_monitor_rcv_bufs_force",
            "vrrp_rx_bufs_policy",
            "vrrp_rx_bufs_multiplier",
            "kernel_rx_buf_size",
        ],
        "vipd sizes its sockets' buffers itself",
    ),
];

/// Keywords that configs copied from old tutorials carry and keepalived 2.2 itself no longer
/// acts on.
const LEGACY: &[&str] = &[
    "lvs_id",
    "nat_mask",
    "nb_get_retry",
    "notification_email",
    "notification_email_from",
    "smtp_server",
    "smtp_connect_timeout",
];

/// Old names keepalived 2.2 still reads, and their current names.
const RENAMED: &[(&str, &str)] = &[
    ("nb_get_retry", "retry"),
    ("lvs_sync_daemon_interface", "lvs_sync_daemon"),
    ("vrrp_track_file", "track_file"),
    ("vrrp_track_process", "track_process"),
];

/// A note for an old keyword name, wherever it appears.
pub(crate) fn renamed(keyword: &str) -> Option<String> {
    RENAMED
        .iter()
        .find(|(old, _)| *old == keyword)
        .map(|(_, new)| {
            format!(
                "legacy name of `{new}` (keepalived 2.2 still reads it); write `{new}` when you \
                 touch this block"
            )
        })
}

/// Every keyword with a specific reason (for checking them against keepalived's tables).
#[cfg(test)]
pub(crate) fn listed() -> impl Iterator<Item = &'static str> {
    INSTEAD
        .iter()
        .flat_map(|(keys, _)| keys.iter().copied())
        .chain(RENAMED.iter().flat_map(|(old, new)| [*old, *new]))
}

/// The message for keyword `keyword`, accepted but not acted on (`generic` when there is
/// nothing better to say, e.g. "not supported by this vipd version").
pub(crate) fn ignored(keyword: &str, generic: &str) -> String {
    let reason = INSTEAD
        .iter()
        .find(|(keys, _)| keys.contains(&keyword))
        .map_or(generic, |(_, reason)| *reason);
    let mut message = format!("ignored: {reason}");
    if LEGACY.contains(&keyword) {
        message.push_str(" (old configs often carry it: harmless)");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specific_reasons_and_legacy_notes() {
        assert_eq!(
            ignored("smtp_alert", "x"),
            "ignored: vipd does not send e-mail; use notify"
        );
        assert_eq!(
            ignored("smtp_server", "x"),
            "ignored: vipd does not send e-mail; use notify (old configs often carry it: \
             harmless)"
        );
        assert_eq!(
            ignored("vrrp_script", "not supported by this vipd version"),
            "ignored: not supported by this vipd version"
        );
    }

    #[test]
    fn no_keyword_is_listed_twice() {
        let mut all: Vec<&str> = INSTEAD
            .iter()
            .flat_map(|(k, _)| k.iter().copied())
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
