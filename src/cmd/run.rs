//! `southpaw run`: the chassis daemon. Reads its configuration from the local Open_vSwitch
//! DB (as ovn-controller does), registers the chassis in the Southbound DB, claims the port
//! bindings of local interfaces, monitors this chassis' share of the SB, does the database
//! writes ovs-vswitchd would (ofports, link state, `cur_cfg`), and hands SB snapshots to the
//! dataplane ([`crate::dataplane::XdpDataplane`]): compiled on the control thread, forwarded
//! by an AF_XDP worker serving every local interface.
//!
//! Standalone (no Open_vSwitch DB): pass `--sb`, `--chassis`, `--encap` and `--iface`, and
//! either `--db none` or have no database at the default socket.
//!
//! `southpaw ctl` talks to it over a unix socket (`--ctl PATH`, see [`crate::ctl_server`]).
//!
//! SIGINT/SIGTERM exit cleanly; the Chassis rows and bindings stay (a restart resumes
//! them, as after ovn-controller's `exit --restart`) unless `--cleanup-on-exit` is given.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use control::config::{parse_encap, parse_iface};
use control::{Daemon, DaemonOptions, Overrides, SnapshotDataplane};
use datapath::xdp::XdpAttachMode;

use crate::ctl_server::CtlServer;
use crate::dataplane::{totals, XdpDataplane};

/// Where ovs-vswitchd's database normally is.
pub const DEFAULT_DB: &str = "unix:/var/run/openvswitch/db.sock";

