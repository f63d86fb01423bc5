//! `parse`: the checked header views alone (`datapath::wire`), without building a flow key,
//! for a burst of 64 distinct 64-byte Ethernet/IPv4/UDP frames (source ports differ), the
//! frame `datapath/benches/caches.rs` uses. Together with `caches/extract_udp64` (parse +
//! flow key) it splits the first per-packet step into its two halves.
//!
//! - `parse/udp64_views`: Ethernet, IPv4 and UDP views (`new_checked`: every length the
//!   accessors rely on is validated) and the 5-tuple read from them.
//! - `parse/udp64_views_ip_csum`: the same plus the IPv4 header checksum verified.
//!
//! Throughput is in frames: criterion's time is per burst of 64, `thrpt` per frame.
//! Part of `cargo bench --workspace` (bench/README.md, "Micro-benchmarks").

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datapath::wire::{ethernet, ipv4, udp};
use southpaw_bench::pktgen::packet::{build_template, PacketSpec};

const BATCH: usize = 64;

/// A 64-byte (60 in the buffer, plus FCS) Ethernet/IPv4/UDP frame 10.0.0.1:sport ->
/// 10.0.0.2:53, as `southpaw pktgen` builds it (valid checksums).
fn frame(sport: u16) -> Vec<u8> {
    build_template(&PacketSpec {
        src_port: sport,
        dst_port: 53,
        ..PacketSpec::default()
    })
}

/// The 5-tuple through the checked views; `None` for anything but valid IPv4/UDP (and,
/// with `csum`, a bad IPv4 header checksum).
fn five_tuple(p: &[u8], csum: bool) -> Option<(u32, u32, u8, u16, u16)> {
    let eth = ethernet::Frame::new_checked(p).ok()?;
    if eth.ethertype() != 0x0800 {
        return None;
    }
    let ip = ipv4::Packet::new_checked(eth.payload()).ok()?;
    if csum && !ip.verify_checksum() {
        return None;
    }
    if ip.protocol() != 17 {
        return None;
    }
    let u = udp::Packet::new_checked(ip.payload()).ok()?;
    Some((
        ip.src(),
        ip.dst(),
        ip.protocol(),
        u.src_port(),
        u.dst_port(),
    ))
}

fn parse(c: &mut Criterion) {
    let frames: Vec<Vec<u8>> = (0..BATCH as u16).map(|i| frame(10_000 + i)).collect();
    for (i, f) in frames.iter().enumerate() {
        let t = five_tuple(f, true).expect("the test frame parses");
        assert_eq!(t, (0x0a00_0001, 0x0a00_0002, 17, 10_000 + i as u16, 53));
    }
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, csum) in [("udp64_views", false), ("udp64_views_ip_csum", true)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                for f in &frames {
                    black_box(five_tuple(black_box(f), csum));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
