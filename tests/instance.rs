//! The instance driver on paused tokio time, with fakes for its kernel doors: what it sends,
//! which VIPs it holds and announces, how it obeys the daemon's commands (shutdown, handover,
//! maintenance, a new VIP list, its sync group), what it drops, and how it rides out a
//! renumbered or re-created interface, a link down, sends that fail, a lost address, a failing
//! check and another host claiming its VIP. No root, no network.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use vipd::net::arp::{ArpClaim, ArpOp};
use vipd::track::CheckState;
use vipd::track::eval::Rule;
use vipd::vrrp::fsm::State;
use vipd::vrrp::instance::{Command, Interface, MemberChange, Setup, Tracked};
use vipd::vrrp::packet::{AdvertInterval, AdvertRepr, Auth, ChecksumOver, Version};

mod common;
use common::{FakeDoors, IFINDEX, Running, VIP, World, bound, ipv4_datagram, paused};

const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const VIP2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 101);

/// The single instance these tests drive: priority 100, advert_int 1, one VIP, sending from
/// `ME`.
impl Running {
    fn start() -> Running {
        Running::start_with(|_| {})
    }

    /// Started from the usual setup as `tweak` changes it.
    fn start_with(tweak: impl FnOnce(&mut Setup<FakeDoors>)) -> Running {
        let world = Arc::new(World::default());
        let mut setup = common::setup(&world, ME);
        tweak(&mut setup);
        Running::spawn(world, setup)
    }

    /// Started, and master after its Master_Down_Interval of silence.
    async fn master() -> Running {
        let r = Running::start();
        r.wait_for_master().await;
        r
    }

    /// Waits out a Master_Down_Interval of silence (3.61 s at priority 100): master, holding
    /// the VIP.
    async fn wait_for_master(&self) {
        tokio::time::sleep(Duration::from_millis(3700)).await;
        assert_eq!(self.state(), "MASTER");
        assert!(self.holds_vip());
    }

    fn sent(&self) -> Vec<(IpAddr, AdvertRepr)> {
        self.world.sent.lock().unwrap().clone()
    }

    fn last_sent(&self) -> (IpAddr, AdvertRepr) {
        self.sent().last().cloned().expect("an advert was sent")
    }

    fn announced(&self) -> u64 {
        *self.world.announced.lock().unwrap()
    }

    fn drops(&self, reason: &str) -> u64 {
        let status = self.status.lock().unwrap();
        status.counters.drops.get(reason).copied().unwrap_or(0)
    }

    /// An advert from `from` with `priority`, as a raw socket hands it up.
    fn receive(&self, from: Ipv4Addr, priority: u8) {
        self.receive_advert(from, &advert(priority));
    }

    fn receive_advert(&self, from: Ipv4Addr, advert: &AdvertRepr) {
        let vrrp = advert.to_bytes(&ChecksumOver::MessageOnly);
        self.receive_raw(ipv4_datagram(from, &vrrp));
    }

    /// Any bytes, as if the raw socket had read them.
    fn receive_raw(&self, datagram: Vec<u8>) {
        let inbox = self.world.inbox.lock().unwrap();
        inbox.as_ref().unwrap().send((datagram, None)).unwrap();
    }

    /// The interface as the daemon would report it: same index, `up`, sending from `source`.
    async fn interface(&self, up: bool, source: Option<Ipv4Addr>) {
        self.command(Command::Interface(Interface {
            ifindex: IFINDEX,
            up,
            source: source.map(IpAddr::V4),
            vips: None,
        }))
        .await;
    }
}

/// A valid advert of our virtual router (vrid 51, our password, our VIP).
fn advert(priority: u8) -> AdvertRepr {
    AdvertRepr {
        version: Version::V2,
        vrid: 51,
        priority,
        interval: AdvertInterval::from_secs(1),
        auth: Auth::from_config(Some(b"s3cret")),
        addrs: vec![VIP.into()],
    }
}

#[test]
fn silence_makes_it_master_after_master_down_interval_holding_and_announcing_the_vip() {
    paused(async {
        let r = Running::start();
        tokio::time::sleep(Duration::from_millis(3550)).await;
        assert_eq!(r.state(), "BACKUP");
        assert!(r.sent().is_empty() && !r.holds_vip());
        // Master_Down_Interval at priority 100: 3 + 156/256 s = 3.609 s.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(r.state(), "MASTER");
        assert!(r.holds_vip());
        let sent = r.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].0, sent[0].1.priority), (ME.into(), 100));
        assert_eq!(*r.world.announced.lock().unwrap(), 5, "garp_master_repeat");
        // One advert per second from then on, and the second announcement after 5 s.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(r.sent().len(), 6);
        assert_eq!(*r.world.announced.lock().unwrap(), 10);
    });
}

