//! `OvsPeer`: the comparison forwarding plane, stock OVS + OVN on one simulated chassis: its
//! own `Open_vSwitch` database, `ovs-vswitchd` with the userspace (netdev) datapath, and
//! `ovn-controller`, connected to an [`OvnSandbox`]'s Southbound DB.
//!
//! Two userspace `ovs-vswitchd`s in one network namespace collide on the `ovs-netdev` tap,
//! so each peer runs its daemons inside a fresh namespace (`ip netns exec`), and the host
//! sides of the containers it serves are moved there.
//!
//! Ports are `type=afxdp options:xdp-mode=native` by default (AF_XDP works on veth with
//! this kernel); [`PortKind::System`] is the fallback (`netdev-linux` raw sockets), slower
//! but available on any kernel. An AF_XDP port that fails to open is reported with the OVS
//! interface `error` column and a hint to use the fallback.

use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::container::Container;
use crate::names::temp_dir;
use crate::netns::Netns;
use crate::ovn::OvnSandbox;
use crate::ovs::{add_port_args, OvsDb};
use crate::proc::{wait_until, Daemon, DEFAULT_TIMEOUT};
use crate::topo::PortSpec;

/// How the peer's `ovs-vswitchd` reads a container's host-side veth.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PortKind {
    /// `type=afxdp options:xdp-mode=native`.
    #[default]
    Afxdp,
    /// A plain system port (the fallback).
    System,
}

impl PortKind {
    /// Extra `ovs-vsctl set interface` columns.
    pub fn interface_args(self) -> &'static [&'static str] {
        match self {
            PortKind::Afxdp => &["type=afxdp", "options:xdp-mode=native"],
            PortKind::System => &[],
        }
    }
}

#[derive(Clone, Debug)]
pub struct PeerOptions {
    /// `external_ids:system-id`, the chassis name.
    pub system_id: String,
    pub port_kind: PortKind,
    /// `external_ids:ovn-encap-ip`.
    pub encap_ip: String,
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            system_id: "ovs-peer".into(),
            port_kind: PortKind::default(),
            encap_ip: "127.0.0.1".into(),
        }
    }
}

#[derive(Debug)]
pub struct OvsPeer {
    // Field order is drop order: ovn-controller, ovs-vswitchd, the database, the namespace,
    // then the directory.
    controller: Daemon,
    vswitchd: Daemon,
    db: OvsDb,
    netns: Netns,
    opts: PeerOptions,
    chassis: String,
    _tmp: tempfile::TempDir,
}

impl OvsPeer {
    /// Starts the peer with default options (AF_XDP ports, chassis `ovs-peer`).
    pub fn start(ovn: &OvnSandbox) -> Result<OvsPeer> {
        Self::start_with(ovn, PeerOptions::default())
    }

    /// Starts the database, `ovs-vswitchd` and `ovn-controller`, and waits until the chassis
    /// is registered in the Southbound DB.
    pub fn start_with(ovn: &OvnSandbox, opts: PeerOptions) -> Result<OvsPeer> {
        let tmp = temp_dir("peer")?;
        let dir = tmp.path().to_path_buf();
        let db = OvsDb::start_in(&dir)?;
        let netns = Netns::new("peer")?;

        let vsctl_ctl = dir.join("ovs-vswitchd.ctl");
        let mut cmd = netns.command(&["ovs-vswitchd", &db.remote()]);
        db.run_dirs().apply(&mut cmd);
        cmd.arg(format!("--unixctl={}", vsctl_ctl.display()))
            .arg(format!(
                "--log-file={}",
                dir.join("ovs-vswitchd.log").display()
            ))
            .arg("-vconsole:err");
        let mut vswitchd = Daemon::spawn("ovs-vswitchd", &dir, cmd)?;
        vswitchd.wait_for_path(&vsctl_ctl, DEFAULT_TIMEOUT)?;

        db.set_ovn_host(&opts.system_id, &ovn.sb_remote(), &opts.encap_ip)?;
        let mut cmd = netns.command(&["ovn-controller", &db.remote()]);
        db.run_dirs().apply(&mut cmd);
        cmd.arg(format!(
            "--log-file={}",
            dir.join("ovn-controller.log").display()
        ))
        .arg("-vconsole:err");
        let mut controller = Daemon::spawn("ovn-controller", &dir, cmd)?;

        let what = format!("chassis {} in the Southbound DB", opts.system_id);
        let chassis = wait_until(&what, DEFAULT_TIMEOUT, || {
            controller.check_running()?;
            ovn.chassis_uuid(&opts.system_id)
        })?;
        // ovn-controller creates br-int; wait until vswitchd has it too.
        wait_until("br-int in ovs-vswitchd", DEFAULT_TIMEOUT, || {
            vswitchd.check_running()?;
            Ok(db.vsctl(&["br-exists", "br-int"]).is_ok().then_some(()))
        })?;
        Ok(OvsPeer {
            controller,
            vswitchd,
            db,
            netns,
            opts,
            chassis,
            _tmp: tmp,
        })
    }

