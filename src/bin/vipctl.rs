//! `vipctl`, the operator's CLI: asks a running `vipd` over its control socket, and checks or
//! converts configuration files without one (`check-config`, `convert`: no socket needed).
//!
//! Exit status: 0 on success, 1 when vipd refuses or fails the request, 2 on a usage error or
//! an invalid configuration, 3 when vipd cannot be reached, 4 when the request needs root or
//! the socket group.

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use vipd::cli::{OnOff, VipctlArgs, VipctlCommand};
use vipd::config::{self, HostChecks, LoadOptions, Loaded};
use vipd::control::client::{self, ClientError};
use vipd::control::proto::{Request, Response};
use vipd::control::render;

fn main() -> ExitCode {
    let args = VipctlArgs::parse();
    let socket = args.socket.as_path();
    match args.command {
        VipctlCommand::CheckConfig {
            file,
            config_id,
            offline,
        } => {
            let host_checks = if offline {
                HostChecks::None
            } else {
                HostChecks::Programs
            };
            match load(&file, config_id, host_checks) {
                Some(loaded) => {
                    println!(
                        "{}: valid: {} vrrp_instance(s), {} warning(s)",
                        file.display(),
                        loaded.config.instances.len(),
                        loaded.warnings.len()
                    );
                    ExitCode::SUCCESS
                }
                None => ExitCode::from(2),
            }
        }
        VipctlCommand::Convert { file, config_id } => {
            let Some(loaded) = load(&file, config_id, HostChecks::Programs) else {
                return ExitCode::from(2);
            };
            match config::convert::to_toml(&loaded, &file) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("vipctl: {}: {e}", file.display());
                    ExitCode::from(2)
                }
            }
        }
        VipctlCommand::Status { json } => ask(socket, &Request::Status, |response| {
            let Response::Status(status) = response else {
                return None;
            };
            if json {
                match serde_json::to_string_pretty(&status) {
                    Ok(text) => println!("{text}"),
                    Err(e) => eprintln!("vipctl: {e}"),
                }
            } else {
                print!("{}", render::status(&status, std::time::SystemTime::now()));
            }
            Some(ExitCode::SUCCESS)
        }),
        VipctlCommand::Watch { json } => {
            let printed = client::watch(socket, |event| {
                let line = if json {
                    serde_json::to_string(event).unwrap_or_default()
                } else {
                    render::event(event)
                };
                // Stop quietly when the reader (`head`, a closed pipe) goes away.
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
            });
            match printed {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => client_error(&e),
            }
        }
        VipctlCommand::Reload => ask_within(socket, &Request::Reload, None, |response| {
            let Response::Reloaded(summary) = response else {
                return None;
            };
            print!("{}", render::reload(&summary));
            Some(ExitCode::SUCCESS)
        }),
        VipctlCommand::Handover { instance } => {
            let request = Request::Handover { instance };
            ask_within(socket, &request, None, |response| {
                let Response::HandedOver { results } = response else {
                    return None;
                };
                print!("{}", render::handover(&results));
                // Nothing to hand over is not a failure; a timeout or an interruption is.
                let failed = results
                    .iter()
                    .any(|r| !matches!(r.outcome.as_str(), "released" | "not_master"));
                Some(if failed || results.is_empty() {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                })
            })
        }
        VipctlCommand::Upgrade => {
            let asked = ask(socket, &Request::Upgrade, |response| {
                let Response::Upgrading { exe, pid } = response else {
                    return None;
                };
                println!("vipd (pid {pid}) is re-executing {exe}");
                Some(ExitCode::SUCCESS)
            });
            if asked != ExitCode::SUCCESS {
                return asked;
            }
            wait_until_back(socket)
        }
        VipctlCommand::Maint { mode, instance } => {
            let on = mode == OnOff::On;
            ask(socket, &Request::Maintenance { on, instance }, |response| {
                let Response::Maintenance { on, instances } = response else {
                    return None;
                };
                let what = if on {
                    "on (VRRP: stays backup, a master hands over first; route instances: routes withdrawn)"
                } else {
                    "off"
                };
                println!("maintenance {what}: {}", instances.join(", "));
                Some(ExitCode::SUCCESS)
            })
        }
    }
}

/// After `vipctl upgrade`: waits (10 s at most) until the new binary answers a status request.
fn wait_until_back(socket: &Path) -> ExitCode {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let timeout = Some(std::time::Duration::from_secs(1));
        if let Ok(Response::Status(status)) =
            client::request_within(socket, &Request::Status, timeout)
        {
            println!(
                "vipd is back (pid {}): {} instance(s)",
                status.pid,
                status.instances.len()
            );
            return ExitCode::SUCCESS;
        }
    }
    eprintln!("vipctl: vipd did not answer within 10 s of re-executing; see its log");
    ExitCode::from(1)
}

/// Sends `request` (answered within the default timeout) and lets `show` print the answer.
fn ask(
    socket: &Path,
    request: &Request,
    show: impl FnOnce(Response) -> Option<ExitCode>,
) -> ExitCode {
    ask_within(socket, request, Some(client::DEFAULT_TIMEOUT), show)
}

/// As [`ask`], waiting at most `timeout` (`None`: until vipd answers). `show` returns `None`
/// for an answer that does not fit the request.
fn ask_within(
    socket: &Path,
    request: &Request,
    timeout: Option<std::time::Duration>,
    show: impl FnOnce(Response) -> Option<ExitCode>,
) -> ExitCode {
    match client::request_within(socket, request, timeout) {
        Ok(Response::Error { message }) => {
            eprintln!("vipctl: vipd says: {message}");
            ExitCode::from(1)
        }
        Ok(Response::Denied { message }) => {
            eprintln!("vipctl: vipd says: {message}");
            ExitCode::from(4)
        }
        Ok(response) => {
            let text = format!("{response:?}");
            show(response).unwrap_or_else(|| {
                eprintln!("vipctl: unexpected answer from vipd: {text}");
                ExitCode::from(1)
            })
        }
        Err(e) => client_error(&e),
    }
}

fn client_error(e: &ClientError) -> ExitCode {
    eprintln!("vipctl: {e}");
    match e {
        ClientError::Unreachable { .. } => ExitCode::from(3),
        ClientError::Protocol(_) => ExitCode::from(1),
    }
}

fn load(file: &Path, config_id: Option<String>, host_checks: HostChecks) -> Option<Loaded> {
    let mut options = LoadOptions {
        host_checks,
        ..LoadOptions::default()
    };
    if config_id.is_some() {
        options.config_id = config_id;
    }
    match config::load_with(file, &options) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("warning: {w}");
            }
            Some(loaded)
        }
        Err(e) => {
            for d in &e.diagnostics {
                eprintln!("error: {d}");
            }
            eprintln!(
                "vipctl: {} is not a valid configuration: {} error(s)",
                file.display(),
                e.diagnostics.len()
            );
            None
        }
    }
}
