//! The comparison peer forwards: stock OVS (userspace datapath, AF_XDP ports) and
//! ovn-controller on a private OVN, with namespace containers pinging each other.

use testbed::proc::pid_alive;
use testbed::{skip_unless_root, OvnSandbox, OvsPeer, PeerOptions, PortKind, Topology};

/// Seed 004, step by step as in the walkthrough: `ls-add`, `lsp-add` + `lsp-set-addresses`,
/// `ovs-vsctl add-port ... -- set interface ... external-ids:iface-id=...`, `--wait=hv sync`,
/// then ping with 0% loss.
#[test]
fn seed004_containers_ping_through_ovs_peer() {
    skip_unless_root!();
    let ovn = OvnSandbox::start().expect("start OVN");
    let topo = Topology::seed004();
    topo.apply(&ovn, |_| {}).expect("write seed 004");
    let mut peer = OvsPeer::start(&ovn).expect("start OVS peer");
    let ports: Vec<_> = topo.ports().map(|(_, p)| p.clone()).collect();
    let c0 = peer.attach(&ovn, &ports[0]).expect("attach port0");
    let c1 = peer.attach(&ovn, &ports[1]).expect("attach port1");
    ovn.wait_hv().expect("--wait=hv sync");

    let there = c0.ping(ports[1].ip(), 3).unwrap();
    assert!(there.no_loss(), "port0 -> port1:\n{}", there.output);
    let back = c1.ping(ports[0].ip(), 3).unwrap();
    assert!(back.no_loss(), "port1 -> port0:\n{}", back.output);
    // The packets really went through the userspace datapath.
    let flows = peer.appctl(&["dpctl/dump-flows"]).unwrap();
    assert!(flows.contains("in_port"), "no datapath flows:\n{flows}");

    let pids = peer.pids();
    let peer_ns = peer.netns().name().to_string();
    drop((c0, c1));
    drop(peer);
    for p in pids {
        assert!(!pid_alive(p), "peer daemon {p} still running");
    }
    assert!(!testbed::netns::list_netns().unwrap().contains(&peer_ns));
}

/// The sandbox topology (two switches and a router) also forwards on the peer, across lr0.
#[test]
fn routed_containers_ping_through_ovs_peer() {
    skip_unless_root!();
    let ovn = OvnSandbox::start().expect("start OVN");
    let topo = Topology::two_switch_router(1);
    topo.apply(&ovn, |_| {}).expect("write topology");
    let mut peer = OvsPeer::start(&ovn).expect("start OVS peer");
    let ports: Vec<_> = topo.ports().map(|(_, p)| p.clone()).collect();
    let c0 = peer.attach(&ovn, &ports[0]).expect("attach c0-0");
    let _c1 = peer.attach(&ovn, &ports[1]).expect("attach c1-0");
    ovn.wait_hv().expect("--wait=hv sync");

    let gw = c0.ping(ports[0].gateway.as_deref().unwrap(), 3).unwrap();
    assert!(gw.no_loss(), "c0-0 -> lr0:\n{}", gw.output);
    let routed = c0.ping(ports[1].ip(), 3).unwrap();
    assert!(routed.no_loss(), "c0-0 -> c1-0:\n{}", routed.output);
}

/// The fallback: plain system ports instead of AF_XDP.
#[test]
fn seed004_with_system_ports() {
    skip_unless_root!();
    let ovn = OvnSandbox::start().expect("start OVN");
    let topo = Topology::seed004();
    topo.apply(&ovn, |_| {}).expect("write seed 004");
    let opts = PeerOptions {
        port_kind: PortKind::System,
        ..PeerOptions::default()
    };
    let mut peer = OvsPeer::start_with(&ovn, opts).expect("start OVS peer");
    let ports: Vec<_> = topo.ports().map(|(_, p)| p.clone()).collect();
    let c0 = peer.attach(&ovn, &ports[0]).expect("attach port0");
    let _c1 = peer.attach(&ovn, &ports[1]).expect("attach port1");
    ovn.wait_hv().expect("--wait=hv sync");
    let ty = peer
        .db()
        .vsctl(&["get", "interface", &c0.host().name, "type"])
        .unwrap();
    assert_eq!(ty.trim(), "\"\"", "expected a system port");
    let p = c0.ping(ports[1].ip(), 3).unwrap();
    assert!(p.no_loss(), "port0 -> port1:\n{}", p.output);
}
