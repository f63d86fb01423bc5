//! Smoke test of `compare --quick`: l2-64b-pps and tcp-1-stream through both forwarding
//! planes, 1 s each; both rows must be in `latest.json` with a positive number for each
//! plane, and `latest.md` and `latest.png` must be written.
//!
//! Runs the built `southpaw` binary from the same target directory (`cargo build --bin
//! southpaw` first) or `$SOUTHPAW_BIN`. Needs root (namespaces, veths, XDP) and iperf3;
//! skipped otherwise.

use std::path::PathBuf;
use std::process::Command;

fn southpaw_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SOUTHPAW_BIN") {
        return Some(PathBuf::from(p));
    }
    // target/<profile>/compare -> target/<profile>/southpaw
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_compare"));
    Some(bench.parent()?.join("southpaw"))
}

#[test]
fn compare_quick_has_both_planes_for_every_row() {
    if !testbed::is_root() {
        eprintln!("skipped: needs root (network namespaces, veth pairs, XDP)");
        return;
    }
    if !std::path::Path::new("/usr/bin/iperf3").exists() {
        eprintln!("skipped: /usr/bin/iperf3 missing");
        return;
    }
    let bin = southpaw_bin().expect("target directory layout");
    assert!(
        bin.exists(),
        "{} not found: `cargo build --bin southpaw` first (same CARGO_TARGET_DIR), or set \
         SOUTHPAW_BIN",
        bin.display()
    );
    let dir = testbed::names::temp_dir("cmpsmoke").expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_compare"))
        .arg("--quick")
        .arg("--out-dir")
        .arg(dir.path())
        .arg("--southpaw")
        .arg(&bin)
        .output()
        .expect("run compare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "compare failed:\n{stdout}\n{stderr}");
    let text = std::fs::read_to_string(dir.path().join("latest.json")).expect("JSON written");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON object");
    assert!(
        v["machine"].as_str().is_some_and(|m| m.contains("nproc")),
        "{v}"
    );
    let rows = v["rows"].as_array().expect("rows array");
    for scenario in ["l2-64b-pps", "tcp-1-stream"] {
        let row = rows
            .iter()
            .find(|r| r["scenario"] == scenario)
            .unwrap_or_else(|| panic!("no {scenario} row in {text}\n{stderr}"));
        for plane in ["ovs", "southpaw"] {
            let x = row[plane].as_f64().unwrap_or(0.0);
            assert!(x > 0.0, "{scenario}: {plane} = {x}\n{text}\n{stderr}");
        }
        assert!(
            row["ratio"].as_f64().is_some(),
            "{scenario}: no ratio\n{text}"
        );
    }
    let md = std::fs::read_to_string(dir.path().join("latest.md")).expect("Markdown written");
    assert!(md.contains("| l2-64b-pps |"), "{md}");
    let png = std::fs::read(dir.path().join("latest.png")).expect("PNG written");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
}
