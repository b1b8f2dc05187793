//! The optional Prometheus page (`metrics_listen` in `global_defs`): per-instance state,
//! priorities, transitions, adverts, every drop counter, gratuitous ARPs and VIP presence,
//! served as OpenMetrics text at `GET /metrics` by a minimal HTTP/1.1 server on tokio.
//!
//! Each scrape builds a fresh [`Registry`] from one status snapshot (the same one
//! `vipctl status` shows), so the page can never disagree with the control socket. Names
//! follow the keepalived exporter (gen2brain/keepalived_exporter: `keepalived_vrrp_*`) where
//! it has one, so existing dashboards keep working; the rest are `vipd_*`.
//!
//! The forwarder's pools come from the same snapshot: `vipd_lb_*`, labelled with the
//! virtual server and the real server (`IP:PORT`).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use crate::control::server::View;
use crate::status::Status;

/// Labels of every per-instance metric, as the keepalived exporter names them.
type Labels = Vec<(&'static str, String)>;

/// A counter family with those labels.
type Counters = Family<Labels, Counter<u64, AtomicU64>>;

/// The value of `keepalived_vrrp_state`, as the keepalived exporter numbers states.
fn state_value(state: &str) -> i64 {
    match state {
        "INIT" => 0,
        "BACKUP" => 1,
        "MASTER" => 2,
        "FAULT" => 3,
        _ => -1,
    }
}

/// The keepalived exporter's name for a vipd drop counter, where it has one.
fn exporter_drop_name(reason: &str) -> Option<&'static str> {
    Some(match reason {
        // keepalived counts the IPv4 TTL and the IPv6 hop limit as one.
        "ttl" | "hop_limit" => "keepalived_vrrp_ip_ttl_err",
        "length" | "truncated" => "keepalived_vrrp_packet_len_err",
        "type" => "keepalived_vrrp_invalid_type_rcvd",
        "address_list" => "keepalived_vrrp_addr_list_err",
        "unsupported_auth_type" => "keepalived_vrrp_invalid_authtype",
        "auth_type" => "keepalived_vrrp_authtype_mismatch",
        "auth_password" => "keepalived_vrrp_auth_failure",
        "advert_interval" => "keepalived_vrrp_advert_interval_err",
        _ => return None,
    })
}

/// The whole page for one status snapshot.
fn render(status: &Status) -> String {
    let mut registry = Registry::default();
    let up: Gauge = Gauge::default();
    up.set(1);
    registry.register("keepalived_up", "vipd is running", up);
    vrrp(&mut registry, status);
    routes(&mut registry, status);
    lb(&mut registry, status);
    let mut page = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut page, &registry);
    page
}

fn gauges(registry: &mut Registry, name: &str, help: &str) -> Family<Labels, Gauge> {
    let family = Family::<Labels, Gauge>::default();
    registry.register(name, help, family.clone());
    family
}

fn counters(registry: &mut Registry, name: &str, help: &str) -> Counters {
    let family = Counters::default();
    registry.register(name, help, family.clone());
    family
}

