//! The keyword table: every keyword keepalived knows in each block, every key of vipd's TOML,
//! what follows each, and the comment `vipctl convert` writes above it.
//!
//! The keepalived reader takes from here which keywords each block accepts and which take a
//! block; the TOML reader, which keys each table has; `vipctl convert`, its comments. What a
//! keyword means (how its value becomes the model) is the business of the readers and the
//! validators. Adding a keyword: see docs/development.md.
//!
//! Row order matters: where a misspelt keyword is equally near two, the suggestion is the one
//! listed first.

use Body::{Keywords, Leaf, List};

/// What follows a keyword.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Body {
    /// Values on the keyword's line (in TOML, one value).
    Leaf,
    /// A block of free-form lines: addresses, names (in TOML, an array of strings).
    List,
    /// A block of keywords (in TOML, a table or an array of tables).
    Keywords(&'static Block),
}

/// Which formats have a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// keepalived.conf only: vipd skips it with a warning, or reads it as another one's
    /// alias (`lvs_sched`, `preempt`), so its TOML has no such key.
    Keepalived,
    /// A keyword vipd reads, spelt the same in keepalived.conf and in its TOML.
    Both,
    /// vipd's TOML only: keepalived writes it as the words after the block's keyword
    /// (`vrrp_script NAME`, `real_server IP PORT`).
    Toml,
}

/// One keyword of one block.
#[derive(Debug)]
pub(crate) struct Keyword {
    pub(crate) name: &'static str,
    pub(crate) body: Body,
    pub(crate) syntax: Syntax,
    /// The comment above the key in converted TOML (`vipctl convert`); empty where none is
    /// written (keepalived only, or a table).
    pub(crate) doc: &'static str,
}

/// How vipd's TOML writes a block.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Toml {
    /// Not at all: vipd does not read the block.
    Absent,
    /// As one table, named so in messages.
    Table(&'static str),
    /// As an array of tables (the block repeats), named so in messages.
    Tables(&'static str),
}

/// A block of keywords: the top level, `global_defs`, `vrrp_instance`...
#[derive(Debug)]
pub(crate) struct Block {
    /// How keepalived messages name it: "vrrp_instance", "a health checker".
    pub(crate) place: &'static str,
    pub(crate) toml: Toml,
    pub(crate) keywords: &'static [Keyword],
}

impl Keyword {
    pub(crate) fn in_keepalived(&self) -> bool {
        self.syntax != Syntax::Toml
    }

    pub(crate) fn in_toml(&self) -> bool {
        self.syntax != Syntax::Keepalived
    }
}

impl Block {
    /// What follows keepalived keyword `name` here, if keepalived knows it here.
    pub(crate) fn body(&self, name: &str) -> Option<Body> {
        self.keywords
            .iter()
            .find(|k| k.in_keepalived() && k.name == name)
            .map(|k| k.body)
    }

    /// keepalived's keywords here, in table order.
    pub(crate) fn keepalived_names(&self) -> impl Iterator<Item = &'static str> {
        self.keywords
            .iter()
            .filter(|k| k.in_keepalived())
            .map(|k| k.name)
    }

    /// The TOML key `key` here.
    pub(crate) fn toml_key(&self, key: &str) -> Option<&'static Keyword> {
        self.keywords.iter().find(|k| k.in_toml() && k.name == key)
    }

    /// vipd's TOML keys here, in table order.
    pub(crate) fn toml_keys(&self) -> Vec<&'static str> {
        self.keywords
            .iter()
            .filter(|k| k.in_toml())
            .map(|k| k.name)
            .collect()
    }

    /// How TOML messages name the block: its table's name.
    pub(crate) fn toml_place(&self) -> &'static str {
        match self.toml {
            Toml::Table(place) | Toml::Tables(place) => place,
            Toml::Absent => self.place,
        }
    }
}

/// Every block, in the order "known, but not here" and suggestions from anywhere search them.
pub(crate) static BLOCKS: [&Block; 16] = [
    &TOP,
    &GLOBAL_DEFS,
    &VRRP_INSTANCE,
    &ROUTE_INSTANCE,
    &AUTHENTICATION,
    &VRRP_SCRIPT,
    &SYNC_GROUP,
    &TRACK_FILE,
    &TRACK_PROCESS,
    &GARP_GROUP,
    &BFD_INSTANCE,
    &VIRTUAL_SERVER,
    &REAL_SERVER,
    &CHECKER,
    &HOST,
    &URL,
];

/// The TOML block at a table path as `vipctl convert` writes it (`virtual_server.real_server`).
pub(crate) fn toml_block(path: &str) -> Option<&'static Block> {
    path.split('.')
        .try_fold(&TOP, |block, key| match block.toml_key(key)?.body {
            Keywords(inner) => Some(inner),
            Leaf | List => None,
        })
}

