//! The daemon's side of the control socket: answers [`Request`]s from the instances' shared
//! status, checking VIP presence against the kernel at the time of asking.

use std::io;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::{debug, warn};

use crate::control::proto::{Request, Response, SCHEMA_VERSION, Status};
use crate::lb::LbView;
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

/// Everything the server reads.
#[derive(Clone)]
pub struct View {
    /// `router_id` from the config.
    pub router_id: Option<String>,
    /// The instances, in config order.
    pub instances: Vec<InstanceView>,
    /// For checking VIP presence.
    pub netlink: Netlink,
    /// The virtual servers' state.
    pub lb: LbView,
}

/// A bound control socket; the file is removed when this is dropped.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds the socket at `path` (mode 0660), creating its directory. A stale socket file
    /// is replaced; one that another daemon still answers on is an error.
    pub async fn bind(path: &Path) -> io::Result<Self> {
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
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
        Ok(Self {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// Serves clients until the task is dropped.
    pub async fn serve(&self, view: View) {
        loop {
            match self.listener.accept().await {
                Ok((stream, _)) => {
                    let view = view.clone();
                    tokio::spawn(async move {
                        if let Err(e) = handle(stream, &view).await {
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

async fn handle(stream: UnixStream, view: &View) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        let response = match serde_json::from_str::<Request>(&line) {
            Ok(Request::Status) => Response::Status(status(view).await),
            Err(e) => Response::Error {
                message: format!("bad request: {e}"),
            },
        };
        let mut out = serde_json::to_vec(&response).map_err(io::Error::other)?;
        out.push(b'\n');
        write.write_all(&out).await?;
    }
    Ok(())
}

async fn status(view: &View) -> Status {
    let mut instances = Vec::with_capacity(view.instances.len());
    for inst in &view.instances {
        let mut snapshot = inst
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for (vip, &(ifindex, addr)) in snapshot.vips.iter_mut().zip(&inst.vips) {
            vip.present = view
                .netlink
                .has_address(ifindex, addr)
                .await
                .unwrap_or(false);
        }
        instances.push(snapshot);
    }
    Status {
        version: SCHEMA_VERSION,
        router_id: view.router_id.clone(),
        pid: std::process::id(),
        instances,
        virtual_servers: view.lb.status(),
    }
}