/// Per-instance VRRP metrics.
fn vrrp(registry: &mut Registry, status: &Status) {
    let state = gauges(
        registry,
        "keepalived_vrrp_state",
        "State of the instance: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT",
    );
    let priority = gauges(registry, "vipd_vrrp_priority", "Configured priority");
    let effective = gauges(
        registry,
        "vipd_vrrp_effective_priority",
        "Priority advertised now (base adjusted by tracked checks)",
    );
    let maintenance = gauges(
        registry,
        "vipd_vrrp_maintenance",
        "1 while in maintenance mode (stays backup)",
    );
    let info = gauges(
        registry,
        "vipd_vrrp_instance_info",
        "Always 1; its labels say the instance's VRRP version and family",
    );
    let vip_present = gauges(
        registry,
        "vipd_vrrp_vip_present",
        "1 when the kernel has the virtual address on its interface",
    );
    let sent = counters(
        registry,
        "keepalived_vrrp_advert_sent",
        "Advertisements sent",
    );
    let rcvd = counters(
        registry,
        "keepalived_vrrp_advert_rcvd",
        "Advertisements received that passed every check",
    );
    let become_master = counters(
        registry,
        "keepalived_vrrp_become_master",
        "Times the instance became master",
    );
    let release_master = counters(
        registry,
        "keepalived_vrrp_release_master",
        "Times the instance stopped being master",
    );
    let transitions = counters(registry, "vipd_vrrp_transitions", "State changes");
    let garps = counters(
        registry,
        "vipd_vrrp_garps_sent",
        "Gratuitous ARP packets sent",
    );
    let checksum_forms = counters(
        registry,
        "vipd_vrrp_v3_checksum_form",
        "Accepted VRRPv3 adverts over IPv4 by checksum form (pseudo_header: keepalived's \
         default; message_only: RFC 9568, v3_checksum_as_v2)",
    );
    let claims = counters(
        registry,
        "vipd_vrrp_vip_claims",
        "ARP frames of another host claiming one of our VIPs while master",
    );
    let defenses = counters(
        registry,
        "vipd_vrrp_vip_defenses",
        "Re-announces of the VIPs after another host claimed one",
    );
    let dropped = counters(
        registry,
        "vipd_vrrp_dropped",
        "Received packets dropped, by reason (RFC 3768 and RFC 9568 section 7.1 checks)",
    );
    let mut exporter_drops: Vec<(&'static str, Counters)> = Vec::new();
    for name in [
        "keepalived_vrrp_ip_ttl_err",
        "keepalived_vrrp_packet_len_err",
        "keepalived_vrrp_invalid_type_rcvd",
        "keepalived_vrrp_addr_list_err",
        "keepalived_vrrp_invalid_authtype",
        "keepalived_vrrp_authtype_mismatch",
        "keepalived_vrrp_auth_failure",
        "keepalived_vrrp_advert_interval_err",
    ] {
        let family = counters(
            registry,
            name,
            "Received packets dropped for this reason (keepalived exporter name)",
        );
        exporter_drops.push((name, family));
    }

    for inst in &status.instances {
        let labels: Labels = vec![
            ("name", inst.name.clone()),
            ("intf", inst.interface.clone()),
            ("vrid", inst.vrid.to_string()),
        ];
        state.get_or_create(&labels).set(state_value(&inst.state));
        let mut described = labels.clone();
        described.push(("version", inst.version.to_string()));
        described.push(("family", inst.family.clone()));
        info.get_or_create(&described).set(1);
        priority.get_or_create(&labels).set(inst.priority.into());
        effective
            .get_or_create(&labels)
            .set(inst.effective_priority.into());
        maintenance
            .get_or_create(&labels)
            .set(i64::from(inst.maintenance));
        let c = &inst.counters;
        sent.get_or_create(&labels).inc_by(c.adverts_sent);
        rcvd.get_or_create(&labels).inc_by(c.adverts_received);
        become_master.get_or_create(&labels).inc_by(c.became_master);
        release_master
            .get_or_create(&labels)
            .inc_by(c.released_master);
        transitions.get_or_create(&labels).inc_by(c.transitions);
        garps.get_or_create(&labels).inc_by(c.garps_sent);
        claims.get_or_create(&labels).inc_by(c.vip_claims_seen);
        for (form, n) in [
            ("pseudo_header", c.v3_checksum_pseudo_header),
            ("message_only", c.v3_checksum_message_only),
        ] {
            let mut by_form = labels.clone();
            by_form.push(("form", form.to_string()));
            checksum_forms.get_or_create(&by_form).inc_by(n);
        }
        defenses.get_or_create(&labels).inc_by(c.vip_defenses);
        for (_, family) in &exporter_drops {
            // Present at zero, as the exporter does, so rate() works from the start.
            let _ = family.get_or_create(&labels);
        }
        for (reason, n) in &c.drops {
            let mut with_reason = labels.clone();
            with_reason.push(("reason", reason.clone()));
            dropped.get_or_create(&with_reason).inc_by(*n);
            if let Some(name) = exporter_drop_name(reason)
                && let Some((_, family)) = exporter_drops.iter().find(|(n, _)| *n == name)
            {
                family.get_or_create(&labels).inc_by(*n);
            }
        }
        for vip in &inst.vips {
            let mut with_vip = labels.clone();
            with_vip.push(("vip", vip.addr.clone()));
            with_vip.push(("dev", vip.dev.clone()));
            vip_present
                .get_or_create(&with_vip)
                .set(i64::from(vip.present));
        }
    }
}

/// Per-route-instance metrics: whether each VIP's route is in the kernel, and the metric.
fn routes(registry: &mut Registry, status: &Status) {
    let announced = gauges(
        registry,
        "vipd_route_announced",
        "1 while the kernel has vipd's host route to the VIP in the instance's table",
    );
    let metric = gauges(
        registry,
        "vipd_route_metric",
        "The route metric: 256 - effective priority (lower is preferred)",
    );
    let effective = gauges(
        registry,
        "vipd_route_effective_priority",
        "Configured priority adjusted by tracked checks",
    );
    for r in &status.route_instances {
        let labels: Labels = vec![("instance", r.name.clone())];
        metric.get_or_create(&labels).set(i64::from(r.metric));
        effective
            .get_or_create(&labels)
            .set(i64::from(r.effective_priority));
        for route in &r.routes {
            let mut with_prefix = labels.clone();
            with_prefix.push(("prefix", route.prefix.clone()));
            announced
                .get_or_create(&with_prefix)
                .set(i64::from(route.announced));
        }
    }
}

/// The UDP pools' metric families.
struct UdpFamilies {
    flows: Family<Labels, Gauge>,
    datagrams_in: Counters,
    datagrams_out: Counters,
    dropped: Counters,
}

/// Per-pool and per-real-server forwarder metrics.
fn lb(registry: &mut Registry, status: &Status) {
    let quorum = gauges(
        registry,
        "vipd_lb_quorum_up",
        "1 while the virtual server has quorum (else new connections go to sorry_server)",
    );
    let up = gauges(
        registry,
        "vipd_lb_real_server_up",
        "1 while the real server passes its checks",
    );
    let weight = gauges(
        registry,
        "vipd_lb_real_server_weight",
        "Configured weight (0 = drain)",
    );
    let effective = gauges(
        registry,
        "vipd_lb_real_server_effective_weight",
        "Weight the scheduler uses now (0 while down)",
    );
    let active = gauges(
        registry,
        "vipd_lb_active_connections",
        "Connections open now",
    );
    let total = counters(registry, "vipd_lb_connections", "Connections forwarded");
    let bytes_in = counters(
        registry,
        "vipd_lb_bytes_in",
        "Bytes from clients to the server",
    );
    let bytes_out = counters(
        registry,
        "vipd_lb_bytes_out",
        "Bytes from the server to clients",
    );
    let connect_failures = counters(
        registry,
        "vipd_lb_connect_failures",
        "Forwarding connects that failed (refused, timed out)",
    );
    let check_failures = counters(
        registry,
        "vipd_lb_check_failures",
        "Health checks that failed",
    );
    let transitions = counters(
        registry,
        "vipd_lb_real_server_transitions",
        "UP/DOWN changes",
    );
    let maxconn = gauges(
        registry,
        "vipd_lb_maxconn",
        "maxconn of the virtual server (client connections) or real server",
    );
    let uthreshold = gauges(
        registry,
        "vipd_lb_uthreshold",
        "uthreshold of the real server (overloaded at this many connections)",
    );
    let pool_connections = gauges(
        registry,
        "vipd_lb_virtual_server_connections",
        "Client connections of the virtual server open now",
    );
    let full = gauges(
        registry,
        "vipd_lb_real_server_full",
        "1 while the real server is at its maxconn or overloaded (skipped)",
    );
    let cap_hits = counters(
        registry,
        "vipd_lb_cap_hits",
        "Clients that waited at the virtual server's maxconn; new connections that found \
         the real server full",
    );
    let udp = UdpFamilies {
        flows: gauges(
            registry,
            "vipd_lb_udp_flows",
            "UDP flows (client address and port) open now",
        ),
        datagrams_in: counters(
            registry,
            "vipd_lb_udp_datagrams_in",
            "UDP datagrams from clients forwarded to servers",
        ),
        datagrams_out: counters(
            registry,
            "vipd_lb_udp_datagrams_out",
            "UDP datagrams from servers forwarded to clients",
        ),
        dropped: counters(
            registry,
            "vipd_lb_udp_dropped",
            "UDP datagrams dropped, by reason (table_full, no_server, send)",
        ),
    };
    for vs in &status.virtual_servers {
        let pool: Labels = vec![("virtual_server", vs.name())];
        quorum.get_or_create(&pool).set(i64::from(vs.quorum_up));
        pool_connections
            .get_or_create(&pool)
            .set(i64::try_from(vs.connections).unwrap_or(i64::MAX));
        if let Some(m) = vs.maxconn {
            maxconn.get_or_create(&pool).set(m.into());
            cap_hits.get_or_create(&pool).inc_by(vs.cap_hits);
        }
        for rs in &vs.real_servers {
            let mut labels = pool.clone();
            labels.push(("real_server", rs.addr.clone()));
            up.get_or_create(&labels).set(i64::from(rs.state == "UP"));
            weight.get_or_create(&labels).set(rs.weight.into());
            effective
                .get_or_create(&labels)
                .set(rs.effective_weight.into());
            active
                .get_or_create(&labels)
                .set(rs.active_connections.into());
            total.get_or_create(&labels).inc_by(rs.total_connections);
            bytes_in.get_or_create(&labels).inc_by(rs.bytes_in);
            bytes_out.get_or_create(&labels).inc_by(rs.bytes_out);
            connect_failures
                .get_or_create(&labels)
                .inc_by(rs.connect_failures);
            check_failures
                .get_or_create(&labels)
                .inc_by(rs.check_failures);
            transitions.get_or_create(&labels).inc_by(rs.transitions);
            if let Some(m) = rs.maxconn {
                maxconn.get_or_create(&labels).set(m.into());
            }
            if let Some(u) = rs.uthreshold {
                uthreshold.get_or_create(&labels).set(u.into());
            }
            if rs.maxconn.is_some() || rs.uthreshold.is_some() {
                full.get_or_create(&labels).set(i64::from(rs.full));
                cap_hits.get_or_create(&labels).inc_by(rs.cap_hits);
            }
        }
        if let Some(u) = &vs.udp {
            udp.flows.get_or_create(&pool).set(u.flows as i64);
            udp.datagrams_in.get_or_create(&pool).inc_by(u.datagrams_in);
            udp.datagrams_out
                .get_or_create(&pool)
                .inc_by(u.datagrams_out);
            for (reason, n) in [
                ("table_full", u.dropped_table_full),
                ("no_server", u.dropped_no_server),
                ("send", u.dropped_send),
            ] {
                let mut labels = pool.clone();
                labels.push(("reason", reason.into()));
                udp.dropped.get_or_create(&labels).inc_by(n);
            }
        }
        if let Some(sorry) = &vs.sorry_server {
            let mut labels = pool.clone();
            labels.push(("real_server", sorry.clone()));
            labels.push(("sorry_server", "1".into()));
            active
                .get_or_create(&labels)
                .set(vs.sorry_active_connections.into());
            total
                .get_or_create(&labels)
                .inc_by(vs.sorry_total_connections);
        }
    }
}

/// Binds the metrics listener; an error names the address.
pub(crate) async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("metrics_listen {addr}: {e}")))
}

