//! virtual_server scenarios on a lab of network namespaces (needs root; see `harness`).
//!
//! Hosts h1 and h2 run vipd (h1 priority 100 holds the VIP); h3, h4 and h5 are real servers,
//! each running python's `http.server` on port 8000 that serves a file `id` naming it
//! (`rs1`...`rs3`); the client namespace plays the users and talks to VIP:port only (and to
//! the real servers directly, to see them ready). Run with
//! `cargo test --test netns_lb -- --nocapture`.
//!
//! Time bounds are generous; they check what happens, not how fast.

mod harness;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use harness::{Kind, Lab, PairOpts, measure, wait_for};

/// The load balancer nodes.
const A: usize = 0;
const B: usize = 1;
/// The real servers' hosts.
const RS: [usize; 3] = [2, 3, 4];
/// Their HTTP port.
const RS_PORT: u16 = 8000;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// One HTTP/1.0 GET: (status, body) or why it failed.
fn get(addr: &str, path: &str) -> Result<(u16, String), String> {
    let sa: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let mut s =
        TcpStream::connect_timeout(&sa, secs(3)).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(secs(5)))
        .map_err(|e| e.to_string())?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .map_err(|e| format!("read from {addr}: {e}"))?;
    parse(&answer).ok_or_else(|| {
        format!(
            "bad answer from {addr}: {:?}",
            String::from_utf8_lossy(&answer)
        )
    })
}

fn parse(answer: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.trim().to_string()))
}

/// `n` GETs of `/id` on `addr` from the client: the ids answered, and the failures.
fn ids(lab: &Lab, addr: String, n: usize) -> (Vec<String>, Vec<String>) {
    lab.in_client(move || {
        let mut ids = Vec::new();
        let mut errors = Vec::new();
        for _ in 0..n {
            match get(&addr, "/id") {
                Ok((200, body)) => ids.push(body),
                Ok((code, body)) => errors.push(format!("status {code}: {body}")),
                Err(e) => errors.push(e),
            }
        }
        (ids, errors)
    })
}

/// How many of `ids` are each of `names`.
fn tally(ids: &[String], names: &[&str]) -> Vec<usize> {
    names
        .iter()
        .map(|n| ids.iter().filter(|i| i == n).count())
        .collect()
}

/// A lab with two LB hosts and three real servers serving `id` and `health`.
struct PoolLab {
    lab: Lab,
    /// Helper ids of the three web servers.
    web: [usize; 3],
}

impl PoolLab {
    fn new(name: &str) -> PoolLab {
        let mut lab = Lab::setup(name, 5);
        let mut web = [0; 3];
        for (i, &h) in RS.iter().enumerate() {
            web[i] = start_web(&mut lab, h, &format!("rs{}", i + 1), RS_PORT);
        }
        let addrs: Vec<String> = RS
            .iter()
            .map(|&h| format!("{}:{RS_PORT}", lab.host_addr(h)))
            .collect();
        let ready = lab.in_client(move || {
            wait_for(|| addrs.iter().all(|a| get(a, "/id").is_ok()), secs(15)).is_some()
        });
        assert!(ready, "the web servers did not come up");
        PoolLab { lab, web }
    }

    fn rs_addr(&self, i: usize) -> String {
        self.lab.host_addr(RS[i])
    }

    fn vip_port(&self, port: u16) -> String {
        format!("{}:{port}", self.lab.vip())
    }

    /// The vipd config of LB host `host`: the pair's instance plus `pools`.
    fn conf(&self, host: usize, pools: &str) -> String {
        format!(
            "{}\n{pools}",
            self.lab.pair_conf(host, &PairOpts::default())
        )
    }

    /// A virtual_server on VIP:`port` with `lines` and one real_server per (index, body).
    fn vs(&self, port: u16, lines: &str, servers: &[(usize, &str)]) -> String {
        let mut s = format!(
            "virtual_server {} {port} {{\n    lb_kind NAT\n    protocol TCP\n{lines}\n",
            self.lab.vip()
        );
        for (i, body) in servers {
            s.push_str(&format!(
                "    real_server {} {RS_PORT} {{\n{body}\n    }}\n",
                self.rs_addr(*i)
            ));
        }
        s.push_str("}\n");
        s
    }

    /// Starts vipd on `host` and waits until h1 holds the VIP (or `host` when alone).
    fn start_lb(&mut self, host: usize, pools: &str) {
        let conf = self.conf(host, pools);
        self.lab.start(host, Kind::Vipd, &conf);
    }

    fn wait_vip_on(&self, host: usize) {
        wait_for(|| self.lab.holds_vip(host), secs(20)).unwrap_or_else(|| {
            panic!(
                "h{} never took the VIP:\n{}",
                host + 1,
                self.lab.log_tail(host, 30)
            )
        });
    }

    /// The status of virtual server `vs` (an `IP:PORT`) from vipctl on `host`.
    fn pool_status(&self, host: usize, vs: &str) -> serde_json::Value {
        let st = self.lab.vipctl_status(host);
        st["virtual_servers"]
            .as_array()
            .and_then(|a| a.iter().find(|v| v["addr"] == vs))
            .cloned()
            .unwrap_or_else(|| panic!("no virtual_server {vs} in {st}"))
    }

    /// One field of every real server of `vs`.
    fn per_server(&self, host: usize, vs: &str, field: &str) -> Vec<serde_json::Value> {
        self.pool_status(host, vs)["real_servers"]
            .as_array()
            .expect("real_servers")
            .iter()
            .map(|r| r[field].clone())
            .collect()
    }

    fn wait_state(&self, vs: &str, server: usize, state: &str) {
        let ok = wait_for(
            || self.per_server(A, vs, "state")[server] == state,
            secs(15),
        );
        assert!(
            ok.is_some(),
            "rs{} never became {state}: {}\n{}",
            server + 1,
            self.pool_status(A, vs),
            self.lab.log_tail(A, 20)
        );
    }
}

/// `python3 -m http.server` with a listen backlog of 1024 instead of 5, so a burst of
/// connections is not held in SYN_RECV by the real server itself.
const WEB: &str = "import functools, http.server, sys
http.server.ThreadingHTTPServer.request_queue_size = 1024
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[3])
http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), h).serve_forever()
";

