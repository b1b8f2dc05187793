//! Health tracking and notify in the config: `vrrp_script`, `vrrp_track_file`,
//! `vrrp_track_process`, `vrrp_sync_group`, the instances' `track_*` and `notify*` keywords,
//! and `script_user`. Values as written (from either loader) in, typed model out.
//!
//! Scripts are checked at load: the program must exist and be executable, and when vipd runs
//! as root, neither it nor any directory above it may be writable by another user (keepalived's
//! `enable_script_security`), because anyone who can change it runs code as root.

use std::collections::HashSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::model::{
    Argv, CheckKind, Config, Notify, Program, ScriptUser, SyncGroup, TrackFile, TrackInterface,
    TrackProcess, TrackRef, Tracks, VrrpInstance, VrrpScript,
};
use super::raw::{RawNotify, RawScript, RawSyncGroup, RawTracking, RawTracks, Val};
use super::values::{count, must};
use super::{HostChecks, Report, suggest};

/// keepalived's weight range for tracked checks.
const WEIGHT_RANGE: std::ops::RangeInclusive<i32> = -253..=253;

/// The validated global part.
#[derive(Debug, Default)]
pub(crate) struct Tracking {
    /// Every name defined, valid or not, so a bad check is reported once, not at each use.
    pub(crate) defined: Defined,
    pub(crate) scripts: Vec<VrrpScript>,
    pub(crate) files: Vec<TrackFile>,
    pub(crate) processes: Vec<TrackProcess>,
    pub(crate) script_user: Option<ScriptUser>,
    pub(crate) enable_script_security: bool,
}

/// Names of the checks a file defines.
#[derive(Debug, Default)]
pub(crate) struct Defined {
    pub(crate) scripts: Vec<String>,
    pub(crate) files: Vec<String>,
    pub(crate) processes: Vec<String>,
}

/// Validates the global tracking keywords. Sync groups wait for the instances
/// ([`sync_groups`]).
pub(crate) fn global(raw: &RawTracking, report: &mut Report) -> Tracking {
    let script_user = raw.script_user.as_ref().and_then(|w| user(w, report));
    let defined = Defined {
        scripts: raw.scripts.iter().map(|s| s.name.value.clone()).collect(),
        files: raw.files.iter().map(|f| f.name.value.clone()).collect(),
        processes: raw.processes.iter().map(|p| p.name.value.clone()).collect(),
    };
    let mut out = Tracking {
        defined,
        script_user,
        enable_script_security: raw.enable_script_security,
        ..Tracking::default()
    };
    let mut seen = HashSet::new();
    for s in &raw.scripts {
        duplicate(&mut seen, &s.name, "vrrp_script", report);
        if let Some(script) = script(s, report) {
            out.scripts.push(script);
        }
    }
    let mut seen = HashSet::new();
    for f in &raw.files {
        duplicate(&mut seen, &f.name, "vrrp_track_file", report);
        let Some(file) = required(&f.file, &f.name, "vrrp_track_file", "file", report) else {
            continue;
        };
        let weight = f.weight.as_ref().map_or(Some(1), |w| weight(w, report));
        if let Some(weight) = weight {
            out.files.push(TrackFile {
                name: f.name.value.clone(),
                file: PathBuf::from(&file.value),
                weight,
            });
        }
    }
    let mut seen = HashSet::new();
    for p in &raw.processes {
        duplicate(&mut seen, &p.name, "vrrp_track_process", report);
        let Some(process) = required(&p.process, &p.name, "vrrp_track_process", "process", report)
        else {
            continue;
        };
        let weight = p.weight.as_ref().map_or(Some(0), |w| weight(w, report));
        let quorum = p
            .quorum
            .as_ref()
            .map_or(Some(1), |q| count(q, "quorum", 1.., report));
        if let (Some(weight), Some(quorum)) = (weight, quorum) {
            out.processes.push(TrackProcess {
                name: p.name.value.clone(),
                process: process.value.clone(),
                weight,
                quorum,
                full_command: p.full_command,
            });
        }
    }
    out
}