/// The health checkers vipd runs: the `real_server` keywords that open a checker block and
/// that its TOML has.
pub(crate) fn checkers() -> impl Iterator<Item = &'static str> {
    REAL_SERVER
        .keywords
        .iter()
        .filter(|k| {
            k.syntax == Syntax::Both && matches!(k.body, Keywords(b) if std::ptr::eq(b, &CHECKER))
        })
        .map(|k| k.name)
}

/// A keyword of keepalived.conf only.
const fn ka(name: &'static str, body: Body) -> Keyword {
    Keyword {
        name,
        body,
        syntax: Syntax::Keepalived,
        doc: "",
    }
}

/// A keyword vipd reads in both formats.
const fn both(name: &'static str, body: Body, doc: &'static str) -> Keyword {
    Keyword {
        name,
        body,
        syntax: Syntax::Both,
        doc,
    }
}

/// A keyword that opens a block vipd reads; in TOML a table, whose header has no comment.
const fn block(name: &'static str, keywords: &'static Block) -> Keyword {
    both(name, Keywords(keywords), "")
}

/// A TOML key that keepalived writes as a word after the block's keyword.
const fn toml(name: &'static str, doc: &'static str) -> Keyword {
    Keyword {
        name,
        body: Leaf,
        syntax: Syntax::Toml,
        doc,
    }
}

// Rows that several blocks share.
// vipd's own: keepalived's IPVS keeps the client's address on the packets instead.
const PROXY_PROTOCOL: Keyword = both(
    "proxy_protocol",
    Leaf,
    "v1 or v2: a PROXY protocol header tells the real server the client's address (vipd \
     only; keepalived has no equivalent: its IPVS keeps the client's address instead).",
);
const IP: Keyword = toml(
    "ip",
    "The address (a virtual_server's, usually a VIP; a real_server's).",
);
const ROUTE_TABLE: Keyword = both(
    "route_table",
    Leaf,
    "Kernel routing table (1..=4294967295, not 253-255) that gets a host route per VIP, protocol \
     220, metric 256 - effective priority, for BIRD to export (vipd only; keepalived has none).",
);
// An instance's tracked checks (vrrp_instance, route_instance).
const TRACK_INTERFACE_REF: Keyword = both(
    "track_interface",
    List,
    "\"IF [weight W]\": weight 0 = down means FAULT.",
);
const TRACK_SCRIPT_REF: Keyword = both(
    "track_script",
    List,
    "\"NAME [weight W]\" of a vrrp_script.",
);
const TRACK_FILE_REF: Keyword = both(
    "track_file",
    List,
    "\"NAME [weight W]\" of a vrrp_track_file.",
);
const TRACK_PROCESS_REF: Keyword = both(
    "track_process",
    List,
    "\"NAME [weight W]\" of a vrrp_track_process.",
);
const PORT: Keyword = toml("port", "The TCP port.");
const CONNECT_TIMEOUT: Keyword = both(
    "connect_timeout",
    Leaf,
    "Seconds to wait for a TCP connection (UDP_CHECK: for an answer or an ICMP error).",
);
const RETRY: Keyword = both(
    "retry",
    Leaf,
    "Failures in a row before the server goes down.",
);
const DELAY_BEFORE_RETRY: Keyword = both(
    "delay_before_retry",
    Leaf,
    "Seconds between checks while failing.",
);
const DELAY_LOOP: Keyword = both("delay_loop", Leaf, "Seconds between health checks.");
const RISE: Keyword = both(
    "rise",
    Leaf,
    "Successes in a row before a failed check is healthy again.",
);
const USER: Keyword = both("user", Leaf, "\"USER [GROUP]\" this check runs as.");
const NOTIFY_MASTER: Keyword = both("notify_master", Leaf, "Run on becoming MASTER.");
const NOTIFY_BACKUP: Keyword = both("notify_backup", Leaf, "Run on becoming BACKUP.");
const NOTIFY_FAULT: Keyword = both("notify_fault", Leaf, "Run on entering FAULT.");
const NOTIFY_STOP: Keyword = both("notify_stop", Leaf, "Run when vipd stops the instance.");
const NOTIFY: Keyword = both(
    "notify",
    Leaf,
    "Run on every change with \"INSTANCE|GROUP NAME STATE PRIORITY\" appended.",
);

