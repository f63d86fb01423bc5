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
//! bound local ports and time the first full pipeline ([`cp::plane`]). Then, with both planes
//! alive, interleave their samples (so background load hits both alike): `--wait=hv` (and
//! `--wait=sb`, northd's share) for adding a port and an ACL, `--reps` times each
//! ([`cp::topo::measure_rep`]), and the full compile (ovn-controller's `flow-generation`
//! stopwatch after a cache flush; `southpaw compile` `compile_ms`). Prints a Markdown table and
//! writes the rows as JSON. Needs root (namespaces, veths). The logic is the library's
//! [`southpaw_bench::cp`], which `bench/compare` runs too (fewer samples, medians only).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Parser;
use southpaw_bench::cp::{self, plane, report, topo::Size};

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
    let bin = plane::southpaw_bin(args.southpaw.clone())?;
    let opts = cp::Options {
        size: Size {
            switches: args.switches,
            ports: args.ports,
        },
        reps: args.reps,
        compile_reps: args.compile_reps,
    };
    let tmp = testbed::names::temp_dir("cpbench")?;
    let log_dir = args
        .log_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&log_dir)?;
    let sp_log = log_dir.join("southpaw-run.log");

    let load0 = cp::loadavg();
    let out = cp::run_both(&opts, &bin, &sp_log)?;
    let load1 = cp::loadavg();

    let rows = cp::rows(&out.ovs, &out.southpaw);
    let title = format!(
        "{} switches x {} ports on one router, {} logical flows (Logical_Flow rows); \
         {} samples per latency, median of {} full compiles; load average {load0} at start, \
         {load1} at end",
        args.switches, args.ports, out.lflows, args.reps, args.compile_reps
    );
    println!("### Control plane: {title}\n");
    println!("{}", report::markdown(&rows));
    println!("{}", out.info);
    report::write_json(&args.json, &rows)?;
    eprintln!("wrote {}", args.json.display());
    Ok(())
}