fn duplicate(seen: &mut HashSet<String>, name: &Val<String>, what: &str, report: &mut Report) {
    if !seen.insert(name.value.clone()) {
        report.error_at(
            name.at(),
            what,
            format!(
                "duplicate {what} `{}`: each name may be defined once",
                name.value
            ),
        );
    }
}

fn required<'a>(
    v: &'a Option<Val<String>>,
    owner: &Val<String>,
    block: &str,
    key: &str,
    report: &mut Report,
) -> Option<&'a Val<String>> {
    if v.is_none() {
        report.error_at(
            owner.at(),
            key,
            format!("{block} {} has no `{key}`", owner.value),
        );
    }
    v.as_ref()
}

fn script(s: &RawScript, report: &mut Report) -> Option<VrrpScript> {
    let line = required(&s.script, &s.name, "vrrp_script", "script", report)?;
    let argv = command(line, "script", report)?;
    let interval = match &s.interval {
        Some(v) => positive_seconds(v, "interval", report)?,
        None => Duration::from_secs(1),
    };
    let timeout = match &s.timeout {
        Some(v) => positive_seconds(v, "timeout", report)?,
        None => interval,
    };
    let weight = s.weight.as_ref().map_or(Some(0), |w| weight(w, report))?;
    let rise = s
        .rise
        .as_ref()
        .map_or(Some(1), |v| count(v, "rise", 1.., report))?;
    let fall = s
        .fall
        .as_ref()
        .map_or(Some(1), |v| count(v, "fall", 1.., report))?;
    let user = match &s.user {
        Some(words) => Some(user(words, report)?),
        None => None,
    };
    Some(VrrpScript {
        name: s.name.value.clone(),
        script: argv,
        interval,
        timeout,
        weight,
        rise,
        fall,
        user,
        init_fail: s.init_fail,
    })
}

/// `script_user` or a script's `user`: `USER [GROUP]`, which must exist here unless the file is
/// checked for another host (its accounts are not this machine's).
pub(crate) fn user(words: &[Val<String>], report: &mut Report) -> Option<ScriptUser> {
    let name = words.first()?;
    let group = words.get(1).map(|g| g.value.clone());
    if report.host_checks == HostChecks::None {
        return Some(ScriptUser {
            user: name.value.clone(),
            group,
        });
    }
    if nix::unistd::User::from_name(&name.value)
        .ok()
        .flatten()
        .is_none()
    {
        report.error_at(
            name.at(),
            "user",
            format!("no such user `{}` on this system", name.value),
        );
        return None;
    }
    if let Some(g) = words.get(1)
        && nix::unistd::Group::from_name(&g.value)
            .ok()
            .flatten()
            .is_none()
    {
        report.error_at(
            g.at(),
            "user",
            format!("no such group `{}` on this system", g.value),
        );
        return None;
    }
    Some(ScriptUser {
        user: name.value.clone(),
        group,
    })
}

fn positive_seconds(v: &Val<String>, key: &str, report: &mut Report) -> Option<Duration> {
    must(v, key, "seconds above 0", report, |s| {
        let secs = s.parse::<f64>().ok()?;
        (secs.is_finite() && secs > 0.0 && secs <= 86_400.0).then(|| Duration::from_secs_f64(secs))
    })
}

fn weight(v: &Val<String>, report: &mut Report) -> Option<i32> {
    must(
        v,
        "weight",
        "a whole number from -253 to 253",
        report,
        |s| s.parse::<i32>().ok().filter(|w| WEIGHT_RANGE.contains(w)),
    )
}

/// Splits a command line as a shell would split words (quotes, backslashes), without
/// running a shell: no variables, globs or pipes.
pub(crate) fn split_command(line: &str) -> Result<Argv, &'static str> {
    let mut argv = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated ' quote"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => word.push(c),
                            None => return Err("unterminated \" quote"),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated \" quote"),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    argv.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        argv.push(word);
    }
    Ok(argv)
}

