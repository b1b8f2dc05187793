//! Real users' keepalived.conf files (`../shared/corpus/keepalived/`, never copied here) and
//! the tutorial file with typos (`../shared/examples/`): each loads or is rejected with
//! precise messages, and nothing panics.

use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use vipd::config::{self, ConfigError, InitialState, Loaded, VirtualIp};

/// `../shared` beside the checkout (CI); from a git worktree such as `wt/NAME`, the
/// `shared` directory one level further up.
fn shared() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [manifest.join("../shared"), manifest.join("../../shared")];
    candidates
        .iter()
        .find(|p| p.is_dir())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "shared directory missing: looked for {} and {}; these tests need ../shared \
                 beside the checkout",
                candidates[0].display(),
                candidates[1].display()
            )
        })
}

fn corpus_dir() -> PathBuf {
    let dir = shared().join("corpus/keepalived");
    assert!(
        dir.is_dir(),
        "corpus directory {} is missing: these tests need ../shared beside the checkout",
        dir.display()
    );
    dir
}

fn load_all() -> BTreeMap<String, Result<Loaded, ConfigError>> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(corpus_dir()).expect("read corpus directory") {
        let path = entry.expect("corpus entry").path();
        if path.extension().is_some_and(|e| e == "conf") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.insert(name, config::load_with(&path, &portable()));
        }
    }
    assert!(
        out.len() >= 50,
        "expected the 60 corpus files, found {}",
        out.len()
    );
    out
}

/// `SOURCES.tsv`: file name -> notes.
fn sources() -> BTreeMap<String, String> {
    let text = fs::read_to_string(corpus_dir().join("SOURCES.tsv")).expect("read SOURCES.tsv");
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Some((cols.first()?.to_string(), cols.get(4)?.to_string()))
        })
        .collect()
}