/// Serves `GET /metrics` until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, view: View) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let view = view.clone();
                tokio::spawn(async move {
                    if let Err(e) = answer(stream, &view).await {
                        debug!("metrics client {peer}: {e}");
                    }
                });
            }
            Err(e) => {
                warn!("metrics: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The longest request head read; anything longer is not a scrape.
const MAX_HEAD: usize = 8 * 1024;

/// What a request head asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET /metrics` (any query string).
    Metrics,
    /// `GET` of another path.
    NotFound,
    /// Any other method, or no request line at all.
    NotAllowed,
}

/// Reads the request line of `head` (bytes a remote client sent: anything at all).
pub(crate) fn route(head: &[u8]) -> Route {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") => Route::Metrics,
        ("GET", _) => Route::NotFound,
        _ => Route::NotAllowed,
    }
}

/// One request, one answer, then close (`Connection: close`), within 5 s.
async fn answer(mut stream: TcpStream, view: &View) -> io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let read_head = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        io::Result::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(5), read_head)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "request head not sent in 5 s"))??;
    let (code, content_type, body) = match route(&head) {
        Route::Metrics => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            render(&view.snapshot().await),
        ),
        Route::NotFound => (
            "404 Not Found",
            "text/plain",
            "vipd serves /metrics only\n".into(),
        ),
        Route::NotAllowed => (
            "405 Method Not Allowed",
            "text/plain",
            "GET /metrics\n".into(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {code}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::status::{
        Counters, InstanceStatus, RealServerStatus, RouteInstanceStatus, RouteStatus, VipStatus,
        VirtualServerStatus,
    };

    fn status() -> Status {
        let mut counters = Counters {
            adverts_sent: 7,
            adverts_received: 3,
            garps_sent: 10,
            transitions: 2,
            became_master: 1,
            released_master: 0,
            vip_claims_seen: 5,
            vip_defenses: 1,
            ..Counters::default()
        };
        counters.drops.insert("auth_password".into(), 4);
        counters.drops.insert("vrid".into(), 9);
        Status {
            version: 1,
            router_id: None,
            pid: 1,
            virtual_servers: Vec::new(),
            route_instances: vec![RouteInstanceStatus {
                name: "WEB".into(),
                state: "ANNOUNCING".into(),
                priority: 150,
                effective_priority: 90,
                metric: 166,
                table: 200,
                interface: "lo".into(),
                routes: vec![RouteStatus {
                    prefix: "10.99.0.10/32".into(),
                    announced: true,
                    metric: Some(166),
                }],
                ..RouteInstanceStatus::default()
            }],
            instances: vec![InstanceStatus {
                name: "VI_1".into(),
                interface: "eth0".into(),
                vrid: 51,
                version: 2,
                family: "ipv4".into(),
                advert_int_ms: 1000,
                state: "MASTER".into(),
                priority: 100,
                effective_priority: 90,
                maintenance: false,
                source: "10.0.0.1".into(),
                master: None,
                vips: vec![VipStatus {
                    addr: "10.0.0.100/32".into(),
                    dev: "eth0".into(),
                    present: true,
                }],
                last_transition: None,
                counters,
                tracks: vec![],
            }],
        }
    }

    #[test]
    fn route_instances_are_on_the_page() {
        let page = render(&status());
        let lines: Vec<&str> = page.lines().collect();
        for want in [
            r#"vipd_route_announced{instance="WEB",prefix="10.99.0.10/32"} 1"#,
            r#"vipd_route_metric{instance="WEB"} 166"#,
            r#"vipd_route_effective_priority{instance="WEB"} 90"#,
        ] {
            assert!(lines.contains(&want), "{want}\n{page}");
        }
    }

    #[test]
    fn exporter_names_every_drop_it_knows() {
        for reason in ["ttl", "hop_limit"] {
            assert_eq!(
                exporter_drop_name(reason),
                Some("keepalived_vrrp_ip_ttl_err")
            );
        }
        assert_eq!(exporter_drop_name("v2_over_ipv6"), None);
    }

    #[test]
    fn page_has_exporter_names_and_every_counter() {
        let page = render(&status());
        let lines: Vec<&str> = page.lines().collect();
        let has = |needle: &str| lines.iter().any(|l| l.starts_with(needle));
        assert!(
            has(r#"keepalived_vrrp_state{name="VI_1",intf="eth0",vrid="51"} 2"#),
            "{page}"
        );
        assert!(has(
            r#"keepalived_vrrp_advert_sent_total{name="VI_1",intf="eth0",vrid="51"} 7"#
        ));
        assert!(has(
            r#"keepalived_vrrp_auth_failure_total{name="VI_1",intf="eth0",vrid="51"} 4"#
        ));
        assert!(has(
            r#"keepalived_vrrp_ip_ttl_err_total{name="VI_1",intf="eth0",vrid="51"} 0"#
        ));
        assert!(has(
            r#"vipd_vrrp_dropped_total{name="VI_1",intf="eth0",vrid="51",reason="vrid"} 9"#
        ));
        assert!(has(
            r#"vipd_vrrp_effective_priority{name="VI_1",intf="eth0",vrid="51"} 90"#
        ));
        assert!(has(
            r#"vipd_vrrp_vip_claims_total{name="VI_1",intf="eth0",vrid="51"} 5"#
        ));
        assert!(has(
            r#"vipd_vrrp_vip_defenses_total{name="VI_1",intf="eth0",vrid="51"} 1"#
        ));
        assert!(has(
            r#"vipd_vrrp_vip_present{name="VI_1",intf="eth0",vrid="51",vip="10.0.0.100/32",dev="eth0"} 1"#
        ));
        assert!(has(
            r#"vipd_vrrp_v3_checksum_form_total{name="VI_1",intf="eth0",vrid="51",form="message_only"} 0"#
        ));
        assert!(has(
            r#"vipd_vrrp_instance_info{name="VI_1",intf="eth0",vrid="51",version="2",family="ipv4"} 1"#
        ));
        assert!(has("keepalived_up 1"));
        assert_eq!(lines.last(), Some(&"# EOF"));
    }

    #[test]
    fn pools_and_real_servers_are_on_the_page() {
        let mut st = status();
        st.virtual_servers = vec![VirtualServerStatus {
            udp: None,
            addr: "10.0.0.100:80".into(),
            lb_algo: "rr".into(),
            quorum_up: true,
            sorry_server: Some("10.0.0.9:80".into()),
            sorry_active_connections: 0,
            sorry_total_connections: 3,
            proxy_protocol: None,
            maxconn: Some(50),
            connections: 7,
            cap_hits: 4,
            real_servers: vec![RealServerStatus {
                addr: "10.0.0.1:80".into(),
                state: "DOWN".into(),
                weight: 2,
                effective_weight: 0,
                active_connections: 1,
                total_connections: 40,
                bytes_in: 1000,
                bytes_out: 5000,
                connect_failures: 2,
                check_failures: 6,
                transitions: 1,
                last_transition: None,
                proxy_protocol: None,
                maxconn: Some(2),
                uthreshold: None,
                lthreshold: None,
                full: true,
                cap_hits: 9,
            }],
        }];
        let page = render(&st);
        let rs = r#"{virtual_server="10.0.0.100:80",real_server="10.0.0.1:80"}"#;
        for line in [
            r#"vipd_lb_quorum_up{virtual_server="10.0.0.100:80"} 1"#.to_string(),
            format!("vipd_lb_real_server_up{rs} 0"),
            format!("vipd_lb_real_server_weight{rs} 2"),
            format!("vipd_lb_real_server_effective_weight{rs} 0"),
            format!("vipd_lb_active_connections{rs} 1"),
            format!("vipd_lb_connections_total{rs} 40"),
            format!("vipd_lb_bytes_in_total{rs} 1000"),
            format!("vipd_lb_bytes_out_total{rs} 5000"),
            format!("vipd_lb_connect_failures_total{rs} 2"),
            format!("vipd_lb_check_failures_total{rs} 6"),
            format!("vipd_lb_real_server_transitions_total{rs} 1"),
            format!("vipd_lb_maxconn{rs} 2"),
            format!("vipd_lb_real_server_full{rs} 1"),
            format!("vipd_lb_cap_hits_total{rs} 9"),
            r#"vipd_lb_maxconn{virtual_server="10.0.0.100:80"} 50"#.to_string(),
            r#"vipd_lb_virtual_server_connections{virtual_server="10.0.0.100:80"} 7"#.to_string(),
            r#"vipd_lb_cap_hits_total{virtual_server="10.0.0.100:80"} 4"#.to_string(),
            r#"vipd_lb_connections_total{virtual_server="10.0.0.100:80",real_server="10.0.0.9:80",sorry_server="1"} 3"#.to_string(),
        ] {
            assert!(page.lines().any(|l| l == line), "no `{line}` in\n{page}");
        }
        // The same pool as a UDP one: named `/udp`, with its flows and drops.
        st.virtual_servers[0].udp = Some(crate::status::UdpStatus {
            flows: 3,
            datagrams_in: 5,
            dropped_table_full: 2,
            ..Default::default()
        });
        let page = render(&st);
        for line in [
            r#"vipd_lb_udp_flows{virtual_server="10.0.0.100:80/udp"} 3"#,
            r#"vipd_lb_udp_datagrams_in_total{virtual_server="10.0.0.100:80/udp"} 5"#,
            r#"vipd_lb_udp_dropped_total{virtual_server="10.0.0.100:80/udp",reason="table_full"} 2"#,
            r#"vipd_lb_quorum_up{virtual_server="10.0.0.100:80/udp"} 1"#,
        ] {
            assert!(page.lines().any(|l| l == line), "no `{line}` in\n{page}");
        }
    }
}