/// The inverse of [`split_command`]: a command line that splits back into `argv`.
pub(crate) fn join_command(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| !c.is_whitespace() && !matches!(c, '\'' | '"' | '\\'));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A command line: split into argv, its program found and checked. The program runs as
/// vipd's own user until [`super::validate`] says who runs it.
pub(crate) fn command(line: &Val<String>, key: &str, report: &mut Report) -> Option<Program> {
    let argv = match split_command(&line.value) {
        Ok(argv) if !argv.is_empty() => argv,
        Ok(_) => {
            report.error_at(line.at(), key, format!("`{key}` is empty"));
            return None;
        }
        Err(why) => {
            report.error_at(line.at(), key, format!("`{key}`: {why}"));
            return None;
        }
    };
    if report.host_checks == HostChecks::None {
        return Some(Program::new(argv));
    }
    match checked_program(&argv[0]) {
        Ok(path) => Some(Program {
            path,
            ..Program::new(argv)
        }),
        Err(why) => {
            report.error_at(line.at(), key, why);
            None
        }
    }
}

/// Finds a program as `execvp` would: a name with a `/` as is, otherwise along `PATH`.
pub(crate) fn resolve_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// The file a program names, absolute and with symlinks resolved, when it can be run safely;
/// otherwise why not. That file is what runs: it is the one checked here.
fn checked_program(program: &str) -> Result<PathBuf, String> {
    let Some(path) = resolve_program(program) else {
        return Err(format!("`{program}` is not found in PATH"));
    };
    let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(format!(
            "{} is not an executable file (chmod +x it?)",
            path.display()
        ));
    }
    let real = std::fs::canonicalize(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if nix::unistd::geteuid().is_root()
        && let Some(why) = unsafe_for_root(&real, &[0])
    {
        return Err(why);
    }
    Ok(real)
}

/// keepalived's `enable_script_security`: a file root runs must not be changeable by anyone
/// else, nor may any directory above it (which would let them swap it). `path` is absolute,
/// with symlinks resolved; `owners` are the uids that may own them (root's 0; a test adds its
/// own).
fn unsafe_for_root(path: &Path, owners: &[u32]) -> Option<String> {
    let mut checked = Some(path);
    let mut is_file = true;
    while let Some(p) = checked {
        let Ok(meta) = std::fs::metadata(p) else {
            break;
        };
        let mode = meta.permissions().mode();
        // A sticky directory (/tmp) lets others add files, not replace root's.
        let sticky_dir = !is_file && mode & 0o1000 != 0;
        let why = if !owners.contains(&meta.uid()) {
            Some(format!("it is owned by uid {}", meta.uid()))
        } else if mode & 0o022 != 0 && !sticky_dir {
            Some(format!(
                "it is writable by group or others (mode {:o})",
                mode & 0o777
            ))
        } else {
            None
        };
        if let Some(why) = why {
            let what = if is_file { "" } else { " in a directory that" };
            return Some(format!(
                "refusing to run {} as root{what}: {} can be changed by another user: {why}; \
                 make it root-owned and not group/world-writable (chown root; chmod go-w)",
                path.display(),
                p.display()
            ));
        }
        is_file = false;
        checked = p.parent();
    }
    None
}

/// An instance's `track_*` and `notify*`, checked against the defined names.
pub(crate) fn instance(
    tracks: &RawTracks,
    notify: &RawNotify,
    tracking: &Tracking,
    out: &mut VrrpInstance,
    report: &mut Report,
) -> bool {
    let mut ok = match track_lists(tracks, tracking, report) {
        Some(t) => {
            out.track_script = t.track_script;
            out.track_file = t.track_file;
            out.track_process = t.track_process;
            out.track_interface = t.track_interface;
            true
        }
        None => false,
    };
    match notify_scripts(notify, report) {
        Some(n) => out.notify = n,
        None => ok = false,
    }
    ok
}

