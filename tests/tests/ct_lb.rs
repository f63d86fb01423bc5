//! Issue 6, a switch load balancer in the Kubernetes ClusterIP style through southpaw's
//! conntrack: `ls0` holds three backends (`c0-0..2`, 10.0.0.2-4, each running a server
//! on 8080 that answers with its own name), `ls1` the client `c1-0` (10.0.1.2), joined by
//! `lr0`; `lb0` = 10.0.0.100:80 -> the three backends, on both switches. The client opens
//! 300 connections to the VIP from distinct source ports: every one must be answered,
//! from the VIP address (the client's peer), and each backend must get 20-45% of them.
//!
//! Runs the built binary: `cargo build --bin southpaw` first (same target dir), or set
//! `SOUTHPAW_BIN`. Needs root.

#[path = "forward_util/mod.rs"]
mod forward_util;

use std::collections::BTreeMap;

use forward_util::{name_server, tcp_replies, Bed};
use testbed::{skip_unless_root, Topology};

const CHASSIS: &str = "southpaw-hv";
const VIP: &str = "10.0.0.100";
const CONNS: u16 = 300;

#[test]
fn three_backends_share_300_connections_and_answer_from_the_vip() {
    skip_unless_root!();
    let mut topo = Topology::two_switch_router(3);
    topo.switches[1].ports.truncate(1);
    let mut bed = Bed::start(CHASSIS, &topo, |ovn| {
        ovn.nbctl(&[
            "lb-add",
            "lb0",
            &format!("{VIP}:80"),
            "10.0.0.2:8080,10.0.0.3:8080,10.0.0.4:8080",
            "tcp",
        ])
        .unwrap();
        ovn.nbctl(&["ls-lb-add", "ls0", "lb0"]).unwrap();
        ovn.nbctl(&["ls-lb-add", "ls1", "lb0"]).unwrap();
    });
    let backends = ["c0-0", "c0-1", "c0-2"];
    let _servers: Vec<_> = backends
        .iter()
        .map(|b| name_server(bed.port(b), 8080, b))
        .collect();

    let replies = tcp_replies(bed.port("c1-0"), VIP, 80, CONNS, 20000)
        .unwrap_or_else(|e| panic!("client: {e:#}\n{}", bed.sp.log()));
    assert_eq!(replies.len(), usize::from(CONNS));
    let mut per: BTreeMap<&str, u32> = BTreeMap::new();
    for (name, peer) in &replies {
        assert!(
            backends.contains(&name.as_str()),
            "a connection to the VIP failed: {name}\n{}",
            bed.sp.log()
        );
        assert_eq!(peer, VIP, "the client's peer is not the VIP");
        *per.entry(name.as_str()).or_default() += 1;
    }
    eprintln!("backend distribution over {CONNS} connections: {per:?}");
    for b in backends {
        let n = per.get(b).copied().unwrap_or(0);
        let pct = n * 100 / u32::from(CONNS);
        assert!(
            (20..=45).contains(&pct),
            "backend {b} got {n} of {CONNS} ({pct}%): {per:?}"
        );
    }

    let stats = bed.finish();
    assert!(stats.contains("recirculations="), "{stats}");
}
