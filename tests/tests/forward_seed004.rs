//! Forwarding through southpaw (issue 5): a private OVN, a private Open_vSwitch DB, the
//! built `southpaw run` as the only chassis, and seed 004 (`ls0` with `port0`, `port1` in
//! two namespace containers). The host-side veth ends are served by southpaw's AF_XDP
//! worker; there is no ovs-vswitchd and no kernel bridge, so every packet between the
//! containers crosses southpaw's pipeline. Checks ping (ARP + ICMP) and a TCP exchange,
//! then that southpaw's stats show the cache tiers at work.
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
fn seed004_ping_and_tcp_through_southpaw() {
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
            "--",
            "lsp-set-port-security",
            &s.name,
            &s.addresses(),
        ])
        .unwrap();
    }
    ovn.wait_hv()
        .unwrap_or_else(|e| panic!("--wait=hv: {e:#}\n{}", sp.log()));
    sp.check_running();

    // Ping: ARP broadcast (flooded), replies and ICMP unicast, both directions.
    let ping = containers[0].ping(specs[1].ip(), 3).expect("ping");
    assert!(
        ping.no_loss(),
        "ping port0 -> port1 through southpaw:\n{}\nsouthpaw log:\n{}",
        ping.output,
        sp.log()
    );
    let back = containers[1].ping(specs[0].ip(), 3).expect("ping back");
    assert!(back.no_loss(), "{}\n{}", back.output, sp.log());

    // TCP: a one-shot echo server in port1, a client in port0.
    let reply = python_tcp_exchange(&containers[1], &containers[0], specs[1].ip(), 7777)
        .unwrap_or_else(|e| panic!("TCP exchange: {e:#}\n{}", sp.log()));
    assert_eq!(reply, "HELLO FROM PORT0");

    // southpaw logs its counters on exit: both ports moved every packet above, and the
    // caches served some of them.
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
        .unwrap_or_else(|| panic!("no stats line:\n{log}"));
    eprintln!("{stats}");
    assert!(stats.contains("tier:upcall="), "{stats}");
    assert!(
        stats.contains("tier:emc-hit") || stats.contains("tier:megaflow-hit"),
        "{stats}"
    );
    for c in &containers {
        let rx = counter(stats, &format!(" {} rx ", c.host().name));
        // 3 echo requests or replies each way, plus ARP and the TCP exchange.
        assert!(rx >= 7, "{} rx {rx}: {stats}", c.host().name);
    }
}

/// The number after `key` in a stats line.
fn counter(line: &str, key: &str) -> u64 {
    line.split(key)
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
