//! Packets through compiled fixture pipelines, asserting the complete outcome.

#[path = "exec_model.rs"]
mod exec_model;

use pipeline::compile::{compile, Compiled};
use pipeline::dpaction::{DpAction, DropReason};
use pipeline::exec::{execute, ExecResult};
use pipeline::flow::{field, word, Flow};
use pipeline::Symtab;
use std::sync::Arc;

const P1_MAC: u64 = 0x5054_0000_0001;
const P2_MAC: u64 = 0x5054_0000_0002;

/// Fixture 01, switch sw0 with hand-written port bindings.
fn switch() -> (Compiled, u32) {
    let mut m = exec_model::load("01-switch-portsec");
    exec_model::set_ports(
        &mut m,
        "sw0",
        &[
            (
                "sw0-p1",
                1,
                "",
                &[],
                &["50:54:00:00:00:01 10.0.0.11 aef0::11"],
            ),
            ("sw0-p2", 2, "", &[], &["50:54:00:00:00:02"]),
            ("sw0-p3", 3, "", &[], &[]),
            ("sw0-p4", 4, "", &[], &[]),
            ("sw0-vip", 5, "virtual", &[], &[]),
        ],
    );
    let c = compile(&m, Arc::new(Symtab::ovn()));
    assert!(c.rejected.is_empty(), "{:?}", c.rejected);
    let key = c
        .datapaths
        .iter()
        .find(|d| d.name == "sw0")
        .expect("sw0")
        .key;
    (c, key)
}

fn arp_request(dp: u32, inport: u32, sha: u64, spa: u32, tpa: u32) -> Flow {
    let mut f = Flow::default();
    f.set(field::DATAPATH, u64::from(dp));
    f.set(field::INPORT, u64::from(inport));
    f.set(field::ETH_SRC, sha);
    f.set(field::ETH_DST, 0xffff_ffff_ffff);
    f.set(field::ETH_TYPE, 0x0806);
    f.set(field::ARP_OP, 1);
    f.set(field::ARP_SHA, sha);
    f.set(field::IP4_SRC, u64::from(spa));
    f.set(field::IP4_DST, u64::from(tpa));
    f
}

fn ip4(a: [u8; 4]) -> u32 {
    u32::from_be_bytes(a)
}

fn run(c: &Compiled, f: &Flow) -> ExecResult {
    let mut r = ExecResult::default();
    execute(c, f, &mut r, None);
    r
}

/// The outputs of an action list: (port key, flow after the Sets) per Output, recursively.
fn outputs(acts: &[DpAction], f: &Flow) -> Vec<(u32, Flow)> {
    let mut f = *f;
    let mut out = Vec::new();
    for a in acts {
        match a {
            DpAction::Set { .. } => DpAction::apply_sets(std::slice::from_ref(a), &mut f),
            DpAction::Output { port_key, .. } => out.push((*port_key, f)),
            DpAction::Clone(v) => out.extend(outputs(v, &f)),
            _ => {}
        }
    }
    out
}

/// Fixture 02: sw0 - lr0 - sw1, with a MAC binding for 10.0.1.11 when `learned`.
fn routed(learned: bool) -> (Compiled, u32) {
    let m = exec_model::router_model(learned);
    let c = compile(&m, Arc::new(Symtab::ovn()));
    let bad: Vec<_> = c
        .rejected
        .iter()
        .filter(|r| !r.text.contains("^backends"))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    let key = c
        .datapaths
        .iter()
        .find(|d| d.name == "sw0")
        .expect("sw0")
        .key;
    (c, key)
}

fn icmp4(dp: u32, inport: u32, src: u64, dst: u64, sip: u32, dip: u32, ttl: u64) -> Flow {
    let mut f = Flow::default();
    f.set(field::DATAPATH, u64::from(dp));
    f.set(field::INPORT, u64::from(inport));
    f.set(field::ETH_SRC, src);
    f.set(field::ETH_DST, dst);
    f.set(field::ETH_TYPE, 0x0800);
    f.set(field::IP4_SRC, u64::from(sip));
    f.set(field::IP4_DST, u64::from(dip));
    f.set(field::IP_PROTO, 1);
    f.set(field::IP_TTL, ttl);
    f.set(field::TP_SRC, 8); // echo request
    f
}

