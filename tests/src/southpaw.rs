//! The built `southpaw` binary as integration tests run it: where to find it, and `southpaw
//! run` as a child process that logs to a file and is stopped (SIGTERM, then reaped) on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::proc::wait_until;
use crate::OvsDb;

/// How long [`Southpaw`] waits for an exit or a log line.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The `southpaw` binary that integration tests run: `$SOUTHPAW_BIN`, else the one built in
/// the same target directory as the running test (`<target>/<profile>/deps/<test>` →
/// `<target>/<profile>/southpaw`). Panics with the fix when it is missing: `cargo test`
/// does not build it, `cargo build --bin southpaw` (or `scripts/test`) does.
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

/// `southpaw run --db <ovs> EXTRA...` as a child, stdout and stderr appended to a log file.
pub struct Southpaw {
    child: Option<Child>,
    log: PathBuf,
}

impl Southpaw {
    /// Starts `southpaw run` against the local Open_vSwitch DB `ovs`, with `extra` arguments
    /// (e.g. `--stats-interval 1`, `--ctl PATH`).
    pub fn start(ovs: &OvsDb, log: &Path, extra: &[&str]) -> Southpaw {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("southpaw log file");
        let child = Command::new(southpaw_bin())
            .args(["run", "--db", &ovs.remote()])
            .args(extra)
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

    /// Everything it logged so far.
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

    /// Panics with the log if it has exited.
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