/// keepalived's top-level keywords.
pub(crate) static TOP: Block = Block {
    place: "the top level",
    toml: Toml::Table("the top level"),
    keywords: &[
        block("global_defs", &GLOBAL_DEFS),
        block("vrrp_instance", &VRRP_INSTANCE),
        // vipd's own: keepalived has no route_instance.
        block("route_instance", &ROUTE_INSTANCE),
        block("vrrp_script", &VRRP_SCRIPT),
        block("vrrp_sync_group", &SYNC_GROUP),
        block("virtual_server", &VIRTUAL_SERVER),
        ka("virtual_server_group", List),
        ka("static_ipaddress", List),
        ka("static_routes", List),
        ka("static_rules", List),
        ka("track_file", Keywords(&TRACK_FILE)),
        block("vrrp_track_file", &TRACK_FILE),
        ka("track_process", Keywords(&TRACK_PROCESS)),
        block("vrrp_track_process", &TRACK_PROCESS),
        ka("garp_group", Keywords(&GARP_GROUP)),
        ka("bfd_instance", Keywords(&BFD_INSTANCE)),
        ka("linkbeat_interfaces", List),
        ka("include", Leaf),
        ka("net_namespace", Leaf),
        ka("net_namespace_ipvs", Leaf),
        ka("namespace_with_ipsets", Leaf),
        ka("instance", Leaf),
        ka("use_pid_dir", Leaf),
        ka("linkbeat_use_polling", Leaf),
    ],
};

pub(crate) static GLOBAL_DEFS: Block = Block {
    place: "global_defs",
    toml: Toml::Table("global_defs"),
    keywords: &[
        both(
            "router_id",
            Leaf,
            "A name for this node in logs and `vipctl status`.",
        ),
        // vipd's own: keepalived has no metrics page.
        both(
            "metrics_listen",
            Leaf,
            "ADDR:PORT serving Prometheus metrics at /metrics (vipd only; keepalived has none).",
        ),
        ka("notification_email", List),
        ka("notification_email_from", Leaf),
        ka("smtp_server", Leaf),
        ka("smtp_helo_name", Leaf),
        ka("smtp_connect_timeout", Leaf),
        ka("smtp_alert", Leaf),
        ka("smtp_alert_vrrp", Leaf),
        ka("smtp_alert_checker", Leaf),
        ka("checker_log_all_failures", Leaf),
        both(
            "enable_script_security",
            Leaf,
            "keepalived's switch; vipd refuses unsafe scripts whenever it runs as root.",
        ),
        both(
            "script_user",
            Leaf,
            "\"USER [GROUP]\" that checks and notify scripts run as.",
        ),
        ka("lvs_id", Leaf),
        ka("lvs_sync_daemon", Leaf),
        ka("lvs_timeouts", Leaf),
        ka("lvs_flush", Leaf),
        ka("lvs_flush_on_stop", Leaf),
        both(
            "vrrp_mcast_group4",
            Leaf,
            "Multicast group of IPv4 adverts (default 224.0.0.18).",
        ),
        both(
            "vrrp_mcast_group6",
            Leaf,
            "Multicast group of IPv6 adverts (default ff02::12).",
        ),
        ka("vrrp_garp_master_delay", Leaf),
        both(
            "vrrp_garp_master_repeat",
            Leaf,
            "Every instance's garp_master_repeat unless it sets its own.",
        ),
        ka("vrrp_garp_master_refresh", Leaf),
        ka("vrrp_garp_master_refresh_repeat", Leaf),
        ka("vrrp_garp_lower_prio_delay", Leaf),
        both(
            "vrrp_garp_lower_prio_repeat",
            Leaf,
            "Every instance's garp_lower_prio_repeat unless it sets its own.",
        ),
        ka("vrrp_garp_interval", Leaf),
        ka("vrrp_gna_interval", Leaf),
        ka("vrrp_min_garp", Leaf),
        both(
            "vrrp_lower_prio_no_advert",
            Leaf,
            "Every instance's lower_prio_no_advert unless it sets its own.",
        ),
        ka("vrrp_higher_prio_send_advert", Leaf),
        both(
            "vrrp_version",
            Leaf,
            "2 or 3: every instance's version unless it sets its own (IPv6 is always 3).",
        ),
        // keepalived 2.2.8 and later; 2.2.7 does not know it.
        both(
            "v3_checksum_as_v2",
            Leaf,
            "Every instance's v3_checksum_as_v2 unless it sets its own (keepalived 2.2.8+, not 2.2.7).",
        ),
        ka("vrrp_iptables", Leaf),
        ka("vrrp_ipsets", Leaf),
        ka("nftables", Leaf),
        ka("nftables_priority", Leaf),
        ka("nftables_counters", Leaf),
        ka("nftables_ifindex", Leaf),
        ka("vrrp_check_unicast_src", Leaf),
        ka("vrrp_skip_check_adv_addr", Leaf),
        ka("vrrp_strict", Leaf),
        ka("vrrp_priority", Leaf),
        ka("checker_priority", Leaf),
        ka("bfd_priority", Leaf),
        ka("vrrp_no_swap", Leaf),
        ka("checker_no_swap", Leaf),
        ka("bfd_no_swap", Leaf),
        ka("vrrp_rt_priority", Leaf),
        ka("checker_rt_priority", Leaf),
        ka("bfd_rt_priority", Leaf),
        ka("vrrp_rlimit_rttime", Leaf),
        ka("checker_rlimit_rttime", Leaf),
        ka("vrrp_cpu_affinity", Leaf),
        ka("checker_cpu_affinity", Leaf),
        ka("max_auto_priority", Leaf),
        ka("min_auto_priority_delay", Leaf),
        ka("notify_fifo", Leaf),
        ka("notify_fifo_script", Leaf),
        ka("vrrp_notify_fifo", Leaf),
        ka("vrrp_notify_fifo_script", Leaf),
        ka("lvs_notify_fifo", Leaf),
        ka("lvs_notify_fifo_script", Leaf),
        ka("vrrp_notify_priority_changes", Leaf),
        ka("dynamic_interfaces", Leaf),
        ka("vrrp_netlink_cmd_rcv_bufs", Leaf),
        ka("vrrp_netlink_cmd_rcv_bufs_force", Leaf),
        ka("vrrp_netlink_monitor_rcv_bufs", Leaf),
        ka("vrrp_netlink_monitor_rcv_bufs_force", Leaf),
        ka("lvs_netlink_cmd_rcv_bufs", Leaf),
        ka("lvs_netlink_monitor_rcv_bufs", Leaf),
        ka("vrrp_rx_bufs_policy", Leaf),
        ka("vrrp_rx_bufs_multiplier", Leaf),
        ka("vrrp_startup_delay", Leaf),
        ka("vrrp_garp_extra_if", Leaf),
        ka("vrrp_dont_track_primary", Leaf),
        ka("process_names", Leaf),
        ka("process_name", Leaf),
        ka("vrrp_process_name", Leaf),
        ka("checker_process_name", Leaf),
        ka("bfd_process_name", Leaf),
        ka("default_interface", Leaf),
        ka("net_namespace", Leaf),
        ka("instance", Leaf),
        ka("use_pid_dir", Leaf),
        ka("linkbeat_use_polling", Leaf),
        ka("umask", Leaf),
        ka("random_seed", Leaf),
        ka("tmp_config_directory", Leaf),
        ka("no_email_faults", Leaf),
        ka("snmp_socket", Leaf),
        ka("enable_traps", Leaf),
        ka("enable_snmp_vrrp", Leaf),
        ka("enable_snmp_keepalived", Leaf),
        ka("enable_snmp_checker", Leaf),
        ka("enable_snmp_rfc", Leaf),
        ka("enable_snmp_rfcv2", Leaf),
        ka("enable_snmp_rfcv3", Leaf),
        ka("enable_dbus", Leaf),
        ka("dbus_service_name", Leaf),
        ka("reload_check_config", Leaf),
        ka("reload_time_file", Leaf),
        ka("reload_repeat", Leaf),
        ka("reload_file", Leaf),
        ka("disable_local_igmp", Leaf),
        ka("child_wait_time", Leaf),
        ka("fifo_write_vrrp_states_on_reload", Leaf),
        ka("vrrp_track_process", Leaf),
        ka("mem_check", Leaf),
        ka("mem_check_log_all", Leaf),
        ka("config_test", Leaf),
        ka("log_unknown_vrids", Leaf),
        ka("script_security", Leaf),
    ],
};

