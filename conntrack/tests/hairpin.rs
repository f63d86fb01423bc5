//! Load-balancer hairpin as OVN drives conntrack (issue 6, scenario 3): a pod reaches
//! its own service VIP and is picked as the backend. `ct_lb` DNATs in the pod's port
//! zone, `ct_snat_to_vip` SNATs to the VIP in the switch's SNAT zone (a different zone),
//! and the reply is un-SNATed there and un-DNATed in the port zone, so the pod's client
//! socket sees the VIP and its server socket sees the VIP as the peer.

mod common;
use common::*;
use conntrack::{ct_state as S, tcp_flags as F, Config, Conntrack, CtArgs, Nat, NatRange};

const PORT_ZONE: u16 = 3;
const SNAT_ZONE: u16 = 9;

#[test]
fn hairpin_dnat_then_snat_to_vip_and_back() {
    let ct = Conntrack::new(Config::default());
    let (pod, vip) = ("10.0.0.1", "10.0.0.100");

    // ls_in_lb: ct_lb_mark(backends=10.0.0.1:8080) in the port zone.
    let lb = CtArgs {
        zone: PORT_ZONE,
        commit: true,
        nat: Some(Nat::Dst(NatRange::addr_port(ip(pod), 8080))),
        ..Default::default()
    };
    let r = ct.execute(&syn(pod, 40000, vip, 80, 1000), &lb, 0);
    assert_eq!(r.state & (S::NEW | S::DNAT), S::NEW | S::DNAT);
    let d = r.nat.expect("DNAT");
    assert_eq!((d.src, d.dst, d.dport), (ip(pod), ip(pod), 8080));

    // ls_in_nat_hairpin: ct_snat_to_vip = ct(commit, zone=snat, nat(src=VIP)).
    let snat = CtArgs {
        zone: SNAT_ZONE,
        commit: true,
        nat: Some(Nat::Src(NatRange::addr(ip(vip)))),
        ..Default::default()
    };
    let r = ct.execute(&syn(pod, 40000, pod, 8080, 1000), &snat, 0);
    assert_eq!(r.state & (S::NEW | S::SNAT), S::NEW | S::SNAT);
    let s = r.nat.expect("SNAT");
    assert_eq!((s.src, s.dst, s.dport), (ip(vip), ip(pod), 8080));
    let (hair_sport, vip_sport) = (40000, s.sport);

    // The server's SYN-ACK to the VIP: un-SNAT in the SNAT zone (ct_snat) ...
    let synack = tcp(pod, 8080, vip, vip_sport, F::SYN | F::ACK, 5000, 1001, 0);
    let r = ct.execute(
        &synack,
        &CtArgs {
            zone: SNAT_ZONE,
            nat: Some(Nat::Existing),
            ..Default::default()
        },
        0,
    );
    assert_eq!(r.state & (S::EST | S::RPL), S::EST | S::RPL, "{r:?}");
    let u = r.nat.expect("un-SNAT");
    assert_eq!((u.dst, u.dport), (ip(pod), hair_sport));

    // ... then un-DNAT in the port zone (ls_out_lb ct_lb_mark): the client sees the VIP.
    let r = ct.execute(
        &tcp(pod, 8080, pod, hair_sport, F::SYN | F::ACK, 5000, 1001, 0),
        &CtArgs {
            zone: PORT_ZONE,
            nat: Some(Nat::Existing),
            ..Default::default()
        },
        0,
    );
    assert_eq!(r.state & (S::EST | S::RPL), S::EST | S::RPL, "{r:?}");
    let u = r.nat.expect("un-DNAT");
    assert_eq!(
        (u.src, u.sport, u.dst, u.dport),
        (ip(vip), 80, ip(pod), 40000)
    );
}
