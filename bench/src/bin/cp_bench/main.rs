//! `cp_bench`: the control-plane benchmark, ovn-controller + ovs-vswitchd against
//! `southpaw run` on the same topology (issue 4 "Done means", issue 7 rows).
//!
//! ```text
//! cargo build --release --bin southpaw
//! cargo run --release -p southpaw-bench --bin cp_bench -- [--reps 20] [--json FILE]
//! ```
//!
//! For each plane, on its own fresh [`testbed::OvnSandbox`]: build the topology
//! (`bench/topologies/100x20.sh`: one router, 100 switches x 20 ports, port security and
//! one port-group ACL, ~11,800 logical flows), start the plane as the only chassis with two
//! bound local ports and time the first full pipeline ([`plane`]). Then, with both planes
//! alive, interleave their samples (so background load hits both alike): `--wait=hv` (and
//! `--wait=sb`, northd's share) for adding a port and an ACL, `--reps` times each
//! ([`topo::measure_rep`]), and the full compile (ovn-controller's `flow-generation`
//! stopwatch after a cache flush; `southpaw compile` `compile_ms`). Prints a Markdown table and
//! writes the rows as JSON. Needs root (namespaces, veths).

mod plane;
mod report;
mod topo;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Parser;
use testbed::OvnSandbox;

use plane::Plane;
use report::{median, percentile, Row};
use topo::{Latencies, Size};

#[derive(Parser, Debug)]
#[command(about = "Control-plane benchmark: ovn-controller + ovs-vswitchd vs southpaw run")]
struct Args {
    /// Samples per latency metric.
    #[arg(long, default_value_t = 20)]
    reps: u32,
    /// Samples of the full-compile metric.
    #[arg(long, default_value_t = 5)]
    compile_reps: u32,
    /// Logical switches on the router.
    #[arg(long, default_value_t = 100)]
    switches: u32,
    /// Ports per switch.
    #[arg(long, default_value_t = 20)]
    ports: u32,
    /// Where to write the JSON rows.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results/control-plane.json"))]
    json: PathBuf,
    /// The southpaw binary (default: $SOUTHPAW_BIN, else next to this executable).
    #[arg(long)]
    southpaw: Option<PathBuf>,
    /// Directory for southpaw's log (default: a temporary directory, removed at exit).
    #[arg(long)]
    log_dir: Option<PathBuf>,
}

/// Everything measured on one plane.
#[derive(Debug, Default)]
struct Measured {
    first_ms: f64,
    /// OpenFlow flows in br-int (ovs) or compiled flows (southpaw).
    flows: f64,
    compile_ms: f64,
    lat: Latencies,
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("cp_bench: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let args = Args::parse();
    if !testbed::is_root() {
        bail!("needs root (network namespaces, veth pairs)");
    }
    if args.switches == 0 || args.ports == 0 || args.reps == 0 {
        bail!("--switches, --ports and --reps must be at least 1");
    }
    let bin = plane::southpaw_bin(args.southpaw.clone())?;
    let size = Size {
        switches: args.switches,
        ports: args.ports,
    };
    let tmp = testbed::names::temp_dir("cpbench")?;
    let log_dir = args
        .log_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&log_dir)?;
    let sp_log = log_dir.join("southpaw-run.log");

    let load0 = loadavg();
    let (ovs, sp, lflows, sp_info) = run_both(&args, size, &bin, &sp_log)?;
    let load1 = loadavg();

    let rows = rows(&ovs, &sp);
    let title = format!(
        "{} switches x {} ports on one router, {lflows} logical flows (Logical_Flow rows); \
         {} samples per latency, median of {} full compiles; load average {load0} at start, \
         {load1} at end",
        args.switches, args.ports, args.reps, args.compile_reps
    );
    println!("### Control plane: {title}\n");
    println!("{}", report::markdown(&rows));
    println!("{sp_info}");
    report::write_json(&args.json, &rows)?;
    eprintln!("wrote {}", args.json.display());
    Ok(())
}

/// The 1-minute load average (other work on the machine skews every number).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Both planes, each on its own sandbox, alive at the same time: started one after the
/// other (first full pipeline), then their samples interleaved (one of ovs, one of
/// southpaw, ...) so that background load on the machine hits both alike.
fn run_both(
    args: &Args,
    size: Size,
    bin: &Path,
    log: &Path,
) -> Result<(Measured, Measured, usize, String)> {
    let ports = topo::local_ports(size);
    let ovn_o = OvnSandbox::start()?;
    let lflows = topo::build(&ovn_o, size)?;
    let ovn_s = OvnSandbox::start()?;
    let lflows_s = topo::build(&ovn_s, size)?;
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
    for k in 0..args.reps {
        topo::measure_rep(&ovn_o, k, &mut lo).context("ovn-controller + ovs")?;
        topo::measure_rep(&ovn_s, k, &mut ls).context("southpaw")?;
        eprint!("\rsample {}/{}", k + 1, args.reps);
    }
    eprintln!();
    let (mut co, mut cs) = (Vec::new(), Vec::new());
    let mut sp_compile = plane::SpCompile::default();
    for _ in 0..args.compile_reps.max(1) {
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
    let ovs = Measured {
        first_ms: o_first,
        flows: o_flows,
        compile_ms: median(&co),
        lat: lo,
    };
    let sp = Measured {
        first_ms: s_first,
        flows: sp_compile.flows as f64,
        compile_ms: median(&cs),
        lat: ls,
    };
    Ok((ovs, sp, lflows, info))
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

fn rows(o: &Measured, s: &Measured) -> Vec<Row> {
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
