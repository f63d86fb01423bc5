//! Issue 6, a bulk TCP stream through a load balancer VIP: seed 004 (`ls0`, `port0`,
//! `port1`) with `lb0` = 10.0.0.100:5201 -> 10.0.0.2:5201 (port1, running `iperf3 -s`).
//! port0 resolves the VIP to port1's MAC by a static neighbour entry and runs
//! `iperf3 -c 10.0.0.100 -t 10 -J`: every one-second interval must carry data (no stall).
//!
//! Runs the built binary: `cargo build --bin southpaw` first (same target dir), or set
//! `SOUTHPAW_BIN`. Needs root and iperf3.

#[path = "forward_util/mod.rs"]
mod forward_util;

use std::process::Stdio;

use forward_util::{wait_listening, Bed, Bg};
use testbed::{skip_unless_root, Topology};

const CHASSIS: &str = "southpaw-hv";
const VIP: &str = "10.0.0.100";

#[test]
fn iperf3_through_the_vip_never_stalls() {
    skip_unless_root!();
    if !std::path::Path::new("/usr/bin/iperf3").exists() {
        eprintln!("skipped: /usr/bin/iperf3 missing");
        return;
    }
    let topo = Topology::seed004();
    let mut bed = Bed::start(CHASSIS, &topo, |ovn| {
        ovn.nbctl(&[
            "lb-add",
            "lb0",
            &format!("{VIP}:5201"),
            "10.0.0.2:5201",
            "tcp",
        ])
        .unwrap();
        ovn.nbctl(&["ls-lb-add", "ls0", "lb0"]).unwrap();
    });
    let port1_mac = topo.switches[0].ports[1].mac.clone();
    bed.port("port0")
        .netns()
        .ip(&["neigh", "add", VIP, "lladdr", &port1_mac, "dev", "eth0"])
        .expect("static neighbour for the VIP");
    let _server = Bg(bed
        .port("port1")
        .netns()
        .command(&["/usr/bin/iperf3", "-s", "-1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("iperf3 -s"));
    wait_listening(bed.port("port1"), 5201);

    let out = bed
        .port("port0")
        .netns()
        .exec(&["/usr/bin/iperf3", "-c", VIP, "-t", "10", "-J"])
        .expect("iperf3 -c");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "iperf3 failed: {text}\n{}",
        bed.sp.log()
    );
    let json: serde_json::Value = serde_json::from_str(&text).expect("iperf3 JSON");
    let intervals = json["intervals"].as_array().expect("intervals");
    assert!(intervals.len() >= 10, "{} intervals", intervals.len());
    let bps: Vec<f64> = intervals
        .iter()
        .map(|i| i["sum"]["bits_per_second"].as_f64().unwrap_or(0.0))
        .collect();
    eprintln!(
        "iperf3 through the VIP, Mbit/s per second: {:?}; receiver average {:.1} Mbit/s",
        bps.iter().map(|b| (b / 1e6).round()).collect::<Vec<_>>(),
        json["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .unwrap_or(0.0)
            / 1e6
    );
    for (i, b) in bps.iter().enumerate() {
        assert!(*b > 0.0, "interval {i} carried nothing: {bps:?}");
    }
    let stats = bed.finish();
    assert!(stats.contains("recirculations="), "{stats}");
}
