//! pktgen without I/O: generated packets parse and carry valid checksums (checked with
//! `datapath::wire`), stamps round-trip, unwinding reuses sequence numbers, and the sink's
//! loss/reorder/duplicate accounting on synthetic sequences.

use datapath::wire::{checksum, ethernet, icmpv4, ipv4, tcp, udp};
use southpaw_bench::pktgen::{
    account::{Histogram, SeqEvent, SeqTracker},
    packet::{build_template, parse, Generator, PacketSpec, Parsed, Proto, Vary},
};

fn spec(proto: Proto, size: usize, flows: u32, vary: Vary) -> PacketSpec {
    PacketSpec {
        proto,
        size,
        flows,
        vary,
        ..PacketSpec::default()
    }
}

/// Checks every header and checksum of `p`; returns (source IP, source port or ident).
fn verify(p: &[u8], proto: Proto) -> (u32, u16) {
    let eth = ethernet::Frame::new_checked(p).expect("ethernet");
    assert_eq!(eth.ethertype(), 0x0800);
    let ip = ipv4::Packet::new_checked(eth.payload()).expect("ipv4");
    assert!(ip.verify_checksum(), "IPv4 checksum");
    assert_eq!(ip.total_len() as usize, p.len() - 14);
    let pseudo = checksum::pseudo_v4(ip.src(), ip.dst(), ip.protocol(), ip.payload().len() as u32);
    let port = match proto {
        Proto::Udp => {
            let u = udp::Packet::new_checked(ip.payload()).expect("udp");
            assert!(u.verify_checksum(pseudo), "UDP checksum");
            assert_ne!(u.checksum(), 0);
            u.src_port()
        }
        Proto::Tcp => {
            let t = tcp::Packet::new_checked(ip.payload()).expect("tcp");
            assert!(t.verify_checksum(pseudo), "TCP checksum");
            assert_eq!(t.flags() & 0x3f, 0x02, "SYN only");
            t.src_port()
        }
        Proto::Icmp => {
            let i = icmpv4::Packet::new_checked(ip.payload()).expect("icmp");
            assert!(i.verify_checksum(), "ICMP checksum");
            assert_eq!(i.msg_type(), 8);
            i.echo_ident()
        }
    };
    (ip.src(), port)
}

#[test]
fn every_protocol_size_and_flow_mode_has_valid_checksums() {
    for proto in [Proto::Udp, Proto::Tcp, Proto::Icmp] {
        for size in [proto.min_size(), proto.min_size() + 1, 128, 1518] {
            for vary in [Vary::Port, Vary::Ip] {
                let s = spec(proto, size, 5, vary);
                s.validate().expect("valid spec");
                let template = build_template(&s);
                assert_eq!(template.len(), size - 4);
                verify(&template, proto);
                let mut g = Generator::new(&s);
                let mut frame = template.clone();
                for i in 0..12u64 {
                    // Timestamps with every 16-bit word non-trivial.
                    let ts = 0x0123_4567_89ab_cdef ^ (i << 40) ^ i;
                    assert!(g.stamp(&mut frame, ts));
                    let (src, port) = verify(&frame, proto);
                    let flow = (i % 5) as u16;
                    match vary {
                        Vary::Port => assert_eq!(port, s.src_port + flow),
                        Vary::Ip => assert_eq!(src, s.src_ip + flow as u32),
                    }
                    assert_eq!(
                        parse(&frame),
                        Parsed::Data {
                            flow,
                            seq: (i / 5) as u32,
                            ts
                        },
                        "{proto:?} size {size} packet {i}"
                    );
                }
                assert_eq!(g.total(), 12);
            }
        }
    }
}

#[test]
fn udp_checksum_zero_option_and_bad_specs() {
    let s = PacketSpec {
        udp_csum_zero: true,
        ..spec(Proto::Udp, 64, 1, Vary::Port)
    };
    let mut f = build_template(&s);
    Generator::new(&s).stamp(&mut f, 99);
    let u = udp::Packet::new_checked(&f[34..]).expect("udp");
    assert_eq!(u.checksum(), 0);
    assert!(spec(Proto::Tcp, 64, 1, Vary::Port).validate().is_err());
    assert!(spec(Proto::Udp, 63, 1, Vary::Port).validate().is_err());
    assert!(spec(Proto::Udp, 1519, 1, Vary::Port).validate().is_err());
    assert!(spec(Proto::Udp, 64, 0, Vary::Port).validate().is_err());
    assert!(spec(Proto::Udp, 64, 65537, Vary::Port).validate().is_err());
    // Too short to hold a stamp: refused, nothing written.
    let mut g = Generator::new(&spec(Proto::Udp, 64, 1, Vary::Port));
    assert!(!g.stamp(&mut [0u8; 40], 1));
    assert_eq!(g.total(), 0);
    assert_eq!(parse(&[0u8; 10]), Parsed::Other);
    assert_eq!(parse(&[0u8; 60]), Parsed::Other);
}

