//! `compare`: the same data-plane scenarios through ovn-controller + ovs-vswitchd and
//! through `southpaw run` (issue 7), one plane at a time on the same single-core budget.
//!
//! ```text
//! bench/compare [--secs 5] [--quick] [--only SCENARIO,...] [--out-dir bench/results]
//!               [--cp-reps 7] [--cp-compile-reps 3] [--import-cp FILE]
//! ```
//!
//! For each plane and topology a fresh [`OvnSandbox`] gets the topology (seed 004, or two
//! switches joined by a router), the plane is started as its only chassis with the
//! containers bound ([`planes`]), and the traffic of each scenario runs between two
//! containers ([`traffic`]): `southpaw pktgen both` (64-byte UDP flat out, delivered pps at
//! the sink) and `iperf3` (Gbit/s). OVS uses the netdev datapath with AF_XDP ports and one
//! PMD thread on core 1; southpaw its one worker (pinned to the last CPU, core 1 here); the
//! generator, sink and iperf3 run on core 0. `ceiling` runs the same pktgen over a bare
//! veth pair. Then the control-plane rows are measured in the same session by `cp_bench`'s
//! code ([`southpaw_bench::cp`], both planes alive, samples interleaved, `--cp-reps`
//! samples), or imported from a `cp_bench` results file with `--import-cp FILE`.
//! Writes `latest.md`, `latest.json` and the ratio chart `latest.png` ([`chart`]).

mod chart;
mod planes;
mod rows;
mod traffic;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use southpaw_bench::cp::{self, plane, topo::Size};

use planes::{Kind, Scenario};
use rows::Row;

#[derive(Parser, Debug)]
#[command(about = "Data-plane comparison: ovn-controller + ovs-vswitchd vs southpaw run")]
struct Args {
    /// Seconds per rate measurement.
    #[arg(long, default_value_t = 5)]
    secs: u32,
    /// 1 s per measurement, only l2-64b-pps and tcp-1-stream (the smoke test).
    #[arg(long)]
    quick: bool,
    /// Only these data-plane scenarios (comma-separated names, e.g. conntrack-lb-64b-pps),
    /// without the ceiling and the control-plane rows.
    #[arg(long, value_delimiter = ',', value_name = "SCENARIO")]
    only: Vec<String>,
    /// Where latest.{md,json,png} go.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    out_dir: PathBuf,
    /// Samples per control-plane latency (`--wait=hv` port add, ACL add), measured in this
    /// run on cp_bench's 100 x 20 topology; 0: no control-plane rows.
    #[arg(long, default_value_t = 7)]
    cp_reps: u32,
    /// Samples of the control-plane full compile.
    #[arg(long, default_value_t = 3)]
    cp_compile_reps: u32,
    /// Take the control-plane rows from this `cp_bench` JSON instead of measuring them
    /// (e.g. bench/results/control-plane.json).
    #[arg(long, value_name = "FILE")]
    import_cp: Option<PathBuf>,
    /// The southpaw binary (default: $SOUTHPAW_BIN, else next to this executable).
    #[arg(long)]
    southpaw: Option<PathBuf>,
    /// Only redraw latest.png from latest.json.
    #[arg(long)]
    replot: bool,
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("compare: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let args = Args::parse();
    let png = args.out_dir.join("latest.png");
    let json = args.out_dir.join("latest.json");
    if args.replot {
        let text = std::fs::read_to_string(&json).with_context(|| json.display().to_string())?;
        let v: serde_json::Value = serde_json::from_str(&text)?;
        let rows = rows::from_json(&v["rows"]);
        return chart::write_png(&png, &rows);
    }
    if !testbed::is_root() {
        bail!("needs root (network namespaces, veth pairs, XDP)");
    }
    let bin = plane::southpaw_bin(args.southpaw.clone())?;
    let secs = if args.quick { 1 } else { args.secs.max(1) };
    let scenarios: Vec<Scenario> = if !args.only.is_empty() {
        let mut v = Vec::new();
        for name in &args.only {
            match Scenario::ALL.iter().find(|s| s.name() == name) {
                Some(s) => v.push(*s),
                None => bail!(
                    "unknown scenario {name:?}; known: {}",
                    Scenario::ALL
                        .iter()
                        .map(|s| s.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
        v
    } else if args.quick {
        vec![Scenario::L2, Scenario::Tcp1]
    } else {
        Scenario::ALL.to_vec()
    };
    let scenarios = &scenarios[..];
    let all = !args.quick && args.only.is_empty();
    let machine = rows::machine();
    eprintln!("machine: {machine}");
    let t0 = Instant::now();
    let load0 = cp::loadavg();

    let ovs = planes::measure(Kind::Ovs, &bin, scenarios, secs)?;
    let sp = planes::measure(Kind::Southpaw, &bin, scenarios, secs)?;
    let mut out: Vec<Row> = scenarios
        .iter()
        .filter_map(|s| {
            let o = ovs.iter().find(|m| m.scenario == *s)?;
            let p = sp.iter().find(|m| m.scenario == *s)?;
            let mut row = Row::new(s.name(), s.metric(), s.unit(), o.value, p.value, true);
            row.note = match (&o.note, &p.note) {
                (None, None) => None,
                (a, b) => Some(format!(
                    "ovs: {}; southpaw: {}",
                    a.as_deref().unwrap_or("-"),
                    b.as_deref().unwrap_or("-")
                )),
            };
            Some(row)
        })
        .collect();
    let mut ceiling = None;
    if all {
        let c = planes::ceiling(&bin, secs)?;
        ceiling = Some(Row::new(
            "ceiling",
            "pps (bare veth, no plane)",
            "pps",
            c,
            c,
            true,
        ));
    }
    let mut cp_title = String::new();
    if let Some(file) = &args.import_cp {
        out.extend(rows::import_control_plane(file));
    } else if all && args.cp_reps > 0 {
        let opts = cp::Options {
            size: Size {
                switches: 100,
                ports: 20,
            },
            reps: args.cp_reps,
            compile_reps: args.cp_compile_reps.max(1),
        };
        eprintln!("== control plane (cp_bench, {} samples) ==", opts.reps);
        let log_dir = testbed::names::temp_dir("comparecp")?;
        let o = cp::run_both(&opts, &bin, &log_dir.path().join("southpaw-run.log"))?;
        eprintln!("{}", o.info);
        cp_title = format!(
            "; control plane on {} x {} ({} logical flows)",
            opts.size.switches, opts.size.ports, o.lflows
        );
        out.extend(rows::control_plane(&o, opts.reps, opts.compile_reps));
    }
    out.extend(ceiling);
    let load1 = cp::loadavg();
    let took = t0.elapsed().as_secs();

    let title = format!(
        "Data plane, {secs} s per measurement{cp_title}; {machine}; load average {load0} at \
         start, {load1} at end; {took} s"
    );
    let md = format!("### {title}\n\n{}", rows::markdown(&out));
    println!("{md}");
    std::fs::create_dir_all(&args.out_dir)?;
    std::fs::write(args.out_dir.join("latest.md"), &md)?;
    let v = serde_json::json!({
        "machine": machine,
        "secs": secs,
        "load": [load0, load1],
        "seconds": took,
        "rows": out.iter().map(Row::to_json).collect::<Vec<_>>(),
    });
    std::fs::write(&json, serde_json::to_string_pretty(&v)? + "\n")?;
    chart::write_png(&png, &out)?;
    eprintln!(
        "wrote {}, {} and {}",
        args.out_dir.join("latest.md").display(),
        json.display(),
        png.display()
    );
    Ok(())
}
