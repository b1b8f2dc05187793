//! keepalived.conf grammar end to end: includes, definitions, conditional lines, line ends;
//! one precise message per kind of broken file; random edits of valid files never panic nor
//! load half a configuration; and every sample Debian's keepalived package ships gets its
//! asserted verdict.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use vipd::config::{self, Config, ConfigError, LoadOptions, Loaded, convert};

fn load(text: &str) -> Result<Loaded, ConfigError> {
    config::load_str_with(
        text,
        Path::new("t.conf"),
        &LoadOptions {
            config_id: None,
            host_checks: config::HostChecks::None,
        },
    )
}

fn ok(text: &str) -> Loaded {
    load(text).unwrap_or_else(|e| panic!("must load:\n{e}"))
}

const INSTANCE: &str = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    \
                        virtual_ipaddress {\n        10.0.0.1/24\n    }\n}\n";

/// Writes `files` (name, text) into a fresh directory.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn include_reads_globbed_files_relative_to_the_includer() {
    let dir = tree(&[
        (
            "keepalived.conf",
            "global_defs {\n router_id lb1\n}\ninclude conf.d/*.conf\n",
        ),
        ("conf.d/10-vi1.conf", INSTANCE),
        (
            "conf.d/20-vi2.conf",
            &INSTANCE
                .replace("VI_1", "VI_2")
                .replace(" 51", " 52")
                .replace("10.0.0.1", "10.0.0.2"),
        ),
        ("conf.d/README", "not a config"),
    ]);
    let loaded =
        config::load(&dir.path().join("keepalived.conf")).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = loaded
        .config
        .instances
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["VI_1", "VI_2"]);
    assert_eq!(loaded.config.router_id.as_deref(), Some("lb1"));
}

#[test]
fn errors_in_included_files_name_that_file_and_quote_its_line() {
    let dir = tree(&[
        ("main.conf", "include inc/vi.conf\n"),
        (
            "inc/vi.conf",
            &INSTANCE.replace(
                "    virtual_router_id 51\n",
                "    virtual_router_id 51\n\tpriorty 90\n",
            ),
        ),
    ]);
    let err = config::load(&dir.path().join("main.conf")).unwrap_err();
    assert_eq!(err.diagnostics.len(), 1, "{err}");
    let d = &err.diagnostics[0];
    assert_eq!(d.file, dir.path().join("inc/vi.conf"));
    assert_eq!((d.line, d.column), (4, 2));
    assert_eq!(d.suggestion.as_deref(), Some("priority"));
    let shown = d.to_string();
    assert!(
        shown.ends_with(
            "/inc/vi.conf:4:2: priorty: unknown keyword `priorty` in vrrp_instance \
             (did you mean `priority`?)\n    \tpriorty 90\n    \t^^^^^^^"
        ),
        "{shown}"
    );
}

#[test]
fn duplicate_across_files_names_both_places() {
    let dir = tree(&[
        ("main.conf", &format!("{INSTANCE}include other.conf\n")),
        ("other.conf", &INSTANCE.replace("eth0", "eth1")),
    ]);
    let err = config::load(&dir.path().join("main.conf")).unwrap_err();
    let d = &err.diagnostics[0];
    assert_eq!(
        (d.file.file_name().unwrap().to_str(), d.line),
        (Some("other.conf"), 1)
    );
    assert!(
        d.message.contains(&format!(
            "duplicate vrrp_instance name `VI_1` (first defined on line 1 of {})",
            dir.path().join("main.conf").display()
        )),
        "{d}"
    );
}

