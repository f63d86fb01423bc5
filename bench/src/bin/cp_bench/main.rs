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
//! bound local ports and time the first full pipeline ([`plane`]), then time `--wait=hv`
//! (and `--wait=sb`, northd's share) for adding a port and an ACL, `--reps` times each
//! ([`topo::measure`]), and the full compile (ovn-controller's `flow-generation` stopwatch
//! after a cache flush; `southpaw compile` `compile_ms`). Prints a Markdown table and
//! writes the rows as JSON. Needs root (namespaces, veths).

mod plane;
mod report;
mod topo;

use std::path::PathBuf;

use anyhow::{bail, Result};
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

    eprintln!("== ovn-controller + ovs-vswitchd ==");
    let (ovs, lflows) = run_ovs(&args, size)?;
    eprintln!("== southpaw ({}) ==", bin.display());
    let (sp, sp_info) = run_southpaw(&args, size, &bin, &sp_log)?;

    let rows = rows(&ovs, &sp);
    let title = format!(
        "{} switches x {} ports on one router, {lflows} logical flows (Logical_Flow rows); \
         {} samples per latency, median of {} full compiles",
        args.switches, args.ports, args.reps, args.compile_reps
    );
    println!("### Control plane: {title}\n");
    println!("{}", report::markdown(&rows));
    println!("{sp_info}");
    report::write_json(&args.json, &rows)?;
    eprintln!("wrote {}", args.json.display());
    Ok(())
}

fn run_ovs(args: &Args, size: Size) -> Result<(Measured, usize)> {
    let ovn = OvnSandbox::start()?;
    let lflows = topo::build(&ovn, size)?;
    eprintln!("topology: {lflows} logical flows");
    let ports = topo::local_ports(size);
    let (mut p, first_ms) = plane::start_ovs(&ovn, &ports)?;
    let Plane::Ovs { peer, .. } = &p else {
        bail!("start_ovs returned another plane");
    };
    let flows = plane::ovs_openflow_flows(peer)? as f64;
    eprintln!("first full pipeline {first_ms:.0} ms, {flows} OpenFlow flows");
    let lat = topo::measure(&ovn, args.reps)?;
    let Plane::Ovs { peer, .. } = &p else {
        bail!("start_ovs returned another plane");
    };
    let compile_ms = plane::ovs_full_compile_ms(&ovn, peer, args.compile_reps)?;
    p.check_running()?;
    Ok((
        Measured {
            first_ms,
            flows,
            compile_ms,
            lat,
        },
        lflows,
    ))
}

fn run_southpaw(
    args: &Args,
    size: Size,
    bin: &std::path::Path,
    log: &std::path::Path,
) -> Result<(Measured, String)> {
    let ovn = OvnSandbox::start()?;
    let lflows = topo::build(&ovn, size)?;
    eprintln!("topology: {lflows} logical flows");
    let ports = topo::local_ports(size);
    let (mut p, first_ms) = plane::start_southpaw(&ovn, &ports, bin, log)?;
    eprintln!("first full pipeline {first_ms:.0} ms");
    let lat = topo::measure(&ovn, args.reps)?;
    let c = plane::southpaw_compile(bin, &ovn, args.compile_reps)?;
    p.check_running()?;
    let info = format!(
        "southpaw compile: {} flows compiled, {} logical flows rejected (see `southpaw \
         compile --db SB`); southpaw run's last dataplane line: {}",
        c.flows,
        c.rejected,
        last_dataplane_line(log)
    );
    Ok((
        Measured {
            first_ms,
            flows: c.flows as f64,
            compile_ms: c.compile_ms,
            lat,
        },
        info,
    ))
}

/// The last `dataplane: epoch ...` line of southpaw's log (what it compiled and published).
fn last_dataplane_line(log: &std::path::Path) -> String {
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
