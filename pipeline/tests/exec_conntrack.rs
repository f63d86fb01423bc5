//! Conntrack steps stop the pipeline and resume after recirculation, as the datapath
//! drives them: fixture 03 (ACLs), an IPv4 TCP packet between two ports of sw0.

#[path = "exec_model.rs"]
mod exec_model;

use pipeline::actions::Pipeline;
use pipeline::compile::compile;
use pipeline::dpaction::{DpAction, RecircId};
use pipeline::exec::{execute, ExecResult};
use pipeline::flow::{ct_state, field, Flow};
use pipeline::Symtab;
use std::sync::Arc;

#[test]
fn ct_next_recirculates_and_resumes_at_the_next_table() {
    let mut m = exec_model::load("03-acl");
    exec_model::set_ports(
        &mut m,
        "sw0",
        &[
            ("sw0-p1", 1, "", &[], &[]),
            ("sw0-p2", 2, "", &[], &[]),
            ("sw0-p3", 3, "", &[], &[]),
        ],
    );
    let c = compile(&m, Arc::new(Symtab::ovn()));
    let dp = c
        .datapaths
        .iter()
        .find(|d| d.name == "sw0")
        .expect("sw0")
        .key;
    let mut f = Flow::default();
    f.set(field::DATAPATH, u64::from(dp));
    f.set(field::INPORT, 1);
    f.set(field::ETH_SRC, 0x5054_0000_0001);
    f.set(field::ETH_DST, 0x5054_0000_0002);
    f.set(field::ETH_TYPE, 0x0800);
    f.set(field::IP4_SRC, 0x0a00_000b);
    f.set(field::IP4_DST, 0x0a00_000c);
    f.set(field::IP_PROTO, 6);
    f.set(field::IP_TTL, 64);
    f.set(field::TP_SRC, 40000);
    f.set(field::TP_DST, 80);

    // Pass 1: the pre-ACL stage marks IP traffic for conntrack (reg0[0]), table 6 sends
    // it through conntrack in the inport's zone and stops.
    let mut r = ExecResult::default();
    execute(&c, &f, &mut r, None);
    let Some(DpAction::Ct {
        zone,
        commit: false,
        nat: None,
        recirc_id: Some(id),
        ..
    }) = r.actions.last().cloned()
    else {
        panic!("{:#?}", r.actions)
    };
    assert_ne!(zone, 0);
    assert_eq!(
        RecircId::decode(id),
        Some(RecircId {
            dp_key: dp,
            pipeline: Pipeline::Ingress,
            table: 7
        })
    );

    // The datapath applies the writes, runs conntrack (a new connection) and recirculates.
    let mut g = f;
    DpAction::apply_sets(&r.actions, &mut g);
    assert_eq!(
        g.get(field::reg(0)) & 1,
        1,
        "reg0[0] kept for the resumed pass"
    );
    g.set(field::CT_STATE, u64::from(ct_state::TRK | ct_state::NEW));
    g.set(field::CT_ZONE, u64::from(zone));
    g.set(field::RECIRC_ID, u64::from(id));
    let mut r2 = ExecResult::default();
    execute(&c, &g, &mut r2, None);
    // Pass 2 starts at table 7 (no table-0 port security again).
    assert!(r2.mask.w[pipeline::flow::word::RECIRC_MARK] != 0);
    assert!(r2.lookups < 30, "resumed, not restarted: {}", r2.lookups);

    // Drive the remaining recirculations as the datapath would (each zone sees a new
    // connection) until the packet leaves: it must reach sw0-p2, committed once by the
    // allow-related ACL.
    let (mut cur, mut res, mut commits) = (g, r2, 0);
    for _ in 0..4 {
        commits += res
            .actions
            .iter()
            .filter(|a| matches!(a, DpAction::Ct { commit: true, .. }))
            .count();
        let Some(DpAction::Ct {
            zone,
            recirc_id: Some(id),
            ..
        }) = res.actions.last().cloned()
        else {
            break;
        };
        DpAction::apply_sets(&res.actions, &mut cur);
        cur.set(field::CT_STATE, u64::from(ct_state::TRK | ct_state::NEW));
        cur.set(field::CT_ZONE, u64::from(zone));
        cur.set(field::RECIRC_ID, u64::from(id));
        execute(&c, &cur, &mut res, None);
    }
    assert!(
        matches!(
            res.actions.last(),
            Some(DpAction::Output { port_key: 2, .. })
        ),
        "{:#?}",
        res.actions
    );
    assert!(commits >= 1, "allow-related commits the connection");
}
