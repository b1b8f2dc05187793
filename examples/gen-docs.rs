//! Writes the man pages and shell completions of `vipd` and `vipctl`, generated from the same
//! clap types the binaries parse with ([`vipd::cli`]), into a tree laid out as they install:
//!
//! ```text
//! OUT/usr/share/man/man8/{vipd,vipctl,vipctl-SUBCOMMAND}.8
//! OUT/usr/share/bash-completion/completions/{vipd,vipctl}
//! OUT/usr/share/zsh/vendor-completions/{_vipd,_vipctl}
//! OUT/usr/share/fish/vendor_completions.d/{vipd,vipctl}.fish
//! ```
//!
//! Run: `cargo run --example gen-docs -- OUT`. `packaging/build-deb.sh` runs it into the
//! target directory and the `.deb`'s assets pick the files up by glob, so a new `vipctl`
//! subcommand gets its man page and completions without touching the packaging.
//!
//! Why an example and not `build.rs`: a build script cannot link the library whose clap types
//! it would render, and its `OUT_DIR` has a hashed path that cargo-deb's asset list cannot name.
//! An example links the library, keeps clap_mangen and clap_complete out of the shipped
//! binaries' dependencies, and is compiled by `cargo clippy/test --all-targets`, so it cannot
//! rot unseen.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Command, CommandFactory};
use clap_complete::Shell;
use vipd::cli::{VipctlArgs, VipdArgs};

