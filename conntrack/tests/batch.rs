//! `execute_batch` must give exactly what `execute` gives packet by packet: the same
//! random traffic (new and established connections both ways, NAT, ICMP, invalid
//! packets) runs through two trackers, one per API, and every result and the final
//! table must agree.

mod common;
use common::*;
use conntrack::{
    proto, tcp_flags as F, Addr, Config, Conntrack, CtArgs, CtResult, Nat, NatRange, PacketMeta,
};

fn addr(i: u64) -> Addr {
    Addr::from_v4_u32(0x0a00_0000 | i as u32)
}

/// A random packet between a few hosts and ports, so that conversations repeat.
fn packet(rng: &mut Rng) -> PacketMeta {
    let (a, b) = (addr(1 + rng.below(6)), addr(100 + rng.below(3)));
    let (src, dst) = if rng.chance(50) { (a, b) } else { (b, a) };
    let (sp, dp) = (1000 + rng.below(4) as u16, 80 + rng.below(2) as u16);
    let (sport, dport) = if src == a { (sp, dp) } else { (dp, sp) };
    let mut p = PacketMeta {
        src,
        dst,
        sport,
        dport,
        len: 60,
        ..Default::default()
    };
    match rng.below(10) {
        0..=3 => {
            p.proto = proto::TCP;
            p.tcp_flags = [
                F::SYN,
                F::SYN | F::ACK,
                F::ACK,
                F::ACK,
                F::FIN | F::ACK,
                F::RST,
            ][rng.below(6) as usize];
            p.tcp_seq = rng.below(4) as u32 * 1000;
            p.tcp_ack = rng.below(4) as u32 * 1000;
            p.tcp_win = 65535;
        }
        4..=7 => p.proto = proto::UDP,
        8 => {
            p.proto = proto::ICMP;
            p.icmp_type = if rng.chance(50) { 8 } else { 0 };
            p.icmp_id = rng.below(3) as u16;
        }
        _ => {
            p.proto = proto::UDP;
            p.fragment = rng.chance(50);
        }
    }
    p
}

fn args(rng: &mut Rng) -> CtArgs {
    let nat = match rng.below(6) {
        0 => Some(Nat::Src(NatRange::addr(addr(200)).with_ports(5000, 5003))),
        1 => Some(Nat::Dst(NatRange::addr_port(addr(201), 8080))),
        2 | 3 => Some(Nat::Existing),
        _ => None,
    };
    CtArgs {
        zone: rng.below(2) as u16,
        commit: rng.chance(60),
        mark: rng.chance(20).then(|| (rng.below(8) as u32, 0xff)),
        nat,
        ..Default::default()
    }
}

fn fill(ct: &Conntrack, n: u32) {
    for i in 0..n {
        let p = PacketMeta {
            src: Addr::from_v4_u32(0x0b00_0000 + (i >> 16)),
            dst: addr(250),
            proto: proto::UDP,
            sport: i as u16,
            dport: 53,
            ..Default::default()
        };
        ct.execute(&p, &commit(9), 0);
    }
}

fn agree(seed: u64, prefill: u32) {
    let cfg = Config {
        shards: 8,
        ..Config::default()
    };
    let (one, burst) = (Conntrack::new(cfg.clone()), Conntrack::new(cfg));
    fill(&one, prefill);
    fill(&burst, prefill);
    let mut rng = Rng(seed);
    let mut now = 0;
    for round in 0..300 {
        let n = 1 + rng.below(40) as usize;
        let pkts: Vec<PacketMeta> = (0..n).map(|_| packet(&mut rng)).collect();
        let argv: Vec<CtArgs> = (0..n).map(|_| args(&mut rng)).collect();
        let want: Vec<CtResult> = pkts
            .iter()
            .zip(&argv)
            .map(|(p, a)| one.execute(p, a, now))
            .collect();
        let mut got = vec![CtResult::default(); n];
        burst.execute_batch(&pkts, &argv, now, &mut got);
        for i in 0..n {
            assert_eq!(
                got[i], want[i],
                "seed {seed} round {round} packet {i}: {:?}",
                pkts[i]
            );
        }
        now += rng.below(40) * SEC;
    }
    let (mut a, mut b) = (one.dump(None), burst.dump(None));
    a.sort_by_key(|e| format!("{e}"));
    b.sort_by_key(|e| format!("{e}"));
    assert_eq!(a, b, "seed {seed}");
    assert_eq!(one.stats(), burst.stats(), "seed {seed}");
}

#[test]
fn batch_agrees_with_one_by_one_in_a_small_table() {
    for seed in 1..=8 {
        agree(seed, 0);
    }
}

#[test]
fn batch_agrees_with_one_by_one_in_a_large_table() {
    // Past the size from which the batch also prefetches entries.
    agree(42, 70_000);
}

#[test]
fn batch_handles_uneven_slices() {
    let ct = Conntrack::new(Config::default());
    let p = udp("10.0.0.1", 1, "10.0.0.2", 2);
    let mut out = [CtResult::default(); 3];
    ct.execute_batch(&[p, p], &[commit(0); 3], 0, &mut out);
    assert_ne!(out[0].state, 0);
    assert_ne!(out[1].state, 0);
    assert_eq!(out[2], CtResult::default(), "only min(len) packets run");
    assert_eq!(ct.len(), 1);
}
