//! keepalived.conf text for a lab. vipd reads the same syntax, so every scenario is written once
//! and both kinds of node get exactly the same file.

use std::fmt::Write as _;

/// The password every node uses unless told otherwise (keepalived compares the first 8 bytes).
pub const PASSWORD: &str = "s3cret";
/// The password of a node configured with [`PairOpts::wrong_password_on`].
pub const WRONG_PASSWORD: &str = "wr0ng";
/// The VRID of the pair's one instance.
pub const VRID: u8 = 51;
/// The instance name, as `vipctl status --json` reports it.
pub const INSTANCE: &str = "VI_1";

/// What may differ between pairs of the same shape.
#[derive(Clone, Debug, Default)]
pub struct PairOpts {
    /// Send adverts to the peer's address (`unicast_src_ip` / `unicast_peer`), not 224.0.0.18.
    pub unicast: bool,
    /// This host index gets [`WRONG_PASSWORD`] instead of [`PASSWORD`].
    pub wrong_password_on: Option<usize>,
    /// `version 3` (VRRPv3, RFC 9568): no authentication block; an IPv6 VIP needs it.
    pub version3: bool,
    /// `advert_int` as written (`0.05`); `None` = 1.
    pub advert_int: Option<&'static str>,
    /// `use_vmac`: the VIP lives on the macvlan `vrrp.VRID` with the virtual MAC.
    pub vmac: bool,
    /// A line added to one host's instance: `(host, "v3_checksum_as_v2")`.
    pub extra_on: Option<(usize, &'static str)>,
}

/// Everything the generator needs to know about the lab.
pub struct PairAddrs<'a> {
    /// Host index (0 or 1) the file is for.
    pub host: usize,
    /// Each host's own eth0 address, without prefix length.
    pub host_addrs: &'a [String],
    /// The VIP, without prefix length.
    pub vip: &'a str,
}

/// Priority of host `host` in a pair: 100 for host 0, 90 for host 1.
pub fn pair_priority(host: usize) -> u8 {
    match host {
        0 => 100,
        1 => 90,
        _ => panic!("a pair has hosts 0 and 1, not {host}"),
    }
}

/// The keepalived.conf of one node of a two-host pair: both start BACKUP (preempt is on, as
/// keepalived's default), advert_int 1, auth PASS (VRRPv2), one VIP on eth0 (/32, or /64 for
/// an IPv6 one).
pub fn pair_conf(addrs: &PairAddrs<'_>, opts: &PairOpts) -> String {
    let host = addrs.host;
    let password = if opts.wrong_password_on == Some(host) {
        WRONG_PASSWORD
    } else {
        PASSWORD
    };
    let mut s = String::new();
    let _ = writeln!(s, "global_defs {{\n    router_id h{}\n}}\n", host + 1);
    let _ = writeln!(s, "vrrp_instance {INSTANCE} {{");
    let _ = writeln!(s, "    state BACKUP");
    let _ = writeln!(s, "    interface eth0");
    let _ = writeln!(s, "    virtual_router_id {VRID}");
    let _ = writeln!(s, "    priority {}", pair_priority(host));
    if opts.version3 {
        let _ = writeln!(s, "    version 3");
    }
    let _ = writeln!(s, "    advert_int {}", opts.advert_int.unwrap_or("1"));
    if !opts.version3 {
        let _ = writeln!(s, "    authentication {{");
        let _ = writeln!(s, "        auth_type PASS");
        let _ = writeln!(s, "        auth_pass {password}");
        let _ = writeln!(s, "    }}");
    }
    if opts.unicast {
        let _ = writeln!(s, "    unicast_src_ip {}", addrs.host_addrs[host]);
        let _ = writeln!(s, "    unicast_peer {{");
        for (i, a) in addrs.host_addrs.iter().enumerate() {
            if i != host {
                let _ = writeln!(s, "        {a}");
            }
        }
        let _ = writeln!(s, "    }}");
    }
    if opts.vmac {
        let _ = writeln!(s, "    use_vmac");
    }
    if let Some((h, line)) = opts.extra_on
        && h == host
    {
        let _ = writeln!(s, "    {line}");
    }
    let _ = writeln!(s, "    virtual_ipaddress {{");
    let len = if addrs.vip.contains(':') { 64 } else { 32 };
    if opts.vmac {
        // Without `dev`: the VIP goes on the macvlan.
        let _ = writeln!(s, "        {}/{len}", addrs.vip);
    } else {
        let _ = writeln!(s, "        {}/{len} dev eth0", addrs.vip);
    }
    let _ = writeln!(s, "    }}");
    let _ = writeln!(s, "}}");
    s
}
