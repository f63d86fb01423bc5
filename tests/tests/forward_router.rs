//! Routing through southpaw: `ls0` (10.0.0.0/24) and `ls1` (10.0.1.0/24) joined by `lr0`
//! (`Topology::two_switch_router`), one namespace container on each switch, `southpaw run`
//! as the only chassis. A ping across the router must get every reply with the TTL
//! decremented once each way (64 - 1 = 63), and a TCP exchange must work across it.
//!
//! Runs the built binary: `cargo build --bin southpaw` first (same target dir), or set
//! `SOUTHPAW_BIN`. Needs root.

#[path = "forward_util/mod.rs"]
mod forward_util;

use forward_util::python_tcp_exchange;
use testbed::ovs::add_port_args;
use testbed::{skip_unless_root, Container, OvnSandbox, OvsDb, Southpaw, Topology};

const CHASSIS: &str = "southpaw-hv";

#[test]
fn ping_across_the_router_decrements_ttl() {
    skip_unless_root!();
    let ovn = OvnSandbox::start().expect("OVN sandbox");
    let ovs = OvsDb::new().expect("Open_vSwitch DB");
    ovs.set_ovn_host(CHASSIS, &ovn.sb_remote(), "127.0.0.1")
        .expect("set OVN host keys");
    let logdir = tempfile::tempdir().expect("tempdir");
    let log = logdir.path().join("southpaw.log");
    let mut sp = Southpaw::start(&ovs, &log, forward_util::STATS);
    ovs.vsctl_wait(&["add-br", "br-int"])
        .unwrap_or_else(|e| panic!("add-br: {e:#}\n{}", sp.log()));

    let topo = Topology::two_switch_router(1);
    topo.apply(&ovn, |_| {}).expect("write the topology");
    let mut containers = Vec::new();
    for (_, spec) in topo.ports() {
        let c = Container::create(spec, None).expect("container");
        let args = add_port_args("br-int", &c.host().name, c.lport(), &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ovs.vsctl_wait(&args)
            .unwrap_or_else(|e| panic!("add-port: {e:#}\n{}", sp.log()));
        containers.push(c);
    }
    ovn.wait_hv()
        .unwrap_or_else(|e| panic!("--wait=hv: {e:#}\n{}", sp.log()));
    sp.check_running();

    let dst = containers[1].spec().ip().to_string();
    let ping = containers[0].ping(&dst, 3).expect("ping");
    assert!(
        ping.no_loss(),
        "ping {dst} across lr0:\n{}\nsouthpaw log:\n{}",
        ping.output,
        sp.log()
    );
    let replies: Vec<&str> = ping
        .output
        .lines()
        .filter(|l| l.contains("bytes from"))
        .collect();
    assert!(!replies.is_empty(), "{}", ping.output);
    for r in &replies {
        assert!(r.contains("ttl=63"), "TTL not decremented once: {r}");
    }

    let reply = python_tcp_exchange(&containers[1], &containers[0], &dst, 7778)
        .unwrap_or_else(|e| panic!("TCP across lr0: {e:#}\n{}", sp.log()));
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
    assert!(stats.contains("tier:upcall="), "{log}");
}
