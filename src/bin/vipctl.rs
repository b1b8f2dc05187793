//! `vipctl`, the operator's CLI: asks a running `vipd` over its control socket, and checks or
//! converts configuration files offline (`check-config`, `convert`: no socket needed).
//!
//! Exit status: 0 on success, 2 on a usage error or an invalid configuration, 3 when vipd
//! cannot be reached.

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use vipd::cli::{VipctlArgs, VipctlCommand};
use vipd::config::{self, LoadOptions, Loaded};
use vipd::control::client::{self, ClientError};
use vipd::control::proto::{Request, Response};
use vipd::control::render;

fn main() -> ExitCode {
    let args = VipctlArgs::parse();
    match args.command {
        VipctlCommand::CheckConfig { file, config_id } => match load(&file, config_id) {
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
        },
        VipctlCommand::Convert { file, config_id } => {
            let Some(loaded) = load(&file, config_id) else {
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
        VipctlCommand::Status { json } => match client::request(&args.socket, &Request::Status) {
            Ok(Response::Status(status)) => {
                if json {
                    match serde_json::to_string_pretty(&status) {
                        Ok(text) => println!("{text}"),
                        Err(e) => {
                            eprintln!("vipctl: {e}");
                            return ExitCode::from(1);
                        }
                    }
                } else {
                    print!("{}", render::status(&status, std::time::SystemTime::now()));
                }
                ExitCode::SUCCESS
            }
            Ok(Response::Error { message }) => {
                eprintln!("vipctl: vipd says: {message}");
                ExitCode::from(1)
            }
            Err(e @ ClientError::Unreachable { .. }) => {
                eprintln!("vipctl: {e}");
                ExitCode::from(3)
            }
            Err(e) => {
                eprintln!("vipctl: {e}");
                ExitCode::from(1)
            }
        },
    }
}

/// Loads `file` as vipd would; prints warnings, or the errors and `None`, on stderr.
fn load(file: &Path, config_id: Option<String>) -> Option<Loaded> {
    let mut options = LoadOptions::default();
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