#[derive(clap::Args)]
pub struct Args {
    /// Open_vSwitch database remote (`none`: standalone). Default: the system database if
    /// its socket exists, else standalone.
    #[arg(long)]
    db: Option<String>,
    /// Southbound remote(s), overriding external_ids:ovn-remote.
    #[arg(long, value_name = "REMOTE")]
    sb: Option<String>,
    /// Chassis name, overriding external_ids:system-id.
    #[arg(long, value_name = "NAME")]
    chassis: Option<String>,
    /// Tunnel encapsulation TYPE:IP, overriding ovn-encap-type/ovn-encap-ip.
    #[arg(long, value_name = "TYPE:IP", value_parser = parse_encap)]
    encap: Option<(String, String)>,
    /// A local interface bound to a logical port, NETDEV=LPORT (repeatable).
    #[arg(long, value_name = "NETDEV=LPORT", value_parser = parse_iface)]
    iface: Vec<(String, String)>,
    /// On exit, release the bindings and delete this chassis from the Southbound DB.
    #[arg(long)]
    cleanup_on_exit: bool,
    /// Worker threads. With `--dataplane xdp` one worker serves every port for now.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// `xdp`: AF_XDP forwarding; `none`: compile nothing, placeholder workers only adopt
    /// snapshots (control-plane tests).
    #[arg(long, default_value = "xdp", value_parser = ["xdp", "none"])]
    dataplane: String,
    /// XDP attach mode: auto (native, else generic), native, skb.
    #[arg(long, default_value = "auto", value_parser = ["auto", "native", "skb"])]
    xdp_mode: String,
    /// Log per-port packet counts and cache tiers every SECS seconds (0: never).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    stats_interval: u64,
    /// Control socket for `southpaw ctl` (default: $OVS_RUNDIR/southpaw.ctl, else
    /// /var/run/southpaw/southpaw.ctl).
    #[arg(long, value_name = "PATH")]
    ctl: Option<std::path::PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let overrides = Overrides {
        sb_remote: args.sb.clone(),
        system_id: args.chassis.clone(),
        encap: args.encap.clone(),
        ifaces: args.iface.clone(),
        hostname: None,
    };
    let complete = args.sb.is_some() && args.chassis.is_some() && args.encap.is_some();
    let ovs_remote = match args.db.as_deref() {
        Some("none") if !complete => {
            bail!("standalone (--db none) needs --sb, --chassis and --encap")
        }
        Some("none") => None,
        Some(db) => Some(db.to_string()),
        None => {
            let sock = DEFAULT_DB.trim_start_matches("unix:");
            if Path::new(sock).exists() {
                Some(DEFAULT_DB.to_string())
            } else if complete {
                log::info!("no Open_vSwitch DB at {sock}: running standalone");
                None
            } else {
                bail!(
                    "no Open_vSwitch DB at {sock}: pass --db REMOTE, or run standalone with \
                     --sb, --chassis and --encap"
                )
            }
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::Release))
            .context("install the SIGINT/SIGTERM handler")?;
    }
    let opts = DaemonOptions {
        ovs_remote,
        overrides,
        cleanup_on_exit: args.cleanup_on_exit,
        ..DaemonOptions::default()
    };
    if args.dataplane == "none" {
        let dataplane = SnapshotDataplane::new(args.workers).context("start worker threads")?;
        let mut daemon = Daemon::new(opts, dataplane).context("start the control loop")?;
        log::info!("southpaw run: started (no dataplane)");
        daemon.run(&stop);
        log::info!("southpaw run: stopped");
        return Ok(());
    }
    let mode = match args.xdp_mode.as_str() {
        "native" => XdpAttachMode::Driver,
        "skb" => XdpAttachMode::Skb,
        _ => XdpAttachMode::Auto,
    };
    if args.workers > 1 {
        log::warn!(
            "--workers {}: one AF_XDP worker serves all ports for now",
            args.workers
        );
    }
    let dataplane = XdpDataplane::new(mode).context("start the worker thread")?;
    let reporter = (args.stats_interval > 0).then(|| {
        let stats = dataplane.stats();
        let stop = stop.clone();
        let every = std::time::Duration::from_secs(args.stats_interval);
        std::thread::spawn(move || {
            let mut next = std::time::Instant::now() + every;
            while !stop.load(Ordering::Acquire) {
                std::thread::park_timeout(
                    next.saturating_duration_since(std::time::Instant::now()),
                );
                if std::time::Instant::now() < next {
                    continue;
                }
                next += every;
                log::info!("{}", stats_line(&stats));
            }
        })
    });
    let ctl_path = args
        .ctl
        .clone()
        .unwrap_or_else(crate::ctl_server::default_path);
    // A daemon without its control socket still forwards: report and go on.
    let ctl = match CtlServer::start(&ctl_path, dataplane.view()) {
        Ok(s) => {
            log::info!("control socket: {}", s.path().display());
            Some(s)
        }
        Err(e) => {
            log::error!("no control socket: {e:#}");
            None
        }
    };
    let mut daemon = Daemon::new(opts, dataplane).context("start the control loop")?;
    log::info!("southpaw run: started");
    daemon.run(&stop);
    let stats = daemon.dataplane().stats();
    drop(ctl);
    // Dropping the daemon stops and joins the worker, which publishes its final counters.
    drop(daemon);
    log::info!("{}", stats_line(&stats));
    log::info!("southpaw run: stopped");
    if let Some(r) = reporter {
        r.thread().unpark();
        let _ = r.join();
    }
    Ok(())
}

/// One line: per-port rx/tx packets, cache tiers, drops.
pub fn stats_line(stats: &[Arc<datapath::worker::WorkerStats>]) -> String {
    use std::fmt::Write;
    let (c, ports) = totals(stats);
    let mut line = String::from("stats:");
    for (name, p) in &ports {
        let _ = write!(line, " {name} rx {} tx {};", p.rx_packets, p.tx_packets);
    }
    for (kind, name, v) in c.iter() {
        if v != 0 {
            let _ = write!(line, " {kind}:{name}={v}");
        }
    }
    let recirc: u64 = stats
        .iter()
        .map(|s| s.recirculations.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    if recirc != 0 {
        let _ = write!(line, " recirculations={recirc}");
    }
    for s in stats {
        for (cause, v) in datapath::actions::Cause::ALL.iter().zip(s.causes()) {
            if v != 0 {
                let _ = write!(line, " drop:{}={v}", cause.name());
            }
        }
        if let Some(e) = s.error.lock().unwrap_or_else(|e| e.into_inner()).as_deref() {
            let _ = write!(line, " error: {e}");
        }
    }
    line
}
