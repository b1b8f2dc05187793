//! `vipctl`, the operator's CLI: asks a running `vipd` over its control socket.
//!
//! Exit status: 0 on success, 2 on a usage error, 3 when vipd cannot be reached.

use std::process::ExitCode;

use clap::Parser;
use vipd::cli::{VipctlArgs, VipctlCommand};
use vipd::control::client::{self, ClientError};
use vipd::control::proto::{Request, Response};
use vipd::control::render;

fn main() -> ExitCode {
    let args = VipctlArgs::parse();
    match args.command {
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