#[test]
fn include_cycles_and_missing_files_are_errors_on_the_include_line() {
    let dir = tree(&[
        ("a.conf", &format!("{INSTANCE}include b.conf\n")),
        ("b.conf", "include a.conf\n"),
    ]);
    let err = config::load(&dir.path().join("a.conf")).unwrap_err();
    let d = &err.diagnostics[0];
    assert_eq!((d.line, d.key.as_str()), (1, "include"), "{err}");
    assert!(d.file.ends_with("b.conf"));
    assert!(d.message.starts_with("include cycle: "), "{d}");
    assert!(
        d.to_string().contains("\n    include a.conf\n    ^^^^^^^"),
        "{d}"
    );

    let dir = tree(&[("a.conf", &format!("{INSTANCE}include nowhere.conf\n"))]);
    let err = config::load(&dir.path().join("a.conf")).unwrap_err();
    assert_eq!(err.diagnostics[0].line, 8);
    assert!(
        err.diagnostics[0]
            .message
            .contains("cannot read included file"),
        "{err}"
    );
    // A wildcard that matches nothing is not an error (as in keepalived), but it is said.
    let dir = tree(&[("a.conf", &format!("{INSTANCE}include conf.d/*.conf\n"))]);
    let loaded = config::load(&dir.path().join("a.conf")).unwrap();
    assert!(loaded.warnings[0].message.contains("matches no file"));
}

