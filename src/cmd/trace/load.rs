//! Loading for `southpaw trace`: one Southbound read (every table, no conditions) turned
//! into the compiler's [`Model`], adjusted to be chassis-agnostic the way `ovn-trace` is.
//!
//! The SB → model conversion is the datapath's ([`control::to_model::to_model`]).
//!
//! Chassis-agnostic: `ovn-trace` has no chassis, treats every existing port as resident
//! (`is_chassis_resident()` is true) and outputs to every port. So every port binding is
//! bound to [`TRACE_CHASSIS`] and `l3gateway` ports name it as their gateway chassis.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use control::{Event, SbSnapshot, Session, SessionConfig};
use pipeline::model::Model;

/// The chassis name a trace pretends to be.
pub const TRACE_CHASSIS: &str = "southpaw-trace";

/// Connects to the SB at `remote`, waits for the initial contents (bounded by `timeout`)
/// and returns the snapshot.
pub fn read_sb(remote: &str, timeout: Duration) -> Result<SbSnapshot> {
    let monitors = control::sb::monitors(TRACE_CHASSIS, true);
    let cfg = SessionConfig::new(remote, "OVN_Southbound", monitors)
        .with_context(|| format!("SB remote {remote}"))?;
    let mut s = Session::new(cfg);
    let deadline = Instant::now() + timeout;
    let mut last_err = String::new();
    loop {
        let now = Instant::now();
        if now >= deadline {
            bail!("no Southbound contents from {remote} within {timeout:?} {last_err}");
        }
        for ev in s.run_once(deadline - now) {
            match ev {
                Event::Connected { .. } => {
                    return Ok(SbSnapshot::build(
                        s.replica(),
                        TRACE_CHASSIS,
                        None,
                        &BTreeMap::new(),
                    ));
                }
                Event::ConnectFailed { reason, .. } | Event::Disconnected { reason, .. } => {
                    last_err = format!("(last error: {reason})");
                }
                Event::Updated => {}
            }
        }
    }
}

/// The compiler's model of `sb` ([`control::to_model::to_model`], as the datapath
/// builds it), made chassis-agnostic: every port resident on [`TRACE_CHASSIS`].
/// No `$svc_monitor_mac` address set, as `ovn-trace` defines none.
pub fn snapshot_to_model(sb: &SbSnapshot) -> Model {
    let mut m = control::to_model::to_model(sb, None);
    m.chassis = TRACE_CHASSIS.to_string();
    for p in &mut m.ports {
        p.chassis = Some(TRACE_CHASSIS.to_string());
        if p.kind == "l3gateway" {
            p.options
                .insert("l3gateway-chassis".into(), TRACE_CHASSIS.into());
        }
    }
    m
}
