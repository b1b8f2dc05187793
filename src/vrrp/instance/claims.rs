//! The defence of the VIPs against other hosts' ARP claims (a backup that took over for a
//! moment, an address conflict): the ARP watches, one per interface a VIP lives on, the
//! claims they report, and the re-announcement a master makes for them, at most once per
//! advert interval ([`Defender`](crate::vip::Defender)), so that clients come back within
//! one interval whatever agent the peer runs.

use std::collections::HashSet;
use std::net::IpAddr;

use tracing::warn;

use super::{Instance, now};
use crate::net::arp::ArpClaim;
use crate::ratelimit::held_back;
use crate::vrrp::doors::Doors;
use crate::vrrp::fsm::State;

impl<D: Doors> Instance<D> {
    /// Watches ARP on every interface a VIP lives on, for claims by other hosts; a watch
    /// that cannot be opened costs the defence on that interface, not the instance.
    pub(super) fn watch_arp(&mut self) {
        for task in self.arp_watches.drain(..) {
            task.abort();
        }
        let mut seen = HashSet::new();
        for vip in self.vips.vips() {
            if !seen.insert(vip.ifindex) {
                continue;
            }
            match self
                .doors
                .watch_arp(vip.ifindex, vip.mac, self.claims_tx.clone())
            {
                Ok(task) => self.arp_watches.push(task),
                Err(e) => warn!(
                    "{}: cannot watch ARP on {}, VIPs there are not defended: {e}",
                    self.name, vip.dev
                ),
            }
        }
    }

    /// Another host says it has `claim.sender_ip`: if that is one of our VIPs and we are
    /// master, its neighbours now send our clients' traffic there.
    pub(super) fn on_claim(&mut self, claim: &ArpClaim) {
        let now = now();
        let m = claim.sender_mac;
        let mac = format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        );
        // The kernel drops adverts from our own address before we see them (a martian
        // source), so a duplicate address shows up here, in ARP, or nowhere.
        if Some(IpAddr::V4(claim.sender_ip)) == self.source {
            if let Some(suppressed) = self.rate_limit.allow("own_address", now) {
                warn!(
                    "{}: {mac} claims {}, the address our adverts come from: another host uses \
                     it (a duplicate IP address: peers cannot tell us apart){}",
                    self.name,
                    claim.sender_ip,
                    held_back(suppressed)
                );
            }
            return;
        }
        if self.fsm.state() != State::Master
            || !self.vips.addrs().contains(&IpAddr::V4(claim.sender_ip))
        {
            return;
        }
        self.defender.claim(now, claim.sender_ip);
        self.status().counters.vip_claims_seen += 1;
        if let Some(suppressed) = self.rate_limit.allow("vip_claim", now) {
            warn!(
                "{}: {mac} claims {}, one of our VIPs: re-announcing it{}",
                self.name,
                claim.sender_ip,
                held_back(suppressed)
            );
        }
    }

    /// The defence is due: a master re-announces every VIP after foreign claims.
    pub(super) fn on_defence_timer(&mut self) {
        if !self.defender.handle_timeout(now()) || self.fsm.state() != State::Master {
            return;
        }
        self.send_garps(self.garp_repeat);
        self.status().counters.vip_defenses += 1;
    }
}

impl<D: Doors> Drop for Instance<D> {
    /// The ARP watches hold sockets: they go with the instance (a stop, a reload).
    fn drop(&mut self) {
        for task in &self.arp_watches {
            task.abort();
        }
    }
}
