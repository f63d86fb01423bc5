//! `southpaw compile`: read the Southbound DB once, compile every logical datapath with
//! southpaw's compiler and report flows per datapath and table, rejected flows with their
//! reasons, and the compile time. Exit status 1 when any flow was rejected.
//!
//! `--json` prints one object:
//! `{"datapaths": N, "flows": N, "rejected": [{"uuid", "datapath", "pipeline", "table",
//! "priority", "reason"}], "compile_ms": X}`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use control::{Event, SbSnapshot, Session, SessionConfig};
use pipeline::actions::Pipeline;
use pipeline::compile::compile;
use pipeline::Symtab;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Southbound remote (e.g. unix:/var/run/ovn/ovnsb_db.sock or tcp:IP:6642).
    #[arg(long, value_name = "REMOTE")]
    db: String,
    /// Chassis to compile for (`is_chassis_resident`, local vs remote ports).
    #[arg(long, default_value = "")]
    chassis: String,
    /// Print a JSON summary instead of the table.
    #[arg(long)]
    json: bool,
    /// How long to wait for the Southbound contents.
    #[arg(long, default_value = "10", value_name = "SECONDS")]
    timeout: u64,
}

fn read_sb(remote: &str, chassis: &str, timeout: Duration) -> Result<(SbSnapshot, Option<String>)> {
    let monitors = control::sb::monitors(chassis, true);
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
                    let snap = SbSnapshot::build(s.replica(), chassis, None, &BTreeMap::new());
                    let svc = control::to_model::svc_monitor_mac(s.replica());
                    return Ok((snap, svc));
                }
                Event::ConnectFailed { reason, .. } | Event::Disconnected { reason, .. } => {
                    last_err = format!("(last error: {reason})");
                }
                Event::Updated => {}
            }
        }
    }
}

fn pipe(p: Pipeline) -> &'static str {
    match p {
        Pipeline::Ingress => "ingress",
        Pipeline::Egress => "egress",
    }
}

pub fn run(args: Args) -> Result<()> {
    let (snap, svc) = read_sb(&args.db, &args.chassis, Duration::from_secs(args.timeout))?;
    let model = control::to_model::to_model(&snap, svc.as_deref());
    let symtab = Arc::new(Symtab::ovn());
    let t0 = Instant::now();
    let c = compile(&model, symtab);
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    if args.json {
        let rejected: Vec<_> = c
            .rejected
            .iter()
            .map(|r| {
                serde_json::json!({
                    "uuid": r.uuid,
                    "datapath": r.datapath,
                    "pipeline": pipe(r.pipeline),
                    "table": r.table,
                    "priority": r.priority,
                    "reason": r.reason,
                })
            })
            .collect();
        let out = serde_json::json!({
            "datapaths": c.datapaths.len(),
            "flows": c.n_flows(),
            "rejected": rejected,
            "compile_ms": (ms * 1000.0).round() / 1000.0,
        });
        println!("{out}");
    } else {
        for d in &c.datapaths {
            println!("datapath {} (key {}, {:?})", d.name, d.key, d.kind);
            for (pi, tables) in d.tables.iter().enumerate() {
                for (ti, t) in tables.iter().enumerate() {
                    if t.n_flows() > 0 {
                        println!(
                            "  {:7} table {:2}: {:5} flows, {:5} conjunctions",
                            if pi == 0 { "ingress" } else { "egress" },
                            ti,
                            t.n_flows(),
                            t.n_conjunctions()
                        );
                    }
                }
            }
        }
        for r in &c.rejected {
            println!(
                "REJECTED {} {} {} table {} priority {}: {}\n    {}",
                r.uuid,
                r.datapath,
                pipe(r.pipeline),
                r.table,
                r.priority,
                r.reason,
                r.text
            );
        }
        println!(
            "{} datapaths, {} flows, {} rejected, compiled in {:.1} ms",
            c.datapaths.len(),
            c.n_flows(),
            c.rejected.len(),
            ms
        );
    }
    if !c.rejected.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
