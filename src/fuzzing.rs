//! Entry points for the coverage-guided fuzz targets in `fuzz/` (built only with
//! `--cfg fuzzing`, which `cargo fuzz` sets). Each takes the bytes a remote or local party
//! could send, runs the code that reads them, and checks what must hold for any input; a
//! violated check panics, which the fuzzer reports as a crash.

use std::io::Cursor;

use crate::config::HttpUrl;
use crate::control::proto::Request;
use crate::control::server::{Line, read_request};
use crate::metrics::{Route, route};

/// Control socket: request lines as a client streams them. No line handed on is longer than
/// the limit, a too-long line stops the reading, and every line parses or is refused.
pub fn control_requests(data: &[u8]) {
    const MAX: usize = 64;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async {
        let mut reader = tokio::io::BufReader::new(Cursor::new(data));
        let mut line = Vec::new();
        let mut consumed = 0;
        loop {
            match read_request(&mut reader, &mut line, MAX).await {
                Ok(Line::Request) => {
                    assert!(line.len() <= MAX, "a {}-byte request line", line.len());
                    assert!(!line.contains(&b'\n'));
                    assert_eq!(&data[consumed..consumed + line.len()], &line[..]);
                    consumed += line.len() + 1;
                    if let Ok(request) = serde_json::from_slice::<Request>(&line) {
                        let again = serde_json::to_vec(&request).expect("a request serializes");
                        let back: Request = serde_json::from_slice(&again).expect("round trip");
                        assert_eq!(back, request);
                    }
                }
                Ok(Line::TooLong) => {
                    assert_eq!(
                        line.len(),
                        MAX + 1,
                        "reads one byte past the limit, no more"
                    );
                    break;
                }
                Ok(Line::End) => break,
                Err(e) => panic!("reading from memory failed: {e}"),
            }
        }
    });
}

/// Metrics endpoint: any request head routes somewhere, and only `GET /metrics` to the page.
pub fn metrics_request(head: &[u8]) {
    let r = route(head);
    if r == Route::Metrics {
        let text = String::from_utf8_lossy(head);
        let first = text.split('\n').next().unwrap_or_default();
        let mut words = first.split_whitespace();
        assert_eq!(words.next(), Some("GET"));
        assert!(words.next().is_some_and(|p| p.starts_with("/metrics")));
    }
}

/// HTTP_GET health check: any answer from a real server is judged without panicking, and an
/// answer judged healthy has a complete header and the status the check wants.
pub fn http_check_answer(data: &[u8]) {
    let Some((&selector, answer)) = data.split_first() else {
        return;
    };
    let url = HttpUrl {
        path: "/".into(),
        status_code: (selector & 1 == 1).then_some(200),
        digest: (selector & 2 == 2).then(|| "d41d8cd98f00b204e9800998ecf8427e".into()),
    };
    if crate::lb::judge_http(answer, &url).is_ok() {
        let end = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a healthy answer has a complete header");
        if url.digest.is_some() {
            assert_eq!(end + 4, answer.len(), "the empty body's digest, so no body");
        }
    }
}

/// VRRP receive path, v2 and v3, IPv4 and IPv6: the first byte picks the instance (version,
/// authentication, unicast peers or multicast), the rest is a datagram (IPv4, header
/// included) or an IPv6 payload. Whatever passes every check has this instance's VRID and
/// version, comes from a configured peer in unicast mode and never from our own address, and
/// the state machine takes it without panicking.
pub fn vrrp_receive(data: &[u8]) {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::time::{Duration, Instant};

    use crate::vrrp::fsm::{Fsm, FsmConfig};
    use crate::vrrp::instance::{Filter, Verdict, judge};
    use crate::vrrp::packet::{self, AdvertInterval, Auth, Expected, Version};

    let Some((&selector, datagram)) = data.split_first() else {
        return;
    };
    // With bit 6 the checksum is made right first, so the fuzzer gets past it to the checks
    // behind it; without, a wrong checksum must be caught.
    let mut datagram = datagram.to_vec();
    let fix_checksum = selector & 64 != 0;
    let version = if selector & 1 == 0 {
        Version::V2
    } else {
        Version::V3
    };
    let ipv6 = selector & 8 != 0;
    let auth = if selector & 2 != 0 && version == Version::V2 {
        Auth::from_config(Some(b"s3cret"))
    } else {
        Auth::None
    };
    let me: IpAddr = if ipv6 {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1).into()
    } else {
        Ipv4Addr::new(10, 0, 0, 1).into()
    };
    let peer: IpAddr = if ipv6 {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2).into()
    } else {
        Ipv4Addr::new(10, 0, 0, 2).into()
    };
    let vips: Vec<IpAddr> = if ipv6 {
        vec![Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100).into()]
    } else {
        vec![Ipv4Addr::new(10, 0, 0, 100).into()]
    };
    // The instance filters unicast peers on IPv4 only (IPv6 instances come with VRRPv3).
    let unicast = selector & 4 != 0 && !ipv6;
    let peers: Vec<IpAddr> = if unicast { vec![peer, me] } else { vec![] };
    let expected = Expected {
        version,
        vrid: 51,
        auth: &auth,
        interval: AdvertInterval::from_secs(1),
        addrs: &vips,
    };
    let verdict = if ipv6 {
        // A raw IPv6 socket hands up the payload; source and hop limit come with it.
        let src = match peer {
            IpAddr::V6(p) if selector & 16 == 0 => p,
            _ => Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(selector)),
        };
        let dst = packet::MULTICAST_GROUP_V6;
        let hop_limit = if selector & 32 == 0 { 255 } else { 64 };
        if fix_checksum {
            let ends = packet::Endpoints::V6 { src, dst };
            fill_checksum(&mut datagram, packet::Family::Ipv6, ends);
        }
        match packet::parse_ipv6(&datagram, src, dst, hop_limit) {
            Ok(received) => match packet::validate(&received.advert, &expected) {
                Ok(()) => Verdict::Accept(received),
                Err(e) => Verdict::Drop(Some(received.src), e),
            },
            Err(e) => Verdict::Drop(None, e),
        }
    } else {
        if fix_checksum {
            fill_ipv4_checksum(&mut datagram);
        }
        let filter = Filter {
            unicast_peers: &peers,
            source: Some(me),
            expected,
        };
        judge(&datagram, None, &filter)
    };
    match verdict {
        Verdict::Accept(received) => {
            assert_eq!(received.advert.vrid, 51);
            assert_eq!(received.advert.version, version);
            assert_ne!(received.src, me, "our own address is never accepted");
            if unicast {
                assert!(peers.contains(&received.src), "only configured peers");
            }
            let mut fsm = Fsm::new(FsmConfig {
                version,
                priority: 100,
                advert_int: Duration::from_secs(1),
                preempt: true,
                preempt_delay: Duration::ZERO,
                local_addr: me,
                announce_again_after: Duration::from_secs(5),
                refresh_every: None,
                answer_lower_prio: true,
            });
            let now = Instant::now();
            fsm.handle_startup(now);
            let advert = &received.advert;
            fsm.handle_advert(
                now,
                received.src,
                advert.priority,
                advert.interval.as_duration(),
            );
            // Whatever interval an advert carries (0 included), no timer is due at once: a
            // driver that slept until it would spin.
            assert!(fsm.poll_timeout().is_none_or(|at| at > now));
            while fsm.poll_action().is_some() {}
        }
        Verdict::Drop(_, e) | Verdict::DropQuietly(e) => {
            assert!(packet::ALL_COUNTER_NAMES.contains(&e.counter_name()));
        }
        Verdict::OwnEcho => assert!(unicast),
    }
}

