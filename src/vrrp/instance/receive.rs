//! What comes in on the VRRP socket: every check RFC 3768 and RFC 9568 section 7.1 ask for
//! before an advert reaches the state machine, and for each drop its counter and a
//! rate-limited log line. An IPv4 datagram comes with its header; the VRRP message of an
//! IPv6 packet comes with its addresses and hop limit beside it ([`Ipv6Meta`]).

use std::net::IpAddr;

use tracing::{info, warn};

use super::{Instance, now};
use crate::net::socket::Ipv6Meta;
use crate::ratelimit::held_back;
use crate::vrrp::doors::Doors;
use crate::vrrp::fsm::State;
use crate::vrrp::packet::{self, ChecksumForm, Expected, PacketError, Received, Version};

/// What one instance accepts: the receive checks that need more than the packet itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Filter<'a> {
    /// The instance's `unicast_peer` list; empty for multicast.
    pub(crate) unicast_peers: &'a [IpAddr],
    /// The address the instance sends from, if it has one.
    pub(crate) source: Option<IpAddr>,
    /// Version, VRID, authentication, interval and addresses of this virtual router.
    pub(crate) expected: Expected<'a>,
}

/// What to do with one datagram.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Passed every check: for the state machine.
    Accept(Received),
    /// Our own unicast advert, echoed because the peer list names us: ignored.
    OwnEcho,
    /// Dropped: counted and logged (rate-limited), with the sender when known.
    Drop(Option<IpAddr>, PacketError),
    /// Dropped: counted only (another virtual router on the link is not news).
    DropQuietly(PacketError),
}

/// RFC 3768 / RFC 9568 §7.1: every receive check of one datagram, pure. `ipv6` is `None` for
/// an IPv4 datagram (header included), the metadata of an IPv6 one (`datagram` is then the
/// VRRP message alone).
pub(crate) fn judge(datagram: &[u8], ipv6: Option<&Ipv6Meta>, filter: &Filter<'_>) -> Verdict {
    let multicast = filter.unicast_peers.is_empty();
    let parsed = match ipv6 {
        None if multicast => packet::parse_ipv4(datagram),
        None => packet::parse_ipv4_unicast(datagram),
        Some(m) if multicast => packet::parse_ipv6(datagram, m.src, m.dst, m.hop_limit),
        Some(m) => packet::parse_ipv6_unicast(datagram, m.src, m.dst, m.hop_limit),
    };
    let received = match parsed {
        Ok(r) => r,
        Err(e) => return Verdict::Drop(None, e),
    };
    let src = received.src;
    if Some(src) == filter.source {
        // Our own advert comes back only when the unicast peer list names us (a config
        // shared by all nodes); otherwise another host uses our address.
        if filter.unicast_peers.contains(&src) {
            return Verdict::OwnEcho;
        }
        return Verdict::Drop(Some(src), PacketError::OwnAddress { src });
    }
    if received.advert.vrid != filter.expected.vrid {
        return Verdict::DropQuietly(PacketError::VridMismatch {
            got: received.advert.vrid,
            want: filter.expected.vrid,
        });
    }
    if !filter.unicast_peers.is_empty() && !filter.unicast_peers.contains(&src) {
        return Verdict::Drop(Some(src), PacketError::UnknownPeer { src });
    }
    if let Err(e) = packet::validate(&received.advert, &filter.expected) {
        return Verdict::Drop(Some(src), e);
    }
    Verdict::Accept(received)
}

impl<D: Doors> Instance<D> {
    /// Every receive check ([`judge`]), then the state machine.
    pub(super) fn on_datagram(&mut self, datagram: &[u8], ipv6: Option<Ipv6Meta>) {
        let filter = Filter {
            unicast_peers: &self.unicast_peers,
            source: self.source,
            expected: Expected {
                version: self.version,
                vrid: self.vrid,
                auth: &self.auth,
                interval: self.interval,
                addrs: self.vips.addrs(),
            },
        };
        match judge(datagram, ipv6.as_ref(), &filter) {
            Verdict::Accept(received) => {
                self.count_accepted(&received);
                let before = self.fsm.master_adver_interval();
                let advert = &received.advert;
                self.fsm.handle_advert(
                    now(),
                    received.src,
                    advert.priority,
                    advert.interval.as_duration(),
                );
                self.log_learned_interval(before, received.src);
            }
            Verdict::OwnEcho => {}
            Verdict::Drop(from, e) => self.drop_packet(from, &e),
            Verdict::DropQuietly(e) => self.count_drop(&e),
        }
    }

    /// A VRRPv3 backup that took the master's interval says so, as keepalived's "advertisement
    /// interval updated to N milli-sec from M milli-sec" does. Only in Backup: becoming master
    /// puts our own interval back, which is not news.
    fn log_learned_interval(&mut self, before: std::time::Duration, from: IpAddr) {
        let after = self.fsm.master_adver_interval();
        if after == before || self.fsm.state() != State::Backup {
            return;
        }
        if let Some(suppressed) = self.rate_limit.allow("interval_learned", now()) {
            info!(
                "{}: advertisement interval updated to {} ms from {} ms, as {from} advertises{}",
                self.name,
                after.as_millis(),
                before.as_millis(),
                held_back(suppressed)
            );
        }
    }