#[test]
fn unwind_reuses_sequence_numbers_per_flow() {
    let s = spec(Proto::Udp, 64, 3, Vary::Port);
    let mut g = Generator::new(&s);
    let mut f = build_template(&s);
    for _ in 0..7 {
        g.stamp(&mut f, 1); // flows 0,1,2,0,1,2,0
    }
    g.unwind(4); // takes back flows 0,2,1,0 (seq 2,1,1,1)
    assert_eq!(g.total(), 3);
    let mut got = Vec::new();
    for _ in 0..4 {
        g.stamp(&mut f, 1);
        match parse(&f) {
            Parsed::Data { flow, seq, .. } => got.push((flow, seq)),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, vec![(0, 1), (1, 1), (2, 1), (0, 2)]);
}

fn run(seq: &[(u16, u32)]) -> (SeqTracker, Vec<SeqEvent>) {
    let mut t = SeqTracker::new();
    let ev = seq.iter().map(|&(f, s)| t.record(f, s)).collect();
    (t, ev)
}

#[test]
fn in_order_flows_count_nothing_wrong() {
    let seq: Vec<(u16, u32)> = (0..300).map(|i| ((i % 3) as u16, i / 3)).collect();
    let (t, ev) = run(&seq);
    assert!(ev.iter().all(|e| *e == SeqEvent::InOrder));
    assert_eq!(
        (t.received, t.lost, t.reordered, t.duplicates),
        (300, 0, 0, 0)
    );
}

#[test]
fn gaps_count_as_loss_until_the_late_packet_arrives() {
    let (t, ev) = run(&[(0, 0), (0, 1), (0, 4), (0, 5)]);
    assert_eq!(t.lost, 2);
    assert_eq!(t.reordered, 0);
    assert!(ev.iter().all(|e| *e == SeqEvent::InOrder));
    let (t, ev) = run(&[(0, 0), (0, 2), (0, 1), (0, 3)]);
    assert_eq!(ev[2], SeqEvent::Reordered);
    assert_eq!((t.lost, t.reordered, t.duplicates), (0, 1, 0));
    // A first packet with seq 3 means 0..3 were lost.
    let (t, _) = run(&[(7, 3)]);
    assert_eq!(t.lost, 3);
}

#[test]
fn duplicates_are_told_from_reordering() {
    let (t, ev) = run(&[(0, 0), (0, 1), (0, 1), (0, 2), (0, 0)]);
    assert_eq!(ev[2], SeqEvent::Duplicate);
    assert_eq!(ev[4], SeqEvent::Duplicate);
    assert_eq!(
        (t.lost, t.reordered, t.duplicates, t.unique()),
        (0, 0, 2, 3)
    );
    // Late by more than the 64-entry window: counted reordered, loss corrected.
    let mut s: Vec<(u16, u32)> = (1..100).map(|i| (0, i)).collect();
    s.push((0, 0));
    let (t, ev) = run(&s);
    assert_eq!(ev[99], SeqEvent::Reordered);
    assert_eq!((t.lost, t.reordered), (0, 1));
}

#[test]
fn sequence_numbers_wrap_at_32_bits() {
    let mut t = SeqTracker::new();
    let start = u32::MAX - 2;
    // Feed the flow up to just below the wrap by declaring the gap once.
    t.record(1, start);
    let base_lost = t.lost;
    for s in [u32::MAX - 1, u32::MAX, 0, 1, 2] {
        assert_eq!(t.record(1, s), SeqEvent::InOrder, "seq {s}");
    }
    assert_eq!(t.lost, base_lost);
    assert_eq!(t.record(1, u32::MAX), SeqEvent::Duplicate);
}

#[test]
fn histogram_percentiles_are_ordered_and_close() {
    let mut h = Histogram::new();
    for v in 1..=10_000u64 {
        h.record(v * 100);
    }
    let (p50, p90, p99) = (h.percentile(0.5), h.percentile(0.9), h.percentile(0.99));
    assert!(p50 <= p90 && p90 <= p99 && p99 <= h.max);
    assert_eq!(h.max, 1_000_000);
    assert_eq!(h.min, 100);
    for (got, want) in [(p50, 500_000u64), (p90, 900_000), (p99, 990_000)] {
        assert!(got <= want && want - got <= want / 16, "{got} vs {want}");
    }
    assert_eq!(Histogram::new().percentile(0.5), 0);
}