/// Writes the right VRRP checksum into the message inside an IPv4 datagram, when the IPv4
/// header and the message's length allow finding it.
fn fill_ipv4_checksum(datagram: &mut [u8]) {
    use std::net::Ipv4Addr;

    use crate::vrrp::packet::{Endpoints, Family};

    let Some(&ver_ihl) = datagram.first() else {
        return;
    };
    let header = usize::from(ver_ihl & 0x0f) * 4;
    if header < 20 || datagram.len() < header {
        return;
    }
    let total = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    if total < header || total > datagram.len() {
        return;
    }
    let at = |i: usize| {
        Ipv4Addr::new(
            datagram[i],
            datagram[i + 1],
            datagram[i + 2],
            datagram[i + 3],
        )
    };
    let ends = Endpoints::V4 {
        src: at(12),
        dst: at(16),
    };
    fill_checksum(&mut datagram[header..total], Family::Ipv4, ends);
}

/// Writes the right checksum into a VRRP message: v2 over the message, v3 with the
/// pseudo-header (keepalived's default).
fn fill_checksum(
    message: &mut [u8],
    family: crate::vrrp::packet::Family,
    ends: crate::vrrp::packet::Endpoints,
) {
    use crate::vrrp::packet::{ChecksumOver, Packet};

    let Ok(mut packet) = Packet::new_checked(message, family) else {
        return;
    };
    let over = match packet.version() {
        2 => ChecksumOver::MessageOnly,
        _ => ChecksumOver::PseudoHeader(ends),
    };
    packet.fill_checksum(&over);
}

/// Config text, keepalived.conf or TOML (the first byte picks): loading never panics, every
/// error names a line inside the text, and what loads converts to TOML that loads back to the
/// same model (the differential `vipctl convert` promises).
pub fn config_text(data: &[u8]) {
    use std::path::Path;

    use crate::config::{self, HostChecks, LoadOptions};

    let Some((&selector, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let path = if selector & 1 == 0 {
        Path::new("fuzz.conf")
    } else {
        Path::new("fuzz.toml")
    };
    // Nothing on this machine is looked at: the text alone decides.
    let options = LoadOptions {
        config_id: Some("fuzz".into()),
        host_checks: HostChecks::None,
    };
    let loaded = match config::load_str_with(text, path, &options) {
        Ok(loaded) => loaded,
        Err(e) => {
            let lines = text.lines().count().max(1);
            for d in &e.diagnostics {
                assert!(
                    d.line <= lines + 1,
                    "line {} of a {lines}-line text: {d}",
                    d.line
                );
            }
            return;
        }
    };
    // An include that matched nothing leaves the model short of what it names elsewhere;
    // no such file exists here, so the fuzzer's includes never match.
    if loaded.warnings.iter().any(|w| w.key == "include") {
        return;
    }
    let toml = config::convert::to_toml(&loaded, path).expect("a loaded model converts");
    let again = config::load_str_with(&toml, Path::new("converted.toml"), &options)
        .unwrap_or_else(|e| panic!("converted TOML does not load:\n{e}\n{toml}"));
    assert_eq!(
        again.config, loaded.config,
        "round trip through TOML:\n{toml}"
    );
}
