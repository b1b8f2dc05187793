//! The daemon's side of the control socket: reads (status, watch) are answered here from the
//! instances' shared status, checking VIP presence against the kernel at the time of asking;
//! requests that change state are checked against [`Access`] and passed to the daemon's loop
//! as [`DaemonRequest`]s, which owns the instances.
//!
//! Anyone allowed to open the socket may read, so what a client can hold is bounded
//! (`Limits`): the length of a request line, the time to send one or read an answer, the
//! connections open at once; refusals are logged at most once per 10 s with a count.

use std::io;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::control::access::Access;
use crate::control::proto::{Event, Request, Response, SCHEMA_VERSION, Status};
use crate::lb::LbView;
use crate::net::addr::Netlink;
use crate::ratelimit::{LogLimit, held_back};
use crate::status::{RouteInstanceStatus, SharedRouteStatus, SharedStatus};

/// What the server needs of one instance.
#[derive(Clone)]
pub(crate) struct InstanceView {
    /// The status the instance publishes.
    pub(crate) status: SharedStatus,
    /// (interface index, address) of each VIP, in status order.
    pub(crate) vips: Vec<(u32, IpAddr)>,
}

/// The running set of instances; replaced by the daemon on reload.
#[derive(Clone, Default)]
pub(crate) struct Instances {
    /// `router_id` from the config.
    pub(crate) router_id: Option<String>,
    /// The instances, in config order.
    pub(crate) list: Vec<InstanceView>,
    /// The route instances, in config order.
    pub(crate) routes: Vec<SharedRouteStatus>,
}

/// Everything status readers (the control socket, the metrics page) read.
#[derive(Clone)]
pub(crate) struct View {
    /// The instances, shared with the daemon, which swaps them on reload.
    pub(crate) instances: Arc<RwLock<Instances>>,
    /// For checking VIP presence.
    pub(crate) netlink: Netlink,
    /// The virtual servers' state.
    pub(crate) lb: LbView,
}

impl View {
    /// A status snapshot of every instance, VIP presence read from the kernel now.
    pub(crate) async fn snapshot(&self) -> Status {
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
        let mut route_instances = Vec::with_capacity(current.routes.len());
        let mut tables = std::collections::HashMap::new();
        for shared in &current.routes {
            let mut r = shared.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let std::collections::hash_map::Entry::Vacant(e) = tables.entry(r.table) {
                e.insert(self.netlink.vipd_routes(r.table).await.ok());
            }
            if let Some(Some(kernel)) = tables.get(&r.table) {
                in_kernel(&mut r, kernel);
            }
            route_instances.push(r);
        }
        Status {
            version: SCHEMA_VERSION,
            router_id: current.router_id,
            pid: std::process::id(),
            instances,
            virtual_servers: self.lb.status(),
            route_instances,
        }
    }
}

/// Each route of `r` as the kernel has it: announced when vipd's route to the VIP is in the
/// table (the lowest metric if a move left two for a moment).
fn in_kernel(r: &mut RouteInstanceStatus, kernel: &[crate::net::route::HostRoute]) {
    for route in &mut r.routes {
        route.metric = (kernel.iter())
            .filter(|k| format!("{}/{}", k.addr, k.prefix_len) == route.prefix)
            .map(|k| k.metric)
            .min();
        route.announced = route.metric.is_some();
    }
}

/// A request that changes state, handed to the daemon's loop, with where to answer.
pub(crate) struct DaemonRequest {
    /// Reload, handover or maintenance.
    pub(crate) request: Request,
    /// The answer for the client.
    pub(crate) reply: oneshot::Sender<Response>,
}

/// Everything the server works with.
#[derive(Clone)]
pub(crate) struct Context {
    /// What status reads.
    pub(crate) view: View,
    /// Transitions, for watchers.
    pub(crate) events: broadcast::Sender<Event>,
    /// The daemon's loop, for requests that change state.
    pub(crate) daemon: mpsc::Sender<DaemonRequest>,
    /// Who may change state.
    pub(crate) access: Access,
}

/// What one client may hold of the daemon. Anyone who can open the socket may read, so
/// none of it may grow with what a client sends or how long it waits.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// The longest request line; a longer one is answered with an error and the connection
    /// closed, after reading no more than this.
    max_request: usize,
    /// How long reading one request, or writing one answer, may take. A watch stream, once
    /// asked for, waits for events as long as it likes (its writes stay bounded).
    idle: Duration,
    /// Connections served at once, watch streams included; more are refused.
    max_clients: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // A request is a few dozen bytes; this leaves room for any instance name.
            max_request: 64 * 1024,
            idle: Duration::from_secs(5),
            max_clients: 32,
        }
    }
}

