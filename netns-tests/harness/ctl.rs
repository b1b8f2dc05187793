//! What the control-socket tests need beyond the failover harness: running `vipctl` as
//! anyone (exit status and output kept, not asserted), rewriting a node's config file for a
//! reload, watching address events in a namespace, and HTTP GETs inside a namespace.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sched::{CloneFlags, setns};

use super::{Lab, proc, vipctl_bin};

/// What one `vipctl` run did.
#[derive(Debug)]
pub struct CtlRun {
    /// Its exit code (-1 when killed by a signal).
    pub code: i32,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Lines a background process printed, collected by a reader thread.
pub struct Lines {
    child: Option<std::process::Child>,
    registry: super::Registry,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl Lines {
    fn spawn(mut cmd: Command, registry: super::Registry) -> Lines {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = proc::spawn_group(&registry, &mut cmd).expect("start watcher");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        Lines {
            child: Some(child),
            registry,
            lines,
            reader: Some(reader),
        }
    }

    /// A copy of every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops the process and returns every line.
    pub fn stop(mut self) -> Vec<String> {
        self.shutdown();
        self.lines()
    }

    fn shutdown(&mut self) {
        if let Some(child) = self.child.take() {
            proc::kill_group_and_reap(&self.registry, child);
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Lab {
    /// The control socket of the vipd on `host`.
    pub fn socket_path(&self, host: usize) -> PathBuf {
        self.dir().join(format!("h{}.sock", host + 1))
    }

    /// The lab directory (configs, sockets, logs).
    pub fn lab_dir(&self) -> PathBuf {
        self.dir().to_path_buf()
    }

    /// The config file `host`'s agent was started with.
    pub fn conf_path(&self, host: usize) -> PathBuf {
        self.dir().join(format!("h{}.conf", host + 1))
    }

    /// Replaces `host`'s config file (for a reload).
    pub fn write_conf(&self, host: usize, text: &str) {
        fs::write(self.conf_path(host), text).expect("write config");
    }

    /// Runs `vipctl --socket <host's socket> ARGS` (within 30 s), optionally through
    /// `setpriv` to run as another user: `as_user` are setpriv's arguments.
    pub fn vipctl_as(&self, host: usize, as_user: Option<&[&str]>, args: &[&str]) -> CtlRun {
        let mut cmd = Command::new("timeout");
        cmd.arg("30");
        if let Some(setpriv) = as_user {
            cmd.arg("setpriv").args(setpriv).arg("--");
        }
        cmd.arg(vipctl_bin())
            .arg("--socket")
            .arg(self.socket_path(host))
            .args(args)
            .stdin(Stdio::null());
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        CtlRun {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `vipctl ARGS` as root against `host`.
    pub fn vipctl(&self, host: usize, args: &[&str]) -> CtlRun {
        self.vipctl_as(host, None, args)
    }

    /// Starts `vipctl watch ARGS` against `host` in the background.
    pub fn vipctl_watch(&self, host: usize, args: &[&str]) -> Lines {
        let mut cmd = Command::new(vipctl_bin());
        cmd.arg("--socket")
            .arg(self.socket_path(host))
            .arg("watch")
            .args(args);
        Lines::spawn(cmd, Arc::clone(&self.registry))
    }

    /// Starts `ip -o monitor address` in `host`'s namespace: every address added or deleted
    /// there from now on (deletions start with `Deleted`).
    pub fn monitor_addresses(&self, host: usize) -> Lines {
        self.monitor(host, "address")
    }

    /// Starts `ip -o monitor route` in `host`'s namespace: every route added or deleted there
    /// from now on, in every table (deletions start with `Deleted`).
    pub fn monitor_routes(&self, host: usize) -> Lines {
        self.monitor(host, "route")
    }

    fn monitor(&self, host: usize, what: &str) -> Lines {
        let mut cmd = Command::new("ip");
        cmd.args(["-n", self.ns(host), "-o", "monitor", what]);
        let lines = Lines::spawn(cmd, Arc::clone(&self.registry));
        // `ip monitor` subscribes right after it starts; give it that moment.
        std::thread::sleep(Duration::from_millis(200));
        lines
    }

    /// Sends a signal to the agent on `host` (e.g. SIGHUP for a reload).
    pub fn signal(&self, host: usize, sig: nix::sys::signal::Signal) {
        let node = self.nodes[host].as_ref().expect("no agent on that host");
        proc::signal_leader(&node.child, sig);
    }

    /// `GET path` from `addr` inside `host`'s namespace (on a fresh thread that enters it);
    /// returns the whole HTTP response.
    pub fn http_get(&self, host: usize, addr: &str, path: &str) -> String {
        let ns = PathBuf::from("/run/netns").join(self.ns(host));
        let addr = addr.to_string();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        std::thread::spawn(move || {
            let f = fs::File::open(&ns).unwrap_or_else(|e| panic!("open {}: {e}", ns.display()));
            setns(&f, CloneFlags::CLONE_NEWNET).expect("setns");
            let mut s = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            s.write_all(request.as_bytes()).expect("send request");
            let mut out = String::new();
            s.read_to_string(&mut out).expect("read response");
            out
        })
        .join()
        .expect("http_get thread")
    }
}
