//! `vipctl`, the operator's CLI: asks a running `vipd` over its control socket.
//!
//! Exit status: 0 on success, 2 on a usage error, 3 when vipd cannot be reached.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vipd::control::DEFAULT_SOCKET;
use vipd::control::client::{self, ClientError};
use vipd::control::proto::{Request, Response};
use vipd::control::render;

/// Operate a running vipd: show its VRRP instances, their state and counters.
#[derive(Parser, Debug)]
#[command(name = "vipctl", version)]
struct Args {
    /// Control socket of the vipd to talk to.
    #[arg(long, value_name = "PATH", env = "VIPD_SOCKET", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Show every instance: state, master, VIPs (checked in the kernel), last transition,
    /// counters.
    Status {
        /// Print JSON (schema version 1, see README) instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        Cmd::Status { json } => match client::request(&args.socket, &Request::Status) {
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