    /// Counts an accepted advert and, for VRRPv3 over IPv4, which checksum form its sender
    /// uses; a sender whose form differs from ours is logged, at most once per 10 s (both
    /// are accepted).
    fn count_accepted(&mut self, received: &Received) {
        let mut status = self.status();
        status.counters.adverts_received += 1;
        if received.advert.version != Version::V3 || !received.src.is_ipv4() {
            return;
        }
        match received.checksum_form {
            ChecksumForm::PseudoHeader => status.counters.v3_checksum_pseudo_header += 1,
            ChecksumForm::MessageOnly => status.counters.v3_checksum_message_only += 1,
        }
        drop(status);
        if received.checksum_form != self.checksum_form
            && self.rate_limit.allow("checksum_form", now()).is_some()
        {
            let theirs = match received.checksum_form {
                ChecksumForm::PseudoHeader => "with the pseudo-header (keepalived's default)",
                ChecksumForm::MessageOnly => "over the message alone (v3_checksum_as_v2)",
            };
            info!(
                "{}: {} computes its VRRPv3 checksum {theirs}, unlike this instance; both are \
                 accepted, but set v3_checksum_as_v2 alike on every router so that all hear us",
                self.name, received.src
            );
        }
    }

    fn count_drop(&self, e: &PacketError) {
        let mut status = self.status();
        *status
            .counters
            .drops
            .entry(e.counter_name().to_string())
            .or_default() += 1;
    }

    fn drop_packet(&mut self, from: Option<IpAddr>, e: &PacketError) {
        self.count_drop(e);
        if let Some(suppressed) = self.rate_limit.allow(e.counter_name(), now()) {
            let from = from.map_or_else(String::new, |a| format!(" from {a}"));
            let more = held_back(suppressed);
            warn!("{}: dropped advert{from}: {e}{more}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;
    use crate::vrrp::packet::{
        AdvertInterval, AdvertRepr, Auth, ChecksumOver, Endpoints, MULTICAST_GROUP_V6, Version,
    };

    const PEER: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
    const ME: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

    fn advert() -> AdvertRepr {
        AdvertRepr {
            version: Version::V3,
            vrid: 51,
            priority: 100,
            interval: AdvertInterval::from_centis(5),
            auth: Auth::None,
            addrs: vec!["fd00::151".parse().unwrap()],
        }
    }

    /// What an instance of `advert`'s virtual router sending from `ME` accepts.
    fn filter<'a>(advert: &'a AdvertRepr, peers: &'a [IpAddr]) -> Filter<'a> {
        Filter {
            unicast_peers: peers,
            source: Some(ME.into()),
            expected: Expected {
                version: Version::V3,
                vrid: 51,
                auth: &Auth::None,
                interval: advert.interval,
                addrs: &advert.addrs,
            },
        }
    }

    /// The verdict on `advert()` from `src` to `dst` with `hop_limit`, for an instance with
    /// `peers` (empty: multicast).
    fn judge_v6(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, peers: &[IpAddr]) -> Verdict {
        let advert = advert();
        let bytes = advert.to_bytes(&ChecksumOver::PseudoHeader(Endpoints::V6 { src, dst }));
        let meta = Ipv6Meta {
            src,
            dst,
            hop_limit,
        };
        judge(&bytes, Some(&meta), &filter(&advert, peers))
    }

    #[test]
    fn an_ipv6_advert_is_judged_with_its_metadata() {
        match judge_v6(PEER, MULTICAST_GROUP_V6, 255, &[]) {
            Verdict::Accept(r) => assert_eq!((r.src, r.advert), (PEER.into(), advert())),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            judge_v6(PEER, MULTICAST_GROUP_V6, 64, &[]),
            Verdict::Drop(None, PacketError::HopLimitNot255 { got: 64 })
        );
        // The checksum covers the destination: the same bytes to another address fail.
        let advert = advert();
        let to_group = Endpoints::V6 {
            src: PEER,
            dst: MULTICAST_GROUP_V6,
        };
        let bytes = advert.to_bytes(&ChecksumOver::PseudoHeader(to_group));
        let elsewhere = Ipv6Meta {
            src: PEER,
            dst: ME,
            hop_limit: 255,
        };
        assert!(matches!(
            judge(&bytes, Some(&elsewhere), &filter(&advert, &[])),
            Verdict::Drop(None, PacketError::BadChecksum { .. })
        ));
    }

    #[test]
    fn an_ipv6_unicast_advert_needs_a_known_peer_but_no_hop_limit() {
        let peers = [IpAddr::V6(PEER)];
        assert!(matches!(judge_v6(PEER, ME, 64, &peers), Verdict::Accept(_)));
        let stranger = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9);
        assert_eq!(
            judge_v6(stranger, ME, 255, &peers),
            Verdict::Drop(
                Some(stranger.into()),
                PacketError::UnknownPeer {
                    src: stranger.into()
                }
            )
        );
        assert_eq!(
            judge_v6(ME, ME, 255, &peers),
            Verdict::Drop(Some(ME.into()), PacketError::OwnAddress { src: ME.into() })
        );
    }
}