    /// The namespace `ovs-vswitchd` and `ovn-controller` run in.
    pub fn netns(&self) -> &Netns {
        &self.netns
    }

    pub fn db(&self) -> &OvsDb {
        &self.db
    }

    /// UUID of this peer's `Chassis` row.
    pub fn chassis_uuid(&self) -> &str {
        &self.chassis
    }

    pub fn system_id(&self) -> &str {
        &self.opts.system_id
    }

    pub fn port_kind(&self) -> PortKind {
        self.opts.port_kind
    }

    /// Errors if `ovs-vswitchd`, `ovn-controller` or the database has exited.
    pub fn check_running(&mut self) -> Result<()> {
        self.vswitchd.check_running()?;
        self.controller.check_running()?;
        self.db.server().check_running()
    }

    /// Pids of the peer's daemons (ip netns exec replaces itself with the daemon).
    pub fn pids(&mut self) -> Vec<u32> {
        let mut v: Vec<u32> = [&self.controller, &self.vswitchd]
            .iter()
            .filter_map(|d| d.pid())
            .collect();
        v.extend(self.db.server().pid());
        v
    }

    /// `ovs-appctl -t <vswitchd> args...` (e.g. `dpctl/dump-flows`).
    pub fn appctl(&self, args: &[&str]) -> Result<String> {
        let ctl = self.db.dir().join("ovs-vswitchd.ctl");
        let mut cmd = self.db.run_dirs().command("ovs-appctl");
        cmd.arg("-t").arg(ctl).args(args);
        crate::proc::run(&mut cmd)
    }

    /// Creates a container for `spec`, plugs its host side into `br-int` with
    /// `external-ids:iface-id=<spec.name>`, and waits until this chassis has claimed the
    /// port binding. The logical port must exist in the NB DB (see [`crate::Topology`]).
    pub fn attach(&mut self, ovn: &OvnSandbox, spec: &PortSpec) -> Result<Container> {
        self.attach_timeout(ovn, spec, DEFAULT_TIMEOUT)
    }

    pub fn attach_timeout(
        &mut self,
        ovn: &OvnSandbox,
        spec: &PortSpec,
        timeout: Duration,
    ) -> Result<Container> {
        let c = Container::create(spec, Some(&self.netns))?;
        let ifname = c.host().name.clone();
        let kind = self.opts.port_kind;
        let args = add_port_args("br-int", &ifname, &spec.name, kind.interface_args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.db
            .vsctl_wait(&args)
            .with_context(|| format!("plug {} into the OVS peer", spec.name))?;
        self.vswitchd.check_running()?;
        let ofport = self.db.vsctl(&["get", "interface", &ifname, "ofport"])?;
        let error = self.db.vsctl(&["get", "interface", &ifname, "error"])?;
        if ofport.trim() == "-1" || !matches!(error.trim(), "[]" | "\"\"") {
            let hint = match kind {
                PortKind::Afxdp => {
                    " (AF_XDP not usable on this kernel/interface? use PortKind::System)"
                }
                PortKind::System => "",
            };
            bail!(
                "OVS could not open {ifname} for {} as {kind:?}: ofport {}, error {}{hint}",
                spec.name,
                ofport.trim(),
                error.trim()
            );
        }
        ovn.wait_port_bound(&spec.name, &self.chassis, timeout)?;
        Ok(c)
    }
}
