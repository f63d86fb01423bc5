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

use forward_util::{python_tcp_exchange_to, Southpaw};
use testbed::ovs::add_port_args;
use testbed::{skip_unless_root, Container, OvnSandbox, OvsDb, Topology};

const CHASSIS: &str = "southpaw-hv";

#[test]
fn tcp_to_a_load_balancer_vip_reaches_the_backend_and_back() {
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
    ovn.nbctl(&["lb-add", "lb0", "10.0.0.100:80", "10.0.0.2:7777", "tcp"])
        .unwrap();
    ovn.nbctl(&["ls-lb-add", "ls0", "lb0"]).unwrap();
    ovn.wait_hv()
        .unwrap_or_else(|e| panic!("--wait=hv: {e:#}\n{}", sp.log()));
    sp.check_running();
    containers[0]
        .netns()
        .ip(&[
            "neigh",
            "add",
            "10.0.0.100",
            "lladdr",
            &specs[1].mac,
            "dev",
            "eth0",
        ])
        .expect("static neighbour for the VIP");

    let reply = python_tcp_exchange_to(
        &containers[1],
        &containers[0],
        (specs[1].ip(), 7777),
        ("10.0.0.100", 80),
    )
    .unwrap_or_else(|e| panic!("TCP to the VIP: {e:#}\n{}", sp.log()));
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
    assert!(stats.contains("recirculations="), "{log}");
}
