//! `southpaw compile --json` against a real Southbound DB: the seed 004 topology (one
//! switch, two ports) and the two-switch-plus-router topology compile with zero rejected
//! flows, and the JSON summary has the documented shape.
//!
//! Runs the built binary: `cargo build --bin southpaw` first (same target dir), or set
//! `SOUTHPAW_BIN`.

use std::process::Command;

use serde_json::Value;
use testbed::southpaw_bin;
use testbed::topo::Topology;
use testbed::{skip_unless_root, OvnSandbox};

fn compile_json(topo: &Topology) -> Value {
    let ovn = OvnSandbox::start().expect("OVN sandbox");
    topo.apply(&ovn, |_| {}).expect("topology");
    let out = Command::new(southpaw_bin())
        .args(["compile", "--db", &ovn.sb_remote(), "--json"])
        .output()
        .expect("run southpaw compile");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "southpaw compile failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"))
}

#[test]
fn seed004_compiles_with_no_rejections() {
    skip_unless_root!();
    let v = compile_json(&Topology::seed004());
    assert_eq!(v["datapaths"], 1, "{v}");
    assert_eq!(v["rejected"].as_array().map(Vec::len), Some(0), "{v}");
    assert!(v["flows"].as_u64().unwrap_or(0) > 50, "{v}");
    assert!(v["compile_ms"].as_f64().is_some(), "{v}");
}

#[test]
fn switch_router_switch_compiles_with_no_rejections() {
    skip_unless_root!();
    let v = compile_json(&Topology::two_switch_router(2));
    assert_eq!(v["datapaths"], 3, "{v}");
    assert_eq!(v["rejected"].as_array().map(Vec::len), Some(0), "{v}");
    assert!(v["flows"].as_u64().unwrap_or(0) > 200, "{v}");
}
