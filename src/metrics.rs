//! The optional Prometheus page (`metrics_listen` in `global_defs`): per-instance state,
//! priorities, transitions, adverts, every drop counter, gratuitous ARPs and VIP presence,
//! served as OpenMetrics text at `GET /metrics` by a minimal HTTP/1.1 server on tokio.
//!
//! Each scrape builds a fresh [`Registry`] from one status snapshot (the same one
//! `vipctl status` shows), so the page can never disagree with the control socket. Names
//! follow the keepalived exporter (gen2brain/keepalived_exporter: `keepalived_vrrp_*`) where
//! it has one, so existing dashboards keep working; the rest are `vipd_*`.
//!
//! Other subsystems add their metrics through [`MetricsSource`] (the forwarder's virtual and
//! real servers are meant to plug in there).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
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

use crate::control::proto::Status;
use crate::control::server::View;

/// A subsystem that adds its own metrics to every scrape.
pub trait MetricsSource: Send + Sync {
    /// Registers this scrape's metrics (fresh values) in `registry`.
    fn register(&self, registry: &mut Registry);
}

/// Labels of every per-instance metric, as the keepalived exporter names them.
type Labels = Vec<(&'static str, String)>;

/// A counter family with those labels.
type Counters = Family<Labels, Counter<u64, AtomicU64>>;

/// The value of `keepalived_vrrp_state`, as the keepalived exporter numbers states.
pub fn state_value(state: &str) -> i64 {
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
        "ttl" => "keepalived_vrrp_ip_ttl_err",
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

/// The whole page for one status snapshot, plus `sources`.
pub fn render(status: &Status, sources: &[Arc<dyn MetricsSource>]) -> String {
    let mut registry = Registry::default();
    let up: Gauge = Gauge::default();
    up.set(1);
    registry.register("keepalived_up", "vipd is running", up);

    let gauges = |registry: &mut Registry, name: &str, help: &str| {
        let family = Family::<Labels, Gauge>::default();
        registry.register(name, help, family.clone());
        family
    };
    let counters = |registry: &mut Registry, name: &str, help: &str| {
        let family = Counters::default();
        registry.register(name, help, family.clone());
        family
    };
    let state = gauges(
        &mut registry,
        "keepalived_vrrp_state",
        "State of the instance: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT",
    );
    let priority = gauges(&mut registry, "vipd_vrrp_priority", "Configured priority");
    let effective = gauges(
        &mut registry,
        "vipd_vrrp_effective_priority",
        "Priority advertised now (base adjusted by tracked checks)",
    );
    let maintenance = gauges(
        &mut registry,
        "vipd_vrrp_maintenance",
        "1 while in maintenance mode (stays backup)",
    );
    let vip_present = gauges(
        &mut registry,
        "vipd_vrrp_vip_present",
        "1 when the kernel has the virtual address on its interface",
    );
    let sent = counters(
        &mut registry,
        "keepalived_vrrp_advert_sent",
        "Advertisements sent",
    );
    let rcvd = counters(
        &mut registry,
        "keepalived_vrrp_advert_rcvd",
        "Advertisements received that passed every check",
    );
    let become_master = counters(
        &mut registry,
        "keepalived_vrrp_become_master",
        "Times the instance became master",
    );
    let release_master = counters(
        &mut registry,
        "keepalived_vrrp_release_master",
        "Times the instance stopped being master",
    );
    let transitions = counters(&mut registry, "vipd_vrrp_transitions", "State changes");
    let garps = counters(
        &mut registry,
        "vipd_vrrp_garps_sent",
        "Gratuitous ARP packets sent",
    );
    let dropped = counters(
        &mut registry,
        "vipd_vrrp_dropped",
        "Received packets dropped, by reason (RFC 3768 section 7.1 checks)",
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
            &mut registry,
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
    for source in sources {
        source.register(&mut registry);
    }
    let mut page = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut page, &registry);
    page
}

/// Binds the metrics listener; an error names the address.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("metrics_listen {addr}: {e}")))
}

/// Serves `GET /metrics` until the task is dropped.
pub async fn serve(listener: TcpListener, view: View, sources: Vec<Arc<dyn MetricsSource>>) {
    let sources: Arc<[Arc<dyn MetricsSource>]> = sources.into();
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let view = view.clone();
                let sources = sources.clone();
                tokio::spawn(async move {
                    if let Err(e) = answer(stream, &view, &sources).await {
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

/// One request, one answer, then close (`Connection: close`), within 5 s.
async fn answer(
    mut stream: TcpStream,
    view: &View,
    sources: &[Arc<dyn MetricsSource>],
) -> io::Result<()> {
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
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (code, content_type, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            render(&view.snapshot().await, sources),
        ),
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "vipd serves /metrics only\n".into(),
        ),
        _ => (
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
    use crate::control::proto::{Counters, InstanceStatus, VipStatus};

    fn status() -> Status {
        let mut counters = Counters {
            adverts_sent: 7,
            adverts_received: 3,
            garps_sent: 10,
            transitions: 2,
            became_master: 1,
            released_master: 0,
            ..Counters::default()
        };
        counters.drops.insert("auth_password".into(), 4);
        counters.drops.insert("vrid".into(), 9);
        Status {
            version: 1,
            router_id: None,
            pid: 1,
            instances: vec![InstanceStatus {
                name: "VI_1".into(),
                interface: "eth0".into(),
                vrid: 51,
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
    fn page_has_exporter_names_and_every_counter() {
        let page = render(&status(), &[]);
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
            r#"vipd_vrrp_vip_present{name="VI_1",intf="eth0",vrid="51",vip="10.0.0.100/32",dev="eth0"} 1"#
        ));
        assert!(has("keepalived_up 1"));
        assert_eq!(lines.last(), Some(&"# EOF"));
    }

    struct Extra;
    impl MetricsSource for Extra {
        fn register(&self, registry: &mut Registry) {
            let g: Gauge = Gauge::default();
            g.set(5);
            registry.register("vipd_lb_test", "an extension", g);
        }
    }

    #[test]
    fn sources_extend_the_page() {
        let page = render(&status(), &[Arc::new(Extra)]);
        assert!(page.contains("\nvipd_lb_test 5\n"), "{page}");
    }
}