/// Serves a directory holding `id` (= `name`), `health` and a 4 MB `big` on `port`.
fn start_web(lab: &mut Lab, host: usize, name: &str, port: u16) -> usize {
    let dir = lab.path().join(format!("www-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("id"), name).unwrap();
    std::fs::write(dir.join("health"), "ok").unwrap();
    std::fs::write(dir.join("big"), vec![b'b'; 4 << 20]).unwrap();
    let bind = lab.host_addr(host);
    let port = port.to_string();
    let dir = dir.to_string_lossy().into_owned();
    lab.spawn_helper(
        host,
        &format!("web-{name}"),
        &["python3", "-c", WEB, &bind, &port, &dir],
    )
}

/// Opens a connection to `addr` and sends nothing: it stays open on a real server.
fn hold(addr: &str) -> TcpStream {
    let sa: SocketAddr = addr.parse().unwrap();
    TcpStream::connect_timeout(&sa, secs(3)).unwrap_or_else(|e| panic!("connect {addr}: {e}"))
}

#[test]
fn distribution_per_algorithm_weights_persistence_and_drain() {
    let mut p = PoolLab::new("lb-dist");
    let plain = "        weight 1";
    let w = |n: u32| format!("        weight {n}");
    let (w3, w2, w4) = (w(3), w(2), w(4));
    let pools = [
        p.vs(80, "    lb_algo rr", &[(0, plain), (1, plain), (2, plain)]),
        p.vs(81, "    lb_algo wrr", &[(0, &w3), (1, &w2), (2, plain)]),
        p.vs(82, "    lb_algo lc", &[(0, plain), (1, plain), (2, plain)]),
        p.vs(83, "    lb_algo wlc", &[(0, plain), (1, plain), (2, &w4)]),
        p.vs(84, "    lb_algo sh", &[(0, plain), (1, plain), (2, plain)]),
        p.vs(
            85,
            "    lb_algo rr\n    persistence_timeout 50",
            &[(0, plain), (1, plain), (2, plain)],
        ),
        p.vs(
            86,
            "    lb_algo rr",
            &[(0, plain), (1, plain), (2, "        weight 0")],
        ),
    ]
    .concat();
    p.start_lb(A, &pools);
    p.wait_vip_on(A);
    let names = ["rs1", "rs2", "rs3"];

    let (got, errors) = ids(&p.lab, p.vip_port(80), 30);
    assert!(errors.is_empty(), "rr: {errors:?}");
    assert_eq!(tally(&got, &names), [10, 10, 10], "rr");

    let (got, errors) = ids(&p.lab, p.vip_port(81), 60);
    assert!(errors.is_empty(), "wrr: {errors:?}");
    assert_eq!(tally(&got, &names), [30, 20, 10], "wrr 3:2:1");

    // lc / wlc: connections held open count as active.
    for (port, want) in [(82, [2, 2, 2]), (83, [1, 1, 4])] {
        let addr = p.vip_port(port);
        let held = p
            .lab
            .in_client(move || (0..6).map(|_| hold(&addr)).collect::<Vec<_>>());
        let vs = p.vip_port(port);
        let ok = wait_for(
            || {
                let active: Vec<u64> = p
                    .per_server(A, &vs, "active_connections")
                    .iter()
                    .map(|v| v.as_u64().unwrap())
                    .collect();
                active == want
            },
            secs(5),
        );
        assert!(
            ok.is_some(),
            "port {port}: active {:?}, want {want:?}",
            p.per_server(A, &vs, "active_connections")
        );
        drop(held);
    }

    let (got, errors) = ids(&p.lab, p.vip_port(84), 20);
    assert!(errors.is_empty(), "sh: {errors:?}");
    assert!(
        tally(&got, &names).contains(&20),
        "sh: one client, one server: {got:?}"
    );

    let (got, errors) = ids(&p.lab, p.vip_port(85), 20);
    assert!(errors.is_empty(), "persistence: {errors:?}");
    assert!(tally(&got, &names).contains(&20), "persistence: {got:?}");

    let (got, errors) = ids(&p.lab, p.vip_port(86), 20);
    assert!(errors.is_empty(), "drain: {errors:?}");
    assert_eq!(
        tally(&got, &names),
        [10, 10, 0],
        "weight 0 gets no new connection"
    );
}

#[test]
fn reload_reconfigures_pools_in_place_and_metrics_follow() {
    let mut p = PoolLab::new("lb-reload");
    let plain = "        weight 1";
    let first = p.vs(80, "    lb_algo rr", &[(0, plain), (1, plain)]);
    let conf = |p: &PoolLab, pools: &str| {
        p.conf(A, pools).replacen(
            "router_id h1\n",
            "router_id h1\n    metrics_listen 127.0.0.1:9650\n",
            1,
        )
    };
    let first_conf = conf(&p, &first);
    p.lab.start(A, Kind::Vipd, &first_conf);
    p.wait_vip_on(A);
    let vs80 = p.vip_port(80);
    let vs81 = p.vip_port(81);
    let names = ["rs1", "rs2", "rs3"];
    let (got, errors) = ids(&p.lab, vs80.clone(), 20);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(tally(&got, &names), [10, 10, 0]);
    // Open across both reloads; rr sends it to rs1.
    let addr = vs80.clone();
    let mut held = p.lab.in_client(move || hold(&addr));

    // rs3 joins port 80 with weight 2 under wrr; port 81 appears.
    let w2 = "        weight 2";
    let second = [
        p.vs(80, "    lb_algo wrr", &[(0, plain), (1, plain), (2, w2)]),
        p.vs(81, "    lb_algo rr", &[(2, plain)]),
    ]
    .concat();
    p.lab.write_conf(A, &conf(&p, &second));
    let r = p.lab.vipctl(A, &["reload"]);
    assert_eq!(r.code, 0, "{r:?}\n{}", p.lab.log_tail(A, 20));
    assert!(
        r.stdout.contains(&format!("pools changed {vs80}")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!("pools added {vs81}")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("unchanged  VI_1"), "{}", r.stdout);
    let (got, errors) = ids(&p.lab, vs80.clone(), 40);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        tally(&got, &names),
        [10, 10, 20],
        "wrr 1:1:2 after the reload"
    );
    let (got, errors) = ids(&p.lab, vs81.clone(), 5);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(tally(&got, &names), [0, 0, 5]);
    // Counters and the open connection carried over.
    let totals = p.per_server(A, &vs80, "total_connections");
    assert_eq!(totals, [21, 20, 20], "connections per server");
    assert_eq!(p.per_server(A, &vs80, "active_connections")[0], 1);
    let page = p.lab.http_get(A, "127.0.0.1:9650", "/metrics");
    let rs3 = format!("{}:{RS_PORT}", p.rs_addr(2));
    for line in [
        format!("vipd_lb_connections_total{{virtual_server=\"{vs80}\",real_server=\"{rs3}\"}} 20"),
        format!("vipd_lb_connections_total{{virtual_server=\"{vs81}\",real_server=\"{rs3}\"}} 5"),
        format!("vipd_lb_real_server_up{{virtual_server=\"{vs80}\",real_server=\"{rs3}\"}} 1"),
    ] {
        assert!(page.lines().any(|l| l == line), "no `{line}` in\n{page}");
    }

    // Port 80 goes: it stops accepting, and the held connection still gets its answer.
    let last = p.vs(81, "    lb_algo rr", &[(2, plain)]);
    p.lab.write_conf(A, &conf(&p, &last));
    let r = p.lab.vipctl(A, &["reload"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains(&format!("pools removed {vs80}")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!("pools kept {vs81}")),
        "{}",
        r.stdout
    );
    let addr = vs80.clone();
    let refused = p.lab.in_client(move || {
        wait_for(
            || TcpStream::connect_timeout(&addr.parse().unwrap(), secs(1)).is_err(),
            secs(5),
        )
        .is_some()
    });
    assert!(refused, "{vs80} still accepts after its removal");
    held.set_read_timeout(Some(secs(5))).unwrap();
    held.write_all(b"GET /id HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    held.read_to_end(&mut answer).unwrap();
    assert_eq!(parse(&answer).map(|(_, b)| b), Some("rs1".into()));
}

#[test]
fn killed_server_sorry_server_and_recovery() {
    let mut p = PoolLab::new("lb-health");
    let sorry_host = RS[2];
    start_web(&mut p.lab, sorry_host, "sorry", 8080);
    let check = "        TCP_CHECK {\n            connect_timeout 1\n            retry 1\n            delay_before_retry 1\n        }";
    let lines = format!(
        "    lb_algo rr\n    delay_loop 1\n    sorry_server {} 8080",
        p.lab.host_addr(sorry_host)
    );
    let pools = p.vs(80, &lines, &[(0, check), (1, check), (2, check)]);
    p.start_lb(A, &pools);
    p.wait_vip_on(A);
    let vs = p.vip_port(80);
    let names = ["rs1", "rs2", "rs3", "sorry"];

    let (got, errors) = ids(&p.lab, vs.clone(), 30);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(tally(&got, &names), [10, 10, 10, 0]);

    // rs2 dies. Before the check notices, a refused connect moves to the next server.
    p.lab.kill_helper(p.web[1]);
    let (got, errors) = ids(&p.lab, vs.clone(), 9);
    assert!(errors.is_empty(), "before the check noticed: {errors:?}");
    assert_eq!(tally(&got, &names)[1], 0);
    p.wait_state(&vs, 1, "DOWN");
    let status = p.pool_status(A, &vs);
    let reason = status["real_servers"][1]["last_transition"]["reason"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(reason.contains("refused"), "reason: {status}");
    assert!(p.lab.log(A).contains("is DOWN"), "transition logged");
    let (got, errors) = ids(&p.lab, vs.clone(), 30);
    assert!(errors.is_empty(), "after the check noticed: {errors:?}");
    assert_eq!(tally(&got, &names), [15, 0, 15, 0]);

    // All down: the sorry server answers.
    p.lab.kill_helper(p.web[0]);
    p.lab.kill_helper(p.web[2]);
    p.wait_state(&vs, 0, "DOWN");
    p.wait_state(&vs, 2, "DOWN");
    let (got, errors) = ids(&p.lab, vs.clone(), 10);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(tally(&got, &names), [0, 0, 0, 10], "sorry_server");
    assert!(!p.pool_status(A, &vs)["quorum_up"].as_bool().unwrap());

    // rs1 returns: it serves again.
    p.web[0] = start_web(&mut p.lab, RS[0], "rs1", RS_PORT);
    p.wait_state(&vs, 0, "UP");
    let (got, errors) = ids(&p.lab, vs.clone(), 10);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(tally(&got, &names), [10, 0, 0, 0]);
    let transitions = p.per_server(A, &vs, "transitions");
    assert_eq!(transitions[0], 2, "rs1 went down and up: {transitions:?}");
}

#[test]
fn drain_lets_open_connections_finish() {
    let mut p = PoolLab::new("lb-drain");
    let http = "        HTTP_GET {\n            url {\n                path /health\n                status_code 200\n            }\n            connect_timeout 1\n            retry 1\n            delay_before_retry 1\n        }";
    let rs1 = format!("        inhibit_on_failure\n{http}");
    let pools = p.vs(
        80,
        "    lb_algo rr\n    delay_loop 1",
        &[(0, &rs1), (1, http), (2, http)],
    );
    p.start_lb(A, &pools);
    p.wait_vip_on(A);
    let vs = p.vip_port(80);
    let names = ["rs1", "rs2", "rs3"];

    // The first connection goes to rs1 (round robin starts there); keep it mid-request.
    let addr = vs.clone();
    let held = p.lab.in_client(move || {
        let mut s = hold(&addr);
        s.write_all(b"GET /id HTTP/1.0\r\n").unwrap();
        s
    });
    let on_rs1 = wait_for(
        || p.per_server(A, &vs, "active_connections")[0] == 1,
        secs(5),
    );
    assert!(
        on_rs1.is_some(),
        "held connection not on rs1: {}",
        p.pool_status(A, &vs)
    );

    // rs1's health page goes away: it is drained (weight 0), not cut.
    std::fs::remove_file(p.lab.path().join("www-rs1/health")).unwrap();
    p.wait_state(&vs, 0, "DOWN");
    assert_eq!(p.per_server(A, &vs, "effective_weight")[0], 0);
    let (got, errors) = ids(&p.lab, vs.clone(), 20);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(tally(&got, &names), [0, 10, 10]);

    // The open connection still finishes on rs1.
    let body = p.lab.in_client(move || {
        let mut s = held;
        s.set_read_timeout(Some(secs(5))).unwrap();
        s.write_all(b"\r\n").unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        parse(&answer)
    });
    assert_eq!(body, Some((200, "rs1".to_string())));
}

#[test]
fn forwarder_follows_the_vip_on_failover() {
    let mut p = PoolLab::new("lb-failover");
    let plain = "        weight 1";
    let pools = p.vs(80, "    lb_algo rr", &[(0, plain), (1, plain), (2, plain)]);
    p.start_lb(A, &pools);
    p.start_lb(B, &pools);
    p.wait_vip_on(A);
    let vs = p.vip_port(80);
    let (got, errors) = ids(&p.lab, vs.clone(), 9);
    assert!(errors.is_empty() && got.len() == 9, "{errors:?}");
    let served_by_b = |p: &PoolLab| -> u64 {
        p.per_server(B, &vs, "total_connections")
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum()
    };
    assert_eq!(
        served_by_b(&p),
        0,
        "the backup's listener waits for the VIP"
    );

    let (status, _) = p.lab.stop_term(A);
    assert!(status.success(), "vipd on h1 exit: {status}");
    p.wait_vip_on(B);
    let (got, errors) = ids(&p.lab, vs.clone(), 9);
    assert!(errors.is_empty(), "after failover: {errors:?}");
    assert_eq!(got.len(), 9);
    assert_eq!(served_by_b(&p), 9, "h2 forwards now");
}

/// Open descriptors of process `pid`: (sockets, pipes, others).
fn fds(pid: u32) -> (usize, usize, usize) {
    let mut n = (0, 0, 0);
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let target = std::fs::read_link(e.path()).unwrap_or_default();
        let t = target.to_string_lossy();
        if t.starts_with("socket:") {
            n.0 += 1;
        } else if t.starts_with("pipe:") {
            n.1 += 1;
        } else {
            n.2 += 1;
        }
    }
    n
}

/// vipd keeps at most this many idle pipes for reuse (src/lb/pump.rs POOL_MAX), two
/// descriptors each.
const POOLED_PIPES_MAX: usize = 64;

/// A backend that sends 1 MB then resets the connection (SO_LINGER 0).
const RESETTER: &str = "import socket,struct,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind((sys.argv[1],9000)); s.listen(64)
while True:
    c,_=s.accept()
    try:
        c.sendall(b'r'*(1<<20))
    except OSError:
        pass
    c.setsockopt(socket.SOL_SOCKET,socket.SO_LINGER,struct.pack('ii',1,0)); c.close()
";

/// From the client: `n` connections opened and dropped (every other one with a reset), a
/// client that resets in the middle of a download, and a download from a backend that
/// resets. Returns the bytes that backend got through and how the client saw the end.
fn abuse(p: &PoolLab, n: usize) -> (usize, String) {
    let (addr, reset_vs) = (p.vip_port(80), p.vip_port(90));
    p.lab.in_client(move || {
        for k in 0..n {
            let s = hold(&addr);
            if k % 2 == 0 {
                socket2::SockRef::from(&s)
                    .set_linger(Some(Duration::ZERO))
                    .unwrap();
            }
            drop(s);
        }
        let mut buf = [0u8; 4096];
        let mut s = hold(&addr);
        s.write_all(b"GET /big HTTP/1.0\r\n\r\n").unwrap();
        let _ = s.read(&mut buf);
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s);
        let mut s = hold(&reset_vs);
        s.set_read_timeout(Some(secs(10))).unwrap();
        let _ = s.shutdown(Shutdown::Write);
        let mut got = 0usize;
        let end = loop {
            match s.read(&mut buf) {
                Ok(0) => break "eof".to_string(),
                Ok(n) => got += n,
                Err(e) => break e.to_string(),
            }
        };
        (got, end)
    })
}

/// Waits until no connection is open on either pool and vipd's sockets are back to
/// `sockets`; its descriptors then.
fn settle(p: &PoolLab, pid: u32, sockets: usize) -> (usize, usize, usize) {
    let active = |vs: &str| -> u64 {
        p.per_server(A, vs, "active_connections")
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum()
    };
    let ok = wait_for(
        || active(&p.vip_port(80)) == 0 && active(&p.vip_port(90)) == 0 && fds(pid).0 <= sockets,
        secs(20),
    );
    assert!(
        ok.is_some(),
        "vipd holds {:?} (sockets, pipes, other) descriptors, {sockets} sockets before; {}",
        fds(pid),
        p.pool_status(A, &p.vip_port(80))
    );
    fds(pid)
}

#[test]
fn resets_and_a_thousand_dropped_connections_leave_no_descriptors() {
    let mut p = PoolLab::new("lb-fds");
    let rs3 = p.lab.host_addr(RS[2]);
    p.lab
        .spawn_helper(RS[2], "resetter", &["python3", "-c", RESETTER, &rs3]);
    let plain = "        weight 1";
    let mut pools = p.vs(80, "    lb_algo rr", &[(0, plain), (1, plain), (2, plain)]);
    pools.push_str(&format!(
        "virtual_server {} 90 {{\n    lb_algo rr\n    lb_kind NAT\n    real_server {rs3} 9000 {{\n        weight 1\n    }}\n}}\n",
        p.lab.vip()
    ));
    p.start_lb(A, &pools);
    p.wait_vip_on(A);
    let pid = p.lab.agent_pid(A);
    let vs = p.vip_port(80);

    let (_, errors) = ids(&p.lab, vs.clone(), 30);
    assert!(errors.is_empty(), "{errors:?}");
    std::thread::sleep(Duration::from_millis(300));
    let (sockets, _, others) = fds(pid);

    for round in 1..=2 {
        let backend_reset = abuse(&p, 1000);
        assert!(
            backend_reset.0 > 0,
            "some bytes came before the backend's reset: {backend_reset:?}"
        );
        // Every socket is closed; the only other descriptors that may remain are idle
        // pipes kept for reuse, and never more than the pool holds.
        let after = settle(&p, pid, sockets);
        assert_eq!(after.0, sockets, "round {round}: sockets");
        assert_eq!(after.2, others, "round {round}: other descriptors");
        assert!(
            after.1 <= 2 * POOLED_PIPES_MAX,
            "round {round}: {} pipe descriptors",
            after.1
        );
    }
    let total: u64 = p
        .per_server(A, &vs, "total_connections")
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 30 + 2 * (1000 + 1));
    // And it still serves.
    let (got, errors) = ids(&p.lab, vs, 3);
    assert!(errors.is_empty() && got.len() == 3, "{errors:?}");
}

/// CPU time of process `pid` so far (utime + stime), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After "pid (comm) " the state is the first field; utime and stime the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit(") ").next().unwrap().split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf reads a constant of the system and touches no memory of ours.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).unwrap_or(100)
}

/// The soft and hard "Max open files" of process `pid`.
fn nofile(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("no open-file limit in\n{limits}"));
    let n: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (n[0], n[1])
}

