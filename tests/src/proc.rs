//! Child processes: one-shot commands with errors that say what failed, and long-running
//! daemons that are stopped on drop.
//!
//! Every child gets the run/log/db directory variables of OVS and OVN pointed at a private
//! directory ([`RunDirs`]), so nothing touches `/var/run/openvswitch` or `/var/run/ovn`.
//!
//! Daemons are started in their own process group (a Ctrl-C at the terminal reaches only the
//! test or `southpaw sandbox`, which then tears down in order) and with
//! `PR_SET_PDEATHSIG = SIGKILL`, so they die if the process that started them is killed.
//! Caveat of that flag: it fires when the *thread* that spawned the daemon exits, so create
//! a sandbox in the thread that keeps it (a test function, `main`), not in a short-lived
//! helper thread.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// How long a daemon gets to exit after SIGTERM before it is sent SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(5);
/// Poll interval for every "wait until" loop in this crate.
pub const POLL: Duration = Duration::from_millis(20);
/// Default bound for waiting on daemons and databases.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The OVS and OVN directory variables, all pointing at one private directory.
#[derive(Clone, Debug)]
pub struct RunDirs {
    dir: PathBuf,
}

impl RunDirs {
    pub fn new(dir: &Path) -> Self {
        RunDirs {
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sets `OVS_RUNDIR`, `OVS_LOGDIR`, `OVS_DBDIR`, `OVN_RUNDIR`, `OVN_LOGDIR`, `OVN_DBDIR`
    /// (and `OVS_PKGDATADIR`-independent paths stay untouched).
    pub fn apply(&self, cmd: &mut Command) {
        for var in [
            "OVS_RUNDIR",
            "OVS_LOGDIR",
            "OVS_DBDIR",
            "OVN_RUNDIR",
            "OVN_LOGDIR",
            "OVN_DBDIR",
        ] {
            cmd.env(var, &self.dir);
        }
    }

    /// A command with the directory variables set and stdin closed.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        self.apply(&mut cmd);
        cmd.stdin(Stdio::null());
        cmd
    }
}

/// `program args...` rendered for error messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&shell_word(a));
    }
    s
}

fn shell_word(a: &OsStr) -> String {
    let a = a.to_string_lossy();
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c))
    {
        a.into_owned()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

/// Runs `cmd` to completion and returns its raw output (any exit status).
pub fn output(cmd: &mut Command) -> Result<Output> {
    cmd.stdin(Stdio::null());
    cmd.output()
        .with_context(|| format!("cannot start `{}`", describe(cmd)))
}

/// Runs `cmd` to completion; a non-zero exit is an error naming the command, its status and
/// its stderr. Returns stdout.
pub fn run(cmd: &mut Command) -> Result<String> {
    let out = output(cmd)?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Shorthand: run `program args` with no special environment.
pub fn run_args<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Result<String> {
    run(Command::new(program).args(args))
}

/// Polls `check` every [`POLL`] until it returns `Ok(Some(v))`, an error, or `timeout`
/// passes; the timeout error names `what` and the last state `check` reported via `Ok(None)`.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check()? {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(POLL);
    }
}

/// A long-running child process, stopped on drop: SIGTERM, then SIGKILL if it has not exited
/// after [`TERM_GRACE`], then reaped.
#[derive(Debug)]
pub struct Daemon {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    /// Spawns `cmd` with stdout and stderr going to `<dir>/<name>.stderr`.
    pub fn spawn(name: &str, dir: &Path, mut cmd: Command) -> Result<Daemon> {
        let log = dir.join(format!("{name}.stderr"));
        let file = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let file2 = file.try_clone().context("dup log file")?;
        cmd.stdin(Stdio::null()).stdout(file).stderr(file2);
        let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
        // SAFETY: the closure runs in the child between fork and exec and only calls
        // async-signal-safe functions (setpgid, prctl, getppid) that touch no Rust state.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setpgid(0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl: then no signal comes.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("parent exited"));
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {name}: `{}`", describe(&cmd)))?;
        log::debug!("started {name} (pid {}): {}", child.id(), describe(&cmd));
        Ok(Daemon {
            name: name.to_string(),
            child: Some(child),
            log,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Errors if the daemon has exited, with the end of its log.
    pub fn check_running(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            bail!("{} was stopped", self.name);
        };
        if let Some(status) = child.try_wait().context("try_wait")? {
            bail!(
                "{} exited ({status}); last output:\n{}",
                self.name,
                self.log_tail()
            );
        }
        Ok(())
    }

    /// The last lines the daemon wrote to its stderr file.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Waits (bounded) for `path` to exist while checking the daemon is still alive.
    pub fn wait_for_path(&mut self, path: &Path, timeout: Duration) -> Result<()> {
        let what = format!("{} to create {}", self.name, path.display());
        wait_until(&what, timeout, || {
            self.check_running()?;
            Ok(path.exists().then_some(()))
        })
    }

    /// Stops the daemon now (what drop does). Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        let pid = child.id() as libc::pid_t;
        // SAFETY: kill() on the pid of our own unreaped child: the pid cannot have been reused.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + TERM_GRACE;
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(POLL),
            }
        }
        log::warn!("{} (pid {pid}) ignored SIGTERM; sending SIGKILL", self.name);
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a process with this pid exists (EPERM counts as alive).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission; nothing is delivered.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether we run as root (namespaces, veths and AF_XDP need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_error_names_command_and_stderr() {
        let err = run(Command::new("sh").args(["-c", "echo oops >&2; exit 3"])).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("sh -c 'echo oops >&2; exit 3'"), "{msg}");
        assert!(msg.contains("oops"), "{msg}");
        assert!(msg.contains('3'), "{msg}");
    }

    #[test]
    fn run_returns_stdout() {
        assert_eq!(run_args("echo", &["hi"]).unwrap(), "hi\n");
    }

    #[test]
    fn wait_until_times_out_with_name() {
        let err = wait_until("nothing", Duration::from_millis(50), || Ok(None::<()>)).unwrap_err();
        assert!(err.to_string().contains("waiting for nothing"));
    }

    #[test]
    fn daemon_stops_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sleep");
        cmd.arg("1000");
        let mut d = Daemon::spawn("sleeper", dir.path(), cmd).unwrap();
        d.check_running().unwrap();
        let pid = d.pid().unwrap();
        assert!(pid_alive(pid));
        drop(d);
        assert!(!pid_alive(pid), "pid {pid} still alive after drop");
    }

    #[test]
    fn daemon_exit_is_reported_with_output() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo goodbye >&2"]);
        let mut d = Daemon::spawn("quitter", dir.path(), cmd).unwrap();
        let err = d
            .wait_for_path(&dir.path().join("never"), Duration::from_secs(10))
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("quitter exited"), "{msg}");
        assert!(msg.contains("goodbye"), "{msg}");
    }
}