#[test]
fn definitions_and_conditionals_as_keepalived_reads_them() {
    let text = "$IF=eth0\n$VIP=10.0.0.1/24\n$ADDRS=\\\n 10.0.0.2\\\n 10.0.0.3\n\
                vrrp_instance VI_1 {\n    interface $IF\n    virtual_router_id 51\n\
                @lb1    priority 200\n@^lb1   priority 100\n    virtual_ipaddress {\n        \
                ${VIP} dev $IF\n        $ADDRS\n    }\n}";
    let with = |id: Option<&str>| {
        config::load_str_with(
            text,
            Path::new("t.conf"),
            &LoadOptions {
                config_id: id.map(str::to_string),
                host_checks: config::HostChecks::None,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .config
    };
    let lb1 = with(Some("lb1"));
    let i = &lb1.instances[0];
    assert_eq!((i.interface.as_str(), i.priority), ("eth0", 200));
    let vips: Vec<String> = i
        .virtual_ipaddress
        .iter()
        .map(|v| format!("{}/{} {:?}", v.addr, v.prefix_len, v.dev))
        .collect();
    assert_eq!(
        vips,
        [
            "10.0.0.1/24 Some(\"eth0\")",
            "10.0.0.2/32 None",
            "10.0.0.3/32 None"
        ]
    );
    assert_eq!(with(Some("lb2")).instances[0].priority, 100);
    assert_eq!(with(None).instances[0].priority, 100);
}

#[test]
fn errors_on_conditional_lines_point_at_the_real_column() {
    let text = INSTANCE.replace(
        "    interface eth0\n",
        "@lb1    priority 300\n    interface eth0\n",
    );
    let err = config::load_str_with(
        &text,
        Path::new("t.conf"),
        &LoadOptions {
            config_id: Some("lb1".into()),
            host_checks: config::HostChecks::None,
        },
    )
    .unwrap_err();
    let d = &err.diagnostics[0];
    assert_eq!(
        (d.line, d.column, d.key.as_str()),
        (2, 18, "priority"),
        "{err}"
    );
    assert!(
        d.to_string()
            .ends_with("\n    @lb1    priority 300\n                     ^^^"),
        "{d}"
    );
}

#[test]
fn crlf_tabs_and_no_final_newline() {
    let text = INSTANCE.replace("    ", "\t").replace('\n', "\r\n");
    let text = text.trim_end();
    assert!(!text.ends_with('\n'));
    let loaded = ok(text);
    assert_eq!(loaded.config.instances[0].virtual_router_id, 51);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

/// One precise message for each kind of broken file: (what, text, line, key, message part),
/// and no other error.
#[test]
fn broken_variants_each_have_their_own_message() {
    let cases: &[(&str, String, usize, &str, &str)] = &[
        (
            "missing closing brace",
            INSTANCE.trim_end().trim_end_matches('}').to_string(),
            1,
            "vrrp_instance",
            "the block of `vrrp_instance` is never closed (missing `}`)",
        ),
        (
            "missing opening brace",
            INSTANCE.replace("virtual_ipaddress {", "virtual_ipaddress"),
            4,
            "virtual_ipaddress",
            "`virtual_ipaddress` has no `{`: keepalived reads the lines after it as its block, \
             up to the next `}`, and so does vipd; add the `{`",
        ),
        (
            "unterminated quote",
            INSTANCE.replace("interface eth0", "interface \"eth0"),
            2,
            "\"",
            "unterminated quoted string",
        ),
        (
            "duplicate instance name",
            format!("{INSTANCE}{}", INSTANCE.replace("eth0", "eth1")),
            8,
            "vrrp_instance",
            "duplicate vrrp_instance name `VI_1` (first defined on line 1)",
        ),
        (
            "VRID 0",
            INSTANCE.replace(" 51", " 0"),
            3,
            "virtual_router_id",
            "virtual_router_id must be between 1 and 255, got 0",
        ),
        (
            "VRID 256",
            INSTANCE.replace(" 51", " 256"),
            3,
            "virtual_router_id",
            "virtual_router_id must be between 1 and 255, got 256",
        ),
        (
            "VIP in another family",
            INSTANCE.replace("10.0.0.1/24", "10.0.0.1/24\n        2001:db8::1/64"),
            6,
            "virtual_ipaddress",
            "`2001:db8::1/64` is an IPv6 address, and vrrp_instance VI_1 is IPv4",
        ),
        (
            "unicast peer is this router",
            INSTANCE.replace(
                "    interface eth0\n",
                "    interface eth0\n    unicast_src_ip 10.0.0.11\n    unicast_peer {\n        \
                 10.0.0.11\n    }\n",
            ),
            5,
            "unicast_peer",
            "unicast_peer lists 10.0.0.11, this router's own unicast_src_ip",
        ),
        (
            "include without a file",
            format!("{INSTANCE}include\n"),
            8,
            "include",
            "include takes exactly one file pattern, got 0 words",
        ),
        (
            "a switch with a word keepalived does not know",
            INSTANCE.replace(
                "    interface eth0\n",
                "    interface eth0\n    lower_prio_no_advert enabled\n",
            ),
            3,
            "lower_prio_no_advert",
            "lower_prio_no_advert takes true or false (or on/off, yes/no; alone it means \
             true), got `enabled`",
        ),
        (
            "more addresses than an advert carries",
            INSTANCE.replace(
                "        10.0.0.1/24\n",
                &(1..=256)
                    .map(|i| format!("        10.1.{}.{}\n", i / 200, i % 200 + 1))
                    .collect::<String>(),
            ),
            260,
            "virtual_ipaddress",
            "vrrp_instance VI_1 has 256 addresses in virtual_ipaddress, and an advert carries \
             at most 255",
        ),
        (
            "one address in two instances",
            format!(
                "{INSTANCE}{}",
                INSTANCE.replace("VI_1", "VI_2").replace(" 51", " 52")
            ),
            12,
            "virtual_ipaddress",
            "10.0.0.1 is in vrrp_instance VI_2 and already in vrrp_instance VI_1 (line 5)",
        ),
    ];
    for (what, text, line, key, message) in cases {
        let err = load(text).expect_err(what);
        let d = &err.diagnostics[0];
        assert_eq!(err.diagnostics.len(), 1, "{what}: {err}");
        assert_eq!((d.line, d.key.as_str()), (*line, *key), "{what}: {err}");
        assert!(
            d.message.contains(message),
            "{what}: {d}\nwanted: {message}"
        );
        assert!(
            d.source_line.is_some(),
            "{what}: every error quotes its line: {d}"
        );
    }
}

#[test]
fn warnings_for_what_loads_but_is_not_as_written() {
    let cases: &[(&str, String, usize, &str, &str)] = &[
        (
            "auth_pass longer than 8 bytes",
            INSTANCE.replace(
                "    interface eth0\n",
                "    interface eth0\n    authentication {\n        auth_type PASS\n        \
                 auth_pass 0123456789\n    }\n",
            ),
            5,
            "auth_pass",
            "auth_pass is 10 bytes long; only the first 8 (`01234567`) are used, as keepalived \
             does",
        ),
        (
            "unicast_peer without unicast_src_ip",
            INSTANCE.replace(
                "    interface eth0\n",
                "    interface eth0\n    unicast_peer {\n        10.0.0.12\n    }\n",
            ),
            4,
            "unicast_peer",
            "has unicast_peer but no unicast_src_ip: adverts go out from the primary IPv4 \
             address of eth0",
        ),
        (
            "smtp_alert",
            INSTANCE.replace(
                "    interface eth0\n",
                "    interface eth0\n    smtp_alert\n",
            ),
            3,
            "smtp_alert",
            "ignored: vipd does not send e-mail; use notify",
        ),
        (
            "legacy lvs_id",
            format!("global_defs {{\n    lvs_id LVS_DEVEL\n}}\n{INSTANCE}"),
            2,
            "lvs_id",
            "ignored: vipd does not drive the kernel's IPVS (LVS) tables (old configs often \
             carry it: harmless)",
        ),
        (
            "undefined $NAME",
            INSTANCE.replace("interface eth0", "interface $IFACE"),
            2,
            "$IFACE",
            "`$IFACE` is not defined, so it is left as written",
        ),
    ];
    for (what, text, line, key, message) in cases {
        let loaded = ok(text);
        let w = loaded
            .warnings
            .iter()
            .find(|w| w.key == *key)
            .unwrap_or_else(|| panic!("{what}: no warning for {key}: {:?}", loaded.warnings));
        assert_eq!(w.line, *line, "{what}: {w}");
        assert!(
            w.message.contains(message),
            "{what}: {w}\nwanted: {message}"
        );
    }
}

// ---- Debian's samples ----

const SAMPLES: &str = "/usr/share/doc/keepalived/samples";

/// What vipd says about each sample of Debian's keepalived 2.2 package.
enum Verdict {
    /// Loads, with this many vrrp_instances and virtual_servers.
    Loads(usize, usize),
    /// Rejected; the first error is on this line (0 = the whole file) and says this.
    Rejected(usize, &'static str),
}

use Verdict::{Loads, Rejected};

const SAMPLE_VERDICTS: &[(&str, Verdict)] = &[
    ("keepalived.conf.HTTP_GET.port", Loads(0, 1)),
    ("keepalived.conf.IPv6", Loads(0, 1)),
    ("keepalived.conf.PING_CHECK", Loads(0, 1)),
    ("keepalived.conf.SMTP_CHECK", Loads(0, 1)),
    (
        "keepalived.conf.SSL_GET",
        Rejected(20, "auth_type AH is not supported: vipd supports PASS only"),
    ),
    ("keepalived.conf.UDP_CHECK", Loads(0, 1)),
    // Without `-i high` or `-i low` both `@high script` and `@low script` lines are skipped,
    // as keepalived skips them; with either, its `version 3` is refused (see below).
    (
        "keepalived.conf.conditional_conf",
        Rejected(6, "vrrp_script check_VI_0 has no `script`"),
    ),
    (
        "keepalived.conf.fwmark",
        Rejected(7, "`virtual_server fwmark` is not supported"),
    ),
    ("keepalived.conf.inhibit", Loads(0, 1)),
    ("keepalived.conf.misc_check", Loads(0, 1)),
    ("keepalived.conf.misc_check_arg", Loads(0, 1)),
    ("keepalived.conf.quorum", Loads(0, 1)),
    ("keepalived.conf.sample", Loads(1, 1)),
    ("keepalived.conf.status_code", Loads(0, 1)),
    ("keepalived.conf.track_interface", Loads(1, 0)),
    (
        "keepalived.conf.virtual_server_group",
        Rejected(22, "`virtual_server group` is not supported"),
    ),
    ("keepalived.conf.virtualhost", Loads(0, 1)),
    ("keepalived.conf.vrrp", Loads(4, 0)),
    ("keepalived.conf.vrrp.localcheck", Loads(9, 0)),
    // Old syntax: members directly in the group. Line 3 says the group has none, line 4
    // on say each name belongs inside `group { ... }`.
    (
        "keepalived.conf.vrrp.lvs_syncd",
        Rejected(3, "vrrp_sync_group VG1 has no `group { ... }` members"),
    ),
    ("keepalived.conf.vrrp.routes", Loads(1, 0)),
    ("keepalived.conf.vrrp.rules", Loads(1, 0)),
    ("keepalived.conf.vrrp.scripts", Loads(3, 0)),
    ("keepalived.conf.vrrp.static_ipaddress", Loads(1, 0)),
    ("keepalived.conf.vrrp.sync", Loads(9, 0)),
];

fn samples() -> Vec<PathBuf> {
    let dir = Path::new(SAMPLES);
    assert!(
        dir.is_dir(),
        "{SAMPLES} is missing: install Debian's keepalived package (apt-get install -y \
         keepalived; netns-tests/run-all.sh does)"
    );
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("keepalived.conf"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_debian_sample_gets_its_verdict() {
    let options = LoadOptions {
        config_id: None,
        host_checks: config::HostChecks::None,
    };
    let files = samples();
    assert!(
        files.len() >= 20,
        "only {} samples in {SAMPLES}",
        files.len()
    );
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let Some((_, verdict)) = SAMPLE_VERDICTS.iter().find(|(n, _)| *n == name) else {
            panic!("{name}: no verdict in SAMPLE_VERDICTS; add one");
        };
        let result = config::load_with(path, &options);
        match (verdict, &result) {
            (Loads(n, pools), Ok(loaded)) => {
                assert_eq!(loaded.config.instances.len(), *n, "{name}");
                assert_eq!(loaded.config.virtual_servers.len(), *pools, "{name}");
                // Whatever it skipped, it said so with a line number.
                assert!(loaded.warnings.iter().all(|w| w.line > 0), "{name}");
                let toml = convert::to_toml(loaded, path).expect("converts");
                let again = config::load_str_with(&toml, Path::new("c.toml"), &options)
                    .unwrap_or_else(|e| panic!("{name}: converted TOML does not load: {e}"));
                assert_eq!(again.config, loaded.config, "{name}: round trip");
            }
            (Rejected(line, message), Err(e)) => {
                let d = &e.diagnostics[0];
                assert_eq!(d.line, *line, "{name}: {e}");
                assert!(
                    d.message.contains(message),
                    "{name}: {e}\nwanted: {message}"
                );
            }
            (Loads(..), Err(e)) => panic!("{name} should load:\n{e}"),
            (Rejected(..), Ok(_)) => panic!("{name} should be rejected"),
        }
    }
    assert_eq!(
        files.len(),
        SAMPLE_VERDICTS.len(),
        "a sample listed here is gone"
    );
}

#[test]
fn conditional_sample_picks_lines_by_config_id() {
    let text = fs::read_to_string(Path::new(SAMPLES).join("keepalived.conf.conditional_conf"))
        .expect("read the conditional sample (apt-get install -y keepalived)")
        .replace("\tversion 3\n", "");
    let priority = |id: &str| {
        let loaded = config::load_str_with(
            &text,
            Path::new("conditional.conf"),
            &LoadOptions {
                config_id: Some(id.into()),
                host_checks: config::HostChecks::None,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        loaded.config.instances[0].priority
    };
    assert_eq!(priority("high"), 170);
    assert_eq!(priority("low"), 85);
}

// ---- random edits of valid files ----

/// The model is whole: what validation guarantees, checked again from the outside.
fn assert_whole(config: &Config) {
    assert!(!config.instances.is_empty());
    let mut names: Vec<&str> = config.instances.iter().map(|i| i.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), config.instances.len(), "unique names");
    let mut holder = std::collections::HashMap::new();
    for i in &config.instances {
        for v in &i.virtual_ipaddress {
            let first = holder.entry(v.addr).or_insert(&i.name);
            assert_eq!(*first, &i.name, "{} in two instances", v.addr);
        }
    }
    for i in &config.instances {
        assert!(!i.interface.is_empty(), "{}", i.name);
        assert!(i.virtual_router_id >= 1 && i.priority >= 1, "{}", i.name);
        assert!(i.auth_pass.as_ref().is_none_or(|p| p.len() <= 8));
        assert!(i.virtual_ipaddress.iter().all(|v| v.prefix_len <= 32));
        assert!(
            i.virtual_ipaddress.len() <= 255,
            "{}: one advert's worth",
            i.name
        );
        assert!(
            !i.unicast_src_ip
                .is_some_and(|s| i.unicast_peer.contains(&s))
        );
    }
}

fn valid_files() -> Vec<String> {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let mut out: Vec<String> = ["nginx-pair.conf", "unicast-pair.conf"]
        .iter()
        .map(|f| fs::read_to_string(conf.join(f)).expect("conf/ sample"))
        .collect();
    out.push(format!(
        "$IF=eth0\nglobal_defs {{\n router_id lb1\n}}\n{}\n@lb1 {}",
        INSTANCE.replace("eth0", "$IF"),
        INSTANCE
            .replace("VI_1", "VI_2")
            .replace(" 51", " 52")
            .replace("10.0.0.1", "10.0.0.2")
    ));
    out
}

#[derive(Debug, Clone)]
enum Edit {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    DeleteChar(usize),
    Insert(usize, &'static str),
}

fn edit() -> impl Strategy<Value = Edit> {
    let soup = prop::sample::select(vec![
        "{",
        "}",
        "\"",
        "#",
        "!",
        "\\",
        "\n",
        "\r\n",
        "\t",
        " ",
        "$",
        "$IF",
        "${X}",
        "@lb1 ",
        "@^lb1 ",
        "include x.conf",
        "include",
        "0",
        "256",
        "-1",
        "fe80::1",
        "10.0.0.1/33",
        "priority",
        "virtual_router_id 7",
        "nopreempt",
        "state MASTER",
        "auth_pass 123456789",
        "unicast_peer {",
        "vrrp_instance VI_1 {",
        "1b_algo",
        "real server",
        "é",
        "主",
        "~SEQ(",
    ]);
    prop_oneof![
        (0..64usize).prop_map(Edit::DeleteLine),
        (0..64usize).prop_map(Edit::DuplicateLine),
        (0..64usize, 0..64usize).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (0..4096usize).prop_map(Edit::DeleteChar),
        (0..4096usize, soup).prop_map(|(at, s)| Edit::Insert(at, s)),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let n = lines.len();
    match *edit {
        Edit::DeleteLine(i) => {
            lines.remove(i % n);
        }
        Edit::DuplicateLine(i) => {
            let l = lines[i % n].clone();
            lines.insert(i % n, l);
        }
        Edit::SwapLines(a, b) => lines.swap(a % n, b % n),
        Edit::DeleteChar(at) | Edit::Insert(at, _) => {
            let mut chars: Vec<char> = text.chars().collect();
            let at = at % (chars.len() + 1);
            match edit {
                Edit::Insert(_, s) => {
                    for (k, c) in s.chars().enumerate() {
                        chars.insert(at + k, c);
                    }
                }
                _ if at < chars.len() => {
                    chars.remove(at);
                }
                _ => {}
            }
            return chars.into_iter().collect();
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A valid file with random edits: never a panic; either errors that each name a place
    /// and say something, or a whole, valid model that converts to TOML and back unchanged.
    #[test]
    fn random_edits_give_errors_or_a_whole_model(
        base in 0..3usize,
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let mut text = valid_files()[base].clone();
        for e in &edits {
            text = apply(&text, e);
        }
        let options = LoadOptions { config_id: Some("lb1".into()), host_checks: config::HostChecks::None };
        match config::load_str_with(&text, Path::new("edited.conf"), &options) {
            Ok(loaded) => {
                assert_whole(&loaded.config);
                if let Ok(toml) = convert::to_toml(&loaded, Path::new("edited.conf")) {
                    let again = config::load_str(&toml, Path::new("edited.toml"))
                        .unwrap_or_else(|e| panic!("{e}\n{toml}"));
                    prop_assert_eq!(again.config, loaded.config);
                }
            }
            Err(e) => {
                prop_assert!(!e.diagnostics.is_empty());
                for d in &e.diagnostics {
                    prop_assert!(!d.message.is_empty(), "{}", d);
                    prop_assert!(d.line > 0 || d.key == "vrrp_instance", "{}", d);
                }
            }
        }
    }
}