pub(crate) static VRRP_INSTANCE: Block = Block {
    place: "vrrp_instance",
    toml: Toml::Tables("vrrp_instance"),
    keywords: &[
        toml(
            "name",
            "The instance name, used in logs, status and notify arguments.",
        ),
        both(
            "state",
            Leaf,
            "MASTER or BACKUP at startup; either way the election decides (as in keepalived).",
        ),
        both("interface", Leaf, "Where adverts are sent and received."),
        both(
            "virtual_router_id",
            Leaf,
            "VRID 1..=255, the same on every router of this group.",
        ),
        both(
            "priority",
            Leaf,
            "1..=255; the highest wins; 255 = address owner.",
        ),
        both(
            "version",
            Leaf,
            "VRRP version, 2 or 3 (IPv6 instances are always 3).",
        ),
        both(
            "advert_int",
            Leaf,
            "Seconds between adverts (VRRPv2: whole, 1-255; VRRPv3: 0.01-40.95).",
        ),
        both(
            "native_ipv6",
            Leaf,
            "true: the instance is IPv6 (VRRPv3) whatever its addresses.",
        ),
        both(
            "nopreempt",
            Leaf,
            "true: a recovered higher-priority router does not take over.",
        ),
        ka("preempt", Leaf),
        both(
            "preempt_delay",
            Leaf,
            "Seconds a lower-priority master is tolerated before preempting.",
        ),
        block("authentication", &AUTHENTICATION),
        both(
            "virtual_ipaddress",
            List,
            "\"ADDR[/LEN] [dev IF] [label L]\" per address; added on this node while it is master.",
        ),
        both("unicast_src_ip", Leaf, "Source address of unicast adverts."),
        both(
            "unicast_peer",
            List,
            "Adverts go to each peer instead of 224.0.0.18; only peers are heard.",
        ),
        both(
            "garp_master_delay",
            Leaf,
            "Seconds before the second burst of gratuitous ARPs after becoming master.",
        ),
        both("garp_master_repeat", Leaf, "Gratuitous ARPs per burst."),
        both(
            "garp_master_refresh",
            Leaf,
            "Re-send gratuitous ARPs this often (seconds) while master.",
        ),
        ka("garp_master_refresh_repeat", Leaf),
        ka("garp_lower_prio_delay", Leaf),
        both(
            "garp_lower_prio_repeat",
            Leaf,
            "Gratuitous ARPs per VIP a master sends on a lower-priority advert (0 = none).",
        ),
        both(
            "lower_prio_no_advert",
            Leaf,
            "true: a master does not answer a lower-priority advert with its own advert.",
        ),
        ka("higher_prio_send_advert", Leaf),
        both(
            "virtual_ipaddress_excluded",
            List,
            "\"ADDR[/LEN] [dev IF] [label L]\" moved with the VIPs, never in adverts; either family.",
        ),
        ka("virtual_routes", List),
        ka("virtual_rules", List),
        // vipd's own: keepalived has no equivalent.
        ROUTE_TABLE,
        TRACK_INTERFACE_REF,
        TRACK_SCRIPT_REF,
        TRACK_FILE_REF,
        TRACK_PROCESS_REF,
        ka("track_bfd", List),
        ka("track_src_ip", Leaf),
        ka("mcast_src_ip", Leaf),
        ka("unicast_ttl", Leaf),
        ka("unicast_fault_no_peer", Leaf),
        ka("old_unicast_checksum", Leaf),
        ka("check_unicast_src", Leaf),
        ka("dont_track_primary", Leaf),
        ka("skip_check_adv_addr", Leaf),
        ka("strict_mode", Leaf),
        both(
            "use_vmac",
            Leaf,
            "Name of the macvlan with the virtual MAC 00:00:5e:00:01:VRID (keepalived: vrrp.VRID).",
        ),
        both(
            "vmac_xmit_base",
            Leaf,
            "true: with use_vmac, adverts go out from the base interface.",
        ),
        ka("use_ipvlan", Leaf),
        both(
            "accept",
            Leaf,
            "false (keepalived's no_accept): a master does not accept traffic to its VIPs.",
        ),
        ka("no_accept", Leaf),
        // keepalived 2.2.8 and later; 2.2.7 does not know it.
        both(
            "v3_checksum_as_v2",
            Leaf,
            "true: VRRPv3 IPv4 checksums leave out the pseudo-header (keepalived 2.2.8+, not 2.2.7).",
        ),
        NOTIFY_MASTER,
        NOTIFY_BACKUP,
        NOTIFY_FAULT,
        NOTIFY_STOP,
        ka("notify_deleted", Leaf),
        NOTIFY,
        ka("notify_master_rx_lower_pri", Leaf),
        ka("notify_priority_changes", Leaf),
        ka("smtp_alert", Leaf),
        ka("lvs_sync_daemon_interface", Leaf),
        ka("debug", Leaf),
        ka("linkbeat_use_polling", Leaf),
        ka("kernel_rx_buf_size", Leaf),
        ka("down_timer_adverts", Leaf),
        ka("garp_extra_if", Leaf),
    ],
};

