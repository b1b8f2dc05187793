//! `vipctl check-config` and `vipctl convert`: no socket, same verdicts as vipd; and
//! `check-config --offline`, for a file meant for another host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vipctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vipctl"))
        // A socket that cannot exist: these commands must not need one.
        .env("VIPD_SOCKET", "/nonexistent/vipd.sock")
        .args(args)
        .output()
        .expect("run vipctl")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` beside the checkout (CI), or one level further up from a git worktree such as
/// `wt/NAME`.
fn shared() -> PathBuf {
    let candidates = [root().join("../shared"), root().join("../../shared")];
    candidates
        .iter()
        .find(|p| p.is_dir())
        .cloned()
        .unwrap_or_else(|| {
            panic!("../shared must sit beside the checkout (looked for {candidates:?})")
        })
}

/// The tutorial file with three typos.
fn seed() -> PathBuf {
    shared().join("examples/seed-keepalived-typos.conf")
}

fn conf_samples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("conf"))
        .expect("conf/")
        .map(|e| e.unwrap().path())
        // conf/bird/ holds BIRD's side of a BGP setup, not vipd configs.
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 3);
    files
}

#[test]
fn check_config_accepts_every_conf_sample() {
    for file in conf_samples() {
        let out = vipctl(&["check-config", file.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            file.display(),
            text(&out.stderr)
        );
        let stdout = text(&out.stdout);
        assert!(
            stdout.starts_with(&format!("{}: valid: ", file.display())),
            "{stdout}"
        );
    }
}

#[test]
fn check_config_rejects_the_tutorial_typos_with_exit_2() {
    let seed = seed();
    let out = vipctl(&["check-config", seed.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    for (line, typo, right) in [
        (18, "1b_algo", "lb_algo"),
        (19, "1b_kind", "lb_kind"),
        (22, "real server", "real_server"),
    ] {
        assert!(
            stderr.contains(&format!(
                "error: {}:{line}:9: {typo}: unknown keyword `{typo}` in virtual_server (did you \
                 mean `{right}`?)",
                seed.display()
            )),
            "line {line}:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("is not a valid configuration: 3 error(s)"),
        "{stderr}"
    );
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn check_config_prints_warnings_and_honours_config_id() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keepalived.conf");
    std::fs::write(
        &file,
        "global_defs {\n  smtp_server 127.0.0.1\n}\nvrrp_instance VI_1 {\n  interface eth0\n  \
         virtual_router_id 9\n@lb1  priority 300\n  virtual_ipaddress {\n    10.0.0.1\n  }\n}\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let out = vipctl(&["check-config", "--config-id", "lb2", f]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "warning: {f}:2:3: smtp_server: ignored: vipd does not send e-mail; use notify"
        )),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains("valid: 1 vrrp_instance(s), 1 warning(s)"));
    // On lb1 the conditional line is read, and it is wrong.
    let out = vipctl(&["check-config", "-i", "lb1", f]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!(
            "error: {f}:7:16: priority: priority must be between"
        )),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn convert_prints_toml_that_loads_to_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    for file in conf_samples() {
        let out = vipctl(&["convert", file.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            file.display(),
            text(&out.stderr)
        );
        let toml = text(&out.stdout);
        assert!(toml.starts_with("# vipd configuration, converted by `vipctl convert`"));
        let converted = dir.path().join("converted.toml");
        std::fs::write(&converted, &toml).unwrap();
        let original = vipd::config::load(&file).unwrap().config;
        let again = vipd::config::load(&converted)
            .unwrap_or_else(|e| panic!("{}: {e}\n{toml}", file.display()))
            .config;
        assert_eq!(again, original, "{}:\n{toml}", file.display());
        // And vipd itself accepts the converted file.
        let check = Command::new(env!("CARGO_BIN_EXE_vipd"))
            .args(["--check", "--config"])
            .arg(&converted)
            .output()
            .unwrap();
        assert!(check.status.success(), "{}", text(&check.stderr));
    }
}

#[test]
fn convert_refuses_an_invalid_file_with_exit_2_and_no_output() {
    let seed = seed();
    let out = vipctl(&["convert", seed.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).is_empty());
    assert!(text(&out.stderr).contains("did you mean `lb_algo`?"));
}

#[test]
fn missing_file_is_exit_2_naming_it() {
    let out = vipctl(&["check-config", "/nonexistent/keepalived.conf"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read /nonexistent/keepalived.conf"));
}

#[test]
fn vipd_check_takes_the_config_id_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keepalived.conf");
    std::fs::write(
        &file,
        "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 9\n@lb1  priority 0\n  \
         virtual_ipaddress {\n    10.0.0.1\n  }\n}\n",
    )
    .unwrap();
    let vipd = |id: &str| {
        Command::new(env!("CARGO_BIN_EXE_vipd"))
            .args(["--check", "--config-id", id, "--config"])
            .arg(&file)
            .output()
            .unwrap()
    };
    assert_eq!(vipd("lb2").status.code(), Some(0));
    let out = vipd("lb1");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(":4:16: priority: priority must be between 1 and 255"));
}

/// A file for another host: its vrrp_script, notify and MISC_CHECK programs and its script
/// user are not on this machine.
const FOR_ANOTHER_HOST: &str = "\
global_defs {
  script_user nosuchuser-vipd-test
}
vrrp_script chk_nginx {
  script \"/etc/keepalived/check_nginx.sh\"
  interval 2
}
vrrp_instance VI_1 {
  interface ens192
  virtual_router_id 51
  priority 100
  virtual_ipaddress {
    192.0.2.10/24
  }
  track_script {
    chk_nginx
  }
  notify_master /etc/keepalived/notify.sh
}
virtual_server 192.0.2.10 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 10.0.0.2 80 {
    MISC_CHECK {
      misc_path \"/usr/local/bin/check_backend.sh\"
    }
  }
}
";

fn write_conf(dir: &Path, text: &str) -> PathBuf {
    let file = dir.join("keepalived.conf");
    std::fs::write(&file, text).unwrap();
    file
}

/// On this machine the programs are missing and vipd says which, where; `--offline` (for a
/// CI pipeline that templates the file for another host) does not look for them.
#[test]
fn check_config_offline_does_not_look_for_programs_or_users() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_conf(dir.path(), FOR_ANOTHER_HOST);
    let f = file.to_str().unwrap();

    let out = vipctl(&["check-config", f]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    for (at, key, program) in [
        ("2:15", "user", "no such user `nosuchuser-vipd-test`"),
        (
            "5:10",
            "script",
            "/etc/keepalived/check_nginx.sh: No such file",
        ),
        (
            "18:17",
            "notify_master",
            "/etc/keepalived/notify.sh: No such file",
        ),
        (
            "26:17",
            "misc_path",
            "/usr/local/bin/check_backend.sh: No such file",
        ),
    ] {
        assert!(
            stderr.contains(&format!("error: {f}:{at}: {key}: {program}")),
            "{key}:\n{stderr}"
        );
    }

    let out = vipctl(&["check-config", "--offline", f]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("{f}: valid: 1 vrrp_instance(s), 0 warning(s)\n")
    );
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
}

/// `--offline` checks everything the file itself says: keywords, values, the names it refers
/// to, VIPs; each error names the file, line and key.
#[test]
fn check_config_offline_still_rejects_the_file_s_own_mistakes() {
    let dir = tempfile::tempdir().unwrap();
    for (from, to, error) in [
        (
            "  priority 100\n",
            "  priorty 100\n",
            ":11:3: priorty: unknown keyword `priorty` in vrrp_instance (did you mean \
             `priority`?)",
        ),
        (
            "  priority 100\n",
            "  priority 300\n",
            ":11:12: priority: priority must be between 1 and 255",
        ),
        (
            "    chk_nginx\n  }",
            "    chk_ngnix\n  }",
            ":16:5: chk_ngnix: unknown vrrp_script `chk_ngnix` (defined: chk_nginx) (did you \
             mean `chk_nginx`?)",
        ),
        (
            "virtual_server",
            "vrrp_instance VI_2 {\n  interface ens192\n  virtual_router_id 52\n  \
             virtual_ipaddress {\n    192.0.2.10/24\n  }\n}\nvirtual_server",
            ":24:5: virtual_ipaddress: 192.0.2.10 is in vrrp_instance VI_2 and already in \
             vrrp_instance VI_1 (line 13)",
        ),
        (
            "  interval 2\n",
            "  interval soon\n",
            ":6:12: interval: interval must be seconds above 0",
        ),
    ] {
        let text_with_mistake = FOR_ANOTHER_HOST.replacen(from, to, 1);
        assert_ne!(text_with_mistake, FOR_ANOTHER_HOST, "{from}");
        let file = write_conf(dir.path(), &text_with_mistake);
        let f = file.to_str().unwrap();
        let out = vipctl(&["check-config", "--offline", f]);
        assert_eq!(out.status.code(), Some(2), "{to}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("error: {f}{error}")),
            "{to}:\n{stderr}"
        );
        assert!(
            stderr.contains("is not a valid configuration: 1 error(s)"),
            "only the mistake, not the programs: {stderr}"
        );
        assert!(text(&out.stdout).is_empty());
    }
}

/// The corpus of real keepalived.conf files, and keepalived 2.2.7's `-t` verdict on each
/// (`KEEPALIVED_T.tsv`), which ran on a machine that had none of their interfaces, scripts,
/// users or included files.
fn corpus() -> (PathBuf, BTreeMap<String, Vec<String>>) {
    let dir = shared().join("corpus/keepalived");
    let tsv = std::fs::read_to_string(dir.join("KEEPALIVED_T.tsv")).expect("KEEPALIVED_T.tsv");
    let verdicts: BTreeMap<String, Vec<String>> = tsv
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut cols = l.split('\t');
            let name = cols.next()?.to_string();
            let _exit_code = cols.next()?;
            let messages = cols
                .next()
                .unwrap_or("")
                .split(" | ")
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect();
            Some((name, messages))
        })
        .collect();
    assert!(verdicts.len() >= 60, "{} verdicts", verdicts.len());
    (dir, verdicts)
}

/// Whether a message of keepalived's `-t` is about the machine it ran on rather than the file:
/// on the host the file is for, these would not be said. `all` is the file's whole verdict.
fn about_the_machine(message: &str, all: &[String]) -> bool {
    // Interfaces: `WARNING - interface ens160 for vrrp_instance VI_1 doesn't exist`,
    // `(VE) tracked interface eth1 doesn't exist`.
    let interface = message.contains("interface ") && message.ends_with("doesn't exist");
    let machine = [
        "Non-existent interface specified in configuration",
        // Scripts and the user they run as, and keepalived's exit 6 for their permissions.
        "since not found/accessible",
        "Unable to set default user",
        "SECURITY VIOLATION - scripts are being executed",
        // A track_script whose vrrp_script was removed for one of the reasons above.
        "not found, ignoring...",
        // An include pattern that matched nothing.
        "Config files missing",
    ];
    // Instances a sync group names, in the included files that were missing.
    let in_missing_include = message.contains("specified in sync group")
        && all.iter().any(|m| m.contains("Config files missing"));
    interface || machine.iter().any(|m| message.contains(m)) || in_missing_include
}