#[test]
fn arp_broadcast_floods_to_the_other_ports() {
    let (c, dp) = switch();
    let f = arp_request(dp, 2, P2_MAC, ip4([10, 0, 0, 12]), ip4([10, 0, 0, 99]));
    let r = run(&c, &f);
    let outs = outputs(&r.actions, &f);
    let ports: Vec<u32> = outs.iter().map(|o| o.0).collect();
    // p1, p3, p4; not the inport p2, not the unbound virtual port.
    assert_eq!(ports, vec![1, 3, 4], "{:#?}", r.actions);
    for (port, g) in &outs {
        assert_eq!(g.get(field::OUTPORT), u64::from(*port));
        // Headers untouched.
        for w in word::ETH_SRC_VLAN..=word::ARP_THA {
            assert_eq!(g.w[w], f.w[w], "word {w} changed");
        }
    }
    assert_eq!(
        r.actions
            .iter()
            .filter(|a| matches!(a, DpAction::Clone(_)))
            .count(),
        3
    );
    assert!(!r.actions.iter().any(|a| matches!(a, DpAction::Drop(_))));
}

#[test]
fn unicast_to_known_mac_has_one_output() {
    let (c, dp) = switch();
    let f = icmp4(
        dp,
        2,
        P2_MAC,
        P1_MAC,
        ip4([10, 0, 0, 12]),
        ip4([10, 0, 0, 11]),
        64,
    );
    let r = run(&c, &f);
    let outs = outputs(&r.actions, &f);
    assert_eq!(outs.len(), 1, "{:#?}", r.actions);
    assert_eq!(outs[0].0, 1);
    assert!(
        matches!(r.actions.last(), Some(DpAction::Output { dp_key, port_key: 1, vlan: None }) if *dp_key == dp)
    );
    for w in word::ETH_SRC_VLAN..=word::ARP_THA {
        assert_eq!(outs[0].1.w[w], f.w[w], "word {w} changed");
    }
}

#[test]
fn spoofed_source_mac_is_dropped_by_port_security() {
    let (c, dp) = switch();
    // From sw0-p1 (port security 50:54:00:00:00:01 10.0.0.11) with another MAC.
    let f = icmp4(
        dp,
        1,
        0x5054_0000_00aa,
        P2_MAC,
        ip4([10, 0, 0, 11]),
        ip4([10, 0, 0, 12]),
        64,
    );
    let r = run(&c, &f);
    assert_eq!(
        r.actions.last(),
        Some(&DpAction::Drop(DropReason::Explicit)),
        "{:#?}",
        r.actions
    );
    assert!(outputs(&r.actions, &f).is_empty());
    // Right MAC, wrong IP: dropped too; right MAC and IP: delivered.
    let f = icmp4(
        dp,
        1,
        P1_MAC,
        P2_MAC,
        ip4([10, 0, 0, 99]),
        ip4([10, 0, 0, 12]),
        64,
    );
    assert!(outputs(&run(&c, &f).actions, &f).is_empty());
    let f = icmp4(
        dp,
        1,
        P1_MAC,
        P2_MAC,
        ip4([10, 0, 0, 11]),
        ip4([10, 0, 0, 12]),
        64,
    );
    assert_eq!(outputs(&run(&c, &f).actions, &f).len(), 1);
}

#[test]
fn routed_icmp_has_ttl_decremented_and_macs_rewritten() {
    let (c, dp) = routed(true);
    let f = icmp4(
        dp,
        1,
        P1_MAC,
        0x0000_0000_ff01,
        ip4([10, 0, 0, 20]),
        ip4([10, 0, 1, 11]),
        64,
    );
    let r = run(&c, &f);
    let outs = outputs(&r.actions, &f);
    assert_eq!(outs.len(), 1, "{:#?}", r.actions);
    let sw1 = c
        .datapaths
        .iter()
        .find(|d| d.name == "sw1")
        .expect("sw1")
        .key;
    let DpAction::Output {
        dp_key,
        port_key,
        vlan,
    } = r.actions.last().cloned().expect("action")
    else {
        panic!("{:#?}", r.actions)
    };
    assert_eq!((dp_key, port_key, vlan), (sw1, 1, None));
    let g = outs[0].1;
    assert_eq!(g.get(field::IP_TTL), 63);
    assert_eq!(g.get(field::ETH_SRC), 0x0000_0000_ff02);
    // Each patch crossing (sw0 → lr0, lr0 → sw1) clears conntrack, as physical.c does
    // (the router's own flows may add one more).
    let ct_clears = r
        .actions
        .iter()
        .filter(|a| matches!(a, DpAction::CtClear))
        .count();
    assert!(ct_clears >= 2, "{:#?}", r.actions);
    assert_eq!(g.get(field::ETH_DST), 0x5054_0000_0101);
    assert_eq!(g.get(field::IP4_SRC), u64::from(ip4([10, 0, 0, 20])));
    assert_eq!(g.get(field::IP4_DST), u64::from(ip4([10, 0, 1, 11])));
    assert_eq!(g.get(field::DATAPATH), u64::from(sw1));
}

