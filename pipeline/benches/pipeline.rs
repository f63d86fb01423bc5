//! Slow-path costs.
//!
//! - `exec/switch_router_switch`: one ICMP packet from sw0-p1 through sw0, lr0 and sw1 to
//!   sw1-p1 (fixture 02: about 100 table lookups), with the action list reused.
//!   Target: < 2 µs.
//! - `compile/replicated_48x02`: a full compile of fixture 02 copied 48 times (144
//!   datapaths, ~11,800 flows, the size of a 100-switch x 20-port topology's flow count).
//!   Target: < 40 ms.
//! - `compile/real_100x20`: a full compile of the Southbound DB a real ovn-northd writes for
//!   `bench/topologies/100x20.sh` (101 datapaths, 11,657 logical flows, 2,200 ports with
//!   port security, one port-group ACL), as `southpaw compile --db` sees it. The model is
//!   read from `benches/data/100x20.model.gz`; regenerate it with
//!   `cargo test -p pipeline --test gen_model_fixture -- --ignored` (needs OVN installed).
//!   Target: < 40 ms.

#[path = "../tests/exec_model.rs"]
mod exec_model;
#[path = "../tests/model_text.rs"]
mod model_text;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use pipeline::compile::compile;
use pipeline::exec::{execute, ExecResult};
use pipeline::flow::{field, Flow};
use pipeline::Symtab;
use std::sync::Arc;

fn exec(c: &mut Criterion) {
    let m = exec_model::router_model(true);
    let comp = compile(&m, Arc::new(Symtab::ovn()));
    let dp = comp
        .datapaths
        .iter()
        .find(|d| d.name == "sw0")
        .map_or(0, |d| d.key);
    let mut f = Flow::default();
    f.set(field::DATAPATH, u64::from(dp));
    f.set(field::INPORT, 1);
    f.set(field::ETH_SRC, 0x5054_0000_0001);
    f.set(field::ETH_DST, 0x0000_0000_ff01);
    f.set(field::ETH_TYPE, 0x0800);
    f.set(field::IP4_SRC, 0x0a00_0014);
    f.set(field::IP4_DST, 0x0a00_010b);
    f.set(field::IP_PROTO, 1);
    f.set(field::IP_TTL, 64);
    f.set(field::TP_SRC, 8);
    let mut r = ExecResult::default();
    execute(&comp, &f, &mut r, None);
    assert!(
        r.actions
            .iter()
            .any(|a| matches!(a, pipeline::dpaction::DpAction::Output { port_key: 1, .. })),
        "{:?}",
        r.actions
    );
    c.bench_function("exec/switch_router_switch", |b| {
        b.iter(|| {
            execute(&comp, black_box(&f), &mut r, None);
            black_box(r.actions.len())
        })
    });
}

fn compile_big(c: &mut Criterion) {
    let m = exec_model::replicate(&exec_model::router_model(true), 48);
    let symtab = Arc::new(Symtab::ovn());
    let comp = compile(&m, symtab.clone());
    assert!(comp.n_flows() > 11_000, "{}", comp.n_flows());
    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    g.bench_function("replicated_48x02", |b| {
        b.iter(|| black_box(compile(&m, symtab.clone()).n_flows()))
    });
    g.finish();
}

/// The real 100x20 model (see the module note).
fn real_100x20() -> pipeline::model::Model {
    use std::io::Read;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/data/100x20.model.gz");
    let gz = std::fs::read(path).expect("benches/data/100x20.model.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .expect("gunzip fixture");
    model_text::read(&text).expect("fixture model")
}

fn compile_real(c: &mut Criterion) {
    let m = real_100x20();
    let symtab = Arc::new(Symtab::ovn());
    let comp = compile(&m, symtab.clone());
    assert!(comp.rejected.is_empty(), "{:?}", comp.rejected.first());
    assert!(comp.n_flows() > 11_000, "{}", comp.n_flows());
    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    g.bench_function("real_100x20", |b| {
        b.iter(|| black_box(compile(&m, symtab.clone()).n_flows()))
    });
    g.finish();
}

criterion_group!(benches, exec, compile_big, compile_real);
criterion_main!(benches);
