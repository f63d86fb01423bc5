//! `compare`: the same data-plane scenarios through ovn-controller + ovs-vswitchd and
//! through `southpaw run` (issue 7), one plane at a time on the same single-core budget.
//!
//! ```text
//! bench/compare [--secs 5] [--quick] [--out-dir bench/results]
//! ```
//!
//! For each plane and topology a fresh [`OvnSandbox`] gets the topology (seed 004, or two
//! switches joined by a router), the plane is started as its only chassis with the
//! containers bound ([`planes`]), and the traffic of each scenario runs between two
//! containers ([`traffic`]): `southpaw pktgen both` (64-byte UDP flat out, delivered pps at
//! the sink) and `iperf3` (Gbit/s). OVS uses the netdev datapath with AF_XDP ports and one
//! PMD thread on core 1; southpaw its one worker (pinned to the last CPU, core 1 here); the
//! generator, sink and iperf3 run on core 0. The control-plane rows are imported from
//! `cp_bench`'s results file, and `ceiling` runs the same pktgen over a bare veth pair.
//! Writes `latest.md`, `latest.json` and the ratio chart `latest.png` ([`chart`]).

#[allow(dead_code)]
#[path = "../cp_bench/plane.rs"]
mod plane;
#[allow(dead_code)]
#[path = "../cp_bench/report.rs"]
mod report;

mod chart;
mod planes;
mod rows;
mod traffic;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;

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
    /// Where latest.{md,json,png} go.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    out_dir: PathBuf,
    /// cp_bench's results, imported for the control-plane rows.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results/control-plane.json"))]
    cp_json: PathBuf,
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
    let scenarios: &[Scenario] = if args.quick {
        &[Scenario::L2, Scenario::Tcp1]
    } else {
        Scenario::ALL
    };
    let machine = rows::machine();
    eprintln!("machine: {machine}");
    let load0 = rows::loadavg();

    let ovs = planes::measure(Kind::Ovs, &bin, scenarios, secs)?;
    let sp = planes::measure(Kind::Southpaw, &bin, scenarios, secs)?;
    let mut out: Vec<Row> = scenarios
        .iter()
        .filter_map(|s| {
            let o = ovs.iter().find(|(k, _)| k == s)?.1;
            let p = sp.iter().find(|(k, _)| k == s)?.1;
            Some(Row::new(s.name(), s.metric(), s.unit(), o, p, true))
        })
        .collect();
    if !args.quick {
        out.extend(rows::import_control_plane(&args.cp_json));
        let c = planes::ceiling(&bin, secs)?;
        out.push(Row::new(
            "ceiling",
            "pps (bare veth, no plane)",
            "pps",
            c,
            c,
            true,
        ));
    }
    let load1 = rows::loadavg();

    let title = format!(
        "Data plane, {secs} s per measurement; {machine}; load average {load0} at start, \
         {load1} at end"
    );
    let md = format!("### {title}\n\n{}", rows::markdown(&out));
    println!("{md}");
    std::fs::create_dir_all(&args.out_dir)?;
    std::fs::write(args.out_dir.join("latest.md"), &md)?;
    let v = serde_json::json!({
        "machine": machine,
        "secs": secs,
        "load": [load0, load1],
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
