//! A load balancer through southpaw's conntrack (DNAT and un-NAT): seed 004 (`ls0`,
//! `port0`, `port1`) with `lb0` = VIP 10.0.0.100:80 -> 10.0.0.2:7777 (port1) on `ls0`.
//! port0 resolves the VIP to port1's MAC by a static neighbour entry (there is no router
//! to answer ARP for it), connects to the VIP, and must get port1's answer back from the
//! VIP address (the client socket only accepts that).
//!
//! Runs the built binary: `cargo build --bin southpaw` first (same target dir), or set
//! `SOUTHPAW_BIN`. Needs root.

#[path = "forward_util/mod.rs"]
mod forward_util;

use forward_util::{python_tcp_exchange_to, Bed};
use testbed::{skip_unless_root, Topology};

#[test]
fn tcp_to_a_load_balancer_vip_reaches_the_backend_and_back() {
    skip_unless_root!();
    let mut bed = Bed::start("southpaw-hv", &Topology::seed004(), |ovn| {
        ovn.nbctl(&["lb-add", "lb0", "10.0.0.100:80", "10.0.0.2:7777", "tcp"])
            .unwrap();
        ovn.nbctl(&["ls-lb-add", "ls0", "lb0"]).unwrap();
    });
    let (port0, port1) = (bed.port("port0"), bed.port("port1"));
    port0
        .netns()
        .ip(&[
            "neigh",
            "add",
            "10.0.0.100",
            "lladdr",
            &port1.spec().mac,
            "dev",
            "eth0",
        ])
        .expect("static neighbour for the VIP");

    let reply = python_tcp_exchange_to(port1, port0, (port1.spec().ip(), 7777), ("10.0.0.100", 80))
        .unwrap_or_else(|e| panic!("TCP to the VIP: {e:#}\n{}", bed.sp.log()));
    assert_eq!(reply, "HELLO FROM PORT0");

    let stats = bed.finish();
    assert!(stats.contains("recirculations="), "{stats}");
}