/// vipd's `route_instance`: announces its VIPs as host routes for a routing daemon (BIRD) to
/// export, instead of speaking VRRP; keepalived has no such block.
pub(crate) static ROUTE_INSTANCE: Block = Block {
    place: "route_instance",
    toml: Toml::Tables("route_instance"),
    keywords: &[
        toml(
            "name",
            "The instance name, used in logs, status and `vipctl maintenance`.",
        ),
        both(
            "virtual_ipaddress",
            List,
            "Host addresses (/32 or /128, the default) held on route_interface and announced \
             as routes while healthy.",
        ),
        both(
            "priority",
            Leaf,
            "1..=255, default 100; tracking weights move it; the route's metric is 256 - it.",
        ),
        ROUTE_TABLE,
        both(
            "route_interface",
            Leaf,
            "Where the VIP addresses are held (default lo).",
        ),
        both(
            "withdraw_delay",
            Leaf,
            "Seconds the addresses stay after the routes are withdrawn on stop (default 2).",
        ),
        TRACK_INTERFACE_REF,
        TRACK_SCRIPT_REF,
        TRACK_FILE_REF,
        TRACK_PROCESS_REF,
    ],
};

pub(crate) static AUTHENTICATION: Block = Block {
    place: "authentication",
    toml: Toml::Table("authentication"),
    keywords: &[
        both(
            "auth_type",
            Leaf,
            "PASS: simple password (RFC 3768 §5.3.6.1).",
        ),
        both("auth_pass", Leaf, "At most 8 bytes, as on the wire."),
    ],
};

