//! `vipd`, the agent: loads the config, then runs until SIGTERM or SIGINT; SIGHUP reloads.
//!
//! Exit status: 0 after a clean stop, 1 when the system refuses (privileges, interfaces),
//! 2 when the configuration is invalid (nothing on any interface is touched).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tracing::warn;
use vipd::cli::VipdArgs;
use vipd::lb::{LbOptions, default_threads};

fn main() -> ExitCode {
    let args = VipdArgs::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();

    let mut load_options = vipd::config::LoadOptions::default();
    if let Some(id) = &args.config_id {
        load_options.config_id = Some(id.clone());
    }
    let loaded = match vipd::config::load_with(&args.config, &load_options) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            eprintln!(
                "vipd: {} is not a valid configuration; nothing was changed",
                args.config.display()
            );
            return ExitCode::from(2);
        }
    };
    for warning in &loaded.warnings {
        warn!("{warning}");
    }
    if args.check {
        println!("{}: configuration is valid", args.config.display());
        return ExitCode::SUCCESS;
    }

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vipd: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let state_dir = match &args.state_dir {
        Some(dir) if dir.as_os_str().is_empty() => None,
        Some(dir) => Some(dir.clone()),
        None => args.socket.parent().map(std::path::Path::to_path_buf),
    };
    let options = vipd::daemon::Options {
        config_path: args.config.clone(),
        socket_path: args.socket.clone(),
        state_dir,
        exe: std::env::current_exe().ok(),
        args: std::env::args_os().skip(1).collect(),
        socket_group: args.socket_group.clone(),
        load: load_options,
        lb: lb_options(&args),
    };
    match runtime.block_on(vipd::daemon::run(loaded.config, options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vipd: {e}");
            ExitCode::from(1)
        }
    }
}

/// The forwarder's options: `--lb-threads` and `--lb-busy-poll`, or their defaults.
fn lb_options(args: &VipdArgs) -> LbOptions {
    let threads = args.lb_threads.map_or_else(default_threads, usize::from);
    let mut options = LbOptions::new(threads);
    if let Some(us) = args.lb_busy_poll {
        options.busy_poll = Duration::from_micros(us.into());
    }
    options
}
