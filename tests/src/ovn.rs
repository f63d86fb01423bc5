//! A private OVN control plane: Northbound and Southbound `ovsdb-server`s and `ovn-northd`,
//! in a temporary directory, on unix sockets in that directory (optionally also TCP on
//! 127.0.0.1). Dropping it stops the daemons (northd first) and removes the directory.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::names::temp_dir;
use crate::proc::{run, wait_until, Daemon, RunDirs, DEFAULT_TIMEOUT};

pub const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";
pub const SB_SCHEMA: &str = "/usr/share/ovn/ovn-sb.ovsschema";

/// Options for [`OvnSandbox::start_with`].
#[derive(Clone, Debug, Default)]
pub struct SandboxOptions {
    /// Also listen on `tcp:127.0.0.1:<free port>` (NB and SB).
    pub tcp: bool,
}

/// The NB and SB databases and `ovn-northd`.
#[derive(Debug)]
pub struct OvnSandbox {
    // Field order is drop order: northd stops before the databases, the directory goes last.
    northd: Daemon,
    nb: Daemon,
    sb: Daemon,
    dirs: RunDirs,
    nb_tcp: Option<String>,
    sb_tcp: Option<String>,
    _tmp: tempfile::TempDir,
}

impl OvnSandbox {
    /// Starts with unix sockets only.
    pub fn start() -> Result<OvnSandbox> {
        Self::start_with(SandboxOptions::default())
    }

    pub fn start_with(opts: SandboxOptions) -> Result<OvnSandbox> {
        let tmp = temp_dir("ovn")?;
        let dir = tmp.path().to_path_buf();
        let dirs = RunDirs::new(&dir);
        let nb_tcp = opts.tcp.then(free_tcp_remote).transpose()?;
        let sb_tcp = opts.tcp.then(free_tcp_remote).transpose()?;
        let nb = start_db(&dirs, "nb", NB_SCHEMA, nb_tcp.as_deref())?;
        let sb = start_db(&dirs, "sb", SB_SCHEMA, sb_tcp.as_deref())?;
        let mut cmd = dirs.command("ovn-northd");
        cmd.arg(format!("--ovnnb-db=unix:{}", dir.join("nb.sock").display()))
            .arg(format!("--ovnsb-db=unix:{}", dir.join("sb.sock").display()))
            .arg(format!("--unixctl={}", dir.join("northd.ctl").display()))
            .arg(format!(
                "--log-file={}",
                dir.join("ovn-northd.log").display()
            ))
            .arg("-vconsole:err");
        let mut northd = Daemon::spawn("ovn-northd", &dir, cmd)?;
        northd.wait_for_path(&dir.join("northd.ctl"), DEFAULT_TIMEOUT)?;
        let sandbox = OvnSandbox {
            northd,
            nb,
            sb,
            dirs,
            nb_tcp,
            sb_tcp,
            _tmp: tmp,
        };
        // northd has connected and holds the lock once a sync round trip completes.
        sandbox.wait_sb()?;
        Ok(sandbox)
    }

    /// The private directory: databases, sockets, logs.
    pub fn dir(&self) -> &Path {
        self.dirs.dir()
    }

    pub fn run_dirs(&self) -> &RunDirs {
        &self.dirs
    }

    /// `unix:<dir>/nb.sock`.
    pub fn nb_remote(&self) -> String {
        format!("unix:{}", self.sock("nb").display())
    }

    /// `unix:<dir>/sb.sock`.
    pub fn sb_remote(&self) -> String {
        format!("unix:{}", self.sock("sb").display())
    }

    /// `tcp:127.0.0.1:<port>` if started with `tcp: true`.
    pub fn nb_tcp_remote(&self) -> Option<&str> {
        self.nb_tcp.as_deref()
    }

    pub fn sb_tcp_remote(&self) -> Option<&str> {
        self.sb_tcp.as_deref()
    }

    fn sock(&self, db: &str) -> PathBuf {
        self.dir().join(format!("{db}.sock"))
    }