#[test]
fn corpus_loads_or_is_rejected_cleanly() {
    let results = load_all();
    let mut loaded = 0;
    println!("corpus summary:");
    for (name, result) in &results {
        match result {
            Ok(l) => {
                loaded += 1;
                println!(
                    "  {name}: loaded, {} instance(s), {} warning(s)",
                    l.config.instances.len(),
                    l.warnings.len()
                );
                for w in &l.warnings {
                    println!(
                        "      warning: {}",
                        w.to_string().lines().next().unwrap_or("")
                    );
                }
            }
            Err(e) => {
                println!("  {name}: rejected, {} error(s)", e.diagnostics.len());
                for d in &e.diagnostics {
                    println!("      {}", d.to_string().lines().next().unwrap_or(""));
                }
            }
        }
    }
    // Pools for the kernel's IPVS in DR or TUN mode are refused with an explanation (vipd
    // forwards in user space, as lb_kind NAT); such a file loads once it says NAT.
    let mut refused_kind = 0;
    for (name, result) in &results {
        if let Err(e) = result
            && e.diagnostics.iter().all(|d| {
                d.key == "lb_kind"
                    && d.message
                        .contains("is not supported: it has the kernel's IPVS")
            })
        {
            let text = fs::read_to_string(corpus_dir().join(name)).expect("read corpus file");
            let nat: String = text
                .lines()
                .map(|l| {
                    let t = l.trim_start();
                    if t.starts_with("lb_kind") {
                        "lb_kind NAT".to_string()
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            config::load_str_with(&nat, Path::new(name), &portable())
                .unwrap_or_else(|e| panic!("{name} with lb_kind NAT does not load:\n{e}"));
            refused_kind += 1;
        }
    }
    println!(
        "{loaded} of {} corpus files load, {refused_kind} more once lb_kind DR/TUN is NAT",
        results.len()
    );
    assert!(
        (loaded + refused_kind) * 100 >= results.len() * 60,
        "only {loaded} (+{refused_kind} DR/TUN) of {} corpus files load",
        results.len()
    );
}

/// Files SOURCES.tsv marks MISTAKE, and the error vipd must give when the mistake concerns a
/// keyword it handles: (file, line, text the message must contain).
const MISTAKES: &[(&str, usize, &str)] = &[
    // Shell heredoc around the config.
    ("015.conf", 1, "unknown keyword `sudo`"),
    // `track_interface eth0` without a block.
    ("028.conf", 7, "needs a block"),
    // `<--VIP-->` placeholder.
    ("028.conf", 13, "is not an IP address"),
    // `auth_type PASS;`.
    ("030.conf", 14, "unknown auth_type `PASS;`"),
    // Shell prompt pasted as line 1.
    ("034.conf", 1, "unknown keyword"),
    // `state SLAVE`.
    ("036.conf", 16, "unknown state `SLAVE`"),
    // virtual_server line without `{`: unbalanced braces.
    ("037.conf", 0, "closes no block"),
    // Two configs pasted into one file: same instance twice.
    ("042.conf", 0, "duplicate vrrp_instance name"),
    // `mcast_src_ip=192.168.10.80`.
    (
        "042.conf",
        0,
        "unknown keyword `mcast_src_ip=192.168.10.80`",
    ),
    // `lb _kind NAT`.
    ("045.conf", 27, "unknown keyword `lb _kind`"),
    // `priority 100,主从要不一致`.
    ("052.conf", 0, "priority must be a number"),
    // `connetc_port`.
    ("052.conf", 91, "unknown keyword `connetc_port`"),
];

#[test]
fn corpus_mistakes_are_reported() {
    let results = load_all();
    let notes = sources();
    for (file, line, text) in MISTAKES {
        let Some(Err(e)) = results.get(*file) else {
            panic!(
                "{file} should be rejected: {:?}",
                results.get(*file).map(|r| r.is_ok())
            );
        };
        let found = e
            .diagnostics
            .iter()
            .any(|d| (*line == 0 || d.line == *line) && d.to_string().contains(text));
        assert!(
            found,
            "{file}: no error containing {text:?} at line {line}:\n{e}"
        );
    }
    // Every file marked MISTAKE is covered above, or its mistake is in a keyword vipd skips.
    let skipped_only = ["027.conf"];
    for (file, note) in &notes {
        if note.contains("MISTAKE") && !skipped_only.contains(&file.as_str()) {
            assert!(
                MISTAKES.iter().any(|(f, _, _)| f == file),
                "{file} is marked MISTAKE but not checked: {note}"
            );
        }
    }
}

fn seed() -> String {
    fs::read_to_string(shared().join("examples/seed-keepalived-typos.conf"))
        .expect("read ../shared/examples/seed-keepalived-typos.conf")
}

#[test]
fn seed_typos_are_rejected_with_suggestions() {
    let path = Path::new("seed-keepalived-typos.conf");
    let err = config::load_str(&seed(), path).expect_err("typos must be rejected");
    let got: Vec<(usize, &str, Option<&str>)> = err
        .diagnostics
        .iter()
        .map(|d| (d.line, d.key.as_str(), d.suggestion.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (18, "1b_algo", Some("lb_algo")),
            (19, "1b_kind", Some("lb_kind")),
            (22, "real server", Some("real_server")),
        ],
        "{err}"
    );
    let text = err.to_string();
    println!("{text}");
    assert!(text.contains("seed-keepalived-typos.conf:18:9: 1b_algo: unknown keyword `1b_algo`"));
    assert!(text.contains("(did you mean `lb_algo`?)"), "{text}");
}

#[test]
fn seed_corrected_loads() {
    let fixed = seed()
        .replace("1b_algo", "lb_algo")
        .replace("1b_kind", "lb_kind")
        .replace("real server", "real_server");
    let loaded = config::load_str(&fixed, Path::new("fixed.conf")).expect("corrected file loads");
    let [inst] = loaded.config.instances.as_slice() else {
        panic!("one instance expected: {:?}", loaded.config);
    };
    assert_eq!(inst.name, "VI_1");
    assert_eq!(inst.state, InitialState::Master);
    assert_eq!(inst.interface, "ens33");
    assert_eq!(inst.virtual_router_id, 51);
    assert_eq!(inst.priority, 100);
    assert_eq!(inst.auth_pass.as_deref(), Some(&b"root"[..]));
    assert_eq!(
        inst.virtual_ipaddress,
        vec![VirtualIp {
            addr: Ipv4Addr::new(192, 168, 91, 151).into(),
            prefix_len: 32,
            dev: None,
            label: None,
        }]
    );
    let [vs] = loaded.config.virtual_servers.as_slice() else {
        panic!("one virtual_server expected: {:?}", loaded.config);
    };
    assert_eq!(vs.addr.to_string(), "192.168.91.151:6201");
    assert_eq!(vs.lb_algo, config::LbAlgo::Rr);
    assert_eq!(
        vs.persistence_timeout,
        Some(std::time::Duration::from_secs(50))
    );
    assert_eq!(vs.real_servers[0].addr.to_string(), "192.168.91.104:6101");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn missing_file_is_an_error() {
    let err = config::load(Path::new("/nonexistent/keepalived.conf")).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot read /nonexistent/keepalived.conf"),
        "{err}"
    );
}

/// On this machine the corpus's check scripts do not exist: `vipd` (host checks on) says
/// which one and where, instead of failing later when the check first runs.
#[test]
fn missing_check_scripts_are_reported_at_load() {
    let path = corpus_dir().join("002.conf");
    let err = config::load(&path).expect_err("its check script does not exist here");
    let text = err.to_string();
    assert!(
        text.contains("002.conf:14:12: script: /etc/keepalived/check_nginx.sh: No such file"),
        "{text}"
    );
    assert_eq!(
        err.diagnostics.len(),
        1,
        "reported once, not again at each use: {text}"
    );
    config::load_with(&path, &portable()).expect("the file itself is fine");
}

/// `vipctl convert` for every corpus file that loads: the TOML loads to the same model.
#[test]
fn corpus_files_that_load_convert_to_equal_toml() {
    let mut converted = 0;
    for (name, result) in load_all() {
        let Ok(loaded) = result else { continue };
        // What an include that matched nothing here brings is on the file's own host (050.conf,
        // 053.conf): the TOML, which inlines what was read, cannot stand alone without it.
        if loaded
            .warnings
            .iter()
            .any(|w| w.key == "include" && w.message.contains("matches no file"))
        {
            continue;
        }
        let path = corpus_dir().join(&name);
        match config::convert::to_toml(&loaded, &path) {
            Ok(toml) => {
                let again = config::load_str_with(&toml, Path::new("converted.toml"), &portable())
                    .unwrap_or_else(|e| {
                        panic!("{name}: converted TOML does not load:\n{e}\n{toml}")
                    });
                assert_eq!(again.config, loaded.config, "{name}: round trip\n{toml}");
                // Only the semantic warnings (no VIP, ...) remain: no keyword is dropped twice.
                assert!(
                    again.warnings.len() <= loaded.warnings.len(),
                    "{name}: {:?}",
                    again.warnings
                );
                converted += 1;
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
    assert!(converted >= 30, "only {converted} corpus files converted");
}

/// `KEEPALIVED_T.tsv`: file name -> (exit code, messages) of keepalived 2.2.7's `-t`.
fn keepalived_t() -> BTreeMap<String, (i32, String)> {
    let text =
        fs::read_to_string(corpus_dir().join("KEEPALIVED_T.tsv")).expect("read KEEPALIVED_T.tsv");
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut cols = l.split('\t');
            let name = cols.next()?.to_string();
            let code = cols.next()?.parse().ok()?;
            Some((name, (code, cols.next().unwrap_or("").to_string())))
        })
        .collect()
}

/// The VIP rules vipd adds to keepalived's (at most 255 addresses per instance, no address in
/// two instances) refuse no user's file: keepalived -t flags the first itself ("Number of
/// VIPs ... exceeds"), and no file lists an address in two instances (042.conf repeats one
/// under a repeated instance name, which is reported as that).
#[test]
fn vip_rules_refuse_no_real_file() {
    let verdicts = keepalived_t();
    for (name, result) in load_all() {
        let Err(e) = result else { continue };
        for d in &e.diagnostics {
            let too_many = d.message.contains("an advert carries at most 255");
            let shared = d.message.contains(" and already in vrrp_instance ");
            let keepalived = verdicts.get(&name);
            let keepalived_too = keepalived.is_some_and(|(_, m)| m.contains("Number of VIPs"));
            assert!(!shared, "{name}: {d}");
            assert!(
                !too_many || keepalived_too,
                "{name}: {d}\nkeepalived -t: {keepalived:?}"
            );
        }
    }
    assert!(
        verdicts.len() >= 50,
        "KEEPALIVED_T.tsv has {} rows",
        verdicts.len()
    );
}

/// Loading as for another machine: the corpus's scripts and interfaces are not here.
fn portable() -> config::LoadOptions {
    config::LoadOptions {
        host_checks: config::HostChecks::None,
        ..config::LoadOptions::default()
    }
}

/// Why vipd's verdict on a corpus file differs from keepalived 2.2.7's `-t`, which refuses
/// no file: it reports what it finds and runs on, ignoring the line, guessing, or defaulting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// Stricter on purpose: a line keepalived ignores or guesses at (a typo, shell prompt,
    /// an unknown value) changes what the file does, so vipd names it instead of running
    /// a configuration nobody wrote. keepalived's own messages flag the same line.
    Stricter,
    /// A feature vipd refuses on purpose (IPVS DR/TUN, AH authentication, fwmark groups)
    /// or does not have yet.
    Feature,
}

/// Every corpus file vipd refuses (`vipctl check-config --offline`), why, a piece of vipd's
/// first error, and a piece of keepalived's messages where keepalived flagged the same line.
const DIFFERENCES: &[(&str, Why, &str, Option<&str>)] = &[
    (
        "015.conf",
        Why::Stricter,
        "unknown keyword `sudo`",
        Some("Unknown keyword 'sudo'"),
    ),
    (
        "016.conf",
        Why::Feature,
        "auth_type AH is not supported",
        Some("AH authentication"),
    ),
    (
        "027.conf",
        Why::Stricter,
        "has no `group { ... }` members",
        Some("Unknown keyword 'VI_1'"),
    ),
    (
        "028.conf",
        Why::Stricter,
        "`track_interface` needs a block",
        Some("extra parameters"),
    ),
    (
        "030.conf",
        Why::Stricter,
        "unknown auth_type `PASS;`",
        Some("unknown authentication type"),
    ),
    (
        "034.conf",
        Why::Stricter,
        "unknown keyword `lizx01@",
        Some("Unknown keyword 'lizx01@"),
    ),
    (
        "036.conf",
        Why::Stricter,
        "unknown state `SLAVE`",
        Some("unknown state 'SLAVE'"),
    ),
    (
        "037.conf",
        Why::Stricter,
        "`virtual_server` needs a block",
        Some("Unknown keyword 'delay_loop'"),
    ),
    (
        "038.conf",
        Why::Feature,
        "lb_kind DR is not supported",
        None,
    ),
    (
        "039.conf",
        Why::Feature,
        "lb_kind DR is not supported",
        None,
    ),
    (
        "040.conf",
        Why::Feature,
        "lb_kind dr is not supported",
        Some("unknown [dr] routing method"),
    ),
    (
        "042.conf",
        Why::Stricter,
        "unknown keyword `mcast_src_ip=192.168.10.80`",
        None,
    ),
    (
        "043.conf",
        Why::Feature,
        "`virtual_server group` is not supported",
        None,
    ),
    (
        "044.conf",
        Why::Feature,
        "`virtual_server group` is not supported",
        None,
    ),
    (
        "045.conf",
        Why::Stricter,
        "unknown keyword `lb _kind`",
        Some("Unknown keyword 'lb'"),
    ),
    (
        "046.conf",
        Why::Feature,
        "lb_kind DR is not supported",
        None,
    ),
    (
        "048.conf",
        Why::Feature,
        "unknown lb_kind `FNAT`",
        Some("unknown [FNAT] routing method"),
    ),
    ("049.conf", Why::Stricter, "needs a port", None),
    ("052.conf", Why::Stricter, "priority must be a number", None),
];

/// vipd against keepalived itself, file by file: vipd refuses exactly the files listed in
/// [`DIFFERENCES`], each for the reason given, and where keepalived flagged the same line,
/// its message says so; every other file keepalived ran, vipd loads.
#[test]
fn verdicts_differ_from_keepalived_only_where_listed() {
    let verdicts = keepalived_t();
    let listed: BTreeMap<&str, (Why, &str, Option<&str>)> = DIFFERENCES
        .iter()
        .map(|&(name, why, ours, theirs)| (name, (why, ours, theirs)))
        .collect();
    let mut refused = Vec::new();
    for (name, keepalived) in &verdicts {
        let path = corpus_dir().join(name);
        let result = config::load_with(&path, &portable());
        match (result, listed.get(name.as_str())) {
            (Ok(_), None) => {}
            (Ok(_), Some((why, ..))) => {
                panic!("{name} now loads: take it out of DIFFERENCES ({why:?})")
            }
            (Err(e), None) => panic!(
                "{name}: vipd refuses a file keepalived runs (-t exit {}: {}):\n{e}",
                keepalived.0, keepalived.1
            ),
            (Err(e), Some(&(_, ours, theirs))) => {
                let first = &e.diagnostics[0];
                assert!(first.to_string().contains(ours), "{name}: {first}");
                if let Some(theirs) = theirs {
                    assert!(
                        keepalived.1.contains(theirs),
                        "{name}: keepalived -t said {:?}",
                        keepalived.1
                    );
                }
                refused.push(name.clone());
            }
        }
    }
    assert_eq!(refused.len(), DIFFERENCES.len(), "refused: {refused:?}");
    assert!(verdicts.len() >= 60, "{} verdicts", verdicts.len());
    let features = DIFFERENCES.iter().filter(|d| d.1 == Why::Feature).count();
    assert_eq!(features, 8, "features refused");
}

/// The real file with `protocol UDP` (a DNS pool checked by nslookup) loads as a UDP pool.
#[test]
fn the_udp_file_loads_as_a_udp_pool() {
    let loaded = config::load_with(&corpus_dir().join("047.conf"), &portable())
        .unwrap_or_else(|e| panic!("047.conf: {e}"));
    let vs = &loaded.config.virtual_servers[0];
    assert_eq!(vs.protocol, config::Protocol::Udp);
    assert_eq!(vs.addr.to_string(), "192.168.100.100:53");
    assert_eq!(vs.real_servers.len(), 2);
    assert!(vs.real_servers.iter().all(|r| matches!(
        r.checks[..],
        [config::Check {
            kind: config::CheckKind::Misc { .. },
            ..
        }]
    )));
}

/// The real files with VRRPv3, IPv6 or a virtual MAC load as keepalived 2.2.7 reads them.
#[test]
fn vrrpv3_ipv6_and_vmac_files_load_as_keepalived_reads_them() {
    use config::VrrpVersion::{V2, V3};
    let load = |name: &str| {
        config::load_with(&corpus_dir().join(name), &portable())
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .config
    };
    // `version 2` and `version 3` side by side; IPv6 VIPs after a link-local first one.
    let c = load("055.conf");
    let (v4, v6) = (&c.instances[0], &c.instances[1]);
    assert_eq!(
        (v4.version, v4.is_ipv6(), v4.auth_pass.is_some()),
        (V2, false, true)
    );
    assert_eq!((v6.version, v6.is_ipv6()), (V3, true));
    let vips: Vec<String> = (v6.virtual_ipaddress.iter())
        .map(|v| format!("{}/{} {:?}", v.addr, v.prefix_len, v.dev))
        .collect();
    assert_eq!(
        vips,
        [
            "fe80::54/64 Some(\"enu1\")",
            "fdf2:33c8:77b8::53/64 Some(\"enu1\")"
        ]
    );
    // IPv6 without a version is VRRPv3; the IPv4 instance beside it stays VRRPv2.
    let c = load("056.conf");
    assert_eq!(
        c.instances
            .iter()
            .map(|i| (i.version, i.is_ipv6()))
            .collect::<Vec<_>>(),
        [(V3, true), (V2, false)]
    );
    assert_eq!(
        c.instances[0].unicast_src_ip,
        Some("2001:db8::4".parse().unwrap())
    );
    // The global vrrp_version.
    assert_eq!(load("057.conf").instances[0].version, V3);
    // use_vmac with and without a name, vmac_xmit_base, excluded addresses.
    let c = load("026.conf");
    assert_eq!(c.instances[0].use_vmac.as_deref(), Some("pub_a"));
    assert!(c.instances[0].virtual_ipaddress_excluded.len() > 10);
    assert_eq!(
        load("032.conf").instances[0].use_vmac.as_deref(),
        Some("vrrp.51")
    );
    let c = load("054.conf");
    assert!(c.instances[0].use_vmac.is_some() && c.instances[0].vmac_xmit_base);
    // vrrp_mcast_group4 set to the RFC group is the RFC group.
    assert_eq!(load("006.conf").instances[0].mcast_group, None);
}
