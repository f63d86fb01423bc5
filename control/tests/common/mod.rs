//! Test helper: a real `ovsdb-server` in a temp dir, killed on drop; bounded waiting.
#![allow(dead_code)]

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use control::{Event, Session};

pub const SB_SCHEMA: &str = "/usr/share/ovn/ovn-sb.ovsschema";
pub const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";
pub const VSWITCH_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// How long any awaited condition may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

pub struct OvsdbServer {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub sock: PathBuf,
    child: Option<Child>,
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl OvsdbServer {
    /// A standalone database created from `schema` (no transaction history: no resume).
    pub fn standalone(schema: &Path) -> OvsdbServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("db.db");
        run(Command::new("ovsdb-tool")
            .arg("create")
            .arg(&db)
            .arg(schema));
        Self::start_in(dir, db)
    }

    /// A one-server cluster (keeps transaction history: monitor_cond_since can resume).
    pub fn clustered(schema: &Path) -> OvsdbServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("db.db");
        let raft = format!("unix:{}", dir.path().join("raft.sock").display());
        run(Command::new("ovsdb-tool")
            .arg("create-cluster")
            .arg(&db)
            .arg(schema)
            .arg(&raft));
        Self::start_in(dir, db)
    }

    fn start_in(dir: tempfile::TempDir, db: PathBuf) -> OvsdbServer {
        let sock = dir.path().join("db.sock");
        let mut s = OvsdbServer {
            dir,
            db,
            sock,
            child: None,
        };
        s.start();
        s
    }

    /// Starts the server (again) on the same database file and socket.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let d = self.dir.path();
        let _ = std::fs::remove_file(&self.sock);
        let child = Command::new("ovsdb-server")
            .arg(&self.db)
            .arg(format!("--remote=punix:{}", self.sock.display()))
            .arg("--no-chdir")
            .arg(format!(
                "--pidfile={}",
                d.join("ovsdb-server.pid").display()
            ))
            .arg(format!(
                "--unixctl={}",
                d.join("ovsdb-server.ctl").display()
            ))
            .arg(format!(
                "--log-file={}",
                d.join("ovsdb-server.log").display()
            ))
            .env("OVS_RUNDIR", d)
            .env("OVS_LOGDIR", d)
            .env("OVS_DBDIR", d)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ovsdb-server");
        self.child = Some(child);
        wait_for("ovsdb-server socket", || {
            UnixStream::connect(&self.sock).is_ok()
        });
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn remote(&self) -> String {
        format!("unix:{}", self.sock.display())
    }

    /// Runs `ovn-sbctl` against this server.
    pub fn sbctl(&self, args: &[&str]) -> String {
        let out = run(Command::new("ovn-sbctl")
            .arg(format!("--db={}", self.remote()))
            .arg("--timeout=20")
            .args(args)
            .env("OVS_RUNDIR", self.dir.path()));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `ovsdb-client` against this server.
    pub fn client(&self, args: &[&str]) -> String {
        let out = run(Command::new("ovsdb-client").args(args));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ovsdb-server.log")).unwrap_or_default()
    }
}

impl Drop for OvsdbServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `cond` until it holds; panics after [`WAIT`].
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    while !cond() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Runs the session until `cond` holds, collecting the events seen; panics after [`WAIT`].
pub fn run_until(
    s: &mut Session,
    what: &str,
    mut cond: impl FnMut(&Session, &[Event]) -> bool,
) -> Vec<Event> {
    let start = Instant::now();
    let mut events = Vec::new();
    loop {
        if cond(s, &events) {
            return events;
        }
        assert!(
            start.elapsed() < WAIT,
            "timed out waiting for {what}; events: {events:?}"
        );
        events.extend(s.run_once(Duration::from_millis(100)));
    }
}

pub fn init_log() {
    let _ = env_logger::builder().is_test(true).try_init();
}