pub(crate) static VRRP_SCRIPT: Block = Block {
    place: "vrrp_script",
    toml: Toml::Tables("vrrp_script"),
    keywords: &[
        toml("name", "The name instances give in track_script."),
        both(
            "script",
            Leaf,
            "The check, run directly (no shell); exit status 0 = healthy.",
        ),
        both("interval", Leaf, "Seconds between checks."),
        both(
            "timeout",
            Leaf,
            "A check running longer is killed and counts as failed.",
        ),
        both(
            "weight",
            Leaf,
            "0: failure = FAULT; negative: subtracted on failure; positive: added on success.",
        ),
        RISE,
        both(
            "fall",
            Leaf,
            "Failures in a row before a healthy check counts as failed.",
        ),
        USER,
        both(
            "init_fail",
            Leaf,
            "Start as failed until the check succeeds.",
        ),
    ],
};

pub(crate) static SYNC_GROUP: Block = Block {
    place: "vrrp_sync_group",
    toml: Toml::Tables("vrrp_sync_group"),
    keywords: &[
        toml("name", "The group name, used in logs and notify arguments."),
        both("group", List, "Instances that change state together."),
        NOTIFY_MASTER,
        NOTIFY_BACKUP,
        NOTIFY_FAULT,
        NOTIFY_STOP,
        NOTIFY,
        ka("smtp_alert", Leaf),
        ka("global_tracking", Leaf),
        ka("sync_group_tracking_weight", Leaf),
        ka("track_interface", List),
        ka("track_script", List),
        ka("track_file", List),
        ka("track_process", List),
        ka("track_bfd", List),
    ],
};

pub(crate) static TRACK_FILE: Block = Block {
    place: "track_file",
    toml: Toml::Tables("vrrp_track_file"),
    keywords: &[
        toml("name", "The name instances give in track_file."),
        both(
            "file",
            Leaf,
            "Its integer times the weight moves the priority; missing = 0.",
        ),
        both(
            "weight",
            Leaf,
            "0: failure = FAULT; negative: subtracted on failure; positive: added on success.",
        ),
        ka("init_file", Leaf),
    ],
};

pub(crate) static TRACK_PROCESS: Block = Block {
    place: "track_process",
    toml: Toml::Tables("vrrp_track_process"),
    keywords: &[
        toml("name", "The name instances give in track_process."),
        both("process", Leaf, "Process name as in /proc/PID/comm."),
        ka("param_match", Leaf),
        both(
            "weight",
            Leaf,
            "0: failure = FAULT; negative: subtracted on failure; positive: added on success.",
        ),
        both(
            "quorum",
            Leaf,
            "How many must run for the check to be healthy.",
        ),
        ka("quorum_max", Leaf),
        ka("fork_delay", Leaf),
        ka("terminate_delay", Leaf),
        ka("delay", Leaf),
        both(
            "full_command",
            Leaf,
            "Match the whole command line instead of the name.",
        ),
    ],
};

pub(crate) static GARP_GROUP: Block = Block {
    place: "garp_group",
    toml: Toml::Absent,
    keywords: &[
        ka("garp_interval", Leaf),
        ka("gna_interval", Leaf),
        ka("interface", Leaf),
        ka("interfaces", List),
    ],
};

pub(crate) static BFD_INSTANCE: Block = Block {
    place: "bfd_instance",
    toml: Toml::Absent,
    keywords: &[
        ka("source_ip", Leaf),
        ka("neighbor_ip", Leaf),
        ka("min_rx", Leaf),
        ka("min_tx", Leaf),
        ka("idle_tx", Leaf),
        ka("multiplier", Leaf),
        ka("passive", Leaf),
        ka("ttl", Leaf),
        ka("hoplimit", Leaf),
        ka("max_hops", Leaf),
        ka("weight", Leaf),
    ],
};