/// Log lines a client can trigger, each at most once per [`LOG_WINDOW`].
struct Logs {
    /// Connections refused because [`Limits::max_clients`] were open.
    busy: LogLimit,
    /// Requests refused by [`Access`].
    denied: LogLimit,
    /// accept(2) failures (descriptors run out, say), retried every 100 ms.
    accept: LogLimit,
}

const LOG_WINDOW: Duration = Duration::from_secs(10);

impl Logs {
    const fn new() -> Self {
        Self {
            busy: LogLimit::new(LOG_WINDOW),
            denied: LogLimit::new(LOG_WINDOW),
            accept: LogLimit::new(LOG_WINDOW),
        }
    }
}

/// A bound control socket; the file is removed when this is dropped.
pub(crate) struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
    limits: Limits,
}

impl ControlSocket {
    /// Binds the socket at `path` (mode 0660, group `gid` when given), creating its
    /// directory. A stale socket file is replaced; one that another daemon still answers on
    /// is an error.
    pub(crate) async fn bind(path: &Path, gid: Option<u32>) -> io::Result<Self> {
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
            limits: Limits::default(),
        };
        if let Some(gid) = gid {
            std::os::unix::fs::chown(path, None, Some(gid))?;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
        Ok(socket)
    }

    /// Serves clients until the task is dropped, `max_clients` of them at a time.
    pub(crate) async fn serve(&self, ctx: Context) {
        let limits = self.limits;
        let slots = Arc::new(Semaphore::new(limits.max_clients));
        let logs = Arc::new(Logs::new());
        loop {
            match self.listener.accept().await {
                Ok((stream, _)) => {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        refuse_busy(&stream, limits.max_clients, &logs);
                        continue;
                    };
                    let (ctx, logs) = (ctx.clone(), logs.clone());
                    tokio::spawn(async move {
                        if let Err(e) = handle(stream, &ctx, limits, &logs).await {
                            debug!("control client: {e}");
                        }
                        drop(slot);
                    });
                }
                Err(e) => {
                    if let Some(n) = logs.accept.allow(Instant::now()) {
                        warn!(
                            "control socket {}: accept failed: {e}; retrying every 100 ms{}",
                            self.path.display(),
                            held_back(n)
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Tells a client over the limit why it is turned away, without waiting for it (a new
/// socket's buffer has room for the line), and closes it.
fn refuse_busy(stream: &UnixStream, max: usize, logs: &Logs) {
    let message = format!("vipd is busy: {max} control connections are open; try again");
    if let Ok(mut line) = serde_json::to_vec(&Response::Error { message }) {
        line.push(b'\n');
        let _ = stream.try_write(&line);
    }
    if let Some(n) = logs.busy.allow(Instant::now()) {
        let who = stream
            .peer_cred()
            .map_or_else(|_| "a client".into(), |c| format!("uid {}", c.uid()));
        warn!(
            "control socket: refused a connection from {who}: {max} connections are open \
             already (watch streams count){}",
            held_back(n)
        );
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes one answer, within [`Limits::idle`]: a client that does not read is dropped.
async fn send(write: &mut OwnedWriteHalf, response: &Response, limits: Limits) -> io::Result<()> {
    let mut out = serde_json::to_vec(response).map_err(io::Error::other)?;
    out.push(b'\n');
    match tokio::time::timeout(limits.idle, write.write_all(&out)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("answer not read within {:?}", limits.idle),
        )),
    }
}

/// What reading one request line found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A line (its newline taken off), or the last bytes before the client's end.
    Request,
    /// More than the limit without a newline: nothing past the limit was read.
    TooLong,
    /// The client hung up.
    End,
}

/// Reads one request line into `buf`, never more than `max` bytes of it.
pub(crate) async fn read_request<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Line> {
    buf.clear();
    let n = (&mut *reader)
        .take(max as u64 + 1)
        .read_until(b'\n', buf)
        .await?;
    if n == 0 {
        return Ok(Line::End);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(Line::Request);
    }
    Ok(if buf.len() > max {
        Line::TooLong
    } else {
        Line::Request
    })
}

async fn handle(stream: UnixStream, ctx: &Context, limits: Limits, logs: &Logs) -> io::Result<()> {
    let cred = stream.peer_cred()?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        let read = read_request(&mut reader, &mut line, limits.max_request);
        let message = match tokio::time::timeout(limits.idle, read).await {
            Ok(Ok(Line::Request)) => None,
            Ok(Ok(Line::End)) => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(Line::TooLong)) => Some(format!(
                "request longer than {} bytes; closing",
                limits.max_request
            )),
            Err(_) => Some(format!(
                "no complete request within {:?}; closing",
                limits.idle
            )),
        };
        if let Some(message) = message {
            debug!("control client uid {}: {message}", cred.uid());
            return send(&mut write, &Response::Error { message }, limits).await;
        }
        let request = match serde_json::from_slice::<Request>(&line) {
            Ok(r) => r,
            Err(e) => {
                let message = format!("bad request: {e}");
                send(&mut write, &Response::Error { message }, limits).await?;
                continue;
            }
        };
        if request.changes_state()
            && let Err(message) = ctx.access.may_change_state(&cred)
        {
            if let Some(n) = logs.denied.allow(Instant::now()) {
                warn!(
                    "control: refused {request:?} from uid {} (pid {:?}){}",
                    cred.uid(),
                    cred.pid(),
                    held_back(n)
                );
            }
            send(&mut write, &Response::Denied { message }, limits).await?;
            continue;
        }
        let response = match request {
            Request::Status => Response::Status(ctx.view.snapshot().await),
            Request::Watch => return watch(reader, write, ctx, limits).await,
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
        send(&mut write, &response, limits).await?;
    }
}

/// Streams transitions until the client hangs up or sends anything.
async fn watch(
    mut reader: BufReader<OwnedReadHalf>,
    mut write: OwnedWriteHalf,
    ctx: &Context,
    limits: Limits,
) -> io::Result<()> {
    let mut events = ctx.events.subscribe();
    send(&mut write, &Response::Watching, limits).await?;
    let mut byte = [0u8; 1];
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => send(&mut write, &Response::Event(event), limits).await?,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let message = format!("watch fell behind: {n} event(s) lost");
                    send(&mut write, &Response::Error { message }, limits).await?;
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            // Anything from the client, or its hang-up, ends the stream; one byte is read,
            // so nothing it sends is kept.
            _ = reader.read(&mut byte) => return Ok(()),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use tokio::io::Lines;
    use tokio::time::timeout;

    /// A control socket served in a tempdir, with no instances and no daemon behind it
    /// (requests that change state are answered "shutting down").
    struct Served {
        dir: tempfile::TempDir,
        path: PathBuf,
        events: broadcast::Sender<Event>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Served {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn serve(limits: Limits) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vipd.sock");
        let mut socket = ControlSocket::bind(&path, None).await.unwrap();
        socket.limits = limits;
        let (events, _) = broadcast::channel(4);
        let (daemon, _) = mpsc::channel(1);
        let ctx = Context {
            view: View {
                instances: Arc::default(),
                netlink: Netlink::connect().unwrap(),
                lb: LbView::default(),
            },
            events: events.clone(),
            daemon,
            access: Access::default(),
        };
        let task = tokio::spawn(async move { socket.serve(ctx).await });
        Served {
            dir,
            path,
            events,
            task,
        }
    }

    const WAIT: Duration = Duration::from_secs(5);

    type Reader = Lines<BufReader<OwnedReadHalf>>;

    async fn connect(path: &Path) -> (Reader, OwnedWriteHalf) {
        let (read, write) = UnixStream::connect(path).await.unwrap().into_split();
        (BufReader::new(read).lines(), write)
    }

    /// The next answer, within [`WAIT`]; `None` when the server closed the connection.
    async fn answer(lines: &mut Reader) -> Option<Response> {
        let line = timeout(WAIT, lines.next_line())
            .await
            .expect("an answer or a close within 5 s");
        line.ok()
            .flatten()
            .map(|l| serde_json::from_str(&l).unwrap())
    }

    async fn status_works(path: &Path) -> bool {
        let (mut lines, mut write) = connect(path).await;
        let _ = write.write_all(b"{\"cmd\":\"status\"}\n").await;
        matches!(answer(&mut lines).await, Some(Response::Status(_)))
    }

    fn error_message(r: Option<Response>) -> String {
        match r {
            Some(Response::Error { message }) => message,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_request_line_over_the_limit_gets_an_error_and_is_not_read_whole() {
        let s = serve(Limits::default()).await;
        let (mut lines, mut write) = connect(&s.path).await;
        // 10 MiB and no newline: the old server buffered it all, waiting for the line's end.
        let writer = tokio::spawn(async move {
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < 10 << 20 {
                match write.write(&chunk).await {
                    Ok(n) => sent += n,
                    Err(_) => break,
                }
            }
            sent
        });
        let message = error_message(answer(&mut lines).await);
        assert!(message.contains("longer than 65536 bytes"), "{message}");
        assert!(answer(&mut lines).await.is_none(), "then it closes");
        let sent = timeout(WAIT, writer)
            .await
            .expect("the writer fails once the server has closed")
            .unwrap();
        // What the server read (64 KiB) plus what the socket buffers hold.
        assert!(sent < 1 << 20, "{sent} bytes were taken of a 10 MiB line");
        assert!(status_works(&s.path).await, "others are still served");
    }

    #[tokio::test]
    async fn silent_and_unfinished_requests_are_closed_after_the_idle_time_watch_is_not() {
        let idle = Duration::from_millis(300);
        let s = serve(Limits {
            idle,
            ..Limits::default()
        })
        .await;
        let start = Instant::now();
        let (mut silent, _w1) = connect(&s.path).await;
        let (mut unfinished, mut w2) = connect(&s.path).await;
        w2.write_all(b"{\"cmd\":").await.unwrap();
        let (mut watcher, mut w3) = connect(&s.path).await;
        w3.write_all(b"{\"cmd\":\"watch\"}\n").await.unwrap();
        assert_eq!(answer(&mut watcher).await, Some(Response::Watching));

        for lines in [&mut silent, &mut unfinished] {
            let message = error_message(answer(lines).await);
            assert!(message.contains("no complete request within"), "{message}");
            assert!(answer(lines).await.is_none(), "then it closes");
        }
        let waited = start.elapsed();
        assert!(
            waited >= idle && waited < idle * 5,
            "closed after {waited:?}"
        );

        // The watch stream outlives the idle time and still gets events.
        tokio::time::sleep(idle * 2).await;
        let event = Event {
            at_unix_ms: 1,
            instance: "VI_1".into(),
            from: "BACKUP".into(),
            to: "MASTER".into(),
            reason: "test".into(),
        };
        s.events.send(event.clone()).unwrap();
        assert_eq!(answer(&mut watcher).await, Some(Response::Event(event)));
    }

    #[tokio::test]
    async fn connections_over_the_cap_are_refused_until_some_close() {
        let s = serve(Limits {
            idle: Duration::from_secs(60),
            ..Limits::default()
        })
        .await;
        let mut open = Vec::new();
        for _ in 0..32 {
            let (mut lines, mut write) = connect(&s.path).await;
            // Answered: served, and now idle, holding its place.
            write.write_all(b"{\"cmd\":\"status\"}\n").await.unwrap();
            assert!(matches!(
                answer(&mut lines).await,
                Some(Response::Status(_))
            ));
            open.push((lines, write));
        }
        let (mut lines, _write) = connect(&s.path).await;
        let message = error_message(answer(&mut lines).await);
        assert!(message.contains("32 control connections"), "{message}");
        assert!(answer(&mut lines).await.is_none(), "then it closes");

        drop(open);
        let start = Instant::now();
        while !status_works(&s.path).await {
            assert!(start.elapsed() < WAIT, "no room after the 32 closed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A log sink for one test's thread.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    const ASK_ENV: &str = "VIPD_TEST_CONTROL_SOCKET";
    const ASKS: usize = 5;

    /// Not a test: `refused_requests_are_logged_once_per_window` runs it as uid 65534.
    #[test]
    #[ignore = "run as another user by refused_requests_are_logged_once_per_window"]
    fn ask_for_a_reload_as_another_user() {
        use std::io::{BufRead, Write};
        let path = std::env::var(ASK_ENV).expect("the socket's path");
        let stream = std::os::unix::net::UnixStream::connect(path).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut lines = std::io::BufReader::new(stream.try_clone().unwrap()).lines();
        for _ in 0..ASKS {
            (&stream).write_all(b"{\"cmd\":\"reload\"}\n").unwrap();
            let line = lines.next().unwrap().unwrap();
            assert!(line.contains("denied"), "{line}");
        }
    }

    #[tokio::test]
    async fn refused_requests_are_logged_once_per_window() {
        let logs = Captured::default();
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        // The runtime is this thread's: the server's tasks log here.
        let _guard = tracing::subscriber::set_default(subscriber);
        let s = serve(Limits::default()).await;
        std::fs::set_permissions(s.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&s.path, std::fs::Permissions::from_mode(0o666)).unwrap();

        let child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .arg("control::server::test::ask_for_a_reload_as_another_user")
            .env(ASK_ENV, &s.path)
            .uid(65534)
            .gid(65534)
            .output();
        let out = timeout(Duration::from_secs(30), child)
            .await
            .expect("the other user's client finishes")
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            logged.matches("refused").count(),
            1,
            "{ASKS} refusals in a moment, one line:\n{logged}"
        );
        assert!(logged.contains("uid 65534"), "{logged}");
    }
}
