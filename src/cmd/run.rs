//! `southpaw run`: the chassis daemon. Reads its configuration from the local Open_vSwitch
//! DB (as ovn-controller does), registers the chassis in the Southbound DB, claims the port
//! bindings of local interfaces, monitors this chassis' share of the SB, does the database
//! writes ovs-vswitchd would (ofports, link state, `cur_cfg`), and hands SB snapshots to the
//! dataplane (a placeholder until the pipeline compiler and workers are wired in).
//!
//! Standalone (no Open_vSwitch DB): pass `--sb`, `--chassis`, `--encap` and `--iface`, and
//! either `--db none` or have no database at the default socket.
//!
//! SIGINT/SIGTERM exit cleanly; the Chassis rows and bindings stay (a restart resumes
//! them, as after ovn-controller's `exit --restart`) unless `--cleanup-on-exit` is given.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use control::config::{parse_encap, parse_iface};
use control::{Daemon, DaemonOptions, Overrides, SnapshotDataplane};

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
    /// Placeholder worker threads that adopt each published snapshot.
    #[arg(long, default_value_t = 1)]
    workers: usize,
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
    let dataplane = SnapshotDataplane::new(args.workers).context("start worker threads")?;
    let opts = DaemonOptions {
        ovs_remote,
        overrides,
        cleanup_on_exit: args.cleanup_on_exit,
        ..DaemonOptions::default()
    };
    let mut daemon = Daemon::new(opts, dataplane).context("start the control loop")?;
    log::info!("southpaw run: started");
    daemon.run(&stop);
    log::info!("southpaw run: stopped");
    Ok(())
}