/// An instance's `track_*` lists (a `vrrp_instance`'s or a `route_instance`'s), checked
/// against the defined names; `None` when one is wrong (each reported).
pub(crate) fn track_lists(
    tracks: &RawTracks,
    tracking: &Tracking,
    report: &mut Report,
) -> Option<Tracks> {
    let mut ok = true;
    let mut out = Tracks::default();
    let defined = &tracking.defined;
    for (lines, names, what, target) in [
        (
            &tracks.script,
            &defined.scripts,
            "vrrp_script",
            &mut out.track_script,
        ),
        (
            &tracks.file,
            &defined.files,
            "vrrp_track_file",
            &mut out.track_file,
        ),
        (
            &tracks.process,
            &defined.processes,
            "vrrp_track_process",
            &mut out.track_process,
        ),
    ] {
        for words in lines {
            match reference(words, names, what, report) {
                Some(r) => target.push(r),
                None => ok = false,
            }
        }
    }
    for words in &tracks.interface {
        match weighted(words, report) {
            Some((name, weight)) => out.track_interface.push(TrackInterface {
                interface: name.value.clone(),
                weight: weight.unwrap_or(0),
            }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `NAME [weight W]`.
fn weighted<'a>(
    words: &'a [Val<String>],
    report: &mut Report,
) -> Option<(&'a Val<String>, Option<i32>)> {
    let name = words.first()?;
    match words.get(1..) {
        Some([]) | None => Some((name, None)),
        Some([kw, w]) if kw.value == "weight" => Some((name, Some(weight(w, report)?))),
        Some([kw, ..]) => {
            report
                .error_at(
                    kw.at(),
                    &kw.value,
                    format!("expected `{} weight W`, got `{}`", name.value, kw.value),
                )
                .suggestion = suggest::closest(&kw.value, &["weight"]);
            None
        }
    }
}

fn reference(
    words: &[Val<String>],
    names: &[String],
    what: &str,
    report: &mut Report,
) -> Option<TrackRef> {
    let (name, weight) = weighted(words, report)?;
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    if !names.contains(&name.value.as_str()) {
        let defined = if names.is_empty() {
            format!("no {what} is defined")
        } else {
            format!("defined: {}", names.join(", "))
        };
        let d = report
            .diag(
                name.line,
                name.col,
                &name.value,
                format!("unknown {what} `{}` ({defined})", name.value),
            )
            .with_suggestion(suggest::closest(&name.value, &names));
        if report.undefined_name(d) {
            return None;
        }
    }
    Some(TrackRef {
        name: name.value.clone(),
        weight,
    })
}

fn notify_scripts(raw: &RawNotify, report: &mut Report) -> Option<Notify> {
    let mut ok = true;
    let mut one = |v: &Option<Val<String>>, key: &str, report: &mut Report| match v {
        Some(line) => {
            let argv = command(line, key, report);
            ok &= argv.is_some();
            argv
        }
        None => None,
    };
    let notify = Notify {
        master: one(&raw.master, "notify_master", report),
        backup: one(&raw.backup, "notify_backup", report),
        fault: one(&raw.fault, "notify_fault", report),
        stop: one(&raw.stop, "notify_stop", report),
        any: one(&raw.any, "notify", report),
    };
    ok.then_some(notify)
}

/// Who each program runs as: a `vrrp_script`'s or `MISC_CHECK`'s own `user`, else
/// `script_user` (keepalived settles this at load too, so a reload that changes it changes
/// the programs).
pub(crate) fn assign_users(config: &mut Config) {
    let global = config.script_user.clone();
    for s in &mut config.vrrp_script {
        s.script.user = s.user.clone().or_else(|| global.clone());
    }
    let notifies = (config.instances.iter_mut().map(|i| &mut i.notify))
        .chain(config.vrrp_sync_group.iter_mut().map(|g| &mut g.notify));
    let mut programs: Vec<&mut Program> = Vec::new();
    for n in notifies {
        programs.extend(
            [
                &mut n.master,
                &mut n.backup,
                &mut n.fault,
                &mut n.stop,
                &mut n.any,
            ]
            .into_iter()
            .flatten(),
        );
    }
    for rs in config
        .virtual_servers
        .iter_mut()
        .flat_map(|vs| vs.real_servers.iter_mut())
    {
        programs.extend(rs.notify_up.iter_mut().chain(rs.notify_down.iter_mut()));
        for c in &mut rs.checks {
            if let CheckKind::Misc { program, user, .. } = &mut c.kind {
                program.user = user.clone().or_else(|| global.clone());
            }
        }
    }
    for p in programs {
        p.user = global.clone();
    }
}

/// Sync groups, checked against the instances: every member exists and is in one group.
pub(crate) fn sync_groups(
    raw: &[RawSyncGroup],
    instances: &[VrrpInstance],
    report: &mut Report,
) -> Vec<SyncGroup> {
    let names: Vec<&str> = instances.iter().map(|i| i.name.as_str()).collect();
    let mut member_of: std::collections::HashMap<String, String> = Default::default();
    let mut out = Vec::new();
    for g in raw {
        let mut ok = true;
        for m in &g.group {
            if !names.contains(&m.value.as_str()) {
                let d = report
                    .diag(
                        m.line,
                        m.col,
                        &m.value,
                        format!(
                            "vrrp_sync_group {}: unknown vrrp_instance `{}`",
                            g.name.value, m.value
                        ),
                    )
                    .with_suggestion(suggest::closest(&m.value, &names));
                if report.undefined_name(d) {
                    ok = false;
                    continue;
                }
            }
            if let Some(other) = member_of.insert(m.value.clone(), g.name.value.clone()) {
                report.error_at(
                    m.at(),
                    &m.value,
                    format!(
                        "vrrp_instance {} is already in vrrp_sync_group {other}; an instance \
                         can be in one group only",
                        m.value
                    ),
                );
                ok = false;
            }
        }
        if g.group.is_empty() {
            report.error_at(
                g.name.at(),
                "group",
                format!(
                    "vrrp_sync_group {} has no `group {{ ... }}` members",
                    g.name.value
                ),
            );
            ok = false;
        }
        let notify = notify_scripts(&g.notify, report);
        if let (true, Some(notify)) = (ok, notify) {
            out.push(SyncGroup {
                name: g.name.value.clone(),
                group: g.group.iter().map(|m| m.value.clone()).collect(),
                notify,
            });
        }
    }
    out
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::config::testing::{load, load_offline};

    #[test]
    fn commands_split_like_a_shell_without_one() {
        assert_eq!(
            split_command(r#"/usr/bin/curl -sf "http://127.0.0.1:80/a b" 'x y' z\ w"#).unwrap(),
            [
                "/usr/bin/curl",
                "-sf",
                "http://127.0.0.1:80/a b",
                "x y",
                "z w"
            ]
        );
        // No shell: `;` is just a character of an argument.
        assert_eq!(
            split_command("killall -0 nginx; rm -rf /").unwrap(),
            ["killall", "-0", "nginx;", "rm", "-rf", "/"]
        );
        assert!(split_command("echo 'open").is_err());
        assert!(split_command("   ").unwrap().is_empty());
    }

    #[test]
    fn joined_commands_split_back() {
        for argv in [
            vec!["/bin/echo", "a b", "it's", "", "x\\y", "\"q\""],
            vec!["/usr/bin/curl", "-sf", "http://127.0.0.1/"],
        ] {
            let argv: Vec<String> = argv.into_iter().map(String::from).collect();
            assert_eq!(split_command(&join_command(&argv)).unwrap(), argv);
        }
    }

    #[test]
    fn programs_are_found_along_path() {
        assert!(resolve_program("true").is_some());
        assert!(checked_program("true").is_ok());
        assert!(
            checked_program("no-such-program-xyz")
                .unwrap_err()
                .contains("not found in PATH")
        );
    }

    #[test]
    fn every_program_runs_as_its_own_user_else_script_user() {
        let text = "global_defs {\n script_user nobody\n}\n\
            vrrp_script own {\n script /bin/true\n user root\n}\n\
            vrrp_script default {\n script /bin/true\n}\n\
            vrrp_sync_group VG {\n group {\n VI_1\n }\n notify /bin/true\n}\n\
            vrrp_instance VI_1 {\n interface lo\n virtual_router_id 1\n priority 100\n\
             notify_master /bin/true\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n\
            virtual_server 10.0.0.100 80 {\n lb_algo rr\n lb_kind NAT\n\
             real_server 10.0.0.1 80 {\n notify_up /bin/true\n notify_down /bin/true\n\
              MISC_CHECK {\n misc_path /bin/true\n }\n }\n}\n";
        let c = load(text, "t.conf")
            .unwrap_or_else(|e| panic!("{e}"))
            .config;
        let who = |p: &Program| p.user.as_ref().map(|u| u.user.clone());
        let nobody = Some("nobody".to_string());
        assert_eq!(who(&c.vrrp_script[0].script), Some("root".into()));
        assert_eq!(who(&c.vrrp_script[1].script), nobody);
        assert_eq!(
            c.vrrp_script[1].user, None,
            "the script's own `user` stays as written"
        );
        assert_eq!(who(c.instances[0].notify.master.as_ref().unwrap()), nobody);
        assert_eq!(
            who(c.vrrp_sync_group[0].notify.any.as_ref().unwrap()),
            nobody
        );
        let rs = &c.virtual_servers[0].real_servers[0];
        assert_eq!(who(rs.notify_up.as_ref().unwrap()), nobody);
        assert_eq!(who(rs.notify_down.as_ref().unwrap()), nobody);
        let CheckKind::Misc { program, .. } = &rs.checks[0].kind else {
            panic!("{:?}", rs.checks[0]);
        };
        assert_eq!(who(program), nobody);
    }

    #[test]
    fn the_program_that_runs_is_the_file_checked_with_links_resolved() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("check.sh");
        std::fs::write(&real, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).unwrap();
        let link = dir.path().join("check");
        symlink(&real, &link).unwrap();
        let text = format!(
            "vrrp_script chk {{\n script \"{} fast\"\n}}\n\
             vrrp_instance VI_1 {{\n interface lo\n virtual_router_id 1\n priority 100\n\
             track_script {{\n chk\n }}\n virtual_ipaddress {{\n 10.0.0.1\n }}\n}}\n",
            link.display()
        );
        let c = load(&text, "t.conf")
            .unwrap_or_else(|e| panic!("{e}"))
            .config;
        let script = &c.vrrp_script[0].script;
        assert_eq!(script.argv, [link.display().to_string(), "fast".into()]);
        assert_eq!(script.path, std::fs::canonicalize(&real).unwrap());
    }

    #[test]
    fn root_refuses_scripts_others_can_change() {
        // Root's rules, checked for whoever runs the test: files we own count as root's.
        let me = nix::unistd::geteuid().as_raw();
        let unsafe_for_root = |p: &Path| unsafe_for_root(p, &[0, me]);
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("check.sh");
        std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            unsafe_for_root(&script),
            None,
            "root-owned 0755 in a 0700 dir"
        );
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o777)).unwrap();
        let why = unsafe_for_root(&script).unwrap();
        assert!(
            why.contains("writable by group or others (mode 777)"),
            "{why}"
        );
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let why = unsafe_for_root(&script).unwrap();
        assert!(why.contains("in a directory that"), "{why}");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(unsafe_for_root(&script), None);
        // Another user's file: only root's own (uid 0) pass; /bin/true is root's, so with a
        // stranger as the only trusted owner it is refused, as a file of uid 65534 is to root.
        let why = super::unsafe_for_root(Path::new("/bin/true"), &[65534]).unwrap();
        assert!(why.contains("owned by uid 0"), "{why}");
    }

    const KA: &str = "global_defs {\n script_user root\n}\n\
        vrrp_script chk_nginx {\n script \"/bin/true -x 'a b'\"\n interval 1\n timeout 0.5\n \
        weight -20\n fall 2\n rise 3\n}\n\
        vrrp_track_file maint {\n file /etc/vipd/maint\n weight -50\n}\n\
        vrrp_track_process nginx {\n process nginx\n quorum 2\n}\n\
        vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
        virtual_ipaddress {\n 10.0.0.1\n }\n \
        track_script {\n chk_nginx weight -30\n }\n track_file {\n maint\n }\n \
        track_process {\n nginx\n }\n track_interface {\n eth1 weight -10\n eth2\n }\n \
        notify_master \"/bin/echo master\"\n notify /bin/echo\n}\n\
        vrrp_instance VI_2 {\n interface eth0\n virtual_router_id 52\n \
        virtual_ipaddress {\n 10.0.0.2\n }\n}\n\
        vrrp_sync_group VG {\n group {\n VI_1\n VI_2\n }\n notify_fault /bin/true\n}\n";

    const TOML: &str = r#"
[global_defs]
script_user = "root"

[[vrrp_script]]
name = "chk_nginx"
script = "/bin/true -x 'a b'"
interval = 1
timeout = 0.5
weight = -20
fall = 2
rise = 3

[[vrrp_track_file]]
name = "maint"
file = "/etc/vipd/maint"
weight = -50

[[vrrp_track_process]]
name = "nginx"
process = "nginx"
quorum = 2

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
virtual_ipaddress = ["10.0.0.1"]
track_script = ["chk_nginx weight -30"]
track_file = ["maint"]
track_process = ["nginx"]
track_interface = ["eth1 weight -10", "eth2"]
notify_master = "/bin/echo master"
notify = "/bin/echo"

[[vrrp_instance]]
name = "VI_2"
interface = "eth0"
virtual_router_id = 52
virtual_ipaddress = ["10.0.0.2"]

[[vrrp_sync_group]]
name = "VG"
group = ["VI_1", "VI_2"]
notify_fault = "/bin/true"
"#;

    #[test]
    fn tracking_loads_the_same_from_both_formats() {
        let ka = load(KA, "t.conf").unwrap_or_else(|e| panic!("{e}"));
        let toml = load(TOML, "t.toml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ka.config, toml.config);
        assert!(ka.warnings.is_empty(), "{:?}", ka.warnings);
        let c = ka.config;
        let s = &c.vrrp_script[0];
        assert_eq!(s.script.argv, ["/bin/true", "-x", "a b"]);
        assert_eq!(s.timeout, Duration::from_millis(500));
        assert_eq!((s.weight, s.fall, s.rise, s.init_fail), (-20, 2, 3, false));
        let i = &c.instances[0];
        assert_eq!(i.track_script[0].weight, Some(-30));
        assert_eq!(i.track_file[0].weight, None);
        assert_eq!(i.track_interface[0].weight, -10);
        assert_eq!(i.track_interface[1].weight, 0);
        assert_eq!(
            i.notify.master.as_ref().map(|p| &p.argv[..]),
            Some(&["/bin/echo".to_string(), "master".into()][..])
        );
        assert_eq!(c.vrrp_track_process[0].quorum, 2);
        assert_eq!(c.vrrp_track_file[0].weight, -50);
        assert_eq!(c.vrrp_sync_group[0].group, ["VI_1", "VI_2"]);
        assert_eq!(c.script_user.as_ref().unwrap().user, "root");
    }

    #[test]
    fn an_unknown_track_script_is_an_error_with_a_suggestion() {
        let text = KA.replace("chk_nginx weight -30", "chk_ngnix weight -30");
        let e = load(&text, "t.conf").unwrap_err().to_string();
        assert!(
            e.contains("unknown vrrp_script `chk_ngnix` (defined: chk_nginx)"),
            "{e}"
        );
        assert!(e.contains("did you mean `chk_nginx`?"), "{e}");
    }

    /// Checked for another host, what only this machine could answer is not asked (programs,
    /// users, groups); the file's own mistakes are still errors.
    #[test]
    fn offline_asks_nothing_of_this_machine() {
        let elsewhere = KA
            .replace("/bin/true -x", "/no/such/check -x")
            .replace("notify /bin/echo", "notify nosuchprogramxyz")
            .replace("notify_fault /bin/true", "notify_fault /no/such/notify")
            .replace(
                "script_user root",
                "script_user nosuchuserxyz nosuchgroupxyz",
            );
        let here = load(&elsewhere, "t.conf").unwrap_err().to_string();
        for host in [
            "/no/such/check",
            "nosuchprogramxyz",
            "/no/such/notify",
            "nosuchuserxyz",
        ] {
            assert!(here.contains(host), "{host}: {here}");
        }
        let c = load_offline(&elsewhere, "t.conf")
            .unwrap_or_else(|e| panic!("{e}"))
            .config;
        assert_eq!(
            c.vrrp_script[0].script.argv,
            ["/no/such/check", "-x", "a b"]
        );
        assert_eq!(
            c.instances[0]
                .notify
                .any
                .as_ref()
                .map(|p| p.argv.as_slice()),
            Some(&["nosuchprogramxyz".to_string()][..])
        );
        let user = c.script_user.expect("script_user");
        assert_eq!(
            (user.user.as_str(), user.group.as_deref()),
            ("nosuchuserxyz", Some("nosuchgroupxyz"))
        );
        for (from, to, expect) in [
            (
                "chk_nginx weight -30",
                "chk_ngnix weight -30",
                "unknown vrrp_script `chk_ngnix`",
            ),
            ("weight -20", "weight -300", "weight must be a whole number"),
            ("VI_2\n }", "VI_3\n }", "unknown vrrp_instance `VI_3`"),
            (
                "notify nosuchprogramxyz",
                "notify 'nosuchprogramxyz",
                "unterminated ' quote",
            ),
        ] {
            let text = elsewhere.replace(from, to);
            assert_ne!(text, elsewhere, "{from}");
            let e = load_offline(&text, "t.conf").expect_err(to).to_string();
            assert!(e.contains(expect), "{to}: {e}");
        }
    }

    /// A name defined in none of the files read is an error, except when the file is checked
    /// for another host and an include matched nothing here: it may be defined there.
    #[test]
    fn offline_names_may_be_defined_where_an_include_points() {
        let unknown = KA
            .replace("chk_nginx weight -30", "chk_elsewhere weight -30")
            .replace("VI_2\n }", "VI_3\n }");
        let with_include = format!("{unknown}include /nonexistent-vipd/conf.d/*.conf\n");
        let here = load(&with_include, "t.conf").unwrap_err().to_string();
        assert!(
            here.contains("unknown vrrp_script `chk_elsewhere`"),
            "{here}"
        );
        assert!(here.contains("unknown vrrp_instance `VI_3`"), "{here}");
        // Offline without the include: still errors.
        let e = load_offline(&unknown, "t.conf").unwrap_err().to_string();
        assert!(e.contains("unknown vrrp_script `chk_elsewhere`"), "{e}");
        assert!(e.contains("unknown vrrp_instance `VI_3`"), "{e}");
        // Offline with it: warnings that say why.
        let l = load_offline(&with_include, "t.conf").unwrap_or_else(|e| panic!("{e}"));
        let line = with_include.lines().count();
        for name in ["vrrp_script `chk_elsewhere`", "vrrp_instance `VI_3`"] {
            let why = format!("unknown {name}");
            let w = l.warnings.iter().find(|w| w.message.contains(&why));
            let w = w.unwrap_or_else(|| panic!("{name}: {:?}", l.warnings));
            assert!(
                w.message.ends_with(&format!(
                    "; the include on line {line} matched no file here and may define it on the \
                     host the file is for"
                )),
                "{w}"
            );
        }
        assert_eq!(l.config.instances[0].track_script[0].name, "chk_elsewhere");
        assert_eq!(l.config.vrrp_sync_group[0].group, ["VI_1", "VI_3"]);
    }

    #[test]
    fn bad_tracking_values_are_named() {
        for (from, to, expect) in [
            (
                "weight -20",
                "weight -300",
                "weight must be a whole number from -253 to 253",
            ),
            (
                "fall 2",
                "fall 0",
                "fall must be a whole number of at least 1",
            ),
            (
                "interval 1",
                "interval soon",
                "interval must be seconds above 0",
            ),
            (
                "/bin/true -x",
                "/no/such/check -x",
                "/no/such/check: No such file",
            ),
            (
                "notify /bin/echo",
                "notify nosuchprogramxyz",
                "`nosuchprogramxyz` is not found in PATH",
            ),
            (
                "VI_2\n }",
                "VI_3\n }",
                "vrrp_sync_group VG: unknown vrrp_instance `VI_3`",
            ),
            (
                "script_user root",
                "script_user nosuchuserxyz",
                "no such user `nosuchuserxyz`",
            ),
            (
                "eth1 weight -10",
                "eth1 wieght -10",
                "expected `eth1 weight W`",
            ),
        ] {
            let text = KA.replace(from, to);
            assert_ne!(text, KA, "{from}");
            let e = load(&text, "t.conf").expect_err(to).to_string();
            assert!(e.contains(expect), "{to}: {e}");
        }
    }
}