/// Both binaries are system administration commands: manual section 8, like keepalived(8).
const SECTION: &str = "8";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        eprintln!("usage: gen-docs OUT_DIR");
        return ExitCode::from(2);
    };
    match generate(Path::new(&out)) {
        Ok(files) => {
            for file in files {
                println!("{}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-docs: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes every page and completion under `out`; returns the files written.
fn generate(out: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let programs = [
        (VipdArgs::command(), VIPD_SECTIONS),
        (VipctlArgs::command(), VIPCTL_SECTIONS),
    ];
    for (cmd, extra) in programs {
        let man_dir = out.join(format!("usr/share/man/man{SECTION}"));
        fs::create_dir_all(&man_dir)?;
        write_man_pages(cmd.clone(), extra, &man_dir, &mut written)?;
        write_completions(cmd, out, &mut written)?;
    }
    Ok(written)
}

/// One page for the command and one per visible subcommand (`vipctl-status.8`), recursively.
fn write_man_pages(
    cmd: Command,
    extra: &[ExtraSection],
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> io::Result<()> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    write_page(&cmd, extra, dir, written)
}

fn write_page(
    cmd: &Command,
    extra: &[ExtraSection],
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_page(sub, &[], dir, written)?;
    }
    let man = clap_mangen::Man::new(cmd.clone())
        .section(SECTION)
        .source(format!("vipd {}", env!("CARGO_PKG_VERSION")))
        .manual("System Manager's Manual");
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut page)?;
    }
    if cmd.get_after_long_help().is_some() || cmd.get_after_help().is_some() {
        man.render_extra_section(&mut page)?;
    }
    for section in extra {
        section.render(&mut page)?;
    }
    if cmd.get_version().is_some() {
        man.render_version_section(&mut page)?;
    }
    let path = dir.join(man.get_filename());
    fs::write(&path, page)?;
    written.push(path);
    Ok(())
}

/// bash, zsh and fish completions, named and placed where Debian's shells look for them.
fn write_completions(mut cmd: Command, out: &Path, written: &mut Vec<PathBuf>) -> io::Result<()> {
    let name = cmd.get_name().to_string();
    let targets = [
        (
            Shell::Bash,
            format!("usr/share/bash-completion/completions/{name}"),
        ),
        (
            Shell::Zsh,
            format!("usr/share/zsh/vendor-completions/_{name}"),
        ),
        (
            Shell::Fish,
            format!("usr/share/fish/vendor_completions.d/{name}.fish"),
        ),
    ];
    for (shell, rel) in targets {
        let path = out.join(rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, &name, &mut buf);
        fs::write(&path, buf)?;
        written.push(path);
    }
    Ok(())
}

/// A man page section that clap's types do not carry: exit status, signals, files.
struct ExtraSection {
    title: &'static str,
    /// (term, explanation) pairs, rendered as a tagged list.
    items: &'static [(&'static str, &'static str)],
}

impl ExtraSection {
    fn render(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(w, ".SH {}", self.title)?;
        for (term, text) in self.items {
            writeln!(
                w,
                ".TP\n\\fB{}\\fR\n{}",
                roff_escape(term),
                roff_escape(text)
            )?;
        }
        Ok(())
    }
}

/// Escapes text for roff: backslashes, minus signs (so they stay ASCII hyphens in a terminal
/// and searchable), and a leading dot or quote that roff would read as a request.
fn roff_escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

// Keep these true to src/cli.rs, src/bin/vipd.rs, src/bin/vipctl.rs and src/daemon/.
const VIPD_SECTIONS: &[ExtraSection] = &[
    ExtraSection {
        title: "EXIT STATUS",
        items: &[
            (
                "0",
                "Stopped cleanly after SIGTERM or SIGINT, or --check found the configuration valid.",
            ),
            (
                "1",
                "The system refused: missing privileges (CAP_NET_ADMIN, CAP_NET_RAW), a missing \
                 interface, or the control socket or a virtual_server port could not be bound.",
            ),
            (
                "2",
                "The configuration is invalid; nothing on any interface was touched.",
            ),
        ],
    },
    ExtraSection {
        title: "SIGNALS",
        items: &[
            (
                "SIGTERM, SIGINT",
                "Leave: every master sends an advert with priority 0 so a backup takes over at \
                 once, then removes its virtual IPs, then vipd exits.",
            ),
            (
                "SIGHUP",
                "Reload the configuration file, all or nothing, as vipctl reload does \
                 (systemctl reload vipd sends it). If the new file or anything it names is \
                 invalid, the running configuration stays and the log says why.",
            ),
        ],
    },
    ExtraSection {
        title: "FILES",
        items: &[
            (
                "/etc/vipd/vipd.toml",
                "The configuration the packaged systemd unit starts vipd with. A file not ending \
                 in .toml is read as keepalived.conf syntax.",
            ),
            (
                "/run/vipd/vipd.sock",
                "The control socket vipctl talks to (mode 0660, group from --socket-group; \
                 the systemd unit creates /run/vipd for the vipd user).",
            ),
        ],
    },
    ExtraSection {
        title: "SEE ALSO",
        items: &[("vipctl(8), keepalived.conf(5)", "")],
    },
];

const VIPCTL_SECTIONS: &[ExtraSection] = &[
    ExtraSection {
        title: "EXIT STATUS",
        items: &[
            ("0", "Success."),
            (
                "1",
                "vipd refused or failed the request, or the answer was unusable.",
            ),
            (
                "2",
                "Usage error, or (check-config, convert) the configuration is invalid.",
            ),
            ("3", "vipd could not be reached on its control socket."),
            (
                "4",
                "Permission denied: the command changes state (reload, handover, maint), which \
                 only root, vipd's own user and the --socket-group group may do.",
            ),
        ],
    },
    ExtraSection {
        title: "FILES",
        items: &[(
            "/run/vipd/vipd.sock",
            "The default control socket. Anyone who can open it may read (status, watch).",
        )],
    },
    ExtraSection {
        title: "SEE ALSO",
        items: &[("vipd(8)", "")],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: PathBuf) -> String {
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn writes_pages_and_completions_for_every_command() {
        let out = tempfile::tempdir().unwrap();
        let written = generate(out.path()).unwrap();
        let man = out.path().join("usr/share/man/man8");

        let vipd = read(man.join("vipd.8"));
        assert!(vipd.contains("\n.TH vipd 8 "), "{vipd}");
        for option in ["\\-\\-config", "\\-\\-socket", "\\-\\-check", "\\-\\-log"] {
            assert!(vipd.contains(option), "vipd.8 lacks {option}");
        }
        for section in ["EXIT STATUS", "SIGNALS", "FILES", "/etc/vipd/vipd.toml"] {
            assert!(vipd.contains(section), "vipd.8 lacks {section}");
        }

        // Every vipctl subcommand gets a page and is listed on vipctl.8.
        let vipctl = read(man.join("vipctl.8"));
        let subcommands: Vec<String> = VipctlArgs::command()
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .filter(|n| n != "help")
            .collect();
        assert!(!subcommands.is_empty());
        for sub in &subcommands {
            assert!(
                vipctl.contains(&format!("vipctl\\-{}(8)", roff_escape(sub))),
                "vipctl.8 lacks {sub}"
            );
            let page = read(man.join(format!("vipctl-{sub}.8")));
            assert!(page.contains(&format!("\n.TH vipctl-{sub} 8 ")), "{page}");
        }

        for name in ["vipd", "vipctl"] {
            let bash = read(
                out.path()
                    .join(format!("usr/share/bash-completion/completions/{name}")),
            );
            assert!(bash.contains(&format!("complete -F _{name}")), "{bash}");
            assert!(bash.contains("--socket"), "{bash}");
            let zsh = read(
                out.path()
                    .join(format!("usr/share/zsh/vendor-completions/_{name}")),
            );
            assert!(zsh.starts_with(&format!("#compdef {name}")), "{zsh}");
            let fish = read(
                out.path()
                    .join(format!("usr/share/fish/vendor_completions.d/{name}.fish")),
            );
            assert!(fish.contains(&format!("complete -c {name}")), "{fish}");
        }
        let bash = read(
            out.path()
                .join("usr/share/bash-completion/completions/vipctl"),
        );
        for sub in &subcommands {
            assert!(bash.contains(sub.as_str()), "bash completion lacks {sub}");
        }
        // Options of a subcommand, with their long help, are on its page and completed.
        let check_config = read(man.join("vipctl-check-config.8"));
        for text in ["\\-\\-offline", "CI", "vrrp_script", "\\-\\-config\\-id"] {
            assert!(
                check_config.contains(text),
                "vipctl-check-config.8 lacks {text}"
            );
        }
        assert!(
            bash.contains("--offline"),
            "bash completion lacks --offline"
        );
        // What it reports is exactly what is on disk (the packaging globs the tree).
        let mut on_disk = Vec::new();
        walk(out.path(), &mut on_disk);
        let mut reported = written.clone();
        reported.sort();
        on_disk.sort();
        assert_eq!(reported, on_disk);
        assert!(written.len() >= 2 + subcommands.len() + 6, "{written:?}");
    }

    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, files);
            } else {
                files.push(path);
            }
        }
    }

    #[test]
    fn roff_escape_keeps_text_literal() {
        assert_eq!(roff_escape("--check"), "\\-\\-check");
        assert_eq!(roff_escape(".toml"), "\\&.toml");
        assert_eq!(roff_escape("a\\b"), "a\\eb");
    }
}
