//! Stateful ACLs through southpaw's conntrack: seed 004 (`ls0`, `port0`, `port1`) with
//! `to-lport` ACLs on `port1`: TCP to port 7777 `allow-related`, everything else to
//! `port1` dropped. Then a ping from port0 to port1 is refused, a ping from port1 to
//! port0 works (its echo replies to port1 belong to a connection port1 started), and a
//! TCP exchange from port0 to port1:7777 works both ways (the replies are established).
//!
//! Runs the built binary: `cargo build --bin southpaw` first (same target dir), or set
//! `SOUTHPAW_BIN`. Needs root.

#[path = "forward_util/mod.rs"]
mod forward_util;

use forward_util::{python_tcp_exchange, Bed};
use testbed::{skip_unless_root, Topology};

#[test]
fn allow_related_acl_passes_replies_and_drops_new_connections() {
    skip_unless_root!();
    let mut bed = Bed::start("southpaw-hv", &Topology::seed004(), |ovn| {
        ovn.nbctl(&[
            "acl-add",
            "ls0",
            "to-lport",
            "1000",
            "outport == \"port1\" && tcp.dst == 7777",
            "allow-related",
        ])
        .unwrap();
        ovn.nbctl(&[
            "acl-add",
            "ls0",
            "to-lport",
            "900",
            "outport == \"port1\" && ip4",
            "drop",
        ])
        .unwrap();
    });
    let (port0, port1) = (bed.port("port0"), bed.port("port1"));
    let (ip0, ip1) = (port0.spec().ip().to_string(), port1.spec().ip().to_string());

    let refused = port0.ping(&ip1, 2).expect("ping");
    assert_eq!(
        refused.received, 0,
        "ping to port1 passed the drop ACL:\n{}",
        refused.output
    );
    let related = port1.ping(&ip0, 3).expect("ping");
    assert!(
        related.no_loss(),
        "replies to port1's own pings were dropped:\n{}\nsouthpaw log:\n{}",
        related.output,
        bed.sp.log()
    );
    let reply = python_tcp_exchange(port1, port0, &ip1, 7777)
        .unwrap_or_else(|e| panic!("TCP through the allow-related ACL: {e:#}\n{}", bed.sp.log()));
    assert_eq!(reply, "HELLO FROM PORT0");

    let stats = bed.finish();
    // OVN writes a drop ACL as an empty action list (`/* drop */`): end of actions.
    assert!(stats.contains("drop:pipeline-drop="), "{stats}");
    assert!(stats.contains("drop:end-of-actions="), "{stats}");
}
