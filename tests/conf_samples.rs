//! The sample configs in `conf/` load, and `vipd --check` agrees with the library.

use std::path::Path;
use std::process::Command;

fn samples() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("conf/ exists")
        .map(|e| e.unwrap().path())
        // conf/bird/ holds BIRD's side of a BGP setup, not vipd configs.
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "expected the samples in {}",
        dir.display()
    );
    files
}

#[test]
fn every_sample_loads_without_warnings() {
    for file in samples() {
        let loaded = vipd::config::load(&file)
            .unwrap_or_else(|e| panic!("{} does not load:\n{e}", file.display()));
        assert!(!loaded.config.instances.is_empty(), "{}", file.display());
        assert!(
            loaded.warnings.is_empty(),
            "{}: {:?}",
            file.display(),
            loaded.warnings
        );
    }
}

#[test]
fn toml_and_keepalived_samples_describe_the_same_pair() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let ka = vipd::config::load(&root.join("nginx-pair.conf"))
        .unwrap()
        .config;
    let toml = vipd::config::load(&root.join("vipd.toml")).unwrap().config;
    assert_eq!(ka, toml, "conf/vipd.toml is conf/nginx-pair.conf in TOML");
}

#[test]
fn vipd_check_accepts_samples_and_rejects_the_tutorial_typos() {
    let vipd = env!("CARGO_BIN_EXE_vipd");
    for file in samples() {
        let out = Command::new(vipd)
            .arg("--check")
            .arg("--config")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let seed =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/examples/seed-keepalived-typos.conf");
    assert!(
        seed.exists(),
        "../shared/examples must sit beside the checkout"
    );
    let out = Command::new(vipd)
        .arg("--check")
        .arg("--config")
        .arg(&seed)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (line, suggestion) in [(18, "lb_algo"), (19, "lb_kind"), (22, "real_server")] {
        assert!(
            stderr.contains(&format!("seed-keepalived-typos.conf:{line}:"))
                && stderr.contains(&format!("did you mean `{suggestion}`")),
            "missing line {line} / {suggestion} in:\n{stderr}"
        );
    }
}
