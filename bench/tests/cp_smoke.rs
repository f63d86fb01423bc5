//! Smoke test of `cp_bench`: a 2 switch x 2 port topology, 2 samples per latency, against
//! both forwarding planes; every row of issue 7 must be there with a positive number.
//!
//! Runs the built `southpaw` binary from the same target directory (`cargo build --bin
//! southpaw` first) or `$SOUTHPAW_BIN`. Needs root (namespaces, veths); skipped otherwise.

use std::path::PathBuf;
use std::process::Command;

fn southpaw_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SOUTHPAW_BIN") {
        return Some(PathBuf::from(p));
    }
    // target/<profile>/cp_bench -> target/<profile>/southpaw
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_cp_bench"));
    Some(bench.parent()?.join("southpaw"))
}

#[test]
fn cp_bench_small_topology_produces_every_row() {
    if !testbed::is_root() {
        eprintln!("skipped: needs root (network namespaces, veth pairs)");
        return;
    }
    let bin = southpaw_bin().expect("target directory layout");
    assert!(
        bin.exists(),
        "{} not found: `cargo build --bin southpaw` first (same CARGO_TARGET_DIR), or set \
         SOUTHPAW_BIN",
        bin.display()
    );
    let dir = testbed::names::temp_dir("cpsmoke").expect("temp dir");
    let json = dir.path().join("cp.json");
    let out = Command::new(env!("CARGO_BIN_EXE_cp_bench"))
        .args([
            "--switches",
            "2",
            "--ports",
            "2",
            "--reps",
            "2",
            "--compile-reps",
            "2",
        ])
        .arg("--json")
        .arg(&json)
        .arg("--southpaw")
        .arg(&bin)
        .output()
        .expect("run cp_bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cp_bench failed:\n{stdout}\n{stderr}");
    let text = std::fs::read_to_string(&json).expect("JSON written");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).expect("JSON array");
    for (scenario, metric) in [
        ("wait-hv-port-add", "median"),
        ("wait-hv-port-add", "p90"),
        ("wait-hv-port-add", "northd_median"),
        ("wait-hv-acl-add", "median"),
        ("wait-hv-acl-add", "p90"),
        ("wait-hv-acl-add", "northd_median"),
        ("first-full-pipeline", "time"),
        ("first-full-pipeline", "flows"),
        ("full-compile", "median"),
    ] {
        let row = rows
            .iter()
            .find(|r| r["scenario"] == scenario && r["metric"] == metric)
            .unwrap_or_else(|| panic!("no row {scenario}/{metric} in {text}"));
        for side in ["ovs", "southpaw", "ratio"] {
            let v = row[side].as_f64().unwrap_or(-1.0);
            assert!(
                v > 0.0,
                "{scenario}/{metric} {side} = {}: {text}",
                row[side]
            );
        }
    }
    assert_eq!(rows.len(), 9, "{text}");
    assert!(
        stdout.contains("| wait-hv-port-add | median | ms |"),
        "{stdout}"
    );
}