/// `vipctl check-config [--offline] FILE`'s exit code for each corpus file.
fn verdicts_of_vipctl(dir: &Path, names: &[&String], offline: bool) -> BTreeMap<String, i32> {
    names
        .iter()
        .map(|name| {
            let file = dir.join(name);
            let mut args = vec!["check-config"];
            if offline {
                args.push("--offline");
            }
            args.push(file.to_str().unwrap());
            let code = vipctl(&args).status.code().expect("exit code");
            assert!(code == 0 || code == 2, "{name}: exit {code}");
            ((*name).clone(), code)
        })
        .collect()
}

/// Of the files keepalived accepts but for what it says about the machine it ran on, vipd
/// `--offline` rejects only those asking for what vipd deliberately does not do (each listed
/// with why); without `--offline` the missing scripts reject many more.
#[test]
fn check_config_offline_accepts_what_keepalived_accepts_in_the_corpus() {
    let (dir, verdicts) = corpus();
    let names: Vec<&String> = verdicts.keys().collect();
    let here = verdicts_of_vipctl(&dir, &names, false);
    let offline = verdicts_of_vipctl(&dir, &names, true);
    let keepalived_accepts = |name: &String| {
        let all = &verdicts[name];
        all.iter().all(|m| about_the_machine(m, all))
    };
    let rejected_by = |codes: &BTreeMap<String, i32>| -> Vec<String> {
        names
            .iter()
            .filter(|n| keepalived_accepts(n) && codes[**n] != 0)
            .map(|n| (*n).clone())
            .collect()
    };
    let before = rejected_by(&here);
    let after = rejected_by(&offline);
    let accepted = names.iter().filter(|n| keepalived_accepts(n)).count();
    println!(
        "keepalived -t accepts {accepted} of {} files but for this machine; vipctl check-config \
         rejects {} of them ({}), with --offline {} ({})",
        names.len(),
        before.len(),
        before.join(" "),
        after.len(),
        after.join(" ")
    );
    let more_lenient: Vec<&String> = names
        .iter()
        .filter(|n| !keepalived_accepts(n) && offline[**n] == 0)
        .copied()
        .collect();
    println!(
        "keepalived -t finds fault with {} files that vipctl check-config --offline accepts: {:?}",
        more_lenient.len(),
        more_lenient
    );

    // What remains is what vipd refuses by design, with an error that says so.
    let by_design: &[(&str, &[&str])] = &[
        // LVS direct routing: vipd forwards in user space (lb_kind NAT).
        ("038.conf", &["lb_kind DR is not supported"]),
    ];
    let expected: Vec<String> = by_design.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(after, expected, "before --offline: {before:?}");
    for (name, reasons) in by_design {
        let file = dir.join(name);
        let out = vipctl(&["check-config", "--offline", file.to_str().unwrap()]);
        for error in text(&out.stderr)
            .lines()
            .filter(|l| l.starts_with("error: "))
        {
            assert!(
                reasons.iter().any(|r| error.contains(r)),
                "{name}: an error not by design: {error}"
            );
        }
    }
    // And --offline changes the verdict only on files whose sole problems were the machine's.
    for name in &names {
        if here[*name] == 0 {
            assert_eq!(offline[*name], 0, "{name}");
        }
    }
    assert!(before.len() > after.len(), "{before:?} -> {after:?}");
}

/// An IPv6 VRRPv3 pair with a virtual MAC: checked offline and converted with its version,
/// fractional interval and the vmac name keepalived would choose.
#[test]
fn check_config_and_convert_take_vrrpv3_ipv6_and_vmac() {
    let file = root().join("conf/ipv6-vrrpv3-pair.conf");
    let out = vipctl(&["check-config", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = vipctl(&["convert", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let toml = text(&out.stdout);
    for line in [
        "version = 3",
        "advert_int = 0.05",
        "use_vmac = \"vrrp.52\"",
        "virtual_ipaddress_excluded = [\"2001:db8:52::2\"]",
    ] {
        assert!(toml.contains(line), "no `{line}` in:\n{toml}");
    }
}