    /// `ovn-nbctl --db=<nb> args...`.
    pub fn nbctl(&self, args: &[&str]) -> Result<String> {
        let mut cmd = self.ctl("ovn-nbctl", &self.nb_remote());
        cmd.args(args);
        run(&mut cmd)
    }

    /// `ovn-sbctl --db=<sb> args...`.
    pub fn sbctl(&self, args: &[&str]) -> Result<String> {
        let mut cmd = self.ctl("ovn-sbctl", &self.sb_remote());
        cmd.args(args);
        run(&mut cmd)
    }

    fn ctl(&self, program: &str, db: &str) -> Command {
        let mut cmd = self.dirs.command(program);
        cmd.arg(format!("--db={db}"))
            .arg(format!("--timeout={}", DEFAULT_TIMEOUT.as_secs()));
        cmd
    }

    /// `ovn-trace --db=<sb> args...` (e.g. `["ls0", "inport == \"port0\" && ..."]`).
    pub fn trace(&self, args: &[&str]) -> Result<String> {
        let mut cmd = self.dirs.command("ovn-trace");
        cmd.arg(format!("--db={}", self.sb_remote())).args(args);
        run(&mut cmd)
    }

    /// Waits until northd has put every NB change into the SB (`ovn-nbctl --wait=sb sync`).
    pub fn wait_sb(&self) -> Result<()> {
        self.nbctl(&["--wait=sb", "sync"]).map(drop)
    }

    /// Waits until every chassis has applied every NB change (`ovn-nbctl --wait=hv sync`).
    pub fn wait_hv(&self) -> Result<()> {
        self.nbctl(&["--wait=hv", "sync"]).map(drop)
    }

    /// All logical flows as `ovn-sbctl lflow-list` prints them.
    pub fn lflows(&self) -> Result<String> {
        self.sbctl(&["lflow-list"])
    }

    /// Number of logical flows per datapath name (ingress + egress), from [`Self::lflows`].
    pub fn lflow_counts(&self) -> Result<BTreeMap<String, usize>> {
        Ok(count_lflows(&self.lflows()?))
    }

    /// Chassis row UUID of `system_id`, once it exists.
    pub fn chassis_uuid(&self, system_id: &str) -> Result<Option<String>> {
        let out = self.sbctl(&[
            "--bare",
            "--columns=_uuid",
            "find",
            "Chassis",
            &format!("name={system_id}"),
        ])?;
        Ok(out.split_whitespace().next().map(str::to_string))
    }

    /// Waits (bounded) until the `Port_Binding` of `lport` names chassis `chassis_uuid`.
    pub fn wait_port_bound(
        &self,
        lport: &str,
        chassis_uuid: &str,
        timeout: Duration,
    ) -> Result<()> {
        let what = format!("Port_Binding {lport} to be claimed by chassis {chassis_uuid}");
        wait_until(&what, timeout, || {
            let out = self.sbctl(&[
                "--bare",
                "--columns=chassis",
                "find",
                "Port_Binding",
                &format!("logical_port={lport}"),
            ])?;
            Ok((out.trim() == chassis_uuid).then_some(()))
        })
    }

    /// Stops the Southbound `ovsdb-server` and starts it again on the same database file,
    /// socket (and TCP port, if any): its clients see the connection drop and must
    /// reconnect. Returns once the new server listens.
    pub fn restart_sb(&mut self) -> Result<()> {
        self.sb.stop();
        let dir = self.dirs.dir().to_path_buf();
        let sock = dir.join("sb.sock");
        // ovsdb-server unlinks its socket on exit; a leftover would hide the wait below.
        let _ = std::fs::remove_file(&sock);
        let mut cmd = self.dirs.command("ovsdb-server");
        cmd.arg(format!("--remote=punix:{}", sock.display()))
            .arg(format!("--unixctl={}", dir.join("sb.ctl").display()))
            .arg(format!("--log-file={}", dir.join("sb.log").display()))
            .arg("-vconsole:err");
        if let Some(addr) = self.sb_tcp.as_deref().and_then(|t| t.strip_prefix("tcp:")) {
            let (ip, port) = addr.rsplit_once(':').unwrap_or((addr, ""));
            cmd.arg(format!("--remote=ptcp:{port}:{ip}"));
        }
        cmd.arg(dir.join("sb.db"));
        let mut server = Daemon::spawn("ovsdb-server(sb)", &dir, cmd)?;
        server.wait_for_path(&sock, DEFAULT_TIMEOUT)?;
        self.sb = server;
        Ok(())
    }

