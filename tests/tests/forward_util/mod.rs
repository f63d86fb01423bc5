//! Shared by the `forward_*` tests: `southpaw run` as a child process, and a TCP exchange
//! between two containers with python3 one-liners.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use testbed::proc::wait_until;
use testbed::{Container, OvsDb};

pub const TIMEOUT: Duration = Duration::from_secs(30);

pub fn southpaw_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SOUTHPAW_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("southpaw"))
        .expect("target directory layout");
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --bin southpaw` first (same CARGO_TARGET_DIR), \
         or set SOUTHPAW_BIN",
        bin.display()
    );
    bin
}

/// `southpaw run --db <ovs> --stats-interval 1` as a child; SIGTERM + reap on drop.
pub struct Southpaw {
    child: Option<Child>,
    log: PathBuf,
}

impl Southpaw {
    pub fn start(ovs: &OvsDb, log: &Path) -> Southpaw {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("southpaw log file");
        let child = Command::new(southpaw_bin())
            .args(["run", "--db", &ovs.remote(), "--stats-interval", "1"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup"))
            .stderr(file)
            .spawn()
            .expect("start southpaw run");
        Southpaw {
            child: Some(child),
            log: log.to_path_buf(),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last log line containing `marker` for which `ok` holds, waiting up to `timeout`
    /// for one to appear.
    pub fn wait_log_line(
        &self,
        marker: &str,
        timeout: Duration,
        ok: impl Fn(&str) -> bool,
    ) -> Option<String> {
        wait_until("southpaw log line", timeout, || {
            Ok(self
                .log()
                .lines()
                .rev()
                .find(|l| l.contains(marker) && ok(l))
                .map(str::to_string))
        })
        .ok()
    }

    /// SIGTERM, then waits for the exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let pid = libc::pid_t::try_from(child.id()).expect("pid");
        // SAFETY: kill() on the pid of our own unreaped child: the pid cannot be reused.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = wait_until("southpaw to exit after SIGTERM", TIMEOUT, || {
            Ok(child.try_wait()?)
        });
        match status {
            Ok(s) => s.success(),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                false
            }
        }
    }

    pub fn check_running(&mut self) {
        let c = self.child.as_mut().expect("southpaw running");
        if let Ok(Some(status)) = c.try_wait() {
            panic!("southpaw exited ({status}); log:\n{}", self.log());
        }
    }
}

impl Drop for Southpaw {
    fn drop(&mut self) {
        self.terminate();
    }
}

const PY: &str = "/usr/bin/python3";

/// Runs a one-shot upper-casing TCP echo server in `server` on `ip:port` and a client in
/// `client` that sends "hello from port0" (retrying while the server is not listening
/// yet); returns the reply.
pub fn python_tcp_exchange(
    server: &Container,
    client: &Container,
    ip: &str,
    port: u16,
) -> Result<String> {
    python_tcp_exchange_to(server, client, (ip, port), (ip, port))
}

/// [`python_tcp_exchange`] with the server listening on `listen` and the client
/// connecting to `connect` (a load-balancer VIP in front of it).
pub fn python_tcp_exchange_to(
    server: &Container,
    client: &Container,
    listen: (&str, u16),
    connect: (&str, u16),
) -> Result<String> {
    let (ip, port) = listen;
    let srv = format!(
        "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('{ip}',{port}))\ns.listen(1)\ns.settimeout(20)\nc,_=s.accept()\nc.settimeout(10)\n\
         d=c.recv(100)\nc.sendall(d.upper())\nc.close()\n"
    );
    let mut child = server
        .netns()
        .command(&[PY, "-c", &srv])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("start the python server")?;
    let (ip, port) = connect;
    let cli = format!(
        "import socket,time\nend=time.time()+15\nwhile True:\n  try:\n    \
         s=socket.create_connection(('{ip}',{port}),timeout=5)\n    break\n  \
         except ConnectionRefusedError:\n    \
         if time.time()>end: raise\n    time.sleep(0.05)\n\
         s.sendall(b'hello from port0')\nprint(s.recv(100).decode())\n"
    );
    let out = client.netns().exec(&[PY, "-c", &cli]);
    let status = child.wait();
    let out = out.context("run the python client")?;
    if !out.status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        bail!(
            "client failed: {}\nserver: {status:?} {err}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
