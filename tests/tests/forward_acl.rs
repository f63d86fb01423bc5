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

use forward_util::{python_tcp_exchange, Southpaw};
use testbed::ovs::add_port_args;
use testbed::{skip_unless_root, Container, OvnSandbox, OvsDb, Topology};

const CHASSIS: &str = "southpaw-hv";

#[test]
fn allow_related_acl_passes_replies_and_drops_the_rest() {
    skip_unless_root!();
    let ovn = OvnSandbox::start().expect("OVN sandbox");
    let ovs = OvsDb::new().expect("Open_vSwitch DB");
    ovs.set_ovn_host(CHASSIS, &ovn.sb_remote(), "127.0.0.1")
        .expect("set OVN host keys");
    let logdir = tempfile::tempdir().expect("tempdir");
    let log = logdir.path().join("southpaw.log");
    let mut sp = Southpaw::start(&ovs, &log);
    ovs.vsctl_wait(&["add-br", "br-int"])
        .unwrap_or_else(|e| panic!("add-br: {e:#}\n{}", sp.log()));

    let topo = Topology::seed004();
    let specs = topo.switches[0].ports.clone();
    let containers: Vec<Container> = specs
        .iter()
        .map(|s| Container::create(s, None).expect("container"))
        .collect();
    for c in &containers {
        let args = add_port_args("br-int", &c.host().name, c.lport(), &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ovs.vsctl_wait(&args)
            .unwrap_or_else(|e| panic!("add-port: {e:#}\n{}", sp.log()));
    }
    ovn.nbctl(&["ls-add", "ls0"]).unwrap();
    for s in &specs {
        ovn.nbctl(&[
            "lsp-add",
            "ls0",
            &s.name,
            "--",
            "lsp-set-addresses",
            &s.name,
            &s.addresses(),
        ])
        .unwrap();
    }
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
    ovn.wait_hv()
        .unwrap_or_else(|e| panic!("--wait=hv: {e:#}\n{}", sp.log()));
    sp.check_running();

    let refused = containers[0].ping(specs[1].ip(), 2).expect("ping");
    assert_eq!(
        refused.received, 0,
        "ping to port1 passed the drop ACL:\n{}",
        refused.output
    );
    let related = containers[1].ping(specs[0].ip(), 3).expect("ping");
    assert!(
        related.no_loss(),
        "replies to port1's own pings were dropped:\n{}\nsouthpaw log:\n{}",
        related.output,
        sp.log()
    );
    let reply = python_tcp_exchange(&containers[1], &containers[0], specs[1].ip(), 7777)
        .unwrap_or_else(|e| panic!("TCP through the allow-related ACL: {e:#}\n{}", sp.log()));
    assert_eq!(reply, "HELLO FROM PORT0");

    assert!(
        sp.terminate(),
        "southpaw did not exit cleanly:\n{}",
        sp.log()
    );
    let log = sp.log();
    let stats = log
        .lines()
        .rev()
        .find(|l| l.contains("stats:"))
        .unwrap_or_default();
    eprintln!("{stats}");
    // OVN writes a drop ACL as an empty action list (`/* drop */`): end of actions.
    assert!(stats.contains("drop:pipeline-drop="), "{log}");
    assert!(stats.contains("drop:end-of-actions="), "{log}");
}
