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
use datapath::wire::{checksum, ethernet, ipv4, udp};

const BATCH: usize = 64;

/// A 64-byte (60 in the buffer, plus FCS) Ethernet/IPv4/UDP frame 10.0.0.1:sport ->
/// 10.0.0.2:53.
fn frame(sport: u16) -> [u8; 60] {
    let mut b = [0u8; 60];
    b[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    b[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    b[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let mut ip = ipv4::Packet::new_unchecked(&mut b[14..]);
    ip.set_version_and_header_len(20);
    ip.set_total_len(46);
    ip.set_ttl(64);
    ip.set_protocol(17);
    ip.set_src(0x0a00_0001);
    ip.set_dst(0x0a00_0002);
    ip.fill_checksum();
    let mut u = udp::Packet::new_unchecked(&mut b[34..]);
    u.set_src_port(sport);
    u.set_dst_port(53);
    u.set_len(26);
    u.fill_checksum(checksum::pseudo_v4(0x0a00_0001, 0x0a00_0002, 17, 26));
    b
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
    let frames: Vec<[u8; 60]> = (0..BATCH as u16).map(|i| frame(10_000 + i)).collect();
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