#[test]
fn a_stronger_advert_makes_the_master_let_go() {
    paused(async {
        let r = Running::master().await;
        r.receive(PEER, 200);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(r.state(), "BACKUP");
        assert!(!r.holds_vip());
        assert_eq!(r.status.lock().unwrap().counters.adverts_received, 1);
    });
}

#[test]
fn a_renumbered_master_sends_from_its_new_address_and_stays_master() {
    paused(async {
        let r = Running::master().await;
        let new = Ipv4Addr::new(10, 0, 0, 21);
        r.interface(true, Some(new)).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(*r.world.opened.lock().unwrap(), [ME, new].map(IpAddr::V4));
        let last = r.sent().last().cloned().unwrap();
        assert_eq!((last.0, last.1.priority), (new.into(), 100));
        assert_eq!(r.state(), "MASTER");
        assert!(r.holds_vip());
        assert_eq!(r.status.lock().unwrap().source, new.to_string());
    });
}

#[test]
fn two_adverts_that_cannot_be_sent_are_fault_and_the_vip_goes() {
    paused(async {
        let r = Running::master().await;
        r.world.fail_sends.store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(r.state(), "MASTER", "one failure is not enough");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(r.state(), "FAULT");
        assert!(!r.holds_vip(), "never hold a VIP no advert defends");
        // Sends work again: retried after 5 s, back to BACKUP, master after its interval.
        r.world.fail_sends.store(false, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(r.state(), "BACKUP");
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(r.state(), "MASTER");
    });
}

#[test]
fn no_address_for_an_advert_interval_is_fault_until_one_comes_back() {
    paused(async {
        let r = Running::master().await;
        r.interface(true, None).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            r.state(),
            "MASTER",
            "a renumbering gets an advert interval: {:?}",
            r.status.lock().unwrap().last_transition
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(r.state(), "FAULT");
        assert!(!r.holds_vip());
        r.interface(true, Some(ME)).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(r.state(), "BACKUP");
    });
}

#[test]
fn a_burst_of_claims_on_the_vip_is_answered_once_within_an_interval() {
    paused(async {
        let r = Running::master().await;
        tokio::time::sleep(Duration::from_secs(6)).await; // past the second announcement
        let before = *r.world.announced.lock().unwrap();
        let claims = r.world.claims.lock().unwrap().clone().unwrap();
        for _ in 0..5 {
            claims
                .send(ArpClaim {
                    sender_ip: VIP,
                    sender_mac: [2, 0, 0, 0, 0, 9],
                    op: ArpOp::Request,
                })
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(*r.world.announced.lock().unwrap(), before + 5, "one burst");
        let counters = r.status.lock().unwrap().counters.clone();
        assert_eq!((counters.vip_claims_seen, counters.vip_defenses), (5, 1));
        // A claim on another address is none of its business.
        claims
            .send(ArpClaim {
                sender_ip: Ipv4Addr::new(10, 0, 0, 77),
                sender_mac: [2, 0, 0, 0, 0, 9],
                op: ArpOp::Reply,
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(r.status.lock().unwrap().counters.vip_claims_seen, 5);
    });
}

#[test]
fn a_weaker_router_answering_a_demoted_master_finds_it_master_again_with_the_vip() {
    paused(async {
        let r = Running::master().await;
        // What a failed check does: the priority falls (here through maintenance's sibling,
        // the fsm itself is tested in fsm.rs); a weaker backup answers the resign.
        r.receive(PEER, 0);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(r.state(), "MASTER", "a master answers a priority-0 advert");
        assert!(r.holds_vip());
    });
}

/// A master that took over because the old one fell silent may be wrong (a lossy link): a
/// claim right after its takeover (the real master's defence) is answered only once its
/// cooldown has passed, by when the real master's advert has set it right.
#[test]
fn a_master_that_took_over_after_silence_does_not_fight_at_once() {
    paused(async {
        let r = Running::master().await; // took over at 3.61 s, now 3.7 s
        let before = *r.world.announced.lock().unwrap();
        let claims = r.world.claims.lock().unwrap().clone().unwrap();
        let claim = ArpClaim {
            sender_ip: VIP,
            sender_mac: [2, 0, 0, 0, 0, 9],
            op: ArpOp::Request,
        };
        claims.send(claim).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(*r.world.announced.lock().unwrap(), before, "not at once");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            *r.world.announced.lock().unwrap(),
            before + 5,
            "after the cooldown"
        );
    });
}

#[test]
fn a_master_told_to_shut_down_resigns_with_priority_0_removes_the_vip_and_stops() {
    paused(async {
        let r = Running::master().await;
        let (done, stopped) = oneshot::channel();
        r.command(Command::Shutdown(done)).await;
        stopped.await.unwrap();
        assert_eq!(
            (r.last_sent().0, r.last_sent().1.priority),
            (ME.into(), 0),
            "the backup takes over after Skew_Time, not Master_Down_Interval"
        );
        assert!(!r.holds_vip());
        assert_eq!(r.state(), "INIT");
        let sent = r.sent().len();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(r.sent().len(), sent, "nothing after the stop");
        assert!(r.task.is_finished());
    });
}

#[test]
fn a_backup_asked_to_hand_over_or_shut_down_sends_nothing() {
    paused(async {
        let r = Running::start();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (reply, answer) = oneshot::channel();
        r.command(Command::Handover(reply)).await;
        let answer = answer.await.unwrap();
        assert_eq!(
            (answer.outcome.as_str(), answer.waited_ms),
            ("not_master", 0)
        );
        let (done, stopped) = oneshot::channel();
        r.command(Command::Shutdown(done)).await;
        stopped.await.unwrap();
        // A priority-0 advert from a backup would make the other backups take over.
        assert!(r.sent().is_empty());
        assert!(r.world.changes().is_empty());
    });
}

#[test]
fn a_handover_keeps_the_vip_until_the_new_master_advertises_and_answers_every_request_with_it() {
    paused(async {
        let r = Running::master().await;
        let (first, first_answer) = oneshot::channel();
        r.command(Command::Handover(first)).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(r.last_sent().1.priority, 0);
        assert_eq!(r.state(), "BACKUP");
        assert!(r.holds_vip(), "make-before-break: the VIP stays meanwhile");
        let (second, second_answer) = oneshot::channel();
        r.command(Command::Handover(second)).await;
        tokio::time::sleep(Duration::from_millis(490)).await; // the new master's Skew_Time
        r.receive(PEER, 100);
        let answers = [first_answer.await.unwrap(), second_answer.await.unwrap()];
        for (answer, waited_ms) in answers.iter().zip([500, 490]) {
            assert_eq!(answer.outcome, "released");
            assert_eq!(answer.new_master.as_deref(), Some("10.0.0.2"));
            assert_eq!(answer.waited_ms, waited_ms, "on the instance's clock");
        }
        assert!(!r.holds_vip());
        let sent = r.sent();
        assert_eq!(sent.iter().filter(|(_, a)| a.priority == 0).count(), 1);
    });
}

#[test]
fn maintenance_makes_a_master_hand_over_and_keeps_it_backup_until_it_ends() {
    paused(async {
        let r = Running::master().await;
        r.command(Command::Maintenance(true)).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(r.state(), "BACKUP");
        assert_eq!(r.last_sent().1.priority, 0);
        assert!(r.status.lock().unwrap().maintenance);
        assert!(
            r.holds_vip(),
            "kept until a new master advertises, 3 intervals at most"
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!r.holds_vip());
        // Nobody else is master, and still it does not take over.
        let sent = r.sent().len();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(r.state(), "BACKUP");
        assert_eq!(r.sent().len(), sent);
        r.command(Command::Maintenance(false)).await;
        r.wait_for_master().await;
        assert!(!r.status.lock().unwrap().maintenance);
    });
}

#[test]
fn a_new_vip_list_on_a_master_adds_and_removes_just_the_difference() {
    paused(async {
        let r = Running::master().await;
        r.world.changes.lock().unwrap().clear();
        let announced = r.announced();
        let both = vec![bound(VIP, IFINDEX), bound(VIP2, IFINDEX)];
        r.command(Command::UpdateVips(both)).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(r.world.changes(), [("add", VIP2.into())]);
        assert_eq!(r.announced(), announced + 5, "the new VIP only");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(r.last_sent().1.addrs, [VIP, VIP2], "adverts list both");
        r.command(Command::UpdateVips(vec![bound(VIP2, IFINDEX)]))
            .await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            r.world.changes(),
            [("add", VIP2.into()), ("remove", VIP.into())]
        );
        assert_eq!(
            *r.world.present.lock().unwrap(),
            HashSet::from([VIP2.into()])
        );
        assert_eq!(r.state(), "MASTER");
        let vips: Vec<String> = (r.status.lock().unwrap().vips.iter())
            .map(|v| v.addr.clone())
            .collect();
        assert_eq!(vips, ["10.0.0.101/32"]);
    });
}

#[test]
fn a_backup_takes_a_new_vip_list_without_touching_the_host_and_holds_it_as_master() {
    paused(async {
        let r = Running::start();
        tokio::time::sleep(Duration::from_secs(1)).await;
        r.command(Command::UpdateVips(vec![bound(VIP2, IFINDEX)]))
            .await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(r.world.changes().is_empty());
        assert_eq!(r.announced(), 0);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(r.state(), "MASTER");
        assert_eq!(
            *r.world.present.lock().unwrap(),
            HashSet::from([VIP2.into()])
        );
        assert_eq!(r.last_sent().1.addrs, [VIP2]);
    });
}

#[test]
fn packets_that_fail_a_check_are_counted_as_drops_and_change_nothing() {
    paused(async {
        let r = Running::master().await;
        // Each would, if accepted, make this master give way.
        r.receive_raw(vec![0x45, 0, 0]);
        let mut wrong_password = advert(255);
        wrong_password.auth = Auth::from_config(Some(b"guess"));
        r.receive_advert(PEER, &wrong_password);
        let mut other_router = advert(255);
        other_router.vrid = 52;
        r.receive_advert(PEER, &other_router);
        r.receive(ME, 255); // another host with our address
        tokio::time::sleep(Duration::from_millis(10)).await;
        let drops = ["truncated", "auth_password", "vrid", "own_address"].map(|d| r.drops(d));
        assert_eq!(drops, [1, 1, 1, 1]);
        assert_eq!(r.state(), "MASTER");
        assert!(r.holds_vip());
        assert_eq!(r.status.lock().unwrap().counters.adverts_received, 0);
    });
}

#[test]
fn a_weaker_master_is_answered_at_once_but_once_per_interval() {
    paused(async {
        let r = Running::master().await;
        let (sent, announced) = (r.sent().len(), r.announced());
        r.receive(PEER, 50);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(r.state(), "MASTER");
        assert_eq!(r.sent().len(), sent + 1, "answered with an advert at once");
        assert_eq!(r.last_sent().1.priority, 100);
        assert_eq!(r.announced(), announced + 5, "garp_lower_prio_repeat");
        r.receive(PEER, 50);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            (r.sent().len(), r.announced()),
            (sent + 1, announced + 5),
            "no amplifier for whoever sends weaker adverts"
        );
    });
}

#[test]
fn a_link_down_is_fault_at_once_without_the_vip_and_back_to_backup_when_up() {
    paused(async {
        let r = Running::master().await;
        r.interface(false, Some(ME)).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(r.state(), "FAULT");
        assert!(!r.holds_vip());
        assert_eq!(r.last_sent().1.priority, 0, "a resign is worth a try");
        let sent = r.sent().len();
        tokio::time::sleep(Duration::from_secs(6)).await; // past a network retry
        assert_eq!(r.state(), "FAULT");
        assert_eq!(r.sent().len(), sent, "silent in FAULT");
        r.interface(true, Some(ME)).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(r.state(), "BACKUP");
        r.wait_for_master().await;
    });
}

#[test]
fn a_recreated_interface_is_followed_with_a_new_socket_and_arp_watch() {
    paused(async {
        let r = Running::master().await;
        // Deleted: no carrier, no address.
        r.interface(false, None).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(r.state(), "FAULT");
        assert!(!r.holds_vip());
        let new_index = 7;
        r.command(Command::Interface(Interface {
            ifindex: new_index,
            up: true,
            source: Some(ME.into()),
            vips: Some(vec![bound(VIP, new_index)]),
        }))
        .await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(r.state(), "BACKUP");
        assert_eq!(*r.world.opened.lock().unwrap(), [ME, ME].map(IpAddr::V4));
        assert_eq!(*r.world.watched.lock().unwrap(), [IFINDEX, new_index]);
        let sent = r.sent().len();
        r.wait_for_master().await;
        assert!(r.sent().len() > sent, "adverts go out on the new socket");
    });
}

/// One tracked script check, with the sender that plays its result.
fn script(rule: Rule) -> (tokio::sync::watch::Sender<CheckState>, Tracked) {
    let (check, watch) = tokio::sync::watch::channel(CheckState::initial(true));
    let tracked = Tracked {
        source: "check chk_nginx".into(),
        kind: "script",
        rule,
        watch,
    };
    (check, tracked)
}

fn failing(detail: &str) -> CheckState {
    CheckState {
        ok: false,
        value: 0,
        detail: detail.into(),
    }
}

#[test]
fn a_failing_check_of_weight_0_is_fault_and_its_recovery_backup() {
    paused(async {
        let (check, tracked) = script(Rule::Status { weight: 0 });
        let r = Running::start_with(|s| s.tracked = vec![tracked]);
        r.wait_for_master().await;
        check.send(failing("exit status 1")).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(r.state(), "FAULT");
        assert!(!r.holds_vip());
        let track = r.status.lock().unwrap().tracks[0].clone();
        assert_eq!((track.ok, track.detail.as_str()), (false, "exit status 1"));
        check.send(CheckState::initial(true)).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(r.state(), "BACKUP");
    });
}

#[test]
fn a_failing_check_with_a_weight_lowers_the_priority_it_advertises() {
    paused(async {
        let (check, tracked) = script(Rule::Status { weight: -20 });
        let r = Running::start_with(|s| s.tracked = vec![tracked]);
        tokio::time::sleep(Duration::from_secs(1)).await;
        check.send(failing("exit status 2")).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(r.status.lock().unwrap().effective_priority, 80);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(r.state(), "MASTER");
        assert_eq!(r.last_sent().1.priority, 80);
    });
}

#[test]
fn its_own_transitions_go_to_its_sync_group_and_one_it_follows_is_not_echoed() {
    paused(async {
        let (tx, mut group) = mpsc::unbounded_channel::<MemberChange>();
        let r = Running::start_with(|s| s.sync = Some(tx));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(group.try_recv().unwrap().to, State::Backup);
        r.command(Command::Sync {
            target: State::Master,
            why: "sync group G: VI_2 went MASTER".into(),
        })
        .await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(r.state(), "MASTER", "long before its Master_Down_Interval");
        assert!(r.holds_vip());
        assert!(group.try_recv().is_err(), "the group knows already");
        r.receive(PEER, 200);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let change = group.try_recv().unwrap();
        assert_eq!(
            (change.instance.as_str(), change.to, change.priority),
            ("VI_1", State::Backup, 100)
        );
    });
}

#[test]
fn transitions_are_announced_to_watchers_and_counted() {
    paused(async {
        let mut r = Running::master().await;
        r.receive(PEER, 200);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let seen: Vec<(String, String)> = std::iter::from_fn(|| r.events.try_recv().ok())
            .map(|e| (e.from, e.to))
            .collect();
        let want = [
            ("INIT", "BACKUP"),
            ("BACKUP", "MASTER"),
            ("MASTER", "BACKUP"),
        ];
        assert_eq!(seen, want.map(|(a, b)| (a.to_string(), b.to_string())));
        let status = r.status.lock().unwrap();
        let c = &status.counters;
        assert_eq!(
            (c.transitions, c.became_master, c.released_master),
            (3, 1, 1)
        );
        let last = status.last_transition.clone().unwrap();
        assert!(last.reason.contains("10.0.0.2"), "{}", last.reason);
    });
}

#[test]
fn with_route_table_a_master_routes_its_vip_after_adding_it_and_withdraws_before_removing_it() {
    paused(async {
        let (check, tracked) = script(Rule::Status { weight: -20 });
        let r = Running::start_with(|s| {
            s.config.route_table = Some(200);
            s.tracked = vec![tracked];
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            r.world.routes.lock().unwrap().is_empty(),
            "a backup has no route"
        );
        r.wait_for_master().await;
        let routes = |r: &Running| {
            let mut v: Vec<_> = r.world.routes.lock().unwrap().iter().copied().collect();
            v.sort_unstable();
            v
        };
        assert_eq!(routes(&r), [(IpAddr::from(VIP), 200, 156)]);
        // The priority falls: the metric follows, the new route added before the old goes. The
        // demoted master resigns (fast resign) but keeps its VIP, and so its route, until a
        // stronger master advertises; nobody does, and it is master again.
        check.send(failing("exit status 2")).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(r.holds_vip());
        assert_eq!(routes(&r), [(IpAddr::from(VIP), 200, 176)]);
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(r.state(), "MASTER");
        assert_eq!(routes(&r), [(IpAddr::from(VIP), 200, 176)]);
        let (done, stopped) = oneshot::channel();
        r.command(Command::Shutdown(done)).await;
        stopped.await.unwrap();
        assert!(routes(&r).is_empty());
        let vip = IpAddr::from(VIP);
        // Master again adds the VIP again (already there: no change); the route is not touched.
        assert_eq!(
            r.world.changes(),
            [
                ("add", vip),
                ("route", vip),
                ("route", vip),
                ("unroute", vip),
                ("add", vip),
                ("unroute", vip),
                ("remove", vip)
            ]
        );
    });
}