    /// Errors if a daemon has exited.
    pub fn check_running(&mut self) -> Result<()> {
        self.nb.check_running()?;
        self.sb.check_running()?;
        self.northd.check_running()
    }

    /// Pids of the three daemons (for tests checking that teardown leaves none).
    pub fn pids(&self) -> Vec<u32> {
        [&self.northd, &self.nb, &self.sb]
            .iter()
            .filter_map(|d| d.pid())
            .collect()
    }
}

fn start_db(dirs: &RunDirs, name: &str, schema: &str, tcp: Option<&str>) -> Result<Daemon> {
    let dir = dirs.dir();
    let db = dir.join(format!("{name}.db"));
    let sock = dir.join(format!("{name}.sock"));
    run(dirs
        .command("ovsdb-tool")
        .arg("create")
        .arg(&db)
        .arg(schema))?;
    let mut cmd = dirs.command("ovsdb-server");
    cmd.arg(format!("--remote=punix:{}", sock.display()))
        .arg(format!(
            "--unixctl={}",
            dir.join(format!("{name}.ctl")).display()
        ))
        .arg(format!(
            "--log-file={}",
            dir.join(format!("{name}.log")).display()
        ))
        .arg("-vconsole:err");
    let addr = tcp.and_then(|t| t.strip_prefix("tcp:"));
    if let Some(addr) = addr {
        // Passive remotes are `ptcp:<port>:<ip>`.
        let (ip, port) = addr.rsplit_once(':').unwrap_or((addr, ""));
        cmd.arg(format!("--remote=ptcp:{port}:{ip}"));
    }
    cmd.arg(&db);
    let mut server = Daemon::spawn(&format!("ovsdb-server({name})"), dir, cmd)?;
    server.wait_for_path(&sock, DEFAULT_TIMEOUT)?;
    if let Some(addr) = addr {
        wait_until(
            &format!("ovsdb-server({name}) on {addr}"),
            DEFAULT_TIMEOUT,
            || {
                server.check_running()?;
                Ok(TcpStream::connect(addr).is_ok().then_some(()))
            },
        )?;
    }
    Ok(server)
}

/// `tcp:127.0.0.1:<port>` for a port that was free a moment ago (ovsdb-server then binds it;
/// a lost race shows up as ovsdb-server failing to start, with its log).
fn free_tcp_remote() -> Result<String> {
    let l = TcpListener::bind("127.0.0.1:0").context("find a free TCP port")?;
    Ok(format!("tcp:127.0.0.1:{}", l.local_addr()?.port()))
}

/// Counts `table=` lines under each `Datapath: "<name>" (...)` header of `lflow-list`.
pub fn count_lflows(text: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Datapath: ") {
            let name = rest.split('"').nth(1).unwrap_or(rest).to_string();
            counts.entry(name.clone()).or_insert(0);
            current = Some(name);
        } else if line.trim_start().starts_with("table=") {
            if let Some(dp) = &current {
                *counts.entry(dp.clone()).or_insert(0) += 1;
            }
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lflows_per_datapath() {
        let text = "Datapath: \"ls0\" (1284) Pipeline: ingress\n  table=0 (a), priority=1\n  \
                    table=1 (b), priority=1\nDatapath: \"ls0\" (1284) Pipeline: egress\n  \
                    table=0 (c), priority=1\nDatapath: \"lr0\" (99) Pipeline: ingress\n";
        let c = count_lflows(text);
        assert_eq!(c.get("ls0"), Some(&3));
        assert_eq!(c.get("lr0"), Some(&0));
        assert_eq!(c.len(), 2);
    }
}
