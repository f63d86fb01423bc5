//! `southpaw sandbox`: the built-in demonstration host.
//!
//! Starts a private OVN (NB and SB `ovsdb-server`, `ovn-northd`) and a local `Open_vSwitch`
//! database as a real host has, writes the two-switch + router topology (`ls0` 10.0.0.0/24,
//! `ls1` 10.0.1.0/24, `lr0`) with namespace "containers" on veth pairs, registers the host
//! sides in the `Open_vSwitch` DB (`add-port br-int ... external-ids:iface-id=...`), and
//! reports the logical flows northd compiled per datapath. There is no `ovs-vswitchd`:
//! southpaw is to be the forwarding plane, and its datapath is not wired in yet, so nothing
//! forwards between the containers.
//!
//! Everything lives in temporary directories and `sp-*` namespaces owned by this process;
//! Ctrl-C (SIGINT) or SIGTERM tears all of it down. `--exit-after-setup` tears down at once.

use std::io::Write;
use std::sync::mpsc;

use anyhow::{bail, Context, Result};
use testbed::{Container, OvnSandbox, OvsDb, SandboxOptions, Topology};

/// System id of the sandbox host in the `Open_vSwitch` DB.
const SYSTEM_ID: &str = "southpaw-sandbox";

#[derive(clap::Args)]
pub struct Args {
    /// Tear everything down right after setup (for tests and CI).
    #[arg(long)]
    exit_after_setup: bool,
    /// Containers per logical switch.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=50))]
    containers: u8,
    /// Also serve NB and SB on TCP 127.0.0.1 (free ports), besides unix sockets.
    #[arg(long)]
    tcp: bool,
}

/// Prints one progress line at once (stdout may be a pipe).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// What setup built; fields drop in order: containers, the Open_vSwitch DB, then OVN.
struct Host {
    _containers: Vec<Container>,
    _ovs: OvsDb,
    _ovn: OvnSandbox,
}

pub fn run(args: Args) -> Result<()> {
    if !testbed::is_root() {
        bail!("sandbox needs root (network namespaces and veth pairs)");
    }
    let (tx, rx) = mpsc::channel::<()>();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .context("install SIGINT/SIGTERM handler")?;

    let host = setup(&args, &|| rx.try_recv().is_ok())?;
    let why = match host {
        None => "interrupted during setup",
        Some(_) if args.exit_after_setup => "--exit-after-setup",
        Some(_) => {
            say("Press Ctrl-C to tear everything down.");
            // A closed channel (handler gone) also ends the wait.
            let _ = rx.recv();
            "signal"
        }
    };
    say("tearing down...");
    drop(host);
    say(&format!(
        "torn down ({why}): daemons stopped, namespaces, veths and directories removed"
    ));
    Ok(())
}

/// Builds the host step by step; `None` if a signal arrived on the way (whatever was built
/// is dropped, i.e. torn down, before returning).
fn setup(args: &Args, interrupted: &dyn Fn() -> bool) -> Result<Option<Host>> {
    let ovn = OvnSandbox::start_with(SandboxOptions { tcp: args.tcp })?;
    say(&format!("OVN up in {}", ovn.dir().display()));
    say(&format!("  NB ovsdb-server: {}", ovn.nb_remote()));
    say(&format!("  SB ovsdb-server: {}", ovn.sb_remote()));
    if let (Some(nb), Some(sb)) = (ovn.nb_tcp_remote(), ovn.sb_tcp_remote()) {
        say(&format!("  also on NB {nb}, SB {sb}"));
    }
    say("  ovn-northd: running, connected to NB and SB");

    let ovs = OvsDb::new()?;
    ovs.set_ovn_host(SYSTEM_ID, &ovn.sb_remote(), "127.0.0.1")?;
    ovs.vsctl(&[
        "add-br",
        "br-int",
        "--",
        "set",
        "bridge",
        "br-int",
        "datapath_type=netdev",
        "fail-mode=secure",
    ])?;
    say(&format!(
        "local Open_vSwitch DB: {} (system-id {SYSTEM_ID}, bridge br-int, no ovs-vswitchd)",
        ovs.remote()
    ));
    if interrupted() {
        return Ok(None);
    }

    let topo = Topology::two_switch_router(args.containers);
    say("logical topology (ovn-nbctl):");
    topo.apply(&ovn, |line| say(&format!("  {line}")))?;

    say("containers (namespace eth0 <-> host veth, registered on br-int):");
    let mut containers: Vec<Container> = Vec::new();
    for (switch, spec) in topo.ports() {
        if interrupted() {
            return Ok(None);
        }
        let c = Container::create(spec, None)?;
        ovs.add_port("br-int", &c.host().name, &spec.name, &[])?;
        say(&format!(
            "  {} on {switch}: netns {} eth0 {} {}{}, host side {}",
            spec.name,
            c.netns().name(),
            spec.mac,
            spec.cidr,
            spec.gateway
                .as_deref()
                .map(|g| format!(" via {g}"))
                .unwrap_or_default(),
            c.host().name
        ));
        containers.push(c);
    }

    ovn.wait_sb()?;
    let counts = ovn.lflow_counts()?;
    let total: usize = counts.values().sum();
    say(&format!("logical flows compiled by northd: {total}"));
    for (dp, n) in &counts {
        say(&format!("  datapath {dp}: {n} logical flows"));
    }

    say("");
    say("NOTE: the southpaw datapath does not exist yet: nothing forwards between these");
    say("containers. The control plane and the host-side ports are ready for it.");
    say(&format!(
        "Inspect with: ovn-nbctl --db={} show; ovn-sbctl --db={} lflow-list",
        ovn.nb_remote(),
        ovn.sb_remote()
    ));
    Ok(Some(Host {
        _containers: containers,
        _ovs: ovs,
        _ovn: ovn,
    }))
}
