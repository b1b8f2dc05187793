//! A routed lab: one host moved off the bridge into a subnet of its own, behind a router
//! namespace, so that VRRP between the hosts crosses an IP hop (unicast adverts arrive with
//! TTL 254). The router forwards only between the lab's two subnets; no namespace gets a
//! route anywhere else.

use std::process::Command;

use super::conf::{self, PairOpts};
use super::{Lab, ip, run};

impl Lab {
    /// The router's namespace (exists after [`Lab::route_apart`]).
    pub fn router_ns(&self) -> String {
        format!("{}-rt", self.prefix)
    }

    /// The second subnet's address of `host`: 10.232.X.(host+1).
    pub fn routed_addr(&self, host: usize) -> String {
        format!("10.232.{}.{}", self.subnet, host + 1)
    }

    /// Moves `host` off the bridge: its eth0 (and the bridge port) is deleted and a new eth0
    /// links it straight to a router namespace, with [`Lab::routed_addr`]/24. The router has
    /// 10.231.X.254 on the bridge and 10.232.X.254 towards `host`, and forwards between them;
    /// every other host gets a route to 10.232.X.0/24 through it and `host` one back to
    /// 10.231.X.0/24. Returns `host`'s new address.
    pub fn route_apart(&mut self, host: usize) -> String {
        let rt = self.router_ns();
        self.add_ns(&rt);
        self.plug(
            &rt,
            "p-rt",
            &format!("10.231.{}.254", self.subnet),
            &self.v6(254),
        );
        let ns = self.hosts[host].clone();
        ip(&["-n", &ns, "link", "del", "eth0"]);
        ip(&[
            "-n", &rt, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ]);
        let rt_side = format!("10.232.{}.254", self.subnet);
        ip(&[
            "-n",
            &rt,
            "addr",
            "add",
            &format!("{rt_side}/24"),
            "dev",
            "eth1",
        ]);
        ip(&["-n", &rt, "link", "set", "eth1", "up"]);
        let addr = self.routed_addr(host);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        run(Command::new("ip").args([
            "netns",
            "exec",
            &rt,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]));
        let far = format!("10.232.{}.0/24", self.subnet);
        let near = format!("10.231.{}.0/24", self.subnet);
        let gw = format!("10.231.{}.254", self.subnet);
        for (i, other) in self.hosts.iter().enumerate() {
            if i != host {
                ip(&["-n", other, "route", "add", &far, "via", &gw]);
            }
        }
        ip(&["-n", &ns, "route", "add", &near, "via", &rt_side]);
        addr
    }

    /// The TTL of a ping reply `from` host gets from `to` (an address), if one comes within
    /// 2 s: 63 across one router, 64 on the same link.
    pub fn ping_ttl(&self, from: usize, to: &str) -> Option<u8> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.hosts[from]])
            .args(["ping", "-n", "-c", "1", "-W", "2", to])
            .env("LC_ALL", "C")
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let at = text.find("ttl=")? + 4;
        text[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    }

    /// The pair's keepalived.conf for `host` with unicast adverts between `addrs` (each
    /// host's own address, in host order).
    pub fn unicast_pair_conf(&self, host: usize, addrs: &[String]) -> String {
        conf::pair_conf(
            &conf::PairAddrs {
                host,
                host_addrs: addrs,
                vip: &self.vip(),
            },
            &PairOpts {
                unicast: true,
                ..PairOpts::default()
            },
        )
    }
}
