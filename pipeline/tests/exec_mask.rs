//! The megaflow mask is sound: any flow that agrees with a packet on the masked bits gets
//! the same datapath actions. Checked on random packets through the fixture pipelines,
//! with the unmasked bits randomised.

#[path = "exec_model.rs"]
mod exec_model;

use pipeline::compile::{compile, Compiled};
use pipeline::exec::{execute, ExecResult};
use pipeline::flow::{field, Flow, FLOW_WORDS};
use pipeline::Symtab;
use std::sync::Arc;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[(self.next() % v.len() as u64) as usize]
    }
}

/// A plausible packet: one of a few shapes, with addresses drawn from the fixtures' ranges.
fn packet(r: &mut Rng, dp: u32, ports: u32) -> Flow {
    let mut f = Flow::default();
    f.set(field::DATAPATH, u64::from(dp));
    f.set(field::INPORT, 1 + r.next() % u64::from(ports));
    let macs = [
        0x5054_0000_0001u64,
        0x5054_0000_0002,
        0x5054_0000_0101,
        0x0000_0000_ff01,
        0xffff_ffff_ffff,
        0x0a00_0000_00fe,
    ];
    f.set(field::ETH_SRC, r.pick(&macs[..4]));
    f.set(field::ETH_DST, r.pick(&macs));
    let ips = [
        0x0a00_000bu64,
        0x0a00_000c,
        0x0a00_0001,
        0x0a00_010b,
        0x0a00_0132,
        0x0a00_0014,
        0xac10_0001,
    ];
    match r.next() % 4 {
        0 => {
            f.set(field::ETH_TYPE, 0x0806);
            f.set(field::ARP_OP, 1 + r.next() % 2);
            f.set(field::ARP_SHA, f.get(field::ETH_SRC));
            f.set(field::IP4_SRC, r.pick(&ips));
            f.set(field::IP4_DST, r.pick(&ips));
        }
        n => {
            f.set(field::ETH_TYPE, 0x0800);
            f.set(field::IP4_SRC, r.pick(&ips));
            f.set(field::IP4_DST, r.pick(&ips));
            f.set(field::IP_TTL, r.pick(&[1, 2, 64]));
            f.set(field::IP_PROTO, [1, 6, 17][n as usize - 1]);
            f.set(field::TP_SRC, r.pick(&[8, 1234, 80]));
            f.set(field::TP_DST, r.pick(&[0, 80, 53]));
        }
    }
    f
}

fn check(c: &Compiled, dp: u32, ports: u32, seed: u64) -> usize {
    let mut r = Rng(seed);
    let (mut a, mut b) = (ExecResult::default(), ExecResult::default());
    let mut checked = 0;
    let mut wild = 0;
    for _ in 0..300 {
        let p = packet(&mut r, dp, ports);
        execute(c, &p, &mut a, None);
        // The test means something only if masks leave bits out.
        if a.mask.w.iter().filter(|w| **w != u64::MAX).count() > FLOW_WORDS / 2 {
            wild += 1;
        }
        for _ in 0..8 {
            let mut q = p;
            for i in 0..FLOW_WORDS {
                q.w[i] = (p.w[i] & a.mask.w[i]) | (r.next() & !a.mask.w[i]);
            }
            execute(c, &q, &mut b, None);
            assert_eq!(
                a.actions, b.actions,
                "mask {:?}\np {:?}\nq {:?}",
                a.mask, p, q
            );
            checked += 1;
        }
    }
    assert!(
        wild > 250,
        "masks too wide: only {wild} of 300 leave half the words out"
    );
    checked
}

#[test]
fn mask_is_sound_on_the_switch_fixture() {
    let mut m = exec_model::load("01-switch-portsec");
    exec_model::set_ports(
        &mut m,
        "sw0",
        &[
            ("sw0-p1", 1, "", &[], &["50:54:00:00:00:01 10.0.0.11"]),
            ("sw0-p2", 2, "", &[], &["50:54:00:00:00:02"]),
            ("sw0-p3", 3, "", &[], &[]),
            ("sw0-p4", 4, "", &[], &[]),
        ],
    );
    let c = compile(&m, Arc::new(Symtab::ovn()));
    let dp = c
        .datapaths
        .iter()
        .find(|d| d.name == "sw0")
        .expect("sw0")
        .key;
    assert_eq!(check(&c, dp, 4, 0x9e37_79b9_7f4a_7c15), 2400);
}

#[test]
fn mask_is_sound_through_the_router() {
    let mut m = exec_model::load("02-router");
    for (dp, a, b, pa, pb) in [
        ("sw0", "sw0-p1", "sw0-lr0", "", "lr0-sw0"),
        ("sw1", "sw1-p1", "sw1-lr0", "", "lr0-sw1"),
        ("lr0", "lr0-sw0", "lr0-sw1", "sw0-lr0", "sw1-lr0"),
    ] {
        let (ka, oa): (&str, Vec<(&str, &str)>) = if pa.is_empty() {
            ("", vec![])
        } else {
            ("patch", vec![("peer", pa)])
        };
        exec_model::set_ports(
            &mut m,
            dp,
            &[(a, 1, ka, &oa, &[]), (b, 2, "patch", &[("peer", pb)], &[])],
        );
    }
    let c = compile(&m, Arc::new(Symtab::ovn()));
    for d in ["sw0", "sw1", "lr0"] {
        let dp = c.datapaths.iter().find(|x| x.name == d).expect("dp").key;
        assert_eq!(
            check(&c, dp, 2, 0x2545_f491_4f6c_dd1d ^ u64::from(dp)),
            2400
        );
    }
}
