//! Conntrack costs per packet: established lookups (UDP and TCP, original and reply
//! direction), new-connection commits, and SNAT commits. The `_batch` rows run the same
//! packets through `execute_batch` in bursts of 64, as the datapath receives them.

use conntrack::{
    proto, tcp_flags as F, Addr, Config, Conntrack, CtArgs, CtResult, Nat, NatRange, PacketMeta,
};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn addr(i: u32) -> Addr {
    Addr::from_v4_u32(0x0a00_0000 | i)
}

fn udp(src: Addr, sport: u16, dst: Addr, dport: u16) -> PacketMeta {
    PacketMeta {
        src,
        dst,
        proto: proto::UDP,
        sport,
        dport,
        len: 64,
        ..Default::default()
    }
}

fn nth_udp(i: u32) -> PacketMeta {
    udp(
        addr(1 + (i >> 16)),
        (i & 0xffff) as u16,
        Addr::from_v4_u32(0xc0a8_0001),
        53,
    )
}

fn commit() -> CtArgs {
    CtArgs {
        zone: 1,
        commit: true,
        ..Default::default()
    }
}

/// A table of `n` replied UDP connections and packets that hit them, spread over it.
fn udp_table(n: u32) -> (Conntrack, Vec<PacketMeta>) {
    let ct = Conntrack::new(Config::default());
    for i in 0..n {
        ct.execute(&nth_udp(i), &commit(), 0);
        let p = nth_udp(i);
        ct.execute(
            &udp(p.dst, p.dport, p.src, p.sport),
            &CtArgs {
                zone: 1,
                ..Default::default()
            },
            0,
        );
    }
    let pkts = (0..n)
        .map(|i| nth_udp(i.wrapping_mul(2_654_435_761) % n))
        .collect();
    (ct, pkts)
}

fn established(c: &mut Criterion) {
    let look = CtArgs {
        zone: 1,
        ..Default::default()
    };
    for (name, n) in [
        ("established_udp_lookup_4K", 1 << 12),
        ("established_udp_lookup_1M", 1 << 20),
    ] {
        let (ct, pkts) = udp_table(n);
        let mut k = 0usize;
        c.bench_function(name, |b| {
            b.iter(|| {
                k = (k + 1) % pkts.len();
                black_box(ct.execute(&pkts[k], &look, 1))
            })
        });
        if n == 1 << 20 {
            // Per packet: each iteration is a burst of BURST lookups.
            let argv = [look; BURST];
            let mut out = [CtResult::default(); BURST];
            let mut k = 0usize;
            c.bench_function("established_udp_lookup_1M_batch", |b| {
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    for _ in 0..iters.div_ceil(BURST as u64) {
                        k = (k + BURST) % (pkts.len() - BURST);
                        ct.execute_batch(&pkts[k..k + BURST], &argv, 1, &mut out);
                        black_box(&out);
                    }
                    t.elapsed()
                })
            });
        }
    }
    // TCP established, pure ACKs (no data) in both directions.
    let ct = Conntrack::new(Config::default());
    let (a, s) = (addr(1), addr(2));
    let tcp = |src, sp, dst, dp, flags, seq, ack| PacketMeta {
        src,
        dst,
        sport: sp,
        dport: dp,
        proto: proto::TCP,
        tcp_flags: flags,
        tcp_seq: seq,
        tcp_ack: ack,
        tcp_win: 65535,
        ..Default::default()
    };
    let mut acks = Vec::new();
    for p in 0..4096u16 {
        ct.execute(&tcp(a, p, s, 80, F::SYN, 100, 0), &commit(), 0);
        ct.execute(&tcp(s, 80, a, p, F::SYN | F::ACK, 900, 101), &look, 0);
        ct.execute(&tcp(a, p, s, 80, F::ACK, 101, 901), &commit(), 0);
        acks.push(tcp(a, p, s, 80, F::ACK, 101, 901));
        acks.push(tcp(s, 80, a, p, F::ACK, 901, 101));
    }
    let mut k = 0usize;
    c.bench_function("established_tcp_ack_lookup", |b| {
        b.iter(|| {
            k = (k + 1) % acks.len();
            black_box(ct.execute(&acks[k], &look, 1))
        })
    });
}

const BURST: usize = 64;

/// Time `iters` commits of distinct connections into a fresh table, one by one or in
/// bursts.
fn commits(iters: u64, args: CtArgs, cfg: &Config, batch: bool) -> Duration {
    let ct = Conntrack::new(cfg.clone());
    let pkts: Vec<PacketMeta> = (0..iters as u32).map(nth_udp).collect();
    let argv = [args; BURST];
    let mut out = [CtResult::default(); BURST];
    let t = Instant::now();
    if batch {
        for p in pkts.chunks(BURST) {
            ct.execute_batch(p, &argv, 0, &mut out);
            black_box(&out);
        }
    } else {
        for p in &pkts {
            black_box(ct.execute(p, &args, 0));
        }
    }
    t.elapsed()
}

fn new_connections(c: &mut Criterion) {
    let cfg = Config {
        max_connections: 50_000_000,
        ..Config::default()
    };
    c.bench_function("new_connection_commit", |b| {
        b.iter_custom(|n| commits(n, commit(), &cfg, false))
    });
    c.bench_function("new_connection_commit_batch", |b| {
        b.iter_custom(|n| commits(n, commit(), &cfg, true))
    });
    let nat = CtArgs {
        nat: Some(Nat::Src(NatRange {
            addr_min: Addr::from_v4_u32(0xcb00_7100),
            addr_max: Addr::from_v4_u32(0xcb00_71ff),
            port_min: 1024,
            port_max: 65535,
        })),
        ..commit()
    };
    c.bench_function("new_connection_snat_commit", |b| {
        b.iter_custom(|n| commits(n, nat, &cfg, false))
    });
    c.bench_function("new_connection_snat_commit_batch", |b| {
        b.iter_custom(|n| commits(n, nat, &cfg, true))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(30);
    targets = established, new_connections
}
criterion_main!(benches);
