//! The control-plane benchmark, shared by the `cp_bench` binary (all rows, 20 samples) and
//! `bench/compare` (the medians, fewer samples, in the same session as the data plane).
//!
//! Both forwarding planes, ovn-controller + ovs-vswitchd and `southpaw run`, each on its own
//! fresh [`OvnSandbox`] with the same topology ([`topo`]), alive at the same time: started
//! one after the other (first full pipeline, [`plane`]), then their samples interleaved (one
//! of ovs, one of southpaw, ...) so that background load on the machine hits both alike.

pub mod plane;
pub mod report;
pub mod topo;

use std::path::Path;

use anyhow::{bail, Context, Result};
use testbed::OvnSandbox;

use plane::Plane;
use report::{median, percentile, Row};
use topo::{Latencies, Size};

/// How much to measure.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub size: Size,
    /// Samples per latency metric.
    pub reps: u32,
    /// Samples of the full-compile metric.
    pub compile_reps: u32,
}

/// Everything measured on one plane.
#[derive(Debug, Default)]
pub struct Measured {
    pub first_ms: f64,
    /// OpenFlow flows in br-int (ovs) or compiled flows (southpaw).
    pub flows: f64,
    pub compile_ms: f64,
    pub lat: Latencies,
}

/// Both planes' measurements, the topology's `Logical_Flow` count and a line on what
/// southpaw compiled.
#[derive(Debug)]
pub struct Outcome {
    pub ovs: Measured,
    pub southpaw: Measured,
    pub lflows: usize,
    pub info: String,
}

/// Builds the topology twice, starts both planes and takes every sample (see the module
/// note). `log` is southpaw's log file (its control socket goes next to it).
pub fn run_both(opts: &Options, bin: &Path, log: &Path) -> Result<Outcome> {
    if opts.size.switches == 0 || opts.size.ports == 0 || opts.reps == 0 {
        bail!("switches, ports and reps must be at least 1");
    }
    let ports = topo::local_ports(opts.size);
    let ovn_o = OvnSandbox::start()?;
    let lflows = topo::build(&ovn_o, opts.size)?;
    let ovn_s = OvnSandbox::start()?;
    let lflows_s = topo::build(&ovn_s, opts.size)?;
    if lflows != lflows_s {
        bail!("the two sandboxes differ: {lflows} vs {lflows_s} logical flows");
    }
    eprintln!("topology: {lflows} logical flows (in each of two sandboxes)");

    eprintln!("== ovn-controller + ovs-vswitchd ==");
    let (mut po, o_first) = plane::start_ovs(&ovn_o, &ports)?;
    let Plane::Ovs { peer, .. } = &po else {
        bail!("start_ovs returned another plane");
    };
    let o_flows = plane::ovs_openflow_flows(peer)? as f64;
    eprintln!("first full pipeline {o_first:.0} ms, {o_flows} OpenFlow flows");
    eprintln!("== southpaw ({}) ==", bin.display());
    let (mut ps, s_first) = plane::start_southpaw(&ovn_s, &ports, bin, log)?;
    eprintln!("first full pipeline {s_first:.0} ms");

    let (mut lo, mut ls) = (Latencies::default(), Latencies::default());
    for k in 0..opts.reps {
        topo::measure_rep(&ovn_o, k, &mut lo).context("ovn-controller + ovs")?;
        topo::measure_rep(&ovn_s, k, &mut ls).context("southpaw")?;
        eprint!("\rsample {}/{}", k + 1, opts.reps);
    }
    eprintln!();
    let (mut co, mut cs) = (Vec::new(), Vec::new());
    let mut sp_compile = plane::SpCompile::default();
    for _ in 0..opts.compile_reps.max(1) {
        let Plane::Ovs { peer, .. } = &po else {
            bail!("start_ovs returned another plane");
        };
        co.push(plane::ovs_full_compile_ms(&ovn_o, peer, 1)?);
        sp_compile = plane::southpaw_compile(bin, &ovn_s, 1)?;
        cs.push(sp_compile.compile_ms);
    }
    po.check_running()?;
    ps.check_running()?;
    let info = format!(
        "southpaw compile: {} flows compiled, {} logical flows rejected (see `southpaw \
         compile --db SB`); southpaw run's last dataplane line: {}",
        sp_compile.flows,
        sp_compile.rejected,
        last_dataplane_line(log)
    );
    Ok(Outcome {
        ovs: Measured {
            first_ms: o_first,
            flows: o_flows,
            compile_ms: median(&co),
            lat: lo,
        },
        southpaw: Measured {
            first_ms: s_first,
            flows: sp_compile.flows as f64,
            compile_ms: median(&cs),
            lat: ls,
        },
        lflows,
        info,
    })
}

/// The last `dataplane: epoch ...` line of southpaw's log (what it compiled and published).
fn last_dataplane_line(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .rev()
        .find(|l| l.contains("dataplane: epoch"))
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| "(none)".into())
}

/// Every row of `cp_bench`: per latency the median, p90 and northd's median, then the
/// first full pipeline (time, flows) and the full compile.
pub fn rows(o: &Measured, s: &Measured) -> Vec<Row> {
    let row = |scenario, metric, unit, ovs, southpaw| Row {
        scenario,
        metric,
        unit,
        ovs,
        southpaw,
    };
    let mut v = Vec::new();
    for (scenario, oh, osb, sh, ssb) in [
        (
            "wait-hv-port-add",
            &o.lat.port_hv,
            &o.lat.port_sb,
            &s.lat.port_hv,
            &s.lat.port_sb,
        ),
        (
            "wait-hv-acl-add",
            &o.lat.acl_hv,
            &o.lat.acl_sb,
            &s.lat.acl_hv,
            &s.lat.acl_sb,
        ),
    ] {
        v.push(row(scenario, "median", "ms", median(oh), median(sh)));
        v.push(row(
            scenario,
            "p90",
            "ms",
            percentile(oh, 90.0),
            percentile(sh, 90.0),
        ));
        v.push(row(
            scenario,
            "northd_median",
            "ms",
            median(osb),
            median(ssb),
        ));
    }
    v.push(row(
        "first-full-pipeline",
        "time",
        "ms",
        o.first_ms,
        s.first_ms,
    ));
    v.push(row(
        "first-full-pipeline",
        "flows",
        "flows",
        o.flows,
        s.flows,
    ));
    v.push(row(
        "full-compile",
        "median",
        "ms",
        o.compile_ms,
        s.compile_ms,
    ));
    v
}

/// The 1-minute load average (other work on the machine skews every number).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}
