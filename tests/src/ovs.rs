//! A local `Open_vSwitch` database (`ovsdb-server` with `vswitch.ovsschema`) in a private
//! directory, as a real host has at `/var/run/openvswitch/db.sock`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use crate::names::temp_dir;
use crate::proc::{run, Daemon, RunDirs, DEFAULT_TIMEOUT};

pub const VSWITCH_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// `ovsdb-server` serving `conf.db` on `unix:<dir>/db.sock`, initialised with
/// `ovs-vsctl init`. Stopped and its directory removed on drop.
#[derive(Debug)]
pub struct OvsDb {
    server: Daemon,
    dirs: RunDirs,
    sock: PathBuf,
    // Dropped last: the daemon must stop before its directory goes.
    _tmp: Option<tempfile::TempDir>,
}

impl OvsDb {
    /// Creates the database in a fresh temporary directory.
    pub fn new() -> Result<OvsDb> {
        let tmp = temp_dir("ovs")?;
        let dir = tmp.path().to_path_buf();
        let mut db = Self::start_in(&dir)?;
        db._tmp = Some(tmp);
        Ok(db)
    }

    /// Creates the database in `dir`, which the caller owns and removes.
    pub fn start_in(dir: &Path) -> Result<OvsDb> {
        let dirs = RunDirs::new(dir);
        let db = dir.join("conf.db");
        let sock = dir.join("db.sock");
        run(dirs
            .command("ovsdb-tool")
            .arg("create")
            .arg(&db)
            .arg(VSWITCH_SCHEMA))?;
        let mut cmd = dirs.command("ovsdb-server");
        cmd.arg(format!("--remote=punix:{}", sock.display()))
            .arg(format!("--unixctl={}", dir.join("db.ctl").display()))
            .arg(format!(
                "--log-file={}",
                dir.join("ovsdb-server.log").display()
            ))
            .arg("-vconsole:err")
            .arg(&db);
        let mut server = Daemon::spawn("ovsdb-server(Open_vSwitch)", dir, cmd)?;
        server.wait_for_path(&sock, DEFAULT_TIMEOUT)?;
        let ovs = OvsDb {
            server,
            dirs,
            sock,
            _tmp: None,
        };
        ovs.vsctl(&["init"])?;
        Ok(ovs)
    }

    /// `unix:<dir>/db.sock`.
    pub fn remote(&self) -> String {
        format!("unix:{}", self.sock.display())
    }

    pub fn dir(&self) -> &Path {
        self.dirs.dir()
    }

    pub fn run_dirs(&self) -> &RunDirs {
        &self.dirs
    }

    /// `ovs-vsctl --no-wait`: changes the database only (no `ovs-vswitchd` needed).
    pub fn vsctl(&self, args: &[&str]) -> Result<String> {
        let mut cmd = self.vsctl_cmd();
        cmd.arg("--no-wait").args(args);
        run(&mut cmd)
    }

    /// `ovs-vsctl` waiting (bounded by `--timeout`) until `ovs-vswitchd` has applied the
    /// change; only for a database a running `ovs-vswitchd` serves.
    pub fn vsctl_wait(&self, args: &[&str]) -> Result<String> {
        let mut cmd = self.vsctl_cmd();
        cmd.args(args);
        run(&mut cmd)
    }

    fn vsctl_cmd(&self) -> Command {
        let mut cmd = self.dirs.command("ovs-vsctl");
        cmd.arg(format!("--db={}", self.remote()))
            .arg(format!("--timeout={}", DEFAULT_TIMEOUT.as_secs()));
        cmd
    }

    /// Sets the `external_ids` a host running OVN has: `system-id`, `ovn-remote`,
    /// `ovn-encap-type=geneve`, `ovn-encap-ip`, `ovn-bridge-datapath-type=netdev`.
    pub fn set_ovn_host(&self, system_id: &str, sb_remote: &str, encap_ip: &str) -> Result<()> {
        self.vsctl(&[
            "set",
            "Open_vSwitch",
            ".",
            &format!("external_ids:system-id={system_id}"),
            &format!("external_ids:ovn-remote=\"{sb_remote}\""),
            "external_ids:ovn-encap-type=geneve",
            &format!("external_ids:ovn-encap-ip={encap_ip}"),
            "external_ids:ovn-bridge-datapath-type=netdev",
        ])
        .map(drop)
    }

    /// `ovs-vsctl add-port <bridge> <ifname> -- set interface <ifname>
    /// external-ids:iface-id=<lport> [extra interface columns]` without waiting.
    pub fn add_port(&self, bridge: &str, ifname: &str, lport: &str, extra: &[&str]) -> Result<()> {
        let args = add_port_args(bridge, ifname, lport, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.vsctl(&args).map(drop)
    }

    /// The daemon, e.g. to check it is running.
    pub fn server(&mut self) -> &mut Daemon {
        &mut self.server
    }
}

/// Arguments for `ovs-vsctl add-port ... -- set interface ... external-ids:iface-id=...`.
pub fn add_port_args(bridge: &str, ifname: &str, lport: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["add-port", bridge, ifname, "--", "set", "interface", ifname]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(format!("external-ids:iface-id={lport}"));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_port_args_shape() {
        let a = add_port_args("br-int", "p0", "port0", &["type=afxdp"]);
        assert_eq!(
            a.join(" "),
            "add-port br-int p0 -- set interface p0 external-ids:iface-id=port0 type=afxdp"
        );
    }
}
