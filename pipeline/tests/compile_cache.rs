//! `compile_cached` must give the same pipeline as a fresh `compile` after every kind of
//! change: flows removed and added, an address set, a port group, a port binding, the
//! chassis residency. Compared by table shape and by running packets through both.

#[path = "exec_model.rs"]
mod exec_model;

use pipeline::compile::{compile, compile_cached, CompileCache, Compiled};
use pipeline::exec::{execute, ExecResult};
use pipeline::flow::{field, Flow};
use pipeline::model::Model;
use pipeline::Symtab;
use std::sync::Arc;

/// Table shapes: (datapath, pipeline, table, flows, conjunctions, subtables).
fn shape(c: &Compiled) -> Vec<(String, usize, usize, usize, usize, usize)> {
    let mut v = Vec::new();
    for d in &c.datapaths {
        for (pi, tables) in d.tables.iter().enumerate() {
            for (ti, t) in tables.iter().enumerate() {
                v.push((
                    d.name.clone(),
                    pi,
                    ti,
                    t.n_flows(),
                    t.n_conjunctions(),
                    t.n_subtables(),
                ));
            }
        }
    }
    v
}

/// A few packets per port of every datapath.
fn packets(c: &Compiled) -> Vec<Flow> {
    let mut out = Vec::new();
    let mut keys: Vec<(u32, u32)> = c.ports.keys().copied().collect();
    keys.sort_unstable();
    for (i, (dp, port)) in keys.into_iter().enumerate() {
        let i = i as u64;
        for kind in 0..4u64 {
            let mut f = Flow::default();
            f.set(field::DATAPATH, u64::from(dp));
            f.set(field::INPORT, u64::from(port));
            f.set(field::ETH_SRC, 0x5054_0000_0000 + (i % 7));
            f.set(
                field::ETH_DST,
                [
                    0xffff_ffff_ffff,
                    0x5054_0000_0002,
                    0x0a00_0000_0001,
                    0x5054_0000_0001,
                ][kind as usize],
            );
            match kind {
                0 => {
                    f.set(field::ETH_TYPE, 0x0806);
                    f.set(field::ARP_OP, 1);
                    f.set(field::IP4_SRC, 0x0a00_000b);
                    f.set(field::IP4_DST, 0x0a00_0001);
                }
                _ => {
                    f.set(field::ETH_TYPE, 0x0800);
                    f.set(field::IP_PROTO, [6, 17, 1][(kind - 1) as usize]);
                    f.set(field::IP_TTL, 64);
                    f.set(field::IP4_SRC, 0x0a00_000b + i % 3);
                    f.set(
                        field::IP4_DST,
                        [0x0a00_000c, 0x0a00_010b, 0xc0a8_0001][(i % 3) as usize],
                    );
                    f.set(field::TP_SRC, 1024 + i);
                    f.set(field::TP_DST, [80, 53, 0][(kind - 1) as usize]);
                }
            }
            out.push(f);
        }
    }
    out
}

fn assert_same(label: &str, cached: &Compiled, fresh: &Compiled) {
    assert_eq!(cached.rejected, fresh.rejected, "{label}: rejections");
    assert_eq!(shape(cached), shape(fresh), "{label}: table shapes");
    let (mut a, mut b) = (ExecResult::default(), ExecResult::default());
    for p in packets(fresh) {
        a.clear();
        b.clear();
        execute(cached, &p, &mut a, None);
        execute(fresh, &p, &mut b, None);
        assert_eq!(a.actions, b.actions, "{label}: actions for {p:?}");
        assert_eq!(a.mask, b.mask, "{label}: mask for {p:?}");
    }
}

/// A named change to a model.
type Mutation = (&'static str, fn(&mut Model));

/// The changes applied one after another, each checked.
fn mutations() -> Vec<Mutation> {
    vec![
        ("unchanged", |_| {}),
        ("every third flow removed", |m| {
            let mut i = 0;
            m.flows.retain(|_| {
                i += 1;
                i % 3 != 0
            });
        }),
        ("a flow's actions changed in place", |m| {
            if let Some(f) = m.flows.iter_mut().find(|f| f.actions.trim() == "next;") {
                f.actions = "drop;".into();
            }
        }),
        ("address sets grow", |m| {
            for a in &mut m.address_sets {
                a.addresses.push("192.0.2.77".into());
            }
        }),
        ("port groups lose a member", |m| {
            for g in &mut m.port_groups {
                g.ports.pop();
            }
        }),
        ("a port binding disappears", |m| {
            if !m.ports.is_empty() {
                let n = m.ports.len() / 2;
                m.ports.remove(n);
            }
        }),
        ("the chassis changes (residency)", |m| {
            m.chassis = "elsewhere".into();
        }),
    ]
}

#[test]
fn cached_compile_equals_fresh_compile_after_changes() {
    let symtab = Arc::new(Symtab::ovn());
    let mut checked = 0;
    for name in exec_model::fixture_names() {
        let mut m = exec_model::load(&name);
        let mut cache = CompileCache::new();
        let first = compile_cached(&m, symtab.clone(), &mut cache);
        assert_same(
            &format!("{name}: first"),
            &first,
            &compile(&m, symtab.clone()),
        );
        assert!(cache.stats().parse_reused == 0);
        for (label, change) in mutations() {
            change(&mut m);
            let cached = compile_cached(&m, symtab.clone(), &mut cache);
            let fresh = compile(&m, symtab.clone());
            assert_same(&format!("{name}: {label}"), &cached, &fresh);
            checked += 1;
        }
        // Nothing changed since the last compile: everything is reused.
        let _ = compile_cached(&m, symtab.clone(), &mut cache);
        let s = cache.stats();
        assert_eq!((s.parsed, s.built), (0, 0), "{name}: {s:?}");
        assert!(s.parse_reused > 0, "{name}: {s:?}");
    }
    assert!(checked >= 7 * 8, "fixtures checked: {checked}");
}
