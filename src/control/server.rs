//! The daemon's side of the control socket: reads (status, watch) are answered here from the
//! instances' shared status, checking VIP presence against the kernel at the time of asking;
//! requests that change state are checked against [`Access`] and passed to the daemon's loop
//! as [`DaemonRequest`]s, which owns the instances.

use std::io;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::control::access::Access;
use crate::control::proto::{Event, Request, Response, SCHEMA_VERSION, Status};
use crate::net::addr::Netlink;
use crate::vrrp::instance::SharedStatus;

/// What the server needs of one instance.
#[derive(Clone)]
pub struct InstanceView {
    /// The status the instance publishes.
    pub status: SharedStatus,
    /// (interface index, address) of each VIP, in status order.
    pub vips: Vec<(u32, Ipv4Addr)>,
}

/// The running set of instances; replaced by the daemon on reload.
#[derive(Clone, Default)]
pub struct Instances {
    /// `router_id` from the config.
    pub router_id: Option<String>,
    /// The instances, in config order.
    pub list: Vec<InstanceView>,
}

/// Everything status readers (the control socket, the metrics page) read.
#[derive(Clone)]
pub struct View {
    /// The instances, shared with the daemon, which swaps them on reload.
    pub instances: Arc<RwLock<Instances>>,
    /// For checking VIP presence.
    pub netlink: Netlink,
}

impl View {
    /// A status snapshot of every instance, VIP presence read from the kernel now.
    pub async fn snapshot(&self) -> Status {
        let current = self
            .instances
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut instances = Vec::with_capacity(current.list.len());
        for inst in &current.list {
            let mut snapshot = inst
                .status
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            for (vip, &(ifindex, addr)) in snapshot.vips.iter_mut().zip(&inst.vips) {
                vip.present = self
                    .netlink
                    .has_address(ifindex, addr)
                    .await
                    .unwrap_or(false);
            }
            instances.push(snapshot);
        }
        Status {
            version: SCHEMA_VERSION,
            router_id: current.router_id,
            pid: std::process::id(),
            instances,
        }
    }
}

/// A request that changes state, handed to the daemon's loop, with where to answer.
pub struct DaemonRequest {
    /// Reload, handover or maintenance.
    pub request: Request,
    /// The answer for the client.
    pub reply: oneshot::Sender<Response>,
}

/// Everything the server works with.
#[derive(Clone)]
pub struct Context {
    /// What status reads.
    pub view: View,
    /// Transitions, for watchers.
    pub events: broadcast::Sender<Event>,
    /// The daemon's loop, for requests that change state.
    pub daemon: mpsc::Sender<DaemonRequest>,
    /// Who may change state.
    pub access: Access,
}

/// A bound control socket; the file is removed when this is dropped.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds the socket at `path` (mode 0660, group `gid` when given), creating its
    /// directory. A stale socket file is replaced; one that another daemon still answers on
    /// is an error.
    pub async fn bind(path: &Path, gid: Option<u32>) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        if path.exists() {
            if UnixStream::connect(path).await.is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another vipd is already answering on it",
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        let socket = Self {
            listener,
            path: path.to_path_buf(),
        };
        if let Some(gid) = gid {
            nix::unistd::chown(path, None, Some(nix::unistd::Gid::from_raw(gid)))
                .map_err(io::Error::from)?;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
        Ok(socket)
    }

    /// Serves clients until the task is dropped.
    pub async fn serve(&self, ctx: Context) {
        loop {
            match self.listener.accept().await {
                Ok((stream, _)) => {
                    let ctx = ctx.clone();
                    tokio::spawn(async move {
                        if let Err(e) = handle(stream, &ctx).await {
                            debug!("control client: {e}");
                        }
                    });
                }
                Err(e) => {
                    warn!("control socket {}: accept failed: {e}", self.path.display());
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn send(write: &mut OwnedWriteHalf, response: &Response) -> io::Result<()> {
    let mut out = serde_json::to_vec(response).map_err(io::Error::other)?;
    out.push(b'\n');
    write.write_all(&out).await
}

async fn handle(stream: UnixStream, ctx: &Context) -> io::Result<()> {
    let cred = stream.peer_cred()?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        let request = match serde_json::from_str::<Request>(&line) {
            Ok(r) => r,
            Err(e) => {
                let message = format!("bad request: {e}");
                send(&mut write, &Response::Error { message }).await?;
                continue;
            }
        };
        if request.changes_state()
            && let Err(message) = ctx.access.may_change_state(&cred)
        {
            warn!(
                "control: refused {request:?} from uid {} (pid {:?})",
                cred.uid(),
                cred.pid()
            );
            send(&mut write, &Response::Denied { message }).await?;
            continue;
        }
        let response = match request {
            Request::Status => Response::Status(ctx.view.snapshot().await),
            Request::Watch => return watch(lines, write, ctx).await,
            request => {
                info!("control: {request:?} from uid {}", cred.uid());
                let (reply, answer) = oneshot::channel();
                let asked = ctx.daemon.send(DaemonRequest { request, reply }).await;
                match (asked, answer.await) {
                    (Ok(()), Ok(response)) => response,
                    _ => Response::Error {
                        message: "vipd is shutting down".into(),
                    },
                }
            }
        };
        send(&mut write, &response).await?;
    }
    Ok(())
}

/// Streams transitions until the client hangs up.
async fn watch(
    mut lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    mut write: OwnedWriteHalf,
    ctx: &Context,
) -> io::Result<()> {
    let mut events = ctx.events.subscribe();
    send(&mut write, &Response::Watching).await?;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => send(&mut write, &Response::Event(event)).await?,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let message = format!("watch fell behind: {n} event(s) lost");
                    send(&mut write, &Response::Error { message }).await?;
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            // Anything from the client, or its hang-up, ends the stream.
            line = lines.next_line() => {
                if !matches!(line, Ok(Some(_))) {
                    return Ok(());
                }
            }
        }
    }
}
