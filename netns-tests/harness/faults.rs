//! Faults a real network puts a host in, as plain `ip` and `nft` commands inside the lab:
//! renumbering, an interface deleted and re-created, VRRP loss on the LAN.

use super::{Lab, ip};

impl Lab {
    /// Host `host`'s alternative address after [`Lab::renumber`]: 10.231.X.(host+21).
    pub fn renumbered_addr(&self, host: usize) -> String {
        format!("10.231.{}.{}", self.subnet, host + 21)
    }

    /// Renumbers `host`'s eth0 as a DHCP renew or `ip addr flush` does: its primary /24 is
    /// deleted, then [`Lab::renumbered_addr`] added, in one `ip -batch` (milliseconds apart).
    pub fn renumber(&self, host: usize) {
        let batch = format!(
            "addr del {}/24 dev eth0\naddr add {}/24 dev eth0\n",
            self.host_addr(host),
            self.renumbered_addr(host)
        );
        let path = self.dir().join(format!("renumber-h{}.batch", host + 1));
        std::fs::write(&path, batch).expect("write ip batch");
        ip(&["-n", &self.hosts[host], "-batch", &path.to_string_lossy()]);
    }

    /// Deletes `host`'s eth0 (and its veth peer in the switch) and plugs a new one with the
    /// same name and address, as when a VLAN or bond is rebuilt: a new interface index.
    pub fn recreate_eth0(&self, host: usize) {
        ip(&["-n", &self.hosts[host], "link", "del", "eth0"]);
        self.plug(
            &self.hosts[host],
            &format!("p-h{}", host + 1),
            &self.host_addr(host),
            &self.host_addr6(host),
        );
    }

    /// Runs `ip ARGS` inside `host`'s namespace (panics when it fails).
    pub fn ip_in(&self, host: usize, args: &[&str]) -> String {
        let mut all = vec!["-n", self.hosts[host].as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Index and MAC of the client's eth0.
    pub fn eth0_of_client(&self) -> (u32, [u8; 6]) {
        let out = ip(&["-n", &self.client, "-o", "link", "show", "dev", "eth0"]);
        let index = out
            .split(':')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no index in {out:?}"));
        let mac = out
            .split("link/ether ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(|m| {
                let mut mac = [0u8; 6];
                for (b, part) in mac.iter_mut().zip(m.split(':')) {
                    *b = u8::from_str_radix(part, 16).expect("MAC byte");
                }
                mac
            })
            .unwrap_or_else(|| panic!("no MAC in {out:?}"));
        (index, mac)
    }

    /// Index of `host`'s eth0.
    pub fn eth0_index(&self, host: usize) -> u32 {
        let out = ip(&["-n", &self.hosts[host], "-o", "link", "show", "dev", "eth0"]);
        out.split(':')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no index in {out:?}"))
    }

    /// Drops `percent` % of VRRP packets crossing the switch (both directions, every host),
    /// at random, until [`Lab::clear_lan_loss`].
    pub fn vrrp_loss(&self, percent: u8) {
        self.nft_switch(&format!(
            "add table bridge vtloss\n\
             add chain bridge vtloss lossy {{ type filter hook forward priority 0; }}\n\
             add rule bridge vtloss lossy ip protocol 112 numgen random mod 100 lt {percent} drop\n"
        ));
    }

    /// Undoes [`Lab::vrrp_loss`].
    pub fn clear_lan_loss(&self) {
        self.nft_switch("delete table bridge vtloss\n");
    }

    fn nft_switch(&self, script: &str) {
        super::nft_in(&self.switch, script);
    }
}
