//! Issue 6, load-balancer hairpin through southpaw: seed 004 (`ls0`, `port0`, `port1`)
//! with `lb0` = 10.0.0.100:80 -> 10.0.0.1:8080, port0 itself. port0 (resolving the VIP
//! by a static neighbour entry) connects to the VIP and is picked as the backend: OVN
//! sends the packet back out port0 (`chk_lb_hairpin`) with its source translated to the
//! VIP (`ct_snat_to_vip`), so port0's server sees the VIP as its peer, and the client
//! gets the answer from the VIP.
//!
//! Runs the built binary: `cargo build --bin southpaw` first (same target dir), or set
//! `SOUTHPAW_BIN`. Needs root.

#[path = "forward_util/mod.rs"]
mod forward_util;

use forward_util::{python_bg, tcp_replies, wait_listening, Bed};
use testbed::{skip_unless_root, Topology};

const CHASSIS: &str = "southpaw-hv";
const VIP: &str = "10.0.0.100";

#[test]
fn a_pod_reaching_its_own_vip_is_answered_through_the_vip() {
    skip_unless_root!();
    let topo = Topology::seed004();
    let mut bed = Bed::start(CHASSIS, &topo, |ovn| {
        ovn.nbctl(&[
            "lb-add",
            "lb0",
            &format!("{VIP}:80"),
            "10.0.0.1:8080",
            "tcp",
        ])
        .unwrap();
        ovn.nbctl(&["ls-lb-add", "ls0", "lb0"]).unwrap();
    });
    let port1_mac = topo.switches[0].ports[1].mac.clone();
    let pod = bed.port("port0");
    pod.netns()
        .ip(&["neigh", "add", VIP, "lladdr", &port1_mac, "dev", "eth0"])
        .expect("static neighbour for the VIP");
    // Answers each connection with the address it came from.
    let _server = python_bg(
        pod,
        "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('0.0.0.0',8080))\ns.listen(8)\nwhile True:\n  c,a=s.accept()\n  \
         c.sendall(a[0].encode())\n  c.close()\n",
    );
    wait_listening(pod, 8080);

    let replies = tcp_replies(pod, VIP, 80, 3, 21000)
        .unwrap_or_else(|e| panic!("client: {e:#}\n{}", bed.sp.log()));
    assert_eq!(replies.len(), 3);
    for (seen_from, peer) in &replies {
        assert_eq!(
            seen_from,
            VIP,
            "the backend saw this source (want the VIP, by hairpin SNAT)\n{}",
            bed.sp.log()
        );
        assert_eq!(peer, VIP, "the client's peer is not the VIP");
    }
    let stats = bed.finish();
    assert!(stats.contains("recirculations="), "{stats}");
}