/// h1's open-file limit, soft:hard, as `prlimit` sets it before vipd starts.
const FLOOD_NOFILE: (u64, u64) = (256, 512);
/// Client connections the flood holds open at once: three times h1's hard limit.
const FLOOD_CONNS: usize = 1500;
/// How long the flood holds them.
const FLOOD_HOLD: Duration = Duration::from_secs(10);

/// What the flood saw from the client: connections opened, how many had completed their
/// handshake when it let go, and how long it held them.
struct Flood {
    opened: usize,
    established: usize,
    held: Duration,
}

/// From the client namespace: `FLOOD_CONNS` non-blocking connects to `vs` (given up after
/// 5 s of opening), held open until `FLOOD_HOLD` after the first, then closed.
fn flood(vs: SocketAddr) -> Flood {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    use socket2::{Domain, Socket, Type};
    let want = FLOOD_CONNS as u64 + 256;
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < want {
        setrlimit(Resource::RLIMIT_NOFILE, want.max(soft), want.max(hard)).unwrap();
    }
    let start = Instant::now();
    let mut socks = Vec::with_capacity(FLOOD_CONNS);
    while socks.len() < FLOOD_CONNS && start.elapsed() < secs(5) {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        match s.connect(&vs.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => panic!("connect {vs}: {e}"),
        }
        socks.push(s);
    }
    std::thread::sleep(FLOOD_HOLD.saturating_sub(start.elapsed()));
    let established = socks.iter().filter(|s| s.peer_addr().is_ok()).count();
    let flood = Flood {
        opened: socks.len(),
        established,
        held: start.elapsed(),
    };
    drop(socks);
    flood
}