pub(crate) static VIRTUAL_SERVER: Block = Block {
    place: "virtual_server",
    toml: Toml::Tables("virtual_server"),
    keywords: &[
        IP,
        PORT,
        DELAY_LOOP,
        both(
            "lb_algo",
            Leaf,
            "Scheduler: rr, wrr, lc, wlc or sh (source hash).",
        ),
        ka("lvs_sched", Leaf),
        both(
            "lb_kind",
            Leaf,
            "NAT: vipd's user-space forwarder (DR and TUN need IPVS).",
        ),
        ka("lvs_method", Leaf),
        both(
            "persistence_timeout",
            Leaf,
            "Seconds a client address sticks to its server after its last connection.",
        ),
        ka("persistence_granularity", Leaf),
        ka("persistence_engine", Leaf),
        both("protocol", Leaf, "TCP (the forwarder is TCP only)."),
        ka("ha_suspend", Leaf),
        ka("ops", Leaf),
        ka("virtualhost", Leaf),
        both(
            "sorry_server",
            Leaf,
            "\"IP PORT\" that gets connections while quorum is lost.",
        ),
        ka("sorry_server_inhibit", Leaf),
        ka("sorry_server_lvs_method", Leaf),
        block("real_server", &REAL_SERVER),
        both(
            "quorum",
            Leaf,
            "Sum of the weights of healthy servers below which the pool is down.",
        ),
        ka("quorum_up", Leaf),
        ka("quorum_down", Leaf),
        both(
            "hysteresis",
            Leaf,
            "Quorum is lost below quorum - hysteresis, regained above quorum + it.",
        ),
        both(
            "alpha",
            Leaf,
            "Servers start down until their first good check.",
        ),
        both(
            "omega",
            Leaf,
            "Run every up server's notify_down when the pool stops.",
        ),
        ka("inhibit_on_failure", Leaf),
        PROXY_PROTOCOL,
        both(
            "maxconn",
            Leaf,
            "Client connections open at most; more wait in the listen backlog (vipd only; \
             keepalived has no equivalent).",
        ),
        RETRY,
        DELAY_BEFORE_RETRY,
        ka("warmup", Leaf),
        CONNECT_TIMEOUT,
        ka("ip_family", Leaf),
        ka("smtp_alert", Leaf),
        ka("nat_mask", Leaf),
        ka("mh-fallback", Leaf),
        ka("mh-port", Leaf),
        ka("sh-fallback", Leaf),
        ka("sh-port", Leaf),
        ka("flag-1", Leaf),
        ka("flag-2", Leaf),
        ka("flag-3", Leaf),
        ka("one_packet_scheduling", Leaf),
        ka("tunnel_encap", Leaf),
        ka("tunnel_port", Leaf),
        ka("tunnel_nocsum", Leaf),
        ka("tunnel_csum", Leaf),
        ka("tunnel_remcsum", Leaf),
    ],
};

pub(crate) static REAL_SERVER: Block = Block {
    place: "real_server",
    toml: Toml::Tables("real_server"),
    keywords: &[
        IP,
        PORT,
        both(
            "weight",
            Leaf,
            "Its share of new connections (wrr, wlc); 0 = drained, no new connections.",
        ),
        both(
            "inhibit_on_failure",
            Leaf,
            "A failed server is drained (weight 0) instead of removed.",
        ),
        both(
            "notify_up",
            Leaf,
            "Run when the server comes up (argv, no shell).",
        ),
        both(
            "notify_down",
            Leaf,
            "Run when the server goes down (argv, no shell).",
        ),
        PROXY_PROTOCOL,
        both(
            "maxconn",
            Leaf,
            "Connections open to it at most; a full server is skipped (vipd only; keepalived \
             has uthreshold).",
        ),
        both(
            "uthreshold",
            Leaf,
            "Overloaded (skipped) at this many connections, as IPVS; 0 = none.",
        ),
        both(
            "lthreshold",
            Leaf,
            "Overloaded until below this many; 0 = three quarters of uthreshold, as IPVS.",
        ),
        ka("alpha", Leaf),
        RETRY,
        DELAY_BEFORE_RETRY,
        ka("warmup", Leaf),
        DELAY_LOOP,
        CONNECT_TIMEOUT,
        ka("smtp_alert", Leaf),
        ka("virtualhost", Leaf),
        ka("lvs_method", Leaf),
        ka("lb_kind", Leaf),
        ka("tunnel_encap", Leaf),
        ka("tunnel_port", Leaf),
        ka("tunnel_nocsum", Leaf),
        ka("tunnel_csum", Leaf),
        ka("tunnel_remcsum", Leaf),
        block("TCP_CHECK", &CHECKER),
        block("HTTP_GET", &CHECKER),
        ka("SSL_GET", Keywords(&CHECKER)),
        block("MISC_CHECK", &CHECKER),
        ka("SMTP_CHECK", Keywords(&CHECKER)),
        ka("DNS_CHECK", Keywords(&CHECKER)),
        block("UDP_CHECK", &CHECKER),
        ka("PING_CHECK", Keywords(&CHECKER)),
        ka("FILE_CHECK", Keywords(&CHECKER)),
        ka("BFD_CHECK", Keywords(&CHECKER)),
    ],
};

