//! The forwarding threads. Each runs its own single-threaded tokio runtime with its own
//! listening socket per virtual server (SO_REUSEPORT: the kernel spreads new connections
//! over them), so connections never move between threads and the daemon's runtime, where
//! VRRP runs, never waits behind a busy forwarder.
//!
//! The daemon tells the workers what to serve through a channel each: a listener to start
//! accepting on, a listener to retire (its open connections finish), or stop. Stopping
//! drops a worker's runtime, and with it every connection still open there.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::warn;

use super::pool::PoolCell;
use super::{LbOptions, busy, proxy};

enum Command {
    /// Accept on `listener` (one of the virtual server's, bound already) for `pool`.
    Serve {
        id: u64,
        listener: std::net::TcpListener,
        pool: Arc<PoolCell>,
    },
    /// Stop accepting for `id`; its connections finish.
    Retire { id: u64 },
}

/// The running forwarding threads.
pub(super) struct Workers {
    commands: Vec<mpsc::UnboundedSender<Command>>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `options.threads` threads (at least one), each idle until told to serve, each
    /// with a clock that ticks every `options.tick`, and busy polling as `options` say.
    pub(super) fn spawn(options: &LbOptions) -> io::Result<Workers> {
        let mut workers = Workers {
            commands: Vec::new(),
            threads: Vec::new(),
        };
        let (tick, busy_poll) = (options.tick, options.busy_poll);
        for i in 0..options.threads.max(1) {
            let mut builder = tokio::runtime::Builder::new_current_thread();
            builder.enable_io().enable_time();
            if !busy_poll.is_zero() {
                let busy_sleep = busy_poll * busy::BUSY_SLEEP;
                builder
                    .on_thread_park(busy::parking)
                    .on_thread_unpark(move || busy::unparked(busy_sleep));
            }
            let runtime = builder.build()?;
            let (tx, rx) = mpsc::unbounded_channel();
            let thread = std::thread::Builder::new()
                .name(format!("vipd-lb-{i}"))
                .spawn(move || runtime.block_on(run(rx, tick, busy_poll)))?;
            workers.commands.push(tx);
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    /// Hands one listener to each thread (as many listeners as threads).
    pub(super) fn serve(
        &self,
        id: u64,
        listeners: Vec<std::net::TcpListener>,
        pool: &Arc<PoolCell>,
    ) {
        for (tx, listener) in self.commands.iter().zip(listeners) {
            let _ = tx.send(Command::Serve {
                id,
                listener,
                pool: pool.clone(),
            });
        }
    }

    /// Closes the listeners of `id` on every thread.
    pub(super) fn retire(&self, id: u64) {
        for tx in &self.commands {
            let _ = tx.send(Command::Retire { id });
        }
    }

    /// Ends every thread, closing every connection, and waits for them.
    pub(super) fn stop(self) {
        drop(self.commands);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// One thread's life: serve what it is told until its channel closes.
async fn run(mut commands: mpsc::UnboundedReceiver<Command>, tick: Duration, busy_poll: Duration) {
    let mut accepting = HashMap::new();
    if !busy_poll.is_zero() {
        tokio::spawn(busy::poll_while_busy(busy_poll));
    }
    // The clock every connection of this thread checks its idleness by.
    let (clock, ticks) = watch::channel(tick);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(tick).await;
            clock.send_modify(|_| {});
        }
    });
    while let Some(command) = commands.recv().await {
        match command {
            Command::Serve { id, listener, pool } => match TcpListener::from_std(listener) {
                Ok(l) => {
                    accepting.insert(id, tokio::spawn(proxy::serve(l, pool, ticks.clone())));
                }
                Err(e) => warn!("forwarder thread: cannot poll a listener: {e}"),
            },
            Command::Retire { id } => {
                if let Some(task) = accepting.remove(&id) {
                    task.abort();
                }
            }
        }
    }
}
