//! `vipctl check-config` and `vipctl convert`: offline, no socket, same verdicts as vipd.

use std::path::PathBuf;
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

/// `../shared/examples/seed-keepalived-typos.conf` beside the checkout (CI), or one level
/// further up from a git worktree such as `wt/NAME`.
fn seed() -> PathBuf {
    let candidates = [root().join("../shared"), root().join("../../shared")];
    let shared = candidates.iter().find(|p| p.is_dir()).unwrap_or_else(|| {
        panic!("../shared must sit beside the checkout (looked for {candidates:?})")
    });
    shared.join("examples/seed-keepalived-typos.conf")
}

fn conf_samples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("conf"))
        .expect("conf/")
        .map(|e| e.unwrap().path())
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