#[test]
fn routed_icmp_without_mac_binding_sends_an_arp_request() {
    let (c, dp) = routed(false);
    let f = icmp4(
        dp,
        1,
        P1_MAC,
        0x0000_0000_ff01,
        ip4([10, 0, 0, 20]),
        ip4([10, 0, 1, 50]),
        64,
    );
    let r = run(&c, &f);
    let gen = r
        .actions
        .iter()
        .find_map(|a| match a {
            DpAction::Generate { kind, actions } => Some((*kind, actions)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{:#?}", r.actions));
    assert_eq!(gen.0, pipeline::dpaction::GenKind::ArpRequest);
    // The request floods sw1: one output, on sw1-p1, asking for 10.0.1.11.
    let mut wc = pipeline::flow::Mask::default();
    let mut base = f;
    DpAction::apply_sets(&r.actions, &mut base);
    let g0 = pipeline::exec::generated_flow(gen.0, &base, &mut wc);
    let outs = outputs(gen.1, &g0);
    assert_eq!(outs.len(), 1, "{:#?}", r.actions);
    let g = outs[0].1;
    assert_eq!(g.get(field::ETH_TYPE), 0x0806);
    assert_eq!(g.get(field::ARP_OP), 1);
    assert_eq!(g.get(field::IP4_DST), u64::from(ip4([10, 0, 1, 50])));
    assert_eq!(g.get(field::IP4_SRC), u64::from(ip4([10, 0, 1, 1])));
    assert_eq!(g.get(field::ETH_SRC), 0x0000_0000_ff02);
    assert_eq!(g.get(field::ETH_DST), 0xffff_ffff_ffff);
}

#[test]
fn ttl_one_gets_time_exceeded_back() {
    let (c, dp) = routed(true);
    let f = icmp4(
        dp,
        1,
        P1_MAC,
        0x0000_0000_ff01,
        ip4([10, 0, 0, 20]),
        ip4([10, 0, 1, 11]),
        1,
    );
    let r = run(&c, &f);
    assert!(outputs(&r.actions, &f).is_empty(), "{:#?}", r.actions);
    let mut base = f;
    DpAction::apply_sets(&r.actions, &mut base);
    let [.., DpAction::Generate { kind, actions }, DpAction::Drop(DropReason::EndOfActions)] =
        &r.actions[..]
    else {
        panic!("{:#?}", r.actions)
    };
    assert_eq!(*kind, pipeline::dpaction::GenKind::Icmp4Error);
    let g0 = pipeline::exec::generated_flow(*kind, &base, &mut pipeline::flow::Mask::default());
    let outs = outputs(actions, &g0);
    assert_eq!(outs.len(), 1);
    let (port, g) = outs[0];
    assert_eq!((g.get(field::DATAPATH) as u32, port), (dp, 1));
    assert_eq!(g.get(field::ETH_DST), P1_MAC);
    assert_eq!(g.get(field::ETH_SRC), 0x0000_0000_ff01);
    assert_eq!(g.get(field::IP4_SRC), u64::from(ip4([10, 0, 0, 1])));
    assert_eq!(g.get(field::IP4_DST), u64::from(ip4([10, 0, 0, 20])));
    assert_eq!((g.get(field::TP_SRC), g.get(field::TP_DST)), (11, 0));
    assert_eq!(g.get(field::IP_PROTO), 1);
}
