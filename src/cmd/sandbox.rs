//! `southpaw sandbox`: the built-in demonstration host.
//!
//! Starts a private OVN (NB and SB `ovsdb-server`, `ovn-northd`) and a local `Open_vSwitch`
//! database as a real host has, writes the two-switch + router topology (`ls0` 10.0.0.0/24,
//! `ls1` 10.0.1.0/24, `lr0`) with namespace "containers" on veth pairs, registers the host
//! sides in the `Open_vSwitch` DB (`add-port br-int ... external-ids:iface-id=...`), and
//! reports the logical flows northd compiled per datapath. There is no `ovs-vswitchd`:
//! southpaw's daemon runs in this process (as `southpaw run` would) and its AF_XDP worker
//! forwards between the containers. Once the pipeline is installed the sandbox shows it
//! working: `ping -c 2` from `c0-0` to `c0-1` (same switch) and to `c1-0` (across `lr0`),
//! with loss and TTL; then, while waiting for Ctrl-C, it prints per-port packet counts once
//! a second. Its control socket (in the OVN directory, path printed) answers
//! `southpaw ctl --ctl PATH ...`.
//!
//! Everything lives in temporary directories and `sp-*` namespaces owned by this process;
//! Ctrl-C (SIGINT) or SIGTERM tears all of it down. `--exit-after-setup` tears down at once.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use control::{Daemon, DaemonOptions};
use datapath::worker::WorkerStats;
use datapath::xdp::XdpAttachMode;
use testbed::{Container, OvnSandbox, OvsDb, SandboxOptions, Topology};

use crate::ctl_server::CtlServer;
use crate::dataplane::{totals, XdpDataplane};

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

/// The southpaw daemon and its dataplane on a thread of this process, with its control
/// socket.
struct Forwarder {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    stats: Vec<Arc<WorkerStats>>,
    ctl: Option<CtlServer>,
}

impl Forwarder {
    fn start(ovs_remote: String, ctl_path: &Path) -> Result<Forwarder> {
        let dataplane = XdpDataplane::new(XdpAttachMode::Auto).context("start the worker")?;
        let stats = dataplane.stats();
        let ctl = CtlServer::start(ctl_path, dataplane.view())?;
        let stop = Arc::new(AtomicBool::new(false));
        let opts = DaemonOptions {
            ovs_remote: Some(ovs_remote),
            ..DaemonOptions::default()
        };
        let mut daemon = Daemon::new(opts, dataplane).context("start the control loop")?;
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sp-control".into())
            .spawn(move || daemon.run(&flag))
            .context("start the control thread")?;
        Ok(Forwarder {
            stop,
            thread: Some(thread),
            stats,
            ctl: Some(ctl),
        })
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        drop(self.ctl.take());
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What setup built; fields drop in order: the forwarder, containers, the Open_vSwitch DB,
/// then OVN.
struct Host {
    fwd: Forwarder,
    /// (host-side netdev, logical port), for the counters.
    names: Vec<(String, String)>,
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
    let why = match &host {
        None => "interrupted during setup",
        Some(_) if args.exit_after_setup => "--exit-after-setup",
        Some(host) => {
            say("Press Ctrl-C to tear everything down.");
            // A closed channel (handler gone) also ends the wait.
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(1))
            {
                say(&port_counts(host));
            }
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

    let ctl_path = ovn.dir().join("southpaw.ctl");
    let fwd = Forwarder::start(ovs.remote(), &ctl_path)?;
    ovn.wait_sb()?;
    let counts = ovn.lflow_counts()?;
    let total: usize = counts.values().sum();
    say(&format!("logical flows compiled by northd: {total}"));
    for (dp, n) in &counts {
        say(&format!("  datapath {dp}: {n} logical flows"));
    }

    ovn.wait_hv()
        .context("wait for southpaw to install the pipeline")?;
    say("");
    say("demo: ping -c 2 through southpaw (AF_XDP on the host-side veths; no ovs-vswitchd,");
    say("no kernel bridge):");
    demo_pings(&containers, &topo);
    say("");
    say("Works: switching and routing between local containers (ARP, ICMP, TCP, UDP),");
    say("port security, stateful ACLs and load balancers (southpaw's conntrack).");
    say("Not in the datapath yet: Geneve tunnels to other chassis, packets the pipeline");
    say("generates (ARP for unknown next hops, ICMP errors, TCP resets), controller actions");
    say("(DHCP, DNS, IPv6 RA); that part of the southpaw datapath does not exist yet.");
    say(&format!(
        "Inspect with: ovn-nbctl --db={} show; ovn-sbctl --db={} lflow-list",
        ovn.nb_remote(),
        ovn.sb_remote()
    ));
    say(&format!(
        "control socket: {} (try: southpaw ctl --ctl {} stats | dump-megaflows | ports)",
        ctl_path.display(),
        ctl_path.display()
    ));
    let names = containers
        .iter()
        .map(|c| (c.host().name.clone(), c.lport().to_string()))
        .collect();
    Ok(Some(Host {
        fwd,
        names,
        _containers: containers,
        _ovs: ovs,
        _ovn: ovn,
    }))
}

/// One line of per-port packet counts.
fn port_counts(host: &Host) -> String {
    let (c, ports) = totals(&host.fwd.stats);
    let mut line = String::from("packets:");
    for (netdev, lport) in &host.names {
        let (rx, tx) = ports
            .iter()
            .find(|(n, _)| n == netdev)
            .map_or((0, 0), |(_, p)| (p.rx_packets, p.tx_packets));
        line.push_str(&format!(" {lport} rx {rx} tx {tx};"));
    }
    for (kind, name, v) in c.iter() {
        if v != 0 && kind != "anomaly" {
            line.push_str(&format!(" {name}={v}"));
        }
    }
    for s in &host.fwd.stats {
        for (cause, v) in datapath::actions::Cause::ALL.iter().zip(s.causes()) {
            if v != 0 {
                line.push_str(&format!(" ({}={v})", cause.name()));
            }
        }
    }
    line
}

/// Pings from the first container of the first switch to its neighbour on the same
/// switch and to the first container across the router; prints loss and TTL.
fn demo_pings(containers: &[Container], topo: &Topology) {
    let specs: Vec<_> = topo.ports().collect();
    let find = |name: &str| {
        let c = containers.iter().find(|c| c.lport() == name)?;
        let spec = specs.iter().find(|(_, s)| s.name == name)?;
        Some((c, spec.1.ip().to_string()))
    };
    let Some((src, _)) = find("c0-0") else {
        say("  (no c0-0: nothing to ping from)");
        return;
    };
    for (dst, what) in [("c0-1", "same switch"), ("c1-0", "across lr0")] {
        let Some((_, ip)) = find(dst) else {
            say(&format!(
                "  c0-0 -> {dst}: skipped (no {dst}; --containers 1)"
            ));
            continue;
        };
        match src.ping(&ip, 2) {
            Ok(p) => {
                let loss = 100 - 100 * p.received.min(p.transmitted) / p.transmitted.max(1);
                let ttl = p
                    .output
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("ttl="))
                    .unwrap_or("-");
                say(&format!(
                    "  ping c0-0 -> {dst} {ip} ({what}): {} sent, {} received, {loss}% loss, \
                     ttl {ttl}",
                    p.transmitted, p.received
                ));
            }
            Err(e) => say(&format!(
                "  ping c0-0 -> {dst} {ip} ({what}): failed: {e:#}"
            )),
        }
    }
}