/// Calls `f` every `period` (a tick missed while `f` ran is skipped) until `done` is set or
/// `within` has passed; how many times it did.
fn sample_every(
    period: Duration,
    within: Duration,
    done: &AtomicBool,
    mut f: impl FnMut(),
) -> usize {
    let start = Instant::now();
    let mut n = 0;
    while !done.load(Ordering::SeqCst) && start.elapsed() < within {
        f();
        n += 1;
        let ticks = (start.elapsed().as_nanos() / period.as_nanos()) as u32 + 1;
        std::thread::sleep((start + period * ticks).saturating_duration_since(Instant::now()));
    }
    n
}

/// `vipctl status --json` of `host` within 3 s, or why not.
fn try_status(lab: &Lab, host: usize) -> Result<serde_json::Value, String> {
    let out = std::process::Command::new("timeout")
        .arg("3")
        .arg(harness::vipctl_bin())
        .arg("--socket")
        .arg(lab.socket_path(host))
        .args(["status", "--json"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run vipctl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "vipctl status failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("vipctl status --json: {e}"))
}

/// What matters of h1's status during the flood.
#[derive(Debug, Clone, PartialEq)]
struct Health {
    state: String,
    effective_priority: u64,
    track_ok: bool,
    last_transition: serde_json::Value,
    server_state: String,
    server_transitions: u64,
    check_failures: u64,
    active: u64,
}

fn health(status: &serde_json::Value, vs: &str) -> Result<Health, String> {
    let inst = status["instances"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == "VI_1"))
        .ok_or_else(|| format!("no instance VI_1 in {status}"))?;
    let rs = status["virtual_servers"]
        .as_array()
        .and_then(|a| a.iter().find(|v| v["addr"] == vs))
        .map(|v| &v["real_servers"][0])
        .ok_or_else(|| format!("no virtual_server {vs} in {status}"))?;
    let tracks = inst["tracks"].as_array().cloned().unwrap_or_default();
    Ok(Health {
        state: inst["state"].as_str().unwrap_or("?").to_string(),
        effective_priority: inst["effective_priority"].as_u64().unwrap_or(0),
        track_ok: !tracks.is_empty() && tracks.iter().all(|t| t["ok"] == true),
        last_transition: inst["last_transition"].clone(),
        server_state: rs["state"].as_str().unwrap_or("?").to_string(),
        server_transitions: rs["transitions"].as_u64().unwrap_or(u64::MAX),
        check_failures: rs["check_failures"].as_u64().unwrap_or(u64::MAX),
        active: rs["active_connections"].as_u64().unwrap_or(0),
    })
}

/// Descriptor exhaustion through the forwarder. h1 (priority 100, master) and h2 (90) run
/// vipd with a virtual_server on the VIP, one real server behind it checked by HTTP_GET,
/// and a track_script that always passes but would cost 50 (below h2) if it failed. h1's
/// vipd starts under an open-file limit of 256:512 and the client opens three times the
/// hard limit of connections to the VIP, held 10 s. Checks and the script need descriptors
/// of their own: when client connections take them all, the real server goes DOWN and the
/// script fails, and the VIP moves. It must not: the VIP stays on h1 alone, h1 stays MASTER
/// with no transition and its priority whole, the real server UP with checks that keep
/// reaching it, the script keeps running, vipd's CPU stays low, and a new client is served
/// once the flood is gone.
#[test]
fn a_connection_flood_past_the_descriptor_limit_leaves_the_master_its_vip_and_checks() {
    let mut lab = Lab::setup("lb-fdflood", 3);
    let rs_host = 2;
    start_web(&mut lab, rs_host, "rs1", RS_PORT);
    let addr = format!("{}:{RS_PORT}", lab.host_addr(rs_host));
    let ready = lab.in_client(move || wait_for(|| get(&addr, "/id").is_ok(), secs(15)).is_some());
    assert!(ready, "the web server did not come up");

    // The track script passes and leaves a line per run and host.
    let runs = lab.path().join("track-runs");
    let script = lab.path().join("track.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" >> {}\n", runs.display()),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let vs = format!("{}:80", lab.vip());
    let conf = |host: usize| {
        let base = lab.pair_conf(host, &PairOpts::default());
        let marker = "    virtual_ipaddress {";
        assert!(base.contains(marker), "pair config changed shape:\n{base}");
        format!(
            "vrrp_script chk_ok {{\n    script \"{} h{}\"\n    interval 1\n    timeout 2\n    \
             weight -50\n}}\n\n{}\nvirtual_server {} 80 {{\n    delay_loop 1\n    lb_algo rr\n    \
             lb_kind NAT\n    protocol TCP\n    real_server {} {RS_PORT} {{\n        HTTP_GET {{\n\
             \x20           url {{\n                path /health\n                status_code 200\n\
             \x20           }}\n            connect_timeout 1\n            retry 1\n            \
             delay_before_retry 1\n        }}\n    }}\n}}\n",
            script.display(),
            host + 1,
            base.replacen(
                marker,
                &format!("    track_script {{\n        chk_ok\n    }}\n{marker}"),
                1
            ),
            lab.vip(),
            lab.host_addr(rs_host),
        )
    };
    let (conf_a, conf_b) = (conf(A), conf(B));
    let limit = format!("--nofile={}:{}", FLOOD_NOFILE.0, FLOOD_NOFILE.1);
    lab.start_wrapped(A, Kind::Vipd, &conf_a, &["prlimit", &limit], &[]);
    lab.start(B, Kind::Vipd, &conf_b);
    let pid = lab.agent_pid(A);
    assert_eq!(nofile(pid).1, FLOOD_NOFILE.1, "prlimit set h1's hard limit");

    wait_for(|| lab.holds_vip(A), secs(20))
        .unwrap_or_else(|| panic!("h1 never took the VIP:\n{}", lab.log_tail(A, 30)));
    let settled = wait_for(
        || {
            try_status(&lab, A)
                .and_then(|s| health(&s, &vs))
                .is_ok_and(|h| {
                    h.state == "MASTER"
                        && h.effective_priority == 100
                        && h.track_ok
                        && h.server_state == "UP"
                })
                && lab.vipd_state(B).as_deref() == Some("BACKUP")
        },
        secs(20),
    );
    assert!(
        settled.is_some(),
        "h1 not MASTER at 100 with its script and server up, or h2 not BACKUP: {:?}\n{}",
        try_status(&lab, A).and_then(|s| health(&s, &vs)),
        lab.log_tail(A, 30)
    );
    let addr = vs.clone();
    let before = lab.in_client(move || get(&addr, "/id"));
    assert_eq!(
        before,
        Ok((200, "rs1".to_string())),
        "served before the flood"
    );
    let at_start = health(&try_status(&lab, A).unwrap(), &vs).unwrap();
    let health_gets = || {
        // h2 checks the same server: count h1's requests only.
        let from_h1 = format!("{} ", lab.host_addr(A));
        std::fs::read_to_string(lab.path().join("web-rs1.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(&from_h1) && l.contains("GET /health"))
            .count()
    };
    let script_runs = || {
        std::fs::read_to_string(&runs)
            .unwrap_or_default()
            .lines()
            .filter(|l| *l == "h1")
            .count()
    };

    // The flood; meanwhile who holds the VIP every 100 ms, and h1's status every 500 ms
    // (on a thread of its own: a control socket that does not answer must not slow the
    // VIP's samples).
    let (gets0, runs0, cpu0) = (health_gets(), script_runs(), cpu_ticks(pid));
    let started = Instant::now();
    let vs_addr: SocketAddr = vs.parse().unwrap();
    let done = AtomicBool::new(false);
    // Bounded: the flood takes FLOOD_HOLD plus at most the 5 s of opening.
    let within = FLOOD_HOLD + secs(20);
    let at = || format!("{:.1} s", started.elapsed().as_secs_f64());
    let mut vip_problems: Vec<String> = Vec::new();
    let (mut vip_samples, mut max_fds) = (0, 0);
    let (flooded, (status_samples, max_active, status_problems)) = std::thread::scope(|scope| {
        let (lab, done, vs, at_start, at) = (&lab, &done, &vs, &at_start, &at);
        let flooder = scope.spawn(move || {
            let flooded = lab.in_client(move || flood(vs_addr));
            done.store(true, Ordering::SeqCst);
            flooded
        });
        let status = scope.spawn(move || {
            let (mut problems, mut max_active) = (Vec::new(), 0);
            let n = sample_every(Duration::from_millis(500), within, done, || {
                match try_status(lab, A).and_then(|s| health(&s, vs)) {
                    Ok(h) => {
                        max_active = max_active.max(h.active);
                        // All but the connection count as before: no failed check either.
                        let same = Health {
                            active: at_start.active,
                            ..h.clone()
                        };
                        if same != *at_start {
                            problems.push(format!("{}: h1 {h:?}", at()));
                        }
                    }
                    Err(e) => problems.push(format!("{}: h1 {e}", at())),
                }
            });
            (n, max_active, problems)
        });
        vip_samples = sample_every(Duration::from_millis(100), within, done, || {
            let holders = lab.vip_holders();
            if holders != [A] {
                vip_problems.push(format!("{}: VIP held by {holders:?}", at()));
            }
            let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
            max_fds = max_fds.max(fds);
        });
        let flooded = flooder.join().expect("the flood thread");
        (flooded, status.join().expect("the status thread"))
    });
    let flood_secs = started.elapsed().as_secs_f64();
    let cpu = (cpu_ticks(pid) - cpu0) as f64 / clock_ticks_per_sec() as f64;
    let cpu_pct = 100.0 * cpu / flood_secs;
    let (gets, script) = (health_gets() - gets0, script_runs() - runs0);

    // Once the flood is gone, a new client is served.
    let addr = vs.clone();
    let served_after = lab.in_client(move || {
        wait_for(
            || get(&addr, "/id").is_ok_and(|(c, b)| c == 200 && b == "rs1"),
            secs(30),
        )
    });
    let end = try_status(&lab, A).and_then(|s| health(&s, &vs));
    measure(&format!(
        "vipd lb_fd_flood nofile={}:{} conns={}/{} established={} held_s={:.1} \
         vip_samples={vip_samples} status_samples={status_samples} bad_vip_samples={} \
         bad_status_samples={} max_active={max_active} max_fds={max_fds} cpu_pct={cpu_pct:.1} \
         h1_health_checks={gets} h1_script_runs={script} served_after_s={}",
        FLOOD_NOFILE.0,
        FLOOD_NOFILE.1,
        flooded.opened,
        FLOOD_CONNS,
        flooded.established,
        flooded.held.as_secs_f64(),
        vip_problems.len(),
        status_problems.len(),
        served_after.map_or("never".to_string(), |d| format!("{:.2}", d.as_secs_f64())),
    ));
    let logs = || {
        format!(
            "--- h1 ---\n{}\n--- h2 ---\n{}",
            lab.log_tail(A, 30),
            lab.log_tail(B, 10)
        )
    };
    assert_eq!(
        flooded.opened, FLOOD_CONNS,
        "the flood opened every connection"
    );
    assert!(
        max_active >= 1,
        "h1 never showed a flooded connection open to the real server"
    );
    let first = |p: &[String]| p[..p.len().min(10)].join("\n");
    assert!(
        vip_problems.is_empty() && status_problems.is_empty(),
        "during the flood, {} of {vip_samples} VIP samples wrong:\n{}\n\
         {} of {status_samples} status samples of h1 wrong (before: {at_start:?}):\n{}\n{}",
        vip_problems.len(),
        first(&vip_problems),
        status_problems.len(),
        first(&status_problems),
        logs()
    );
    assert!(
        vip_samples >= 80,
        "only {vip_samples} VIP samples in {flood_secs:.1} s"
    );
    assert!(status_samples >= 16, "only {status_samples} status samples");
    // delay_loop 1 and interval 1 over 10 s and more: a run every second or two.
    assert!(
        gets >= 5,
        "{gets} health checks reached the real server in {flood_secs:.1} s"
    );
    assert!(
        script >= 5,
        "the track script ran {script} times in {flood_secs:.1} s"
    );
    assert!(
        cpu_pct < 30.0,
        "h1's vipd used {cpu_pct:.1} % of a core over the flood\n{}",
        logs()
    );
    assert!(
        served_after.is_some(),
        "no client served through the VIP within 30 s of the flood's end\n{}",
        logs()
    );
    let end = end.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (
            end.state.as_str(),
            end.effective_priority,
            end.track_ok,
            end.server_state.as_str()
        ),
        ("MASTER", 100, true, "UP"),
        "h1 after the flood: {end:?}"
    );
    assert_eq!(
        end.last_transition, at_start.last_transition,
        "no transition on h1"
    );
    assert_eq!(lab.vip_holders(), [A], "the VIP after the flood");
    assert_eq!(
        lab.vipd_state(B).as_deref(),
        Some("BACKUP"),
        "h2 after the flood"
    );
}

/// nginx serving its name on `port`, behind `listen ... proxy_protocol`, logging
/// `$proxy_protocol_addr $remote_addr` per request to `access-NAME.log` in the lab
/// directory (one process: no master, so the helper's id is all there is to stop).
fn start_nginx_pp(lab: &mut Lab, host: usize, name: &str, port: u16) -> usize {
    let dir = lab.path().join(format!("nginx-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_string_lossy().into_owned();
    let bind = lab.host_addr(host);
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/pid;\n\
         error_log {d}/error.log info;\nevents {{ worker_connections 64; }}\n\
         http {{\n  log_format pp '$proxy_protocol_addr $remote_addr';\n\
         client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n\
         scgi_temp_path {d}/scgi;\n  access_log off;\n\
         server {{\n    listen {bind}:{port} proxy_protocol;\n\
         access_log {d}/access.log pp;\n    location / {{ return 200 \"{name}\\n\"; }}\n  }}\n}}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let path = path.to_string_lossy().into_owned();
    lab.spawn_helper(host, &format!("nginx-{name}"), &["nginx", "-c", &path])
}

/// The access log of [`start_nginx_pp`]'s `name`: (`$proxy_protocol_addr`, empty for a
/// LOCAL or UNKNOWN header, and `$remote_addr`) per request.
fn nginx_access(lab: &Lab, name: &str) -> Vec<(String, String)> {
    let path = lab.path().join(format!("nginx-{name}/access.log"));
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (pp, remote) = l.split_once(' ').unwrap_or(("", l));
            // nginx writes an empty variable as `-`.
            let pp = if pp == "-" { "" } else { pp };
            (pp.to_string(), remote.to_string())
        })
        .collect()
}

#[test]
fn proxy_protocol_v1_and_v2_tell_nginx_the_client_address() {
    const PORT: u16 = 8081;
    let mut p = PoolLab::new("lb-pp");
    let names = ["pp1", "pp2"];
    let mut nginx = Vec::new();
    for (i, name) in names.iter().enumerate() {
        nginx.push(start_nginx_pp(&mut p.lab, RS[i], name, PORT));
    }
    let servers = |per_server: &str, checks: &str| {
        (0..2)
            .map(|i| {
                format!(
                    "    real_server {} {PORT} {{\n{per_server}\n{checks}\n    }}\n",
                    p.rs_addr(i)
                )
            })
            .collect::<String>()
    };
    let http_get = "        HTTP_GET {\n            url {\n                path /\n                \
                    status_code 200\n            }\n            connect_timeout 1\n        }";
    let tcp_check = "        TCP_CHECK {\n            connect_timeout 1\n        }";
    let vip = p.lab.vip();
    // Port 80: v1 for the whole pool, HTTP_GET and TCP_CHECK (nginx must take a bare
    // connect without a header). Port 81: v2 written in each real server.
    let pools = format!(
        "virtual_server {vip} 80 {{\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    \
         delay_loop 1\n    proxy_protocol v1\n{}}}\n\
         virtual_server {vip} 81 {{\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    \
         delay_loop 1\n{}}}\n",
        servers("", &format!("{http_get}\n{tcp_check}")),
        servers("        proxy_protocol v2", http_get),
    );
    p.start_lb(A, &pools);
    p.wait_vip_on(A);
    let (vs80, vs81) = (p.vip_port(80), p.vip_port(81));
    for vs in [&vs80, &vs81] {
        for i in 0..2 {
            p.wait_state(vs, i, "UP");
        }
    }
    assert_eq!(p.pool_status(A, &vs80)["proxy_protocol"], "v1");
    assert_eq!(p.per_server(A, &vs81, "proxy_protocol"), ["v2", "v2"]);

    let client = p.lab.client_addr();
    let lb = p.lab.host_addr(A);
    let mut before = [0usize; 2];
    for vs in [&vs80, &vs81] {
        let (got, errors) = ids(&p.lab, vs.clone(), 6);
        assert!(errors.is_empty(), "{vs}: {errors:?}");
        assert_eq!(tally(&got, &names), [3, 3], "{vs}: {got:?}");
        for (i, name) in names.iter().enumerate() {
            // nginx writes its log line as it answers; allow it a moment.
            let ok = wait_for(
                || {
                    nginx_access(&p.lab, name)
                        .iter()
                        .filter(|(pp, _)| !pp.is_empty())
                        .count()
                        >= before[i] + 3
                },
                secs(5),
            );
            let log = nginx_access(&p.lab, name);
            assert!(ok.is_some(), "{vs}: {name}'s access log: {log:?}");
            for (pp, remote) in log.iter().filter(|(pp, _)| !pp.is_empty()) {
                assert_eq!(
                    (pp, remote),
                    (&client, &lb),
                    "{vs}: {name} saw a client other than the client's own address"
                );
            }
            before[i] = log.iter().filter(|(pp, _)| !pp.is_empty()).count();
            // The health checks' requests (LOCAL, UNKNOWN) carry no client address.
            assert!(
                log.iter()
                    .any(|(pp, remote)| pp.is_empty() && remote == &lb),
                "{vs}: no health check request in {name}'s log: {log:?}"
            );
        }
    }
    let errors = std::fs::read_to_string(p.lab.path().join("nginx-pp1/error.log")).unwrap();
    assert!(
        !errors.contains("broken header"),
        "nginx took a header as broken:\n{errors}"
    );

    // pp2 stops: both pools see it down; pp1 serves alone.
    p.lab.kill_helper(nginx[1]);
    p.wait_state(&vs80, 1, "DOWN");
    p.wait_state(&vs81, 1, "DOWN");
    assert_eq!(p.per_server(A, &vs80, "state")[0], "UP");
    let (got, errors) = ids(&p.lab, vs81.clone(), 4);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(tally(&got, &names), [4, 0]);
}

#[test]
fn maxconn_holds_clients_in_the_backlog_and_uthreshold_moves_the_next_connection() {
    let mut p = PoolLab::new("lb-caps");
    let plain = "        weight 1";
    let pools = [
        p.vs(
            80,
            "    lb_algo rr\n    maxconn 5",
            &[(0, plain), (1, plain), (2, plain)],
        ),
        p.vs(
            81,
            "    lb_algo wrr",
            &[(0, "        weight 10\n        uthreshold 2"), (1, plain)],
        ),
    ]
    .concat();
    p.start_lb(A, &pools);
    p.wait_vip_on(A);
    let (vs80, vs81) = (p.vip_port(80), p.vip_port(81));

    // Five idle clients fill port 80; a sixth gets through the handshake (the kernel's
    // backlog) but no answer, until one of the five leaves.
    let addr = vs80.clone();
    let mut held = p
        .lab
        .in_client(move || (0..5).map(|_| hold(&addr)).collect::<Vec<_>>());
    // Accepted, all five, before the sixth comes: each thread has a backlog of its own
    // (SO_REUSEPORT), so a sixth sent with them could be taken before one of them.
    let open = wait_for(|| p.pool_status(A, &vs80)["connections"] == 5, secs(5));
    assert!(open.is_some(), "{}", p.pool_status(A, &vs80));
    let addr = vs80.clone();
    let mut sixth = p.lab.in_client(move || hold(&addr));
    sixth
        .write_all(b"GET /id HTTP/1.0\r\nHost: x\r\n\r\n")
        .unwrap();
    sixth.set_read_timeout(Some(secs(1))).unwrap();
    let mut answer = Vec::new();
    let early = sixth.read_to_end(&mut answer);
    assert!(
        early.is_err() && answer.is_empty(),
        "the 6th client was served while 5 were open: {early:?} {:?}",
        String::from_utf8_lossy(&answer)
    );
    drop(held.remove(0));
    sixth.set_read_timeout(Some(secs(5))).unwrap();
    sixth.read_to_end(&mut answer).unwrap();
    let (code, _) = parse(&answer).expect("an HTTP answer");
    assert_eq!(code, 200);
    // At least the sixth; a thread that takes a place to find its backlog empty holds it
    // for a moment, and another thread's client may be counted as having waited for it.
    let waited = wait_for(
        || p.pool_status(A, &vs80)["cap_hits"].as_u64() >= Some(1),
        secs(5),
    );
    assert!(
        waited.is_some(),
        "{}\n{}",
        p.pool_status(A, &vs80),
        p.lab.log_tail(A, 20)
    );
    // The episode ends once nobody waits and the backlog is empty.
    drop(held);
    drop(sixth);
    let logged = wait_for(
        || {
            let log = p.lab.log(A);
            log.contains("its maxconn; new clients wait in its listen backlog")
                && log.contains("below its maxconn again")
        },
        secs(5),
    );
    assert!(
        logged.is_some(),
        "no start and end of the maxconn episode in h1's log:\n{}",
        p.lab.log_tail(A, 20)
    );

    // Port 81: wrr 10:1 would send three to rs1; uthreshold 2 sends the third to rs2.
    let addr = vs81.clone();
    let held81 = p
        .lab
        .in_client(move || (0..3).map(|_| hold(&addr)).collect::<Vec<_>>());
    let spread = wait_for(
        || p.per_server(A, &vs81, "active_connections") == [2, 1],
        secs(5),
    );
    assert!(spread.is_some(), "{}", p.pool_status(A, &vs81));
    assert_eq!(p.per_server(A, &vs81, "full"), [true, false]);
    drop(held81);
}

/// nginx on `[addr]:port` in `host`, serving `id` (= `name`) and `health`: one process
/// (`master_process off`), its pid, logs and temporary files in the lab directory.
fn start_nginx(lab: &mut Lab, host: usize, name: &str, addr: &str, port: u16) -> usize {
    let dir = lab.path().join(format!("nginx-{name}"));
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("id"), name).unwrap();
    std::fs::write(www.join("health"), "ok").unwrap();
    let d = dir.to_string_lossy();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n\
         proxy_temp_path {d}/proxy;\n fastcgi_temp_path {d}/fcgi;\n uwsgi_temp_path {d}/uwsgi;\n\
         scgi_temp_path {d}/scgi;\n default_type text/plain;\n\
         server {{ listen [{addr}]:{port}; root {d}/www; }}\n}}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let path = path.to_string_lossy().into_owned();
    lab.spawn_helper(
        host,
        &format!("nginx-{name}"),
        &["nginx", "-p", &d, "-c", &path],
    )
}

/// An IPv6 pool: the VIP is an IPv6 address of a VRRPv3 instance, two nginx on IPv6
/// addresses behind it; round robin spreads over both, a stopped one is taken out by its
/// check (HTTP_GET and TCP_CHECK over IPv6) and the other gets every request; the status
/// writes the addresses in brackets.
#[test]
fn ipv6_pool_spreads_and_a_stopped_server_is_taken_out() {
    let mut lab = Lab::setup_family("lb-v6", 4, harness::Family::V6);
    let rs = [lab.host_addr6(2), lab.host_addr6(3)];
    let web = [
        start_nginx(&mut lab, 2, "rs1", &rs[0], RS_PORT),
        start_nginx(&mut lab, 3, "rs2", &rs[1], RS_PORT),
    ];
    let direct: Vec<String> = rs.iter().map(|a| format!("[{a}]:{RS_PORT}")).collect();
    let ready = lab.in_client(move || {
        wait_for(|| direct.iter().all(|a| get(a, "/id").is_ok()), secs(15)).is_some()
    });
    assert!(
        ready,
        "nginx did not come up on IPv6 (nginx-rs*.log in the lab)"
    );
    let vip = lab.vip();
    let pool = format!(
        "virtual_server {vip} 80 {{\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n\
         \x20   delay_loop 1\n\
         \x20   real_server {} {RS_PORT} {{\n        HTTP_GET {{\n            url {{\n\
         \x20               path /health\n                status_code 200\n            }}\n\
         \x20           connect_timeout 1\n            retry 1\n            delay_before_retry 0.5\n\
         \x20       }}\n    }}\n\
         \x20   real_server {} {RS_PORT} {{\n        TCP_CHECK {{\n            connect_timeout 1\n\
         \x20           retry 1\n            delay_before_retry 0.5\n        }}\n    }}\n}}\n",
        rs[0], rs[1]
    );
    let conf = format!("{}\n{pool}", lab.pair_conf(A, &PairOpts::default()));
    lab.start(A, Kind::Vipd, &conf);
    wait_for(|| lab.holds_vip(A), secs(20))
        .unwrap_or_else(|| panic!("h1 never took the VIP:\n{}", lab.log_tail(A, 30)));
    let vs = format!("[{vip}]:80");
    let names = ["rs1", "rs2"];

    let (got, errors) = ids(&lab, vs.clone(), 20);
    assert!(errors.is_empty(), "{errors:?}\n{}", lab.log_tail(A, 20));
    assert_eq!(tally(&got, &names), [10, 10], "rr over IPv6");
    let status = lab.vipctl_status(A);
    let pool = status["virtual_servers"]
        .as_array()
        .and_then(|a| a.iter().find(|v| v["addr"] == vs.as_str()))
        .unwrap_or_else(|| panic!("no virtual_server {vs} in {status}"));
    let rs_addrs: Vec<&str> = pool["real_servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["addr"].as_str().unwrap())
        .collect();
    assert_eq!(
        rs_addrs,
        [
            format!("[{}]:{RS_PORT}", rs[0]),
            format!("[{}]:{RS_PORT}", rs[1])
        ]
    );

    // rs2 stops: its TCP_CHECK takes it out, rs1 answers everything.
    lab.kill_helper(web[1]);
    let down = wait_for(
        || {
            let st = lab.vipctl_status(A);
            st["virtual_servers"][0]["real_servers"][1]["state"] == "DOWN"
        },
        secs(15),
    );
    assert!(
        down.is_some(),
        "rs2 never went DOWN:\n{}",
        lab.log_tail(A, 20)
    );
    let (got, errors) = ids(&lab, vs.clone(), 20);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(tally(&got, &names), [20, 0], "all to the survivor");
}

/// A DNS query for `test.lab` A (id 0x1234, recursion desired): also the UDP_CHECK payload
/// below, in hex.
const DNS_QUERY: &str = "1234010000010000000000000474657374036c61620000010001";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// One DNS query from a fresh socket (a new source port: a new flow) to `server`: the
/// IPv4 address of the answer's last record, or why there is none.
fn dns_a(server: SocketAddr) -> Result<std::net::Ipv4Addr, String> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(secs(2)))
        .map_err(|e| e.to_string())?;
    s.connect(server)
        .map_err(|e| format!("connect {server}: {e}"))?;
    s.send(&unhex(DNS_QUERY))
        .map_err(|e| format!("send to {server}: {e}"))?;
    let mut buf = [0u8; 512];
    let n = s
        .recv(&mut buf)
        .map_err(|e| format!("no answer from {server}: {e}"))?;
    let a = &buf[..n];
    // Header: id, flags (rcode in the low 4 bits), qdcount, ancount.
    if n < 16 || a[..2] != [0x12, 0x34] || a[3] & 0x0f != 0 || a[7] == 0 {
        return Err(format!("bad answer from {server}: {a:02x?}"));
    }
    Ok(std::net::Ipv4Addr::new(
        a[n - 4],
        a[n - 3],
        a[n - 2],
        a[n - 1],
    ))
}

/// `n` queries through `vs` from the client: the answers' last octets (which server), and
/// the failures.
fn dns_spread(lab: &Lab, vs: SocketAddr, n: usize) -> (Vec<u8>, Vec<String>) {
    lab.in_client(move || {
        let mut got = Vec::new();
        let mut errors = Vec::new();
        for _ in 0..n {
            match dns_a(vs) {
                Ok(a) => got.push(a.octets()[3]),
                Err(e) => errors.push(e),
            }
        }
        (got, errors)
    })
}

/// dnsmasq on `addr`:53 in `host`, answering `test.lab` with 10.1.2.`n` and forwarding
/// nothing (no upstream servers, no resolv.conf).
fn start_dnsmasq(lab: &mut Lab, host: usize, addr: &str, n: u8) -> usize {
    let pid = lab.path().join(format!("dnsmasq-{n}.pid"));
    let argv = [
        "dnsmasq".to_string(),
        "--no-daemon".into(),
        "--keep-in-foreground".into(),
        "--conf-file=/dev/null".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--bind-interfaces".into(),
        format!("--listen-address={addr}"),
        "--port=53".into(),
        format!("--address=/test.lab/10.1.2.{n}"),
        format!("--pid-file={}", pid.display()),
    ];
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    lab.spawn_helper(host, &format!("dnsmasq-{n}"), &argv)
}

/// A UDP pool in front of two dnsmasq: rr spreads queries (each from a new source port, so
/// a new flow) over both; the flows idle out after the default 10 s; a stopped server is
/// taken out by its UDP_CHECK (the ICMP port unreachable) and every query goes to the other.
/// The other's check sends a real query and requires an answer.
#[test]
fn udp_pool_spreads_dns_queries_expires_flows_and_drops_a_stopped_server() {
    let mut lab = Lab::setup("lb-udp", 4);
    let rs = [lab.host_addr(2), lab.host_addr(3)];
    let dns = [
        start_dnsmasq(&mut lab, 2, &rs[0], 1),
        start_dnsmasq(&mut lab, 3, &rs[1], 2),
    ];
    let direct: Vec<SocketAddr> = rs
        .iter()
        .map(|a| format!("{a}:53").parse().unwrap())
        .collect();
    let ready = lab.in_client(move || {
        wait_for(|| direct.iter().all(|&a| dns_a(a).is_ok()), secs(15)).is_some()
    });
    assert!(ready, "dnsmasq did not answer (dnsmasq-*.log in the lab)");
    let vip = lab.vip();
    let pool = format!(
        "virtual_server {vip} 53 {{\n    lb_algo rr\n    lb_kind NAT\n    protocol UDP\n\
         \x20   delay_loop 1\n\
         \x20   real_server {} 53 {{\n        UDP_CHECK {{\n            connect_timeout 1\n\
         \x20           retry 1\n            delay_before_retry 0.5\n\
         \x20           payload {DNS_QUERY}\n            require_reply\n\
         \x20           min_reply_length 12\n        }}\n    }}\n\
         \x20   real_server {} 53 {{\n        UDP_CHECK {{\n            connect_timeout 1\n\
         \x20           retry 1\n            delay_before_retry 0.5\n        }}\n    }}\n}}\n",
        rs[0], rs[1]
    );
    let conf = format!("{}\n{pool}", lab.pair_conf(A, &PairOpts::default()));
    lab.start(A, Kind::Vipd, &conf);
    wait_for(|| lab.holds_vip(A), secs(20))
        .unwrap_or_else(|| panic!("h1 never took the VIP:\n{}", lab.log_tail(A, 30)));
    let vs: SocketAddr = format!("{vip}:53").parse().unwrap();
    let udp = |lab: &Lab| lab.vipctl_status(A)["virtual_servers"][0]["udp"].clone();

    let (got, errors) = dns_spread(&lab, vs, 20);
    assert!(errors.is_empty(), "{errors:?}\n{}", lab.log_tail(A, 20));
    let tally = |got: &[u8]| [1, 2].map(|n| got.iter().filter(|&&g| g == n).count());
    assert_eq!(tally(&got), [10, 10], "rr over two dnsmasq: {got:?}");
    // An answer is counted once sent: the client may have read it a moment before.
    wait_for(|| udp(&lab)["datagrams_out"] == 20, secs(2));
    let st = udp(&lab);
    assert_eq!(st["flows"], 20, "one flow per source port: {st}");
    assert_eq!(st["datagrams_in"], 20, "{st}");
    assert_eq!(st["datagrams_out"], 20, "{st}");
    let active: Vec<u64> = lab.vipctl_status(A)["virtual_servers"][0]["real_servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["active_connections"].as_u64().unwrap())
        .collect();
    assert_eq!(active, [10, 10], "flows count as active per server");

    // Idle flows end after the default 10 s (and within the next one-second sweep).
    let gone = wait_for(|| udp(&lab)["flows"] == 0, secs(14));
    let took = gone.unwrap_or_else(|| panic!("flows never expired: {}", udp(&lab)));
    assert!(took >= secs(8), "expired too early: {took:?}");

    // rs2 stops: ICMP port unreachable fails its UDP_CHECK; rs1 answers everything.
    lab.kill_helper(dns[1]);
    let down = wait_for(
        || lab.vipctl_status(A)["virtual_servers"][0]["real_servers"][1]["state"] == "DOWN",
        secs(15),
    );
    assert!(
        down.is_some(),
        "rs2 never went DOWN:\n{}",
        lab.log_tail(A, 20)
    );
    let (got, errors) = dns_spread(&lab, vs, 20);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(tally(&got), [20, 0], "all to the survivor: {got:?}");
    assert_eq!(udp(&lab)["dropped_no_server"], 0);
}