/// The keywords of all health checkers (TCP_CHECK, HTTP_GET, MISC_CHECK...), merged.
pub(crate) static CHECKER: Block = Block {
    place: "a health checker",
    toml: Toml::Table("a health checker"),
    keywords: &[
        both(
            "connect_ip",
            Leaf,
            "Check this address instead of the server's.",
        ),
        both(
            "connect_port",
            Leaf,
            "Check this port instead of the server's.",
        ),
        both(
            "bindto",
            Leaf,
            "Source address of the check (TCP_CHECK, HTTP_GET, UDP_CHECK).",
        ),
        ka("bind_port", Leaf),
        ka("bind_if", Leaf),
        CONNECT_TIMEOUT,
        RETRY,
        both("nb_get_retry", Leaf, "keepalived's old name of retry."),
        DELAY_BEFORE_RETRY,
        ka("warmup", Leaf),
        ka("fwmark", Leaf),
        DELAY_LOOP,
        ka("alpha", Leaf),
        ka("log_all_failures", Leaf),
        block("url", &URL),
        ka("virtualhost", Leaf),
        ka("http_protocol", Leaf),
        ka("enable_sni", Leaf),
        ka("fast_recovery", Leaf),
        ka("tls_compliant", Leaf),
        both(
            "misc_path",
            Leaf,
            "The check program and its arguments (no shell); exit 0 = up.",
        ),
        both(
            "misc_timeout",
            Leaf,
            "Seconds before the program is killed and counts as failed.",
        ),
        ka("misc_dynamic", Leaf),
        USER,
        ka("helo_name", Leaf),
        ka("host", Keywords(&HOST)),
        ka("type", Leaf),
        ka("name", Leaf),
        both(
            "payload",
            Leaf,
            "UDP_CHECK: the datagram sent, in hex; unset = an empty one.",
        ),
        both(
            "require_reply",
            Leaf,
            "UDP_CHECK: up only if an answer comes within connect_timeout.",
        ),
        both(
            "min_reply_length",
            Leaf,
            "UDP_CHECK with require_reply: the shortest answer that counts.",
        ),
        both(
            "max_reply_length",
            Leaf,
            "UDP_CHECK with require_reply: the longest answer that counts.",
        ),
        ka("track_file", Leaf),
        ka("file", Leaf),
        ka("weight", Leaf),
        // vipd's own: successes needed before a down server is up again (default 1).
        RISE,
    ],
};

/// `SMTP_CHECK { host { ... } }`.
pub(crate) static HOST: Block = Block {
    place: "host",
    toml: Toml::Absent,
    keywords: &[
        ka("connect_ip", Leaf),
        ka("connect_port", Leaf),
        ka("bindto", Leaf),
        ka("bind_port", Leaf),
        ka("bind_if", Leaf),
        ka("connect_timeout", Leaf),
        ka("fwmark", Leaf),
    ],
};

pub(crate) static URL: Block = Block {
    place: "url",
    toml: Toml::Tables("url"),
    keywords: &[
        both("path", Leaf, "The URL path to GET."),
        both("digest", Leaf, "MD5 of the body, lower-case hex."),
        both("status_code", Leaf, "The status expected; unset = any 2xx."),
        ka("virtualhost", Leaf),
        ka("regex", Leaf),
        ka("regex_no_match", Leaf),
        ka("regex_options", Leaf),
        ka("regex_stack", Leaf),
        ka("regex_min_offset", Leaf),
        ka("regex_max_offset", Leaf),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_block_has_a_name_twice() {
        for block in BLOCKS {
            let mut ka: Vec<&str> = block.keepalived_names().collect();
            let mut toml = block.toml_keys();
            for names in [&mut ka, &mut toml] {
                let n = names.len();
                names.sort_unstable();
                names.dedup();
                assert_eq!(names.len(), n, "{}", block.place);
            }
        }
    }

    /// `vipctl convert` has a comment for every value it writes, and a table for every block
    /// vipd's TOML opens.
    #[test]
    fn every_toml_key_has_a_comment_or_a_table() {
        for block in BLOCKS {
            for k in block.keywords.iter().filter(|k| k.in_toml()) {
                match k.body {
                    Leaf | List => assert!(!k.doc.is_empty(), "{}: {}", block.place, k.name),
                    Keywords(inner) => {
                        assert!(!matches!(inner.toml, Toml::Absent), "{}", k.name);
                    }
                }
            }
        }
    }

    #[test]
    fn convert_finds_nested_tables() {
        let checker = toml_block("virtual_server.real_server.HTTP_GET");
        assert!(checker.is_some_and(|b| std::ptr::eq(b, &CHECKER)));
        assert!(toml_block("vrrp_instance.nosuch").is_none());
        assert_eq!(
            checkers().collect::<Vec<_>>(),
            ["TCP_CHECK", "HTTP_GET", "MISC_CHECK", "UDP_CHECK"]
        );
    }
}
